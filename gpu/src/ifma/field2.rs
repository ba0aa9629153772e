//! BN254 `Fq2 = Fq[u] / (u^2 + 1)` on eight lanes: eight independent
//! elements, each component an [`Fe8`] lane of [`super::field`].
//!
//! The bounds are those of `field.rs`, per component, with one difference:
//! a product takes components below `4q` (not `8q`), because Karatsuba
//! multiplies the sums `a0 + a1` and `b0 + b1`, which must stay below `8q`.
//! Outputs of [`mul`] and [`square`] are below `2q`, as in `field.rs`.
//!
//! (Eight independent elements rather than four with `c0` and `c1` side by
//! side: every `Fq2` operation is then a few `Fe8` operations, with no lane
//! shuffles, and a batch still fills all eight lanes.)

use super::field::{self, Fe8, LIMBS, Limbs, Q2, Q4};
use super::simd::__mmask8;
use ark_bn254::{Fq, Fq2};

/// Eight `Fq2` elements.
#[derive(Clone, Copy)]
pub(crate) struct Fe2 {
    pub(crate) c0: Fe8,
    pub(crate) c1: Fe8,
}

/// `a b` (Karatsuba, three lane products): components below `4q` in,
/// below `2q` out.
#[cfg_attr(
    not(feature = "ifma-emulated"),
    target_feature(enable = "avx512f,avx512ifma")
)]
#[inline]
pub(crate) fn mul(a: &Fe2, b: &Fe2) -> Fe2 {
    let (q2, q4) = (field::splat(&Q2), field::splat(&Q4));
    let v0 = field::mul(&a.c0, &b.c0);
    let v1 = field::mul(&a.c1, &b.c1);
    // Both sums below 8q.
    let s = field::mul(&field::add(&a.c0, &a.c1), &field::add(&b.c0, &b.c1));
    // c0 = v0 - v1, below 4q; c1 = s - v0 - v1, below 6q (v0 + v1 < 4q).
    let c0 = field::sub(&v0, &v1, &q2);
    let c1 = field::sub(&s, &field::add(&v0, &v1), &q4);
    Fe2 {
        c0: field::cond_sub(&c0, &q2),
        c1: field::cond_sub(&field::cond_sub(&c1, &q4), &q2),
    }
}

/// `a^2` (two lane products: `(a0 + a1)(a0 - a1)` and `2 a0 a1`), with
/// [`mul`]'s bounds.
#[cfg_attr(
    not(feature = "ifma-emulated"),
    target_feature(enable = "avx512f,avx512ifma")
)]
#[inline]
pub(crate) fn square(a: &Fe2) -> Fe2 {
    let (q2, q4) = (field::splat(&Q2), field::splat(&Q4));
    // a0 + a1 and a0 + 4q - a1, both below 8q.
    let c0 = field::mul(&field::add(&a.c0, &a.c1), &field::sub(&a.c0, &a.c1, &q4));
    let m = field::mul(&a.c0, &a.c1);
    Fe2 {
        c0,
        c1: field::cond_sub(&field::add(&m, &m), &q2),
    }
}

/// `a + k q - b`, per component (see [`field::sub`]).
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn sub(a: &Fe2, b: &Fe2, kq: &Fe8) -> Fe2 {
    Fe2 {
        c0: field::sub(&a.c0, &b.c0, kq),
        c1: field::sub(&a.c1, &b.c1, kq),
    }
}

/// `a + b`, per component.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn add(a: &Fe2, b: &Fe2) -> Fe2 {
    Fe2 {
        c0: field::add(&a.c0, &b.c0),
        c1: field::add(&a.c1, &b.c1),
    }
}

/// [`field::cond_sub`] per component.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn cond_sub(a: &Fe2, m: &Fe8) -> Fe2 {
    Fe2 {
        c0: field::cond_sub(&a.c0, m),
        c1: field::cond_sub(&a.c1, m),
    }
}

/// The lanes where `a` (components below `4q`) is zero.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn is_zero(a: &Fe2, c: &field::Consts) -> __mmask8 {
    field::is_zero(&a.c0, c) & field::is_zero(&a.c1, c)
}

/// `b` in the lanes of `m`, `a` elsewhere.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn select(m: __mmask8, a: &Fe2, b: &Fe2) -> Fe2 {
    Fe2 {
        c0: field::select(m, &a.c0, &b.c0),
        c1: field::select(m, &a.c1, &b.c1),
    }
}

/// The eight lanes as arkworks' `Fq2`.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn to_ark(a: &Fe2, inv16: &Fq) -> [Fq2; 8] {
    let (c0, c1) = (field::to_lanes(&a.c0), field::to_lanes(&a.c1));
    core::array::from_fn(|l| Fq2::new(field::to_ark(&c0[l], inv16), field::to_ark(&c1[l], inv16)))
}

/// Eight arkworks `Fq2` into lanes (canonical components).
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
pub(crate) fn from_ark(v: &[Fq2; 8]) -> Fe2 {
    let c0: [Limbs; 8] = core::array::from_fn(|l| field::from_ark(&v[l].c0));
    let c1: [Limbs; 8] = core::array::from_fn(|l| field::from_ark(&v[l].c1));
    Fe2 {
        c0: field::from_lanes(&c0),
        c1: field::from_lanes(&c1),
    }
}

