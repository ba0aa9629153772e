//! BN254 base-field arithmetic on eight lanes of an AVX-512 register:
//! an element is five limbs of 52 bits (one `__m512i` per limb, lane `l` of
//! every limb belonging to element `l`), in Montgomery form with
//! `R = 2^260`, so that `vpmadd52{lo,hi}uq` computes limb products directly.
//!
//! Reduction is lazy: [`mul`] accepts inputs below `8q` and returns values
//! below `2q` (`q < 2^254`, so `(8q)^2 / R + q < 2q`); [`sub`] adds a
//! multiple of `q` instead of branching; [`cond_sub`] brings a value into a
//! smaller range when a canonical form is needed. Limbs are always
//! normalised (below `2^52`), since IFMA reads only the low 52 bits.
//!
//! The scalar helpers at the bottom convert to and from arkworks' `Fq`
//! (Montgomery form with `R = 2^256`).

use super::simd::{
    __m512i, __mmask8, _mm512_add_epi64, _mm512_and_si512, _mm512_cmpeq_epi64_mask,
    _mm512_cmplt_epi64_mask, _mm512_madd52hi_epu64, _mm512_madd52lo_epu64, _mm512_mask_blend_epi64,
    _mm512_or_si512, _mm512_set1_epi64, _mm512_setzero_si512, _mm512_srai_epi64, _mm512_srli_epi64,
    _mm512_storeu_si512, _mm512_sub_epi64,
};
use ark_bn254::Fq;
use ark_ff::{AdditiveGroup, BigInt, Field, PrimeField};

/// Limbs per element.
pub(crate) const LIMBS: usize = 5;
/// Bits per limb.
const BITS: u32 = 52;
const MASK: u64 = (1 << BITS) - 1;

/// An element as scalar limbs (the layout of the point records).
pub(crate) type Limbs = [u64; LIMBS];

/// Splits a 256-bit little-endian integer into 52-bit limbs (bits above
/// 260 are dropped; callers pass values below `2^256`).
pub(crate) const fn to_limbs(x: [u64; 4]) -> Limbs {
    let mut out = [0u64; LIMBS];
    let mut i = 0;
    while i < LIMBS {
        let bit = BITS as usize * i;
        let (w, s) = (bit / 64, bit % 64);
        let mut v = x[w] >> s;
        if s + BITS as usize > 64 && w + 1 < 4 {
            v |= x[w + 1] << (64 - s);
        }
        out[i] = v & MASK;
        i += 1;
    }
    out
}

/// Joins normalised 52-bit limbs of a value below `2^256`.
pub(crate) const fn from_limbs(x: &Limbs) -> [u64; 4] {
    let mut out = [0u64; 4];
    let mut i = 0;
    while i < LIMBS {
        let bit = BITS as usize * i;
        let (w, s) = (bit / 64, bit % 64);
        out[w] |= x[i] << s;
        if s + BITS as usize > 64 && w + 1 < 4 {
            out[w + 1] |= x[i] >> (64 - s);
        }
        i += 1;
    }
    out
}

/// `q` in limbs.
pub(crate) const Q: Limbs = to_limbs(Fq::MODULUS.0);

/// `k q` in normalised limbs, for small `k` (no overflow of the top limb).
pub(crate) const fn times_q(k: u64) -> Limbs {
    let mut out = [0u64; LIMBS];
    let mut carry = 0u64;
    let mut i = 0;
    while i < LIMBS {
        let v = Q[i] * k + carry;
        out[i] = v & MASK;
        carry = v >> BITS;
        i += 1;
    }
    out
}

pub(crate) const Q2: Limbs = times_q(2);
pub(crate) const Q4: Limbs = times_q(4);

/// `-q^{-1} mod 2^52`, by Newton's iteration on the inverse mod `2^64`.
const Q_NEG_INV: u64 = {
    let q0 = Fq::MODULUS.0[0];
    let mut inv = 1u64;
    let mut i = 0;
    while i < 6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(q0.wrapping_mul(inv)));
        i += 1;
    }
    inv.wrapping_neg() & MASK
};

