//! `zkr export`: the project's circuits and keys in other tools' formats.
//! One subcommand per format, each in its own module.

use super::CliResult;
use super::export_solidity;
use clap::{Args, Subcommand};

/// Arguments of `zkr export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// What to export.
    #[command(subcommand)]
    pub what: ExportCommand,
}

/// The formats.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// A Solidity verifier for a verification_key.json (EIP-196/197 precompiles, snarkjs's ABI).
    Solidity(export_solidity::SolidityArgs),
    /// The arguments of the Solidity verifier's verifyProof call for a proof.
    Calldata(export_solidity::CalldataArgs),
    /// A circuit's constraint system as circom's .r1cs, for a snarkjs phase-2 ceremony.
    R1cs(super::export_r1cs::ExportR1csArgs),
    /// The verifying key of a snarkjs Groth16 .zkey as verification_key.json.
    #[command(alias = "verificationkey")]
    Vk(super::export_vk::ExportVkArgs),
}

/// Runs `zkr export`.
pub fn run(a: &ExportArgs) -> CliResult {
    match &a.what {
        ExportCommand::Solidity(a) => export_solidity::run_solidity(a),
        ExportCommand::Calldata(a) => export_solidity::run_calldata(a),
        ExportCommand::R1cs(a) => super::export_r1cs::run(a),
        ExportCommand::Vk(a) => super::export_vk::run(a),
    }
}
