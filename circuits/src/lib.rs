//! The receipt circuits of DESIGN §5 and the hash and registry they use:
//! circom-compatible Poseidon (native and in-circuit), the Poseidon Merkle
//! registry, the receipt, the four Groth16 statements and the `input.json`
//! readers that build their witnesses; and the escrow's building blocks,
//! BabyJubJub and the Poseidon cipher, native and in-circuit.
#![forbid(unsafe_code)]

pub mod babyjubjub;
pub mod babyjubjub_var;
pub mod bits;
pub mod circuits;
pub mod error;
pub mod field;
pub mod input;
pub mod merkle;
pub mod merkle_var;
pub mod poseidon;
pub mod poseidon_cipher;
pub mod poseidon_cipher_var;
pub mod poseidon_var;
pub mod receipt;
pub mod sample;

pub use circuits::{AnyCircuit, CircuitKind};
pub use error::{Error, Result};
pub use receipt::Receipt;
