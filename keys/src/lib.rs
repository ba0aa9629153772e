//! Confidential records: envelope encryption of receipts, the versioned key
//! store and the key-encryption-key providers (DESIGN §6).
#![forbid(unsafe_code)]

pub mod cache;
pub mod dek_wrap;
pub mod envelope;
pub mod error;
pub mod kek;
pub mod kek_file;
pub mod kek_pkcs11;
pub mod rotation;
pub mod secret;
pub mod store;
pub mod x25519;

pub use cache::CacheConfig;
pub use dek_wrap::WrappedDek;
pub use envelope::{Envelope, Recipient, SealedRecord};
pub use error::{Error, Result};
pub use kek::Kek;
pub use kek_file::FileKek;
pub use kek_pkcs11::{Pkcs11Config, Pkcs11Kek};
pub use rotation::{RotationOptions, RotationProgress};
pub use secret::{Secret32, SecretBytes};
pub use store::{
    CheckpointSignature, Custody, KeyInfo, KeyKind, KeyStatus, KeyStore, ReceiptSignature,
    SealRequest,
};
pub use x25519::{X25519PrivateKey, X25519PublicKey};
