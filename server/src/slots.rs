//! Proving slots of a node's CPU workers under `workers = "auto"`: how
//! many proofs run at once, each in a rayon pool of its share of the
//! cores, chosen by the throughput the node measures while it proves.
//!
//! The startup measurement ([`crate::worker::choose_workers`]) gives the
//! first choice; it lasts a few seconds and a disturbance then (other
//! processes starting beside, a cold machine) can make it wrong for the
//! life of the process. So while jobs wait for a slot (only then does the
//! split of the cores decide throughput), the node measures what it
//! proves per second, in constraints per second so that a mix of circuits
//! is comparable, over windows of [`WINDOW`] proofs; every so often it
//! proves one window with a neighbouring number at once (half or twice as
//! many) between two windows at the chosen number and keeps it only when
//! it proved more than their mean (a steady drift of the machine's speed
//! through the three windows then favours neither side): more proofs at
//! once must be [`throughput::MIN_GAIN`] times faster (the startup rule),
//! fewer at least as fast, so that windows differing by the machine's own
//! swings do not move a settled node. A trial that confirms
//! the choice doubles the time to the next one (up to [`MAX_EVERY`]
//! windows), so a settled node spends a small and shrinking share of its
//! time on trials.
//!
//! A worker takes a [`Ticket`] before it claims a job (at most one more
//! ticket than proofs at once: a job is claimed and its witness built
//! while the others prove, and no more jobs are held back from other
//! nodes), then a [`Slot`] for the proof itself.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use prometheus::IntGauge;
use tokio::sync::Notify;
use zkr_prover::throughput;

use crate::error::{Error, Result};

/// Proofs in a measured window.
pub(crate) const WINDOW: usize = 32;
/// Windows before the first trial when the startup measurement was not
/// clear (no choice [`throughput::MIN_GAIN`] times better than the others).
const FIRST_EVERY_UNCLEAR: u32 = 1;
/// Windows before the first trial after a clear startup measurement.
const FIRST_EVERY_CLEAR: u32 = 16;
/// Windows before the next trial after a trial changed the choice.
const EVERY_AFTER_CHANGE: u32 = 8;
/// Most windows between two trials.
pub(crate) const MAX_EVERY: u32 = 128;

/// A trial of another number at once: the windows around it.
#[derive(Debug, Clone, Copy)]
struct Trial {
    /// The level it left, and that level's rate in the window before.
    from: usize,
    before: f64,
    /// The level tried, and its rate once its window is measured (the
    /// level is then `from` again for one window, the one after).
    to: usize,
    rate: Option<f64>,
}

/// Decides the number of proofs at once from window rates: an index into
/// the candidate numbers, ascending.
#[derive(Debug)]
struct Tuner {
    level: usize,
    levels: usize,
    /// Windows at the current level until the next trial.
    countdown: u32,
    /// Windows between trials while the choice holds.
    every: u32,
    /// The direction of the next trial, when both neighbours exist.
    up_next: bool,
    trial: Option<Trial>,
}

impl Tuner {
    fn new(level: usize, levels: usize, clear: bool) -> Self {
        let every = if clear {
            FIRST_EVERY_CLEAR
        } else {
            FIRST_EVERY_UNCLEAR
        };
        Self {
            level: level.min(levels.saturating_sub(1)),
            levels,
            countdown: every,
            every,
            up_next: false,
            trial: None,
        }
    }

    /// The level chosen, not counting a trial in progress.
    fn settled(&self) -> usize {
        self.trial.map_or(self.level, |t| t.from)
    }

