//! circom's witness file `.wtns` (magic `wtns`, version 2): section 1 holds
//! the field (`n8`, the prime r) and the number of values, section 2 the
//! values in standard form, wire 0 (the constant one) first.

use crate::binfile::{BinFile, Writer, put_u32, to_u32};
use crate::error::Result;
use crate::field::{N8, fr_from_le, put_fr, r_bytes};
use ark_bn254::Fr;
use rayon::prelude::*;

const MAGIC: &[u8; 4] = b"wtns";
const VERSION: u32 = 2;

/// Reads and validates a `.wtns`: the field must be BN254's scalar field,
/// section 2 must hold exactly the announced number of canonical values, and
/// the first value must be 1.
pub fn read(data: &[u8], file: &str) -> Result<Vec<Fr>> {
    let bin = BinFile::parse(data, MAGIC, VERSION, file)?;
    if let Some(id) = bin.unknown_section(&[1, 2]) {
        return Err(crate::error::malformed(
            file,
            "file header",
            format!("unknown section {id}"),
        ));
    }
    let mut h = bin.section(1, "header")?;
    let n8 = h.usize()?;
    if n8 != N8 {
        return Err(h.err(format!("field size {n8} bytes, expected {N8} (BN254)")));
    }
    if h.bytes(N8)? != r_bytes().as_slice() {
        return Err(h.err("the prime is not BN254's scalar field"));
    }
    let n = h.usize()?;
    h.finish()?;
    let mut v = bin.section(2, "witness")?;
    let len = n
        .checked_mul(N8)
        .ok_or_else(|| v.err("witness count overflows"))?;
    v.expect_len(len, &format!("{n} values"))?;
    let values = v
        .bytes(len)?
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
