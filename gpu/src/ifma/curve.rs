//! What the bucket code needs from a curve: its base field on lanes
//! ([`LaneField`]: `Fq` for G1, `Fq2` for G2) and the record layout of its
//! points, so that one accumulation and one reduction serve both groups.
//!
//! The lane operations themselves are `#[target_feature]` functions of
//! `field.rs` and `field2.rs`. The trait methods here are plain wrappers;
//! their argument is the proof that they may call those functions: a lane
//! value (`Fe8`, `Fe2`, `Consts`, `__m512i`) is only ever made by
//! `#[target_feature]` code of this module, which runs only after
//! [`super::available`] saw AVX-512F and IFMA. They are
//! `#[inline(always)]`, so that they are inlined into their
//! `#[target_feature]` callers (the accumulation and the reduction), where
//! the arithmetic can be inlined in turn.

use super::field::{self, Consts, Fe8, LIMBS, Limbs};
use super::field2::{self, Fe2};
use super::simd::{
    __m512i, __mmask8, _mm512_add_epi64, _mm512_i64gather_epi64, _mm512_i64scatter_epi64,
    _mm512_set1_epi64,
};
use ark_bn254::{Fq, Fq2, g1, g2};
use ark_ec::short_weierstrass::{Affine, SWCurveConfig};
use ark_ff::Field;

/// Eight elements of a base field on lanes; bounds as in `field.rs` (for
/// `Fq2` per component, with products taking components below `4q`, see
/// `field2.rs`; the bucket code keeps every product input below `4q`).
pub(crate) trait LaneField: Copy {
    /// arkworks' field.
    type Ark: Field;
    /// 52-bit words of one element in a record.
    const WORDS: usize;

    fn mul(&self, b: &Self) -> Self;
    fn square(&self) -> Self;
    fn add(&self, b: &Self) -> Self;
    /// `self + k q - b` (per component), `kq` given in lanes.
    fn sub(&self, b: &Self, kq: &Fe8) -> Self;
    fn cond_sub(&self, m: &Fe8) -> Self;
    /// Lanes where the value (below `4q`) is zero.
    fn is_zero(&self, c: &Consts) -> __mmask8;
    /// `b` in the lanes of `m`, `a` elsewhere.
    fn select(m: __mmask8, a: &Self, b: &Self) -> Self;
    /// The element whose first component is `v` (the rest zero).
    fn embed(c: &Consts, v: &Fe8) -> Self;
    /// Gathers eight elements starting at word `from` of the records at
    /// `offsets` (in words).
    ///
    /// # Safety
    /// Every lane of `offsets` plus `from + WORDS` must be within `base`.
    unsafe fn gather(base: &[u64], offsets: __m512i, from: usize) -> Self;
    /// Scatters eight elements, as [`LaneField::gather`] reads them.
    ///
    /// # Safety
    /// As [`LaneField::gather`], and the eight offsets must be distinct.
    unsafe fn scatter(&self, base: &mut [u64], offsets: __m512i, from: usize);
    fn to_ark(&self, inv16: &Fq) -> [Self::Ark; 8];
    fn from_ark(c: &Consts, v: &[Self::Ark; 8]) -> Self;
    /// The inverses of the eight lanes (all non-zero), by one inversion in
    /// arkworks' field (Montgomery's trick across the lanes).
    fn invert(&self, c: &Consts, inv16: &Fq) -> Self {
        let mut v = self.to_ark(inv16);
        ark_ff::batch_inversion(&mut v);
        Self::from_ark(c, &v)
    }

    /// The canonical words of `x` (scalar code).
    fn words(x: &Self::Ark, out: &mut [u64]);
    /// The element whose words (each component below `2q`) are `w`.
    fn from_words(w: &[u64], inv16: &Fq) -> Self::Ark;
}

/// Gathers one `Fq` lane value from `base`.
///
/// # Safety
/// The CPU has AVX-512F; every lane of `offsets` plus `from + LIMBS` is
/// within `base`.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
unsafe fn gather_fq(base: &[u64], offsets: __m512i, from: usize) -> Fe8 {
    let ptr = base.as_ptr().cast::<i64>();
    Fe8(core::array::from_fn(|k| {
        let o = _mm512_add_epi64(offsets, _mm512_set1_epi64((from + k) as i64));
        // SAFETY: by the caller, each lane is within `base`.
        unsafe { _mm512_i64gather_epi64::<8>(o, ptr) }
    }))
}

/// Scatters one `Fq` lane value into `base`.
///
/// # Safety
/// As [`gather_fq`], and the eight offsets are distinct.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
unsafe fn scatter_fq(base: &mut [u64], offsets: __m512i, from: usize, v: &Fe8) {
    let ptr = base.as_mut_ptr().cast::<i64>();
    for k in 0..LIMBS {
        let o = _mm512_add_epi64(offsets, _mm512_set1_epi64((from + k) as i64));
        // SAFETY: by the caller, each lane is within `base`, no two alike.
        unsafe { _mm512_i64scatter_epi64::<8>(ptr, o, v.0[k]) };
    }
}

