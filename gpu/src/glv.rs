//! GLV for BN254 G1: `phi(x, y) = (beta x, y)` is `P -> lambda P`, so a
//! scalar `k` below `r` (254 bits) becomes `k1 + k2 lambda` with
//! `|k1|, |k2| < 2^128`, and an MSM of `n` terms one of `2n` terms with
//! half-length scalars: half as many windows, so half the bucket
//! reductions, for the price of one `Fq` product per point.
//!
//! The decomposition is Babai rounding in the lattice
//! `{(a, b) : a + b lambda = 0 mod r}` with the short basis
//! `v1 = (A, -B)`, `v2 = (B, A + B)` (`A` 127 bits, `B` 64 bits,
//! `det = r`): `c1 = floor(k (A + B) / r)`, `c2 = floor(k B / r)`,
//! `k1 = k - c1 A - c2 B`, `k2 = c1 B - c2 (A + B)`. The quotients come
//! from fixed-point reciprocals (`g = floor(2^256 x / r)`), so each may be
//! one below the true floor (`k / 2^256 < 1/4` is all they lose); that
//! keeps `0 <= k1 < 1.25 (A + B)` and `|k2| < 1.25 (A + B)`, below `2^128`
//! (`A + B` is about `0.87 * 2^127`).

use ark_bn254::{Fq, g1};
use ark_ec::scalar_mul::glv::GLVConfig;

/// Bits of the half scalars.
pub(crate) const HALF_BITS: usize = 128;

/// `beta`, the cube root of unity in `Fq` that goes with `lambda` (arkworks'
/// pair; the tests check `phi(P) = lambda P`).
pub(crate) const BETA: Fq = <g1::Config as GLVConfig>::ENDO_COEFFS[0];

const A: [u64; 2] = [0x8211_bbeb_7d4f_1128, 0x6f4d_8248_eeb8_59fc];
const B: [u64; 2] = [0x89d3_2568_94d2_13e3, 0];
const A_PLUS_B: [u64; 2] = [0x0be4_e154_1221_250b, 0x6f4d_8248_eeb8_59fd];
/// `floor(2^256 (A + B) / r)` and `floor(2^256 B / r)`.
const G1: [u64; 3] = [0x5398_fd03_00ff_6565, 0x4cce_f014_a773_d2d2, 0x2];
const G2: [u64; 3] = [0xd91d_232e_c7e0_b3d7, 0x2, 0];

/// `(a b) >> 256` for `a < 2^256`, `b < 2^192`, when it is below `2^128`.
fn mul_shift(a: &[u64; 4], b: &[u64; 3]) -> [u64; 2] {
    let mut t = [0u64; 7];
    for (i, &ai) in a.iter().enumerate() {
        let mut carry = 0u128;
        for (j, &bj) in b.iter().enumerate() {
            let v = u128::from(ai) * u128::from(bj) + u128::from(t[i + j]) + carry;
            t[i + j] = v as u64;
            carry = v >> 64;
        }
        t[i + 3] = carry as u64;
    }
    debug_assert_eq!(t[6], 0);
    [t[4], t[5]]
}

/// `a b mod 2^192`.
fn mul_lo(a: &[u64; 2], b: &[u64; 2]) -> [u64; 3] {
    let mut t = [0u64; 3];
    for (i, &ai) in a.iter().enumerate() {
        let mut carry = 0u128;
        for (j, &bj) in b.iter().enumerate() {
            if i + j >= 3 {
                break;
            }
            let v = u128::from(ai) * u128::from(bj) + u128::from(t[i + j]) + carry;
            t[i + j] = v as u64;
            carry = v >> 64;
        }
        if i + 2 < 3 {
            t[i + 2] = t[i + 2].wrapping_add(carry as u64);
        }
    }
    t
}

/// `a - b mod 2^192`.
fn sub_lo(a: &[u64; 3], b: &[u64; 3]) -> [u64; 3] {
    let mut out = [0u64; 3];
    let mut borrow = false;
    for k in 0..3 {
        let (v, b1) = a[k].overflowing_sub(b[k]);
        let (v, b2) = v.overflowing_sub(u64::from(borrow));
        out[k] = v;
        borrow = b1 | b2;
    }
    out
}

/// A value in `(-2^128, 2^128)` given mod `2^192`: whether it is negative,
/// and its absolute value.
fn sign_abs(v: &[u64; 3]) -> (bool, [u64; 2]) {
    if v[2] >> 63 == 0 {
        debug_assert_eq!(v[2], 0);
        return (false, [v[0], v[1]]);
    }
    let n = sub_lo(&[0; 3], v);
    debug_assert_eq!(n[2], 0);
    (true, [n[0], n[1]])
}

