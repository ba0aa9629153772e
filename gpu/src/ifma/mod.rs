//! Bucket accumulation on AVX-512 IFMA, for G1 and G2: the batch-affine
//! Pippenger of [`crate::cpu`], with eight bucket additions per
//! instruction stream.
//!
//! Points and buckets are records of 52-bit limbs (x then y, canonical:
//! below `q`; 80 bytes in G1, 160 in G2, where each coordinate is an `Fq2`),
//! gathered into lanes for a batch and scattered back. One batch of pending
//! additions (at most one per bucket) shares one inversion: the differences
//! `x_P - x_B` are multiplied up in eight lane-wise chains, the eight chain
//! products are inverted together, and the backward pass hands each
//! addition its inverse. A point whose bucket is already pending waits for
//! the next batch (deferred); when too many wait, the batch is finished
//! early, and only a batch too small to pay for its inversion sends a point
//! to an XYZZ side bucket, so adversarial inputs cost no more than the
//! scalar path. Doublings and cancellations (same x) are found when a point
//! is queued, from the canonical records, and done directly.
//!
//! The arithmetic is written once over [`curve::LaneField`] (`Fq` on lanes
//! in `field.rs`, `Fq2` in `field2.rs`); full-size scalars are split by GLV
//! in both groups. The running-sum bucket reduction runs on lanes too
//! ([`reduce`]): eight segments of a window's buckets at once.
//!
//! Everything here runs only after [`available`] said the CPU has
//! AVX-512F and AVX-512 IFMA.

mod curve;
pub(crate) mod field;
mod field2;
mod reduce;
mod simd;

