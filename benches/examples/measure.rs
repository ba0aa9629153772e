//! Prints the side-by-side table for MSM and proving without the CLI:
//! `cargo run --release -p zkr-benches --example measure -- msm 12,16 cpu`
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
    let backend: Backend = args.get(2).map_or("cpu", String::as_str).parse()?;
    let runs = 5;
    let results: Vec<CaseResult> = match what {
        "prove" => sizes
            .iter()
            .map(|&k| {
                let (pk, c) = prove::mul_chain(k)?;
                prove::run("mul_chain", &pk, c, backend, runs)
            })
            .collect::<Result<_, _>>()?,
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
