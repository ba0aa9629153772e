//! `zkr export`: files for other tools, made from ours.

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

/// The exports.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// A Solidity verifier for a verification_key.json (EIP-196/197 precompiles, snarkjs's ABI).
    Solidity(export_solidity::SolidityArgs),
    /// The arguments of the Solidity verifier's verifyProof call for a proof.
    Calldata(export_solidity::CalldataArgs),
}

/// Runs `zkr export`.
pub fn run(a: &ExportArgs) -> CliResult {
    match &a.what {
        ExportCommand::Solidity(a) => export_solidity::run_solidity(a),
        ExportCommand::Calldata(a) => export_solidity::run_calldata(a),
    }
}
