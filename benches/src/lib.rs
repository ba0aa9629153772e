//! Side-by-side measurements of our MSM and prover against arkworks 0.6 on
//! the same inputs in the same process, for `zkr bench` and the criterion
//! benches in `benches/`.
//!
//! Each case is warmed up once, then ours and arkworks run alternately
//! `runs` times (at least 5) and the medians are compared, so that noise from
//! other work on the machine hits both sides alike.
#![forbid(unsafe_code)]

pub mod inputs;
pub mod mem;
pub mod msm;
pub mod prove;
pub mod verify;

use serde::Serialize;
use std::time::Instant;

/// Errors of a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The MSM backend failed or is missing.
    #[error(transparent)]
    Msm(#[from] zkr_gpu::Error),
    /// Proving failed.
    #[error(transparent)]
    Prove(#[from] zkr_prover::Error),
    /// Key generation or the baseline prover failed.
    #[error("arkworks: {0}")]
    Arkworks(String),
    /// Our verifier refused its input.
    #[error("verify: {0}")]
    Verify(String),
    /// Our result differs from arkworks': the measurement is meaningless.
    #[error("{0}: result differs from arkworks")]
    Mismatch(String),
    /// A group name that is not `g1` or `g2`.
    #[error("unknown group {0:?} (expected g1 or g2)")]
    UnknownGroup(String),
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Fewest timed runs per side.
pub const MIN_RUNS: usize = 5;

/// One measured case.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CaseResult {
    /// What was measured, e.g. `msm/g1` or `prove/receipt`.
    pub case: String,
    /// Size: points of the MSM, or constraints of the circuit.
    pub n: usize,
    /// Backend that ran ours (`cpu` or `opencl`).
    pub backend: String,
    /// Median wall time of ours, in milliseconds.
    pub ours_ms: f64,
    /// Median wall time of arkworks, in milliseconds.
    pub arkworks_ms: f64,
    /// `arkworks_ms / ours_ms`.
    pub speedup: f64,
    /// Peak resident memory of the process while ours ran, in KiB
    /// (sampled `VmRSS`, see [`mem::with_peak`]; `None` where `/proc`
    /// cannot tell). Includes the inputs, which both sides share.
    pub ours_peak_rss_kib: Option<u64>,
    /// Same, while arkworks ran.
    pub arkworks_peak_rss_kib: Option<u64>,
}

/// Times `ours` and `theirs` alternately after one warm-up each; returns the
/// medians in milliseconds.
pub(crate) fn time_pair(
    runs: usize,
    mut ours: impl FnMut(),
    mut theirs: impl FnMut(),
) -> (f64, f64) {
    let runs = runs.max(MIN_RUNS);
    ours();
    theirs();
    let (mut a, mut b) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        let t = Instant::now();
        ours();
        a.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        theirs();
        b.push(t.elapsed().as_secs_f64() * 1e3);
    }
    (median(&mut a), median(&mut b))
}

/// The median of `v` (the mean of the middle two for even lengths).
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
