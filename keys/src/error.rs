//! The crate's one error type. No variant carries secret material: messages
//! name keys by id and version only.

use thiserror::Error;

/// Everything that can go wrong in this crate.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// An envelope, key or stored value is malformed (untrusted bytes).
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Authenticated decryption failed: wrong key, wrong context or tampered bytes.
    #[error("decryption failed: wrong key, wrong context or tampered data")]
    Decrypt,
    /// Encryption failed (HPKE encapsulation to an invalid public key, AEAD limits).
    #[error("encryption failed: {0}")]
    Encrypt(&'static str),
    /// An X25519 public key is of low order (its shared secret would be all zero).
    #[error("refused X25519 public key: low order point")]
    LowOrderPublicKey,
    /// No key with this id (and version) exists.
    #[error("unknown key {key_id}{}", version_suffix(.version))]
    UnknownKey {
        /// The key id.
        key_id: String,
        /// The version, when one was asked for.
        version: Option<u32>,
    },
    /// A key with this id already exists.
    #[error("key {0} already exists")]
    KeyExists(String),
    /// The key version is retired: it may no longer decrypt or wrap.
    #[error("key {key_id} version {version} is retired and may no longer decrypt")]
    KeyRetired {
        /// The key id.
        key_id: String,
        /// The retired version.
        version: u32,
    },
    /// The key version is decrypt-only: it may not wrap new data keys.
    #[error("key {key_id} version {version} is decrypt-only and may not encrypt")]
    KeyNotActive {
        /// The key id.
        key_id: String,
        /// The version.
        version: u32,
    },
    /// The operation needs a private key that the service does not hold
    /// (a registered public key whose owner keeps the private key).
    #[error("no private key held for {key_id} version {version}")]
    NoPrivateKey {
        /// The key id.
        key_id: String,
        /// The version.
        version: u32,
    },
    /// The envelope has no wrap that this store can open.
    #[error("no usable recipient in envelope for tx {0}")]
    NoUsableRecipient(String),
    /// The key is of another kind than the operation needs.
    #[error("key {key_id} is a {actual} key, expected {expected}")]
    WrongKeyKind {
        /// The key id.
        key_id: String,
        /// What the operation needed.
        expected: &'static str,
        /// What the key is.
        actual: String,
    },
    /// A rotation is refused or inconsistent.
    #[error("rotation of {key_id}: {reason}")]
    Rotation {
        /// The key id.
        key_id: String,
        /// Why.
        reason: &'static str,
    },
    /// The key-encryption key refused or failed an operation.
    #[error("key-encryption key {kek_id}: {reason}")]
    Kek {
        /// Which KEK.
        kek_id: String,
        /// Why (never secret material).
        reason: String,
    },
    /// The development KEK file is unsafe to use (permissions, size).
    #[error("KEK file {path}: {reason}")]
    KekFile {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// PKCS#11 module or token error.
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The store could not answer (backend detection, a write transaction).
    #[error("store: {0}")]
    Store(#[from] zkr_store::Error),
    /// A file operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The operating system's random source failed.
    #[error("random number generator failed")]
    Rng,
    /// An argument is out of range (batch size, name length).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// ` version N` when a version was asked for, else nothing.
fn version_suffix(version: &Option<u32>) -> String {
    version.map(|v| format!(" version {v}")).unwrap_or_default()
}

impl Error {
    pub(crate) fn malformed(what: &'static str, reason: &'static str) -> Self {
        Error::Malformed { what, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_reads_as_a_sentence() {
        let e = Error::UnknownKey {
            key_id: "miner-7".into(),
            version: None,
        };
        assert_eq!(e.to_string(), "unknown key miner-7");
        let e = Error::UnknownKey {
            key_id: "miner-7".into(),
            version: Some(2),
        };
        assert_eq!(e.to_string(), "unknown key miner-7 version 2");
    }
}
