//! The Poseidon permutation in R1CS: the in-circuit twin of
//! [`crate::poseidon::hash`], over the same circomlib parameters.
//!
//! Each S-box costs three constraints (x^2, x^4, x^5); the round constants and
//! the MDS mixing are linear and free. `Poseidon(n)` therefore costs
//! `3 * ((n + 1) * 8 + partial_rounds) - 3` constraints (the first S-box of
//! the capacity element acts on a constant).

use crate::poseidon::params;
use ark_bn254::Fr;
use ark_r1cs_std::{fields::fp::FpVar, prelude::*};
use ark_relations::gr1cs::SynthesisError;

fn sbox(x: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    let x2 = x.square()?;
    let x4 = x2.square()?;
    Ok(&x4 * x)
}

/// `Poseidon(inputs.len())` of circomlib, in-circuit.
pub fn hash_var(inputs: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let mut state: Vec<FpVar<Fr>> = Vec::with_capacity(inputs.len() + 1);
    // circomlib's domain tag (capacity element) is 0.
    state.push(FpVar::Constant(Fr::from(0u64)));
    state.extend(inputs.iter().cloned());
    Ok(permute_var(state)?.swap_remove(0))
}

/// The whole-state permutation, in-circuit: the twin of
/// [`crate::poseidon::permute`].
pub fn permute_var(mut state: Vec<FpVar<Fr>>) -> Result<Vec<FpVar<Fr>>, SynthesisError> {
    let p = params(state.len().saturating_sub(1)).map_err(|_| SynthesisError::Unsatisfiable)?;
    let width = p.width;
    let half_full = p.full_rounds / 2;
    let rounds = p.full_rounds + p.partial_rounds;
    for round in 0..rounds {
        for (i, s) in state.iter_mut().enumerate() {
            *s = &*s + p.ark[round * width + i];
        }
        let full = round < half_full || round >= half_full + p.partial_rounds;
        if full {
            for s in state.iter_mut() {
                *s = sbox(s)?;
            }
        } else {
            state[0] = sbox(&state[0])?;
        }
        state = (0..width)
            .map(|i| {
                state
                    .iter()
                    .zip(&p.mds[i])
                    .fold(FpVar::Constant(Fr::from(0u64)), |acc, (s, m)| acc + s * *m)
            })
            .collect();
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poseidon::hash;
    use ark_relations::gr1cs::ConstraintSystem;

    #[test]
    fn gadget_equals_native_and_costs_three_constraints_per_sbox() {
        for n in 1..=9usize {
            let inputs: Vec<Fr> = (0..n as u64).map(|i| Fr::from(i * 7 + 3)).collect();
            let cs = ConstraintSystem::<Fr>::new_ref();
            let vars: Vec<FpVar<Fr>> = inputs
                .iter()
                .map(|x| FpVar::new_witness(cs.clone(), || Ok(*x)).unwrap())
                .collect();
            let out = hash_var(&vars).unwrap();
            assert_eq!(out.value().unwrap(), hash(&inputs).unwrap(), "n = {n}");
            assert!(cs.is_satisfied().unwrap());
            let p = params(n).unwrap();
            // The capacity element is the constant 0, so its first S-box
            // folds into a constant and costs nothing.
            assert_eq!(
                cs.num_constraints(),
                3 * (p.width * p.full_rounds + p.partial_rounds) - 3,
                "n = {n}"
            );
        }
    }
}
