//! G1 bucket accumulation on AVX-512 IFMA: the batch-affine Pippenger of
//! [`crate::cpu`], with eight bucket additions per instruction stream.
//!
//! Points and buckets are 80-byte records (x then y, five 52-bit limbs
//! each, canonical: below `q`), gathered into lanes for a batch and
//! scattered back. One batch of pending additions (at most one per bucket)
//! shares one inversion: the differences `x_P - x_B` are multiplied up in
//! eight lane-wise chains, the eight chain products are inverted together
//! in arkworks' field, and the backward pass hands each addition its
//! inverse. A point whose bucket is already pending waits for the next
//! batch (deferred), and only when too many wait does it go into an XYZZ
//! side bucket; so adversarial inputs cost no more than the scalar path.
//! Doublings and cancellations (same x) are found when a point is queued,
//! from the canonical records, and done directly.
//!
//! The running-sum bucket reduction runs on lanes too ([`reduce`]): eight
//! segments of a window's buckets at once.
//!
//! Everything here runs only after [`available`] said the CPU has
//! AVX-512F and AVX-512 IFMA.

pub(crate) mod field;
mod reduce;

use crate::cpu::{self, Engine, digit, num_windows, signed_offset};
use crate::glv;
use ark_bn254::{Fq, Fr, G1Affine, G1Projective, g1};
use ark_ec::short_weierstrass::Bucket;
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{AdditiveGroup, BigInt, BigInteger, Field, PrimeField, Zero};
use core::arch::x86_64::{
    __m512i, _mm512_add_epi64, _mm512_i64gather_epi64, _mm512_i64scatter_epi64,
    _mm512_mask_blend_epi64, _mm512_set_epi64, _mm512_set1_epi64,
};
use field::{Consts, Fe8, LIMBS, Limbs};
use rayon::prelude::*;

/// A point or bucket: x limbs, then y limbs.
type Record = [u64; 2 * LIMBS];

/// Whether this CPU can run the lane code.
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512ifma")
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

/// As [`msm_g1`], with small classes of scalars on the scalar path.
pub(crate) fn msm_g1_tuned(bases: &[G1Affine], scalars: &[crate::Scalar]) -> Option<G1Projective> {
    available().then(|| {
        cpu::msm_with(
            &Lanes {
                min_terms: MIN_TERMS,
            },
            bases,
            scalars,
        )
    })
}

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

/// Relative costs in arkworks field multiplications: one lane addition
/// (its share of 6 lane multiplications and the gathers), one batch's
/// inversion with its conversions, one bucket's part of the running sum
/// on lanes (its eighth of a mixed and a full XYZZ addition, the gather).
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

fn record(p: &G1Affine) -> Record {
    let mut r = [0u64; 2 * LIMBS];
    r[..LIMBS].copy_from_slice(&field::from_ark(&p.x));
    r[LIMBS..].copy_from_slice(&field::from_ark(&p.y));
    r
}

fn to_affine(r: &Record, inv16: &Fq) -> G1Affine {
    let (x, y) = r.split_at(LIMBS);
    let limbs = |s: &[u64]| -> Limbs { core::array::from_fn(|k| s[k]) };
    G1Affine::new_unchecked(
        field::to_ark(&limbs(x), inv16),
        field::to_ark(&limbs(y), inv16),
    )
}

/// `q - y` for canonical `0 < y < q`, in limbs.
fn neg_limbs(y: &[u64]) -> Limbs {
    let mut out = [0u64; LIMBS];
    let mut borrow = 0i64;
    for k in 0..LIMBS {
        let v = field::Q[k] as i64 - y[k] as i64 + borrow;
        out[k] = (v as u64) & ((1 << 52) - 1);
        borrow = v >> 52;
    }
    out
}

fn pippenger<L: AsRef<[u64]> + Sync>(
    bases: &[G1Affine],
    idx: &[u32],
    scalars: &[L],
    num_bits: usize,
) -> G1Projective {
    debug_assert_eq!(idx.len(), scalars.len());
    if idx.is_empty() {
        return G1Projective::zero();
    }
    if num_bits > glv::HALF_BITS {
        let (points, halves) = glv_terms(bases, idx, scalars);
        return lanes_pippenger(points, &halves, glv::HALF_BITS);
    }
    let points = idx
        .par_iter()
        .map(|&i| record(&bases[i as usize]))
        .collect();
    lanes_pippenger(points, scalars, num_bits)
}

