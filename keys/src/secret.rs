//! Secret byte containers: no `Debug`, no `Clone`, no `Serialize`, zeroized
//! on drop, compared in constant time.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

/// A 256-bit data-encryption key (DEK) or any other 32-byte secret.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Secret32([u8; 32]);

impl Secret32 {
    /// Fresh random bytes from the operating system.
    pub fn random() -> Result<Self> {
        let mut s = Secret32([0u8; 32]);
        getrandom::fill(&mut s.0).map_err(|_| Error::Rng)?;
        Ok(s)
    }

    /// Takes ownership of the bytes; the caller's copy should be zeroized.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Secret32(bytes)
    }

    /// Copies 32 bytes from a slice; any other length is an error.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let mut s = Secret32([0u8; 32]);
        if bytes.len() != 32 {
            return Err(Error::malformed("secret", "expected 32 bytes"));
        }
        s.0.copy_from_slice(bytes);
        Ok(s)
    }

    /// The secret bytes; keep the borrow short.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl ConstantTimeEq for Secret32 {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

/// A variable-length secret (an unwrapped private key, a decrypted record).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of the bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }

    /// The secret bytes; keep the borrow short.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ConstantTimeEq for SecretBytes {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        // Length is public; contents are compared in constant time.
        self.0.as_slice().ct_eq(other.0.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_equality() {
        let a = Secret32::from_bytes([7; 32]);
        let b = Secret32::from_bytes([7; 32]);
        let c = Secret32::from_bytes([8; 32]);
        assert!(bool::from(a.ct_eq(&b)));
        assert!(!bool::from(a.ct_eq(&c)));
        assert!(Secret32::from_slice(&[0; 31]).is_err());
        let x = SecretBytes::new(vec![1, 2, 3]);
        assert!(bool::from(x.ct_eq(&SecretBytes::new(vec![1, 2, 3]))));
        assert!(!bool::from(x.ct_eq(&SecretBytes::new(vec![1, 2]))));
    }

    #[test]
    fn random_keys_differ() {
        let a = Secret32::random().unwrap();
        let b = Secret32::random().unwrap();
        assert!(!bool::from(a.ct_eq(&b)));
    }
}
