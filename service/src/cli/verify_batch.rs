//! `zkr verify --batch DIR`: every `NAME.proof.json` in `DIR` with its
//! `NAME.public.json`, verified under one key as one batch (see
//! [`zkr_verifier::batch`]). One line per proof on stdout, `NAME: OK` or
//! `NAME: INVALID`, in name order; exit 0 when all are valid, 1 when some are
//! not, 2 for a malformed or unpaired file.

use super::{CliError, CliResult};
use ark_bn254::{Bn254, Fr};
use ark_groth16::{Proof, prepare_verifying_key};
use std::path::Path;
use zkr_artifacts::read_vk_json;
use zkr_verifier::{BatchItem, batch, binary, snarkjs};

/// The most proofs one directory may hold.
pub const MAX_BATCH_FILES: usize = 4096;

const PROOF_SUFFIX: &str = ".proof.json";
const PUBLIC_SUFFIX: &str = ".public.json";

/// One proof of the directory.
struct Entry {
    name: String,
    proof: Proof<Bn254>,
    public: Vec<Fr>,
}

/// Runs `zkr verify --vk VK --batch DIR`.
pub fn run(vk_path: &Path, dir: &Path) -> CliResult {
    let vk = read_vk_json(vk_path)?;
    let pvk = prepare_verifying_key(&vk);
    let entries = read_dir(dir)?;
    let items: Vec<BatchItem<'_>> = entries
        .iter()
        .map(|e| BatchItem {
            pvk: &pvk,
            proof: &e.proof,
            public_inputs: &e.public,
        })
        .collect();
    for (e, item) in entries.iter().zip(&items) {
        batch::check_item(item)
            .map_err(|err| CliError::Input(format!("{}: {err}", dir.join(&e.name).display())))?;
    }
    let verdicts = zkr_verifier::verify_batch(&items)?;
    let mut invalid = Vec::new();
    for (e, ok) in entries.iter().zip(&verdicts) {
        println!("{}: {}", e.name, if *ok { "OK" } else { "INVALID" });
        if !ok {
            invalid.push(e.name.as_str());
        }
    }
    if invalid.is_empty() {
        eprintln!("OK: all {} proofs are valid", entries.len());
        Ok(())
    } else {
        Err(CliError::Rejected(format!(
            "INVALID: {} of {} proofs do not verify: {}",
            invalid.len(),
            entries.len(),
            invalid.join(", ")
        )))
    }
}

/// The directory's proof/public pairs, in name order.
fn read_dir(dir: &Path) -> CliResult<Vec<Entry>> {
    let io = |e: std::io::Error| CliError::Input(format!("{}: {e}", dir.display()));
    let mut names = Vec::new();
    let mut publics = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let file = entry.map_err(io)?.file_name();
        let Some(file) = file.to_str() else { continue };
        if let Some(name) = file.strip_suffix(PROOF_SUFFIX) {
            names.push(name.to_string());
        } else if let Some(name) = file.strip_suffix(PUBLIC_SUFFIX) {
            publics.push(name.to_string());
        }
        if names.len() > MAX_BATCH_FILES {
            return Err(CliError::Input(format!(
                "{}: more than {MAX_BATCH_FILES} proofs",
                dir.display()
            )));
        }
    }
    if let Some(orphan) = publics.iter().find(|p| !names.contains(p)) {
        return Err(CliError::Input(format!(
            "{}: {orphan}{PUBLIC_SUFFIX} has no {orphan}{PROOF_SUFFIX}",
            dir.display()
        )));
    }
    if names.is_empty() {
        return Err(CliError::Input(format!(
            "{}: no NAME{PROOF_SUFFIX} files",
            dir.display()
        )));
    }
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let proof_path = dir.join(format!("{name}{PROOF_SUFFIX}"));
            let public_path = dir.join(format!("{name}{PUBLIC_SUFFIX}"));
            if !public_path.is_file() {
                return Err(CliError::Input(format!(
                    "{}: no {name}{PUBLIC_SUFFIX} beside it",
                    proof_path.display()
                )));
            }
            let text = binary::read_text_bounded(&proof_path, binary::MAX_JSON_BYTES)?;
            let proof = snarkjs::parse_proof(&text, &proof_path.display().to_string())?;
            let text = binary::read_text_bounded(&public_path, binary::MAX_JSON_BYTES)?;
            let public = snarkjs::parse_public(&text, &public_path.display().to_string())?;
            Ok(Entry {
                name,
                proof,
                public,
            })
        })
        .collect()
}

/// Arguments of `zkr bench verify`.
#[cfg(feature = "bench")]
#[derive(Debug, clap::Args)]
pub struct BenchVerifyArgs {
    /// Which circuit: range, membership, receipt or disclosure.
    #[arg(long, default_value = "receipt")]
    pub circuit: String,
    /// Registry depth for membership and receipt.
    #[arg(long, default_value_t = zkr_circuits::circuits::DEFAULT_DEPTH)]
    pub depth: usize,
    /// Proofs in the batch.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Timed runs per side (at least 5).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Distinct statements proved for `zkr bench verify`; the rest of the batch
/// are re-randomized copies of their proofs (fresh, valid proofs of the same
/// statements), which verify at the same cost as fresh ones.
#[cfg(feature = "bench")]
const BENCH_STATEMENTS: usize = 4;

/// `zkr bench verify`: a batch of valid proofs of one circuit under one key.
#[cfg(feature = "bench")]
pub fn bench(a: &BenchVerifyArgs) -> CliResult<zkr_benches::CaseResult> {
    use ark_groth16::Groth16;
    use ark_std::rand::{SeedableRng, rngs::StdRng};
    if !(1..=MAX_BATCH_FILES).contains(&a.batch) {
        return Err(CliError::Input(format!(
            "--batch must be in 1..={MAX_BATCH_FILES}"
        )));
    }
    let kind = zkr_circuits::CircuitKind::from_name(&a.circuit)?;
    let mut rng = StdRng::seed_from_u64(2026);
    let pk =
        Groth16::<Bn254>::generate_random_parameters_with_reduction(kind.blank(a.depth)?, &mut rng)
            .map_err(|e| CliError::Failed(format!("setup: {e}")))?;
    let mut proofs = Vec::with_capacity(a.batch);
    for _ in 0..a.batch.min(BENCH_STATEMENTS) {
        let instance = zkr_circuits::sample::instance(kind, a.depth, &mut rng)?;
        let public = instance.public_inputs();
        let proof = Groth16::<Bn254>::create_random_proof_with_reduction(instance, &pk, &mut rng)
            .map_err(|e| CliError::Failed(format!("prove: {e}")))?;
        proofs.push((proof, public));
    }
    while proofs.len() < a.batch {
        let (proof, public) = &proofs[proofs.len() % BENCH_STATEMENTS];
        let fresh = Groth16::<Bn254>::rerandomize_proof(&pk.vk, proof, &mut rng);
        proofs.push((fresh, public.clone()));
    }
    let case = match kind.has_depth() {
        true => format!("{}({}) x{}", kind.name(), a.depth, a.batch),
        false => format!("{} x{}", kind.name(), a.batch),
    };
    zkr_benches::verify::run(&case, &prepare_verifying_key(&pk.vk), &proofs, a.runs)
        .map_err(|e| CliError::Failed(format!("bench: {e}")))
}
