//! `range`: public `commitment, min, max`; proves `commitment = H2(value,
//! blind)` and `min <= value <= max` with `value < 2^128`.
//!
//! Constrained: `min, max < 2^128` and `value - min, max - value < 2^128`.
//! Together these imply `value < 2^128`: `value = min + j` with both below
//! 2^128 is below 2^129 without wrapping, and `max - value` then has a
//! 128-bit decomposition only if `value <= max`.

use crate::bits::{enforce_bits, enforce_le};
use crate::error::{Error, Result};
use crate::poseidon::h2;
use crate::poseidon_var::hash_var;
use ark_bn254::Fr;
use ark_ff::AdditiveGroup;
use ark_r1cs_std::{fields::fp::FpVar, prelude::*};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

/// Public inputs, in order.
pub const PUBLIC_INPUTS: [&str; 3] = ["commitment", "min", "max"];

/// The range statement with its witness.
#[derive(Clone, Debug)]
pub struct RangeCircuit {
    /// Private: the committed value.
    pub value: Fr,
    /// Private: the commitment's blinding factor.
    pub blind: Fr,
    /// Public: `H2(value, blind)`.
    pub commitment: Fr,
    /// Public: lower bound.
    pub min: Fr,
    /// Public: upper bound.
    pub max: Fr,
}

impl RangeCircuit {
    /// Placeholder values for setup.
    pub fn blank() -> Self {
        Self {
            value: Fr::ZERO,
            blind: Fr::ZERO,
            commitment: Fr::ZERO,
            min: Fr::ZERO,
            max: Fr::ZERO,
        }
    }

    /// Builds the circuit from typed values, refusing a statement that does
    /// not hold.
    pub fn new(value: u128, blind: Fr, min: u128, max: u128) -> Result<Self> {
        if value < min {
            return Err(Error::Unsatisfied(format!("value < min ({value} < {min})")));
        }
        if value > max {
            return Err(Error::Unsatisfied(format!("value > max ({value} > {max})")));
        }
        let value = Fr::from(value);
        Ok(Self {
            value,
            blind,
            commitment: h2(value, blind),
            min: Fr::from(min),
            max: Fr::from(max),
        })
    }

    /// The public inputs in order.
    pub fn public_inputs(&self) -> Vec<Fr> {
        vec![self.commitment, self.min, self.max]
    }
}

impl ConstraintSynthesizer<Fr> for RangeCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let commitment = FpVar::new_input(cs.clone(), || Ok(self.commitment))?;
        let min = FpVar::new_input(cs.clone(), || Ok(self.min))?;
        let max = FpVar::new_input(cs.clone(), || Ok(self.max))?;
        let value = FpVar::new_witness(cs.clone(), || Ok(self.value))?;
        let blind = FpVar::new_witness(cs.clone(), || Ok(self.blind))?;

        hash_var(&[value.clone(), blind])?.enforce_equal(&commitment)?;
        enforce_bits(&min, 128)?;
        enforce_bits(&max, 128)?;
        enforce_le(&min, &value, 128)?;
        enforce_le(&value, &max, 128)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuits::AnyCircuit;
    use ark_ff::Field;

    /// Measured; a change to the circuit that grows it must update this.
    const MAX_CONSTRAINTS: usize = 760;

    fn sat(c: &RangeCircuit) -> bool {
        AnyCircuit::Range(c.clone()).check().unwrap().0
    }

    fn two_pow(k: u64) -> Fr {
        Fr::from(2u64).pow([k])
    }

    fn circuit(value: Fr, min: Fr, max: Fr) -> RangeCircuit {
        let blind = Fr::from(987654321u64);
        RangeCircuit {
            value,
            blind,
            commitment: h2(value, blind),
            min,
            max,
        }
    }

    #[test]
    fn satisfied_at_and_inside_bounds() {
        let c = RangeCircuit::new(50, Fr::from(7u64), 10, 100).unwrap();
        let (ok, n) = AnyCircuit::Range(c).check().unwrap();
        assert!(ok);
        assert!(n <= MAX_CONSTRAINTS, "{n} constraints");
        assert!(sat(&circuit(
            Fr::from(10u64),
            Fr::from(10u64),
            Fr::from(100u64)
        )));
        assert!(sat(&circuit(
            Fr::from(100u64),
            Fr::from(10u64),
            Fr::from(100u64)
        )));
        let top = two_pow(128) - Fr::ONE;
        assert!(sat(&circuit(top, Fr::ZERO, top)));
    }

    #[test]
    fn typed_constructor_refuses_out_of_range() {
        assert!(RangeCircuit::new(9, Fr::ONE, 10, 100).is_err());
        assert!(RangeCircuit::new(101, Fr::ONE, 10, 100).is_err());
    }

    #[test]
    fn below_min_and_above_max_fail() {
        assert!(!sat(&circuit(
            Fr::from(9u64),
            Fr::from(10u64),
            Fr::from(100u64)
        )));
        assert!(!sat(&circuit(
            Fr::from(101u64),
            Fr::from(10u64),
            Fr::from(100u64)
        )));
    }

    #[test]
    fn wrapping_values_fail() {
        // p - 1 would pass a naive "max - value" check modulo the field
        assert!(!sat(&circuit(-Fr::ONE, Fr::ZERO, Fr::from(100u64))));
        // value 2^128 with bounds that are themselves too large
        assert!(!sat(&circuit(two_pow(128), Fr::ZERO, two_pow(128))));
        // a bound that is not < 2^128
        assert!(!sat(&circuit(Fr::from(5u64), Fr::ZERO, two_pow(128))));
        assert!(!sat(&circuit(Fr::from(5u64), -Fr::ONE, Fr::from(10u64))));
        assert!(!sat(&circuit(Fr::from(5u64), Fr::ZERO, -Fr::ONE)));
    }

    #[test]
    fn wrong_commitment_fails() {
        let mut c = circuit(Fr::from(50u64), Fr::from(10u64), Fr::from(100u64));
        c.commitment += Fr::ONE;
        assert!(!sat(&c));
        let mut c = circuit(Fr::from(50u64), Fr::from(10u64), Fr::from(100u64));
        c.blind += Fr::ONE;
        assert!(!sat(&c));
    }
}
