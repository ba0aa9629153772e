//! Range checks by bit decomposition: `x < 2^n` costs n booleanity
//! constraints and one linear equation.
//!
//! Comparisons `a <= b` between values already known to be below 2^n are
//! checked as "b - a fits in n bits": if a > b the difference wraps to a field
//! element near r, which has no n-bit decomposition for n well below 254.

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, BigInteger, Field, PrimeField};
use ark_r1cs_std::{fields::fp::FpVar, prelude::*};
use ark_relations::gr1cs::SynthesisError;

/// Enforces `x < 2^n` (n <= 250) and returns the bits, least significant first.
pub fn enforce_bits(x: &FpVar<Fr>, n: usize) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    assert!(
        n <= 250,
        "bit decomposition of {n} bits is not a range check in Fr"
    );
    let cs = x.cs();
    // The witness is the low n bits of x; when x >= 2^n they do not
    // recompose to x and the equation below is unsatisfied.
    let value = x.value().ok();
    let native_bits = value.map(|v| v.into_bigint().to_bits_le());
    let mut bits = Vec::with_capacity(n);
    for i in 0..n {
        let b = if cs.is_none() {
            Boolean::constant(native_bits.as_ref().is_some_and(|bs| bs[i]))
        } else {
            Boolean::new_witness(cs.clone(), || {
                native_bits
                    .as_ref()
                    .map(|bs| bs[i])
                    .ok_or(SynthesisError::AssignmentMissing)
            })?
        };
        bits.push(b);
    }
    let mut sum = FpVar::Constant(Fr::ZERO);
    let mut coeff = Fr::ONE;
    for b in &bits {
        sum += FpVar::from(b.clone()) * coeff;
        coeff.double_in_place();
    }
    sum.enforce_equal(x)?;
    Ok(bits)
}

/// Enforces `a <= b` for values that the caller has already constrained
/// below 2^n.
pub fn enforce_le(a: &FpVar<Fr>, b: &FpVar<Fr>, n: usize) -> Result<(), SynthesisError> {
    enforce_bits(&(b - a), n).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::gr1cs::ConstraintSystem;

    fn satisfied(x: Fr, n: usize) -> bool {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let v = FpVar::new_witness(cs.clone(), || Ok(x)).unwrap();
        enforce_bits(&v, n).unwrap();
        cs.is_satisfied().unwrap()
    }

    #[test]
    fn bounds() {
        let two = Fr::from(2u64);
        assert!(satisfied(Fr::from(u64::MAX), 64));
        assert!(!satisfied(two.pow([64u64]), 64));
        assert!(satisfied(two.pow([128u64]) - Fr::ONE, 128));
        assert!(!satisfied(two.pow([128u64]), 128));
        assert!(!satisfied(-Fr::ONE, 128));
        assert!(!satisfied(-Fr::ONE, 64));
        assert!(satisfied(Fr::ZERO, 8));
        assert!(!satisfied(Fr::from(256u64), 8));
    }
}
