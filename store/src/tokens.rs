//! The `api_tokens` table: bearer tokens, stored as the SHA-256 of the
//! secret (never the secret itself), with the principal and roles they
//! speak for.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Backend, Db};
use crate::error::Result;

/// A token to store. `roles` is the comma-separated storage form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken<'a> {
    /// Token id (not secret).
    pub id: &'a str,
    /// Hex SHA-256 of the secret.
    pub token_hash: &'a str,
    /// Principal the token speaks for.
    pub principal: &'a str,
    /// Roles, comma-separated.
    pub roles: &'a str,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` when it never expires.
    pub expires_at: Option<i64>,
}

/// A stored token as listed: no secret and no hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Token id.
    pub id: String,
    /// Principal it speaks for.
    pub principal: String,
    /// Roles, comma-separated.
    pub roles: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` when it never expires.
    pub expires_at: Option<i64>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// What authentication reads for a token hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The stored hash (the caller compares it again in constant time).
    pub token_hash: String,
    /// Principal the token speaks for.
    pub principal: String,
    /// Roles, comma-separated.
    pub roles: String,
    /// Unix seconds; `None` when it never expires.
    pub expires_at: Option<i64>,
    /// Whether it was revoked.
    pub revoked: bool,
}

fn token_row(row: &AnyRow) -> Result<TokenRow> {
    Ok(TokenRow {
        id: row.try_get("id")?,
        principal: row.try_get("principal")?,
        roles: row.try_get("roles")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked: row.try_get::<i64, _>("revoked")? != 0,
    })
}

/// Stores a new, unrevoked token.
pub async fn insert(db: &Db, token: &NewToken<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, token_hash, principal, roles, created_at, expires_at, revoked) \
         VALUES ($1, $2, $3, $4, $5, $6, 0)",
    )
    .bind(token.id)
    .bind(token.token_hash)
    .bind(token.principal)
    .bind(token.roles)
    .bind(token.created_at)
    .bind(token.expires_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The token whose hash is `token_hash`, for authentication.
pub async fn credential(db: &Db, token_hash: &str) -> Result<Option<Credential>> {
    let row = sqlx::query(
        "SELECT token_hash, principal, roles, expires_at, revoked FROM api_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| {
        Ok(Credential {
            token_hash: row.try_get("token_hash")?,
            principal: row.try_get("principal")?,
            roles: row.try_get("roles")?,
            expires_at: row.try_get("expires_at")?,
            revoked: row.try_get::<i64, _>("revoked")? != 0,
        })
    })
    .transpose()
}

/// The id of the token whose hash is `token_hash`.
pub async fn id_by_hash(db: &Db, token_hash: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT id FROM api_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|row| row.try_get("id")).transpose()?)
}

/// How many tokens exist, revoked and expired ones included.
pub async fn count(db: &Db) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM api_tokens")
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get("n")?)
}

/// Every token, oldest first.
pub async fn list(db: &Db) -> Result<Vec<TokenRow>> {
    let rows = sqlx::query(
        "SELECT id, principal, roles, created_at, expires_at, revoked FROM api_tokens \
         ORDER BY created_at, id",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(token_row).collect()
}

/// Token `id`, if it exists.
pub async fn get(db: &Db, id: &str) -> Result<Option<TokenRow>> {
    let row = sqlx::query(
        "SELECT id, principal, roles, created_at, expires_at, revoked FROM api_tokens WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(token_row).transpose()
}

/// PostgreSQL channel on which a revocation is announced (payload: the
/// token id), in the transaction that stores it: nodes that keep tokens
/// between requests drop them.
pub const CHANGED_CHANNEL: &str = "zkr_tokens_changed";

/// Marks token `id` revoked (no-op for an unknown or revoked token),
/// announced on [`CHANGED_CHANNEL`] on PostgreSQL.
pub async fn revoke(db: &Db, id: &str) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE api_tokens SET revoked = 1 WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if db.backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGED_CHANNEL)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn insert_find_list_revoke() {
        let (_dir, db) = crate::test_db().await;
        assert_eq!(count(&db).await.expect("count"), 0);
        let new = NewToken {
            id: "t1",
            token_hash: "aa",
            principal: "miner-7",
            roles: "miner,client",
            created_at: 10,
            expires_at: Some(20),
        };
        insert(&db, &new).await.expect("insert");
        assert_eq!(count(&db).await.expect("count"), 1);
        let found = credential(&db, "aa").await.expect("credential");
        assert_eq!(
            found,
            Some(Credential {
                token_hash: "aa".into(),
                principal: "miner-7".into(),
                roles: "miner,client".into(),
                expires_at: Some(20),
                revoked: false,
            })
        );
        assert_eq!(credential(&db, "bb").await.expect("credential"), None);
        assert_eq!(id_by_hash(&db, "aa").await.expect("id"), Some("t1".into()));
        revoke(&db, "t1").await.expect("revoke");
        revoke(&db, "unknown")
            .await
            .expect("revoking nothing is no error");
        let listed = list(&db).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert!(listed[0].revoked);
        assert_eq!(get(&db, "t1").await.expect("get"), Some(listed[0].clone()));
        assert_eq!(get(&db, "unknown").await.expect("get"), None);
    }
}