/// The GLV split of each term `k P`: `|k1| (±P)` and `|k2| (±phi(P))`, as
/// records and half scalars, the two of term `j` at `2j` and `2j + 1`.
fn glv_terms<L: AsRef<[u64]> + Sync>(
    bases: &[G1Affine],
    idx: &[u32],
    scalars: &[L],
) -> (Vec<Record>, Vec<[u64; 2]>) {
    let mut points = vec![[0u64; 2 * LIMBS]; 2 * idx.len()];
    let mut halves = vec![[0u64; 2]; 2 * idx.len()];
    points
        .par_chunks_mut(2)
        .zip(halves.par_chunks_mut(2))
        .zip(idx.par_iter().zip(scalars))
        .for_each(|((pts, hs), (&i, s))| {
            let s = s.as_ref();
            let mut k = BigInt::<4>(core::array::from_fn(|l| s.get(l).copied().unwrap_or(0)));
            // Only multiples of P's order separate k from k mod r.
            while k >= Fr::MODULUS {
                k.sub_with_borrow(&Fr::MODULUS);
            }
            let k = k.0;
            let [(neg1, k1), (neg2, k2)] = glv::decompose(&k);
            let p = &bases[i as usize];
            let phi = G1Affine::new_unchecked(p.x * glv::BETA, p.y);
            for (slot, (q, neg)) in pts.iter_mut().zip([(p, neg1), (&phi, neg2)]) {
                *slot = record(q);
                if neg {
                    let y = neg_limbs(&slot[LIMBS..]);
                    slot[LIMBS..].copy_from_slice(&y);
                }
            }
            hs[0] = k1;
            hs[1] = k2;
        });
    (points, halves)
}

