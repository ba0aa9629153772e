//! X25519 key pairs of recipients (participants, audit escrow), with the
//! checks the envelope relies on: public keys of low order are refused.

use hpke::{Deserializable, Kem as _, Serializable, kem::X25519HkdfSha256};
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::secret::Secret32;

type HpkePrivate = <X25519HkdfSha256 as hpke::Kem>::PrivateKey;
type HpkePublic = <X25519HkdfSha256 as hpke::Kem>::PublicKey;

/// An X25519 public key that is not of low order (checked on construction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X25519PublicKey {
    bytes: [u8; 32],
}

impl X25519PublicKey {
    /// Parses 32 bytes (RFC 7748 u-coordinate, little-endian) and refuses
    /// points of order 1, 2, 4 or 8, on the curve or on its twist: with them
    /// every shared secret is all zero.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::malformed("X25519 public key", "expected 32 bytes"))?;
        // A clamped scalar is 8*j with j below the prime subgroup order, so the
        // product is the neutral element exactly for points of order dividing 8.
        let probe = x25519_dalek::x25519([0x5a; 32], arr);
        if probe == [0u8; 32] {
            return Err(Error::LowOrderPublicKey);
        }
        Ok(X25519PublicKey { bytes: arr })
    }

    /// The 32 encoded bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    pub(crate) fn to_hpke(&self) -> Result<HpkePublic> {
        HpkePublic::from_bytes(&self.bytes)
            .map_err(|_| Error::malformed("X25519 public key", "rejected by HPKE"))
    }
}

/// An X25519 private key. No `Debug`, no `Clone`; zeroized on drop (the
/// inner HPKE and dalek types zeroize themselves).
pub struct X25519PrivateKey {
    sk: HpkePrivate,
}

impl X25519PrivateKey {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Result<Self> {
        let ikm = Secret32::random()?;
        let (sk, _) = X25519HkdfSha256::derive_keypair(ikm.expose());
        Ok(X25519PrivateKey { sk })
    }

    /// From the 32 private-key bytes (RFC 7748 scalar; clamped on use).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != 32 {
            return Err(Error::malformed("X25519 private key", "expected 32 bytes"));
        }
        let sk = HpkePrivate::from_bytes(bytes)
            .map_err(|_| Error::malformed("X25519 private key", "rejected by HPKE"))?;
        Ok(X25519PrivateKey { sk })
    }

    /// The public key.
    pub fn public_key(&self) -> X25519PublicKey {
        let pk = X25519HkdfSha256::sk_to_pk(&self.sk);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&pk.to_bytes());
        X25519PublicKey { bytes }
    }

    /// The serialized private key, for wrapping under a KEK.
    pub(crate) fn to_secret(&self) -> Secret32 {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.sk.to_bytes());
        let s = Secret32::from_bytes(out);
        out.zeroize();
        s
    }

    pub(crate) fn hpke(&self) -> &HpkePrivate {
        &self.sk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_order_points_are_refused() {
        // u = 0 and u = 1 have order dividing 8; so has p - 1 (order 2).
        let mut p_minus_1 = [0xffu8; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        for bad in [
            [0u8; 32],
            {
                let mut b = [0u8; 32];
                b[0] = 1;
                b
            },
            p_minus_1,
        ] {
            assert!(matches!(
                X25519PublicKey::from_bytes(&bad),
                Err(Error::LowOrderPublicKey)
            ));
        }
        assert!(X25519PublicKey::from_bytes(&[9u8; 31]).is_err());
    }

    #[test]
    fn generated_key_round_trips() {
        let sk = X25519PrivateKey::generate().unwrap();
        let again = X25519PrivateKey::from_bytes(sk.to_secret().expose()).unwrap();
        assert_eq!(sk.public_key(), again.public_key());
        assert!(X25519PublicKey::from_bytes(sk.public_key().as_bytes()).is_ok());
    }
}
