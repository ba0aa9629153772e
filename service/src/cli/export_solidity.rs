//! `zkr export solidity` and `zkr export calldata`: an on-chain Groth16
//! verifier for a key, and the arguments of a call to it for a proof (as
//! `snarkjs zkey export soliditycalldata` prints them).

use super::{CliError, CliResult};
use clap::Args;
use std::path::PathBuf;
use zkr_artifacts::{read_vk_json, write_file};
use zkr_verifier::{binary, snarkjs, solidity};

/// Arguments of `zkr export solidity`.
#[derive(Debug, Args)]
pub struct SolidityArgs {
    /// snarkjs verification_key.json.
    #[arg(long)]
    pub vk: PathBuf,
    /// The Solidity file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `zkr export calldata`.
#[derive(Debug, Args)]
pub struct CalldataArgs {
    /// snarkjs proof.json.
    #[arg(long)]
    pub proof: PathBuf,
    /// snarkjs public.json.
    #[arg(long)]
    pub public: PathBuf,
}

/// Runs `zkr export solidity`.
pub fn run_solidity(a: &SolidityArgs) -> CliResult {
    let vk = read_vk_json(&a.vk)?;
    let source = solidity::verifier_contract(&vk)
        .map_err(|e| CliError::Input(format!("{}: {e}", a.vk.display())))?;
    write_file(&a.out, source.as_bytes())?;
    eprintln!(
        "wrote {}: contract Groth16Verifier, verifyProof with {} public inputs",
        a.out.display(),
        vk.gamma_abc_g1.len() - 1
    );
    Ok(())
}

/// Runs `zkr export calldata`.
pub fn run_calldata(a: &CalldataArgs) -> CliResult {
    let proof_text = binary::read_text_bounded(&a.proof, binary::MAX_JSON_BYTES)?;
    let proof = snarkjs::parse_proof(&proof_text, &a.proof.display().to_string())?;
    let public_text = binary::read_text_bounded(&a.public, binary::MAX_JSON_BYTES)?;
    let public = snarkjs::parse_public(&public_text, &a.public.display().to_string())?;
    println!("{}", solidity::calldata(&proof, &public));
    Ok(())
}
