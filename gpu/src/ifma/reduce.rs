//! The bucket reduction of one window on lanes: `sum_b (b + 1) * bucket_b`.
//!
//! The running-sum method is a chain (each step needs the last), so the
//! lanes take eight chains at once: the buckets are cut into eight equal
//! segments, lane `l` runs the running sum `R_l` and the weighted sum `T_l`
//! of segment `l` with weights from 1 at its start, and the window's sum is
//! `sum_l T_l + L * sum_l l R_l` for segments of `L` buckets (eight
//! points, combined in arkworks' arithmetic).
//!
//! Points on lanes are in XYZZ coordinates (`x = X / ZZ`, `y = Y / ZZZ`),
//! the buckets are affine records. The addition formulas have exceptions
//! (a point at infinity, equal points, opposite points); a lane flag says
//! where a sum is at infinity, and equal or opposite inputs are recognised
//! from the formulas' own `P = 0` (same x) and `R = 0` (same y), so they are
//! done by doubling or by setting the flag instead. With random inputs they
//! are rare, but they occur (an empty bucket after a single full one makes
//! `T + R = 2R`), and adversarial inputs are answered the same way.

use super::field::{self, Consts, Fe8, LIMBS};
use super::{Record, gather};
use ark_bn254::{Fq, G1Projective, g1};
use ark_ec::PrimeGroup;
use ark_ec::short_weierstrass::Bucket;
use ark_ff::Zero;
use core::arch::x86_64::{__mmask8, _mm512_add_epi64, _mm512_set1_epi64};

/// Below this many buckets a window is reduced in arkworks' arithmetic.
pub(super) const MIN_LANE_BUCKETS: usize = 64;

/// Eight points in XYZZ coordinates, each below `2q`.
#[derive(Clone, Copy)]
struct Xyzz {
    x: Fe8,
    y: Fe8,
    zz: Fe8,
    zzz: Fe8,
}

impl Xyzz {
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn select(m: __mmask8, a: &Self, b: &Self) -> Self {
        Self {
            x: field::select(m, &a.x, &b.x),
            y: field::select(m, &a.y, &b.y),
            zz: field::select(m, &a.zz, &b.zz),
            zzz: field::select(m, &a.zzz, &b.zzz),
        }
    }
}

/// `X3 = R^2 - PPP - 2Q`, `Y3 = R (Q - X3) - S PPP`, the shared tail of the
/// two additions (`r` below `4q`, the rest below `2q`); both results below
/// `2q`.
#[target_feature(enable = "avx512f,avx512ifma")]
#[inline]
fn tail(r: &Fe8, ppp: &Fe8, q: &Fe8, s: &Fe8, c: &Consts) -> (Fe8, Fe8) {
    let r2 = field::mul(r, r);
    // Below 8q, then 4q, then 2q.
    let x3 = field::sub(
        &field::sub(&field::sub(&r2, ppp, &c.q2), q, &c.q2),
        q,
        &c.q2,
    );
    let x3 = field::cond_sub(&field::cond_sub(&x3, &c.q4), &c.q2);
    let y3 = field::mul(r, &field::sub(q, &x3, &c.q2));
    let y3 = field::sub(&y3, &field::mul(s, ppp), &c.q2);
    (x3, field::cond_sub(&y3, &c.q2))
}

/// `a + (x, y)` for affine `(x, y)` below `2q` (madd-2008-s), with `P` and
/// `R` (below `4q`): the sum is meaningless where `P = 0`.
#[target_feature(enable = "avx512f,avx512ifma")]
#[inline]
fn add_affine(a: &Xyzz, x: &Fe8, y: &Fe8, c: &Consts) -> (Xyzz, Fe8, Fe8) {
    let p = field::sub(&field::mul(x, &a.zz), &a.x, &c.q2);
    let r = field::sub(&field::mul(y, &a.zzz), &a.y, &c.q2);
    let pp = field::mul(&p, &p);
    let ppp = field::mul(&p, &pp);
    let q = field::mul(&a.x, &pp);
    let (x3, y3) = tail(&r, &ppp, &q, &a.y, c);
    let sum = Xyzz {
        x: x3,
        y: y3,
        zz: field::mul(&a.zz, &pp),
        zzz: field::mul(&a.zzz, &ppp),
    };
    (sum, p, r)
}

/// `a + b` (add-2008-s), with `P` and `R` as in [`add_affine`].
#[target_feature(enable = "avx512f,avx512ifma")]
#[inline]
fn add(a: &Xyzz, b: &Xyzz, c: &Consts) -> (Xyzz, Fe8, Fe8) {
    let u1 = field::mul(&a.x, &b.zz);
    let u2 = field::mul(&b.x, &a.zz);
    let s1 = field::mul(&a.y, &b.zzz);
    let s2 = field::mul(&b.y, &a.zzz);
    let p = field::sub(&u2, &u1, &c.q2);
    let r = field::sub(&s2, &s1, &c.q2);
    let pp = field::mul(&p, &p);
    let ppp = field::mul(&p, &pp);
    let q = field::mul(&u1, &pp);
    let (x3, y3) = tail(&r, &ppp, &q, &s1, c);
    let sum = Xyzz {
        x: x3,
        y: y3,
        zz: field::mul(&field::mul(&a.zz, &b.zz), &pp),
        zzz: field::mul(&field::mul(&a.zzz, &b.zzz), &ppp),
    };
    (sum, p, r)
}

