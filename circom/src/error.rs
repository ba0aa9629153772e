//! One error type for every reader and converter of this crate.

/// A malformed or mismatched file. `section` names the part of the file at
/// fault (`header`, `constraints`, `coefficients`, `H`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes do not form a valid file of the expected kind.
    #[error("{file}: {section}: {reason}")]
    Malformed {
        /// The file's name, as the caller gave it.
        file: String,
        /// The section or field at fault.
        section: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A well-formed file that does not belong with the other input (a key
    /// for another circuit, a witness of the wrong length).
    #[error("{0}")]
    Mismatch(String),
    /// A file that cannot be read: missing, unreadable, not a regular file
    /// (a device or a pipe, whose size cannot be checked before reading),
    /// or larger than the limit for its kind.
    #[error("{file}: {reason}")]
    File {
        /// The file's name, as the caller gave it.
        file: String,
        /// Why it was not read.
        reason: String,
    },
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A [`Error::Malformed`].
pub(crate) fn malformed(file: &str, section: &'static str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        file: file.to_string(),
        section,
        reason: reason.into(),
    }
}

/// A [`Error::File`].
pub(crate) fn unreadable(file: &str, reason: impl Into<String>) -> Error {
    Error::File {
        file: file.to_string(),
        reason: reason.into(),
    }
}
