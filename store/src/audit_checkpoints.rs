//! The `audit_checkpoints` table: signed heads of the audit chain. The
//! table is append-only (triggers refuse UPDATE and DELETE), so this module
//! only inserts and reads.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::error::Result;

/// One stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    /// Sequence number of the audit entry that was signed.
    pub seq: i64,
    /// That entry's hash (hex).
    pub entry_hash: String,
    /// Unix seconds of the signature.
    pub ts: i64,
    /// Signing key id.
    pub key_id: String,
    /// Signing key version.
    pub key_version: i64,
    /// Ed25519 public key (hex).
    pub public_key: String,
    /// Ed25519 signature (hex).
    pub signature: String,
}

fn from_row(row: &AnyRow) -> Result<CheckpointRow> {
    Ok(CheckpointRow {
        seq: row.try_get("seq")?,
        entry_hash: row.try_get("entry_hash")?,
        ts: row.try_get("ts")?,
        key_id: row.try_get("key_id")?,
        key_version: row.try_get("key_version")?,
        public_key: row.try_get("public_key")?,
        signature: row.try_get("signature")?,
    })
}

/// Checkpoints with `seq > after`, oldest first, at most `limit`.
pub async fn list(db: &Db, after: i64, limit: i64) -> Result<Vec<CheckpointRow>> {
    let rows = sqlx::query("SELECT * FROM audit_checkpoints WHERE seq > $1 ORDER BY seq LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// The highest signed sequence number, `None` before the first checkpoint.
pub async fn last_seq(db: &Db) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT MAX(seq) AS seq FROM audit_checkpoints")
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get("seq")?)
}

/// Stores `checkpoint`. Several service nodes may sign the same head: the
/// first one stays, and `false` says this one was not stored.
pub async fn insert(db: &Db, checkpoint: &CheckpointRow) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO audit_checkpoints (seq, entry_hash, ts, key_id, key_version, public_key, signature) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (seq) DO NOTHING",
    )
    .bind(checkpoint.seq)
    .bind(&checkpoint.entry_hash)
    .bind(checkpoint.ts)
    .bind(&checkpoint.key_id)
    .bind(checkpoint.key_version)
    .bind(&checkpoint.public_key)
    .bind(&checkpoint.signature)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_checkpoint_of_a_seq_stays() {
        let (_dir, db) = crate::test_db().await;
        assert_eq!(last_seq(&db).await.expect("last"), None);
        let first = CheckpointRow {
            seq: 3,
            entry_hash: "11".repeat(32),
            ts: 50,
            key_id: "audit-checkpoint".into(),
            key_version: 1,
            public_key: "22".repeat(32),
            signature: "33".repeat(64),
        };
        assert!(insert(&db, &first).await.expect("insert"));
        let other = CheckpointRow {
            ts: 51,
            ..first.clone()
        };
        assert!(!insert(&db, &other).await.expect("second node"));
        let later = CheckpointRow {
            seq: 8,
            ..first.clone()
        };
        assert!(insert(&db, &later).await.expect("insert"));
        assert_eq!(last_seq(&db).await.expect("last"), Some(8));
        assert_eq!(
            list(&db, 0, 10).await.expect("list"),
            vec![first.clone(), later.clone()]
        );
        assert_eq!(list(&db, 3, 10).await.expect("list"), vec![later]);
        assert_eq!(list(&db, 0, 1).await.expect("list"), vec![first]);
    }
}