/// `2a` (dbl-2008-s-1 with `a = 0`).
#[target_feature(enable = "avx512f,avx512ifma")]
#[inline]
fn double(a: &Xyzz, c: &Consts) -> Xyzz {
    let u = field::add(&a.y, &a.y);
    let v = field::mul(&u, &u);
    let w = field::mul(&u, &v);
    let s = field::mul(&a.x, &v);
    let x2 = field::mul(&a.x, &a.x);
    let m = field::add(&field::add(&x2, &x2), &x2);
    let m2 = field::mul(&m, &m);
    // Below 6q, then below 2q.
    let x3 = field::sub(&field::sub(&m2, &s, &c.q2), &s, &c.q2);
    let x3 = field::cond_sub(&field::cond_sub(&x3, &c.q4), &c.q2);
    let y3 = field::mul(&m, &field::sub(&s, &x3, &c.q2));
    let y3 = field::sub(&y3, &field::mul(&w, &a.y), &c.q2);
    Xyzz {
        x: x3,
        y: field::cond_sub(&y3, &c.q2),
        zz: field::mul(&v, &a.zz),
        zzz: field::mul(&w, &a.zzz),
    }
}

/// A sum on lanes with its lanes at infinity.
#[derive(Clone, Copy)]
struct Acc {
    p: Xyzz,
    inf: __mmask8,
}

impl Acc {
    /// `sum` where `P != 0`; where `P = 0` the inputs had the same x: the
    /// double of `a` when `R = 0` too (equal points), else infinity.
    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    fn settle(&mut self, sum: &Xyzz, p: &Fe8, r: &Fe8, lanes: __mmask8, c: &Consts) {
        let same_x = lanes & field::is_zero(p, c);
        self.p = Xyzz::select(lanes & !same_x, &self.p, sum);
        if same_x != 0 {
            let equal = same_x & field::is_zero(r, c);
            self.p = Xyzz::select(equal, &self.p, &double(&self.p, c));
            self.inf |= same_x & !equal;
        }
    }
}

/// `sum_b (b + 1) * buckets[b]` over the buckets `b < present.len()`
/// whose `present[b]` is set (the others are empty), on eight lanes.
///
/// # Safety
/// The CPU has AVX-512F and IFMA; `present.len()` is a multiple of eight,
/// at least [`MIN_LANE_BUCKETS`], and at most `buckets.len()`.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(super) unsafe fn reduce(buckets: &[Record], present: &[bool], inv16: &Fq) -> G1Projective {
    debug_assert!(present.len().is_multiple_of(8) && present.len() >= MIN_LANE_BUCKETS);
    debug_assert!(present.len() <= buckets.len());
    let c = Consts::new();
    let seg = present.len() / 8;
    let zero = field::splat(&[0; LIMBS]);
    let start = Xyzz {
        x: zero,
        y: zero,
        zz: zero,
        zzz: zero,
    };
    let mut running = Acc {
        p: start,
        inf: 0xff,
    };
    let mut total = running;
    // Record offsets (in u64) of the first bucket of each segment.
    let first = super::record_offsets(core::array::from_fn(|l| (l * seg) as u32));
    for i in (0..seg).rev() {
        let here: __mmask8 = (0..8).fold(0, |m, l| m | (u8::from(present[l * seg + i]) << l));
        if here != 0 {
            let offsets = _mm512_add_epi64(first, _mm512_set1_epi64((i * 2 * LIMBS) as i64));
            // SAFETY: lane l reads bucket `l * seg + i < present.len()`,
            // within `buckets` (the caller's contract).
            let (x, y) = unsafe { (gather(buckets, offsets, 0), gather(buckets, offsets, LIMBS)) };
            let point = Xyzz {
                x,
                y,
                zz: c.one,
                zzz: c.one,
            };
            let (sum, p, r) = add_affine(&running.p, &x, &y, &c);
            let fresh = here & running.inf;
            running.settle(&sum, &p, &r, here & !running.inf, &c);
            running.p = Xyzz::select(fresh, &running.p, &point);
            running.inf &= !fresh;
        }
        let live = !running.inf;
        if live != 0 {
            let (sum, p, r) = add(&total.p, &running.p, &c);
            let fresh = live & total.inf;
            total.settle(&sum, &p, &r, live & !total.inf, &c);
            total.p = Xyzz::select(fresh, &total.p, &running.p);
            total.inf &= !fresh;
        }
    }
    let running = to_buckets(&running, inv16);
    let total = to_buckets(&total, inv16);
    // sum_l T_l + seg * sum_l l R_l, the inner sum by running sums again.
    let mut run = Bucket::<g1::Config>::default();
    let mut weighted = Bucket::<g1::Config>::default();
    for r in running[1..].iter().rev() {
        run += r;
        weighted += &run;
    }
    let mut out = G1Projective::from(weighted).mul_bigint([seg as u64]);
    for t in &total {
        out += t;
    }
    out
}

