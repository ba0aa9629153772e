//! Signed checkpoints of the audit chain (DESIGN §8).
//!
//! The hash chain alone does not stop someone who can write the database
//! from editing an entry and recomputing every later hash, or from cutting
//! the tail. So every N events or T seconds, and at shutdown, the service
//! signs the chain head with an Ed25519 key held under the KEK:
//! `b"zkr/audit/v1" || seq (8 bytes BE) || entry_hash || unix time (8 bytes BE)`.
//! A verifier then checks every checkpoint's signature and that the chain
//! still reaches each checkpoint with the hash that was signed. The newest
//! checkpoint is also kept outside the database (`checkpoint_file`), so
//! that a tail deleted together with its checkpoints is still seen.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use utoipa::ToSchema;

use super::audit::{Broken, decode_hash};
use super::config::Config;
use super::error::{Error, Result};
use zkr_store::audit_checkpoints::{self, CheckpointRow};
use zkr_store::{Db, now_unix};

/// One signed checkpoint, as stored, served and kept by auditors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Sequence number of the chain head that was signed.
    pub seq: i64,
    /// That entry's hash (hex).
    pub entry_hash: String,
    /// Unix seconds of the signature.
    pub ts: i64,
    /// Signing key id.
    pub key_id: String,
    /// Signing key version.
    pub key_version: i64,
    /// Ed25519 public key (hex) the signature verifies under.
    pub public_key: String,
    /// Ed25519 signature (hex) over `b"zkr/audit/v1" || seq || entry_hash || ts`.
    pub signature: String,
}

/// What checkpoints are checked against.
#[derive(Debug, Default, Clone)]
pub struct Trust {
    /// Public keys a checkpoint must be signed by; `None` trusts the key
    /// stored with each checkpoint, which someone with database access
    /// could have replaced along with the signatures.
    pub pinned_keys: Option<Vec<[u8; 32]>>,
    /// Where the pinned keys come from, for the report.
    pub pinned_by: String,
    /// Checkpoints kept outside the database, checked beside the stored ones.
    pub kept: Vec<Checkpoint>,
}

impl Trust {
    /// Says where the checkpoint key came from.
    pub fn source(&self) -> String {
        match &self.pinned_keys {
            Some(_) => self.pinned_by.clone(),
            None => "not pinned: the public keys stored in the database were used".into(),
        }
    }
}

impl From<CheckpointRow> for Checkpoint {
    fn from(row: CheckpointRow) -> Self {
        Checkpoint {
            seq: row.seq,
            entry_hash: row.entry_hash,
            ts: row.ts,
            key_id: row.key_id,
            key_version: row.key_version,
            public_key: row.public_key,
            signature: row.signature,
        }
    }
}

/// Stored checkpoints with `seq > after`, oldest first, at most `limit`.
pub async fn list(db: &Db, after: i64, limit: i64) -> Result<Vec<Checkpoint>> {
    Ok(audit_checkpoints::list(db, after, limit)
        .await?
        .into_iter()
        .map(Checkpoint::from)
        .collect())
}

/// Signs the current chain head with `key_id` and stores the checkpoint;
/// `None` when there is nothing new to sign since the last checkpoint.
pub async fn sign_head(
    db: &Db,
    keys: &zkr_keys::KeyStore,
    key_id: &str,
) -> Result<Option<Checkpoint>> {
    let Some(zkr_store::AuditHead { seq, entry_hash }) = zkr_store::audit_head(db).await? else {
        return Ok(None);
    };
    let last = audit_checkpoints::last_seq(db).await?;
    if last.is_some_and(|l| l >= seq) {
        return Ok(None);
    }
    let hash = decode_hash(&entry_hash)?;
    let ts = now_unix();
    let signed = keys
        .sign_audit_checkpoint(key_id, seq_u64(seq)?, &hash, seq_u64(ts)?)
        .await?;
    let checkpoint = CheckpointRow {
        seq,
        entry_hash,
        ts,
        key_id: signed.key_id,
        key_version: i64::from(signed.key_version),
        public_key: hex::encode(signed.public_key),
        signature: hex::encode(signed.signature),
    };
    // Several service nodes may sign the same head; the first one stays.
    audit_checkpoints::insert(db, &checkpoint).await?;
    Ok(Some(checkpoint.into()))
}

fn seq_u64(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::Internal("negative audit sequence or time".into()))
}

fn hex_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    hex::decode(text).ok()?.try_into().ok()
}

/// Whether `c`'s signature verifies under its own public key.
pub(crate) fn signature_ok(c: &Checkpoint) -> bool {
    let (Some(pk), Some(hash), Some(sig), Ok(seq), Ok(ts)) = (
        hex_array::<32>(&c.public_key),
        hex_array::<32>(&c.entry_hash),
        hex_array::<64>(&c.signature),
        u64::try_from(c.seq),
        u64::try_from(c.ts),
    ) else {
        return false;
    };
    zkr_keys::store::verify_audit_checkpoint_signature(&pk, seq, &hash, ts, &sig)
}

