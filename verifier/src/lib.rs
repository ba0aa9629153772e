//! Groth16 verification over BN254 and the snarkjs file formats.
#![forbid(unsafe_code)]
