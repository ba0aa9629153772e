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

use crate::binfile::{BinFile, Reader, Writer, put_u32, to_u32};
use crate::error::{Error, Result, malformed};
use crate::field::{
    G1_BYTES, G2_BYTES, N8, coeff_from_le, put_coeff, put_g1, put_g2, q_bytes, r_bytes, read_g1,
    read_g1s, read_g2, read_g2s,
};
use ark_ec::AffineRepr;
use std::path::{Path, PathBuf};
use zkr_prover::keycache::{Loaded, load_or_check};
use zkr_prover::zkey::{Coeff, Matrix, ZkeyProvingKey};

const MAGIC: &[u8; 4] = b"zkey";
const VERSION: u32 = 1;
const GROTH16: u32 = 1;
/// The largest domain: the H form needs the domain of twice that size, and
/// BN254's scalar field has roots of unity of order up to 2^28.
pub const MAX_DOMAIN_SIZE: usize = 1 << 27;
const COEFF_BYTES: usize = 12 + N8;

/// A `.zkey`: the proving key, and the ceremony transcript (section 10) as
/// it was read, if there was one.
#[derive(Clone, Debug, PartialEq)]
pub struct Zkey {
    /// The key.
    pub key: ZkeyProvingKey,
    /// Section 10, unparsed.
    pub contributions: Option<Vec<u8>>,
}

fn check_field(r: &mut Reader<'_>, modulus: &[u8], name: &str) -> Result<()> {
    let n8 = r.usize()?;
    if n8 != N8 {
        return Err(r.err(format!("{name}: {n8}-byte field, expected {N8} (BN254)")));
    }
    if r.bytes(N8)? != modulus {
        return Err(r.err(format!(
            "{name}: not BN254's (the key is for another curve)"
        )));
    }
    Ok(())
}

/// Reads and validates a Groth16 `.zkey` over BN254: every section present
/// once and of exactly the size the header implies, every coefficient index
/// in range and value canonical, every point on its curve and in the
/// prime-order subgroup, and alpha, beta, gamma, delta not the identity.
pub fn read(data: &[u8], file: &str) -> Result<Zkey> {
    let bin = BinFile::parse(data, MAGIC, VERSION, file)?;
    if let Some(id) = bin.unknown_section(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
        return Err(malformed(
            file,
            "file header",
            format!("unknown section {id}"),
        ));
    }
    let mut p = bin.section(1, "header")?;
    p.expect_len(4, "the protocol id")?;
    let protocol = p.u32()?;
    if protocol != GROTH16 {
        return Err(p.err(format!(
            "protocol {protocol}, only Groth16 (1) is supported"
        )));
    }

    let mut h = bin.section(2, "groth16 header")?;
    check_field(&mut h, &q_bytes(), "q")?;
    check_field(&mut h, &r_bytes(), "r")?;
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

    // Sizes first, so that no allocation follows an unchecked count.
    let mut ic = bin.section(3, "IC")?;
    ic.expect_len((n_public + 1) * G1_BYTES, "nPublic + 1 points")?;
    let mut a = bin.section(5, "A")?;
    a.expect_len(n_vars * G1_BYTES, "nVars points")?;
    let mut b1 = bin.section(6, "B1")?;
    b1.expect_len(n_vars * G1_BYTES, "nVars points")?;
    let mut b2 = bin.section(7, "B2")?;
    b2.expect_len(n_vars * G2_BYTES, "nVars points")?;
    let n_private = n_vars - n_public - 1;
    let mut c = bin.section(8, "C")?;
    c.expect_len(n_private * G1_BYTES, "nVars - nPublic - 1 points")?;
    let mut hs = bin.section(9, "H")?;
    hs.expect_len(domain_size * G1_BYTES, "domainSize points")?;
    let mut co = bin.section(4, "coefficients")?;
    let n_coeffs = co.usize()?;
    co.expect_len(
        n_coeffs
            .checked_mul(COEFF_BYTES)
            .ok_or_else(|| co.err("coefficient count overflows"))?,
        &format!("{n_coeffs} coefficients"),
    )?;
    let mut coeffs = Vec::with_capacity(n_coeffs);
    for i in 0..n_coeffs {
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
        if constraint as usize >= domain_size || signal as usize >= n_vars {
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

    let key = ZkeyProvingKey {
        n_public,
        domain_size,
        alpha_g1,
        beta_g1,
        beta_g2,
        gamma_g2,
        delta_g1,
        delta_g2,
        ic: read_g1s(&mut ic, n_public + 1)?,
        coeffs,
        a: read_g1s(&mut a, n_vars)?,
        b1: read_g1s(&mut b1, n_vars)?,
        b2: read_g2s(&mut b2, n_vars)?,
        c: read_g1s(&mut c, n_private)?,
        h: read_g1s(&mut hs, domain_size)?,
    };
    key.check()
        .map_err(|e| Error::Mismatch(format!("{file}: {e}")))?;
    let contributions = bin
        .optional(10, "contributions")?
        .map(|mut r| r.bytes(r.remaining()).map(<[u8]>::to_vec))
        .transpose()?;
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