/// What [`check`] found.
pub(crate) struct Checked {
    /// Every problem, in seq order.
    pub errors: Vec<Broken>,
    /// Entries from the first on known intact when the first problem was
    /// found: up to the last checkpoint the chain still matched, or the
    /// chain's end when a checkpoint lies beyond it.
    pub intact: i64,
}

/// Checks `checkpoints` (sorted by seq) against a chain of `chain_end`
/// intact entries whose hashes at the checkpoints' sequence numbers are in
/// `seen`; `broken_at` is where the chain itself broke, beyond which no
/// checkpoint can be compared.
pub(crate) fn check(
    checkpoints: &[Checkpoint],
    seen: &HashMap<i64, [u8; 32]>,
    chain_end: i64,
    broken_at: Option<i64>,
    trust: &Trust,
) -> Checked {
    let mut errors = Vec::new();
    // The last checkpoint whose hash the chain still has: a rewritten entry
    // lies after it.
    let mut last_good = 0;
    let mut intact = None;
    for c in checkpoints {
        let before = errors.len();
        check_one(
            c,
            seen,
            chain_end,
            broken_at,
            trust,
            &mut last_good,
            &mut errors,
        );
        if errors.len() > before && intact.is_none() {
            intact = Some(if c.seq > chain_end {
                chain_end
            } else {
                last_good.min(c.seq - 1)
            });
        }
    }
    Checked {
        errors,
        intact: intact.unwrap_or(chain_end),
    }
}

fn check_one(
    c: &Checkpoint,
    seen: &HashMap<i64, [u8; 32]>,
    chain_end: i64,
    broken_at: Option<i64>,
    trust: &Trust,
    last_good: &mut i64,
    errors: &mut Vec<Broken>,
) {
    let mut fail = |reason: String| errors.push(Broken { seq: c.seq, reason });
    if let Some(pinned) = &trust.pinned_keys {
        let key = hex_array::<32>(&c.public_key);
        if !key.is_some_and(|k| pinned.contains(&k)) {
            return fail(format!(
                "checkpoint {} is not signed by the pinned key ({})",
                c.seq, trust.pinned_by
            ));
        }
    }
    if !signature_ok(c) {
        return fail(format!(
            "checkpoint {}: the signature does not verify (forged or altered checkpoint)",
            c.seq
        ));
    }
    if broken_at.is_some_and(|b| c.seq >= b) {
        return;
    }
    if c.seq > chain_end {
        return fail(format!(
            "truncated: the chain ends at entry {chain_end}, but checkpoint {} was signed \
             for entry {}",
            c.seq, c.seq
        ));
    }
    let matches = seen
        .get(&c.seq)
        .is_some_and(|h| Some(*h) == hex_array::<32>(&c.entry_hash));
    if matches {
        *last_good = (*last_good).max(c.seq);
    } else {
        fail(format!(
            "recomputed: entry {} has a hash other than the one signed in its checkpoint; \
             an entry in {}..={} was rewritten and the later hashes recomputed",
            c.seq,
            *last_good + 1,
            c.seq
        ));
    }
}

async fn sign_logged(db: &Db, keys: &zkr_keys::KeyStore, key_id: &str) -> Option<Checkpoint> {
    match sign_head(db, keys, key_id).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "audit checkpoint failed");
            None
        }
    }
}

/// When the checkpoint task signs.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Sign once this many events were committed since the last checkpoint
    /// (1: after every committed batch).
    pub every_events: u64,
    /// Sign at least this often while there is something new.
    pub every: Duration,
    /// At most one signature per this interval; a head due earlier is
    /// signed when it has passed.
    pub min_interval: Duration,
    /// Files that keep the newest checkpoint outside the database.
    pub kept: Vec<PathBuf>,
}

impl Schedule {
    /// The schedule of `config`'s `[audit]` section and data directory.
    pub fn of(config: &Config) -> Self {
        let a = &config.audit;
        Self {
            every_events: a.checkpoint_every_events,
            every: Duration::from_secs(a.checkpoint_every_secs),
            min_interval: Duration::from_millis(a.checkpoint_min_interval_ms),
            kept: config.audit_checkpoint_files(),
        }
    }
}

/// Signs the head with what the task holds, and keeps the checkpoint.
struct Signer {
    db: Db,
    keys: Arc<zkr_keys::KeyStore>,
    key_id: String,
    kept: Vec<PathBuf>,
}

impl Signer {
    async fn sign(&self) -> Option<i64> {
        let c = sign_logged(&self.db, &self.keys, &self.key_id).await?;
        super::checkpoint_file::keep(&self.kept, &c).await;
        Some(c.seq)
    }
}

