//! The CPU backend: signed-digit Pippenger with batch-affine bucket
//! accumulation, parallel over windows with rayon.
//!
//! Why this beats `ark_ec::VariableBaseMSM`: arkworks adds every point into
//! an extended-Jacobian (XYZZ) bucket, ~8M + 2S per addition. Here the
//! buckets stay affine and the additions of one window are done in batches
//! that share one field inversion (Montgomery's trick), ~5M + 1S per
//! addition. The window is picked from an operation-count model rather than
//! from `log n` alone, and scalars that are 0, ±1 or ±(< 2^64) (common in
//! circuits full of bit decompositions) take cheaper paths.

use ark_ec::AffineRepr;
use ark_ec::short_weierstrass::{Affine, Bucket, Projective, SWCurveConfig};
use ark_ff::{AdditiveGroup, BigInteger, Field, PrimeField, Zero};
use rayon::prelude::*;

/// Scalars in canonical (non-Montgomery) form, as `PrimeField::into_bigint`
/// gives them.
pub type ScalarBigInt<C> = <<C as ark_ec::CurveConfig>::ScalarField as PrimeField>::BigInt;

/// Largest window: digits must fit an `i32` and the bucket array of one
/// window must stay small enough for the cache.
const MAX_WINDOW: usize = 16;

/// Relative costs, in field multiplications, used by [`window_size`]:
/// a batch-affine addition without its share of the inversion, a mixed
/// XYZZ addition, a full XYZZ addition, and one inversion (binary extended
/// Euclid in arkworks, measured at ~150 multiplications).
const COST_AFFINE_ADD: f64 = 6.0;
const COST_MIXED_ADD: f64 = 10.0;
const COST_FULL_ADD: f64 = 14.0;
const COST_INVERSION: f64 = 150.0;

/// Below this many buckets batching does not pay: a batch would either be
/// too small to share the inversion or collide too often.
const MIN_BATCHED_BUCKETS: usize = 64;

/// Pending additions per batch for `buckets` buckets. A batch of `k` shares
/// one inversion (`I / k` per addition) but a point meets a bucket that is
/// already pending with probability ~`k / 2B`, and then costs a mixed XYZZ
/// addition instead (`4` more): `I / k + 2k / B` is least at
/// `k = sqrt(I B / 2)`.
fn batch_size(buckets: usize) -> usize {
    if buckets < MIN_BATCHED_BUCKETS {
        return 0;
    }
    ((COST_INVERSION * buckets as f64 / 2.0).sqrt() as usize).clamp(16, 1024)
}

/// Estimated cost of adding one point into one of `buckets` buckets.
fn add_cost(buckets: usize) -> f64 {
    match batch_size(buckets) {
        0 => COST_MIXED_ADD,
        k => {
            let k = k as f64;
            COST_AFFINE_ADD
                + COST_INVERSION / k
                + (COST_MIXED_ADD - COST_AFFINE_ADD) * k / (2.0 * buckets as f64)
        }
    }
}

/// Number of signed-digit windows of width `c` for scalars below
/// `2^num_bits`. Two spare bits so that the offset used by [`digit`] never
/// overflows the top window.
pub(crate) fn num_windows(num_bits: usize, c: usize) -> usize {
    (num_bits + 2).div_ceil(c)
}

/// Picks the window width that minimises the estimated work:
/// per window, `n` batch-affine additions into the buckets and
/// `2^(c-1)` mixed plus full additions to sum the buckets.
pub fn window_size(n: usize, num_bits: usize) -> usize {
    let cost = |c: usize| {
        let buckets = 1usize << (c - 1);
        num_windows(num_bits, c) as f64
            * (n as f64 * add_cost(buckets) + buckets as f64 * (COST_MIXED_ADD + COST_FULL_ADD))
    };
    (2..=MAX_WINDOW)
        .min_by(|&a, &b| cost(a).total_cmp(&cost(b)))
        .unwrap_or(2)
}

/// The offset `K = sum_w 2^(c-1) * 2^(c w)`: with `s' = s + K`, digit `w` of
/// `s` is `((s' >> c w) mod 2^c) - 2^(c-1)`, in `[-2^(c-1), 2^(c-1))`.
/// Every window's digit is then found without walking the carries of the
/// lower windows, so the windows are independent and no digit table is
/// stored.
pub(crate) fn signed_offset(c: usize, windows: usize) -> [u64; 6] {
    let mut k = [0u64; 6];
    for w in 0..windows {
        let bit = w * c + c - 1;
        k[bit / 64] |= 1 << (bit % 64);
    }
    k
}

