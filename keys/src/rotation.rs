//! Key rotation: a new version becomes active, the old one decrypt-only, and
//! the DEK of every active record is re-wrapped to the new version in
//! batches. Record ciphertexts are not touched, and DEKs exist only in this
//! process's memory while being re-wrapped.
//!
//! Progress (a cursor over transaction ids and counters) is committed in the
//! same database transaction as each batch's new wraps, so a rotation that
//! is interrupted resumes after the last committed batch; re-running a batch
//! is harmless because wraps are inserted with `ON CONFLICT DO NOTHING`.
//!
//! A DEK is recovered from the rotated key's own older versions when the
//! service holds them (custodial, escrow), and otherwise from any other
//! recipient of the record whose private key the service holds (typically
//! the audit escrow): that is how a registered participant key, whose private
//! half the service never sees, is rotated too.

use sqlx::Row;
use uuid::Uuid;

use crate::dek_wrap::{WrappedDek, unwrap_dek, wrap_dek};
use crate::error::{Error, Result};
use crate::secret::Secret32;
use crate::store::{Custody, KeyInfo, KeyKind, KeyStatus, KeyStore, NewKey, insert_wraps, now};
use crate::x25519::X25519PublicKey;

/// How a rotation proceeds.
#[derive(Clone, Copy, Debug)]
pub struct RotationOptions {
    /// Records per batch (one database transaction each).
    pub batch_size: usize,
    /// Stop after this many batches (the rotation stays resumable); `None`
    /// runs to the end.
    pub max_batches: Option<usize>,
}

impl Default for RotationOptions {
    fn default() -> Self {
        RotationOptions {
            batch_size: 256,
            max_batches: None,
        }
    }
}

/// Persisted state of a rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationProgress {
    /// The key being rotated.
    pub key_id: String,
    /// The version wraps are being moved to.
    pub to_version: u32,
    /// Records given a wrap for the new version so far.
    pub rewrapped: u64,
    /// Records whose DEK no held key could recover (they keep their old wraps).
    pub skipped: u64,
    /// Whether every record has been visited.
    pub done: bool,
}

const RUNNING: &str = "running";
const DONE: &str = "done";

impl KeyStore {
    pub(crate) async fn rotation_running(&self, key_id: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM zkr_rotations WHERE key_id = $1 AND state = $2")
                .bind(key_id.to_owned())
                .bind(RUNNING)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Creates the next version of `key_id`, makes it active and the
    /// previous active version decrypt-only, and records a rotation to run.
    /// Custodial and escrow keys get a fresh key pair; a registered key needs
    /// the participant's `new_public_key`; signing keys need no re-wrap.
    pub async fn start_rotation(
        &self,
        key_id: &str,
        new_public_key: Option<&X25519PublicKey>,
    ) -> Result<KeyInfo> {
        if self.rotation_running(key_id).await? {
            return Err(Error::Rotation {
                key_id: key_id.to_owned(),
                reason: "a rotation is already running; resume it with run_rotation",
            });
        }
        let versions = self.versions(key_id).await?;
        let current = versions
            .iter()
            .find(|k| k.status == KeyStatus::Active)
            .ok_or_else(|| Error::Rotation {
                key_id: key_id.to_owned(),
                reason: "no active version",
            })?;
        let new = match (current.kind, current.custody, new_public_key) {
            (KeyKind::Signing, _, None) => NewKey::ed25519()?,
            (KeyKind::Participant, Custody::Registered, Some(pk)) => NewKey::registered(pk),
            (KeyKind::Participant, Custody::Registered, None) => {
                return Err(Error::Rotation {
                    key_id: key_id.to_owned(),
                    reason: "a registered key rotates to a new public key from its owner",
                });
            }
            (kind, Custody::Custodial, None) => NewKey::x25519(kind)?,
            _ => {
                return Err(Error::Rotation {
                    key_id: key_id.to_owned(),
                    reason: "a service-held key rotates to a key the service generates",
                });
            }
        };
        let next = versions
            .iter()
            .map(|k| k.version)
            .max()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or(Error::Rotation {
                key_id: key_id.to_owned(),
                reason: "version overflow",
            })?;
        let t = now();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE zkr_keys SET status = $1, rotated_at = $2 WHERE key_id = $3 AND status = $4",
        )
        .bind(KeyStatus::DecryptOnly.as_str())
        .bind(t)
        .bind(key_id.to_owned())
        .bind(KeyStatus::Active.as_str())
        .execute(&mut *tx)
        .await?;
        let info = self.insert_version(&mut tx, key_id, next, &new).await?;
        let state = if new.kind == KeyKind::Signing {
            DONE
        } else {
            RUNNING
        };
        sqlx::query(
            "INSERT INTO zkr_rotations (key_id, to_version, cursor_tx, rewrapped, skipped, state, started_at, finished_at)
             VALUES ($1, $2, NULL, 0, 0, $3, $4, NULL)",
        )
        .bind(key_id.to_owned())
        .bind(i64::from(next))
        .bind(state)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(
            key_id,
            from = current.version,
            to = next,
            "key rotation started"
        );
        Ok(info)
    }

