//! Verification of the audit chain (DESIGN §8): recompute every entry's
//! hash in order, name the first broken entry, and check every signed
//! checkpoint against the chain. The chain comes from the database or, for
//! an auditor without database access, from an export (JSON lines).

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use serde::Serialize;
use utoipa::ToSchema;

use super::audit::{Event, NewEvent, canonical, entry_hash};
use super::checkpoints::{self, Checkpoint, Trust};
use super::error::{Error, Result};
use zkr_store::{Db, audit_page};

/// Result of recomputing the chain and checking its signed checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct VerifyReport {
    /// Whether every entry and every checkpoint checked out.
    pub valid: bool,
    /// Entries checked.
    pub entries: i64,
    /// Entries from the first on that are known intact: all of them when
    /// valid, else those before the first broken one (or up to the last
    /// checkpoint the chain still matches, when a checkpoint shows that
    /// an entry before it was rewritten).
    pub intact: i64,
    /// Hash of the last good entry (hex), the chain head when valid.
    pub head: String,
    /// The first entry that does not check out: a break in the chain
    /// itself, or the first checkpoint the chain contradicts, whichever
    /// comes first.
    pub first_broken: Option<Broken>,
    /// Signed checkpoints checked (stored ones and those kept outside the
    /// database; one kept in both places counts once).
    pub checkpoints: i64,
    /// Sequence number of the last checkpoint, if any.
    pub last_checkpoint: Option<i64>,
    /// Every checkpoint that failed: bad signature, recomputed entry, truncation.
    pub checkpoint_errors: Vec<Broken>,
    /// Whether checkpoint signatures were checked against a pinned key
    /// rather than the public key stored in the database under check.
    pub key_pinned: bool,
    /// Where the checkpoint key came from.
    pub key_source: String,
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Broken {
    /// Sequence number of the entry.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: String,
}

/// Recomputes a chain fed entry by entry, in order, and remembers the
/// hashes at the sequence numbers some checkpoint names.
struct Walk {
    wanted: HashSet<i64>,
    seen: HashMap<i64, [u8; 32]>,
    prev: [u8; 32],
    next: i64,
    broken: Option<Broken>,
}

impl Walk {
    fn new(checkpoints: &[Checkpoint]) -> Self {
        Self {
            wanted: checkpoints.iter().map(|c| c.seq).collect(),
            seen: HashMap::new(),
            prev: [0u8; 32],
            next: 1,
            broken: None,
        }
    }

    /// Checks the next entry; `false` once the chain is broken.
    fn push(&mut self, e: &Event) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let broken = |reason: String| Broken { seq: e.seq, reason };
        if e.seq != self.next {
            self.broken = Some(Broken {
                seq: self.next,
                reason: format!("entry missing (next present is {})", e.seq),
            });
            return false;
        }
        if e.prev_hash != hex::encode(self.prev) {
            self.broken = Some(broken("prev_hash does not match the previous entry".into()));
            return false;
        }
        let content = NewEvent {
            actor: e.actor.clone(),
            roles: e.roles.clone(),
            action: e.action.clone(),
            resource: e.resource.clone(),
            purpose: e.purpose.clone(),
            outcome: e.outcome.clone(),
            detail: e.detail.clone(),
        };
        let hash = entry_hash(&self.prev, &canonical(e.seq, e.ts, &content));
        if e.entry_hash != hex::encode(hash) {
            self.broken = Some(broken("entry_hash does not match the content".into()));
            return false;
        }
        if self.wanted.contains(&e.seq) {
            self.seen.insert(e.seq, hash);
        }
        self.prev = hash;
        self.next += 1;
        true
    }

    /// Entries that chained correctly.
    fn entries(&self) -> i64 {
        self.next - 1
    }

    /// The report on this chain and `all` (sorted, without duplicates).
    fn report(self, all: &[Checkpoint], trust: &Trust) -> VerifyReport {
        let entries = self.entries();
        let checked = checkpoints::check(
            all,
            &self.seen,
            entries,
            self.broken.as_ref().map(|b| b.seq),
            trust,
        );
        let first_checkpoint = checked.errors.first().cloned();
        let (first_broken, intact) = match (self.broken, first_checkpoint) {
            (Some(b), Some(c)) if c.seq < b.seq => (Some(c), checked.intact),
            (Some(b), _) => (Some(b), entries),
            (None, Some(c)) => (Some(c), checked.intact),
            (None, None) => (None, entries),
        };
        VerifyReport {
            valid: first_broken.is_none(),
            entries,
            intact,
            head: hex::encode(self.prev),
            first_broken,
            checkpoints: all.len() as i64,
            last_checkpoint: all.last().map(|c| c.seq),
            checkpoint_errors: checked.errors,
            key_pinned: trust.pinned_keys.is_some(),
            key_source: trust.source(),
        }
    }
}

/// `stored` and `trust.kept`, by sequence number, each distinct checkpoint
/// once: a checkpoint kept outside the database is usually also stored.
fn merged(stored: Vec<Checkpoint>, trust: &Trust) -> Vec<Checkpoint> {
    let mut all = stored;
    all.extend(trust.kept.iter().cloned());
    all.sort_by(|a, b| {
        (a.seq, &a.signature, a.ts, &a.public_key).cmp(&(b.seq, &b.signature, b.ts, &b.public_key))
    });
    all.dedup();
    all
}

/// Recomputes the whole chain and checks the stored checkpoints, each
/// signature under the public key stored with it (not pinned).
pub async fn verify(db: &Db) -> Result<VerifyReport> {
    verify_with(db, &Trust::default()).await
}

/// Recomputes the whole chain, page by page, names the first broken entry,
/// and checks every checkpoint (stored and `trust.kept`) under `trust`.
pub(crate) async fn verify_with(db: &Db, trust: &Trust) -> Result<VerifyReport> {
    const PAGE: i64 = 1000;
    let all = merged(checkpoints::list(db, 0, i64::MAX).await?, trust);
    let mut walk = Walk::new(&all);
    loop {
        let rows = audit_page(db, walk.next, PAGE).await?;
        let n = rows.len() as i64;
        for row in rows {
            if !walk.push(&Event::from(row)) {
                return Ok(walk.report(&all, trust));
            }
        }
        if n < PAGE {
            return Ok(walk.report(&all, trust));
        }
    }
}

/// Library entry of `zkr audit verify --database ...`: works offline, on the
/// database alone.
pub async fn verify_database(database_url: &str) -> Result<VerifyReport> {
    verify_database_with(database_url, &Trust::default()).await
}

/// [`verify_database`] with a pinned key and/or checkpoints kept elsewhere.
pub async fn verify_database_with(database_url: &str, trust: &Trust) -> Result<VerifyReport> {
    let db = Db::connect(database_url).await?;
    verify_with(&db, trust).await
}

/// Verifies an export of the whole log (the JSON lines of
/// `GET /v1/audit/events` without filters) against `trust.kept`, with no
/// database. A line that is not an event is `BadRequest`, naming the line.
pub fn verify_export(export: impl BufRead, trust: &Trust) -> Result<VerifyReport> {
    let all = merged(Vec::new(), trust);
    let mut walk = Walk::new(&all);
    for (i, line) in export.lines().enumerate() {
        let line = line.map_err(|e| Error::BadRequest(format!("line {}: {e}", i + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(&line)
            .map_err(|e| Error::BadRequest(format!("line {}: not an audit event: {e}", i + 1)))?;
        if !walk.push(&event) {
            break;
        }
    }
    Ok(walk.report(&all, trust))
}