/// The checkpoint task: signs the head after `every_events` new events (at
/// most once per `min_interval`) or every `every` when there is something
/// new, and once more when stopped; keeps each checkpoint it signs in the
/// schedule's files.
pub struct Checkpointer {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<()>,
}

impl Checkpointer {
    /// Starts the task on `db`, signing with `key_id` from `keys`; `head`
    /// is the audit writer's last committed sequence number.
    pub fn start(
        db: Db,
        keys: Arc<zkr_keys::KeyStore>,
        key_id: String,
        schedule: Schedule,
        head: watch::Receiver<i64>,
    ) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let signer = Signer {
            db,
            keys,
            key_id,
            kept: schedule.kept.clone(),
        };
        let handle = tokio::spawn(run(signer, schedule, head, stopped));
        Self {
            stop: Some(stop),
            handle,
        }
    }

    /// Checks the checkpoints kept outside the database against it, then
    /// starts the task with `state`'s database, key store and `[audit]`
    /// settings. Refuses (an error naming the file and what was lost) when
    /// the database no longer reaches a kept checkpoint, so that nothing is
    /// appended behind it; the audit writer is told never to append below
    /// the kept sequence number.
    pub async fn for_state(state: &super::AppState) -> Result<Self> {
        let keys = state
            .keys
            .clone()
            .ok_or_else(|| Error::Unavailable("key store not configured".into()))?;
        guard_start(state).await?;
        Ok(Self::start(
            state.db.clone(),
            keys,
            state.config.audit.checkpoint_key_id.clone(),
            Schedule::of(&state.config),
            state.audit.head(),
        ))
    }

    /// Signs a last checkpoint and stops; call after the audit writer has
    /// flushed.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Err(e) = self.handle.await {
            tracing::error!(error = %e, "audit checkpoint task failed");
        }
    }
}

/// Refuses a start on a database that no longer reaches the checkpoints
/// kept in `state`'s files; holds the audit writer at or above them.
pub async fn guard_start(state: &super::AppState) -> Result<()> {
    let files = state.config.audit_checkpoint_files();
    let floor = super::checkpoint_file::check_against(&state.db, &files).await?;
    state.audit.hold_at_least(floor);
    Ok(())
}

async fn run(
    signer: Signer,
    schedule: Schedule,
    mut head: watch::Receiver<i64>,
    mut stopped: oneshot::Receiver<()>,
) {
    let every_events = i64::try_from(schedule.every_events).unwrap_or(i64::MAX);
    // The first tick one period after the start, not at once.
    let period = schedule.every;
    let mut tick = tokio::time::interval_at(Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut signed = *head.borrow();
    let mut last_signature: Option<Instant> = None;
    // A head that was due while the last signature was too recent.
    let mut due: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            changed = head.changed() => {
                if changed.is_err() {
                    break;
                }
                let now = *head.borrow_and_update();
                if now - signed < every_events || due.is_some() {
                    continue;
                }
                let ready = last_signature.map_or(Instant::now(), |t| t + schedule.min_interval);
                if ready > Instant::now() {
                    due = Some(ready);
                    continue;
                }
                signed = signer.sign().await.unwrap_or(now);
                last_signature = Some(Instant::now());
            }
            _ = sleep_until(due), if due.is_some() => {
                due = None;
                let now = *head.borrow();
                signed = signer.sign().await.unwrap_or(now);
                last_signature = Some(Instant::now());
            }
            _ = tick.tick() => {
                if let Some(seq) = signer.sign().await {
                    signed = seq;
                    last_signature = Some(Instant::now());
                }
            }
        }
    }
    // At shutdown: the head the log ends with.
    let _ = signer.sign().await;
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_layout() {
        let m = zkr_keys::store::audit_checkpoint_message(0x0102, &[7; 32], 0x0a0b);
        assert_eq!(&m[..12], b"zkr/audit/v1");
        assert_eq!(&m[12..20], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&m[20..52], &[7; 32]);
        assert_eq!(&m[52..], &[0, 0, 0, 0, 0, 0, 0x0a, 0x0b]);
    }

    #[test]
    fn unsigned_and_beyond_the_end_are_named() {
        let c = Checkpoint {
            seq: 5,
            entry_hash: "00".repeat(32),
            ts: 1,
            key_id: "k".into(),
            key_version: 1,
            public_key: "00".repeat(32),
            signature: "00".repeat(64),
        };
        let errors = check(
            std::slice::from_ref(&c),
            &HashMap::new(),
            10,
            None,
            &Trust::default(),
        )
        .errors;
        assert_eq!(errors.len(), 1);
        assert!(errors[0].reason.contains("does not verify"));
        let pinned = Trust {
            pinned_keys: Some(vec![[1; 32]]),
            pinned_by: "test".into(),
            kept: Vec::new(),
        };
        let errors = check(&[c], &HashMap::new(), 10, None, &pinned).errors;
        assert!(errors[0].reason.contains("pinned key"));
    }
}
