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

use super::curve::{LaneCurve, LaneField, stride};
use super::field::Consts;
use super::simd::{__mmask8, _mm512_add_epi64, _mm512_set1_epi64};
use ark_bn254::Fq;
use ark_ec::PrimeGroup;
use ark_ec::short_weierstrass::{Bucket, Projective};
use ark_ff::Zero;

/// Below this many buckets a window is reduced in arkworks' arithmetic.
pub(super) const MIN_LANE_BUCKETS: usize = 64;

/// Eight points in XYZZ coordinates, each below `2q`.
#[derive(Clone, Copy)]
struct Xyzz<F> {
    x: F,
    y: F,
    zz: F,
    zzz: F,
}

impl<F: LaneField> Xyzz<F> {
    #[inline]
    fn select(m: __mmask8, a: &Self, b: &Self) -> Self {
        Self {
            x: F::select(m, &a.x, &b.x),
            y: F::select(m, &a.y, &b.y),
            zz: F::select(m, &a.zz, &b.zz),
            zzz: F::select(m, &a.zzz, &b.zzz),
        }
    }
}

/// `X3 = R^2 - PPP - 2Q`, `Y3 = R (Q - X3) - S PPP`, the shared tail of the
/// two additions (`r` below `4q`, the rest below `2q`); both results below
/// `2q`.
#[inline(always)]
fn tail<F: LaneField>(r: &F, ppp: &F, q: &F, s: &F, c: &Consts) -> (F, F) {
    let r2 = r.square();
    // Below 8q, then 4q, then 2q.
    let x3 = r2.sub(ppp, &c.q2).sub(q, &c.q2).sub(q, &c.q2);
    let x3 = x3.cond_sub(&c.q4).cond_sub(&c.q2);
    let y3 = r.mul(&q.sub(&x3, &c.q2));
    let y3 = y3.sub(&s.mul(ppp), &c.q2);
    (x3, y3.cond_sub(&c.q2))
}

/// `a + (x, y)` for affine `(x, y)` below `2q` (madd-2008-s), with `P` and
/// `R` (below `4q`): the sum is meaningless where `P = 0`.
#[inline(always)]
fn add_affine<F: LaneField>(a: &Xyzz<F>, x: &F, y: &F, c: &Consts) -> (Xyzz<F>, F, F) {
    let p = x.mul(&a.zz).sub(&a.x, &c.q2);
    let r = y.mul(&a.zzz).sub(&a.y, &c.q2);
    let pp = p.square();
    let ppp = p.mul(&pp);
    let q = a.x.mul(&pp);
    let (x3, y3) = tail(&r, &ppp, &q, &a.y, c);
    let sum = Xyzz {
        x: x3,
        y: y3,
        zz: a.zz.mul(&pp),
        zzz: a.zzz.mul(&ppp),
    };
    (sum, p, r)
}

/// `a + b` (add-2008-s), with `P` and `R` as in [`add_affine`].
#[inline(always)]
fn add<F: LaneField>(a: &Xyzz<F>, b: &Xyzz<F>, c: &Consts) -> (Xyzz<F>, F, F) {
    let u1 = a.x.mul(&b.zz);
    let u2 = b.x.mul(&a.zz);
    let s1 = a.y.mul(&b.zzz);
    let s2 = b.y.mul(&a.zzz);
    let p = u2.sub(&u1, &c.q2);
    let r = s2.sub(&s1, &c.q2);
    let pp = p.square();
    let ppp = p.mul(&pp);
    let q = u1.mul(&pp);
    let (x3, y3) = tail(&r, &ppp, &q, &s1, c);
    let sum = Xyzz {
        x: x3,
        y: y3,
        zz: a.zz.mul(&b.zz).mul(&pp),
        zzz: a.zzz.mul(&b.zzz).mul(&ppp),
    };
    (sum, p, r)
}