    /// The latest rotation of `key_id`, if any.
    pub async fn rotation_status(&self, key_id: &str) -> Result<Option<RotationProgress>> {
        let row = sqlx::query(
            "SELECT to_version, rewrapped, skipped, state FROM zkr_rotations
             WHERE key_id = $1 ORDER BY to_version DESC LIMIT 1",
        )
        .bind(key_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(RotationProgress {
                key_id: key_id.to_owned(),
                to_version: crate::store::version_of(r.try_get("to_version")?)?,
                rewrapped: r.try_get::<i64, _>("rewrapped")?.max(0) as u64,
                skipped: r.try_get::<i64, _>("skipped")?.max(0) as u64,
                done: r.try_get::<String, _>("state")? == DONE,
            })
        })
        .transpose()
    }

    /// Rotates `key_id`: [`KeyStore::start_rotation`] unless one is running,
    /// then [`KeyStore::run_rotation`].
    pub async fn rotate(
        &self,
        key_id: &str,
        new_public_key: Option<&X25519PublicKey>,
        options: RotationOptions,
    ) -> Result<RotationProgress> {
        if !self.rotation_running(key_id).await? {
            self.start_rotation(key_id, new_public_key).await?;
        }
        self.run_rotation(key_id, options).await
    }

    /// Runs (or resumes) the running rotation of `key_id` from its persisted
    /// cursor.
    pub async fn run_rotation(
        &self,
        key_id: &str,
        options: RotationOptions,
    ) -> Result<RotationProgress> {
        if options.batch_size == 0 || options.batch_size > 10_000 {
            return Err(Error::InvalidArgument("batch size must be 1 to 10000"));
        }
        let row = sqlx::query(
            "SELECT to_version, cursor_tx FROM zkr_rotations WHERE key_id = $1 AND state = $2",
        )
        .bind(key_id.to_owned())
        .bind(RUNNING)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return self
                .rotation_status(key_id)
                .await?
                .ok_or_else(|| Error::Rotation {
                    key_id: key_id.to_owned(),
                    reason: "no rotation to run",
                });
        };
        let to_version = crate::store::version_of(row.try_get("to_version")?)?;
        let mut cursor: Option<Vec<u8>> = row.try_get("cursor_tx")?;
        let target = self.key(key_id, to_version).await?.recipient()?;
        let mut batches = 0usize;
        loop {
            if options.max_batches.is_some_and(|m| batches >= m) {
                break;
            }
            let txs = self
                .next_batch(key_id, to_version, cursor.as_deref(), options.batch_size)
                .await?;
            let mut new_wraps: Vec<(Uuid, WrappedDek)> = Vec::with_capacity(txs.len());
            let mut skipped = 0i64;
            for tx_id in &txs {
                let wraps = self.wraps(tx_id).await?;
                if wraps
                    .iter()
                    .any(|w| w.key_id == key_id && w.key_version == to_version)
                {
                    continue;
                }
                match self.recover_dek(tx_id, key_id, &wraps).await? {
                    Some(dek) => {
                        let w = wrap_dek(&dek, tx_id, key_id, to_version, &target.public_key)?;
                        new_wraps.push((*tx_id, w));
                    }
                    None => {
                        tracing::warn!(key_id, tx_id = %tx_id, "rotation: no held key recovers this record's data key; it keeps its old wraps");
                        skipped += 1;
                    }
                }
            }
            let finished = txs.len() < options.batch_size;
            let mut db = self.pool.begin().await?;
            for (tx_id, w) in &new_wraps {
                insert_wraps(&mut db, tx_id, std::slice::from_ref(w)).await?;
            }
            if let Some(last) = txs.last() {
                cursor = Some(last.as_bytes().to_vec());
            }
            sqlx::query(
                "UPDATE zkr_rotations SET cursor_tx = $1, rewrapped = rewrapped + $2,
                    skipped = skipped + $3, state = $4, finished_at = $5
                 WHERE key_id = $6 AND to_version = $7",
            )
            .bind(cursor.clone())
            .bind(new_wraps.len() as i64)
            .bind(skipped)
            .bind(if finished { DONE } else { RUNNING })
            .bind(if finished { Some(now()) } else { None })
            .bind(key_id.to_owned())
            .bind(i64::from(to_version))
            .execute(&mut *db)
            .await?;
            db.commit().await?;
            batches += 1;
            if finished {
                tracing::info!(key_id, to = to_version, "key rotation finished");
                break;
            }
        }
        self.rotation_status(key_id)
            .await?
            .ok_or_else(|| Error::Rotation {
                key_id: key_id.to_owned(),
                reason: "rotation record vanished",
            })
    }

    /// Records that have a wrap for a non-retired older version of `key_id`,
    /// after `cursor`, in transaction-id order.
    async fn next_batch(
        &self,
        key_id: &str,
        to_version: u32,
        cursor: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Uuid>> {
        const FIRST: &str = "SELECT DISTINCT w.tx_id FROM zkr_dek_wraps w
             JOIN zkr_keys k ON k.key_id = w.key_id AND k.version = w.key_version
             WHERE w.key_id = $1 AND w.key_version <> $2 AND k.status <> $3
             ORDER BY w.tx_id LIMIT $4";
        const AFTER: &str = "SELECT DISTINCT w.tx_id FROM zkr_dek_wraps w
             JOIN zkr_keys k ON k.key_id = w.key_id AND k.version = w.key_version
             WHERE w.key_id = $1 AND w.key_version <> $2 AND k.status <> $3 AND w.tx_id > $5
             ORDER BY w.tx_id LIMIT $4";
        let q = if cursor.is_some() { AFTER } else { FIRST };
        let mut query = sqlx::query(q)
            .bind(key_id.to_owned())
            .bind(i64::from(to_version))
            .bind(KeyStatus::Retired.as_str())
            .bind(limit as i64);
        if let Some(c) = cursor {
            query = query.bind(c.to_vec());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let b: Vec<u8> = r.try_get("tx_id")?;
                Uuid::from_slice(&b)
                    .map_err(|_| Error::malformed("stored tx id", "expected 16 bytes"))
            })
            .collect()
    }

    /// The DEK of a record, from the first wrap whose private key the store
    /// holds: the rotated key's versions first (newest first), then the others.
    async fn recover_dek(
        &self,
        tx_id: &Uuid,
        key_id: &str,
        wraps: &[WrappedDek],
    ) -> Result<Option<Secret32>> {
        let mut order: Vec<&WrappedDek> = wraps.iter().collect();
        order.sort_by_key(|w| (w.key_id != key_id, std::cmp::Reverse(w.key_version)));
        for w in order {
            match self.x25519_private(&w.key_id, w.key_version).await {
                Ok(sk) => match unwrap_dek(w, tx_id, &sk) {
                    Ok(dek) => return Ok(Some(dek)),
                    Err(Error::Decrypt) => {
                        tracing::warn!(key_id = %w.key_id, version = w.key_version, tx_id = %tx_id, "stored wrap does not open");
                    }
                    Err(e) => return Err(e),
                },
                Err(
                    Error::NoPrivateKey { .. }
                    | Error::KeyRetired { .. }
                    | Error::UnknownKey { .. }
                    | Error::WrongKeyKind { .. },
                ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}
