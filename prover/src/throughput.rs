//! Proofs per second when many small proofs wait: `k` proofs at once, each
//! in its own rayon pool of `cores / k` threads, against one proof at a
//! time on every core. For small circuits the second is often not the
//! faster one (the prover's parallel sections are short and its serial ones
//! leave cores idle), so it is measured, not assumed. `zkr bench prove`
//! reports both sides at their best, `zkr loadgen --baseline` uses it as
//! the raw rate, and the prover pool chooses its number of slots with it.

use std::collections::BTreeMap;
use std::time::Instant;

use ark_bn254::{Bn254, Fr};
use ark_groth16::ProvingKey;
use ark_relations::gr1cs::ConstraintSynthesizer;
use ark_std::rand::rngs::OsRng;

use crate::{Backend, Error, Prepared, Result};

/// More proofs at once must be this much faster than fewer to be chosen:
/// fewer at once means lower latency and less memory for the same work.
pub const MIN_GAIN: f64 = 1.05;

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The ways to split the cores among proofs: 1, the powers of two below
/// the core count, and the core count.
pub fn parallelisms() -> Vec<usize> {
    let cores = cores();
    let mut v: Vec<usize> = (0..)
        .map(|i| 1usize << i)
        .take_while(|k| *k < cores)
        .collect();
    v.push(cores);
    v
}

/// Threads of each of `k` proofs at once: its share of the cores, at
/// least one.
pub fn threads_each(k: usize) -> usize {
    (cores() / k.max(1)).max(1)
}

/// A rayon pool of `threads` threads, named `name-N`.
pub fn pool(threads: usize, name: &str) -> Result<rayon::ThreadPool> {
    let name = name.to_string();
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(move |i| format!("{name}-{i}"))
        .build()
        .map_err(|e| Error::Throughput(format!("thread pool: {e}")))
}

/// Proofs per second with `k` proofs at once: `k` threads, each in a rayon
/// pool of [`threads_each`]`(k)` threads, `rounds` proofs each.
/// `prove_one(i)` proves the `i`-th proof; its first error ends the
/// measurement.
///
/// Each pool first proves one proof that is not timed: its threads are
/// new, and a new thread's first proof pays for memory the allocator has
/// not yet mapped for it. A service's pools live on; counting that cost
/// would weigh on every larger `k` (more new threads) in a short
/// measurement.
pub fn proofs_per_s(
    k: usize,
    rounds: usize,
    prove_one: &(dyn Fn(u64) -> Result<()> + Sync),
) -> Result<f64> {
    let k = k.max(1);
    let rounds = rounds.max(1);
    let pools = (0..k)
        .map(|w| pool(threads_each(k), &format!("zkr-measure-{w}")))
        .collect::<Result<Vec<_>>>()?;
    let start = std::sync::Barrier::new(k + 1);
    let (results, secs) = std::thread::scope(|scope| {
        let handles: Vec<_> = pools
            .iter()
            .enumerate()
            .map(|(w, pool)| {
                let start = &start;
                scope.spawn(move || {
                    pool.install(|| {
                        let warm = prove_one((k * rounds + w) as u64);
                        start.wait();
                        warm?;
                        (0..rounds).try_for_each(|i| prove_one((w * rounds + i) as u64))
                    })
                })
            })
            .collect();
        start.wait();
        let t = Instant::now();
        let results: Vec<Result<()>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Throughput("a proving thread panicked".into())))
            })
            .collect();
        (results, t.elapsed().as_secs_f64())
    });
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok((k * rounds) as f64 / secs.max(1e-9))
}

/// The outcome of [`choose`].
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    /// Proofs at once that gave the best rate (see [`MIN_GAIN`]).
    pub parallel: usize,
    /// Proofs per second at `parallel`.
    pub per_s: f64,
    /// Proofs per second of each `k` tried.
    pub tried: BTreeMap<usize, f64>,
}

impl Choice {
    /// Whether the choice proved at least [`MIN_GAIN`] times as fast as
    /// every other number tried: a clear measurement, not one within noise.
    pub fn clear(&self) -> bool {
        self.tried
            .iter()
            .all(|(k, r)| *k == self.parallel || self.per_s >= r * MIN_GAIN)
    }
}