/// `2a` (dbl-2008-s-1 with `a = 0`).
#[inline(always)]
fn double<F: LaneField>(a: &Xyzz<F>, c: &Consts) -> Xyzz<F> {
    let u = a.y.add(&a.y);
    let v = u.square();
    let w = u.mul(&v);
    let s = a.x.mul(&v);
    let x2 = a.x.square();
    // 3 x^2 is below 6q; below 4q for the products (Fq2's bound).
    let m = x2.add(&x2).add(&x2).cond_sub(&c.q4);
    let m2 = m.square();
    // Below 6q, then below 2q.
    let x3 = m2.sub(&s, &c.q2).sub(&s, &c.q2);
    let x3 = x3.cond_sub(&c.q4).cond_sub(&c.q2);
    let y3 = m.mul(&s.sub(&x3, &c.q2));
    let y3 = y3.sub(&w.mul(&a.y), &c.q2);
    Xyzz {
        x: x3,
        y: y3.cond_sub(&c.q2),
        zz: v.mul(&a.zz),
        zzz: w.mul(&a.zzz),
    }
}

/// A sum on lanes with its lanes at infinity.
#[derive(Clone, Copy)]
struct Acc<F> {
    p: Xyzz<F>,
    inf: __mmask8,
}

impl<F: LaneField> Acc<F> {
    /// `sum` where `P != 0`; where `P = 0` the inputs had the same x: the
    /// double of `a` when `R = 0` too (equal points), else infinity.
    #[inline(always)]
    fn settle(&mut self, sum: &Xyzz<F>, p: &F, r: &F, lanes: __mmask8, c: &Consts) {
        let same_x = lanes & p.is_zero(c);
        self.p = Xyzz::select(lanes & !same_x, &self.p, sum);
        if same_x != 0 {
            let equal = same_x & r.is_zero(c);
            self.p = Xyzz::select(equal, &self.p, &double(&self.p, c));
            self.inf |= same_x & !equal;
        }
    }
}

