//! HTTP handlers, one file per group of endpoints.

pub mod audit;
pub mod circuits;
pub mod keys;
pub mod ops;
pub mod policies;
pub mod proofs;
pub mod registries;
pub mod signing_keys;
pub mod tokens;
pub mod transactions;
pub mod verify;