    /// A window measured at the current level proved `rate` (work per
    /// second); returns the level to prove at from now on.
    ///
    /// A trial proves one window at the other level between two windows
    /// at the chosen one and is compared with their mean, so that a
    /// machine whose speed drifts steadily through the three windows
    /// favours neither side.
    fn window(&mut self, rate: f64) -> usize {
        if let Some(mut trial) = self.trial.take() {
            let Some(tried) = trial.rate else {
                // The trial's own window: back to the chosen level for
                // the window after.
                trial.rate = Some(rate);
                self.trial = Some(trial);
                self.level = trial.from;
                return self.level;
            };
            let around = (trial.before + rate) / 2.0;
            // A change needs evidence, so that windows that differ by
            // the machine's own swings do not move a settled node: more
            // at once is kept only when MIN_GAIN times faster (the
            // start-up rule), fewer only when at least as fast.
            let kept = if trial.to > trial.from {
                tried >= around * throughput::MIN_GAIN
            } else {
                tried >= around
            };
            if kept {
                self.level = trial.to;
                self.every = EVERY_AFTER_CHANGE;
            } else {
                self.every = (self.every * 2).min(MAX_EVERY);
            }
            self.countdown = self.every;
            return self.level;
        }
        self.countdown = self.countdown.saturating_sub(1);
        if self.countdown > 0 || self.levels < 2 {
            return self.level;
        }
        let up = self.level + 1 < self.levels;
        let down = self.level > 0;
        let go_up = if up && down { self.up_next } else { up };
        self.up_next = !go_up;
        let to = if go_up {
            self.level + 1
        } else {
            self.level - 1
        };
        self.trial = Some(Trial {
            from: self.level,
            before: rate,
            to,
            rate: None,
        });
        self.level = to;
        self.level
    }
}

#[derive(Debug)]
struct State {
    tuner: Tuner,
    /// Changes whenever the level does; proofs of an earlier epoch are
    /// not measured.
    epoch: u64,
    tickets: usize,
    /// Threads of the proofs running.
    threads: usize,
    /// Per level, its pools (built when first used) and which are proving.
    pools: Vec<Vec<(Option<Arc<rayon::ThreadPool>>, bool)>>,
    /// Ticket holders waiting for a slot.
    waiting: usize,
    /// The last proof's end while others waited, at this epoch: the
    /// start of the next measured interval.
    last: Option<Instant>,
    /// The window being measured: work and seconds.
    work: f64,
    secs: f64,
    proofs: usize,
}

/// The proving slots shared by a node's CPU workers (see the module).
pub(crate) struct Slots {
    /// Proofs at once that may be chosen, ascending.
    levels: Vec<usize>,
    /// Threads all proofs at once may use.
    cores: usize,
    window: usize,
    state: Mutex<State>,
    changed: Notify,
    at_once: Option<IntGauge>,
}

impl Slots {
    /// Slots for proofs at once among `levels` (ascending, distinct),
    /// starting with `start` of them; `clear` when the startup measurement
    /// found that choice clearly best. `at_once` shows the current choice.
    pub(crate) fn new(
        levels: Vec<usize>,
        start: usize,
        clear: bool,
        cores: usize,
        at_once: Option<IntGauge>,
    ) -> Self {
        Self::with_window(levels, start, clear, cores, at_once, WINDOW)
    }

