//! `zkr verify`: exit 0 for a valid proof, 1 for a well-formed invalid one,
//! 2 for malformed input; one line on stderr either way.

use super::keys::read_vk_json;
use super::{CliError, CliResult};
use clap::Args;
use std::path::PathBuf;
use zkr_verifier::{binary, snarkjs};

/// Arguments of `zkr verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// snarkjs verification_key.json.
    #[arg(long)]
    pub vk: PathBuf,
    /// snarkjs proof.json.
    #[arg(long)]
    pub proof: PathBuf,
    /// snarkjs public.json.
    #[arg(long)]
    pub public: PathBuf,
}

/// Runs `zkr verify`.
pub fn run(a: &VerifyArgs) -> CliResult {
    let vk = read_vk_json(&a.vk)?;
    let proof_text = binary::read_text_bounded(&a.proof, binary::MAX_JSON_BYTES)?;
    let proof = snarkjs::parse_proof(&proof_text, &a.proof.display().to_string())?;
    let public_text = binary::read_text_bounded(&a.public, binary::MAX_JSON_BYTES)?;
    let public = snarkjs::parse_public(&public_text, &a.public.display().to_string())?;
    if zkr_verifier::verify(&vk, &proof, &public)? {
        eprintln!("OK: the proof is valid");
        Ok(())
    } else {
        Err(CliError::Rejected(
            "INVALID: the proof does not verify for these public inputs".into(),
        ))
    }
}
