//! OpenCL backend. The kernel is not in yet: opening a device reports that
//! there is none, so every caller uses the CPU.

use crate::{Error, MsmBackend, Result, Scalar};
use ark_bn254::{G1Affine, G1Projective};
use std::sync::Arc;

/// An OpenCL device that runs G1 MSMs.
#[derive(Debug)]
pub struct OpenClMsm;

impl OpenClMsm {
    /// The process-wide device.
    pub fn shared() -> Result<Arc<Self>> {
        Err(Error::NoDevice("OpenCL kernel not built yet".into()))
    }
}

impl MsmBackend for OpenClMsm {
    fn name(&self) -> &'static str {
        "opencl"
    }

    fn msm_g1(&self, _bases: &[G1Affine], _scalars: &[Scalar]) -> Result<G1Projective> {
        Err(Error::NoDevice("OpenCL kernel not built yet".into()))
    }
}
