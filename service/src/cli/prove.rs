//! `zkr prove`: a proof of an `input.json` with keys from `zkr setup`.

use super::{CliError, CliResult, spinner};
use ark_std::rand::rngs::OsRng;
use clap::Args;
use std::path::{Path, PathBuf};
use zkr_artifacts::{read_info, read_proving_key, write_json};
use zkr_circuits::{AnyCircuit, input::circuit_from_json};
use zkr_prover::Backend;
use zkr_verifier::{binary, snarkjs};

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
    /// Multi-scalar multiplication backend: auto, cpu or opencl.
    #[arg(long, default_value = "auto")]
    pub backend: String,
}

/// Runs `zkr prove`.
pub fn run(a: &ProveArgs) -> CliResult {
    let backend = parse_backend(&a.backend)?;
    let info = read_info(&a.keys)?;
    let (kind, depth) = info.kind_and_depth()?;
    let input = binary::read_text_bounded(&a.input, binary::MAX_JSON_BYTES)?;
    let circuit = circuit_from_json(kind, depth, &input)
        .map_err(|e| CliError::Input(format!("{}: {e}", a.input.display())))?;
    let pk = read_proving_key(&a.keys, &info)?;
    prove_to_dir(&pk, circuit, &a.out, backend)?;
    println!(
        "wrote {} and {}",
        a.out.join("proof.json").display(),
        a.out.join("public.json").display()
    );
    Ok(())
}

/// Parses `--backend`.
pub fn parse_backend(s: &str) -> CliResult<Backend> {
    match s {
        "auto" => Ok(Backend::Auto),
        "cpu" => Ok(Backend::Cpu),
        "opencl" => Ok(Backend::OpenCl),
        other => Err(CliError::Input(format!(
            "--backend: {other:?}; expected auto, cpu or opencl"
        ))),
    }
}

/// Proves `circuit`, checks the proof, and writes `proof.json` and
/// `public.json` into `out`.
pub fn prove_to_dir(
    pk: &ark_groth16::ProvingKey<ark_bn254::Bn254>,
    circuit: AnyCircuit,
    out: &Path,
    backend: Backend,
) -> CliResult {
    let public = circuit.public_inputs();
    let pb = spinner("proving");
    let proof = zkr_prover::prove(pk, circuit, &mut OsRng, backend);
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
