//! Confidential records: envelope encryption of receipts, the versioned key
//! store and the key-encryption-key providers (DESIGN §6).
#![forbid(unsafe_code)]

pub mod dek_wrap;
pub mod envelope;
pub mod error;
pub mod secret;
pub mod x25519;

pub use dek_wrap::WrappedDek;
pub use envelope::{Envelope, Recipient, SealedRecord};
pub use error::{Error, Result};
pub use secret::{Secret32, SecretBytes};
pub use x25519::{X25519PrivateKey, X25519PublicKey};
