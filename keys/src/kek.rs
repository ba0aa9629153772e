//! The key-encryption-key (KEK) provider trait: every private key the service
//! holds is stored only as the output of [`Kek::wrap`].
//!
//! The futures are boxed so that providers are object safe (`Arc<dyn Kek>`)
//! and so that a remote KMS, whose calls are network requests, fits the same
//! trait as the PKCS#11 token and the development key file.

use std::future::Future;
use std::pin::Pin;

use crate::error::Result;
use crate::secret::SecretBytes;

/// A boxed future returned by [`Kek`] methods.
pub type KekFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Wraps and unwraps private-key bytes under a key-encryption key.
///
/// `aad` binds a wrap to its purpose: the key store passes
/// `b"zkr/kek/v1" || key_id || 0x00 || key_version (u32 big-endian)` so that a
/// wrapped key cannot be swapped with another row.
pub trait Kek: Send + Sync {
    /// A stable, non-secret identifier of the KEK, stored beside each wrap so
    /// that a store never tries to open a wrap with the wrong KEK.
    fn kek_id(&self) -> &str;

    /// Encrypts `secret` under the KEK, authenticating `aad`.
    fn wrap<'a>(&'a self, secret: &'a [u8], aad: &'a [u8]) -> KekFuture<'a, Vec<u8>>;

    /// Decrypts a value produced by [`Kek::wrap`] with the same `aad`.
    fn unwrap<'a>(&'a self, wrapped: &'a [u8], aad: &'a [u8]) -> KekFuture<'a, SecretBytes>;
}

/// The `aad` under which the key store wraps the private key of
/// `(key_id, key_version)`.
pub fn key_wrap_aad(key_id: &str, key_version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + key_id.len());
    aad.extend_from_slice(b"zkr/kek/v1");
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&key_version.to_be_bytes());
    aad
}