/// Words of a record coordinate: `c0`'s limbs, then `c1`'s.
pub(crate) fn words(x: &Fq2, out: &mut [u64]) {
    out[..LIMBS].copy_from_slice(&field::from_ark(&x.c0));
    out[LIMBS..2 * LIMBS].copy_from_slice(&field::from_ark(&x.c1));
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{Field, One, UniformRand, Zero};
    use ark_std::rand::{SeedableRng, rngs::StdRng};

    fn samples(rng: &mut StdRng) -> Vec<Fq2> {
        let mut v = vec![
            Fq2::zero(),
            Fq2::one(),
            -Fq2::one(),
            Fq2::new(Fq::zero(), Fq::one()),
            Fq2::new(Fq::zero(), -Fq::one()),
            Fq2::new(-Fq::one(), -Fq::one()),
            Fq2::new(Fq::from(u64::MAX), -Fq::from(2u64)),
        ];
        v.extend((0..41).map(|_| Fq2::rand(rng)));
        v
    }

    /// `a` with `k q` added to each component (the same element, the
    /// largest representations the contract allows for `k = 3`).
    fn plus_kq(a: &Fe2, k: u64) -> Fe2 {
        // SAFETY: called only after `lanes_here()` said the CPU has IFMA.
        unsafe {
            let kq = field::splat(&field::times_q(k));
            Fe2 {
                c0: field::add(&a.c0, &kq),
                c1: field::add(&a.c1, &kq),
            }
        }
    }

    fn below(a: &Fe2, k: u64) -> bool {
        // SAFETY: as above.
        let (c0, c1) = unsafe { (field::to_lanes(&a.c0), field::to_lanes(&a.c1)) };
        let bound = ark_ff::BigInt(field::from_limbs(&field::times_q(k)));
        c0.iter()
            .chain(&c1)
            .all(|l| ark_ff::BigInt(field::from_limbs(l)) < bound)
    }

    #[test]
    fn mul_and_square_match_ark_ff() {
        if !super::super::tests::lanes_here() {
            return;
        }
        let mut rng = StdRng::seed_from_u64(21);
        let v = samples(&mut rng);
        let inv16 = field::ark_inv16();
        for start in (0..v.len()).step_by(8) {
            for shift in 0..v.len() {
                let a: [Fq2; 8] = core::array::from_fn(|l| v[(start + l) % v.len()]);
                let b: [Fq2; 8] = core::array::from_fn(|l| v[(start + shift + l) % v.len()]);
                // SAFETY: IFMA is present (checked above).
                unsafe {
                    let (la, lb) = (from_ark(&a), from_ark(&b));
                    for k in [0, 3] {
                        // Canonical inputs and inputs just below 4q.
                        let (xa, xb) = (plus_kq(&la, k), plus_kq(&lb, k));
                        let p = mul(&xa, &xb);
                        let s = square(&xa);
                        let d = sub(&xa, &xb, &field::splat(&Q4));
                        assert!(below(&p, 2) && below(&s, 2));
                        let (p, s, d) = (to_ark(&p, &inv16), to_ark(&s, &inv16), d);
                        for l in 0..8 {
                            assert_eq!(p[l], a[l] * b[l]);
                            assert_eq!(s[l], a[l].square());
                        }
                        // `sub` is per component; its value mod q is a - b.
                        let d = to_ark(
                            &cond_sub(
                                &cond_sub(&cond_sub(&d, &field::splat(&Q4)), &field::splat(&Q4)),
                                &field::splat(&Q2),
                            ),
                            &inv16,
                        );
                        for l in 0..8 {
                            assert_eq!(d[l], a[l] - b[l]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn is_zero_select_and_words() {
        if !super::super::tests::lanes_here() {
            return;
        }
        let mut rng = StdRng::seed_from_u64(22);
        let v = samples(&mut rng);
        let a: [Fq2; 8] = core::array::from_fn(|l| v[l]);
        let b: [Fq2; 8] = core::array::from_fn(|l| v[l + 8]);
        let inv16 = field::ark_inv16();
        // SAFETY: IFMA is present (checked above).
        unsafe {
            let c = field::Consts::new();
            let la = from_ark(&a);
            let z = is_zero(&la, &c);
            // Zero is lane 0 only; q and 2q added are still zero.
            assert_eq!(z, 1);
            assert_eq!(is_zero(&plus_kq(&la, 3), &c), 1);
            let sel = to_ark(&select(0b1010_1010, &la, &from_ark(&b)), &inv16);
            for l in 0..8 {
                assert_eq!(sel[l], if l % 2 == 1 { b[l] } else { a[l] });
            }
        }
        for x in &v {
            let mut w = [0u64; 2 * LIMBS];
            words(x, &mut w);
            let c0: Limbs = core::array::from_fn(|k| w[k]);
            let c1: Limbs = core::array::from_fn(|k| w[LIMBS + k]);
            assert_eq!(
                Fq2::new(field::to_ark(&c0, &inv16), field::to_ark(&c1, &inv16)),
                *x
            );
        }
    }
}