    pub(crate) fn with_window(
        mut levels: Vec<usize>,
        start: usize,
        clear: bool,
        cores: usize,
        at_once: Option<IntGauge>,
        window: usize,
    ) -> Self {
        levels.retain(|k| *k > 0);
        levels.sort_unstable();
        levels.dedup();
        if levels.is_empty() {
            levels.push(1);
        }
        let level = levels.iter().position(|k| *k >= start).unwrap_or(0);
        let pools = levels.iter().map(|k| vec![(None, false); *k]).collect();
        let slots = Self {
            cores: cores.max(1),
            window: window.max(1),
            state: Mutex::new(State {
                tuner: Tuner::new(level, levels.len(), clear),
                epoch: 0,
                tickets: 0,
                threads: 0,
                pools,
                waiting: 0,
                last: None,
                work: 0.0,
                secs: 0.0,
                proofs: 0,
            }),
            levels,
            changed: Notify::new(),
            at_once,
        };
        if let Some(g) = &slots.at_once {
            g.set(slots.proofs_at_once() as i64);
        }
        slots
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements; a panic while
        // it was held (none is expected) leaves nothing half-done.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Proofs at once now.
    pub(crate) fn proofs_at_once(&self) -> usize {
        self.levels[self.lock().tuner.level]
    }

    /// Threads of each proof now.
    pub(crate) fn threads_now(&self) -> usize {
        self.threads_each(self.lock().tuner.level)
    }

    fn threads_each(&self, level: usize) -> usize {
        (self.cores / self.levels[level]).max(1)
    }

    /// Waits until this node may hold one more job: one more than the
    /// proofs at once.
    pub(crate) async fn ticket(self: &Arc<Self>) -> Ticket {
        loop {
            let notified = self.changed.notified();
            {
                let mut s = self.lock();
                if s.tickets < self.levels[s.tuner.level] + 1 {
                    s.tickets += 1;
                    return Ticket {
                        slots: self.clone(),
                    };
                }
            }
            notified.await;
        }
    }

    /// Waits for a proving slot: a pool of this level's share of the
    /// cores, once the proofs running leave that many threads free.
    pub(crate) async fn slot(self: &Arc<Self>) -> Result<Slot> {
        let mut waiting: Option<Waiting> = None;
        loop {
            let notified = self.changed.notified();
            {
                let mut s = self.lock();
                let level = s.tuner.level;
                let need = self.threads_each(level);
                let fits = s.threads + need <= self.cores.max(need);
                if let Some(i) = s.pools[level].iter().position(|(_, busy)| !busy)
                    && fits
                {
                    let pool = match &s.pools[level][i].0 {
                        Some(p) => p.clone(),
                        None => {
                            let name = format!("zkr-prove-{}x{}", self.levels[level], i);
                            let p = Arc::new(
                                throughput::pool(need, &name)
                                    .map_err(|e| Error::Internal(e.to_string()))?,
                            );
                            s.pools[level][i].0 = Some(p.clone());
                            p
                        }
                    };
                    s.pools[level][i].1 = true;
                    s.threads += need;
                    if let Some(mut w) = waiting.take() {
                        w.armed = false;
                        s.waiting = s.waiting.saturating_sub(1);
                    }
                    return Ok(Slot {
                        slots: self.clone(),
                        level,
                        index: i,
                        epoch: s.epoch,
                        pool,
                        work: None,
                    });
                }
                if waiting.is_none() {
                    s.waiting += 1;
                    waiting = Some(Waiting {
                        slots: self.clone(),
                        armed: true,
                    });
                }
            }
            notified.await;
        }
    }

    /// A proof's end: frees its slot and measures it.
    fn release(&self, slot: &Slot) {
        let mut s = self.lock();
        let need = self.threads_each(slot.level);
        s.threads = s.threads.saturating_sub(need);
        s.pools[slot.level][slot.index].1 = false;
        let now = Instant::now();
        let measured = slot.epoch == s.epoch && s.waiting > 0;
        match (slot.work, measured) {
            (Some(work), true) => {
                if let Some(last) = s.last {
                    s.work += work;
                    s.secs += now.duration_since(last).as_secs_f64();
                    s.proofs += 1;
                }
                s.last = Some(now);
            }
            // Nothing waited (the cores were not all needed), the proof
            // failed or stopped, or it began before the last change.
            _ => s.last = None,
        }
        if s.proofs >= self.window && s.secs > 0.0 {
            let rate = s.work / s.secs;
            let before = s.tuner.level;
            let settled = s.tuner.settled();
            let after = s.tuner.window(rate);
            tracing::debug!(
                at_once = self.levels[before],
                proofs = s.proofs,
                secs = format!("{:.2}", s.secs),
                work_per_s = format!("{rate:.0}"),
                next = self.levels[after],
                "proving window measured"
            );
            s.work = 0.0;
            s.secs = 0.0;
            s.proofs = 0;
            if after != before {
                s.epoch += 1;
                s.last = None;
                if let Some(g) = &self.at_once {
                    g.set(self.levels[after] as i64);
                }
            }
            if s.tuner.trial.is_none() && s.tuner.settled() != settled {
                tracing::info!(
                    from = self.levels[settled],
                    to = self.levels[s.tuner.settled()],
                    "proofs at once changed"
                );
            }
        }
        drop(s);
        self.changed.notify_waiters();
    }
}

/// Counts a ticket holder waiting for a slot until it has one (or stops).
struct Waiting {
    slots: Arc<Slots>,
    /// Still counted (not yet given a slot).
    armed: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.armed {
            let mut s = self.slots.lock();
            s.waiting = s.waiting.saturating_sub(1);
        }
    }
}

/// Leave to hold a job (see [`Slots::ticket`]); freed when dropped.
pub(crate) struct Ticket {
    slots: Arc<Slots>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        {
            let mut s = self.slots.lock();
            s.tickets = s.tickets.saturating_sub(1);
        }
        self.slots.changed.notify_waiters();
    }
}

/// A proving slot (see [`Slots::slot`]); freed when dropped, and
/// measured when [`Slot::proved`] was called.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    level: usize,
    index: usize,
    epoch: u64,
    pool: Arc<rayon::ThreadPool>,
    work: Option<f64>,
}

