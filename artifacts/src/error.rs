//! The crate's error: bad input (a malformed or mismatched file) or an
//! operation that could not complete (a write, a setup).

/// `Result` with [`Error`].
pub type Result<T = (), E = Error> = std::result::Result<T, E>;

/// What went wrong with a key directory.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file is missing, malformed, or does not belong with `circuit.json`.
    #[error("{0}")]
    Input(String),
    /// An operation (write, setup) could not complete.
    #[error("{0}")]
    Failed(String),
}

impl From<zkr_circuits::Error> for Error {
    fn from(e: zkr_circuits::Error) -> Self {
        Self::Input(e.to_string())
    }
}

impl From<zkr_verifier::Error> for Error {
    fn from(e: zkr_verifier::Error) -> Self {
        Self::Input(e.to_string())
    }
}
