//! `zkr export r1cs`: one of our circuits as circom's `.r1cs`, so that
//! snarkjs can run a multi-party phase 2 (`groth16 setup`, `zkey
//! contribute`, `zkey beacon`) whose result `zkr import-zkey` turns into keys.

use super::{CliError, CliResult};
use clap::Args;
use std::path::PathBuf;
use zkr_artifacts::write_file;
use zkr_circuits::{CircuitKind, circuits::DEFAULT_DEPTH};

/// Arguments of `zkr export r1cs`.
#[derive(Debug, Args)]
pub struct ExportR1csArgs {
    /// Which circuit: range, membership, receipt or disclosure.
    #[arg(long)]
    pub circuit: String,
    /// Registry depth for membership and receipt.
    #[arg(long, default_value_t = DEFAULT_DEPTH)]
    pub depth: usize,
    /// The .r1cs file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `zkr export r1cs`.
pub fn run(a: &ExportR1csArgs) -> CliResult {
    let kind = CircuitKind::from_name(&a.circuit)?;
    let r1cs = zkr_circom::r1cs_of(kind.blank(a.depth)?)
        .map_err(|e| CliError::Failed(format!("{}: {e}", kind.name())))?;
    let bytes = zkr_circom::r1cs::write(&r1cs).map_err(|e| CliError::Failed(e.to_string()))?;
    write_file(&a.out, &bytes)?;
    println!(
        "{}: {} constraints, {} wires, {} public inputs ({}); snarkjs needs powers of tau of at least 2^{}; wrote {}",
        kind.name(),
        r1cs.constraints.len(),
        r1cs.n_wires,
        r1cs.n_public(),
        kind.public_input_names().join(", "),
        r1cs.domain_size().trailing_zeros(),
        a.out.display()
    );
    Ok(())
}
