//! `zkr import-zkey C.zkey --circuit C [--depth D] --out DIR`: the final
//! key of a snarkjs ceremony for one of our circuits, as the key directory
//! `zkr prove`, `zkr serve` and `zkr worker` use.
//!
//! The key is refused unless its constraint system is exactly the circuit's:
//! the wire count, public signal count, domain size and every A and B
//! coefficient must match our matrices. The C matrix is not in a `.zkey`
//! (only folded into its points), so a proof of a sample statement is made
//! with the imported key and must verify before anything is written.

use super::prove_zkey::{circom_err, read_zkey};
use super::{CliError, CliResult, spinner};
use ark_std::rand::rngs::OsRng;
use clap::Args;
use std::path::PathBuf;
use zkr_artifacts::{CircuitInfo, write_keys};
use zkr_circom::r1cs::sort_coeffs;
use zkr_circuits::{CircuitKind, circuits::DEFAULT_DEPTH};
use zkr_prover::Backend;

/// Arguments of `zkr import-zkey`.
#[derive(Debug, Args)]
pub struct ImportZkeyArgs {
    /// The ceremony's final .zkey (after `snarkjs zkey beacon`).
    pub zkey: PathBuf,
    /// Which circuit the key is for: range, membership, receipt or disclosure.
    #[arg(long)]
    pub circuit: String,
    /// Registry depth for membership and receipt.
    #[arg(long, default_value_t = DEFAULT_DEPTH)]
    pub depth: usize,
    /// Directory to write the keys into.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `zkr import-zkey`.
pub fn run(a: &ImportZkeyArgs) -> CliResult {
    let kind = CircuitKind::from_name(&a.circuit)?;
    let r1cs = zkr_circom::r1cs_of(kind.blank(a.depth)?).map_err(circom_err)?;
    let zkey = read_zkey(&a.zkey)?;
    let k = &zkey.key;
    let name = format!(
        "{}{}",
        kind.name(),
        if kind.has_depth() {
            format!("({})", a.depth)
        } else {
            String::new()
        }
    );
    let refuse = |what: String| {
        Err(CliError::Rejected(format!(
            "REFUSED: {} is not a key for {name}: {what}",
            a.zkey.display()
        )))
    };
    if (k.n_vars(), k.n_public, k.domain_size)
        != (r1cs.n_wires, r1cs.n_public(), r1cs.domain_size())
    {
        return refuse(format!(
            "it has {} wires, {} public signals and domain 2^{}; the circuit {}, {} and 2^{}",
            k.n_vars(),
            k.n_public,
            k.domain_size.trailing_zeros(),
            r1cs.n_wires,
            r1cs.n_public(),
            r1cs.domain_size().trailing_zeros()
        ));
    }
    let mut theirs = k.coeffs.clone();
    sort_coeffs(&mut theirs);
    let ours = r1cs.zkey_coeffs();
    if theirs != ours {
        let at = theirs
            .iter()
            .zip(&ours)
            .position(|(x, y)| x != y)
            .unwrap_or(theirs.len().min(ours.len()));
        return refuse(format!(
            "its A/B coefficients differ from the circuit's (first at entry {at} of {})",
            ours.len()
        ));
    }
    let pb = spinner("converting the H points");
    let pk = zkr_circom::to_arkworks(k).map_err(circom_err);
    pb.finish_and_clear();
    let pk = pk?;

    let sample = zkr_circuits::sample::instance(kind, a.depth, &mut OsRng)?;
    let public = sample.public_inputs();
    let proof = zkr_prover::prove(&pk, sample, &mut OsRng, Backend::Cpu)
        .map_err(|e| CliError::Failed(format!("test proof: {e}")))?;
    if !zkr_verifier::verify(&pk.vk, &proof, &public)? {
        return refuse("a proof of a sample statement made with it does not verify".into());
    }

    let info = write_keys(&a.out, &pk, |vk_sha256| CircuitInfo {
        name: kind.name().to_string(),
        depth: kind.has_depth().then_some(a.depth),
        constraints: r1cs.constraints.len(),
        public_inputs: kind
            .public_input_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        verifying_key_sha256: vk_sha256,
    })?;
    println!(
        "{name}: imported the ceremony key ({} constraints, {} public inputs); keys in {}",
        info.constraints,
        info.public_inputs.len(),
        a.out.display()
    );
    Ok(())
}
