//! The confidential-record envelope (DESIGN §6): a record encrypted once with
//! AES-256-GCM under a fresh data key (DEK), the DEK wrapped per recipient
//! with HPKE, and the byte format that carries both.
//!
//! Byte layout, format version 1 (all integers big-endian):
//!
//! ```text
//! magic          4   "ZKRE"
//! version        1   0x01
//! tx_id         16   UUID bytes in RFC 9562 order (Uuid::as_bytes)
//! receipt_hash  32   the receipt's Poseidon hash, 32 bytes big-endian
//! nonce         12   AES-256-GCM nonce of the record
//! n_recipients   1   1..=32
//! n times:
//!   key_id_len   1   1..=128
//!   key_id       *   UTF-8, [A-Za-z0-9._:/@-]
//!   key_version  4   u32
//!   enc         32   HPKE encapsulated key
//!   wrapped_dek 48   HPKE ciphertext of the 32-byte DEK (with its tag)
//! ct_len         4   u32, 16..=16 MiB + 16
//! ciphertext     *   AES-256-GCM ciphertext || 16-byte tag
//! ```
//!
//! Record AAD: `b"zkr/tx/v1" || tx_id || receipt_hash`.
//! HPKE: `info = b"zkr/dek/v1" || tx_id`, `aad = key_id || key_version`.

use aes_gcm::{Aes256Gcm, KeyInit, Nonce, aead::Aead, aead::Payload};
use uuid::Uuid;

use crate::dek_wrap::{
    ENC_LEN, MAX_KEY_ID_LEN, WRAPPED_DEK_LEN, WrappedDek, unwrap_dek, validate_key_id, wrap_dek,
};
use crate::error::{Error, Result};
use crate::secret::{Secret32, SecretBytes};
use crate::x25519::{X25519PrivateKey, X25519PublicKey};

/// Magic bytes at the start of a serialized envelope.
pub const MAGIC: &[u8; 4] = b"ZKRE";
/// The envelope format version this crate writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// The record AAD label; followed by tx_id and receipt_hash.
pub const TX_AAD_LABEL: &[u8] = b"zkr/tx/v1";
/// Largest record plaintext accepted, in bytes.
pub const MAX_PLAINTEXT: usize = 16 * 1024 * 1024;
/// Most recipients in one envelope.
pub const MAX_RECIPIENTS: usize = 32;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;

/// A recipient's public key, with the id and version it is known by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// Key id.
    pub key_id: String,
    /// Key version.
    pub key_version: u32,
    /// The X25519 public key.
    pub public_key: X25519PublicKey,
}

/// The record part of an envelope: everything but the wrapped DEKs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRecord {
    /// The transaction id.
    pub tx_id: Uuid,
    /// The receipt hash (32 bytes big-endian) the ciphertext is bound to.
    pub receipt_hash: [u8; 32],
    /// The AES-256-GCM nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the tag.
    pub ciphertext: Vec<u8>,
}

/// A sealed record and its DEK wrapped for each recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The encrypted record.
    pub record: SealedRecord,
    /// One wrapped DEK per recipient key version.
    pub wraps: Vec<WrappedDek>,
}

/// `b"zkr/tx/v1" || tx_id || receipt_hash`.
pub fn record_aad(tx_id: &Uuid, receipt_hash: &[u8; 32]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(TX_AAD_LABEL.len() + 48);
    aad.extend_from_slice(TX_AAD_LABEL);
    aad.extend_from_slice(tx_id.as_bytes());
    aad.extend_from_slice(receipt_hash);
    aad
}

/// Encrypts `plaintext` under `dek` with a fresh random nonce.
pub fn encrypt_record(
    dek: &Secret32,
    tx_id: Uuid,
    receipt_hash: [u8; 32],
    plaintext: &[u8],
) -> Result<SealedRecord> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(Error::InvalidArgument("record larger than 16 MiB"));
    }
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| Error::Rng)?;
    let cipher = Aes256Gcm::new_from_slice(dek.expose())
        .map_err(|_| Error::Encrypt("AES-256-GCM key length"))?;
    let aad = record_aad(&tx_id, &receipt_hash);
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| Error::Encrypt("AES-256-GCM refused the record"))?;
    Ok(SealedRecord {
        tx_id,
        receipt_hash,
        nonce,
        ciphertext,
    })
}

/// Decrypts a sealed record with its DEK.
pub fn decrypt_record(dek: &Secret32, record: &SealedRecord) -> Result<SecretBytes> {
    if record.ciphertext.len() < TAG_LEN {
        return Err(Error::malformed(
            "record",
            "ciphertext shorter than the tag",
        ));
    }
    let cipher = Aes256Gcm::new_from_slice(dek.expose()).map_err(|_| Error::Decrypt)?;
    let aad = record_aad(&record.tx_id, &record.receipt_hash);
    cipher
        .decrypt(
            &Nonce::from(record.nonce),
            Payload {
                msg: &record.ciphertext,
                aad: &aad,
            },
        )
        .map(SecretBytes::new)
        .map_err(|_| Error::Decrypt)
}