/// Digit `w` (width `c`) of the scalar with limbs `s`, given the offset `k`.
#[inline(always)]
pub(crate) fn digit(s: &[u64], k: &[u64; 6], w: usize, c: usize) -> i32 {
    let lo = w * c;
    let limb = lo / 64;
    let shift = lo % 64;
    // s + k, limb by limb, only as far as the limbs that hold the window.
    let last = (lo + c - 1) / 64;
    let mut carry = 0u64;
    let mut window = [0u64; 2];
    for (i, &ki) in k.iter().enumerate().take(last + 1) {
        let si = s.get(i).copied().unwrap_or(0);
        let (a, c1) = si.overflowing_add(ki);
        let (a, c2) = a.overflowing_add(carry);
        carry = u64::from(c1 | c2);
        if i >= limb {
            window[i - limb] = a;
        }
    }
    let mut bits = window[0] >> shift;
    if shift + c > 64 {
        bits |= window[1] << (64 - shift);
    }
    let mask = (1u64 << c) - 1;
    ((bits & mask) as i64 - (1i64 << (c - 1))) as i32
}

/// The bucket arithmetic behind [`msm_with`]: `bases[idx[k]] * scalars[k]`
/// summed, for scalars below `2^num_bits`.
pub(crate) trait Engine<C: SWCurveConfig>: Sync {
    fn pippenger<L: AsRef<[u64]> + Sync>(
        &self,
        bases: &[Affine<C>],
        idx: &[u32],
        scalars: &[L],
        num_bits: usize,
    ) -> Projective<C>;
}

/// The portable engine: arkworks' field arithmetic, any curve.
pub(crate) struct Portable;

impl<C: SWCurveConfig> Engine<C> for Portable {
    fn pippenger<L: AsRef<[u64]> + Sync>(
        &self,
        bases: &[Affine<C>],
        idx: &[u32],
        scalars: &[L],
        num_bits: usize,
    ) -> Projective<C> {
        pippenger(bases, idx, scalars, num_bits)
    }
}

