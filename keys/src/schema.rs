//! The key store's tables, for SQLite and PostgreSQL, and their creation.
//!
//! - `zkr_keys`: one row per key version. Public keys in clear; private keys
//!   (custodial, escrow, signing) only as KEK wraps, with the KEK's id.
//! - `zkr_dek_wraps`: the authoritative wrapped DEKs of every active record,
//!   one row per (tx_id, recipient key id, key version). Rotation adds rows
//!   here; record ciphertexts, which the service keeps, are never touched.
//! - `zkr_rotations`: persisted progress of each rotation, so that an
//!   interrupted rotation resumes where it stopped.

use sqlx::AnyPool;

use crate::error::Result;

/// The SQL dialect of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (the single-process default).
    Sqlite,
    /// PostgreSQL (shared by several nodes).
    Postgres,
}

impl Backend {
    /// The dialect of `pool`'s database.
    pub async fn of(pool: &AnyPool) -> Result<Backend> {
        let conn = pool.acquire().await?;
        Ok(if conn.backend_name().eq_ignore_ascii_case("postgresql") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        })
    }
}

/// Begins a transaction that reads and then writes. On SQLite it takes the
/// write lock up front (`BEGIN IMMEDIATE`, within the busy timeout): a
/// deferred one fails at once with "database is locked" when another
/// connection writes between its read and its write.
pub(crate) async fn begin_write(pool: &AnyPool) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
    Ok(match Backend::of(pool).await? {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    })
}

/// The statements that create the key store's tables (idempotent).
pub fn ddl(backend: Backend) -> Vec<String> {
    let blob = match backend {
        Backend::Sqlite => "BLOB",
        Backend::Postgres => "BYTEA",
    };
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS zkr_keys (
                key_id TEXT NOT NULL,
                version BIGINT NOT NULL,
                kind TEXT NOT NULL,
                custody TEXT NOT NULL,
                algorithm TEXT NOT NULL,
                public_key {blob} NOT NULL,
                wrapped_private {blob},
                kek_id TEXT,
                status TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                rotated_at BIGINT,
                PRIMARY KEY (key_id, version)
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS zkr_dek_wraps (
                tx_id {blob} NOT NULL,
                key_id TEXT NOT NULL,
                key_version BIGINT NOT NULL,
                enc {blob} NOT NULL,
                wrapped_dek {blob} NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (tx_id, key_id, key_version)
            )"
        ),
        "CREATE INDEX IF NOT EXISTS zkr_dek_wraps_by_key
            ON zkr_dek_wraps (key_id, key_version, tx_id)"
            .to_owned(),
        format!(
            "CREATE TABLE IF NOT EXISTS zkr_rotations (
                key_id TEXT NOT NULL,
                to_version BIGINT NOT NULL,
                cursor_tx {blob},
                rewrapped BIGINT NOT NULL,
                skipped BIGINT NOT NULL,
                state TEXT NOT NULL,
                started_at BIGINT NOT NULL,
                finished_at BIGINT,
                PRIMARY KEY (key_id, to_version)
            )"
        ),
    ]
}

/// Creates the key store's tables if they do not exist.
pub async fn migrate(pool: &AnyPool) -> Result<()> {
    let backend = Backend::of(pool).await?;
    let mut tx = pool.begin().await?;
    for stmt in ddl(backend) {
        sqlx::query(sqlx::AssertSqlSafe(stmt))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
