//! `zkr prove`: a proof of an `input.json` with keys from `zkr setup`.

use super::{CliError, CliResult, spinner};
use ark_std::rand::rngs::OsRng;
use clap::Args;
use std::path::{Path, PathBuf};
use zkr_artifacts::{read_info, read_proving_key, write_json};
use zkr_circuits::{AnyCircuit, input::circuit_from_json};
use zkr_prover::Backend;
use zkr_verifier::{binary, snarkjs};

/// The circuit's matrices, cached beside its keys by `zkr prove`.
pub const PREPARED_CIRCUIT: &str = "circuit.prepared";

/// Arguments of `zkr prove`.
#[derive(Debug, Args)]
pub struct ProveArgs {
    /// Directory written by `zkr setup`.
    #[arg(long)]
    pub keys: PathBuf,
    /// The circuit's input.json (see the README for each circuit's fields).
    #[arg(long)]
    pub input: PathBuf,
    /// Directory to write proof.json and public.json into.
    #[arg(long)]
    pub out: PathBuf,
    /// Multi-scalar multiplication backend: auto, cpu, opencl (the first
    /// OpenCL device) or opencl:N (device N).
    #[arg(long, default_value = "auto")]
    pub backend: Backend,
}

/// Runs `zkr prove`.
pub fn run(a: &ProveArgs) -> CliResult {
    let backend = a.backend;
    let info = read_info(&a.keys)?;
    let (kind, depth) = info.kind_and_depth()?;
    let input = binary::read_text_bounded(&a.input, binary::MAX_JSON_BYTES)?;
    let circuit = circuit_from_json(kind, depth, &input)
        .map_err(|e| CliError::Input(format!("{}: {e}", a.input.display())))?;
    let pk = read_proving_key(&a.keys, &info)?;
    // The circuit's matrices, built once and cached beside the key, bound to
    // this circuit, depth and key.
    let id = format!(
        "zkr {} {} {:?} {}",
        env!("CARGO_PKG_VERSION"),
        info.name,
        info.depth,
        info.verifying_key_sha256
    );
    let (prepared, _) = zkr_prover::Prepared::load_or_prepare(
        id.as_bytes(),
        &a.keys.join(PREPARED_CIRCUIT),
        &pk,
        kind.blank(depth)?,
    )
    .map_err(|e| CliError::Failed(format!("preparing the circuit: {e}")))?;
    prove_to_dir_with(&pk, Some(&prepared), circuit, &a.out, backend)?;
    println!(
        "wrote {} and {}",
        a.out.join("proof.json").display(),
        a.out.join("public.json").display()
    );
    Ok(())
}

/// Proves `circuit`, checks the proof, and writes `proof.json` and
/// `public.json` into `out`.
pub fn prove_to_dir(
    pk: &ark_groth16::ProvingKey<ark_bn254::Bn254>,
    circuit: AnyCircuit,
    out: &Path,
    backend: Backend,
) -> CliResult {
    prove_to_dir_with(pk, None, circuit, out, backend)
}

/// As [`prove_to_dir`], from the circuit's prepared matrices if given.
pub fn prove_to_dir_with(
    pk: &ark_groth16::ProvingKey<ark_bn254::Bn254>,
    prepared: Option<&zkr_prover::Prepared>,
    circuit: AnyCircuit,
    out: &Path,
    backend: Backend,
) -> CliResult {
    let public = circuit.public_inputs();
    let pb = spinner("proving");
    let proof = match prepared {
        Some(p) => p.prove(pk, circuit, &mut OsRng, backend).map(|p| p.proof),
        None => zkr_prover::prove(pk, circuit, &mut OsRng, backend),
    };
    pb.finish_and_clear();
    let proof = proof.map_err(|e| CliError::Failed(format!("proving failed: {e}")))?;
    // A proof that does not verify under its own key is a bug; never write it.
    if !zkr_verifier::verify(&pk.vk, &proof, &public)? {
        return Err(CliError::Failed(
            "internal error: the new proof does not verify".into(),
        ));
    }
    std::fs::create_dir_all(out)
        .map_err(|e| CliError::Failed(format!("{}: {e}", out.display())))?;
    write_json(
        &out.join("proof.json"),
        &snarkjs::ProofJson::from_proof(&proof),
    )?;
    write_json(&out.join("public.json"), &snarkjs::public_json(&public))?;
    Ok(())
}
