//! Field elements and points as circom and snarkjs store them: 32-byte
//! little-endian integers; scalars in standard form in `.r1cs` and `.wtns`;
//! curve coordinates in Montgomery form (`x * 2^256 mod q`) in `.zkey`, with
//! the point at infinity as all zeros; and the `.zkey` coefficients as
//! `c * 2^512 mod r`, the form snarkjs's prover multiplies a standard-form
//! witness value by to land in Montgomery form.
//!
//! Every reader checks that the integer is below the modulus, and every point
//! is checked to be on the curve and in the prime-order subgroup.

use crate::binfile::Reader;
use crate::error::Result;
use ark_bn254::{Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInt, BigInteger, PrimeField, Zero};
use rayon::prelude::*;

/// Bytes per field element (both fields of BN254).
pub(crate) const N8: usize = 32;
/// Bytes per G1 point.
pub(crate) const G1_BYTES: usize = 2 * N8;
/// Bytes per G2 point.
pub(crate) const G2_BYTES: usize = 4 * N8;

/// The scalar field's modulus r, little-endian: the prime of `.r1cs` and
/// `.wtns` headers.
pub(crate) fn r_bytes() -> Vec<u8> {
    Fr::MODULUS.to_bytes_le()
}

/// The base field's modulus q, little-endian.
pub(crate) fn q_bytes() -> Vec<u8> {
    Fq::MODULUS.to_bytes_le()
}

/// One of BN254's two fields, as a file header names it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Prime {
    /// r: the field of `.r1cs` and `.wtns` values and `.zkey` coefficients.
    Scalar,
    /// q: the field of `.zkey` point coordinates.
    Base,
}

/// Reads a header's field (`u32 n8`, then the prime in `n8` bytes) and
/// checks that it is BN254's `prime`. The one check behind every reader's
/// header, so that a file for another curve is refused alike everywhere.
pub(crate) fn check_prime(r: &mut Reader<'_>, prime: Prime) -> Result<()> {
    let (modulus, name) = match prime {
        Prime::Scalar => (r_bytes(), "the scalar field r"),
        Prime::Base => (q_bytes(), "the base field q"),
    };
    let n8 = r.usize()?;
    if n8 != N8 {
        return Err(r.err(format!("{name}: {n8}-byte elements, expected {N8} (BN254)")));
    }
    if r.bytes(N8)? != modulus.as_slice() {
        return Err(r.err(format!(
            "{name} is not BN254's (the file is for another curve)"
        )));
    }
    Ok(())
}

fn bigint(b: &[u8]) -> BigInt<4> {
    let mut limbs = [0u64; 4];
    for (l, c) in limbs.iter_mut().zip(b.chunks_exact(8)) {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        *l = u64::from_le_bytes(a);
    }
    BigInt(limbs)
}

/// A canonical integer below `modulus` from 32 bytes, or `None`.
fn canonical(b: &[u8], modulus: BigInt<4>) -> Option<BigInt<4>> {
    let n = bigint(b);
    (b.len() == N8 && n < modulus).then_some(n)
}

/// A scalar in standard form from exactly 32 bytes.
pub(crate) fn fr_from_le(b: &[u8]) -> Option<Fr> {
    canonical(b, Fr::MODULUS).and_then(Fr::from_bigint)
}

/// Reads a standard-form scalar.
pub(crate) fn read_fr(r: &mut Reader<'_>, what: &str) -> Result<Fr> {
    let b = r.bytes(N8)?;
    fr_from_le(b).ok_or_else(|| r.err(format!("{what}: not a canonical scalar (>= r)")))
}

/// Appends a standard-form scalar.
pub(crate) fn put_fr(out: &mut Vec<u8>, x: &Fr) {
    out.extend_from_slice(&x.into_bigint().to_bytes_le());
}

/// A `.zkey` coefficient from its stored form `c * 2^512 mod r`.
pub(crate) fn coeff_from_le(b: &[u8]) -> Option<Fr> {
    // `new_unchecked(x)` is the element whose Montgomery representation is x,
    // that is x / 2^256; one more division by 2^256 gives c.
    canonical(b, Fr::MODULUS).map(|x| Fr::new_unchecked(x) * Fr::new_unchecked(BigInt::from(1u64)))
}

/// Appends a coefficient in `.zkey` form.
pub(crate) fn put_coeff(out: &mut Vec<u8>, c: &Fr) {
    // `c.0` is c * 2^256 mod r; the element with that value has the
    // representation c * 2^512 mod r.
    let t = Fr::from_bigint(c.0).unwrap_or_else(Fr::zero);
    out.extend_from_slice(&t.0.to_bytes_le());
}

fn fq_mont(b: &[u8]) -> Option<Fq> {
    canonical(b, Fq::MODULUS).map(Fq::new_unchecked)
}

fn put_fq_mont(out: &mut Vec<u8>, x: &Fq) {
    out.extend_from_slice(&x.0.to_bytes_le());
}

fn g1_from(b: &[u8]) -> std::result::Result<G1Affine, &'static str> {
    if b.iter().all(|x| *x == 0) {
        return Ok(G1Affine::zero());
    }
    let x = fq_mont(&b[..N8]).ok_or("x is not a canonical field element (>= q)")?;
    let y = fq_mont(&b[N8..]).ok_or("y is not a canonical field element (>= q)")?;
    let p = G1Affine::new_unchecked(x, y);
    if !p.is_on_curve() {
        return Err("not on the BN254 G1 curve");
    }
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err("not in the G1 subgroup");
    }
    Ok(p)
}