/// The eight lanes of `a` as arkworks' XYZZ points.
#[target_feature(enable = "avx512f")]
fn to_buckets(a: &Acc, inv16: &Fq) -> [Bucket<g1::Config>; 8] {
    let coords = [&a.p.x, &a.p.y, &a.p.zz, &a.p.zzz].map(|v| field::to_lanes(v));
    core::array::from_fn(|l| {
        if a.inf & (1 << l) != 0 {
            return Bucket::default();
        }
        let f = |k: usize| field::to_ark(&coords[k][l], inv16);
        let b = Bucket {
            x: f(0),
            y: f(1),
            zz: f(2),
            zzz: f(3),
        };
        debug_assert!(!Fq::is_zero(&b.zz));
        b
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{Fr, G1Affine};
    use ark_ec::CurveGroup;
    use ark_ff::UniformRand;
    use ark_std::rand::{Rng, SeedableRng, rngs::StdRng};

    /// `sum_b (b + 1) * bucket_b` by the definition.
    fn naive(buckets: &[Option<G1Affine>]) -> G1Projective {
        buckets
            .iter()
            .enumerate()
            .filter_map(|(b, p)| p.map(|p| p * Fr::from(b as u64 + 1)))
            .sum()
    }

    fn lanes(buckets: &[Option<G1Affine>]) -> G1Projective {
        let mut records: Vec<Record> = buckets
            .iter()
            .map(|p| super::super::record(&p.unwrap_or_default()))
            .collect();
        records.extend([[0u64; 2 * LIMBS]; 8]);
        let present: Vec<bool> = buckets.iter().map(Option::is_some).collect();
        // SAFETY: `lanes_here` said the CPU has IFMA; the lengths are
        // multiples of eight and at least the minimum (asserted by `check`).
        unsafe { reduce(&records, &present, &field::ark_inv16()) }
    }

    fn check(buckets: &[Option<G1Affine>]) {
        assert!(buckets.len() >= MIN_LANE_BUCKETS && buckets.len().is_multiple_of(8));
        assert_eq!(lanes(buckets), naive(buckets));
    }

    fn random_points(n: usize, rng: &mut StdRng) -> Vec<G1Affine> {
        let v: Vec<G1Projective> = (0..n).map(|_| G1Projective::rand(rng)).collect();
        G1Projective::normalize_batch(&v)
    }

    #[test]
    fn random_buckets_some_empty() {
        if !super::super::tests::lanes_here() {
            return;
        }
        let mut rng = StdRng::seed_from_u64(11);
        for (n, empty_in) in [(64usize, 2u32), (256, 8), (4096, 7), (1024, 100)] {
            let pts = random_points(n, &mut rng);
            let buckets: Vec<_> = pts
                .into_iter()
                .map(|p| (rng.gen_range(0..empty_in) != 0).then_some(p))
                .collect();
            check(&buckets);
        }
    }

    #[test]
    fn empty_and_single_buckets() {
        if !super::super::tests::lanes_here() {
            return;
        }
        let mut rng = StdRng::seed_from_u64(12);
        let p = random_points(1, &mut rng)[0];
        check(&[None; 64]);
        // One full bucket per window: the total meets a running sum equal
        // to itself at every later step (doublings).
        for b in [0usize, 7, 8, 63] {
            let mut buckets = [None; 64];
            buckets[b] = Some(p);
            check(&buckets);
        }
        // One full bucket per segment, the top one of each.
        let mut buckets = vec![None; 128];
        for l in 0..8 {
            buckets[l * 16 + 15] = Some(p);
        }
        check(&buckets);
    }

    #[test]
    fn equal_and_opposite_points() {
        if !super::super::tests::lanes_here() {
            return;
        }
        let mut rng = StdRng::seed_from_u64(13);
        let p = random_points(1, &mut rng)[0];
        let two_p = (p + p).into_affine();
        // The same point everywhere: the running sum adds P to P (doubling)
        // at each segment's second step.
        check(&[Some(p); 64]);
        // P, -P alternating: the running sum returns to infinity.
        let alt: Vec<_> = (0..128)
            .map(|i| Some(if i % 2 == 0 { p } else { -p }))
            .collect();
        check(&alt);
        // From the top of a segment: P, then -2P (running -P, so the total
        // P + -P is infinity), then other points.
        let mut buckets: Vec<_> = random_points(64, &mut rng).into_iter().map(Some).collect();
        for l in 0..8 {
            buckets[l * 8 + 7] = Some(p);
            buckets[l * 8 + 6] = Some(-two_p);
        }
        check(&buckets);
        // P, 2P, -3P from the top of the last segment: running 3P, total
        // 4P, then the running sum cancels to infinity and stays there.
        let mut buckets = vec![None; 64];
        buckets[63] = Some(p);
        buckets[62] = Some(two_p);
        buckets[61] = Some(-(p + two_p).into_affine());
        check(&buckets);
    }
}
