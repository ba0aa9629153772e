//! Prints the side-by-side table for MSM and proving without the CLI:
//! `cargo run --release -p zkr-benches --example measure -- msm 12,16 cpu`
//! `cargo run --release -p zkr-benches --example measure -- msm-g2 12,16 cpu`
//! `cargo run --release -p zkr-benches --example measure -- prove 16 cpu`

use zkr_benches::{CaseResult, msm, prove};
use zkr_gpu::Backend;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map_or("msm", String::as_str);
    let sizes: Vec<u32> = args
        .get(1)
        .map_or("12,16", String::as_str)
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let backend: Backend = match args.get(2).map(String::as_str) {
        Some("ours" | "arkworks") | None => Backend::Cpu,
        Some(b) => b.parse()?,
    };
    let runs = 5;
    if what == "prove-peak" {
        // One side only, in a process of its own, so that VmHWM is that
        // side's peak: `measure prove-peak 16 ours|arkworks`.
        let (pk, c) = prove::mul_chain(sizes[0])?;
        let before = zkr_benches::mem::rss_kib().unwrap_or(0);
        let mut rng = ark_std::rand::rngs::OsRng;
        if args.get(2).map(String::as_str) == Some("arkworks") {
            use ark_snark::SNARK;
            ark_groth16::Groth16::<ark_bn254::Bn254>::prove(&pk, c, &mut rng)?;
        } else {
            zkr_prover::prove(&pk, c, &mut rng, Backend::Cpu)?;
        }
        let peak = zkr_benches::mem::peak_rss_kib().unwrap_or(0);
        println!(
            "rss before proving {before} KiB, peak {peak} KiB, proving added {} KiB",
            peak.saturating_sub(before)
        );
        return Ok(());
    }
    if what == "profile" {
        // Only ours (the G1 path of this process, see ZKR_CPU_MSM), for a
        // profiler.
        let n = 1usize << sizes[0];
        let bases = zkr_benches::inputs::g1_points(n, 1);
        let scalars: Vec<_> = zkr_benches::inputs::scalars(n, 2)
            .iter()
            .map(|s| ark_ff::PrimeField::into_bigint(*s))
            .collect();
        for _ in 0..10 {
            let _ = std::hint::black_box(zkr_gpu::cpu::msm_g1(&bases, &scalars));
        }
        return Ok(());
    }
    let results: Vec<CaseResult> = match what {
        "prove-receipt" => sizes
            .iter()
            .map(|&depth| {
                // receipt(depth): the circuit the proving target names.
                use zkr_circuits::circuits::CircuitKind;
                let mut rng = <ark_std::rand::rngs::StdRng as ark_std::rand::SeedableRng>::seed_from_u64(5);
                let blank = CircuitKind::Receipt.blank(depth as usize)?;
                let pk = ark_groth16::Groth16::<ark_bn254::Bn254>::generate_random_parameters_with_reduction(blank, &mut rng)?;
                let circuit = zkr_circuits::sample::instance(CircuitKind::Receipt, depth as usize, &mut rng)?;
                prove::run(&format!("receipt({depth})"), &pk, circuit, backend, runs).map_err(Into::into)
            })
            .collect::<Result<_, Box<dyn std::error::Error>>>()?,
        "prove" => sizes
            .iter()
            .map(|&k| {
                let (pk, c) = prove::mul_chain(k)?;
                prove::run("mul_chain", &pk, c, backend, runs)
            })
            .collect::<Result<_, _>>()?,
        "msm-g2" => msm::run_group(msm::Group::G2, &sizes, backend, runs)?,
        _ => msm::run(&sizes, backend, runs)?,
    };
    println!(
        "{:<16} {:>9} {:>8} {:>11} {:>13} {:>8} {:>12} {:>12}",
        "case", "n", "backend", "ours ms", "arkworks ms", "speedup", "ours KiB", "ark KiB"
    );
    for r in &results {
        println!(
            "{:<16} {:>9} {:>8} {:>11.1} {:>13.1} {:>8.2} {:>12} {:>12}",
            r.case,
            r.n,
            r.backend,
            r.ours_ms,
            r.arkworks_ms,
            r.speedup,
            r.ours_peak_rss_kib.unwrap_or(0),
            r.arkworks_peak_rss_kib.unwrap_or(0)
        );
    }
    Ok(())
}