/// Measures each `k` of `ks` with about `total` proofs (`total / k`
/// rounds each, at least one), twice, alternating the `k`s so that a
/// passing disturbance (a process starting beside) hits them alike, and
/// keeps each `k`'s better rate. A larger `k` wins only when it is at
/// least [`MIN_GAIN`] times faster than the best smaller one.
pub fn choose(
    ks: &[usize],
    total: usize,
    prove_one: &(dyn Fn(u64) -> Result<()> + Sync),
) -> Result<Choice> {
    let mut ks = ks.to_vec();
    ks.retain(|k| *k > 0);
    ks.sort_unstable();
    ks.dedup();
    let mut tried: BTreeMap<usize, f64> = BTreeMap::new();
    for _ in 0..2 {
        for &k in &ks {
            let rate = proofs_per_s(k, total.div_ceil(k), prove_one)?;
            let r = tried.entry(k).or_insert(0.0);
            *r = r.max(rate);
        }
    }
    let mut best: Option<(usize, f64)> = None;
    for (&k, &rate) in &tried {
        if best.is_none_or(|(_, r)| rate >= r * MIN_GAIN) {
            best = Some((k, rate));
        }
    }
    let (parallel, per_s) =
        best.ok_or_else(|| Error::Throughput("no parallelism to measure".into()))?;
    Ok(Choice {
        parallel,
        per_s,
        tried,
    })
}

/// [`choose`] for proofs of `circuit` from `prepared` on the CPU, each
/// with fresh randomness, after one proof of warm-up (caches, thread
/// start-up): what many small jobs of this circuit would see.
pub fn choose_for<C>(
    prepared: &Prepared,
    pk: &ProvingKey<Bn254>,
    circuit: &C,
    ks: &[usize],
    total: usize,
) -> Result<Choice>
where
    C: ConstraintSynthesizer<Fr> + Clone + Sync,
{
    let prove = |_: u64| {
        prepared
            .prove(pk, circuit.clone(), &mut OsRng, Backend::Cpu)
            .map(|_| ())
    };
    prove(0)?;
    choose(ks, total, &prove)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[test]
    fn parallelisms_start_at_one_and_end_at_the_cores() {
        let p = parallelisms();
        assert_eq!(p[0], 1);
        assert_eq!(*p.last().expect("one at least"), cores());
        assert!(p.windows(2).all(|w| w[0] < w[1]));
    }

    /// Work that waits (as a proof waits on a device, or scales with
    /// proofs at once) is measured faster with more at once, and chosen.
    #[test]
    fn concurrency_that_pays_is_chosen() {
        let wait = |_: u64| {
            std::thread::sleep(Duration::from_millis(15));
            Ok(())
        };
        let c = choose(&[1, 4], 8, &wait).expect("measured");
        assert_eq!(c.parallel, 4, "{c:?}");
        assert!(c.tried[&4] > 2.0 * c.tried[&1], "{c:?}");
        assert!(c.clear(), "{c:?}");
    }

    /// Work that cannot overlap (one lock held throughout) is no faster
    /// with more at once: one at a time is kept.
    #[test]
    fn concurrency_that_does_not_pay_is_not_chosen() {
        let lock = Mutex::new(());
        let serial = |_: u64| {
            let _held = lock
                .lock()
                .map_err(|_| Error::Throughput("poisoned".into()))?;
            std::thread::sleep(Duration::from_millis(15));
            Ok(())
        };
        let c = choose(&[1, 4], 8, &serial).expect("measured");
        assert_eq!(c.parallel, 1, "{c:?}");
        assert_eq!(c.tried.len(), 2);
        // Within noise of each other: not a clear choice.
        assert!(!c.clear(), "{c:?}");
    }

    #[test]
    fn a_failing_proof_ends_the_measurement_with_its_error() {
        let fail = |i: u64| {
            if i == 1 {
                Err(Error::Synthesis("no".into()))
            } else {
                Ok(())
            }
        };
        assert!(matches!(
            choose(&[1], 3, &fail),
            Err(Error::Synthesis(m)) if m == "no"
        ));
        assert!(matches!(choose(&[], 3, &fail), Err(Error::Throughput(_))));
    }

    /// A new thread's first proof, slower than the rest, is not timed.
    #[test]
    fn a_new_threads_first_proof_is_not_timed() {
        thread_local! {
            static FIRST: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
        }
        let prove = |_: u64| {
            let first = FIRST.with(|f| f.replace(false));
            std::thread::sleep(Duration::from_millis(if first { 200 } else { 10 }));
            Ok(())
        };
        // Busy slots prove 2 / 0.01 s; a first proof timed in each pool
        // would give at most 4 / 0.21 s.
        let rate = proofs_per_s(2, 2, &prove).expect("measured");
        assert!(rate > 60.0, "{rate}");
    }

    #[test]
    fn each_proof_runs_in_a_pool_of_its_share_of_the_cores() {
        let seen = Mutex::new(Vec::new());
        let record = |_: u64| {
            seen.lock()
                .map_err(|_| Error::Throughput("poisoned".into()))?
                .push(rayon::current_num_threads());
            Ok(())
        };
        proofs_per_s(2, 2, &record).expect("measured");
        let seen = seen.into_inner().expect("lock");
        // Two rounds and one warm-up proof in each of the two pools.
        assert_eq!(seen.len(), 6);
        assert!(seen.iter().all(|t| *t == threads_each(2)), "{seen:?}");
    }
}
