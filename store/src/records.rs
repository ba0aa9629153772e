//! The `confidential_txs` table: confidential records, each stored once as
//! AES-256-GCM ciphertext with the ids of the keys that may open it and the
//! coordinator's signature of its commitment. The data key's wraps live in
//! the key store's tables.

use sqlx::Row;

use crate::db::Db;
use crate::error::Result;

/// One stored record. Binary values are hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// Transaction id (a UUID).
    pub id: String,
    /// The receipt hash (decimal field element).
    pub receipt_hash: String,
    /// AES-GCM nonce (hex).
    pub nonce: String,
    /// Ciphertext (hex).
    pub ciphertext: String,
    /// The client's key id.
    pub client_key: String,
    /// The miner's key id.
    pub miner_key: String,
    /// The audit escrow key id.
    pub escrow_key: String,
    /// The coordinator's signing key id.
    pub signing_key: String,
    /// Its version.
    pub signing_version: i64,
    /// The coordinator's signature (hex).
    pub signature: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Principal who stored it.
    pub created_by: String,
}

/// Record `id`, if it exists.
pub async fn find(db: &Db, id: &str) -> Result<Option<RecordRow>> {
    let row = sqlx::query("SELECT * FROM confidential_txs WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|row| {
        Ok(RecordRow {
            id: row.try_get("id")?,
            receipt_hash: row.try_get("receipt_hash")?,
            nonce: row.try_get("nonce")?,
            ciphertext: row.try_get("ciphertext")?,
            client_key: row.try_get("client_key")?,
            miner_key: row.try_get("miner_key")?,
            escrow_key: row.try_get("escrow_key")?,
            signing_key: row.try_get("signing_key")?,
            signing_version: row.try_get("signing_version")?,
            signature: row.try_get("signature")?,
            created_at: row.try_get("created_at")?,
            created_by: row.try_get("created_by")?,
        })
    })
    .transpose()
}

/// Stores a new record.
pub async fn insert(db: &Db, record: &RecordRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO confidential_txs (id, receipt_hash, nonce, ciphertext, client_key, miner_key, \
         escrow_key, signing_key, signing_version, signature, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&record.id)
    .bind(&record.receipt_hash)
    .bind(&record.nonce)
    .bind(&record.ciphertext)
    .bind(&record.client_key)
    .bind(&record.miner_key)
    .bind(&record.escrow_key)
    .bind(&record.signing_key)
    .bind(record.signing_version)
    .bind(&record.signature)
    .bind(record.created_at)
    .bind(&record.created_by)
    .execute(&db.pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn insert_and_find() {
        let (_dir, db) = crate::test_db().await;
        let record = RecordRow {
            id: "tx-1".into(),
            receipt_hash: "12".into(),
            nonce: "00".repeat(12),
            ciphertext: "abcd".into(),
            client_key: "client-a".into(),
            miner_key: "miner-a".into(),
            escrow_key: "escrow".into(),
            signing_key: "coordinator".into(),
            signing_version: 2,
            signature: "ef".into(),
            created_at: 5,
            created_by: "coord".into(),
        };
        insert(&db, &record).await.expect("insert");
        assert_eq!(find(&db, "tx-1").await.expect("find"), Some(record.clone()));
        assert_eq!(find(&db, "tx-2").await.expect("find"), None);
        assert!(insert(&db, &record).await.is_err(), "ids are unique");
    }
}
