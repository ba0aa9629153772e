//! MSM: ours (through a [`zkr_gpu`] backend) against
//! `ark_ec::VariableBaseMSM::msm` on the same random inputs.

use crate::{CaseResult, Error, Result, inputs, mem, time_pair};
use ark_bn254::G1Projective;
use ark_ec::VariableBaseMSM;
use ark_ff::PrimeField;
use std::hint::black_box;
use zkr_gpu::{Backend, MsmBackend};

/// Measures G1 MSMs of `2^k` points for each `k` in `log_sizes`.
pub fn run(log_sizes: &[u32], backend: Backend, runs: usize) -> Result<Vec<CaseResult>> {
    let msm = zkr_gpu::select(backend)?;
    let mut out = Vec::new();
    for &k in log_sizes {
        let n = 1usize << k;
        let bases = inputs::g1_points(n, 1);
        let scalars = inputs::scalars(n, 2);
        let big: Vec<_> = scalars.iter().map(|s| s.into_bigint()).collect();

        let (ours, ran) = msm.msm_g1_ran(&bases, &big)?;
        let theirs =
            G1Projective::msm(&bases, &scalars).map_err(|_| Error::Arkworks("length".into()))?;
        if ours != theirs {
            return Err(Error::Mismatch(format!("msm/g1 n = {n}")));
        }
        let (ours_ms, arkworks_ms) = time_pair(
            runs,
            || {
                black_box(msm.msm_g1(&bases, &big).ok());
            },
            || {
                black_box(G1Projective::msm(&bases, &scalars).ok());
            },
        );
        let (_, ours_peak) = mem::with_peak(|| black_box(msm.msm_g1(&bases, &big).ok()));
        let (_, ark_peak) = mem::with_peak(|| black_box(G1Projective::msm(&bases, &scalars).ok()));
        out.push(CaseResult {
            case: "msm/g1".into(),
            n,
            backend: ran.to_string(),
            ours_ms,
            arkworks_ms,
            speedup: arkworks_ms / ours_ms,
            ours_peak_rss_kib: ours_peak,
            arkworks_peak_rss_kib: ark_peak,
        });
    }
    Ok(out)
}
