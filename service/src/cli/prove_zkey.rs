//! `zkr prove-zkey circuit.zkey witness.wtns proof.json public.json`:
//! rapidsnark's command, on our prover: any circom circuit with a snarkjs
//! key and a circom witness.

use super::{CliError, CliResult, spinner};
use ark_std::rand::rngs::OsRng;
use clap::Args;
use std::path::{Path, PathBuf};
use zkr_artifacts::write_json;
use zkr_prover::Backend;
use zkr_verifier::snarkjs;

/// Arguments of `zkr prove-zkey`.
#[derive(Debug, Args)]
pub struct ProveZkeyArgs {
    /// snarkjs Groth16 proving key (.zkey).
    pub zkey: PathBuf,
    /// circom witness (.wtns).
    pub witness: PathBuf,
    /// Where to write the proof (snarkjs proof.json).
    pub proof: PathBuf,
    /// Where to write the public signals (snarkjs public.json).
    pub public: PathBuf,
    /// Multi-scalar multiplication backend: auto, cpu, opencl (the first
    /// OpenCL device) or opencl:N (device N).
    #[arg(long, default_value = "auto")]
    pub backend: Backend,
}

/// Reads and validates a `.zkey`, a section at a time (sizes bounded by
/// `zkr_circom::zkey::MAX_FILE_BYTES` and checked against the header first).
pub fn read_zkey(path: &Path) -> CliResult<zkr_circom::Zkey> {
    zkr_circom::zkey::read_file(path).map_err(circom_err)
}

/// Maps this crate's errors: malformed or unreadable files are bad input
/// (exit 2), files that do not belong together fail the check (exit 1).
pub fn circom_err(e: zkr_circom::Error) -> CliError {
    match e {
        zkr_circom::Error::Malformed { .. } | zkr_circom::Error::File { .. } => {
            CliError::Input(e.to_string())
        }
        zkr_circom::Error::Mismatch(_) => CliError::Failed(e.to_string()),
    }
}

/// Runs `zkr prove-zkey`.
pub fn run(a: &ProveZkeyArgs) -> CliResult {
    let backend = a.backend;
    // Fully checked on the first run; later runs read the checked key that
    // the first one left beside the .zkey, bound to its SHA-256.
    let cache = zkr_circom::zkey::cache_path(&a.zkey);
    let (key, _) = zkr_circom::zkey::read_key_cached_file(&a.zkey, &cache).map_err(circom_err)?;
    let witness = zkr_circom::wtns::read_file(&a.witness).map_err(circom_err)?;
    let key = &key;
    if witness.len() != key.n_vars() {
        return Err(CliError::Input(format!(
            "{}: {} values, but {} has {} wires: the witness is for another circuit",
            a.witness.display(),
            witness.len(),
            a.zkey.display(),
            key.n_vars()
        )));
    }
    let pb = spinner("proving");
    let proved = zkr_prover::zkey::prove_zkey(key, &witness, &mut OsRng, backend);
    pb.finish_and_clear();
    let proof = proved
        .map_err(|e| CliError::Failed(format!("proving failed: {e}")))?
        .proof;
    let public = &witness[1..=key.n_public];
    // snarkjs's prover does not check the witness; we never hand out a proof
    // that does not verify.
    if !zkr_verifier::verify(&key.verifying_key(), &proof, public)? {
        return Err(CliError::Rejected(format!(
            "INVALID: {} does not satisfy the circuit of {}; no proof written",
            a.witness.display(),
            a.zkey.display()
        )));
    }
    write_json(&a.proof, &snarkjs::ProofJson::from_proof(&proof))?;
    write_json(&a.public, &snarkjs::public_json(public))?;
    Ok(())
}
