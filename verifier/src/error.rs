//! The error type of the verifier crate.

/// A proof, key or public-input file that cannot be used. Every variant
/// names the file (or source) and, where there is one, the field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not the JSON document expected.
    #[error("{file}: not valid JSON of the expected shape: {reason}")]
    Json {
        /// Which file or source.
        file: String,
        /// What the parser said.
        reason: String,
    },
    /// A field of the document is malformed.
    #[error("{file}: {field}: {reason}")]
    Field {
        /// Which file or source.
        file: String,
        /// Which field, as a path (`pi_a[0]`, `IC[3]`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Binary (arkworks compressed) data that does not deserialize to valid
    /// points and field elements.
    #[error("{file}: invalid {what}: {reason}")]
    Binary {
        /// Which file or source.
        file: String,
        /// What was being read.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// Input larger than this reader accepts.
    #[error("{file}: {size} bytes is larger than the {limit}-byte limit")]
    TooLarge {
        /// Which file or source.
        file: String,
        /// The size seen.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The public inputs do not fit the verifying key.
    #[error("{0}")]
    Mismatch(String),
    /// Reading or writing a file failed.
    #[error("{file}: {source}")]
    Io {
        /// Which file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator: {0}")]
    Random(String),
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn field_err(file: &str, field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Field {
        file: file.to_string(),
        field: field.into(),
        reason: reason.into(),
    }
}
