//! `zkr setup`: keys for one circuit.

use super::keys::{CircuitInfo, write_keys};
use super::{CliError, CliResult, spinner};
use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_std::rand::rngs::OsRng;
use clap::Args;
use std::path::{Path, PathBuf};
use zkr_circuits::{CircuitKind, circuits::DEFAULT_DEPTH};

/// The warning printed by every setup, after the circuit's name.
pub const DEV_SETUP_WARNING: &str = "single-party setup: this machine knew the toxic waste, so whoever ran it could forge proofs. \
For development only; production keys need a multi-party ceremony.";

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

/// Generates keys for `kind` at `depth` into `dir`, printing the
/// development-setup warning.
pub fn setup_keys(kind: CircuitKind, depth: usize, dir: &Path) -> CliResult<CircuitInfo> {
    let circuit = if kind.has_depth() {
        format!("{}({depth})", kind.name())
    } else {
        kind.name().to_string()
    };
    eprintln!("warning: {circuit}: {DEV_SETUP_WARNING}");
    let blank = kind.blank(depth)?;
    let constraints = blank.num_constraints()?;
    let pb = spinner(&format!(
        "generating keys for {} ({constraints} constraints)",
        kind.name()
    ));
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(blank, &mut OsRng)
        .map_err(|e| CliError::Failed(format!("setup failed: {e}")));
    pb.finish_and_clear();
    let pk = pk?;
    let pb = spinner("writing keys");
    let info = write_keys(dir, &pk, |vk_sha256| CircuitInfo {
        name: kind.name().to_string(),
        depth: kind.has_depth().then_some(depth),
        constraints,
        public_inputs: kind
            .public_input_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        verifying_key_sha256: vk_sha256,
    });
    pb.finish_and_clear();
    info
}
