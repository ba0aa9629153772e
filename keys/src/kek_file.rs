//! A KEK kept in a local file: for development only. The file is created with
//! mode 0600, refused when group- or world-accessible, and every load logs a
//! warning.
//!
//! File format: `b"ZKRKEK01"` followed by 32 random key bytes. Wraps are
//! `nonce (12) || AES-256-GCM ciphertext || tag (16)`.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::{Aes256Gcm, KeyInit, Nonce, aead::Aead, aead::Payload};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::kek::{Kek, KekFuture};
use crate::secret::{Secret32, SecretBytes};

const FILE_MAGIC: &[u8; 8] = b"ZKRKEK01";
const FILE_LEN: usize = 40;

/// A development KEK read from a file. Not for production.
pub struct FileKek {
    key: Secret32,
    id: String,
}

impl FileKek {
    /// Creates a new KEK file (mode 0600, failing if it exists) and loads it.
    pub fn create(path: &Path) -> Result<Self> {
        let key = Secret32::random()?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        let mut buf = Vec::with_capacity(FILE_LEN);
        buf.extend_from_slice(FILE_MAGIC);
        buf.extend_from_slice(key.expose());
        let written = file.write_all(&buf).and_then(|_| file.sync_all());
        buf.zeroize();
        written?;
        // The umask may only remove bits; make sure of the mode anyway.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        drop(key);
        Self::open(path)
    }

    /// Loads an existing KEK file, refusing one that group or others may
    /// read or write.
    pub fn open(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path)?;
        if !meta.is_file() {
            return Err(file_err(&shown, "not a regular file"));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(file_err(
                &shown,
                "group or world may access it; chmod 600 and check who has read it",
            ));
        }
        if meta.len() != FILE_LEN as u64 {
            return Err(file_err(&shown, "wrong length"));
        }
        // A fixed buffer: a growing Vec could leave unzeroized copies behind.
        let mut buf = [0u8; FILE_LEN];
        let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut buf));
        if let Err(e) = read {
            buf.zeroize();
            return Err(e.into());
        }
        let parsed = if &buf[..8] == FILE_MAGIC {
            Secret32::from_slice(&buf[8..])
        } else {
            Err(Error::malformed("KEK file", "bad header"))
        };
        buf.zeroize();
        let key = parsed.map_err(|_| file_err(&shown, "not a KEK file"))?;
        let id = kek_fingerprint(&key);
        tracing::warn!(
            path = %shown,
            kek_id = %id,
            "using a key-encryption key from a local file: for development only, use a PKCS#11 HSM in production"
        );
        Ok(FileKek { key, id })
    }

    /// Opens the file if it exists, else creates it.
    pub fn open_or_create(path: &Path) -> Result<Self> {
        if path.exists() {
            Self::open(path)
        } else {
            Self::create(path)
        }
    }

    fn cipher(&self) -> Result<Aes256Gcm> {
        Aes256Gcm::new_from_slice(self.key.expose()).map_err(|_| self.err("key length"))
    }

    fn err(&self, reason: &str) -> Error {
        Error::Kek {
            kek_id: self.id.clone(),
            reason: reason.to_owned(),
        }
    }

    fn wrap_sync(&self, secret: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| Error::Rng)?;
        let ct = self
            .cipher()?
            .encrypt(&Nonce::from(nonce), Payload { msg: secret, aad })
            .map_err(|_| self.err("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unwrap_sync(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes> {
        if wrapped.len() < 12 + 16 {
            return Err(self.err("wrapped value too short"));
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&wrapped[..12]);
        self.cipher()?
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &wrapped[12..],
                    aad,
                },
            )
            .map(SecretBytes::new)
            .map_err(|_| self.err("unwrap failed: wrong KEK, wrong context or tampered value"))
    }
}

/// A non-secret identifier of a 256-bit key: a truncated SHA-256 of it under
/// a domain label.
fn kek_fingerprint(key: &Secret32) -> String {
    let mut h = Sha256::new();
    h.update(b"zkr/kek-id/v1");
    h.update(key.expose());
    format!("file:{}", hex::encode(&h.finalize()[..8]))
}

fn file_err(path: &str, reason: &str) -> Error {
    Error::KekFile {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

impl Kek for FileKek {
    fn kek_id(&self) -> &str {
        &self.id
    }

    fn wrap<'a>(&'a self, secret: &'a [u8], aad: &'a [u8]) -> KekFuture<'a, Vec<u8>> {
        Box::pin(async move { self.wrap_sync(secret, aad) })
    }

    fn unwrap<'a>(&'a self, wrapped: &'a [u8], aad: &'a [u8]) -> KekFuture<'a, SecretBytes> {
        Box::pin(async move { self.unwrap_sync(wrapped, aad) })
    }
}

/// Where the development KEK file lives when nothing else is configured.
pub fn default_path(data_dir: &Path) -> PathBuf {
    data_dir.join("dev-kek.bin")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_is_0600_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        let kek = FileKek::create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let w = kek.wrap(b"private key bytes", b"ctx").await.unwrap();
        assert_eq!(
            kek.unwrap(&w, b"ctx").await.unwrap().expose(),
            b"private key bytes"
        );
        assert!(kek.unwrap(&w, b"other ctx").await.is_err());
        let again = FileKek::open(&path).unwrap();
        assert_eq!(again.kek_id(), kek.kek_id());
        assert_eq!(
            again.unwrap(&w, b"ctx").await.unwrap().expose(),
            b"private key bytes"
        );
        assert!(FileKek::create(&path).is_err(), "never overwrites");
    }

    #[test]
    fn group_or_world_readable_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        FileKek::create(&path).unwrap();
        for mode in [0o640, 0o604, 0o660, 0o666] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert!(matches!(FileKek::open(&path), Err(Error::KekFile { .. })));
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(FileKek::open(&path).is_ok());
    }

    #[test]
    fn wrong_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        std::fs::write(&path, [0u8; 40]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(FileKek::open(&path).is_err());
        std::fs::write(&path, [0u8; 12]).unwrap();
        assert!(FileKek::open(&path).is_err());
    }
}
