//! Backend choice: the `auto|cpu|opencl|opencl:N` selector, the devices a
//! prover pool gives a worker each, the CPU backend object and the wrapper
//! that falls back from OpenCL to the CPU on any error.

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
    /// The first OpenCL device; an error when there is none.
    OpenCl,
    /// The OpenCL device at this index, counting every device of every
    /// platform from 0 in the order the platforms list them (`clinfo -l`).
    OpenClDevice(u32),
}

impl FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "opencl" => Ok(Self::OpenCl),
            other => match other.strip_prefix("opencl:").map(str::parse) {
                Some(Ok(index)) => Ok(Self::OpenClDevice(index)),
                _ => Err(Error::UnknownBackend(other.to_owned())),
            },
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
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::OpenCl => f.write_str("opencl"),
            Self::OpenClDevice(i) => write!(f, "opencl:{i}"),
        }
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

/// The first OpenCL device of this process, if one can be opened. With
/// `accelerators_only`, a CPU device (POCL) counts as none.
///
/// A CPU device is not even opened then: building the program on POCL
/// loads its LLVM, which installs its own SIGTERM and SIGINT handlers over
/// the process's (a server would no longer shut down cleanly).
#[cfg(feature = "opencl")]
fn open_device(accelerators_only: bool) -> Result<Arc<dyn MsmBackend>> {
    use crate::opencl::OpenClMsm;
    if accelerators_only {
        let d = OpenClMsm::first(|d| !d.is_cpu).map_err(|e| match e {
            Error::NoDevice(_) if OpenClMsm::all().iter().any(|d| d.is_cpu) => {
                Error::NoDevice("only CPU OpenCL devices; the CPU backend is faster there".into())
            }
            other => other,
        })?;
        return Ok(d);
    }
    Ok(OpenClMsm::shared()?)
}

#[cfg(not(feature = "opencl"))]
fn open_device(_accelerators_only: bool) -> Result<Arc<dyn MsmBackend>> {
    Err(Error::NotBuilt("opencl"))
}

#[cfg(feature = "opencl")]
fn open_nth(index: u32) -> Result<Arc<dyn MsmBackend>> {
    Ok(crate::opencl::OpenClMsm::nth(index as usize)?)
}

#[cfg(not(feature = "opencl"))]
fn open_nth(_index: u32) -> Result<Arc<dyn MsmBackend>> {
    Err(Error::NotBuilt("opencl"))
}

/// An OpenCL device, as a prover pool sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The backend that names it (`opencl:N`).
    pub backend: Backend,
    /// The device's name.
    pub name: String,
    /// A CPU device (such as POCL's).
    pub is_cpu: bool,
}

/// Every OpenCL device of every platform, in index order, as enumerated
/// (none is opened here: a device is opened on its first MSM, and one that
/// fails then falls back to the CPU, counted).
#[cfg(feature = "opencl")]
pub fn devices() -> Vec<Device> {
    crate::opencl::OpenClMsm::all()
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            Some(Device {
                backend: Backend::OpenClDevice(u32::try_from(i).ok()?),
                name: d.name.clone(),
                is_cpu: d.is_cpu,
            })
        })
        .collect()
}

/// Every OpenCL device: none without the `opencl` feature.
#[cfg(not(feature = "opencl"))]
pub fn devices() -> Vec<Device> {
    Vec::new()
}

/// The devices that a prover pool gives one worker each for a user's
/// choice, out of `devices` (see [`devices`]):
/// - `Cpu`: none;
/// - `Auto`: every device that is not itself a CPU (as [`select`]);
/// - `OpenCl`: every device, CPU devices included (asked for by name);
/// - `OpenClDevice(i)`: that one, listed even when it did not open, so
///   that its worker's MSMs fall back to the CPU, counted, and the failure
///   shows.
pub fn device_slots(choice: Backend, devices: &[Device]) -> Vec<Backend> {
    match choice {
        Backend::Cpu => Vec::new(),
        Backend::Auto => devices
            .iter()
            .filter(|d| !d.is_cpu)
            .map(|d| d.backend)
            .collect(),
        Backend::OpenCl => devices.iter().map(|d| d.backend).collect(),
        Backend::OpenClDevice(i) => vec![Backend::OpenClDevice(i)],
    }
}

/// Resolves a user's choice into a backend:
/// - `Cpu`: the CPU;
/// - `OpenCl`: the device, or `Err` when there is none (the caller decides
///   whether to fall back);
/// - `OpenClDevice(i)`: device `i`, or `Err` when it is not there;
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
        Backend::OpenClDevice(i) => Ok(FallbackMsm::new(Some(open_nth(i)?))),
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
        for b in [
            Backend::Auto,
            Backend::Cpu,
            Backend::OpenCl,
            Backend::OpenClDevice(0),
            Backend::OpenClDevice(12),
        ] {
            assert_eq!(b.to_string().parse::<Backend>().unwrap(), b);
        }
        assert_eq!(" OpenCL ".parse::<Backend>().unwrap(), Backend::OpenCl);
        assert_eq!(
            "OpenCL:3".parse::<Backend>().unwrap(),
            Backend::OpenClDevice(3)
        );
        for bad in [
            "cuda",
            "opencl:",
            "opencl:-1",
            "opencl:x",
            "opencl:99999999999",
        ] {
            assert!(bad.parse::<Backend>().is_err(), "{bad}");
        }
    }

    #[test]
    fn slots_per_device() {
        let gpu = |i, name: &str| Device {
            backend: Backend::OpenClDevice(i),
            name: name.into(),
            is_cpu: false,
        };
        let pocl = Device {
            backend: Backend::OpenClDevice(2),
            name: "pthread".into(),
            is_cpu: true,
        };
        let all = [gpu(0, "a"), gpu(1, "b"), pocl];
        let slots = |c| device_slots(c, &all);
        assert_eq!(slots(Backend::Cpu), vec![]);
        assert_eq!(
            slots(Backend::Auto),
            vec![Backend::OpenClDevice(0), Backend::OpenClDevice(1)]
        );
        assert_eq!(
            slots(Backend::OpenCl),
            vec![
                Backend::OpenClDevice(0),
                Backend::OpenClDevice(1),
                Backend::OpenClDevice(2)
            ]
        );
        assert_eq!(
            slots(Backend::OpenClDevice(7)),
            vec![Backend::OpenClDevice(7)]
        );
        assert_eq!(device_slots(Backend::OpenCl, &[]), vec![]);
    }

    #[test]
    fn a_missing_device_is_an_error() {
        assert!(matches!(
            select(Backend::OpenClDevice(u32::MAX)),
            Err(Error::NoDevice(_) | Error::NotBuilt(_))
        ));
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