/// Eight field elements, limb-major.
#[derive(Clone, Copy)]
pub(crate) struct Fe8(pub(crate) [__m512i; LIMBS]);

/// One constant in all lanes, limb-major.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn splat(x: &Limbs) -> Fe8 {
    Fe8(x.map(|l| _mm512_set1_epi64(l as i64)))
}

/// `a b / R mod q`, below `2q` for inputs below `8q` (operand scanning:
/// for each limb of `a`, add `a_i b`, then the multiple `m q` that clears
/// the lowest column, then carry that column into the next).
#[cfg_attr(
    not(feature = "ifma-emulated"),
    target_feature(enable = "avx512f,avx512ifma")
)]
#[inline]
pub(crate) fn mul(a: &Fe8, b: &Fe8) -> Fe8 {
    let zero = _mm512_setzero_si512();
    let mask = _mm512_set1_epi64(MASK as i64);
    let qinv = _mm512_set1_epi64(Q_NEG_INV as i64);
    let q = Q.map(|l| _mm512_set1_epi64(l as i64));
    let (a, b) = (&a.0, &b.0);
    // Column sums: at most 20 products of 52-bit halves plus a carry, far
    // below 2^64.
    let mut t = [zero; 2 * LIMBS];
    for i in 0..LIMBS {
        for j in 0..LIMBS {
            t[i + j] = _mm512_madd52lo_epu64(t[i + j], a[i], b[j]);
            t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], a[i], b[j]);
        }
        let m = _mm512_madd52lo_epu64(zero, t[i], qinv);
        for j in 0..LIMBS {
            t[i + j] = _mm512_madd52lo_epu64(t[i + j], m, q[j]);
            t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], m, q[j]);
        }
        // The low 52 bits of column i are now zero.
        t[i + 1] = _mm512_add_epi64(t[i + 1], _mm512_srli_epi64::<52>(t[i]));
    }
    let mut r = [zero; LIMBS];
    for k in 0..LIMBS {
        let v = t[LIMBS + k];
        if k + 1 < LIMBS {
            t[LIMBS + k + 1] = _mm512_add_epi64(t[LIMBS + k + 1], _mm512_srli_epi64::<52>(v));
            r[k] = _mm512_and_si512(v, mask);
        } else {
            r[k] = v;
        }
    }
    Fe8(r)
}

/// Propagates signed carries so every limb is in `[0, 2^52)`; the value
/// must be non-negative.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
fn normalise_signed(mut r: [__m512i; LIMBS]) -> [__m512i; LIMBS] {
    let mask = _mm512_set1_epi64(MASK as i64);
    for k in 0..LIMBS - 1 {
        let carry = _mm512_srai_epi64::<52>(r[k]);
        r[k] = _mm512_and_si512(r[k], mask);
        r[k + 1] = _mm512_add_epi64(r[k + 1], carry);
    }
    r
}

/// `a + k q - b` for `k q` given in limbs (`kq`); the caller makes sure
/// `b <= a + k q`. Below `a + k q`.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn sub(a: &Fe8, b: &Fe8, kq: &Fe8) -> Fe8 {
    let r = core::array::from_fn(|k| _mm512_sub_epi64(_mm512_add_epi64(a.0[k], kq.0[k]), b.0[k]));
    Fe8(normalise_signed(r))
}

/// `a - m` in the lanes where `a >= m`, `a` elsewhere.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn cond_sub(a: &Fe8, m: &Fe8) -> Fe8 {
    let d = normalise_signed(core::array::from_fn(|k| _mm512_sub_epi64(a.0[k], m.0[k])));
    let negative = _mm512_cmplt_epi64_mask(d[LIMBS - 1], _mm512_setzero_si512());
    Fe8(core::array::from_fn(|k| {
        _mm512_mask_blend_epi64(negative, d[k], a.0[k])
    }))
}

