//! Poseidon exactly as circomlib's `Poseidon(n)`: x^5 S-box, width n + 1,
//! 8 full rounds and circomlib's partial-round counts and constants. The
//! native hash is light-poseidon's circom-compatible instance; the gadget in
//! [`crate::poseidon_var`] runs the same permutation over the same
//! parameters.

use crate::error::{Error, Result};
use ark_bn254::Fr;
use ark_ff::Field;
use light_poseidon::{Poseidon, PoseidonHasher, PoseidonParameters, parameters::bn254_x5};
use std::{cell::RefCell, sync::OnceLock};

/// The most inputs supported: the widths for which light-poseidon ships
/// circomlib's constants (circomlib itself goes to 16).
pub const MAX_INPUTS: usize = 12;

/// Round constants and MDS matrix for width `n + 1`, parsed once per width.
pub(crate) fn params(n_inputs: usize) -> Result<&'static PoseidonParameters<Fr>> {
    static CACHE: [OnceLock<PoseidonParameters<Fr>>; MAX_INPUTS] =
        [const { OnceLock::new() }; MAX_INPUTS];
    if n_inputs == 0 || n_inputs > MAX_INPUTS {
        return Err(Error::Poseidon(format!(
            "{n_inputs} inputs; circomlib's Poseidon takes 1 to {MAX_INPUTS}"
        )));
    }
    let slot = &CACHE[n_inputs - 1];
    if let Some(p) = slot.get() {
        return Ok(p);
    }
    let width = u8::try_from(n_inputs + 1).map_err(|e| Error::Poseidon(e.to_string()))?;
    let p = bn254_x5::get_poseidon_parameters::<Fr>(width)
        .map_err(|e| Error::Poseidon(e.to_string()))?;
    Ok(slot.get_or_init(|| p))
}

/// `Poseidon(inputs.len())` of circomlib over the inputs.
pub fn hash(inputs: &[Fr]) -> Result<Fr> {
    // The parameters are parsed once per width; the hasher is stateful
    // (`&mut self`), so each thread keeps its own instance per width.
    thread_local! {
        static HASHERS: RefCell<Vec<Option<Poseidon<Fr>>>> = RefCell::new((0..MAX_INPUTS).map(|_| None).collect());
    }
    let p = params(inputs.len())?;
    HASHERS.with(|cell| {
        let mut hashers = cell.borrow_mut();
        let slot = &mut hashers[inputs.len() - 1];
        let hasher = slot.get_or_insert_with(|| {
            Poseidon::<Fr>::new(PoseidonParameters::new(
                p.ark.clone(),
                p.mds.clone(),
                p.full_rounds,
                p.partial_rounds,
                p.width,
                p.alpha,
            ))
        });
        hasher
            .hash(inputs)
            .map_err(|e| Error::Poseidon(e.to_string()))
    })
}

/// The circomlib Poseidon permutation of width `state.len()` (2 to
/// `MAX_INPUTS + 1`), returning the whole state. `hash(inputs)` is element
/// 0 of the permutation of `(0, inputs...)`; the cipher of
/// [`crate::poseidon_cipher`] uses all of it.
pub fn permute(state: &[Fr]) -> Result<Vec<Fr>> {
    let p = params(state.len().saturating_sub(1))?;
    let width = p.width;
    let mut state = state.to_vec();
    let half_full = p.full_rounds / 2;
    for round in 0..p.full_rounds + p.partial_rounds {
        for (i, s) in state.iter_mut().enumerate() {
            *s += p.ark[round * width + i];
        }
        let full = round < half_full || round >= half_full + p.partial_rounds;
        let sboxes = if full { width } else { 1 };
        for s in &mut state[..sboxes] {
            *s = s.pow([p.alpha]);
        }
        state = p
            .mds
            .iter()
            .map(|row| row.iter().zip(&state).map(|(m, s)| *m * s).sum())
            .collect();
    }
    Ok(state)
}

/// `H1(a)`.
pub fn h1(a: Fr) -> Fr {
    hash_fixed(&[a])
}

/// `H2(a, b)`.
pub fn h2(a: Fr, b: Fr) -> Fr {
    hash_fixed(&[a, b])
}

/// Hash of a fixed, supported arity: cannot fail.
pub(crate) fn hash_fixed(inputs: &[Fr]) -> Fr {
    debug_assert!(!inputs.is_empty() && inputs.len() <= MAX_INPUTS);
    match hash(inputs) {
        Ok(h) => h,
        // Only reachable with an arity outside 1..=12, which callers of this
        // private helper never pass.
        Err(e) => unreachable!("poseidon arity {}: {e}", inputs.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_element_zero_of_the_permutation() {
        for n in 1..=MAX_INPUTS {
            let inputs: Vec<Fr> = (0..n as u64).map(|i| Fr::from(i * 31 + 5)).collect();
            let mut state = vec![Fr::from(0u64)];
            state.extend(&inputs);
            assert_eq!(
                permute(&state).unwrap()[0],
                hash(&inputs).unwrap(),
                "n = {n}"
            );
        }
        assert!(permute(&[Fr::from(1u64)]).is_err());
        assert!(permute(&[]).is_err());
    }
}
