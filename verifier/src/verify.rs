//! Groth16 verification with the checks ark-groth16 leaves to the caller.

use crate::error::{Error, Result};
use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, VerifyingKey, prepare_verifying_key};

/// Verifies `proof` for `public_inputs` under `vk`.
///
/// `Err` when the inputs do not fit the key (ark-groth16 silently ignores
/// surplus inputs, so their number is checked here); `Ok(false)` for a
/// well-formed proof that is false.
pub fn verify(
    vk: &VerifyingKey<Bn254>,
    proof: &Proof<Bn254>,
    public_inputs: &[Fr],
) -> Result<bool> {
    verify_prepared(&prepare_verifying_key(vk), proof, public_inputs)
}

/// As [`verify`], with a prepared key (for verifying many proofs).
pub fn verify_prepared(
    pvk: &PreparedVerifyingKey<Bn254>,
    proof: &Proof<Bn254>,
    public_inputs: &[Fr],
) -> Result<bool> {
    let expected = pvk.vk.gamma_abc_g1.len().saturating_sub(1);
    if public_inputs.len() != expected {
        return Err(Error::Mismatch(format!(
            "{} public inputs given, the verifying key takes {expected}",
            public_inputs.len()
        )));
    }
    Groth16::<Bn254>::verify_proof(pvk, proof, public_inputs)
        .map_err(|e| Error::Mismatch(e.to_string()))
}