impl Slot {
    /// The threads to prove on.
    pub(crate) fn pool(&self) -> Arc<rayon::ThreadPool> {
        self.pool.clone()
    }

    /// The proof ended well; `work` (its constraints) counts toward the
    /// measured rate.
    pub(crate) fn proved(mut self, work: usize) {
        self.work = Some(work as f64);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.release(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Trials come after the countdown, alternate directions, and keep
    /// more proofs at once only when MIN_GAIN times faster than the
    /// windows around the trial; a confirmed choice waits twice as long
    /// for the next trial.
    #[test]
    fn the_tuner_keeps_what_proves_more() {
        let gain = throughput::MIN_GAIN;
        // Levels 1, 2, 4 (indices 0..3); start at 2, unclear.
        let mut t = Tuner::new(1, 3, false);
        assert_eq!(t.countdown, FIRST_EVERY_UNCLEAR);
        while t.countdown > 1 {
            assert_eq!(t.window(100.0), 1, "countdown");
        }
        // The first trial goes down (up and down alternate, down first),
        // then one window at two again before the decision.
        assert_eq!(t.window(100.0), 0, "trial one at a time");
        assert_eq!(t.window(90.0), 1, "the window after the trial");
        assert_eq!(t.settled(), 1);
        // One at a time proved less: two stays.
        assert_eq!(t.window(100.0), 1);
        assert!(t.trial.is_none());
        assert_eq!(t.every, 2 * FIRST_EVERY_UNCLEAR);
        for _ in 1..t.every {
            assert_eq!(t.window(100.0), 1);
        }
        // Then up: four at once, faster but not MIN_GAIN times: stays.
        assert_eq!(t.window(100.0), 2, "trial four at once");
        assert_eq!(t.window(100.0 * gain - 1.0), 1);
        assert_eq!(t.window(100.0), 1);
        assert_eq!(t.every, 4 * FIRST_EVERY_UNCLEAR);
        for _ in 1..t.every {
            assert_eq!(t.window(100.0), 1);
        }
        // Down again; one at a time a little slower than two (within
        // MIN_GAIN): not evidence enough, two stays.
        assert_eq!(t.window(100.0), 0);
        assert_eq!(t.window(100.0 / gain + 1.0), 1);
        assert_eq!(t.window(100.0), 1);
        assert_eq!(t.every, 8 * FIRST_EVERY_UNCLEAR);
        for _ in 1..t.every {
            assert_eq!(t.window(100.0), 1);
        }
        // Up: no faster, stays. Then down: as fast as two: kept.
        assert_eq!(t.window(100.0), 2);
        assert_eq!(t.window(100.0), 1);
        assert_eq!(t.window(100.0), 1);
        for _ in 1..t.every {
            assert_eq!(t.window(100.0), 1);
        }
        assert_eq!(t.window(100.0), 0);
        assert_eq!(t.window(100.0), 1);
        assert_eq!(t.window(100.0), 0, "kept");
        assert_eq!(t.every, EVERY_AFTER_CHANGE);
        // Only up from the bottom; twice as fast: kept.
        for _ in 1..EVERY_AFTER_CHANGE {
            assert_eq!(t.window(50.0), 0);
        }
        assert_eq!(t.window(50.0), 1);
        assert_eq!(t.window(100.0), 0);
        assert_eq!(t.window(50.0), 1);
        // The wait between trials has a ceiling.
        let mut t = Tuner::new(0, 2, true);
        assert_eq!(t.countdown, FIRST_EVERY_CLEAR);
        for _ in 0..20 {
            while t.window(100.0) == 0 {}
            assert_eq!(t.window(50.0), 0, "two at once is slower");
            assert_eq!(t.window(100.0), 0);
        }
        assert_eq!(t.every, MAX_EVERY);
        // One level: never a trial.
        let mut t = Tuner::new(0, 1, false);
        assert!((0..100).all(|_| t.window(1.0) == 0));
    }

    /// A machine whose speed drifts steadily through a trial favours
    /// neither side: the trial is measured against the mean of the
    /// windows before and after it.
    #[test]
    fn a_drift_through_a_trial_decides_nothing() {
        // Two at once (level 1) truly proves 2 % more than one at a time;
        // the machine speeds up by 5 % per window.
        let speed = |w: u32| 100.0 * (1.0 + 0.05 * f64::from(w));
        let mut t = Tuner::new(1, 2, false);
        let mut w = 0;
        assert_eq!(t.window(speed(w)), 0, "trial one at a time");
        w += 1;
        // One at a time, in a faster window than the one before: more
        // than that window, yet less than the two around it.
        let tried = speed(w) / 1.02;
        assert!(tried > speed(w - 1));
        assert_eq!(t.window(tried), 1);
        w += 1;
        assert_eq!(t.window(speed(w)), 1, "one at a time not kept");
        assert!(t.trial.is_none());
        // Slowing down through a trial of more at once that truly
        // proves MIN_GAIN times more is still seen to.
        let gain = throughput::MIN_GAIN * 1.01;
        let slow = |w: u32| 100.0 * (1.0 - 0.03 * f64::from(w));
        let mut t = Tuner::new(0, 2, false);
        assert_eq!(t.window(slow(0)), 1);
        assert_eq!(t.window(slow(1) * gain), 0);
        assert_eq!(t.window(slow(2)), 1, "two at once kept");
    }

    /// At most the level's proofs prove at once, each on its share of the
    /// cores, and one more ticket than that is given out.
    #[tokio::test]
    async fn slots_and_tickets_are_bounded() {
        let slots = Arc::new(Slots::new(vec![1, 2], 2, true, 2, None));
        let t: Vec<Ticket> = vec![
            slots.ticket().await,
            slots.ticket().await,
            slots.ticket().await,
        ];
        let fourth = tokio::time::timeout(Duration::from_millis(50), slots.ticket()).await;
        assert!(fourth.is_err(), "three tickets for two at once");
        let a = slots.slot().await.expect("slot");
        let b = slots.slot().await.expect("slot");
        assert_eq!(a.pool().current_num_threads(), 1);
        assert_eq!(b.pool().current_num_threads(), 1);
        assert!(!Arc::ptr_eq(&a.pool(), &b.pool()));
        let third = tokio::time::timeout(Duration::from_millis(50), slots.slot()).await;
        assert!(third.is_err(), "two proofs at once");
        drop(a);
        let c = tokio::time::timeout(Duration::from_secs(5), slots.slot())
            .await
            .expect("a freed slot is given out")
            .expect("slot");
        drop((b, c, t));
        let one = Arc::new(Slots::new(vec![1, 2], 1, true, 2, None));
        let s = one.slot().await.expect("slot");
        assert_eq!(s.pool().current_num_threads(), 2);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), one.slot())
                .await
                .is_err()
        );
    }

    /// Simulated proofs whose rate depends on how many run at once: the
    /// slots move to the faster number from a wrong start, in either
    /// direction, and stay there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_faster_number_at_once_is_found() {
        // (start, ms per proof at one at a time, at two at once, expected)
        for (start, one_ms, two_ms, best) in [(1, 8, 8, 2), (2, 4, 12, 1)] {
            let slots = Arc::new(Slots::with_window(vec![1, 2], start, false, 2, None, 8));
            let mut workers = Vec::new();
            for _ in 0..3 {
                let slots = slots.clone();
                workers.push(tokio::spawn(async move {
                    for _ in 0..150 {
                        let _ticket = slots.ticket().await;
                        let slot = slots.slot().await.expect("slot");
                        let ms = if slot.pool().current_num_threads() == 2 {
                            one_ms
                        } else {
                            two_ms
                        };
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        slot.proved(1000);
                    }
                }));
            }
            for w in workers {
                w.await.expect("worker");
            }
            // The choice held, not a trial that the end of the load may
            // have cut short (how many windows fit depends on the
            // machine's speed).
            let s = slots.lock();
            let settled = s.tuner.settled();
            assert_eq!(slots.levels[settled], best, "start {start}: {:?}", s.tuner);
        }
    }

    /// A proof that failed or stopped is not measured: with no proof
    /// counted, the choice never changes.
    #[tokio::test]
    async fn unmeasured_proofs_change_nothing() {
        let slots = Arc::new(Slots::with_window(vec![1, 2], 1, false, 2, None, 2));
        for _ in 0..50 {
            let _t = slots.ticket().await;
            let s = slots.slot().await.expect("slot");
            drop(s);
        }
        let s = slots.lock();
        assert_eq!(s.proofs, 0);
        assert_eq!(s.tuner.level, 0);
    }
}