/// `a + b`, below the sum of the bounds (which must stay below `2^260`).
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn add(a: &Fe8, b: &Fe8) -> Fe8 {
    Fe8(normalise_signed(core::array::from_fn(|k| {
        _mm512_add_epi64(a.0[k], b.0[k])
    })))
}

/// The lanes where `a`, given below `4q`, is `0 mod q`.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn is_zero(a: &Fe8, c: &Consts) -> __mmask8 {
    let r = cond_sub(&cond_sub(a, &c.q2), &c.q);
    let any =
        r.0.iter()
            .fold(_mm512_setzero_si512(), |acc, l| _mm512_or_si512(acc, *l));
    _mm512_cmpeq_epi64_mask(any, _mm512_setzero_si512())
}

/// `b` in the lanes of `m`, `a` elsewhere.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn select(m: __mmask8, a: &Fe8, b: &Fe8) -> Fe8 {
    Fe8(core::array::from_fn(|k| {
        _mm512_mask_blend_epi64(m, a.0[k], b.0[k])
    }))
}

/// Lane `l`'s limbs, for each lane.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn to_lanes(a: &Fe8) -> [Limbs; 8] {
    let mut by_limb = [[0u64; 8]; LIMBS];
    for (k, dst) in by_limb.iter_mut().enumerate() {
        // SAFETY: `dst` is 64 writable bytes; the store is unaligned.
        unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), a.0[k]) };
    }
    let mut out = [[0u64; LIMBS]; 8];
    for (l, e) in out.iter_mut().enumerate() {
        for k in 0..LIMBS {
            e[k] = by_limb[k][l];
        }
    }
    out
}

/// Eight elements given as limbs, into lanes.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn from_lanes(v: &[Limbs; 8]) -> Fe8 {
    use super::simd::_mm512_set_epi64;
    let mut r = [_mm512_setzero_si512(); LIMBS];
    for (k, limb) in r.iter_mut().enumerate() {
        let g = |l: usize| v[l][k] as i64;
        *limb = _mm512_set_epi64(g(7), g(6), g(5), g(4), g(3), g(2), g(1), g(0));
    }
    Fe8(r)
}

/// The constants the lane code needs, in lanes.
#[derive(Clone, Copy)]
pub(crate) struct Consts {
    /// `q`
    pub(crate) q: Fe8,
    /// `2q`
    pub(crate) q2: Fe8,
    /// `4q`
    pub(crate) q4: Fe8,
    /// `1` (that is `R mod q`)
    pub(crate) one: Fe8,
    /// `0`
    pub(crate) zero: Fe8,
}

impl Consts {
    #[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            q: splat(&Q),
            q2: splat(&Q2),
            q4: splat(&Q4),
            one: splat(&from_ark(&Fq::ONE)),
            zero: splat(&[0; LIMBS]),
        }
    }
}

// ---- scalar conversions -------------------------------------------------

/// `v - q` if `v >= q`, for normalised limbs.
pub(crate) fn reduce_once(v: &Limbs) -> Limbs {
    let mut d = [0u64; LIMBS];
    let mut borrow = 0i64;
    for k in 0..LIMBS {
        let x = v[k] as i64 - Q[k] as i64 + borrow;
        d[k] = (x as u64) & MASK;
        borrow = x >> BITS;
    }
    if borrow < 0 { *v } else { d }
}

/// arkworks' `Fq` to its canonical limbs here (`a 2^260 mod q`).
/// arkworks keeps `a 2^256 mod q`; that is the representation of `16 a`.
pub(crate) fn from_ark(a: &Fq) -> Limbs {
    let sixteen_a = a.double().double().double().double();
    to_limbs(sixteen_a.0.0)
}

/// `1/16` in arkworks' field.
fn inv16() -> Fq {
    // 16 is invertible mod an odd prime.
    Fq::from(16u64).inverse().unwrap_or_default()
}

