//! Circuit artifacts: the key directory that `zkr setup` (or `zkr
//! import-zkey`) writes and both the prover and the verifier read.
//!
//! A key directory holds `circuit.json`, `proving_key.bin`,
//! `verifying_key.bin` and the snarkjs `verification_key.json`.
//! `circuit.json` records the SHA-256 of the verifying key; every read of a
//! key, on the proving path and on the verifying path, is checked against
//! it, so that a prover and a verifier never trust different keys.
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod error;
mod install;
mod key_dir;
mod private_files;
mod setup;

pub use error::{Error, Result};
pub use install::install_keys;
pub use key_dir::{
    CIRCUIT_JSON, CircuitInfo, PROVING_KEY, VERIFICATION_KEY_JSON, VERIFYING_KEY, read_info,
    read_proving_key, read_verifying_key, read_vk_json, sha256_hex, write_file, write_json,
    write_keys,
};
pub use private_files::{prepare_sqlite, restrict_tree, secure_dir};
pub use setup::{DEV_SETUP_WARNING, setup_keys};
