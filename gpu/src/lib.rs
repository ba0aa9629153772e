//! Multi-scalar multiplication on BN254: one trait, a CPU backend that is
//! always built, and an OpenCL backend behind the `opencl` feature (on by
//! default; libOpenCL is loaded at run time, so a machine without it has no
//! device and uses the CPU).
//!
//! ```
//! use zkr_gpu::{Backend, MsmBackend};
//! let msm = zkr_gpu::select(Backend::Auto).expect("the CPU is always there");
//! let sum = msm.msm_g1(&[], &[]).expect("empty MSM");
//! assert!(ark_ff::Zero::is_zero(&sum));
//! ```
// `unsafe` is denied by the workspace lints; the OpenCL and IFMA modules
// allow it where their APIs need it.
#![cfg_attr(
    not(any(feature = "opencl", target_arch = "x86_64")),
    forbid(unsafe_code)
)]

pub mod backend;
pub mod cpu;
// Used by the IFMA engine only; portable and tested everywhere.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
mod glv;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
// SIMD intrinsics: loads, stores, gathers, scatters
// Emulated, the `#[target_feature]` functions become plain ones, and the
// `unsafe` blocks that call them have nothing left to allow.
#[cfg_attr(feature = "ifma-emulated", allow(unused_unsafe))]
pub mod ifma;
#[cfg(feature = "opencl")]
pub mod opencl;
#[cfg(test)]
mod testing;

pub use backend::{
    Backend, CpuMsm, Device, FallbackMsm, Ran, device_slots, devices, opencl_fallbacks, select,
};

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ff::PrimeField;

/// A scalar of BN254 in canonical form (`Fr::into_bigint`).
pub type Scalar = <Fr as PrimeField>::BigInt;

/// Errors of the MSM backends.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `bases` and `scalars` differ in length.
    #[error("{bases} bases but {scalars} scalars")]
    LengthMismatch {
        /// number of bases
        bases: usize,
        /// number of scalars
        scalars: usize,
    },
    /// The backend was not built into this binary.
    #[error("backend {0} is not built in (enable the cargo feature)")]
    NotBuilt(&'static str),
    /// No usable OpenCL platform or device.
    #[error("no OpenCL device: {0}")]
    NoDevice(String),
    /// An OpenCL call failed.
    #[error("OpenCL: {0}")]
    OpenCl(String),
    /// A backend name that is not `auto`, `cpu`, `opencl` or `opencl:N`.
    #[error("unknown backend {0:?} (expected auto, cpu, opencl or opencl:N, N a device index)")]
    UnknownBackend(String),
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Multi-scalar multiplication over BN254: `sum_i bases[i] * scalars[i]`.
///
/// `bases` and `scalars` must have the same length (else
/// [`Error::LengthMismatch`]); identity points and zero scalars are allowed.
pub trait MsmBackend: Send + Sync {
    /// Short name for logs and reports (`"cpu"`, `"opencl"`).
    fn name(&self) -> &'static str;

    /// MSM in G1.
    fn msm_g1(&self, bases: &[G1Affine], scalars: &[Scalar]) -> Result<G1Projective>;

    /// MSM in G2. Backends without a G2 kernel use the CPU.
    ///
    /// The bases must be in the prime-order subgroup, as every point this
    /// project deserialises is checked to be: the CPU's lane path splits
    /// scalars by GLV, whose endomorphism is `lambda` only there.
    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Scalar]) -> Result<G2Projective> {
        CpuMsm.msm_g2(bases, scalars)
    }
}

/// Checks that the two inputs of an MSM have the same length.
pub fn check_lengths(bases: usize, scalars: usize) -> Result<()> {
    if bases == scalars {
        Ok(())
    } else {
        Err(Error::LengthMismatch { bases, scalars })
    }
}