/// `bases[idx[k]] * scalars[k]` summed, by Pippenger with signed digits of
/// width chosen by [`window_size`]. `num_bits` bounds the scalars.
fn pippenger<C, L>(
    bases: &[Affine<C>],
    idx: &[u32],
    scalars: &[L],
    num_bits: usize,
) -> Projective<C>
where
    C: SWCurveConfig,
    L: AsRef<[u64]> + Sync,
{
    debug_assert_eq!(idx.len(), scalars.len());
    if idx.is_empty() {
        return Projective::zero();
    }
    let c = window_size(idx.len(), num_bits);
    let windows = num_windows(num_bits, c);
    let k = signed_offset(c, windows);
    let sums: Vec<Projective<C>> = (0..windows)
        .into_par_iter()
        .map(|w| {
            let mut acc = WindowAccumulator::<C>::new(c);
            for (&i, s) in idx.iter().zip(scalars) {
                let d = digit(s.as_ref(), &k, w, c);
                if d != 0 {
                    let p = bases[i as usize];
                    let p = if d < 0 { -p } else { p };
                    acc.add(d.unsigned_abs() as usize - 1, p);
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

/// The buckets of one window. Additions are queued into a batch with at most
/// one pending addition per bucket; a full batch is finished with one shared
/// inversion. A point whose bucket already has a pending addition goes into
/// an XYZZ side bucket instead, so that adversarial inputs (all points in one
/// bucket) cost no more than the classical method.
struct WindowAccumulator<C: SWCurveConfig> {
    buckets: Vec<Affine<C>>,
    side: Vec<Bucket<C>>,
    busy: Vec<bool>,
    batch: Vec<(u32, Affine<C>)>,
    prefix: Vec<C::BaseField>,
    cap: usize,
}

impl<C: SWCurveConfig> WindowAccumulator<C> {
    fn new(c: usize) -> Self {
        let n = 1usize << (c - 1);
        let cap = batch_size(n);
        Self {
            buckets: vec![Affine::identity(); n],
            side: vec![Bucket::default(); n],
            busy: vec![false; n],
            batch: Vec::with_capacity(cap),
            prefix: Vec::with_capacity(cap),
            cap,
        }
    }

    #[inline]
    fn add(&mut self, b: usize, p: Affine<C>) {
        if self.cap == 0 || self.busy[b] {
            self.side[b] += p;
            return;
        }
        let bucket = &mut self.buckets[b];
        if bucket.is_zero() {
            *bucket = p;
            return;
        }
        if bucket.x == p.x {
            // Doubling or cancellation: rare, done directly.
            *bucket = if bucket.y == p.y {
                Affine::from(bucket.into_group().double())
            } else {
                Affine::identity()
            };
            return;
        }
        self.busy[b] = true;
        self.batch.push((b as u32, p));
        if self.batch.len() == self.cap {
            self.flush();
        }
    }

    /// Finishes the pending additions with one inversion.
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        self.prefix.clear();
        let mut acc = C::BaseField::ONE;
        for (b, p) in &self.batch {
            self.prefix.push(acc);
            acc *= p.x - self.buckets[*b as usize].x;
        }
        // Non-zero: every pending pair has distinct x.
        let mut inv = acc.inverse().unwrap_or(C::BaseField::ZERO);
        for ((b, p), before) in self.batch.iter().zip(&self.prefix).rev() {
            let q = &mut self.buckets[*b as usize];
            let dx = p.x - q.x;
            let inv_dx = inv * before;
            inv *= dx;
            let lambda = (p.y - q.y) * inv_dx;
            let x3 = lambda.square() - q.x - p.x;
            let y3 = lambda * (q.x - x3) - q.y;
            *q = Affine::new_unchecked(x3, y3);
            self.busy[*b as usize] = false;
        }
        self.batch.clear();
    }

    /// `sum_b (b + 1) * bucket_b` by the running-sum method.
    fn finish(mut self) -> Projective<C> {
        self.flush();
        let mut running = Bucket::<C>::default();
        let mut total = Bucket::<C>::default();
        for (b, s) in self.buckets.iter().zip(&self.side).rev() {
            if !b.is_zero() {
                running += b;
            }
            if !s.is_zero() {
                running += s;
            }
            total += &running;
        }
        total.into()
    }
}

/// Sums `bases[i]` for `i` in `idx`, in parallel.
fn sum_points<C: SWCurveConfig>(bases: &[Affine<C>], idx: &[u32]) -> Projective<C> {
    idx.par_chunks(4096)
        .map(|chunk| {
            let mut acc = Bucket::<C>::default();
            for &i in chunk {
                acc += bases[i as usize];
            }
            Projective::from(acc)
        })
        .sum()
}

/// The scalars of one MSM sorted by the path that is cheapest for them.
#[derive(Default)]
struct Classes<'a, B> {
    ones: Vec<u32>,
    minus_ones: Vec<u32>,
    small: (Vec<u32>, Vec<[u64; 1]>),
    minus_small: (Vec<u32>, Vec<[u64; 1]>),
    large: (Vec<u32>, Vec<&'a B>),
}

fn classify<'a, C: SWCurveConfig>(
    bases: &[Affine<C>],
    scalars: &'a [ScalarBigInt<C>],
) -> Classes<'a, ScalarBigInt<C>> {
    let modulus = C::ScalarField::MODULUS;
    let mut cl = Classes::default();
    for (i, (s, p)) in scalars.iter().zip(bases).enumerate() {
        if s.is_zero() || p.is_zero() {
            continue;
        }
        let i = i as u32;
        let limbs = s.as_ref();
        if limbs[1..].iter().all(|&l| l == 0) {
            if limbs[0] == 1 {
                cl.ones.push(i);
            } else {
                cl.small.0.push(i);
                cl.small.1.push([limbs[0]]);
            }
            continue;
        }
        // p - s small: a small negative scalar.
        let mut neg = modulus;
        neg.sub_with_borrow(s);
        let nl = neg.as_ref();
        if nl[1..].iter().all(|&l| l == 0) {
            if nl[0] == 1 {
                cl.minus_ones.push(i);
            } else {
                cl.minus_small.0.push(i);
                cl.minus_small.1.push([nl[0]]);
            }
            continue;
        }
        cl.large.0.push(i);
        cl.large.1.push(s);
    }
    cl
}

/// `sum_i bases[i] * scalars[i]`, over the common length of the two slices,
/// with the portable arithmetic. Identity points and zero scalars are
/// allowed anywhere.
pub fn msm<C: SWCurveConfig>(bases: &[Affine<C>], scalars: &[ScalarBigInt<C>]) -> Projective<C> {
    msm_with(&Portable, bases, scalars)
}

/// Which arithmetic the CPU backend uses (for G1 and G2 alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuPath {
    /// arkworks' field arithmetic ([`msm`]).
    Scalar,
    /// Eight lanes of AVX-512 IFMA (x86-64 CPUs that have it).
    Ifma,
}

impl CpuPath {
    /// `"scalar"` or `"ifma"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Scalar => "scalar",
            Self::Ifma => "ifma",
        }
    }
}

