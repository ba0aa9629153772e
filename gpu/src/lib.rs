//! Multi-scalar multiplication on BN254: one trait, a CPU backend that is
//! always built, and an OpenCL backend behind the `opencl` feature.
#![cfg_attr(not(feature = "opencl"), forbid(unsafe_code))]