/// `k = k1 + k2 lambda (mod r)` for `k < r` given as four little-endian
/// limbs: `[(k1 < 0, |k1|), (k2 < 0, |k2|)]`.
pub(crate) fn decompose(k: &[u64; 4]) -> [(bool, [u64; 2]); 2] {
    let c1 = mul_shift(k, &G1);
    let c2 = mul_shift(k, &G2);
    let k_lo = [k[0], k[1], k[2]];
    let k1 = sub_lo(&sub_lo(&k_lo, &mul_lo(&c1, &A)), &mul_lo(&c2, &B));
    let k2 = sub_lo(&mul_lo(&c1, &B), &mul_lo(&c2, &A_PLUS_B));
    [sign_abs(&k1), sign_abs(&k2)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{Fr, G1Affine, G1Projective};
    use ark_ec::{AffineRepr, CurveGroup};
    use ark_ff::{BigInt, BigInteger, Field, PrimeField, UniformRand};
    use ark_std::rand::{SeedableRng, rngs::StdRng};

    fn to_fr((neg, abs): (bool, [u64; 2])) -> Fr {
        let v = Fr::from_bigint(BigInt([abs[0], abs[1], 0, 0])).expect("below r");
        if neg { -v } else { v }
    }

    /// The high limb of `1.25 (A + B)`.
    const BOUND_HIGH: u64 = 0x8b20_e2db_2a66_707c;

    fn check(k: Fr) {
        let [k1, k2] = decompose(&k.into_bigint().0);
        // Both halves below 1.25 (A + B) (high limb shown), the bound the
        // module doc derives; below 2^128 is then implied.
        assert!(k1.1[1] <= BOUND_HIGH && k2.1[1] <= BOUND_HIGH, "k = {k}");
        assert!(!k1.0, "k1 is never negative: k = {k}");
        let lambda = <g1::Config as GLVConfig>::LAMBDA;
        assert_eq!(to_fr(k1) + to_fr(k2) * lambda, k, "k = {k}");
    }

    #[test]
    fn constants_are_the_lattice() {
        let lambda = <g1::Config as GLVConfig>::LAMBDA;
        let fr = |l: [u64; 2]| Fr::from_bigint(BigInt([l[0], l[1], 0, 0])).expect("small");
        let (a, b, ab) = (fr(A), fr(B), fr(A_PLUS_B));
        assert_eq!(a + b, ab);
        // v1 = (A, -B) and v2 = (B, A + B) are in the lattice.
        assert_eq!(a - b * lambda, Fr::from(0u64));
        assert_eq!(b + ab * lambda, Fr::from(0u64));
        // The reciprocals: 0 <= 2^256 x - g r < r.
        for (g, x) in [(G1, A_PLUS_B), (G2, B)] {
            let g = BigInt([g[0], g[1], g[2], 0]);
            let (lo, hi) = g.mul(&Fr::MODULUS);
            // 2^256 x - (hi 2^256 + lo): high half x - hi - borrow, low -lo.
            let mut low = BigInt::<4>::zero();
            let borrow = low.sub_with_borrow(&lo);
            let mut high = BigInt([x[0], x[1], 0, 0]);
            let under = high.sub_with_borrow(&hi);
            let under2 = high.sub_with_borrow(&BigInt::from(u64::from(borrow)));
            assert!(!under && !under2 && high.is_zero());
            assert!(low < Fr::MODULUS);
        }
    }

    #[test]
    fn decomposition_recomposes() {
        let mut rng = StdRng::seed_from_u64(1);
        let lambda = <g1::Config as GLVConfig>::LAMBDA;
        for k in [
            Fr::from(0u64),
            Fr::from(1u64),
            -Fr::from(1u64),
            -Fr::from(2u64),
            lambda,
            -lambda,
            Fr::from(u64::MAX),
            Fr::from(2u64).inverse().unwrap_or_default(),
        ] {
            check(k);
        }
        for _ in 0..20_000 {
            check(Fr::rand(&mut rng));
        }
    }

    #[test]
    fn beta_goes_with_lambda() {
        let mut rng = StdRng::seed_from_u64(2);
        let lambda = <g1::Config as GLVConfig>::LAMBDA;
        for _ in 0..8 {
            let p = G1Projective::rand(&mut rng).into_affine();
            let phi = G1Affine::new_unchecked(p.x * BETA, p.y);
            assert_eq!(phi, (p * lambda).into_affine());
        }
        let g = G1Affine::generator();
        assert_eq!(
            G1Affine::new_unchecked(g.x * BETA, g.y),
            (g * lambda).into_affine()
        );
    }
}
