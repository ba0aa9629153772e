//! Backend choice: the `auto|cpu|opencl` selector, the CPU backend object and
//! the wrapper that falls back from OpenCL to the CPU on any error.

use crate::{Error, MsmBackend, Result, Scalar, check_lengths, cpu};
use ark_bn254::{G1Affine, G1Projective, G2Affine, G2Projective};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which backend to use, as a user asks for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// OpenCL when a device is present, else the CPU.
    #[default]
    Auto,
    /// The rayon CPU backend.
    Cpu,
    /// An OpenCL device; an error when there is none.
    OpenCl,
}

impl FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "opencl" => Ok(Self::OpenCl),
            other => Err(Error::UnknownBackend(other.to_owned())),
        }
    }
}

/// Read from configuration files through [`FromStr`], so a file, an
/// environment variable and a command-line flag accept the same words.
impl<'de> serde::Deserialize<'de> for Backend {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Backend {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::OpenCl => "opencl",
        })
    }
}

/// Which backend actually computed a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ran {
    /// The rayon CPU backend.
    Cpu,
    /// An OpenCL device.
    OpenCl,
}

impl fmt::Display for Ran {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::OpenCl => "opencl",
        })
    }
}

/// The CPU backend; see [`crate::cpu`].
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuMsm;

impl MsmBackend for CpuMsm {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn msm_g1(&self, bases: &[G1Affine], scalars: &[Scalar]) -> Result<G1Projective> {
        check_lengths(bases.len(), scalars.len())?;
        Ok(cpu::msm_g1(bases, scalars))
    }

    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Scalar]) -> Result<G2Projective> {
        check_lengths(bases.len(), scalars.len())?;
        Ok(cpu::msm_g2(bases, scalars))
    }
}

static FALLBACKS: AtomicU64 = AtomicU64::new(0);
static FALLBACK_LOGGED: std::sync::Once = std::sync::Once::new();

/// How many MSMs fell back from OpenCL to the CPU in this process (for
/// metrics).
pub fn opencl_fallbacks() -> u64 {
    FALLBACKS.load(Ordering::Relaxed)
}

/// A device backend with the CPU behind it: any error of the device is
/// counted, logged once per process, and the MSM is done on the CPU.
#[derive(Clone)]
pub struct FallbackMsm {
    device: Option<Arc<dyn MsmBackend>>,
}

impl fmt::Debug for FallbackMsm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackMsm")
            .field("device", &self.device.as_ref().map(|d| d.name()))
            .finish()
    }
}

impl FallbackMsm {
    /// Wraps `device` (or only the CPU when `None`).
    pub fn new(device: Option<Arc<dyn MsmBackend>>) -> Self {
        Self { device }
    }

    /// The backend that the next MSM will try first.
    pub fn preferred(&self) -> Ran {
        if self.device.is_some() {
            Ran::OpenCl
        } else {
            Ran::Cpu
        }
    }

    fn note_fallback(err: &Error) {
        FALLBACKS.fetch_add(1, Ordering::Relaxed);
        FALLBACK_LOGGED.call_once(|| {
            tracing::warn!(error = %err, "OpenCL MSM failed; using the CPU backend (logged once)");
        });
    }

    /// G1 MSM, and which backend computed it.
    pub fn msm_g1_ran(
        &self,
        bases: &[G1Affine],
        scalars: &[Scalar],
    ) -> Result<(G1Projective, Ran)> {
        check_lengths(bases.len(), scalars.len())?;
        if let Some(d) = &self.device {
            match d.msm_g1(bases, scalars) {
                Ok(r) => return Ok((r, Ran::OpenCl)),
                Err(e) => Self::note_fallback(&e),
            }
        }
        Ok((CpuMsm.msm_g1(bases, scalars)?, Ran::Cpu))
    }

    /// G2 MSM (always on the CPU: there is no G2 kernel).
    pub fn msm_g2_ran(
        &self,
        bases: &[G2Affine],
        scalars: &[Scalar],
    ) -> Result<(G2Projective, Ran)> {
        Ok((CpuMsm.msm_g2(bases, scalars)?, Ran::Cpu))
    }
}

