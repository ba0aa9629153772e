//! `zkr bench`: our MSM and prover beside arkworks 0.6, same inputs, same
//! process; warm-up, then the median of at least five runs each.

use super::{CliError, CliResult};
use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_std::rand::{SeedableRng, rngs::StdRng};
use clap::{Args, Subcommand};
use zkr_benches::CaseResult;
use zkr_circuits::{CircuitKind, circuits::DEFAULT_DEPTH, sample};
use zkr_prover::Backend;

/// Arguments of `zkr bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub what: BenchCommand,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// BN254 multi-scalar multiplication of random points and scalars.
    Msm {
        /// Comma-separated log2 sizes.
        #[arg(long, value_delimiter = ',', default_value = "12,16,20")]
        log_sizes: Vec<u32>,
        /// The group: g1 or g2.
        #[arg(long, default_value = "g1")]
        group: String,
        /// Backend for ours: cpu or opencl (auto picks OpenCL when a device is present).
        #[arg(long, default_value = "cpu")]
        backend: Backend,
        /// Timed runs per side (at least 5).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Groth16 proving of a circuit: ours against `ark_groth16::Groth16::prove`, same keys and witness.
    Prove {
        /// Which circuit: range, membership, receipt or disclosure.
        #[arg(long, default_value = "receipt")]
        circuit: String,
        /// Registry depth for membership and receipt.
        #[arg(long, default_value_t = DEFAULT_DEPTH)]
        depth: usize,
        /// Backend for ours: auto, cpu, opencl or opencl:N (device N).
        #[arg(long, default_value = "cpu")]
        backend: Backend,
        /// Timed runs per side (at least 5).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Time each phase of our proof (synthesis, FFTs, MSMs) instead.
        #[arg(long)]
        phases: bool,
    },
    /// Verifying many proofs: our batch against one `Groth16::verify_with_processed_vk` each.
    Verify(super::verify_batch::BenchVerifyArgs),
}

/// Runs `zkr bench`.
pub fn run(a: &BenchArgs) -> CliResult {
    let fail = |e: zkr_benches::Error| CliError::Failed(format!("bench: {e}"));
    let mut throughput = Vec::new();
    let (results, json) = match &a.what {
        BenchCommand::Msm {
            log_sizes,
            group,
            backend,
            runs,
            json,
        } => {
            if log_sizes.is_empty() || log_sizes.iter().any(|k| !(1..=26).contains(k)) {
                return Err(CliError::Input(
                    "--log-sizes: each size must be in 1..=26".into(),
                ));
            }
            let group = group
                .parse()
                .map_err(|e: zkr_benches::Error| CliError::Input(format!("--group: {e}")))?;
            let backend = *backend;
            (
                zkr_benches::msm::run_group(group, log_sizes, backend, *runs).map_err(fail)?,
                *json,
            )
        }
        BenchCommand::Prove {
            circuit,
            depth,
            backend,
            runs,
            json,
            phases,
        } => {
            let kind = CircuitKind::from_name(circuit)?;
            let backend = *backend;
            let mut rng = StdRng::seed_from_u64(2026);
            let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
                kind.blank(*depth)?,
                &mut rng,
            )
            .map_err(|e| CliError::Failed(format!("setup: {e}")))?;
            let instance = sample::instance(kind, *depth, &mut rng)?;
            let case = match kind.has_depth() {
                true => format!("{}({depth})", kind.name()),
                false => kind.name().to_string(),
            };
            if *phases {
                let (phases, total) =
                    zkr_benches::prove::phases(&pk, instance, backend, *runs).map_err(fail)?;
                print_phases(&case, &phases, total, *json);
                return Ok(());
            }
            let (results, tp) =
                zkr_benches::prove::latency_and_throughput(&case, &pk, instance, backend, *runs)
                    .map_err(fail)?;
            throughput = tp;
            (results, *json)
        }
        BenchCommand::Verify(v) => (vec![super::verify_batch::bench(v)?], v.json),
    };
    if json {
        let mut out = serde_json::json!({
            "results": results,
            "peak_rss_kib": zkr_benches::mem::peak_rss_kib(),
        });
        if !throughput.is_empty() {
            out["throughput"] = serde_json::json!(throughput);
        }
        println!("{out}");
    } else {
        print_table(&results);
        for t in &throughput {
            println!(
                "{:<9} {:>8.2} proofs/s with {} proof(s) at once",
                t.side, t.proofs_per_s, t.parallel
            );
        }
    }
    Ok(())
}

fn print_phases(case: &str, phases: &[zkr_benches::prove::PhaseResult], total: f64, json: bool) {
    if json {
        let out = serde_json::json!({ "case": case, "phases": phases, "proof_ms": total });
        println!("{out}");
        return;
    }
    println!("{case}: median of each phase (ms); msm_b_g2 runs beside the G1 MSMs");
    for p in phases {
        println!(
            "{:<12} {:>10.2} {:>6.1} %",
            p.phase,
            p.ms,
            100.0 * p.ms / total
        );
    }
    println!("{:<12} {total:>10.2}", "proof");
}

fn print_table(results: &[CaseResult]) {
    println!(
        "{:<22} {:>9} {:>8} {:>12} {:>12} {:>9} {:>12} {:>12}",
        "case", "n", "backend", "ours ms", "arkworks ms", "speedup", "ours MiB", "arkworks MiB"
    );
    let mib =
        |k: Option<u64>| k.map_or_else(|| "-".to_string(), |k| format!("{:.0}", k as f64 / 1024.0));
    for r in results {
        println!(
            "{:<22} {:>9} {:>8} {:>12.2} {:>12.2} {:>8.2}x {:>12} {:>12}",
            r.case,
            r.n,
            r.backend,
            r.ours_ms,
            r.arkworks_ms,
            r.speedup,
            mib(r.ours_peak_rss_kib),
            mib(r.arkworks_peak_rss_kib)
        );
    }
}
