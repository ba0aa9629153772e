//! MSM: ours (through a [`zkr_gpu`] backend) against
//! `ark_ec::VariableBaseMSM::msm` on the same random inputs, in G1 or G2.

use crate::{CaseResult, Error, Result, inputs, mem, time_pair};
use ark_bn254::{G1Projective, G2Projective};
use ark_ec::VariableBaseMSM;
use ark_ff::PrimeField;
use std::hint::black_box;
use zkr_gpu::{Backend, MsmBackend};

/// The group of an MSM benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// BN254 G1 (over Fq).
    G1,
    /// BN254 G2 (over Fq2).
    G2,
}

impl Group {
    /// `"g1"` or `"g2"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::G1 => "g1",
            Self::G2 => "g2",
        }
    }
}

impl std::str::FromStr for Group {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "g1" => Ok(Self::G1),
            "g2" => Ok(Self::G2),
            _ => Err(Error::UnknownGroup(s.to_string())),
        }
    }
}

/// Measures G1 MSMs of `2^k` points for each `k` in `log_sizes`.
pub fn run(log_sizes: &[u32], backend: Backend, runs: usize) -> Result<Vec<CaseResult>> {
    run_group(Group::G1, log_sizes, backend, runs)
}

/// Measures MSMs in `group` of `2^k` points for each `k` in `log_sizes`.
pub fn run_group(
    group: Group,
    log_sizes: &[u32],
    backend: Backend,
    runs: usize,
) -> Result<Vec<CaseResult>> {
    let msm = zkr_gpu::select(backend)?;
    let mut out = Vec::new();
    for &k in log_sizes {
        let n = 1usize << k;
        let scalars = inputs::scalars(n, 2);
        let big: Vec<_> = scalars.iter().map(|s| s.into_bigint()).collect();
        let case = format!("msm/{}", group.name());
        let mismatch = || Error::Mismatch(format!("{case} n = {n}"));
        let arkworks_failed = |_| Error::Arkworks("length".into());
        // Each side: one checked run, then the timed runs, then a run
        // under the memory sampler.
        let (backend, (ours_ms, arkworks_ms), ours_peak, ark_peak) = match group {
            Group::G1 => {
                let bases = inputs::g1_points(n, 1);
                let (ours, ran) = msm.msm_g1_ran(&bases, &big)?;
                let theirs = G1Projective::msm(&bases, &scalars).map_err(arkworks_failed)?;
                if ours != theirs {
                    return Err(mismatch());
                }
                let times = time_pair(
                    runs,
                    || {
                        black_box(msm.msm_g1(&bases, &big).ok());
                    },
                    || {
                        black_box(G1Projective::msm(&bases, &scalars).ok());
                    },
                );
                let (_, ours_peak) = mem::with_peak(|| black_box(msm.msm_g1(&bases, &big).ok()));
                let (_, ark_peak) =
                    mem::with_peak(|| black_box(G1Projective::msm(&bases, &scalars).ok()));
                (ran.to_string(), times, ours_peak, ark_peak)
            }
            Group::G2 => {
                let bases = inputs::g2_points(n, 1);
                let (ours, ran) = msm.msm_g2_ran(&bases, &big)?;
                let theirs = G2Projective::msm(&bases, &scalars).map_err(arkworks_failed)?;
                if ours != theirs {
                    return Err(mismatch());
                }
                let times = time_pair(
                    runs,
                    || {
                        black_box(msm.msm_g2(&bases, &big).ok());
                    },
                    || {
                        black_box(G2Projective::msm(&bases, &scalars).ok());
                    },
                );
                let (_, ours_peak) = mem::with_peak(|| black_box(msm.msm_g2(&bases, &big).ok()));
                let (_, ark_peak) =
                    mem::with_peak(|| black_box(G2Projective::msm(&bases, &scalars).ok()));
                (ran.to_string(), times, ours_peak, ark_peak)
            }
        };
        out.push(CaseResult {
            case,
            n,
            backend,
            ours_ms,
            arkworks_ms,
            speedup: arkworks_ms / ours_ms,
            ours_peak_rss_kib: ours_peak,
            arkworks_peak_rss_kib: ark_peak,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_parse() {
        assert_eq!("g1".parse::<Group>().ok(), Some(Group::G1));
        assert_eq!(" G2 ".parse::<Group>().ok(), Some(Group::G2));
        assert!(matches!(
            "g3".parse::<Group>(),
            Err(Error::UnknownGroup(g)) if g == "g3"
        ));
    }

    #[test]
    fn g2_case_checks_and_names_itself() {
        let r = run_group(Group::G2, &[3], Backend::Cpu, 5).expect("small G2 MSM");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].case, "msm/g2");
        assert_eq!(r[0].n, 8);
        assert!(r[0].ours_ms > 0.0 && r[0].arkworks_ms > 0.0);
    }
}