fn limbs(w: &[u64]) -> Limbs {
    core::array::from_fn(|k| w[k])
}

// Every `unsafe` block below calls a `#[target_feature]` function of
// `field.rs` / `field2.rs`; SAFETY: a lane argument (`self`, `a`, `c`,
// `offsets`) exists, so `available()` returned true (module doc).
impl LaneField for Fe8 {
    type Ark = Fq;
    const WORDS: usize = LIMBS;

    #[inline(always)]
    fn mul(&self, b: &Self) -> Self {
        // SAFETY: see above the impl.
        unsafe { field::mul(self, b) }
    }
    #[inline(always)]
    fn square(&self) -> Self {
        // SAFETY: see above the impl.
        unsafe { field::mul(self, self) }
    }
    #[inline(always)]
    fn add(&self, b: &Self) -> Self {
        // SAFETY: see above the impl.
        unsafe { field::add(self, b) }
    }
    #[inline(always)]
    fn sub(&self, b: &Self, kq: &Fe8) -> Self {
        // SAFETY: see above the impl.
        unsafe { field::sub(self, b, kq) }
    }
    #[inline(always)]
    fn cond_sub(&self, m: &Fe8) -> Self {
        // SAFETY: see above the impl.
        unsafe { field::cond_sub(self, m) }
    }
    #[inline(always)]
    fn is_zero(&self, c: &Consts) -> __mmask8 {
        // SAFETY: see above the impl.
        unsafe { field::is_zero(self, c) }
    }
    #[inline(always)]
    fn select(m: __mmask8, a: &Self, b: &Self) -> Self {
        // SAFETY: see above the impl.
        unsafe { field::select(m, a, b) }
    }
    #[inline(always)]
    fn embed(_: &Consts, v: &Fe8) -> Self {
        *v
    }
    #[inline(always)]
    unsafe fn gather(base: &[u64], offsets: __m512i, from: usize) -> Self {
        // SAFETY: see above the impl; the bounds are the caller's contract.
        unsafe { gather_fq(base, offsets, from) }
    }
    #[inline(always)]
    unsafe fn scatter(&self, base: &mut [u64], offsets: __m512i, from: usize) {
        // SAFETY: see above the impl; the bounds are the caller's contract.
        unsafe { scatter_fq(base, offsets, from, self) }
    }
    fn to_ark(&self, inv16: &Fq) -> [Fq; 8] {
        // SAFETY: see above the impl.
        let l = unsafe { field::to_lanes(self) };
        l.map(|v| field::to_ark(&v, inv16))
    }
    fn from_ark(_: &Consts, v: &[Fq; 8]) -> Self {
        // SAFETY: see above the impl (`Consts` is a lane value).
        unsafe { field::from_lanes(&v.map(|x| field::from_ark(&x))) }
    }
    fn words(x: &Fq, out: &mut [u64]) {
        out[..LIMBS].copy_from_slice(&field::from_ark(x));
    }
    fn from_words(w: &[u64], inv16: &Fq) -> Fq {
        field::to_ark(&limbs(w), inv16)
    }
}

impl LaneField for Fe2 {
    type Ark = Fq2;
    const WORDS: usize = 2 * LIMBS;

