//! Signed checkpoints of the audit chain (DESIGN §8).
//!
//! The hash chain alone does not stop someone who can write the database
//! from editing an entry and recomputing every later hash, or from cutting
//! the tail. So every N events or T seconds, and at shutdown, the service
//! signs the chain head with an Ed25519 key held under the KEK:
//! `b"zkr/audit/v1" || seq (8 bytes BE) || entry_hash || unix time (8 bytes BE)`.
//! A verifier then checks every checkpoint's signature and that the chain
//! still reaches each checkpoint with the hash that was signed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use super::audit::{Broken, decode_hash};
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
fn signature_ok(c: &Checkpoint) -> bool {
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

/// Checks `checkpoints` (sorted by seq) against a chain of `chain_end`
/// intact entries whose hashes at the checkpoints' sequence numbers are in
/// `seen`; `broken_at` is where the chain itself broke, beyond which no
/// checkpoint can be compared. Returns every problem, in seq order.
pub(crate) fn check(
    checkpoints: &[Checkpoint],
    seen: &HashMap<i64, [u8; 32]>,
    chain_end: i64,
    broken_at: Option<i64>,
    trust: &Trust,
) -> Vec<Broken> {
    let mut errors = Vec::new();
    // The last checkpoint whose hash the chain still has: a rewritten entry
    // lies after it.
    let mut last_good = 0;
    for c in checkpoints {
        let fail = |reason: String| Broken { seq: c.seq, reason };
        if let Some(pinned) = &trust.pinned_keys {
            let key = hex_array::<32>(&c.public_key);
            if !key.is_some_and(|k| pinned.contains(&k)) {
                errors.push(fail(format!(
                    "checkpoint {} is not signed by the pinned key ({})",
                    c.seq, trust.pinned_by
                )));
                continue;
            }
        }
        if !signature_ok(c) {
            errors.push(fail(format!(
                "checkpoint {}: the signature does not verify (forged or altered checkpoint)",
                c.seq
            )));
            continue;
        }
        if broken_at.is_some_and(|b| c.seq >= b) {
            continue;
        }
        if c.seq > chain_end {
            errors.push(fail(format!(
                "truncated: the chain ends at entry {chain_end}, but checkpoint {} was signed \
                 for entry {}",
                c.seq, c.seq
            )));
            continue;
        }
        let matches = seen
            .get(&c.seq)
            .is_some_and(|h| Some(*h) == hex_array::<32>(&c.entry_hash));
        if matches {
            last_good = last_good.max(c.seq);
        } else {
            errors.push(fail(format!(
                "recomputed: entry {} has a hash other than the one signed in its checkpoint; \
                 an entry in {}..={} was rewritten and the later hashes recomputed",
                c.seq,
                last_good + 1,
                c.seq
            )));
        }
    }
    errors
}

async fn sign_logged(db: &Db, keys: &zkr_keys::KeyStore, key_id: &str) -> Option<i64> {
    match sign_head(db, keys, key_id).await {
        Ok(Some(c)) => Some(c.seq),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "audit checkpoint failed");
            None
        }
    }
}

/// The checkpoint task: signs the head after `every_events` new events or
/// every `every_secs` seconds when there is something new, and once more
/// when stopped.
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
        every_events: u64,
        every_secs: u64,
        mut head: watch::Receiver<i64>,
    ) -> Self {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let every_events = i64::try_from(every_events).unwrap_or(i64::MAX);
            // The first tick one period after the start, not at once.
            let period = Duration::from_secs(every_secs);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut signed = *head.borrow();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    changed = head.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let now = *head.borrow_and_update();
                        if now - signed >= every_events {
                            signed = sign_logged(&db, &keys, &key_id).await.unwrap_or(now);
                        }
                    }
                    _ = tick.tick() => {
                        if let Some(seq) = sign_logged(&db, &keys, &key_id).await {
                            signed = seq;
                        }
                    }
                }
            }
            // At shutdown: the head the log ends with.
            let _ = sign_logged(&db, &keys, &key_id).await;
        });
        Self {
            stop: Some(stop),
            handle,
        }
    }

    /// Starts the task with `state`'s database, key store and `[audit]`
    /// settings.
    pub fn for_state(state: &super::AppState) -> Result<Self> {
        let keys = state
            .keys
            .clone()
            .ok_or_else(|| Error::Unavailable("key store not configured".into()))?;
        let c = &state.config.audit;
        Ok(Self::start(
            state.db.clone(),
            keys,
            c.checkpoint_key_id.clone(),
            c.checkpoint_every_events,
            c.checkpoint_every_secs,
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
        );
        assert_eq!(errors.len(), 1);
        assert!(errors[0].reason.contains("does not verify"));
        let pinned = Trust {
            pinned_keys: Some(vec![[1; 32]]),
            pinned_by: "test".into(),
            kept: Vec::new(),
        };
        let errors = check(&[c], &HashMap::new(), 10, None, &pinned);
        assert!(errors[0].reason.contains("pinned key"));
    }
}
