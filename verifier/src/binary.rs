//! Keys and proofs in arkworks' canonical compressed form. Every read
//! validates points (on the curve, in the subgroup) and field elements
//! (canonical), and is bounded in size before anything is allocated.

use crate::error::{Error, Result};
use ark_bn254::Bn254;
use ark_groth16::{Proof, ProvingKey, VerifyingKey};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use std::io::Read;
use std::path::Path;

/// Largest proving key read: a depth-32 receipt circuit's key is far below.
pub const MAX_PROVING_KEY_BYTES: u64 = 1 << 31;
/// Largest verifying key read.
pub const MAX_VERIFYING_KEY_BYTES: u64 = 1 << 20;
/// Largest JSON document (proof, key, public inputs, input) read.
pub const MAX_JSON_BYTES: u64 = 16 << 20;

/// Reads a whole file, refusing files larger than `limit`.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|source| Error::Io {
        file: file.clone(),
        source,
    })?;
    let mut buf = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|source| Error::Io {
            file: file.clone(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(Error::TooLarge {
            file,
            size: buf.len() as u64,
            limit,
        });
    }
    Ok(buf)
}

/// Reads a whole UTF-8 text file, refusing files larger than `limit`.
pub fn read_text_bounded(path: &Path, limit: u64) -> Result<String> {
    let bytes = read_bounded(path, limit)?;
    String::from_utf8(bytes).map_err(|_| Error::Json {
        file: path.display().to_string(),
        reason: "not UTF-8 text".into(),
    })
}

fn decode<T: CanonicalDeserialize>(bytes: &[u8], file: &str, what: &'static str) -> Result<T> {
    let mut reader = bytes;
    let v = T::deserialize_with_mode(&mut reader, Compress::Yes, Validate::Yes).map_err(|e| {
        Error::Binary {
            file: file.to_string(),
            what,
            reason: e.to_string(),
        }
    })?;
    if !reader.is_empty() {
        return Err(Error::Binary {
            file: file.to_string(),
            what,
            reason: format!("{} trailing bytes", reader.len()),
        });
    }
    Ok(v)
}

fn encode<T: CanonicalSerialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.compressed_size());
    // Writing into a Vec cannot fail.
    let _ = v.serialize_compressed(&mut out);
    out
}

/// Decodes a compressed proving key.
pub fn proving_key_from_bytes(bytes: &[u8], file: &str) -> Result<ProvingKey<Bn254>> {
    if bytes.len() as u64 > MAX_PROVING_KEY_BYTES {
        return Err(Error::TooLarge {
            file: file.into(),
            size: bytes.len() as u64,
            limit: MAX_PROVING_KEY_BYTES,
        });
    }
    decode(bytes, file, "proving key")
}

/// Decodes a compressed verifying key.
pub fn verifying_key_from_bytes(bytes: &[u8], file: &str) -> Result<VerifyingKey<Bn254>> {
    if bytes.len() as u64 > MAX_VERIFYING_KEY_BYTES {
        return Err(Error::TooLarge {
            file: file.into(),
            size: bytes.len() as u64,
            limit: MAX_VERIFYING_KEY_BYTES,
        });
    }
    decode(bytes, file, "verifying key")
}

/// Decodes a compressed proof (exactly 128 bytes).
pub fn proof_from_bytes(bytes: &[u8], file: &str) -> Result<Proof<Bn254>> {
    if bytes.len() > 256 {
        return Err(Error::TooLarge {
            file: file.into(),
            size: bytes.len() as u64,
            limit: 256,
        });
    }
    decode(bytes, file, "proof")
}

/// Encodes a proving key, compressed.
pub fn proving_key_to_bytes(pk: &ProvingKey<Bn254>) -> Vec<u8> {
    encode(pk)
}

/// Encodes a verifying key, compressed.
pub fn verifying_key_to_bytes(vk: &VerifyingKey<Bn254>) -> Vec<u8> {
    encode(vk)
}

/// Encodes a proof, compressed.
pub fn proof_to_bytes(p: &Proof<Bn254>) -> Vec<u8> {
    encode(p)
}