/// `sum_j points[j] * scalars[j]` for scalars below `2^num_bits`, the
/// points as records (none the identity).
fn lanes_pippenger<L: AsRef<[u64]> + Sync>(
    mut points: Vec<Record>,
    scalars: &[L],
    num_bits: usize,
) -> G1Projective {
    let c = window_size(points.len(), num_bits);
    let windows = num_windows(num_bits, c);
    let k = signed_offset(c, windows);
    // Then the dummy point that pads a batch to a multiple of eight lanes
    // (2G, added to dummy buckets holding G).
    let g = G1Affine::generator();
    points.push(record(&(g + g).into_affine()));
    let dummy_bucket = record(&g);
    let sums: Vec<G1Projective> = (0..windows)
        .into_par_iter()
        .map(|w| {
            let mut acc = Window::new(c, &points, dummy_bucket);
            // Digits are found AHEAD terms early, and their buckets fetched
            // into the cache, so the queueing step does not wait for memory.
            let n = scalars.len();
            let mut ring = [0i32; AHEAD];
            for (slot, s) in ring.iter_mut().zip(scalars) {
                *slot = digit(s.as_ref(), &k, w, c);
            }
            for j in 0..n {
                let d = ring[j % AHEAD];
                if let Some(s) = scalars.get(j + AHEAD) {
                    let next = digit(s.as_ref(), &k, w, c);
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
    let mut total = G1Projective::zero();
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
struct Saved {
    bx: Fe8,
    by: Fe8,
    px: Fe8,
    py: Fe8,
    prefix: Fe8,
}

/// How many terms ahead of the queue a window computes digits and
/// prefetches buckets.
const AHEAD: usize = 8;

/// The buckets of one window.
struct Window<'a> {
    points: &'a [Record],
    /// `2^(c-1)` buckets, then eight dummy buckets for padding lanes.
    buckets: Vec<Record>,
    full: Vec<bool>,
    busy: Vec<bool>,
    side: Vec<Bucket<g1::Config>>,
    batch: Vec<Entry>,
    deferred: Vec<Entry>,
    saved: Vec<Saved>,
    cap: usize,
    dummy: Record,
    inv16: Fq,
}

impl<'a> Window<'a> {
    fn new(c: usize, points: &'a [Record], dummy: Record) -> Self {
        let n = 1usize << (c - 1);
        let cap = batch_size(n);
        Self {
            points,
            buckets: vec![[0u64; 2 * LIMBS]; n + 8],
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

    /// Asks for bucket `b`'s record and flags in the cache.
    #[inline]
    fn prefetch(&self, b: u32) {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let b = b as usize;
        // SAFETY: a prefetch is a hint; it reads nothing and cannot fault.
        unsafe {
            let rec = self.buckets.as_ptr().wrapping_add(b).cast::<i8>();
            _mm_prefetch::<_MM_HINT_T0>(rec);
            _mm_prefetch::<_MM_HINT_T0>(rec.wrapping_add(64));
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
    fn base(&self, e: Entry) -> G1Affine {
        let p = to_affine(&self.points[e.point as usize], &self.inv16);
        if e.neg { -p } else { p }
    }

    fn push(&mut self, e: Entry) {
        let b = e.bucket as usize;
        if self.busy[b] {
            if self.deferred.len() < self.cap {
                self.deferred.push(e);
            } else {
                let p = self.base(e);
                self.side[b] += p;
            }
            return;
        }
        let p: Record = self.points[e.point as usize];
        let y: Limbs = if e.neg {
            neg_limbs(&p[LIMBS..])
        } else {
            core::array::from_fn(|k| p[LIMBS + k])
        };
        let bucket = &mut self.buckets[b];
        if !self.full[b] {
            bucket[..LIMBS].copy_from_slice(&p[..LIMBS]);
            bucket[LIMBS..].copy_from_slice(&y);
            self.full[b] = true;
            return;
        }
        // Canonical records: equal x means P = ±B. (The low limb first: it
        // almost always differs.)
        if bucket[0] == p[0] && bucket[1..LIMBS] == p[1..LIMBS] {
            if bucket[LIMBS..] == y {
                let doubled = to_affine(bucket, &self.inv16).into_group().double();
                *bucket = record(&doubled.into_affine());
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
        let nb = self.full.len();
        let dummy_point = (self.points.len() - 1) as u32;
        let mut lane = 0u32;
        while !self.batch.len().is_multiple_of(8) {
            self.buckets[nb + lane as usize] = self.dummy;
            self.batch.push(Entry {
                bucket: nb as u32 + lane,
                point: dummy_point,
                neg: false,
            });
            lane += 1;
        }
        // SAFETY: a `Window` is only built by `pippenger`, which only the
        // `Lanes` engine calls, which exists only after `available()`
        // returned true. Every bucket index in the batch is below
        // `buckets.len()` (real ones below `nb`, padding `nb + lane` with
        // lane < 8) and every point index below `points.len()`.
        unsafe {
            accumulate(
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
    fn finish(mut self) -> G1Projective {
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
            unsafe { reduce::reduce(&self.buckets, &self.full, &self.inv16) }
        } else {
            let mut running = Bucket::<g1::Config>::default();
            let mut total = Bucket::<g1::Config>::default();
            for b in (0..nb).rev() {
                if self.full[b] {
                    running += to_affine(&self.buckets[b], &self.inv16);
                }
                total += &running;
            }
            total.into()
        };
        // The side buckets (only adversarial inputs fill many), by the
        // running-sum method, and only when there are any.
        if self.side.iter().all(Bucket::is_zero) {
            return affine;
        }
        let mut running = Bucket::<g1::Config>::default();
        let mut total = Bucket::<g1::Config>::default();
        for s in self.side.iter().rev() {
            if !s.is_zero() {
                running += s;
            }
            total += &running;
        }
        affine + G1Projective::from(total)
    }
}

/// Lane `l` of the result is `10 * ix[l]`, the offset in `u64` of record
/// `ix[l]`.
#[target_feature(enable = "avx512f")]
#[inline]
fn record_offsets(ix: [u32; 8]) -> __m512i {
    let o = |l: usize| i64::from(ix[l]) * (2 * LIMBS) as i64;
    _mm512_set_epi64(o(7), o(6), o(5), o(4), o(3), o(2), o(1), o(0))
}

/// Gathers the x (`from = 0`) or y (`from = LIMBS`) limbs of eight records.
///
/// # Safety
/// Every lane of `offsets` (a record index times ten) must address a record
/// of `base`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn gather(base: &[Record], offsets: __m512i, from: usize) -> Fe8 {
    let ptr = base.as_ptr().cast::<i64>();
    Fe8(core::array::from_fn(|k| {
        let o = _mm512_add_epi64(offsets, _mm512_set1_epi64((from + k) as i64));
        // SAFETY: by the caller, each lane is within `base`.
        unsafe { _mm512_i64gather_epi64::<8>(o, ptr) }
    }))
}

/// Scatters eight x or y values into records.
///
/// # Safety
/// As [`gather`], and the eight records must be distinct.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn scatter(base: &mut [Record], offsets: __m512i, from: usize, v: &Fe8) {
    let ptr = base.as_mut_ptr().cast::<i64>();
    for k in 0..LIMBS {
        let o = _mm512_add_epi64(offsets, _mm512_set1_epi64((from + k) as i64));
        // SAFETY: by the caller, each lane is within `base`, no two alike.
        unsafe { _mm512_i64scatter_epi64::<8>(ptr, o, v.0[k]) };
    }
}

/// Does the additions of `batch` (a multiple of eight, distinct buckets,
/// no bucket sharing x with its point) into `buckets`.
///
/// # Safety
/// The CPU has AVX-512F and IFMA; every index of `batch` is within
/// `buckets` and `points`.
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn accumulate(
    buckets: &mut [Record],
    points: &[Record],
    batch: &[Entry],
    saved: &mut Vec<Saved>,
    inv16: &Fq,
) {
    debug_assert_eq!(batch.len() % 8, 0);
    let c = Consts::new();
    let zero = field::splat(&[0; LIMBS]);
    let mut acc = field::splat(&field::from_ark(&Fq::ONE));
    saved.clear();
    let offsets = |chunk: &[Entry]| {
        let b = record_offsets(core::array::from_fn(|l| chunk[l].bucket));
        let p = record_offsets(core::array::from_fn(|l| chunk[l].point));
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
                gather(buckets, bo, 0),
                gather(buckets, bo, LIMBS),
                gather(points, po, 0),
                gather(points, po, LIMBS),
            )
        };
        let minus_py = field::sub(&zero, &py, &c.q);
        let py = Fe8(core::array::from_fn(|k| {
            _mm512_mask_blend_epi64(neg, py.0[k], minus_py.0[k])
        }));
        let dx = field::sub(&px, &bx, &c.q);
        saved.push(Saved {
            bx,
            by,
            px,
            py,
            prefix: acc,
        });
        acc = field::mul(&acc, &dx);
    }

    // The eight chain products, inverted together.
    let mut prods = field::to_lanes(&acc).map(|v| field::to_ark(&v, inv16));
    ark_ff::batch_inversion(&mut prods);
    let mut inv = field::from_lanes(&prods.map(|v| field::from_ark(&v)));

    for (chunk, s) in batch.chunks_exact(8).zip(saved.iter()).rev() {
        let (bo, _, _) = offsets(chunk);
        let dx = field::sub(&s.px, &s.bx, &c.q);
        let inv_dx = field::mul(&inv, &s.prefix);
        inv = field::mul(&inv, &dx);
        let dy = field::sub(&s.py, &s.by, &c.q);
        let lambda = field::mul(&dy, &inv_dx);
        let l2 = field::mul(&lambda, &lambda);
        // x3 = lambda^2 - x_B - x_P, below 4q before reduction.
        let x3 = field::sub(&field::sub(&l2, &s.bx, &c.q), &s.px, &c.q);
        let x3 = field::cond_sub(&field::cond_sub(&x3, &c.q2), &c.q);
        // y3 = lambda (x_B - x3) - y_B, below 3q before reduction.
        let y3 = field::mul(&lambda, &field::sub(&s.bx, &x3, &c.q));
        let y3 = field::sub(&y3, &s.by, &c.q);
        let y3 = field::cond_sub(&field::cond_sub(&y3, &c.q2), &c.q);
        // SAFETY: indices are within `buckets` and distinct within a batch.
        unsafe {
            scatter(buckets, bo, 0, &x3);
            scatter(buckets, bo, LIMBS, &y3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::Fr;
    use ark_ec::VariableBaseMSM;
    use ark_ff::{PrimeField, UniformRand};
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

    fn points(n: usize, rng: &mut StdRng) -> Vec<G1Affine> {
        let v: Vec<G1Projective> = (0..n).map(|_| G1Projective::rand(rng)).collect();
        G1Projective::normalize_batch(&v)
    }

    fn check(bases: &[G1Affine], scalars: &[Fr]) {
        let big: Vec<_> = scalars.iter().map(|s| s.into_bigint()).collect();
        let ours = msm_g1(bases, &big).expect("IFMA present");
        assert_eq!(ours, cpu::naive_msm(bases, &big));
        assert_eq!(ours, G1Projective::msm_unchecked(bases, scalars));
        assert_eq!(msm_g1_tuned(bases, &big), Some(ours));
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

    #[test]
    fn records_round_trip() {
        let mut rng = StdRng::seed_from_u64(1);
        let inv16 = field::ark_inv16();
        for p in points(20, &mut rng) {
            let r = record(&p);
            assert_eq!(to_affine(&r, &inv16), p);
            let mut neg = r;
            neg[LIMBS..].copy_from_slice(&neg_limbs(&r[LIMBS..]));
            assert_eq!(to_affine(&neg, &inv16), -p);
        }
    }

    #[test]
    fn edge_cases() {
        if !lanes_here() {
            return;
        }
        let mut rng = StdRng::seed_from_u64(2);
        let p = points(300, &mut rng);
        let minus_one = -Fr::from(1u64);
        for n in [0usize, 1, 2, 3, 8, 9, 31, 257, 300] {
            let s: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
            check(&p[..n], &s);
            check(&p[..n], &vec![Fr::zero(); n]);
            check(&p[..n], &vec![minus_one; n]);
            check(&p[..n], &vec![Fr::from(1u64); n]);
            check(&vec![G1Affine::identity(); n], &s);
            check(&vec![p[0]; n], &s);
            // Same point, same scalar: every term in one bucket of each
            // window (doublings, deferrals, side buckets).
            check(&vec![p[0]; n], &vec![Fr::from(5u64); n]);
            check(
                &vec![p[0]; n],
                &vec![s.first().copied().unwrap_or_default(); n],
            );
            check(&vec![p[0]; n], &vec![minus_one; n]);
        }
        // P and -P, and pairs that double, within one batch.
        let mut pts = Vec::new();
        for q in &p[..50] {
            pts.extend([*q, -*q, *q]);
        }
        let s: Vec<Fr> = (0..pts.len())
            .map(|i| Fr::from((i % 3) as u64 + 1000))
            .collect();
        check(&pts, &s);
        // The same with large scalars: P and -P under the same digits.
        let big = Fr::rand(&mut rng);
        check(&pts, &vec![big; pts.len()]);
    }

    #[test]
    fn larger_fixed_cases() {
        if !lanes_here() {
            return;
        }
        let mut rng = StdRng::seed_from_u64(3);
        for n in [1000usize, 5000, 20000] {
            let p = points(n, &mut rng);
            let s: Vec<Fr> = (0..n)
                .map(|i| match i % 5 {
                    0 => Fr::from(i as u64),
                    1 => -Fr::from(i as u64),
                    2 => Fr::from(u64::MAX - i as u64),
                    _ => Fr::rand(&mut rng),
                })
                .collect();
            let big: Vec<_> = s.iter().map(|s| s.into_bigint()).collect();
            let want = G1Projective::msm_unchecked(&p, &s);
            assert_eq!(msm_g1(&p, &big), Some(want));
            assert_eq!(msm_g1_tuned(&p, &big), Some(want));
        }
    }

    #[test]
    fn glv_edge_scalars() {
        if !lanes_here() {
            return;
        }
        let mut rng = StdRng::seed_from_u64(5);
        let p = points(200, &mut rng);
        let lambda = <g1::Config as ark_ec::scalar_mul::glv::GLVConfig>::LAMBDA;
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
            check(&p, &vec![k; p.len()]);
            let mixed: Vec<Fr> = (0..p.len())
                .map(|i| if i % 2 == 0 { k } else { Fr::rand(&mut rng) })
                .collect();
            check(&p, &mixed);
        }
        // P and phi(P) = lambda P in one MSM: the halves of the two terms
        // land on the same points.
        let phi: Vec<G1Affine> = p
            .iter()
            .map(|q| G1Affine::new_unchecked(q.x * glv::BETA, q.y))
            .collect();
        let both: Vec<G1Affine> = p.iter().chain(&phi).copied().collect();
        let s: Vec<Fr> = (0..both.len()).map(|_| Fr::rand(&mut rng)).collect();
        check(&both, &s);
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
        assert_eq!(msm_g1(&p, &ints), Some(cpu::naive_msm(&p, &ints)));
    }

    fn scalar_strategy() -> impl Strategy<Value = Fr> {
        prop_oneof![
            Just(Fr::zero()),
            Just(Fr::from(1u64)),
            Just(-Fr::from(1u64)),
            any::<u64>().prop_map(Fr::from),
            any::<u64>().prop_map(|v| -Fr::from(v)),
            any::<[u8; 32]>().prop_map(|b| Fr::from_le_bytes_mod_order(&b)),
            any::<[u8; 32]>().prop_map(|b| Fr::from_le_bytes_mod_order(&b)),
        ]
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
            let mut rng = StdRng::seed_from_u64(seed);
            let mut p = points(scalars.len(), &mut rng);
            for i in 0..p.len() {
                if identity_every > 0 && i % (identity_every + 1) == identity_every {
                    p[i] = G1Affine::identity();
                } else if repeat_every > 0 && i % (repeat_every + 1) == 0 {
                    p[i] = p[0];
                } else if negate_every > 0 && i % (negate_every + 1) == 1 {
                    p[i] = -p[0];
                }
            }
            check(&p, &scalars);
        }
    }
}
