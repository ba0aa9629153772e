//! snarkjs's Groth16 proving key `.zkey` (magic `zkey`, version 1).
//!
//! Sections: 1 the protocol (1 = Groth16); 2 the Groth16 header (`n8q, q,
//! n8r, r, nVars, nPublic, domainSize`, then alpha1, beta1, beta2, gamma2,
//! delta1, delta2); 3 IC (`nPublic + 1` G1 points); 4 the A and B
//! coefficients (a `u32` count, then `matrix, constraint, signal` as `u32`
//! and the value in the form of [`crate::field`]); 5 A, 6 B1 (G1) and 7 B2
//! (G2), one point per wire; 8 C, one G1 point per private wire; 9 H,
//! `domainSize` G1 points; 10 the ceremony's contributions, kept as bytes.
//! Points are uncompressed affine coordinates in Montgomery form.

use crate::binfile::{BinFile, Format, MAX_HEADER_BYTES, Writer, put_u32, to_u32};
use crate::error::{Error, Result};
use crate::field::{
    G1_BYTES, G2_BYTES, N8, Prime, check_prime, coeff_from_le, put_coeff, put_g1, put_g2, q_bytes,
    r_bytes, read_g1, read_g1s, read_g2, read_g2s,
};
use ark_bn254::{Bn254, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_groth16::VerifyingKey;
use std::path::{Path, PathBuf};
use zkr_prover::keycache::{Loaded, load_or_check};
use zkr_prover::zkey::{Coeff, Matrix, ZkeyProvingKey};

const MAGIC: &[u8; 4] = b"zkey";
const VERSION: u32 = 1;
const GROTH16: u32 = 1;
/// The largest domain: the H form needs the domain of twice that size, and
/// BN254's scalar field has roots of unity of order up to 2^28.
pub const MAX_DOMAIN_SIZE: usize = 1 << 27;
/// The largest `.zkey` read from disk (a 2^27-constraint key is about
/// 40 GB, far beyond this machine class; 8 GiB covers 2^24).
pub const MAX_FILE_BYTES: u64 = 8 << 30;
/// The largest ceremony transcript kept: a contribution takes well under a
/// kilobyte, so this is tens of thousands of them.
const MAX_CONTRIBUTIONS_BYTES: u64 = 64 << 20;
const COEFF_BYTES: usize = 12 + N8;
const FORMAT: Format = Format {
    magic: MAGIC,
    version: VERSION,
    sections: &[
        (1, "header"),
        (2, "groth16 header"),
        (3, "IC"),
        (4, "coefficients"),
        (5, "A"),
        (6, "B1"),
        (7, "B2"),
        (8, "C"),
        (9, "H"),
        (10, "contributions"),
    ],
    unknown: "is not part of a Groth16 key",
    max_file_bytes: MAX_FILE_BYTES,
};

/// A `.zkey`: the proving key, and the ceremony transcript (section 10) as
/// it was read, if there was one.
#[derive(Clone, Debug, PartialEq)]
pub struct Zkey {
    /// The key.
    pub key: ZkeyProvingKey,
    /// Section 10, unparsed.
    pub contributions: Option<Vec<u8>>,
}

/// Sections 1 and 2, checked, and the number of coefficients.
struct Header {
    n_vars: usize,
    n_public: usize,
    domain_size: usize,
    n_coeffs: usize,
    alpha_g1: G1Affine,
    beta_g1: G1Affine,
    beta_g2: G2Affine,
    gamma_g2: G2Affine,
    delta_g1: G1Affine,
    delta_g2: G2Affine,
}

/// Reads and validates a Groth16 `.zkey` over BN254: every section present
/// once and of exactly the size the header implies, every coefficient index
/// in range and value canonical, every point on its curve and in the
/// prime-order subgroup, and alpha, beta, gamma, delta not the identity.
pub fn read(data: &[u8], file: &str) -> Result<Zkey> {
    read_from(&BinFile::parse(data, &FORMAT, file)?)
}

/// [`read`] of the file at `path`, a section at a time: a regular file of
/// at most [`MAX_FILE_BYTES`] whose every section has the size its header
/// implies, all checked before any point is read.
pub fn read_file(path: &Path) -> Result<Zkey> {
    let file = path.display().to_string();
    read_from(&BinFile::open(path, &FORMAT, &file)?)
}

/// The verifying key of the `.zkey` at `path` (what `snarkjs zkey export
/// verificationkey` writes): the layout of the whole file is checked as in
/// [`read_file`], but only the header and IC are read and validated.
pub fn read_verifying_key_file(path: &Path) -> Result<VerifyingKey<Bn254>> {
    let file = path.display().to_string();
    let bin = BinFile::open(path, &FORMAT, &file)?;
    let h = read_header(&bin)?;
    let ic = bin.section(3, "IC")?;
    Ok(VerifyingKey {
        alpha_g1: h.alpha_g1,
        beta_g2: h.beta_g2,
        gamma_g2: h.gamma_g2,
        delta_g2: h.delta_g2,
        gamma_abc_g1: read_g1s(&mut ic.reader(), h.n_public + 1)?,
    })
}

/// Protocol and Groth16 header, then every other section's length checked
/// against them: nothing large is read before its size is known right.
fn read_header(bin: &BinFile<'_>) -> Result<Header> {
    bin.expect_len(1, "header", Some(4), "the protocol id")?;
    let section = bin.section(1, "header")?;
    let mut p = section.reader();
    let protocol = p.u32()?;
    if protocol != GROTH16 {
        return Err(p.err(format!(
            "protocol {protocol}, only Groth16 (1) is supported"
        )));
    }

    bin.expect_at_most(2, "groth16 header", MAX_HEADER_BYTES)?;
    let section = bin.section(2, "groth16 header")?;
    let mut h = section.reader();
    check_prime(&mut h, Prime::Base)?;
    check_prime(&mut h, Prime::Scalar)?;
    let n_vars = h.usize()?;
    let n_public = h.usize()?;
    let domain_size = h.usize()?;
    if n_public >= n_vars {
        return Err(h.err(format!("{n_public} public signals but {n_vars} wires")));
    }
    if !domain_size.is_power_of_two() || !(2..=MAX_DOMAIN_SIZE).contains(&domain_size) {
        return Err(h.err(format!(
            "domain size {domain_size} is not a power of two in 2..=2^27"
        )));
    }
    if domain_size < n_public + 1 {
        return Err(h.err(format!(
            "domain size {domain_size} has no room for {n_public} public signals"
        )));
    }
    let alpha_g1 = read_g1(&mut h, "alpha1")?;
    let beta_g1 = read_g1(&mut h, "beta1")?;
    let beta_g2 = read_g2(&mut h, "beta2")?;
    let gamma_g2 = read_g2(&mut h, "gamma2")?;
    let delta_g1 = read_g1(&mut h, "delta1")?;
    let delta_g2 = read_g2(&mut h, "delta2")?;
    h.finish()?;
    if alpha_g1.is_zero()
        || beta_g1.is_zero()
        || beta_g2.is_zero()
        || gamma_g2.is_zero()
        || delta_g1.is_zero()
        || delta_g2.is_zero()
    {
        return Err(h.err("alpha, beta, gamma and delta must not be the identity"));
    }

    let points = |n: usize, bytes: usize| Some(n as u64 * bytes as u64);
    let n_private = n_vars - n_public - 1;
    bin.expect_len(
        3,
        "IC",
        points(n_public + 1, G1_BYTES),
        "nPublic + 1 points",
    )?;
    bin.expect_len(5, "A", points(n_vars, G1_BYTES), "nVars points")?;
    bin.expect_len(6, "B1", points(n_vars, G1_BYTES), "nVars points")?;
    bin.expect_len(7, "B2", points(n_vars, G2_BYTES), "nVars points")?;
    bin.expect_len(
        8,
        "C",
        points(n_private, G1_BYTES),
        "nVars - nPublic - 1 points",
    )?;
    bin.expect_len(9, "H", points(domain_size, G1_BYTES), "domainSize points")?;
    bin.expect_at_most(10, "contributions", MAX_CONTRIBUTIONS_BYTES)?;
    // The coefficient count is the section's first word.
    let count = bin.prefix(4, "coefficients", 4)?;
    let n_coeffs = count.reader().usize()?;
    bin.expect_len(
        4,
        "coefficients",
        Some(4 + n_coeffs as u64 * COEFF_BYTES as u64),
        &format!("{n_coeffs} coefficients"),
    )?;
    Ok(Header {
        n_vars,
        n_public,
        domain_size,
        n_coeffs,
        alpha_g1,
        beta_g1,
        beta_g2,
        gamma_g2,
        delta_g1,
        delta_g2,
    })
}

fn read_coeffs(bin: &BinFile<'_>, h: &Header) -> Result<Vec<Coeff>> {
    let section = bin.section(4, "coefficients")?;
    let mut co = section.reader();
    if co.usize()? != h.n_coeffs {
        return Err(co.err("the coefficient count changed while the file was read"));
    }
    let mut coeffs = Vec::with_capacity(h.n_coeffs);
    for i in 0..h.n_coeffs {
        let matrix = match co.u32()? {
            0 => Matrix::A,
            1 => Matrix::B,
            m => {
                return Err(co.err(format!(
                    "coefficient {i}: matrix {m}, expected 0 (A) or 1 (B)"
                )));
            }
        };
        let constraint = co.u32()?;
        let signal = co.u32()?;
        if constraint as usize >= h.domain_size || signal as usize >= h.n_vars {
            return Err(co.err(format!(
                "coefficient {i}: constraint {constraint} or signal {signal} out of range"
            )));
        }
        let value = coeff_from_le(co.bytes(N8)?)
            .ok_or_else(|| co.err(format!("coefficient {i}: value is not canonical (>= r)")))?;
        coeffs.push(Coeff {
            matrix,
            constraint,
            signal,
            value,
        });
    }
    co.finish()?;
    Ok(coeffs)
}

fn read_from(bin: &BinFile<'_>) -> Result<Zkey> {
    let h = read_header(bin)?;
    // One section in memory at a time beside the key being built.
    let g1s = |id, name, n| {
        bin.section(id, name)
            .and_then(|s| read_g1s(&mut s.reader(), n))
    };
    let n_private = h.n_vars - h.n_public - 1;
    let key = ZkeyProvingKey {
        n_public: h.n_public,
        domain_size: h.domain_size,
        alpha_g1: h.alpha_g1,
        beta_g1: h.beta_g1,
        beta_g2: h.beta_g2,
        gamma_g2: h.gamma_g2,
        delta_g1: h.delta_g1,
        delta_g2: h.delta_g2,
        ic: g1s(3, "IC", h.n_public + 1)?,
        coeffs: read_coeffs(bin, &h)?,
        a: g1s(5, "A", h.n_vars)?,
        b1: g1s(6, "B1", h.n_vars)?,
        b2: bin
            .section(7, "B2")
            .and_then(|s| read_g2s(&mut s.reader(), h.n_vars))?,
        c: g1s(8, "C", n_private)?,
        h: g1s(9, "H", h.domain_size)?,
    };
    key.check()
        .map_err(|e| Error::Mismatch(format!("{}: {e}", bin.file())))?;
    let contributions = bin.optional(10)?.map(|s| s.into_bytes());
    Ok(Zkey { key, contributions })
}

/// Where [`read_key_cached`] keeps the checked key of the `.zkey` at
/// `zkey`: beside it, as `NAME.zkey.checked`.
pub fn cache_path(zkey: &Path) -> PathBuf {
    let mut p = zkey.as_os_str().to_owned();
    p.push(".checked");
    PathBuf::from(p)
}

/// The key of the `.zkey` whose bytes are `data`: from the fast form at
/// `cache` when that was written by a full [`read`] of exactly these bytes
/// (their SHA-256 is recorded in it), otherwise by [`read`], after which the
/// fast form is written for the next run (see `zkr_prover::keycache`). The
/// ceremony transcript is not kept.
pub fn read_key_cached(data: &[u8], file: &str, cache: &Path) -> Result<(ZkeyProvingKey, Loaded)> {
    load_or_check(data, cache, |d| read(d, file).map(|z| z.key))
}

/// [`read_key_cached`] of the file at `path`. The cache is bound to the
/// SHA-256 of the whole file, so the file is read whole, but only once its
/// size, its section table and its header agree (as in [`read_file`]).
pub fn read_key_cached_file(path: &Path, cache: &Path) -> Result<(ZkeyProvingKey, Loaded)> {
    let file = path.display().to_string();
    let bytes = {
        let bin = BinFile::open(path, &FORMAT, &file)?;
        read_header(&bin)?;
        bin.all()?.into_owned()
    };
    read_key_cached(&bytes, &file, cache)
}

/// Writes a `.zkey` (sections 1 to 9, and 10 if there is a transcript).
pub fn write(z: &Zkey) -> Result<Vec<u8>> {
    let k = &z.key;
    k.check().map_err(|e| Error::Mismatch(e.to_string()))?;
    let mut h = Vec::new();
    put_u32(&mut h, N8 as u32);
    h.extend_from_slice(&q_bytes());
    put_u32(&mut h, N8 as u32);
    h.extend_from_slice(&r_bytes());
    put_u32(&mut h, to_u32(k.n_vars(), "wire count")?);
    put_u32(&mut h, to_u32(k.n_public, "public signal count")?);
    put_u32(&mut h, to_u32(k.domain_size, "domain size")?);
    put_g1(&mut h, &k.alpha_g1);
    put_g1(&mut h, &k.beta_g1);
    put_g2(&mut h, &k.beta_g2);
    put_g2(&mut h, &k.gamma_g2);
    put_g1(&mut h, &k.delta_g1);
    put_g2(&mut h, &k.delta_g2);
    let g1s = |ps: &[ark_bn254::G1Affine]| {
        let mut out = Vec::with_capacity(ps.len() * G1_BYTES);
        ps.iter().for_each(|p| put_g1(&mut out, p));
        out
    };
    let mut co = Vec::with_capacity(4 + k.coeffs.len() * COEFF_BYTES);
    put_u32(&mut co, to_u32(k.coeffs.len(), "coefficient count")?);
    for c in &k.coeffs {
        put_u32(&mut co, matches!(c.matrix, Matrix::B) as u32);
        put_u32(&mut co, c.constraint);
        put_u32(&mut co, c.signal);
        put_coeff(&mut co, &c.value);
    }
    let mut b2 = Vec::with_capacity(k.b2.len() * G2_BYTES);
    k.b2.iter().for_each(|p| put_g2(&mut b2, p));
    let mut w = Writer::new(MAGIC, VERSION, 9 + z.contributions.is_some() as u32);
    w.section(1, &GROTH16.to_le_bytes());
    w.section(2, &h);
    w.section(3, &g1s(&k.ic));
    w.section(4, &co);
    w.section(5, &g1s(&k.a));
    w.section(6, &g1s(&k.b1));
    w.section(7, &b2);
    w.section(8, &g1s(&k.c));
    w.section(9, &g1s(&k.h));
    if let Some(t) = &z.contributions {
        w.section(10, t);
    }
    Ok(w.finish())
}
