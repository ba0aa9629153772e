//! When a node may use what it read from the database before: while every
//! change to it is announced to the node. A change made through this
//! process says so ([`Announced::changed`]); on PostgreSQL every node's
//! changes are announced on a channel that the node's listener passes on
//! (see `lib::listen`). While the listener is not connected
//! ([`Announced::watching`] `false`: before it connects, after it lost its
//! connection) nothing read may be kept.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest a node uses what it read before, even when no change was
/// announced: a bound on staleness should an announcement be lost in a way
/// the listener cannot see.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(5);

pub(crate) struct Announced {
    generation: AtomicU64,
    watching: AtomicBool,
}

impl Announced {
    /// `watching` from the start: SQLite, where this process makes every
    /// change; PostgreSQL starts unwatched until its listener connects.
    pub(crate) fn new(watching: bool) -> Self {
        Self {
            generation: AtomicU64::new(0),
            watching: AtomicBool::new(watching),
        }
    }

    /// The generation under which what is read now may be kept; `None`
    /// when nothing may be kept. Taken before reading.
    pub(crate) fn stamp(&self) -> Option<u64> {
        let generation = self.generation.load(Ordering::Acquire);
        self.watching.load(Ordering::Acquire).then_some(generation)
    }

    /// Whether what was read at `at` under `stamp` may still be used (and,
    /// just after reading, kept: no change was announced meanwhile).
    pub(crate) fn fresh(&self, stamp: u64, at: Instant) -> bool {
        self.stamp() == Some(stamp) && at.elapsed() < MAX_AGE
    }

    /// A change was made or announced: what was read before is read again.
    pub(crate) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether announcements of changes arrive (the listener connected);
    /// either way, what was kept is read again, as changes may have gone
    /// unannounced meanwhile.
    pub(crate) fn watching(&self, on: bool) {
        self.watching.store(on, Ordering::Release);
        self.changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_only_while_watched_unchanged_and_young() {
        let a = Announced::new(false);
        assert_eq!(a.stamp(), None, "not watching: nothing kept");
        a.watching(true);
        let s = a.stamp().expect("watching");
        let now = Instant::now();
        assert!(a.fresh(s, now));
        assert!(!a.fresh(s, now - MAX_AGE), "too old");
        a.changed();
        assert!(!a.fresh(s, now), "changed since");
        let s = a.stamp().expect("watching");
        a.watching(false);
        assert!(!a.fresh(s, now), "no longer watching");
        a.watching(true);
        assert!(!a.fresh(s, now), "watching again reads again");
    }
}