/// The path of this process: IFMA when the CPU has it, unless the
/// environment says `ZKR_CPU_MSM=scalar` (so that CI can test the portable
/// path on IFMA machines). Decided once.
pub fn cpu_path() -> CpuPath {
    static PATH: std::sync::OnceLock<CpuPath> = std::sync::OnceLock::new();
    *PATH.get_or_init(|| {
        let forced_scalar =
            std::env::var("ZKR_CPU_MSM").is_ok_and(|v| v.trim().eq_ignore_ascii_case("scalar"));
        if !forced_scalar && ifma_available() {
            CpuPath::Ifma
        } else {
            CpuPath::Scalar
        }
    })
}

#[cfg(target_arch = "x86_64")]
fn ifma_available() -> bool {
    crate::ifma::available()
}

#[cfg(not(target_arch = "x86_64"))]
fn ifma_available() -> bool {
    false
}

/// G1 MSM on the path given by [`cpu_path`].
pub fn msm_g1(bases: &[ark_bn254::G1Affine], scalars: &[crate::Scalar]) -> ark_bn254::G1Projective {
    msm_g1_on(cpu_path(), bases, scalars)
}

/// G1 MSM on the given path; the IFMA path on a CPU without IFMA (or off
/// x86-64) is the scalar path.
pub fn msm_g1_on(
    path: CpuPath,
    bases: &[ark_bn254::G1Affine],
    scalars: &[crate::Scalar],
) -> ark_bn254::G1Projective {
    #[cfg(target_arch = "x86_64")]
    if path == CpuPath::Ifma
        && let Some(r) = crate::ifma::msm_g1_tuned(bases, scalars)
    {
        return r;
    }
    let _ = path;
    msm(bases, scalars)
}

/// G2 MSM on the path given by [`cpu_path`].
pub fn msm_g2(bases: &[ark_bn254::G2Affine], scalars: &[crate::Scalar]) -> ark_bn254::G2Projective {
    msm_g2_on(cpu_path(), bases, scalars)
}

/// G2 MSM on the given path, as [`msm_g1_on`].
pub fn msm_g2_on(
    path: CpuPath,
    bases: &[ark_bn254::G2Affine],
    scalars: &[crate::Scalar],
) -> ark_bn254::G2Projective {
    #[cfg(target_arch = "x86_64")]
    if path == CpuPath::Ifma
        && let Some(r) = crate::ifma::msm_g2_tuned(bases, scalars)
    {
        return r;
    }
    let _ = path;
    msm(bases, scalars)
}

/// [`msm`] with the bucket arithmetic of `engine`.
pub(crate) fn msm_with<C: SWCurveConfig, E: Engine<C>>(
    engine: &E,
    bases: &[Affine<C>],
    scalars: &[ScalarBigInt<C>],
) -> Projective<C> {
    let n = bases.len().min(scalars.len());
    let (bases, scalars) = (&bases[..n], &scalars[..n]);
    let cl = classify(bases, scalars);
    let num_bits = C::ScalarField::MODULUS_BIT_SIZE as usize;
    let (((ones, minus_ones), (small, minus_small)), large) = rayon::join(
        || {
            rayon::join(
                || {
                    rayon::join(
                        || sum_points(bases, &cl.ones),
                        || sum_points(bases, &cl.minus_ones),
                    )
                },
                || {
                    rayon::join(
                        || engine.pippenger(bases, &cl.small.0, &cl.small.1, 64),
                        || engine.pippenger(bases, &cl.minus_small.0, &cl.minus_small.1, 64),
                    )
                },
            )
        },
        || engine.pippenger(bases, &cl.large.0, &cl.large.1, num_bits),
    );
    ones - minus_ones + small - minus_small + large
}