/// `sum_b (b + 1) * buckets[b]` over the bucket records `b <
/// present.len()` whose `present[b]` is set (the others are empty), on
/// eight lanes.
///
/// # Safety
/// The CPU has AVX-512F and IFMA; `present.len()` is a multiple of eight,
/// at least [`MIN_LANE_BUCKETS`], and `buckets` holds at least
/// `present.len()` records.
#[cfg_attr(
    not(feature = "ifma-emulated"),
    target_feature(enable = "avx512f,avx512ifma")
)]
pub(super) unsafe fn reduce<C: LaneCurve>(
    buckets: &[u64],
    present: &[bool],
    inv16: &Fq,
) -> Projective<C> {
    debug_assert!(present.len().is_multiple_of(8) && present.len() >= MIN_LANE_BUCKETS);
    let s = stride::<C>();
    let w = s / 2;
    debug_assert!(present.len() * s <= buckets.len());
    let c = Consts::new();
    let seg = present.len() / 8;
    let zero = C::F::embed(&c, &c.zero);
    let one = C::F::embed(&c, &c.one);
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
    // Record offsets (in words) of the first bucket of each segment.
    let first = super::record_offsets(core::array::from_fn(|l| (l * seg) as u32), s);
    for i in (0..seg).rev() {
        let here: __mmask8 = (0..8).fold(0, |m, l| m | (u8::from(present[l * seg + i]) << l));
        if here != 0 {
            let offsets = _mm512_add_epi64(first, _mm512_set1_epi64((i * s) as i64));
            // SAFETY: lane l reads bucket `l * seg + i < present.len()`,
            // within `buckets` (the caller's contract).
            let (x, y) = unsafe {
                (
                    C::F::gather(buckets, offsets, 0),
                    C::F::gather(buckets, offsets, w),
                )
            };
            let point = Xyzz {
                x,
                y,
                zz: one,
                zzz: one,
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
    let running = to_buckets::<C>(&running, inv16);
    let total = to_buckets::<C>(&total, inv16);
    // sum_l T_l + seg * sum_l l R_l, the inner sum by running sums again.
    let mut run = Bucket::<C>::default();
    let mut weighted = Bucket::<C>::default();
    for r in running[1..].iter().rev() {
        run += r;
        weighted += &run;
    }
    let mut out = Projective::<C>::from(weighted).mul_bigint([seg as u64]);
    for t in &total {
        out += t;
    }
    out
}

/// The eight lanes of `a` as arkworks' XYZZ points.
fn to_buckets<C: LaneCurve>(a: &Acc<C::F>, inv16: &Fq) -> [Bucket<C>; 8] {
    let coords = [&a.p.x, &a.p.y, &a.p.zz, &a.p.zzz].map(|v| v.to_ark(inv16));
    core::array::from_fn(|l| {
        if a.inf & (1 << l) != 0 {
            return Bucket::default();
        }
        let b = Bucket::<C> {
            x: coords[0][l],
            y: coords[1][l],
            zz: coords[2][l],
            zzz: coords[3][l],
        };
        debug_assert!(!b.zz.is_zero());
        b
    })
}

#[cfg(test)]
mod tests {
    use super::super::curve::record;
    use super::*;
    use ark_bn254::{Fr, g1, g2};
    use ark_ec::CurveGroup;
    use ark_ec::short_weierstrass::Affine;
    use ark_ff::UniformRand;
    use ark_std::rand::{Rng, SeedableRng, rngs::StdRng};

    /// `sum_b (b + 1) * bucket_b` by the definition.
    fn naive<C: LaneCurve>(buckets: &[Option<Affine<C>>]) -> Projective<C> {
        buckets
            .iter()
            .enumerate()
            .filter_map(|(b, p)| p.map(|p| p * Fr::from(b as u64 + 1)))
            .sum()
    }

    fn lanes<C: LaneCurve>(buckets: &[Option<Affine<C>>]) -> Projective<C> {
        let s = stride::<C>();
        let mut records = vec![0u64; (buckets.len() + 8) * s];
        for (r, p) in records.chunks_exact_mut(s).zip(buckets) {
            if let Some(p) = p {
                record(p, r);
            }
        }
        let present: Vec<bool> = buckets.iter().map(Option::is_some).collect();
        // SAFETY: `lanes_here` said the CPU has IFMA; the lengths are
        // multiples of eight and at least the minimum (asserted by `check`).
        unsafe { reduce::<C>(&records, &present, &super::super::field::ark_inv16()) }
    }

    fn check<C: LaneCurve>(buckets: &[Option<Affine<C>>]) {
        assert!(buckets.len() >= MIN_LANE_BUCKETS && buckets.len().is_multiple_of(8));
        assert_eq!(lanes(buckets), naive(buckets));
    }

    fn random_points<C: LaneCurve>(n: usize, rng: &mut StdRng) -> Vec<Affine<C>> {
        let v: Vec<Projective<C>> = (0..n).map(|_| Projective::<C>::rand(rng)).collect();
        Projective::<C>::normalize_batch(&v)
    }

    fn random_buckets_some_empty_in<C: LaneCurve>() {
        let mut rng = StdRng::seed_from_u64(11);
        for (n, empty_in) in [(64usize, 2u32), (256, 8), (4096, 7), (1024, 100)] {
            let pts = random_points::<C>(n, &mut rng);
            let buckets: Vec<_> = pts
                .into_iter()
                .map(|p| (rng.gen_range(0..empty_in) != 0).then_some(p))
                .collect();
            check(&buckets);
        }
    }

    fn empty_and_single_buckets_in<C: LaneCurve>() {
        let mut rng = StdRng::seed_from_u64(12);
        let p = random_points::<C>(1, &mut rng)[0];
        check::<C>(&[None; 64]);
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

    fn equal_and_opposite_points_in<C: LaneCurve>() {
        let mut rng = StdRng::seed_from_u64(13);
        let p = random_points::<C>(1, &mut rng)[0];
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
        let mut buckets: Vec<_> = random_points::<C>(64, &mut rng)
            .into_iter()
            .map(Some)
            .collect();
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

    #[test]
    fn random_buckets_some_empty() {
        if !super::super::tests::lanes_here() {
            return;
        }
        random_buckets_some_empty_in::<g1::Config>();
        random_buckets_some_empty_in::<g2::Config>();
    }

    #[test]
    fn empty_and_single_buckets() {
        if !super::super::tests::lanes_here() {
            return;
        }
        empty_and_single_buckets_in::<g1::Config>();
        empty_and_single_buckets_in::<g2::Config>();
    }

    #[test]
    fn equal_and_opposite_points() {
        if !super::super::tests::lanes_here() {
            return;
        }
        equal_and_opposite_points_in::<g1::Config>();
        equal_and_opposite_points_in::<g2::Config>();
    }
}