use crate::cpu::{self, Engine, digit, num_windows, signed_offset};
use crate::glv;
use ark_bn254::{Fq, Fr, G1Affine, G1Projective, G2Affine, G2Projective, g1, g2};
use ark_ec::short_weierstrass::{Affine, Bucket, Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{AdditiveGroup, BigInt, BigInteger, PrimeField, Zero};
use curve::{LaneCurve, LaneField, negate_y, record, stride, to_affine};
use field::Consts;
use rayon::prelude::*;
use simd::{__m512i, _mm512_set_epi64};

/// Words of the largest record (G2).
const MAX_STRIDE: usize = 4 * field::LIMBS;

/// Whether this CPU can run the lane code (always, when the intrinsics
/// are emulated: feature `ifma-emulated`).
pub fn available() -> bool {
    cfg!(feature = "ifma-emulated")
        || (std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512ifma"))
}

/// Below this many terms the conversion into records does not pay; the
/// scalar path does them.
const MIN_TERMS: usize = 512;

/// `sum_i bases[i] * scalars[i]` with the lane backend, or `None` when the
/// CPU lacks IFMA. Runs the lanes for every size (tests use this);
/// [`crate::cpu::msm_g1`] leaves small MSMs to the scalar path.
pub fn msm_g1(bases: &[G1Affine], scalars: &[crate::Scalar]) -> Option<G1Projective> {
    available().then(|| cpu::msm_with(&Lanes { min_terms: 0 }, bases, scalars))
}

/// As [`msm_g1`], in G2.
pub fn msm_g2(bases: &[G2Affine], scalars: &[crate::Scalar]) -> Option<G2Projective> {
    available().then(|| cpu::msm_with(&Lanes { min_terms: 0 }, bases, scalars))
}

/// As [`msm_g1`], with small classes of scalars on the scalar path.
pub(crate) fn msm_g1_tuned(bases: &[G1Affine], scalars: &[crate::Scalar]) -> Option<G1Projective> {
    available().then(|| cpu::msm_with(&TUNED, bases, scalars))
}

/// As [`msm_g2`], with small classes of scalars on the scalar path.
pub(crate) fn msm_g2_tuned(bases: &[G2Affine], scalars: &[crate::Scalar]) -> Option<G2Projective> {
    available().then(|| cpu::msm_with(&TUNED, bases, scalars))
}

const TUNED: Lanes = Lanes {
    min_terms: MIN_TERMS,
};

/// The lane engine; only constructed after [`available`].
struct Lanes {
    min_terms: usize,
}

impl Engine<g1::Config> for Lanes {
    fn pippenger<L: AsRef<[u64]> + Sync>(
        &self,
        bases: &[G1Affine],
        idx: &[u32],
        scalars: &[L],
        num_bits: usize,
    ) -> G1Projective {
        if idx.len() < self.min_terms.max(1) {
            return cpu::Portable.pippenger(bases, idx, scalars, num_bits);
        }
        pippenger(bases, idx, scalars, num_bits)
    }
}

impl Engine<g2::Config> for Lanes {
    fn pippenger<L: AsRef<[u64]> + Sync>(
        &self,
        bases: &[G2Affine],
        idx: &[u32],
        scalars: &[L],
        num_bits: usize,
    ) -> G2Projective {
        if idx.len() < self.min_terms.max(1) {
            return cpu::Portable.pippenger(bases, idx, scalars, num_bits);
        }
        pippenger(bases, idx, scalars, num_bits)
    }
}

/// Relative costs in arkworks field multiplications: one lane addition
/// (its share of 6 lane multiplications and the gathers), one batch's
/// inversion with its conversions, one bucket's part of the running sum
/// on lanes (its eighth of a mixed and a full XYZZ addition, the gather).
/// (In G2 every term is about three times as dear, the ratios alike.)
const COST_LANE_ADD: f64 = 2.0;
const COST_BATCH_INVERSION: f64 = 400.0;
const COST_REDUCE_BUCKET: f64 = 6.0;
const MAX_WINDOW: usize = 16;

/// Pending additions per batch for `buckets` buckets: half of the buckets
/// (about a fifth of the points then wait for the next batch, which costs
/// little), within what stays in the L2 cache.
fn batch_size(buckets: usize) -> usize {
    (buckets / 2).clamp(8, 4096) & !7
}

/// The window that minimises the estimated work of the lane path.
fn window_size(n: usize, num_bits: usize) -> usize {
    let cost = |c: usize| {
        let b = 1usize << (c - 1);
        let per_point = COST_LANE_ADD + COST_BATCH_INVERSION / batch_size(b) as f64;
        num_windows(num_bits, c) as f64 * (n as f64 * per_point + b as f64 * COST_REDUCE_BUCKET)
    };
    (2..=MAX_WINDOW)
        .min_by(|&a, &b| cost(a).total_cmp(&cost(b)))
        .unwrap_or(2)
}

fn pippenger<C: LaneCurve, L: AsRef<[u64]> + Sync>(
    bases: &[Affine<C>],
    idx: &[u32],
    scalars: &[L],
    num_bits: usize,
) -> Projective<C> {
    debug_assert_eq!(idx.len(), scalars.len());
    if idx.is_empty() {
        return Projective::zero();
    }
    if num_bits > glv::HALF_BITS {
        let (points, halves) = glv_terms(bases, idx, scalars);
        return lanes_pippenger::<C, _>(points, &halves, glv::HALF_BITS);
    }
    let s = stride::<C>();
    let mut points = vec![0u64; idx.len() * s];
    points
        .par_chunks_mut(s)
        .zip(idx.par_iter())
        .for_each(|(r, &i)| record(&bases[i as usize], r));
    lanes_pippenger::<C, _>(points, scalars, num_bits)
}

/// The GLV split of each term `k P`: `|k1| (±P)` and `|k2| (±phi(P))`, as
/// records and half scalars, the two of term `j` at `2j` and `2j + 1`.
fn glv_terms<C: LaneCurve, L: AsRef<[u64]> + Sync>(
    bases: &[Affine<C>],
    idx: &[u32],
    scalars: &[L],
) -> (Vec<u64>, Vec<[u64; 2]>) {
    let s = stride::<C>();
    let beta = C::beta();
    let mut points = vec![0u64; 2 * idx.len() * s];
    let mut halves = vec![[0u64; 2]; 2 * idx.len()];
    points
        .par_chunks_mut(2 * s)
        .zip(halves.par_chunks_mut(2))
        .zip(idx.par_iter().zip(scalars))
        .for_each(|((pts, hs), (&i, sc))| {
            let sc = sc.as_ref();
            let mut k = BigInt::<4>(core::array::from_fn(|l| sc.get(l).copied().unwrap_or(0)));
            // Only multiples of P's order separate k from k mod r.
            while k >= Fr::MODULUS {
                k.sub_with_borrow(&Fr::MODULUS);
            }
            let k = k.0;
            let [(neg1, k1), (neg2, k2)] = glv::decompose(&k);
            let p = &bases[i as usize];
            let phi = Affine::<C>::new_unchecked(p.x * beta, p.y);
            for (slot, (q, neg)) in pts.chunks_exact_mut(s).zip([(p, neg1), (&phi, neg2)]) {
                record(q, slot);
                if neg {
                    negate_y::<C>(slot);
                }
            }
            hs[0] = k1;
            hs[1] = k2;
        });
    (points, halves)
}

/// `sum_j points[j] * scalars[j]` for scalars below `2^num_bits`, the
/// points as records (none the identity).
fn lanes_pippenger<C: LaneCurve, L: AsRef<[u64]> + Sync>(
    mut points: Vec<u64>,
    scalars: &[L],
    num_bits: usize,
) -> Projective<C> {
    let s = stride::<C>();
    let n = points.len() / s;
    let c = window_size(n, num_bits);
    let windows = num_windows(num_bits, c);
    let k = signed_offset(c, windows);
    // Then the dummy point that pads a batch to a multiple of eight lanes
    // (2G, added to dummy buckets holding G).
    let g = Affine::<C>::generator();
    let mut dummy_point = [0u64; MAX_STRIDE];
    record(&(g + g).into_affine(), &mut dummy_point[..s]);
    points.extend_from_slice(&dummy_point[..s]);
    let mut dummy_bucket = [0u64; MAX_STRIDE];
    record(&g, &mut dummy_bucket[..s]);
    let sums: Vec<Projective<C>> = (0..windows)
        .into_par_iter()
        .map(|w| {
            let mut acc = Window::<C>::new(c, &points, &dummy_bucket[..s]);
            // Digits are found AHEAD terms early, and their buckets fetched
            // into the cache, so the queueing step does not wait for memory.
            let mut ring = [0i32; AHEAD];
            for (slot, sc) in ring.iter_mut().zip(scalars) {
                *slot = digit(sc.as_ref(), &k, w, c);
            }
            for j in 0..n {
                let d = ring[j % AHEAD];
                if let Some(sc) = scalars.get(j + AHEAD) {
                    let next = digit(sc.as_ref(), &k, w, c);
                    ring[j % AHEAD] = next;
                    if next != 0 {
                        acc.prefetch(next.unsigned_abs() - 1);
                    }
                }
                if d != 0 {
                    acc.add(Entry {
                        bucket: d.unsigned_abs() - 1,
                        point: j as u32,
                        neg: d < 0,
                    });
                }
            }
            acc.finish()
        })
        .collect();
    let mut total = Projective::zero();
    for s in sums.iter().rev() {
        for _ in 0..c {
            total.double_in_place();
        }
        total += s;
    }
    total
}

/// One queued addition: `bucket += ±points[point]`.
#[derive(Clone, Copy)]
struct Entry {
    bucket: u32,
    point: u32,
    neg: bool,
}

/// What the forward pass keeps per chunk of eight additions for the
/// backward pass.
#[derive(Clone, Copy)]
struct Saved<F> {
    bx: F,
    by: F,
    px: F,
    py: F,
    prefix: F,
}

/// How many terms ahead of the queue a window computes digits and
/// prefetches buckets.
const AHEAD: usize = 8;

/// The buckets of one window.
struct Window<'a, C: LaneCurve> {
    /// Point records, `stride` words each.
    points: &'a [u64],
    /// `2^(c-1)` bucket records, then eight dummy buckets for padding lanes.
    buckets: Vec<u64>,
    full: Vec<bool>,
    busy: Vec<bool>,
    side: Vec<Bucket<C>>,
    batch: Vec<Entry>,
    deferred: Vec<Entry>,
    saved: Vec<Saved<C::F>>,
    cap: usize,
    dummy: &'a [u64],
    inv16: Fq,
}

impl<'a, C: LaneCurve> Window<'a, C> {
    const S: usize = stride::<C>();

    fn new(c: usize, points: &'a [u64], dummy: &'a [u64]) -> Self {
        let n = 1usize << (c - 1);
        let cap = batch_size(n);
        Self {
            points,
            buckets: vec![0u64; (n + 8) * Self::S],
            full: vec![false; n],
            busy: vec![false; n],
            side: vec![Bucket::default(); n],
            batch: Vec::with_capacity(cap + 8),
            deferred: Vec::with_capacity(cap),
            saved: Vec::with_capacity(cap / 8 + 1),
            cap,
            dummy,
            inv16: field::ark_inv16(),
        }
    }

    fn bucket(&self, b: usize) -> &[u64] {
        &self.buckets[b * Self::S..(b + 1) * Self::S]
    }

    fn point(&self, p: u32) -> &[u64] {
        let p = p as usize;
        &self.points[p * Self::S..(p + 1) * Self::S]
    }

    /// Asks for bucket `b`'s record and flags in the cache.
    #[inline]
    fn prefetch(&self, b: u32) {
        use simd::{_MM_HINT_T0, _mm_prefetch};
        let b = b as usize;
        // SAFETY: a prefetch is a hint; it reads nothing and cannot fault.
        unsafe {
            let rec = self.buckets.as_ptr().wrapping_add(b * Self::S).cast::<i8>();
            // Every cache line the record touches: its first byte, each 64
            // bytes on, its last byte.
            for byte in (0..Self::S * 8).step_by(64).chain([Self::S * 8 - 1]) {
                _mm_prefetch::<_MM_HINT_T0>(rec.wrapping_add(byte));
            }
            _mm_prefetch::<_MM_HINT_T0>(self.full.as_ptr().wrapping_add(b).cast());
        }
    }

    fn add(&mut self, e: Entry) {
        self.push(e);
        if self.batch.len() >= self.cap {
            self.flush();
        }
    }

    /// The point of entry `e`, with its sign, as arkworks' point.
    fn base(&self, e: Entry) -> Affine<C> {
        let p = to_affine::<C>(self.point(e.point), &self.inv16);
        if e.neg { -p } else { p }
    }

    fn push(&mut self, e: Entry) {
        let b = e.bucket as usize;
        if self.busy[b] {
            if self.deferred.len() < self.cap {
                self.deferred.push(e);
            } else if self.batch.len() >= self.cap / 4 {
                // Enough additions wait in the batch to pay for an
                // inversion: finish it now, then this point finds its
                // bucket free.
                self.flush();
                self.push(e);
            } else {
                // Few buckets take most points (adversarial inputs): one
                // inversion for a handful of additions would cost more than
                // an XYZZ addition.
                let p = self.base(e);
                self.side[b] += p;
            }
            return;
        }
        let s = Self::S;
        let w = s / 2;
        let at = e.point as usize * s;
        if !self.full[b] {
            let bucket = &mut self.buckets[b * s..(b + 1) * s];
            bucket.copy_from_slice(&self.points[at..at + s]);
            if e.neg {
                negate_y::<C>(bucket);
            }
            self.full[b] = true;
            return;
        }
        // Canonical records: equal x means P = ±B. (The low limb first: it
        // almost always differs.)
        let (bucket, p) = (self.bucket(b), &self.points[at..at + s]);
        if bucket[0] == p[0] && bucket[1..w] == p[1..w] {
            let mut q = [0u64; MAX_STRIDE];
            q[..s].copy_from_slice(p);
            if e.neg {
                negate_y::<C>(&mut q[..s]);
            }
            if bucket[w..] == q[w..s] {
                let doubled = to_affine::<C>(bucket, &self.inv16).into_group().double();
                if doubled.is_zero() {
                    // A point of order two (not in the prime-order group).
                    self.full[b] = false;
                } else {
                    record(
                        &doubled.into_affine(),
                        &mut self.buckets[b * s..(b + 1) * s],
                    );
                }
            } else {
                self.full[b] = false;
            }
            return;
        }
        self.busy[b] = true;
        self.batch.push(e);
    }

    /// Finishes the batch, then queues the deferred additions again (those
    /// that meet a busy bucket once more wait on the fresh list).
    fn flush(&mut self) {
        self.run_batch();
        for e in std::mem::take(&mut self.deferred) {
            self.push(e);
        }
    }

    fn run_batch(&mut self) {
        let real = self.batch.len();
        if real == 0 {
            return;
        }
        let s = Self::S;
        let nb = self.full.len();
        let dummy_point = (self.points.len() / s - 1) as u32;
        let mut lane = 0u32;
        while !self.batch.len().is_multiple_of(8) {
            let b = nb + lane as usize;
            self.buckets[b * s..(b + 1) * s].copy_from_slice(self.dummy);
            self.batch.push(Entry {
                bucket: b as u32,
                point: dummy_point,
                neg: false,
            });
            lane += 1;
        }
        // SAFETY: a `Window` is only built by `pippenger`, which only the
        // `Lanes` engine calls, which exists only after `available()`
        // returned true. Every bucket index in the batch is below
        // `nb + 8`, the records in `buckets` (real ones below `nb`, padding
        // `nb + lane` with lane < 8), and every point index below the
        // records in `points`.
        unsafe {
            accumulate::<C::F>(
                &mut self.buckets,
                self.points,
                &self.batch,
                &mut self.saved,
                &self.inv16,
            )
        };
        for e in &self.batch[..real] {
            self.busy[e.bucket as usize] = false;
        }
        self.batch.clear();
    }

    /// `sum_b (b + 1) * bucket_b` by the running-sum method.
    fn finish(mut self) -> Projective<C> {
        self.flush();
        self.run_batch();
        for e in std::mem::take(&mut self.deferred) {
            let p = self.base(e);
            self.side[e.bucket as usize] += p;
        }
        let nb = self.full.len();
        let affine = if nb >= reduce::MIN_LANE_BUCKETS && nb.is_multiple_of(8) {
            // SAFETY: as in `run_batch`, the CPU has IFMA; `nb` is a
            // multiple of eight, at least the minimum, and `buckets` holds
            // `nb + 8` records.
            unsafe { reduce::reduce::<C>(&self.buckets, &self.full, &self.inv16) }
        } else {
            let mut running = Bucket::<C>::default();
            let mut total = Bucket::<C>::default();
            for b in (0..nb).rev() {
                if self.full[b] {
                    running += to_affine::<C>(self.bucket(b), &self.inv16);
                }
                total += &running;
            }
            total.into()
        };
        // The side buckets (only adversarial inputs fill any), by the
        // running-sum method, and only when there are any.
        if self.side.iter().all(Bucket::is_zero) {
            return affine;
        }
        let mut running = Bucket::<C>::default();
        let mut total = Bucket::<C>::default();
        for s in self.side.iter().rev() {
            if !s.is_zero() {
                running += s;
            }
            total += &running;
        }
        affine + Projective::<C>::from(total)
    }
}

/// Lane `l` of the result is `stride * ix[l]`, the offset in words of
/// record `ix[l]`.
#[cfg_attr(not(feature = "ifma-emulated"), target_feature(enable = "avx512f"))]
#[inline]
fn record_offsets(ix: [u32; 8], stride: usize) -> __m512i {
    let o = |l: usize| i64::from(ix[l]) * stride as i64;
    _mm512_set_epi64(o(7), o(6), o(5), o(4), o(3), o(2), o(1), o(0))
}

/// Does the additions of `batch` (a multiple of eight, distinct buckets,
/// no bucket sharing x with its point) into `buckets`.
///
/// # Safety
/// The CPU has AVX-512F and IFMA; every index of `batch` is within the
/// records of `buckets` and `points` (`2 F::WORDS` words each).
#[cfg_attr(
    not(feature = "ifma-emulated"),
    target_feature(enable = "avx512f,avx512ifma")
)]
unsafe fn accumulate<F: LaneField>(
    buckets: &mut [u64],
    points: &[u64],
    batch: &[Entry],
    saved: &mut Vec<Saved<F>>,
    inv16: &Fq,
) {
    debug_assert_eq!(batch.len() % 8, 0);
    let w = F::WORDS;
    let c = Consts::new();
    let zero = F::embed(&c, &c.zero);
    let mut acc = F::embed(&c, &c.one);
    saved.clear();
    let offsets = |chunk: &[Entry]| {
        let b = record_offsets(core::array::from_fn(|l| chunk[l].bucket), 2 * w);
        let p = record_offsets(core::array::from_fn(|l| chunk[l].point), 2 * w);
        let neg = chunk
            .iter()
            .enumerate()
            .fold(0u8, |m, (l, e)| m | (u8::from(e.neg) << l));
        (b, p, neg)
    };
    for chunk in batch.chunks_exact(8) {
        let (bo, po, neg) = offsets(chunk);
        // SAFETY: indices are within the slices (the caller's contract).
        let (bx, by, px, py) = unsafe {
            (
                F::gather(buckets, bo, 0),
                F::gather(buckets, bo, w),
                F::gather(points, po, 0),
                F::gather(points, po, w),
            )
        };
        let minus_py = zero.sub(&py, &c.q);
        let py = F::select(neg, &py, &minus_py);
        let dx = px.sub(&bx, &c.q);
        saved.push(Saved {
            bx,
            by,
            px,
            py,
            prefix: acc,
        });
        acc = acc.mul(&dx);
    }

    // The eight chain products, inverted together.
    let mut inv = acc.invert(&c, inv16);

    for (chunk, s) in batch.chunks_exact(8).zip(saved.iter()).rev() {
        let (bo, _, _) = offsets(chunk);
        let dx = s.px.sub(&s.bx, &c.q);
        let inv_dx = inv.mul(&s.prefix);
        inv = inv.mul(&dx);
        let dy = s.py.sub(&s.by, &c.q);
        let lambda = dy.mul(&inv_dx);
        let l2 = lambda.square();
        // x3 = lambda^2 - x_B - x_P, below 4q before reduction.
        let x3 = l2.sub(&s.bx, &c.q).sub(&s.px, &c.q);
        let x3 = x3.cond_sub(&c.q2).cond_sub(&c.q);
        // y3 = lambda (x_B - x3) - y_B, below 3q before reduction.
        let y3 = lambda.mul(&s.bx.sub(&x3, &c.q));
        let y3 = y3.sub(&s.by, &c.q);
        let y3 = y3.cond_sub(&c.q2).cond_sub(&c.q);
        // SAFETY: indices are within `buckets` and distinct within a batch.
        unsafe {
            x3.scatter(buckets, bo, 0);
            y3.scatter(buckets, bo, w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{points, scalar_strategy};
    use ark_bn254::Fr;
    use ark_ec::VariableBaseMSM;
    use ark_ec::scalar_mul::glv::GLVConfig;
    use ark_ff::{Field, PrimeField, UniformRand};
    use ark_std::rand::{SeedableRng, rngs::StdRng};
    use proptest::prelude::*;

    /// Whether to run the lane tests: skip visibly without IFMA, unless
    /// `ZKR_REQUIRE_IFMA=1` (CI), where a missing IFMA fails.
    pub(crate) fn lanes_here() -> bool {
        if available() {
            return true;
        }
        assert!(
            std::env::var("ZKR_REQUIRE_IFMA").as_deref() != Ok("1"),
            "ZKR_REQUIRE_IFMA=1 but this CPU has no AVX-512 IFMA"
        );
        eprintln!("SKIP: no AVX-512 IFMA on this CPU; the lane backend is not tested here");
        false
    }

    /// The lane MSM of one group, both entry points.
    trait Group: LaneCurve + ArkMsm {
        fn lanes(bases: &[Affine<Self>], s: &[crate::Scalar]) -> Option<Projective<Self>>;
        fn tuned(bases: &[Affine<Self>], s: &[crate::Scalar]) -> Option<Projective<Self>>;
    }

    /// arkworks' MSM of one group.
    trait ArkMsm: ark_ec::short_weierstrass::SWCurveConfig {
        fn ark(bases: &[Affine<Self>], s: &[Fr]) -> Projective<Self>;
    }

    impl ArkMsm for g1::Config {
        fn ark(bases: &[G1Affine], s: &[Fr]) -> G1Projective {
            G1Projective::msm_unchecked(bases, s)
        }
    }

    impl ArkMsm for g2::Config {
        fn ark(bases: &[G2Affine], s: &[Fr]) -> G2Projective {
            G2Projective::msm_unchecked(bases, s)
        }
    }

    impl Group for g1::Config {
        fn lanes(bases: &[G1Affine], s: &[crate::Scalar]) -> Option<G1Projective> {
            msm_g1(bases, s)
        }
        fn tuned(bases: &[G1Affine], s: &[crate::Scalar]) -> Option<G1Projective> {
            msm_g1_tuned(bases, s)
        }
    }

    impl Group for g2::Config {
        fn lanes(bases: &[G2Affine], s: &[crate::Scalar]) -> Option<G2Projective> {
            msm_g2(bases, s)
        }
        fn tuned(bases: &[G2Affine], s: &[crate::Scalar]) -> Option<G2Projective> {
            msm_g2_tuned(bases, s)
        }
    }

    fn check<C: Group>(bases: &[Affine<C>], scalars: &[Fr]) {
        let big: Vec<_> = scalars.iter().map(|s| s.into_bigint()).collect();
        let ours = C::lanes(bases, &big).expect("IFMA present");
        assert_eq!(ours, cpu::naive_msm(bases, &big));
        assert_eq!(ours, C::ark(bases, scalars));
        assert_eq!(C::tuned(bases, &big), Some(ours));
    }

    #[test]
    fn window_and_batch_are_sane() {
        for k in [4u32, 8, 12, 16, 20] {
            let c = window_size(1 << k, 254);
            assert!((2..=MAX_WINDOW).contains(&c));
            let b = batch_size(1 << (c - 1));
            assert!(b.is_multiple_of(8) && b >= 8);
        }
        assert!(window_size(1 << 20, 254) >= window_size(1 << 12, 254));
    }

    fn records_round_trip_in<C: LaneCurve>() {
        let mut rng = StdRng::seed_from_u64(1);
        let inv16 = field::ark_inv16();
        let s = stride::<C>();
        for p in points::<Projective<C>>(20, &mut rng) {
            let mut r = vec![0u64; s];
            record(&p, &mut r);
            assert_eq!(to_affine::<C>(&r, &inv16), p);
            negate_y::<C>(&mut r);
            assert_eq!(to_affine::<C>(&r, &inv16), -p);
            // Negation keeps records canonical, also of a zero component.
            let mut z = vec![0u64; s];
            negate_y::<C>(&mut z);
            assert!(z.iter().all(|&l| l == 0));
        }
    }

    #[test]
    fn records_round_trip() {
        records_round_trip_in::<g1::Config>();
        records_round_trip_in::<g2::Config>();
    }

    fn edge_cases_in<C: Group>(sizes: &[usize]) {
        let mut rng = StdRng::seed_from_u64(2);
        let p = points::<Projective<C>>(300, &mut rng);
        let minus_one = -Fr::from(1u64);
        for &n in sizes {
            let s: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
            check::<C>(&p[..n], &s);
            check::<C>(&p[..n], &vec![Fr::zero(); n]);
            check::<C>(&p[..n], &vec![minus_one; n]);
            check::<C>(&p[..n], &vec![Fr::from(1u64); n]);
            check::<C>(&vec![Affine::<C>::identity(); n], &s);
            check::<C>(&vec![p[0]; n], &s);
            // Same point, same scalar: every term in one bucket of each
            // window (doublings, deferrals, side buckets).
            check::<C>(&vec![p[0]; n], &vec![Fr::from(5u64); n]);
            check::<C>(
                &vec![p[0]; n],
                &vec![s.first().copied().unwrap_or_default(); n],
            );
            check::<C>(&vec![p[0]; n], &vec![minus_one; n]);
        }
        // P and -P, and pairs that double, within one batch.
        let mut pts = Vec::new();
        for q in &p[..50] {
            pts.extend([*q, -*q, *q]);
        }
        let s: Vec<Fr> = (0..pts.len())
            .map(|i| Fr::from((i % 3) as u64 + 1000))
            .collect();
        check::<C>(&pts, &s);
        // The same with large scalars: P and -P under the same digits.
        let big = Fr::rand(&mut rng);
        check::<C>(&pts, &vec![big; pts.len()]);
    }

    #[test]
    fn edge_cases() {
        if !lanes_here() {
            return;
        }
        edge_cases_in::<g1::Config>(&[0, 1, 2, 3, 8, 9, 31, 257, 300]);
        edge_cases_in::<g2::Config>(&[0, 1, 2, 3, 9, 257]);
    }

    fn larger_fixed_cases_in<C: Group>(sizes: &[usize]) {
        let mut rng = StdRng::seed_from_u64(3);
        for &n in sizes {
            let p = points::<Projective<C>>(n, &mut rng);
            let s: Vec<Fr> = (0..n)
                .map(|i| match i % 5 {
                    0 => Fr::from(i as u64),
                    1 => -Fr::from(i as u64),
                    2 => Fr::from(u64::MAX - i as u64),
                    _ => Fr::rand(&mut rng),
                })
                .collect();
            let big: Vec<_> = s.iter().map(|s| s.into_bigint()).collect();
            let want = C::ark(&p, &s);
            assert_eq!(C::lanes(&p, &big), Some(want));
            assert_eq!(C::tuned(&p, &big), Some(want));
        }
    }

    #[test]
    fn larger_fixed_cases() {
        if !lanes_here() {
            return;
        }
        larger_fixed_cases_in::<g1::Config>(&[1000, 5000, 20000]);
        larger_fixed_cases_in::<g2::Config>(&[1000, 5000]);
    }

    fn glv_edge_scalars_in<C: Group>() {
        let mut rng = StdRng::seed_from_u64(5);
        let p = points::<Projective<C>>(200, &mut rng);
        let lambda = <g1::Config as GLVConfig>::LAMBDA;
        let two_127 = Fr::from(2u64).pow([127]);
        // Scalars whose halves are 0, 1, or at their extremes.
        for k in [
            lambda,
            -lambda,
            lambda + Fr::ONE,
            lambda * Fr::from(u64::MAX),
            two_127,
            -two_127,
            two_127 * lambda,
        ] {
            check::<C>(&p, &vec![k; p.len()]);
            let mixed: Vec<Fr> = (0..p.len())
                .map(|i| if i % 2 == 0 { k } else { Fr::rand(&mut rng) })
                .collect();
            check::<C>(&p, &mixed);
        }
        // P and phi(P) = lambda P in one MSM: the halves of the two terms
        // land on the same points.
        let beta = C::beta();
        let phi: Vec<Affine<C>> = p
            .iter()
            .map(|q| Affine::<C>::new_unchecked(q.x * beta, q.y))
            .collect();
        assert_eq!(phi[0], (p[0] * lambda).into_affine());
        let both: Vec<Affine<C>> = p.iter().chain(&phi).copied().collect();
        let s: Vec<Fr> = (0..both.len()).map(|_| Fr::rand(&mut rng)).collect();
        check::<C>(&both, &s);
        // Integers of at least r (the API takes any 256-bit integer):
        // r + 5 and 2^256 - 1 mean what the naive MSM says.
        let mut r_plus_5 = Fr::MODULUS;
        r_plus_5.add_with_carry(&BigInt::from(5u64));
        let ints: Vec<crate::Scalar> = (0..p.len())
            .map(|i| match i % 3 {
                0 => r_plus_5,
                1 => BigInt([u64::MAX; 4]),
                _ => Fr::rand(&mut rng).into_bigint(),
            })
            .collect();
        assert_eq!(C::lanes(&p, &ints), Some(cpu::naive_msm(&p, &ints)));
    }

    #[test]
    fn glv_edge_scalars() {
        if !lanes_here() {
            return;
        }
        glv_edge_scalars_in::<g1::Config>();
        glv_edge_scalars_in::<g2::Config>();
    }

    #[test]
    fn beta_goes_with_lambda_in_both_groups() {
        let mut rng = StdRng::seed_from_u64(6);
        let lambda = <g1::Config as GLVConfig>::LAMBDA;
        for _ in 0..4 {
            let p = G1Projective::rand(&mut rng).into_affine();
            let beta = <g1::Config as LaneCurve>::beta();
            assert_eq!(
                G1Affine::new_unchecked(p.x * beta, p.y),
                (p * lambda).into_affine()
            );
            let q = G2Projective::rand(&mut rng).into_affine();
            let beta = <g2::Config as LaneCurve>::beta();
            assert_eq!(
                G2Affine::new_unchecked(q.x * beta, q.y),
                (q * lambda).into_affine()
            );
        }
    }

    /// A proptest mix of scalars and of points (identity, repeated and
    /// negated ones), for group `C`.
    fn mixed_case<C: Group>(
        seed: u64,
        scalars: &[Fr],
        identity_every: usize,
        repeat_every: usize,
        negate_every: usize,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut p = points::<Projective<C>>(scalars.len(), &mut rng);
        for i in 0..p.len() {
            if identity_every > 0 && i % (identity_every + 1) == identity_every {
                p[i] = Affine::<C>::identity();
            } else if repeat_every > 0 && i % (repeat_every + 1) == 0 {
                p[i] = p[0];
            } else if negate_every > 0 && i % (negate_every + 1) == 1 {
                p[i] = -p[0];
            }
        }
        check::<C>(&p, scalars);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn equals_naive_and_arkworks(
            seed in any::<u64>(),
            scalars in proptest::collection::vec(scalar_strategy(), 0..120),
            identity_every in 0usize..8,
            repeat_every in 0usize..8,
            negate_every in 0usize..8,
        ) {
            if !lanes_here() {
                return Ok(());
            }
            mixed_case::<g1::Config>(seed, &scalars, identity_every, repeat_every, negate_every);
        }

        #[test]
        fn g2_equals_naive_and_arkworks(
            seed in any::<u64>(),
            scalars in proptest::collection::vec(scalar_strategy(), 0..60),
            identity_every in 0usize..8,
            repeat_every in 0usize..8,
            negate_every in 0usize..8,
        ) {
            if !lanes_here() {
                return Ok(());
            }
            mixed_case::<g2::Config>(seed, &scalars, identity_every, repeat_every, negate_every);
        }
    }
}