/// A value below `2q` (limbs here) to arkworks' `Fq`.
pub(crate) fn to_ark(v: &Limbs, inv16: &Fq) -> Fq {
    let canonical = reduce_once(v);
    // Read as arkworks' Montgomery form this is `16 a`.
    Fq::new_unchecked(BigInt(from_limbs(&canonical))) * inv16
}

/// `1/16` in arkworks' field, computed once per caller.
pub(crate) fn ark_inv16() -> Fq {
    inv16()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{One, UniformRand, Zero};
    use ark_std::rand::{SeedableRng, rngs::StdRng};

    fn have_ifma() -> bool {
        super::super::tests::lanes_here()
    }

    fn edge_values() -> Vec<Fq> {
        vec![
            Fq::zero(),
            Fq::one(),
            -Fq::one(),
            Fq::from(2u64),
            -Fq::from(2u64),
            Fq::from(u64::MAX),
            Fq::from(1u64 << 52),
        ]
    }

    fn samples(rng: &mut StdRng) -> Vec<Fq> {
        let mut v = edge_values();
        v.extend((0..57).map(|_| Fq::rand(rng)));
        v
    }

    /// Eight consecutive values (cycling) into lanes.
    fn lanes(v: &[Fq], start: usize) -> [Limbs; 8] {
        core::array::from_fn(|l| from_ark(&v[(start + l) % v.len()]))
    }

    /// The limbs of `a + q` (the same element, not canonical: what lazy
    /// reduction hands over).
    fn plus_q(a: &Limbs) -> Limbs {
        let mut out = [0u64; LIMBS];
        let mut carry = 0;
        for k in 0..LIMBS {
            let s = a[k] + Q[k] + carry;
            out[k] = s & MASK;
            carry = s >> BITS;
        }
        out
    }

    #[test]
    fn limbs_round_trip_and_constants() {
        let mut rng = StdRng::seed_from_u64(1);
        for a in samples(&mut rng) {
            let l = from_ark(&a);
            assert!(l.iter().all(|&x| x <= MASK));
            assert_eq!(to_ark(&l, &ark_inv16()), a);
            assert_eq!(to_ark(&plus_q(&l), &ark_inv16()), a);
        }
        assert_eq!(from_limbs(&Q), Fq::MODULUS.0);
        assert_eq!(Q_NEG_INV.wrapping_mul(Q[0]) & MASK, MASK);
    }

    /// Any normalised value below `2^256` (possibly above `q`) to arkworks.
    fn to_ark_any(v: &Limbs, inv16: &Fq) -> Fq {
        let mut v = *v;
        let mut guard = 0;
        while BigInt(from_limbs(&v)) >= Fq::MODULUS {
            let prev = v;
            v = reduce_once(&v);
            assert_ne!(prev, v);
            guard += 1;
            assert!(guard < 16);
        }
        to_ark(&v, inv16)
    }

    fn times(k: u64) -> BigInt<4> {
        BigInt(from_limbs(&times_q(k)))
    }

    fn lane_inputs(rng: &mut StdRng) -> (Vec<Limbs>, Vec<Limbs>) {
        let s = samples(rng);
        let canonical: Vec<Limbs> = s.iter().map(from_ark).collect();
        // Lazy inputs: the same elements plus q (below 2q, up to 2q - 1),
        // and q - 1 + q, the largest value below 2q.
        let mut lazy: Vec<Limbs> = canonical.iter().map(plus_q).collect();
        lazy.push(plus_q(&from_ark(&-Fq::one())));
        (canonical, lazy)
    }

    fn check_range(got: &Limbs, k: u64) {
        assert!(BigInt(from_limbs(got)) < times(k), "value below {k}q");
    }

    #[test]
    fn mul_matches_ark_ff() {
        if !have_ifma() {
            return;
        }
        let mut rng = StdRng::seed_from_u64(2);
        let (canonical, lazy) = lane_inputs(&mut rng);
        let all: Vec<Limbs> = canonical.iter().chain(&lazy).copied().collect();
        let inv16 = ark_inv16();
        for start in (0..all.len()).step_by(8) {
            for shift in 0..all.len() {
                let a: [Limbs; 8] = core::array::from_fn(|l| all[(start + l) % all.len()]);
                let b: [Limbs; 8] = core::array::from_fn(|l| all[(start + shift + l) % all.len()]);
                // SAFETY: IFMA and AVX-512F are present (checked above).
                let got = unsafe { to_lanes(&mul(&from_lanes(&a), &from_lanes(&b))) };
                for l in 0..8 {
                    assert!(got[l].iter().all(|&x| x <= MASK));
                    check_range(&got[l], 2);
                    let want = to_ark_any(&a[l], &inv16) * to_ark_any(&b[l], &inv16);
                    assert_eq!(to_ark_any(&got[l], &inv16), want);
                }
            }
        }
        // The largest inputs the contract allows: just below 8q.
        let top = {
            let mut t = times_q(8);
            t[0] -= 1; // q is odd, so the low limb of 8q is non-zero
            t
        };
        let a = [top; 8];
        // SAFETY: as above.
        let got = unsafe { to_lanes(&mul(&from_lanes(&a), &from_lanes(&a))) };
        // 8q - 1 represents what q - 1 represents.
        let below_q = {
            let mut t = Q;
            t[0] -= 1;
            t
        };
        let x = to_ark_any(&below_q, &inv16);
        for g in got {
            check_range(&g, 2);
            assert_eq!(to_ark_any(&g, &inv16), x * x);
        }
    }

    #[test]
    fn sub_and_cond_sub_match_ark_ff() {
        if !have_ifma() {
            return;
        }
        let mut rng = StdRng::seed_from_u64(3);
        let (canonical, lazy) = lane_inputs(&mut rng);
        let inv16 = ark_inv16();
        // SAFETY: IFMA and AVX-512F are present (checked above).
        let c = unsafe { Consts::new() };
        for (xs, ys, kq, k) in [
            (&canonical, &canonical, c.q, 1u64),
            (&lazy, &canonical, c.q, 1),
            (&lazy, &lazy, c.q2, 2),
        ] {
            for start in (0..xs.len()).step_by(8) {
                for shift in 0..ys.len() {
                    let a: [Limbs; 8] = core::array::from_fn(|l| xs[(start + l) % xs.len()]);
                    let b: [Limbs; 8] =
                        core::array::from_fn(|l| ys[(start + shift + l) % ys.len()]);
                    // SAFETY: as above.
                    let (d, r1, r2) = unsafe {
                        let (va, vb) = (from_lanes(&a), from_lanes(&b));
                        let d = sub(&va, &vb, &kq);
                        let r1 = cond_sub(&d, &c.q);
                        let r2 = cond_sub(&cond_sub(&d, &c.q2), &c.q);
                        (to_lanes(&d), to_lanes(&r1), to_lanes(&r2))
                    };
                    for l in 0..8 {
                        let (x, y) = (to_ark_any(&a[l], &inv16), to_ark_any(&b[l], &inv16));
                        assert_eq!(to_ark_any(&d[l], &inv16), x - y);
                        assert_eq!(to_ark_any(&r1[l], &inv16), x - y);
                        assert_eq!(to_ark_any(&r2[l], &inv16), x - y);
                        // The input ranges of each case bound the outputs:
                        // a + kq - b below (a's bound + k) q, and each
                        // conditional subtraction of m q lowers the bound
                        // by m q (down to m q).
                        let in_a = if std::ptr::eq(xs, &canonical) { 1 } else { 2 };
                        check_range(&d[l], in_a + k);
                        check_range(&r1[l], in_a + k - 1);
                        if in_a + k <= 4 {
                            check_range(&r2[l], 1);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn lanes_round_trip() {
        if !have_ifma() {
            return;
        }
        let mut rng = StdRng::seed_from_u64(4);
        let v = samples(&mut rng);
        let l = lanes(&v, 3);
        // SAFETY: AVX-512F is present (checked above).
        assert_eq!(unsafe { to_lanes(&from_lanes(&l)) }, l);
    }
}
