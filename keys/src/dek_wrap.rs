//! Wrapping a data key for one recipient with HPKE (RFC 9180) base mode,
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
//!
//! `info = b"zkr/dek/v1" || tx_id` (16 bytes) and
//! `aad = key_id (UTF-8) || key_version (u32 big-endian)`, so a wrap cannot be
//! moved to another record, nor presented as another key's or version's.

use hpke::{
    Deserializable, OpModeR, OpModeS, Serializable, aead::AesGcm256, kdf::HkdfSha256,
    kem::X25519HkdfSha256,
};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::secret::Secret32;
use crate::x25519::{X25519PrivateKey, X25519PublicKey};

/// The HPKE `info` label; followed by the 16 bytes of the transaction id.
pub const DEK_INFO_LABEL: &[u8] = b"zkr/dek/v1";
/// Length of the HPKE encapsulated key (`enc`) for X25519.
pub const ENC_LEN: usize = 32;
/// Length of a wrapped DEK: 32 bytes of key and the 16-byte AES-GCM tag.
pub const WRAPPED_DEK_LEN: usize = 48;
/// Longest key id, in bytes.
pub const MAX_KEY_ID_LEN: usize = 128;

type Kem = X25519HkdfSha256;

/// A DEK wrapped for one recipient key version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedDek {
    /// The recipient key's id.
    pub key_id: String,
    /// The recipient key's version.
    pub key_version: u32,
    /// HPKE `enc`: the sender's ephemeral X25519 public key.
    pub enc: [u8; ENC_LEN],
    /// HPKE ciphertext of the DEK (DEK || tag).
    pub wrapped: [u8; WRAPPED_DEK_LEN],
}

/// Checks a key id: 1 to 128 bytes of `[A-Za-z0-9._:/@-]`.
pub fn validate_key_id(key_id: &str) -> Result<()> {
    if key_id.is_empty() || key_id.len() > MAX_KEY_ID_LEN {
        return Err(Error::malformed("key id", "length must be 1 to 128 bytes"));
    }
    if !key_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._:/@-".contains(&b))
    {
        return Err(Error::malformed(
            "key id",
            "characters outside [A-Za-z0-9._:/@-]",
        ));
    }
    Ok(())
}

/// `info = b"zkr/dek/v1" || tx_id`.
pub fn hpke_info(tx_id: &Uuid) -> Vec<u8> {
    let mut info = Vec::with_capacity(DEK_INFO_LABEL.len() + 16);
    info.extend_from_slice(DEK_INFO_LABEL);
    info.extend_from_slice(tx_id.as_bytes());
    info
}

/// `aad = key_id || key_version` (UTF-8, then u32 big-endian).
pub fn hpke_aad(key_id: &str, key_version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(key_id.len() + 4);
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(&key_version.to_be_bytes());
    aad
}

/// Wraps `dek` for the recipient key `(key_id, key_version, public_key)`.
pub fn wrap_dek(
    dek: &Secret32,
    tx_id: &Uuid,
    key_id: &str,
    key_version: u32,
    public_key: &X25519PublicKey,
) -> Result<WrappedDek> {
    validate_key_id(key_id)?;
    let pk = public_key.to_hpke()?;
    let (enc, ct) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem>(
        &OpModeS::Base,
        &pk,
        &hpke_info(tx_id),
        dek.expose(),
        &hpke_aad(key_id, key_version),
    )
    .map_err(|_| Error::Encrypt("HPKE encapsulation refused the recipient key"))?;
    let mut out = WrappedDek {
        key_id: key_id.to_owned(),
        key_version,
        enc: [0u8; ENC_LEN],
        wrapped: [0u8; WRAPPED_DEK_LEN],
    };
    let enc = enc.to_bytes();
    if enc.len() != ENC_LEN || ct.len() != WRAPPED_DEK_LEN {
        return Err(Error::Encrypt("unexpected HPKE output length"));
    }
    out.enc.copy_from_slice(&enc);
    out.wrapped.copy_from_slice(&ct);
    Ok(out)
}

/// Opens a wrapped DEK with the recipient's private key.
pub fn unwrap_dek(w: &WrappedDek, tx_id: &Uuid, sk: &X25519PrivateKey) -> Result<Secret32> {
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&w.enc)
        .map_err(|_| Error::malformed("HPKE enc", "not an X25519 public key"))?;
    let dek = hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(
        &OpModeR::Base,
        sk.hpke(),
        &enc,
        &hpke_info(tx_id),
        &w.wrapped,
        &hpke_aad(&w.key_id, w.key_version),
    )
    .map_err(|_| Error::Decrypt)?;
    let dek = crate::secret::SecretBytes::new(dek);
    Secret32::from_slice(dek.expose()).map_err(|_| Error::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Secret32, Uuid, X25519PrivateKey, WrappedDek) {
        let dek = Secret32::random().unwrap();
        let tx = Uuid::new_v4();
        let sk = X25519PrivateKey::generate().unwrap();
        let w = wrap_dek(&dek, &tx, "client-7", 3, &sk.public_key()).unwrap();
        (dek, tx, sk, w)
    }

    #[test]
    fn round_trip() {
        use subtle::ConstantTimeEq;
        let (dek, tx, sk, w) = setup();
        let back = unwrap_dek(&w, &tx, &sk).unwrap();
        assert!(bool::from(back.ct_eq(&dek)));
    }

    #[test]
    fn wrong_key_info_aad_enc_ct_tag_are_errors() {
        let (_dek, tx, sk, w) = setup();
        let other = X25519PrivateKey::generate().unwrap();
        assert!(matches!(unwrap_dek(&w, &tx, &other), Err(Error::Decrypt)));
        // wrong info: another transaction
        assert!(matches!(
            unwrap_dek(&w, &Uuid::new_v4(), &sk),
            Err(Error::Decrypt)
        ));
        // wrong aad: another key id, another version
        let mut x = w.clone();
        x.key_id = "client-8".into();
        assert!(matches!(unwrap_dek(&x, &tx, &sk), Err(Error::Decrypt)));
        let mut x = w.clone();
        x.key_version = 4;
        assert!(matches!(unwrap_dek(&x, &tx, &sk), Err(Error::Decrypt)));
        // tampered enc, ciphertext, tag
        for i in [0usize, 17, 31] {
            let mut x = w.clone();
            x.enc[i] ^= 0x01;
            assert!(unwrap_dek(&x, &tx, &sk).is_err());
        }
        for i in [0usize, 31, 32, 47] {
            let mut x = w.clone();
            x.wrapped[i] ^= 0x80;
            assert!(matches!(unwrap_dek(&x, &tx, &sk), Err(Error::Decrypt)));
        }
    }

    #[test]
    fn all_zero_and_low_order_enc_are_errors() {
        let (_dek, tx, sk, w) = setup();
        let mut one = [0u8; 32];
        one[0] = 1;
        for enc in [[0u8; 32], one] {
            let mut x = w.clone();
            x.enc = enc;
            // The DH output is all zero: HPKE must abort.
            assert!(unwrap_dek(&x, &tx, &sk).is_err());
        }
    }

    #[test]
    fn key_ids_are_checked() {
        assert!(validate_key_id("escrow/audit-1").is_ok());
        assert!(validate_key_id("").is_err());
        assert!(validate_key_id("a b").is_err());
        assert!(validate_key_id(&"x".repeat(129)).is_err());
    }
}