    #[inline(always)]
    fn mul(&self, b: &Self) -> Self {
        // SAFETY: see above the `Fe8` impl.
        unsafe { field2::mul(self, b) }
    }
    #[inline(always)]
    fn square(&self) -> Self {
        // SAFETY: see above the `Fe8` impl.
        unsafe { field2::square(self) }
    }
    #[inline(always)]
    fn add(&self, b: &Self) -> Self {
        // SAFETY: see above the `Fe8` impl.
        unsafe { field2::add(self, b) }
    }
    #[inline(always)]
    fn sub(&self, b: &Self, kq: &Fe8) -> Self {
        // SAFETY: see above the `Fe8` impl.
        unsafe { field2::sub(self, b, kq) }
    }
    #[inline(always)]
    fn cond_sub(&self, m: &Fe8) -> Self {
        // SAFETY: see above the `Fe8` impl.
        unsafe { field2::cond_sub(self, m) }
    }
    #[inline(always)]
    fn is_zero(&self, c: &Consts) -> __mmask8 {
        // SAFETY: see above the `Fe8` impl.
        unsafe { field2::is_zero(self, c) }
    }
    #[inline(always)]
    fn select(m: __mmask8, a: &Self, b: &Self) -> Self {
        // SAFETY: see above the `Fe8` impl.
        unsafe { field2::select(m, a, b) }
    }
    #[inline(always)]
    fn embed(c: &Consts, v: &Fe8) -> Self {
        Fe2 { c0: *v, c1: c.zero }
    }
    #[inline(always)]
    unsafe fn gather(base: &[u64], offsets: __m512i, from: usize) -> Self {
        // SAFETY: see above the `Fe8` impl; the bounds are the caller's
        // contract (`WORDS` words from `from`, that is both components).
        unsafe {
            Fe2 {
                c0: gather_fq(base, offsets, from),
                c1: gather_fq(base, offsets, from + LIMBS),
            }
        }
    }
    #[inline(always)]
    unsafe fn scatter(&self, base: &mut [u64], offsets: __m512i, from: usize) {
        // SAFETY: as in `gather`.
        unsafe {
            scatter_fq(base, offsets, from, &self.c0);
            scatter_fq(base, offsets, from + LIMBS, &self.c1);
        }
    }
    fn to_ark(&self, inv16: &Fq) -> [Fq2; 8] {
        // SAFETY: see above the `Fe8` impl.
        unsafe { field2::to_ark(self, inv16) }
    }
    fn from_ark(_: &Consts, v: &[Fq2; 8]) -> Self {
        // SAFETY: see above the `Fe8` impl (`Consts` is a lane value).
        unsafe { field2::from_ark(v) }
    }
    /// `1 / a = conj(a) / (a0^2 + a1^2)`: the norms on lanes, one inversion
    /// of eight `Fq` values, the products on lanes.
    fn invert(&self, c: &Consts, inv16: &Fq) -> Self {
        let n = self.c0.square().add(&self.c1.square());
        // Below 4q: reduce the norm before it leaves the lanes.
        let n = n.cond_sub(&c.q2);
        let inv_n = n.invert(c, inv16);
        Fe2 {
            c0: self.c0.mul(&inv_n),
            c1: c.zero.sub(&self.c1, &c.q2).mul(&inv_n),
        }
    }
    fn words(x: &Fq2, out: &mut [u64]) {
        field2::words(x, out);
    }
    fn from_words(w: &[u64], inv16: &Fq) -> Fq2 {
        Fq2::new(
            field::to_ark(&limbs(&w[..LIMBS]), inv16),
            field::to_ark(&limbs(&w[LIMBS..]), inv16),
        )
    }
}

/// A curve whose buckets the lanes can hold.
pub(crate) trait LaneCurve: SWCurveConfig<ScalarField = ark_bn254::Fr> {
    /// Its base field on lanes.
    type F: LaneField<Ark = Self::BaseField>;
    /// `beta` with `(beta x, y) = lambda (x, y)` for the `lambda` of
    /// [`crate::glv`] (G1's), on this curve's prime-order subgroup (and
    /// only there: G2 bases must be in it).
    fn beta() -> Self::BaseField;
}

/// Words of one point record: x, then y.
pub(crate) const fn stride<C: LaneCurve>() -> usize {
    2 * <C::F as LaneField>::WORDS
}

impl LaneCurve for g1::Config {
    type F = Fe8;
    fn beta() -> Fq {
        crate::glv::BETA
    }
}

impl LaneCurve for g2::Config {
    type F = Fe2;
    /// On G2, `(beta x, y)` is `lambda^2 P` (arkworks' G2 `LAMBDA`), so
    /// `beta^2` goes with G1's `lambda` (`lambda^4 = lambda`).
    fn beta() -> Fq2 {
        Fq2::new(crate::glv::BETA.square(), Fq::from(0u64))
    }
}

/// The record of `p` (not the identity) into `out` (`stride` words).
pub(crate) fn record<C: LaneCurve>(p: &Affine<C>, out: &mut [u64]) {
    let w = <C::F as LaneField>::WORDS;
    C::F::words(&p.x, &mut out[..w]);
    C::F::words(&p.y, &mut out[w..2 * w]);
}

/// The point of a record.
pub(crate) fn to_affine<C: LaneCurve>(r: &[u64], inv16: &Fq) -> Affine<C> {
    let w = <C::F as LaneField>::WORDS;
    Affine::new_unchecked(
        C::F::from_words(&r[..w], inv16),
        C::F::from_words(&r[w..2 * w], inv16),
    )
}

/// Negates the y of a record in place: each component `y_i` becomes
/// `q - y_i`, or stays `0` (records stay canonical).
pub(crate) fn negate_y<C: LaneCurve>(r: &mut [u64]) {
    let w = <C::F as LaneField>::WORDS;
    for comp in r[w..2 * w].chunks_exact_mut(LIMBS) {
        if comp.iter().all(|&l| l == 0) {
            continue;
        }
        let mut borrow = 0i64;
        for (k, l) in comp.iter_mut().enumerate() {
            let v = field::Q[k] as i64 - *l as i64 + borrow;
            *l = (v as u64) & ((1 << 52) - 1);
            borrow = v >> 52;
        }
    }
}
