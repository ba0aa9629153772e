//! Development setup: fresh Groth16 keys for one circuit, written as a key
//! directory.

use std::path::Path;

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_std::rand::rngs::OsRng;
use zkr_circuits::CircuitKind;

use crate::error::{Error, Result};
use crate::key_dir::{CircuitInfo, write_keys};

/// The warning printed by every setup, after the circuit's name.
pub const DEV_SETUP_WARNING: &str = "single-party setup: this machine knew the toxic waste, so whoever ran it could forge proofs. \
For development only; production keys need a multi-party ceremony.";

/// Generates keys for `kind` at `depth` into `dir`, printing the
/// development-setup warning and a spinner while it works.
pub fn setup_keys(kind: CircuitKind, depth: usize, dir: &Path) -> Result<CircuitInfo> {
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
        .map_err(|e| Error::Failed(format!("setup failed: {e}")));
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

/// A spinner on stderr; hidden when stderr is not a terminal.
fn spinner(msg: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}
