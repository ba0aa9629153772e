//! Where `zkr prove-zkey`'s time goes, step by step in one process:
//! `cargo run --release -p zkr-circom --example profile_zkey -- c.zkey c.wtns [RUNS]`
//! Reads the files, loads the key (fully checked the first time, from the
//! checked cache beside the `.zkey` afterwards), then proves RUNS times
//! and prints each phase's time.

use ark_std::rand::rngs::OsRng;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zkr_circom::{wtns, zkey};
use zkr_prover::{Backend, Phase, ProveObserver, zkey::prove_zkey_observed};

#[derive(Default)]
struct Timer(Mutex<BTreeMap<Phase, (Instant, Duration)>>);

impl ProveObserver for Timer {
    fn begin(&self, phase: Phase) -> ControlFlow<()> {
        if let Ok(mut m) = self.0.lock() {
            m.insert(phase, (Instant::now(), Duration::ZERO));
        }
        ControlFlow::Continue(())
    }

    fn end(&self, phase: Phase) {
        if let Ok(mut m) = self.0.lock()
            && let Some((t, d)) = m.get_mut(&phase)
        {
            *d = t.elapsed();
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(zk), Some(wt)) = (args.first(), args.get(1)) else {
        return Err("usage: profile_zkey c.zkey c.wtns [RUNS]".into());
    };
    let runs: usize = args.get(2).map_or(Ok(3), |r| r.parse())?;
    let t = Instant::now();
    let bytes = std::fs::read(zk)?;
    println!(
        "read .zkey ({} MB)     {:>9.1} ms",
        bytes.len() >> 20,
        ms(t.elapsed())
    );
    let t = Instant::now();
    let (key, how) = zkey::read_key_cached(&bytes, zk, &zkey::cache_path(Path::new(zk)))?;
    println!("load key ({how:?})  {:>9.1} ms", ms(t.elapsed()));
    let t = Instant::now();
    let w = wtns::read(&std::fs::read(wt)?, wt)?;
    println!("read .wtns             {:>9.1} ms", ms(t.elapsed()));
    let nz = |v: &[bool]| v.iter().filter(|x| !**x).count();
    use ark_ec::AffineRepr;
    println!(
        "non-identity points: A {} B1 {} B2 {} C {} H {} of {} wires; zero / one witness values: {} / {}",
        nz(&key.a.iter().map(|p| p.is_zero()).collect::<Vec<_>>()),
        nz(&key.b1.iter().map(|p| p.is_zero()).collect::<Vec<_>>()),
        nz(&key.b2.iter().map(|p| p.is_zero()).collect::<Vec<_>>()),
        nz(&key.c.iter().map(|p| p.is_zero()).collect::<Vec<_>>()),
        nz(&key.h.iter().map(|p| p.is_zero()).collect::<Vec<_>>()),
        key.n_vars(),
        w.iter().filter(|x| ark_ff::Zero::is_zero(*x)).count(),
        w.iter().filter(|x| ark_ff::One::is_one(*x)).count(),
    );
    for run in 0..runs {
        let timer = Timer::default();
        let t = Instant::now();
        let (r, s) = (
            ark_ff::UniformRand::rand(&mut OsRng),
            ark_ff::UniformRand::rand(&mut OsRng),
        );
        prove_zkey_observed(&key, &w, r, s, Backend::Cpu, &timer)?;
        let total = t.elapsed();
        let phases = timer.0.into_inner().unwrap_or_default();
        let line: Vec<String> = phases
            .iter()
            .map(|(p, (_, d))| format!("{p} {:.1}", ms(*d)))
            .collect();
        println!("prove {run}: {:.1} ms = {}", ms(total), line.join(", "));
    }
    Ok(())
}