/// The textbook definition, for tests: one scalar multiplication per term.
pub fn naive_msm<C: SWCurveConfig>(
    bases: &[Affine<C>],
    scalars: &[ScalarBigInt<C>],
) -> Projective<C> {
    bases
        .iter()
        .zip(scalars)
        .map(|(p, s)| p.mul_bigint(s))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{points, scalar_strategy};
    use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
    use ark_ec::VariableBaseMSM;
    use ark_ff::UniformRand;
    use ark_std::rand::{SeedableRng, rngs::StdRng};
    use proptest::prelude::*;

    fn check_g1(bases: &[G1Affine], scalars: &[Fr]) {
        let big: Vec<_> = scalars.iter().map(|s| s.into_bigint()).collect();
        let ours = msm(bases, &big);
        assert_eq!(ours, naive_msm(bases, &big));
        assert_eq!(ours, G1Projective::msm_unchecked(bases, scalars));
    }

    #[test]
    fn digits_recompose() {
        let mut rng = StdRng::seed_from_u64(1);
        for c in 2..=MAX_WINDOW {
            let windows = num_windows(254, c);
            let k = signed_offset(c, windows);
            for _ in 0..20 {
                let s = Fr::rand(&mut rng).into_bigint();
                let mut acc = Fr::zero();
                for w in (0..windows).rev() {
                    for _ in 0..c {
                        acc.double_in_place();
                    }
                    acc += Fr::from(digit(s.as_ref(), &k, w, c) as i64);
                }
                assert_eq!(acc.into_bigint(), s, "c = {c}");
            }
        }
    }

    #[test]
    fn window_grows_with_n() {
        assert!(window_size(1 << 20, 254) >= window_size(1 << 16, 254));
        assert!(window_size(1 << 16, 254) > window_size(1 << 8, 254));
    }

    #[test]
    fn edge_cases() {
        let mut rng = StdRng::seed_from_u64(2);
        let p = points::<G1Projective>(300, &mut rng);
        let minus_one = -Fr::from(1u64);
        for n in [0usize, 1, 2, 3, 31, 257, 300] {
            let s: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
            check_g1(&p[..n], &s);
            check_g1(&p[..n], &vec![Fr::zero(); n]);
            check_g1(&p[..n], &vec![minus_one; n]);
            check_g1(&p[..n], &vec![Fr::from(1u64); n]);
            check_g1(&vec![G1Affine::identity(); n], &s);
            check_g1(&vec![p[0]; n], &s);
            // same point, same scalar: everything in one bucket.
            check_g1(&vec![p[0]; n], &vec![Fr::from(5u64); n]);
            check_g1(
                &vec![p[0]; n],
                &vec![s.first().copied().unwrap_or_default(); n],
            );
        }
        // P and -P, and pairs that double, within one batch.
        let mut pts = Vec::new();
        for q in &p[..50] {
            pts.extend([*q, -*q, *q]);
        }
        let s: Vec<Fr> = (0..pts.len())
            .map(|i| Fr::from((i % 3) as u64 + 1000))
            .collect();
        check_g1(&pts, &s);
    }

    #[test]
    fn larger_fixed_cases() {
        let mut rng = StdRng::seed_from_u64(3);
        for n in [1000usize, 5000] {
            let p = points::<G1Projective>(n, &mut rng);
            let s: Vec<Fr> = (0..n)
                .map(|i| match i % 5 {
                    0 => Fr::from(i as u64),
                    1 => -Fr::from(i as u64),
                    2 => Fr::from(u64::MAX - i as u64),
                    _ => Fr::rand(&mut rng),
                })
                .collect();
            let big: Vec<_> = s.iter().map(|s| s.into_bigint()).collect();
            assert_eq!(msm(&p, &big), G1Projective::msm_unchecked(&p, &s));
        }
    }

    #[test]
    fn g2_matches_arkworks() {
        let mut rng = StdRng::seed_from_u64(4);
        for n in [0usize, 1, 2, 100, 1000] {
            let p = points::<G2Projective>(n, &mut rng);
            let s: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
            let big: Vec<_> = s.iter().map(|s| s.into_bigint()).collect();
            let ours: G2Projective = msm::<ark_bn254::g2::Config>(&p, &big);
            assert_eq!(ours, G2Projective::msm_unchecked(&p, &s));
            let mut with_zero = p.clone();
            if let Some(first) = with_zero.first_mut() {
                *first = G2Affine::identity();
            }
            assert_eq!(naive_msm(&with_zero, &big), msm(&with_zero, &big));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn equals_naive_and_arkworks(
            seed in any::<u64>(),
            scalars in proptest::collection::vec(scalar_strategy(), 0..80),
            identity_every in 0usize..8,
            repeat_every in 0usize..8,
        ) {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut p = points::<G1Projective>(scalars.len(), &mut rng);
            for i in 0..p.len() {
                if identity_every > 0 && i % (identity_every + 1) == identity_every {
                    p[i] = G1Affine::identity();
                } else if repeat_every > 0 && i % (repeat_every + 1) == 0 {
                    p[i] = p[0];
                }
            }
            check_g1(&p, &scalars);
        }
    }
}
