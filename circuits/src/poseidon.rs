//! Poseidon exactly as circomlib's `Poseidon(n)`: x^5 S-box, width n + 1,
//! 8 full rounds and circomlib's partial-round counts and constants. The
//! native hash is light-poseidon's circom-compatible instance; the gadget in
//! [`crate::poseidon_var`] runs the same permutation over the same
//! parameters.

use crate::error::{Error, Result};
use ark_bn254::Fr;
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
