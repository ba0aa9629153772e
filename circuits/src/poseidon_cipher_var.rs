//! The Poseidon cipher in R1CS: the in-circuit twin of
//! [`crate::poseidon_cipher::encrypt`].
//!
//! Each width-4 permutation costs 264 constraints (88 S-boxes of 3), the
//! first 261 (its capacity element starts as the constant 0); the absorbing
//! additions are free. A message of n elements costs `ceil(n/3) + 1`
//! permutations, plus 129 for the nonce's range check.

use crate::bits::enforce_bits;
use crate::poseidon_cipher::NONCE_BITS;
use crate::poseidon_var::permute_var;
use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field};
use ark_r1cs_std::{fields::fp::FpVar, prelude::*};
use ark_relations::gr1cs::SynthesisError;

/// The ciphertext of `message` under `key` and `nonce`, in-circuit, with
/// the nonce constrained below 2^128 (the bound that keeps the initial
/// states of different lengths apart).
pub fn encrypt_var(
    message: &[FpVar<Fr>],
    key: (&FpVar<Fr>, &FpVar<Fr>),
    nonce: &FpVar<Fr>,
) -> Result<Vec<FpVar<Fr>>, SynthesisError> {
    enforce_bits(nonce, NONCE_BITS)?;
    let length = Fr::from(message.len() as u64) * Fr::from(2u64).pow([NONCE_BITS as u64]);
    let mut state = vec![
        FpVar::Constant(Fr::ZERO),
        key.0.clone(),
        key.1.clone(),
        nonce + length,
    ];
    let mut out = Vec::with_capacity(3 * message.len().div_ceil(3) + 1);
    for block in message.chunks(3) {
        state = permute_var(state)?;
        for (j, s) in state[1..].iter_mut().enumerate() {
            if let Some(m) = block.get(j) {
                *s = &*s + m;
            }
            out.push(s.clone());
        }
    }
    state = permute_var(state)?;
    out.push(state.swap_remove(1));
    Ok(out)
}

/// Enforces that `ciphertext` is the encryption of `message` under `key`
/// and `nonce` (one constraint per element beside [`encrypt_var`]'s).
pub fn enforce_encryption(
    message: &[FpVar<Fr>],
    key: (&FpVar<Fr>, &FpVar<Fr>),
    nonce: &FpVar<Fr>,
    ciphertext: &[FpVar<Fr>],
) -> Result<(), SynthesisError> {
    let expected = encrypt_var(message, key, nonce)?;
    if expected.len() != ciphertext.len() {
        return Err(SynthesisError::Unsatisfiable);
    }
    for (e, c) in expected.iter().zip(ciphertext) {
        e.enforce_equal(c)?;
    }
    Ok(())
}