fn g2_from(b: &[u8]) -> std::result::Result<G2Affine, &'static str> {
    if b.iter().all(|x| *x == 0) {
        return Ok(G2Affine::zero());
    }
    let f = |i: usize| fq_mont(&b[i * N8..(i + 1) * N8]);
    let (Some(x0), Some(x1), Some(y0), Some(y1)) = (f(0), f(1), f(2), f(3)) else {
        return Err("a coordinate is not a canonical field element (>= q)");
    };
    let p = G2Affine::new_unchecked(Fq2::new(x0, x1), Fq2::new(y0, y1));
    if !p.is_on_curve() {
        return Err("not on the BN254 G2 curve");
    }
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err("not in the G2 subgroup");
    }
    Ok(p)
}

/// Appends a G1 point in `.zkey` form.
pub(crate) fn put_g1(out: &mut Vec<u8>, p: &G1Affine) {
    match p.xy() {
        Some((x, y)) => {
            put_fq_mont(out, &x);
            put_fq_mont(out, &y);
        }
        None => out.extend_from_slice(&[0u8; G1_BYTES]),
    }
}

/// Appends a G2 point in `.zkey` form.
pub(crate) fn put_g2(out: &mut Vec<u8>, p: &G2Affine) {
    match p.xy() {
        Some((x, y)) => {
            for c in [x.c0, x.c1, y.c0, y.c1] {
                put_fq_mont(out, &c);
            }
        }
        None => out.extend_from_slice(&[0u8; G2_BYTES]),
    }
}

/// Reads `n` G1 points (validated in parallel); the section must hold at
/// least `n * 64` more bytes.
pub(crate) fn read_g1s(r: &mut Reader<'_>, n: usize) -> Result<Vec<G1Affine>> {
    let len = n
        .checked_mul(G1_BYTES)
        .ok_or_else(|| r.err("point count overflows"))?;
    let b = r.bytes(len)?;
    let section = r.section;
    b.par_chunks_exact(G1_BYTES)
        .enumerate()
        .map(|(i, c)| g1_from(c).map_err(|e| (i, e)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|(i, e)| r.err(format!("{section} point {i}: {e}")))
}

/// Reads `n` G2 points (validated in parallel).
pub(crate) fn read_g2s(r: &mut Reader<'_>, n: usize) -> Result<Vec<G2Affine>> {
    let len = n
        .checked_mul(G2_BYTES)
        .ok_or_else(|| r.err("point count overflows"))?;
    let b = r.bytes(len)?;
    let section = r.section;
    b.par_chunks_exact(G2_BYTES)
        .enumerate()
        .map(|(i, c)| g2_from(c).map_err(|e| (i, e)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|(i, e)| r.err(format!("{section} point {i}: {e}")))
}

/// Reads one G1 point.
pub(crate) fn read_g1(r: &mut Reader<'_>, what: &str) -> Result<G1Affine> {
    let b = r.bytes(G1_BYTES)?;
    g1_from(b).map_err(|e| r.err(format!("{what}: {e}")))
}

/// Reads one G2 point.
pub(crate) fn read_g2(r: &mut Reader<'_>, what: &str) -> Result<G2Affine> {
    let b = r.bytes(G2_BYTES)?;
    g2_from(b).map_err(|e| r.err(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{Field, One, UniformRand};
    use ark_std::rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn codecs_round_trip() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..50 {
            let c = Fr::rand(&mut rng);
            let mut out = Vec::new();
            put_coeff(&mut out, &c);
            assert_eq!(coeff_from_le(&out), Some(c));
            out.clear();
            put_fr(&mut out, &c);
            assert_eq!(fr_from_le(&out), Some(c));
            let p = (G1Affine::generator() * c).into();
            out.clear();
            put_g1(&mut out, &p);
            assert_eq!(g1_from(&out), Ok(p));
            let q = (G2Affine::generator() * c).into();
            out.clear();
            put_g2(&mut out, &q);
            assert_eq!(g2_from(&out), Ok(q));
        }
    }

    /// snarkjs writes the coefficient 1 as 2^512 mod r (its `R2r`).
    #[test]
    fn coefficient_one_is_r_squared() {
        let mut out = Vec::new();
        put_coeff(&mut out, &Fr::one());
        let r2 = Fr::from(2u64).pow([512]);
        assert_eq!(fr_from_le(&out), Some(r2));
    }

    #[test]
    fn non_canonical_and_off_curve_are_refused() {
        assert_eq!(fr_from_le(&r_bytes()), None);
        assert_eq!(coeff_from_le(&r_bytes()), None);
        let mut b = vec![0u8; G1_BYTES];
        b[..N8].copy_from_slice(&q_bytes());
        assert!(g1_from(&b).is_err());
        b = vec![0u8; G1_BYTES];
        b[0] = 1;
        assert_eq!(g1_from(&b), Err("not on the BN254 G1 curve"));
        b = vec![0u8; G2_BYTES];
        b[N8] = 1;
        assert_eq!(g2_from(&b), Err("not on the BN254 G2 curve"));
    }
}
