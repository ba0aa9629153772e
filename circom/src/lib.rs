//! circom's and snarkjs's binary formats: `.r1cs` constraint systems,
//! `.wtns` witnesses and Groth16 `.zkey` proving keys, read and written as
//! snarkjs reads and writes them (DESIGN §9). Every reader validates sizes
//! against the header, field elements (canonical) and points (on the curve,
//! in the subgroup); malformed input is an [`Error`] naming the section.
//! The `read_file` readers check a file's section table against its size,
//! and each section's size against the header, before reading a section.
#![forbid(unsafe_code)]

mod binfile;
pub mod convert;
pub mod devsetup;
mod error;
mod field;
pub mod r1cs;
#[cfg(test)]
mod tests;
pub mod wtns;
pub mod zkey;

pub use convert::{R1csCircuit, r1cs_of, to_arkworks, witness_of};
pub use error::{Error, Result};
pub use r1cs::R1cs;
pub use zkey::Zkey;
pub use zkr_prover::zkey::{Coeff, Matrix, ZkeyProvingKey};
