//! `zkr demo`: setup, prove and verify of `receipt(D)` in a temporary
//! directory, with each step's time. The newcomer's first command.

use super::prove::prove_to_dir;
use super::{CliError, CliResult};
use ark_bn254::Fr;
use ark_ff::UniformRand;
use ark_std::rand::rngs::OsRng;
use clap::Args;
use std::time::Instant;
use zkr_artifacts::setup_keys;
use zkr_artifacts::{read_info, read_proving_key, read_vk_json, write_json};
use zkr_circuits::{
    CircuitKind, Receipt, circuits::DEFAULT_DEPTH, field::fr_to_decimal, input::circuit_from_json,
    poseidon::h1, receipt::ReceiptJson,
};
use zkr_prover::Backend;
use zkr_verifier::{binary, snarkjs};

/// Arguments of `zkr demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Registry depth of the receipt circuit.
    #[arg(long, default_value_t = DEFAULT_DEPTH)]
    pub depth: usize,
    /// Keep the directory with keys, input and proof instead of deleting it.
    #[arg(long)]
    pub keep: bool,
    /// Multi-scalar multiplication backend: auto, cpu, opencl (the first
    /// OpenCL device) or opencl:N (device N).
    #[arg(long, default_value = "auto")]
    pub backend: Backend,
}

/// Runs `zkr demo`.
pub fn run(a: &DemoArgs) -> CliResult {
    let backend = a.backend;
    let tmp = tempfile::Builder::new()
        .prefix("zkr-demo-")
        .tempdir()
        .map_err(|e| CliError::Failed(format!("temporary directory: {e}")))?;
    let dir = tmp.path().to_path_buf();
    let keys = dir.join("keys");
    let out = dir.join("proof");

    println!(
        "zkr demo: a receipt proof (amount in range, miner registered) in {}",
        dir.display()
    );
    let t = Instant::now();
    let info = setup_keys(CircuitKind::Receipt, a.depth, &keys)?;
    println!(
        "  setup   receipt({}) {:>6} constraints   {:>8.2?}",
        a.depth,
        info.constraints,
        t.elapsed()
    );

    // Eight registered miners; ours is the fifth.
    let secrets: Vec<Fr> = (0..8).map(|_| Fr::rand(&mut OsRng)).collect();
    let miners: Vec<Fr> = secrets.iter().map(|s| h1(*s)).collect();
    let receipt = Receipt {
        job_id: Fr::rand(&mut OsRng),
        client_id: h1(Fr::rand(&mut OsRng)),
        miner_id: miners[4],
        units: 3_600_000,
        unit_price: 25,
        amount: 90_000_000,
        fee: 900_000,
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        salt: Fr::rand(&mut OsRng),
    };
    let input = serde_json::json!({
        "receipt": ReceiptJson::from(&receipt),
        "amount_min": "50000000",
        "amount_max": "100000000",
        "miners": miners.iter().map(fr_to_decimal).collect::<Vec<_>>(),
    });
    let input_path = dir.join("input.json");
    write_json(&input_path, &input)?;

    let t = Instant::now();
    let info = read_info(&keys)?;
    let pk = read_proving_key(&keys, &info)?;
    let load = t.elapsed();
    let t = Instant::now();
    let circuit = circuit_from_json(CircuitKind::Receipt, a.depth, &input.to_string())?;
    prove_to_dir(&pk, circuit, &out, backend)?;
    println!(
        "  prove   (keys loaded in {load:.2?})           {:>8.2?}",
        t.elapsed()
    );

    let t = Instant::now();
    let vk = read_vk_json(&keys.join(zkr_artifacts::VERIFICATION_KEY_JSON))?;
    let proof_path = out.join("proof.json");
    let proof = snarkjs::parse_proof(
        &binary::read_text_bounded(&proof_path, binary::MAX_JSON_BYTES)?,
        "proof.json",
    )?;
    let public = snarkjs::parse_public(
        &binary::read_text_bounded(&out.join("public.json"), binary::MAX_JSON_BYTES)?,
        "public.json",
    )?;
    let valid = zkr_verifier::verify(&vk, &proof, &public)?;
    println!(
        "  verify  {}                          {:>8.2?}",
        if valid { "valid  " } else { "INVALID" },
        t.elapsed()
    );
    if !valid {
        return Err(CliError::Failed("the demo proof did not verify".into()));
    }
    println!(
        "public inputs: receipt_hash, registry_root, amount_min, amount_max = {}",
        public
            .iter()
            .map(fr_to_decimal)
            .collect::<Vec<_>>()
            .join(", ")
    );
    if a.keep {
        let kept = tmp.keep();
        println!("kept {} (keys/, input.json, proof/)", kept.display());
    }
    Ok(())
}
