//! `zkr setup`: keys for one circuit.

use super::CliResult;
use clap::Args;
use std::path::PathBuf;
use zkr_artifacts::setup_keys;
use zkr_circuits::{CircuitKind, circuits::DEFAULT_DEPTH};

/// Arguments of `zkr setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Which circuit: range, membership, receipt or disclosure.
    #[arg(long)]
    pub circuit: String,
    /// Registry depth for membership and receipt.
    #[arg(long, default_value_t = DEFAULT_DEPTH)]
    pub depth: usize,
    /// Directory to write the keys into.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `zkr setup`.
pub fn run(a: &SetupArgs) -> CliResult {
    let kind = CircuitKind::from_name(&a.circuit)?;
    let info = setup_keys(kind, a.depth, &a.out)?;
    println!(
        "{}{}: {} constraints, {} public inputs ({}); keys in {}",
        info.name,
        info.depth.map(|d| format!("({d})")).unwrap_or_default(),
        info.constraints,
        info.public_inputs.len(),
        info.public_inputs.join(", "),
        a.out.display()
    );
    Ok(())
}