impl MsmBackend for FallbackMsm {
    fn name(&self) -> &'static str {
        self.device.as_ref().map_or("cpu", |d| d.name())
    }

    fn msm_g1(&self, bases: &[G1Affine], scalars: &[Scalar]) -> Result<G1Projective> {
        self.msm_g1_ran(bases, scalars).map(|(r, _)| r)
    }

    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Scalar]) -> Result<G2Projective> {
        self.msm_g2_ran(bases, scalars).map(|(r, _)| r)
    }
}

/// The OpenCL backend of this process, if one can be opened. With
/// `accelerators_only`, a CPU device (POCL) counts as none.
#[cfg(feature = "opencl")]
fn open_device(accelerators_only: bool) -> Result<Arc<dyn MsmBackend>> {
    let d = crate::opencl::OpenClMsm::shared()?;
    if accelerators_only && d.is_cpu() {
        return Err(Error::NoDevice(format!(
            "{} is a CPU device; the CPU backend is faster there",
            d.device_name()
        )));
    }
    Ok(d)
}

#[cfg(not(feature = "opencl"))]
fn open_device(_accelerators_only: bool) -> Result<Arc<dyn MsmBackend>> {
    Err(Error::NotBuilt("opencl"))
}

/// Resolves a user's choice into a backend:
/// - `Cpu`: the CPU;
/// - `OpenCl`: the device, or `Err` when there is none (the caller decides
///   whether to fall back);
/// - `Auto`: the device if there is one and it is not itself a CPU (POCL
///   runs on the same cores as the CPU backend, several times slower), else
///   the CPU.
///
/// MSMs on a device that fail later fall back to the CPU (see
/// [`FallbackMsm`]).
pub fn select(choice: Backend) -> Result<FallbackMsm> {
    match choice {
        Backend::Cpu => Ok(FallbackMsm::new(None)),
        Backend::OpenCl => Ok(FallbackMsm::new(Some(open_device(false)?))),
        Backend::Auto => Ok(FallbackMsm::new(match open_device(true) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::debug!(error = %e, "no OpenCL device; using the CPU backend");
                None
            }
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        for b in [Backend::Auto, Backend::Cpu, Backend::OpenCl] {
            assert_eq!(b.to_string().parse::<Backend>().unwrap(), b);
        }
        assert_eq!(" OpenCL ".parse::<Backend>().unwrap(), Backend::OpenCl);
        assert!("cuda".parse::<Backend>().is_err());
    }

    #[test]
    fn cpu_is_always_there() {
        assert_eq!(select(Backend::Cpu).unwrap().preferred(), Ran::Cpu);
        assert!(select(Backend::Auto).is_ok());
    }

    #[test]
    fn length_mismatch_is_an_error() {
        let g = <G1Affine as ark_ec::AffineRepr>::generator();
        assert!(matches!(
            CpuMsm.msm_g1(&[g], &[]),
            Err(Error::LengthMismatch {
                bases: 1,
                scalars: 0
            })
        ));
    }

    struct Broken;
    impl MsmBackend for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }
        fn msm_g1(&self, _: &[G1Affine], _: &[Scalar]) -> Result<G1Projective> {
            Err(Error::OpenCl("out of resources".into()))
        }
    }

    #[test]
    fn device_errors_fall_back_and_are_counted() {
        let before = opencl_fallbacks();
        let m = FallbackMsm::new(Some(Arc::new(Broken)));
        let g = <G1Affine as ark_ec::AffineRepr>::generator();
        let one = ark_ff::PrimeField::into_bigint(ark_bn254::Fr::from(1u64));
        let (r, ran) = m.msm_g1_ran(&[g], &[one]).unwrap();
        assert_eq!(ran, Ran::Cpu);
        assert_eq!(r, G1Projective::from(g));
        assert!(opencl_fallbacks() > before);
    }
}