impl Envelope {
    /// Encrypts a record once and wraps its fresh DEK for every recipient.
    pub fn seal(
        tx_id: Uuid,
        receipt_hash: [u8; 32],
        plaintext: &[u8],
        recipients: &[Recipient],
    ) -> Result<Envelope> {
        if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
            return Err(Error::InvalidArgument("1 to 32 recipients"));
        }
        let dek = Secret32::random()?;
        let record = encrypt_record(&dek, tx_id, receipt_hash, plaintext)?;
        let wraps = recipients
            .iter()
            .map(|r| wrap_dek(&dek, &tx_id, &r.key_id, r.key_version, &r.public_key))
            .collect::<Result<Vec<_>>>()?;
        Ok(Envelope { record, wraps })
    }

    /// The wrap for `(key_id, key_version)`, if the envelope has one.
    pub fn wrap_for(&self, key_id: &str, key_version: u32) -> Option<&WrappedDek> {
        self.wraps
            .iter()
            .find(|w| w.key_id == key_id && w.key_version == key_version)
    }

    /// Unwraps the DEK of the recipient `(key_id, key_version)`.
    pub fn unwrap_dek(
        &self,
        key_id: &str,
        key_version: u32,
        sk: &X25519PrivateKey,
    ) -> Result<Secret32> {
        let w = self
            .wrap_for(key_id, key_version)
            .ok_or_else(|| Error::NoUsableRecipient(self.record.tx_id.to_string()))?;
        unwrap_dek(w, &self.record.tx_id, sk)
    }

    /// Opens the record as the recipient `(key_id, key_version)`.
    pub fn open(
        &self,
        key_id: &str,
        key_version: u32,
        sk: &X25519PrivateKey,
    ) -> Result<SecretBytes> {
        let dek = self.unwrap_dek(key_id, key_version, sk)?;
        decrypt_record(&dek, &self.record)
    }

    /// Serializes in format version 1 (see the module documentation).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        if self.wraps.is_empty() || self.wraps.len() > MAX_RECIPIENTS {
            return Err(Error::InvalidArgument("1 to 32 recipients"));
        }
        let ct = &self.record.ciphertext;
        if ct.len() < TAG_LEN || ct.len() > MAX_PLAINTEXT + TAG_LEN {
            return Err(Error::InvalidArgument("ciphertext length out of range"));
        }
        let mut out = Vec::with_capacity(70 + self.wraps.len() * 120 + ct.len());
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(self.record.tx_id.as_bytes());
        out.extend_from_slice(&self.record.receipt_hash);
        out.extend_from_slice(&self.record.nonce);
        out.push(self.wraps.len() as u8);
        for w in &self.wraps {
            validate_key_id(&w.key_id)?;
            out.push(w.key_id.len() as u8);
            out.extend_from_slice(w.key_id.as_bytes());
            out.extend_from_slice(&w.key_version.to_be_bytes());
            out.extend_from_slice(&w.enc);
            out.extend_from_slice(&w.wrapped);
        }
        out.extend_from_slice(&(ct.len() as u32).to_be_bytes());
        out.extend_from_slice(ct);
        Ok(out)
    }

    /// Parses untrusted bytes. Every length is bounded; any inconsistency is
    /// an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(Error::malformed("envelope", "bad magic"));
        }
        if r.u8()? != FORMAT_VERSION {
            return Err(Error::malformed("envelope", "unsupported format version"));
        }
        let tx_id = Uuid::from_bytes(r.array::<16>()?);
        let receipt_hash = r.array::<32>()?;
        let nonce = r.array::<NONCE_LEN>()?;
        let n = r.u8()? as usize;
        if n == 0 || n > MAX_RECIPIENTS {
            return Err(Error::malformed("envelope", "recipient count out of range"));
        }
        let mut wraps = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.u8()? as usize;
            if len == 0 || len > MAX_KEY_ID_LEN {
                return Err(Error::malformed("envelope", "key id length out of range"));
            }
            let key_id = std::str::from_utf8(r.take(len)?)
                .map_err(|_| Error::malformed("envelope", "key id is not UTF-8"))?
                .to_owned();
            validate_key_id(&key_id)?;
            let key_version = u32::from_be_bytes(r.array::<4>()?);
            let enc = r.array::<ENC_LEN>()?;
            let wrapped = r.array::<WRAPPED_DEK_LEN>()?;
            if wraps
                .iter()
                .any(|w: &WrappedDek| w.key_id == key_id && w.key_version == key_version)
            {
                return Err(Error::malformed("envelope", "duplicate recipient"));
            }
            wraps.push(WrappedDek {
                key_id,
                key_version,
                enc,
                wrapped,
            });
        }
        let ct_len = u32::from_be_bytes(r.array::<4>()?) as usize;
        if !(TAG_LEN..=MAX_PLAINTEXT + TAG_LEN).contains(&ct_len) {
            return Err(Error::malformed(
                "envelope",
                "ciphertext length out of range",
            ));
        }
        let ciphertext = r.take(ct_len)?.to_vec();
        if r.pos != bytes.len() {
            return Err(Error::malformed("envelope", "trailing bytes"));
        }
        Ok(Envelope {
            record: SealedRecord {
                tx_id,
                receipt_hash,
                nonce,
                ciphertext,
            },
            wraps,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| Error::malformed("envelope", "truncated"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct Party {
        id: &'static str,
        version: u32,
        sk: X25519PrivateKey,
    }

    fn parties() -> Vec<Party> {
        ["client-1", "miner-9", "escrow"]
            .into_iter()
            .map(|id| Party {
                id,
                version: 1,
                sk: X25519PrivateKey::generate().unwrap(),
            })
            .collect()
    }

    fn recipients(ps: &[Party]) -> Vec<Recipient> {
        ps.iter()
            .map(|p| Recipient {
                key_id: p.id.into(),
                key_version: p.version,
                public_key: p.sk.public_key(),
            })
            .collect()
    }

    #[test]
    fn every_recipient_opens_its_copy() {
        let ps = parties();
        let env = Envelope::seal(Uuid::new_v4(), [3; 32], b"receipt", &recipients(&ps)).unwrap();
        let parsed = Envelope::from_bytes(&env.to_bytes().unwrap()).unwrap();
        assert_eq!(parsed, env);
        for p in &ps {
            assert_eq!(
                parsed.open(p.id, p.version, &p.sk).unwrap().expose(),
                b"receipt"
            );
        }
        // Another party's key does not open a copy that is not its own.
        assert!(matches!(
            parsed.open(ps[0].id, 1, &ps[1].sk),
            Err(Error::Decrypt)
        ));
        assert!(matches!(
            parsed.open("nobody", 1, &ps[1].sk),
            Err(Error::NoUsableRecipient(_))
        ));
    }

    #[test]
    fn record_is_bound_to_tx_id_and_receipt_hash() {
        let ps = parties();
        let env = Envelope::seal(Uuid::new_v4(), [3; 32], b"receipt", &recipients(&ps)).unwrap();
        let mut other = env.clone();
        other.record.receipt_hash[31] ^= 1;
        assert!(matches!(
            other.open("escrow", 1, &ps[2].sk),
            Err(Error::Decrypt)
        ));
        let mut ct = env.clone();
        ct.record.ciphertext[0] ^= 1;
        assert!(matches!(
            ct.open("escrow", 1, &ps[2].sk),
            Err(Error::Decrypt)
        ));
        let mut tag = env.clone();
        let last = tag.record.ciphertext.len() - 1;
        tag.record.ciphertext[last] ^= 1;
        assert!(matches!(
            tag.open("escrow", 1, &ps[2].sk),
            Err(Error::Decrypt)
        ));
        let mut nonce = env.clone();
        nonce.record.nonce[0] ^= 1;
        assert!(matches!(
            nonce.open("escrow", 1, &ps[2].sk),
            Err(Error::Decrypt)
        ));
        // Changing the tx id breaks the HPKE info as well as the record AAD.
        let mut tx = env;
        tx.record.tx_id = Uuid::new_v4();
        assert!(matches!(
            tx.open("escrow", 1, &ps[2].sk),
            Err(Error::Decrypt)
        ));
    }

    #[test]
    fn malformed_envelopes_are_errors() {
        let ps = parties();
        let env = Envelope::seal(Uuid::new_v4(), [3; 32], b"r", &recipients(&ps)).unwrap();
        let bytes = env.to_bytes().unwrap();
        for cut in 0..bytes.len() {
            assert!(Envelope::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(Envelope::from_bytes(&trailing).is_err());
        let mut v = bytes.clone();
        v[4] = 2;
        assert!(Envelope::from_bytes(&v).is_err());
        let mut zero = bytes.clone();
        zero[69] = 0;
        assert!(Envelope::from_bytes(&zero).is_err());
        let mut many = bytes;
        many[69] = 200;
        assert!(Envelope::from_bytes(&many).is_err());
    }

    #[test]
    fn seal_refuses_no_recipients_and_oversized_records() {
        assert!(Envelope::seal(Uuid::new_v4(), [0; 32], b"", &[]).is_err());
        let ps = parties();
        let big = vec![0u8; MAX_PLAINTEXT + 1];
        assert!(Envelope::seal(Uuid::new_v4(), [0; 32], &big, &recipients(&ps)).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn encrypt_then_decrypt_is_identity(
            plaintext in proptest::collection::vec(any::<u8>(), 0..4096),
            hash in any::<[u8; 32]>(),
            tx in any::<[u8; 16]>(),
        ) {
            let sk = X25519PrivateKey::generate().unwrap();
            let r = Recipient { key_id: "p".into(), key_version: 7, public_key: sk.public_key() };
            let env = Envelope::seal(Uuid::from_bytes(tx), hash, &plaintext, &[r]).unwrap();
            let env = Envelope::from_bytes(&env.to_bytes().unwrap()).unwrap();
            let opened = env.open("p", 7, &sk).unwrap();
            prop_assert_eq!(opened.expose(), &plaintext[..]);
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Envelope::from_bytes(&bytes);
            let mut with_magic = b"ZKRE\x01".to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = Envelope::from_bytes(&with_magic);
        }
    }
}
