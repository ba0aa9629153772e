//! The error type of the circuits crate.

/// Everything that can go wrong while building a witness, hashing or reading
/// circuit inputs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value from outside was not a well-formed field element or integer.
    #[error("{field}: {reason}")]
    InvalidValue {
        /// Which input field (for example `receipt.amount`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The input is well formed but does not satisfy the circuit's statement;
    /// the message names the failed condition.
    #[error("statement not satisfied: {0}")]
    Unsatisfied(String),
    /// A Merkle registry operation was not possible.
    #[error("registry: {0}")]
    Registry(String),
    /// Poseidon was called with an unsupported number of inputs.
    #[error("poseidon: {0}")]
    Poseidon(String),
    /// A Poseidon ciphertext did not decrypt: wrong length, key, nonce or
    /// tag, or non-zero padding.
    #[error("decrypt: {0}")]
    Decrypt(String),
    /// The input document was not the JSON this circuit reads.
    #[error("input: {0}")]
    Input(String),
    /// Constraint synthesis failed.
    #[error("synthesis: {0}")]
    Synthesis(#[from] ark_relations::gr1cs::SynthesisError),
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidValue {
        field: field.into(),
        reason: reason.into(),
    }
}
