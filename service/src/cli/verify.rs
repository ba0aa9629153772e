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
    #[arg(long, required_unless_present = "batch")]
    pub proof: Option<PathBuf>,
    /// snarkjs public.json.
    #[arg(long, required_unless_present = "batch")]
    pub public: Option<PathBuf>,
    /// A directory of NAME.proof.json + NAME.public.json pairs, verified as one batch.
    #[arg(long, conflicts_with_all = ["proof", "public"])]
    pub batch: Option<PathBuf>,
}

/// Runs `zkr verify`.
pub fn run(a: &VerifyArgs) -> CliResult {
    if let Some(dir) = &a.batch {
        return super::verify_batch::run(&a.vk, dir);
    }
    let (Some(proof_path), Some(public_path)) = (&a.proof, &a.public) else {
        return Err(CliError::Input(
            "give --proof and --public, or --batch DIR".into(),
        ));
    };
    let vk = read_vk_json(&a.vk)?;
    let proof_text = binary::read_text_bounded(proof_path, binary::MAX_JSON_BYTES)?;
    let proof = snarkjs::parse_proof(&proof_text, &proof_path.display().to_string())?;
    let public_text = binary::read_text_bounded(public_path, binary::MAX_JSON_BYTES)?;
    let public = snarkjs::parse_public(&public_text, &public_path.display().to_string())?;
    if zkr_verifier::verify(&vk, &proof, &public)? {
        eprintln!("OK: the proof is valid");
        Ok(())
    } else {
        Err(CliError::Rejected(
            "INVALID: the proof does not verify for these public inputs".into(),
        ))
    }
}
