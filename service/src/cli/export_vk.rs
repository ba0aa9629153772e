//! `zkr export vk circuit.zkey [--out verification_key.json]`: the
//! verifying key of a snarkjs Groth16 `.zkey` as snarkjs's
//! `verification_key.json`, as `snarkjs zkey export verificationkey`
//! writes it.

use super::CliResult;
use super::prove_zkey::circom_err;
use clap::Args;
use std::path::PathBuf;
use zkr_artifacts::write_json;
use zkr_verifier::snarkjs::VerificationKeyJson;

/// Arguments of `zkr export vk`.
#[derive(Debug, Args)]
pub struct ExportVkArgs {
    /// snarkjs Groth16 proving key (.zkey).
    pub zkey: PathBuf,
    /// The verification_key.json to write.
    #[arg(long, default_value = "verification_key.json")]
    pub out: PathBuf,
}

/// Runs `zkr export vk`. Only the key's header and IC are read (after its
/// layout is checked), so a large `.zkey` costs no more than a small one.
pub fn run(a: &ExportVkArgs) -> CliResult {
    let vk = zkr_circom::zkey::read_verifying_key_file(&a.zkey).map_err(circom_err)?;
    write_json(&a.out, &VerificationKeyJson::from_vk(&vk))?;
    eprintln!(
        "wrote {}: Groth16 verifying key with {} public inputs",
        a.out.display(),
        vk.gamma_abc_g1.len() - 1
    );
    Ok(())
}
