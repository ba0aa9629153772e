//! circom's witness file `.wtns` (magic `wtns`, version 2): section 1 holds
//! the field (`n8`, the prime r) and the number of values, section 2 the
//! values in standard form, wire 0 (the constant one) first.

use crate::binfile::{BinFile, Format, MAX_HEADER_BYTES, Writer, put_u32, to_u32};
use crate::error::Result;
use crate::field::{N8, Prime, check_prime, fr_from_le, put_fr, r_bytes};
use ark_bn254::Fr;
use rayon::prelude::*;
use std::path::Path;

const MAGIC: &[u8; 4] = b"wtns";
const VERSION: u32 = 2;
/// The largest `.wtns` read from disk: 2^26 values.
pub const MAX_FILE_BYTES: u64 = 2 << 30;
const FORMAT: Format = Format {
    magic: MAGIC,
    version: VERSION,
    sections: &[(1, "header"), (2, "witness")],
    unknown: "is not part of a witness file",
    max_file_bytes: MAX_FILE_BYTES,
};

/// Reads and validates a `.wtns`: the field must be BN254's scalar field,
/// section 2 must hold exactly the announced number of canonical values, and
/// the first value must be 1.
pub fn read(data: &[u8], file: &str) -> Result<Vec<Fr>> {
    read_from(&BinFile::parse(data, &FORMAT, file)?)
}

/// [`read`] of the file at `path`, a section at a time: a regular file of
/// at most [`MAX_FILE_BYTES`], whose section sizes are checked against its
/// size and its header before the values are read.
pub fn read_file(path: &Path) -> Result<Vec<Fr>> {
    let file = path.display().to_string();
    read_from(&BinFile::open(path, &FORMAT, &file)?)
}

fn read_from(bin: &BinFile<'_>) -> Result<Vec<Fr>> {
    bin.expect_at_most(1, "header", MAX_HEADER_BYTES)?;
    let header = bin.section(1, "header")?;
    let mut h = header.reader();
    check_prime(&mut h, Prime::Scalar)?;
    let n = h.usize()?;
    h.finish()?;
    bin.expect_len(
        2,
        "witness",
        (n as u64).checked_mul(N8 as u64),
        &format!("{n} values"),
    )?;
    let section = bin.section(2, "witness")?;
    let mut v = section.reader();
    let values = v
        .bytes(n * N8)?
        .par_chunks_exact(N8)
        .enumerate()
        .map(|(i, b)| fr_from_le(b).ok_or(i))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|i| v.err(format!("value {i} is not canonical (>= r)")))?;
    if values.first() != Some(&Fr::from(1u64)) {
        return Err(v.err("the first value (the constant wire) must be 1"));
    }
    Ok(values)
}

/// Writes a `.wtns`.
pub fn write(values: &[Fr]) -> Result<Vec<u8>> {
    let mut header = Vec::new();
    put_u32(&mut header, N8 as u32);
    header.extend_from_slice(&r_bytes());
    put_u32(&mut header, to_u32(values.len(), "witness length")?);
    let mut body = Vec::with_capacity(values.len() * N8);
    for x in values {
        put_fr(&mut body, x);
    }
    let mut w = Writer::new(MAGIC, VERSION, 2);
    w.section(1, &header);
    w.section(2, &body);
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn sample() -> Vec<Fr> {
        (1..20u64)
            .map(|i| Fr::from(i * i))
            .chain([-Fr::from(1u64)])
            .collect()
    }

    #[test]
    fn round_trip() {
        let w = sample();
        assert_eq!(read(&write(&w).unwrap(), "w.wtns").unwrap(), w);
    }

    #[test]
    fn refuses_malformed() {
        let good = write(&sample()).unwrap();
        let section = |b: &[u8]| match read(b, "w.wtns") {
            Err(Error::Malformed { section, .. }) => section,
            other => panic!("{other:?}"),
        };
        // every truncation is an error, never a panic
        for n in 0..good.len() {
            assert!(read(&good[..n], "w.wtns").is_err());
        }
        let mut b = good.clone();
        b[0] = b'x';
        assert_eq!(section(&b), "file header");
        // a value >= r (the last one, -1, plus one)
        let mut b = good.clone();
        let n = b.len();
        b[n - 32..].copy_from_slice(&r_bytes());
        assert_eq!(section(&b), "witness");
        // the count in the header disagrees with section 2
        let mut b = good.clone();
        b[12 + 12 + 4 + 32] += 1;
        assert_eq!(section(&b), "witness");
        // another prime
        let mut b = good.clone();
        b[12 + 12 + 4] ^= 1;
        assert_eq!(section(&b), "header");
        // the constant wire is not one
        let mut w = sample();
        w[0] = Fr::from(2u64);
        assert_eq!(section(&write(&w).unwrap()), "witness");
        // trailing garbage
        let mut b = good;
        b.push(0);
        assert_eq!(section(&b), "file header");
    }
}
