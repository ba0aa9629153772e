//! The key-encryption-key (KEK) provider trait: every private key the service
//! holds is stored only as the output of [`Kek::wrap`].
//!
//! The futures are boxed so that providers are object safe (`Arc<dyn Kek>`)
//! and so that a remote KMS, whose calls are network requests, fits the same
//! trait as the PKCS#11 token and the development key file.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::kek_file::FileKek;
use crate::kek_pkcs11::{Pkcs11Config, Pkcs11Kek};
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

/// Chooses the KEK from the environment (see [`provider_from_vars`]).
pub fn provider_from_env() -> Result<Arc<dyn Kek>> {
    provider_from_vars(|k| std::env::var(k).ok())
}

/// Chooses the KEK: the PKCS#11 token when `ZKR_PKCS11_MODULE` is set (then
/// `ZKR_PKCS11_TOKEN_LABEL` and `ZKR_PKCS11_PIN` are required), else the
/// development key file named by `ZKR_DEV_KEK_FILE` (created if missing).
/// With neither it is an error: there is no silent fallback to a file.
pub fn provider_from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Arc<dyn Kek>> {
    if var("ZKR_PKCS11_MODULE").is_some() {
        let config = Pkcs11Config::from_vars(&var).ok_or_else(|| {
            Error::Pkcs11(
                "ZKR_PKCS11_MODULE is set but ZKR_PKCS11_TOKEN_LABEL or ZKR_PKCS11_PIN is not"
                    .into(),
            )
        })?;
        return Ok(Arc::new(Pkcs11Kek::connect(&config)?));
    }
    if let Some(path) = var("ZKR_DEV_KEK_FILE") {
        return Ok(Arc::new(FileKek::open_or_create(Path::new(&path))?));
    }
    Err(Error::InvalidArgument(
        "no key-encryption key configured: set ZKR_PKCS11_MODULE (HSM) or ZKR_DEV_KEK_FILE (development)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn provider_selection() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kek").display().to_string();
        let kek = provider_from_vars(vars(&[("ZKR_DEV_KEK_FILE", file)])).unwrap();
        assert!(kek.kek_id().starts_with("file:"));
        assert!(provider_from_vars(vars(&[])).is_err(), "no silent default");
        // An HSM half configured is an error, not a fallback to the file.
        let half = vars(&[
            ("ZKR_PKCS11_MODULE", "/nonexistent.so".into()),
            (
                "ZKR_DEV_KEK_FILE",
                dir.path().join("k2").display().to_string(),
            ),
        ]);
        assert!(matches!(provider_from_vars(half), Err(Error::Pkcs11(_))));
        assert!(!dir.path().join("k2").exists());
    }

    #[test]
    fn wrap_aad_is_unambiguous() {
        assert_ne!(key_wrap_aad("a", 0x0100), key_wrap_aad("a\u{1}", 0));
        assert_eq!(
            key_wrap_aad("k", 2),
            b"zkr/kek/v1k\x00\x00\x00\x00\x02".to_vec()
        );
    }
}
