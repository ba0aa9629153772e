//! Loading a proving key two ways, in one process: the full check of
//! `proving_key.bin` (decompression and subgroup checks), and the checked
//! fast form (`zkr_prover::keycache`) that later runs read:
//! `cargo run --release -p zkr-benches --example keyload -- KEYS_DIR [RUNS]`
//! (KEYS_DIR from `zkr setup`; the fast form is written to a temporary
//! file, not into KEYS_DIR).

use std::time::Instant;
use zkr_prover::keycache::{Loaded, load_or_check};
use zkr_verifier::binary;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = std::path::PathBuf::from(args.first().ok_or("usage: keyload KEYS_DIR [RUNS]")?);
    let runs: usize = args.get(1).map_or(Ok(5), |r| r.parse())?;
    let src = dir.join("proving_key.bin");
    let cache = std::env::temp_dir().join(format!("zkr-keyload-{}.checked", std::process::id()));
    let check = |b: &[u8]| binary::proving_key_from_bytes(b, "proving_key.bin");
    let (mut read, mut full, mut fast) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let bytes = std::fs::read(&src)?;
        read.push(t.elapsed().as_secs_f64() * 1e3);
        let _ = std::fs::remove_file(&cache);
        let t = Instant::now();
        let (a, how) = load_or_check(&bytes, &cache, check)?;
        full.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(matches!(how, Loaded::Checked { cache: Ok(_) }));
        let t = Instant::now();
        let (b, how) = load_or_check(&bytes, &cache, check)?;
        fast.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(matches!(how, Loaded::Fast));
        assert!(a == b, "the fast form gave another key");
    }
    let _ = std::fs::remove_file(&cache);
    println!(
        "median of {} runs: read {:.1} ms, full check (and cache write) {:.1} ms, checked fast form {:.1} ms",
        read.len(),
        zkr_benches::median(&mut read),
        zkr_benches::median(&mut full),
        zkr_benches::median(&mut fast)
    );
    Ok(())
}
