//! Groth16 verification over BN254 and validated readers and writers for
//! the files it consumes: snarkjs's JSON (`proof.json`,
//! `verification_key.json`, `public.json`) and arkworks' compressed binary.
#![forbid(unsafe_code)]

pub mod batch;
pub mod binary;
pub mod error;
pub mod snarkjs;
pub mod solidity;
pub mod verify;

pub use batch::{BatchItem, verify_batch};
pub use error::{Error, Result};
pub use verify::{verify, verify_prepared};
