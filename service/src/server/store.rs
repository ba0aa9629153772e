//! The database: one `sqlx::AnyPool` over SQLite (default, embedded) or
//! PostgreSQL, with the migrations of each backend embedded in the binary.
//!
//! Queries use `$N` placeholders, which both backends understand, and only
//! the types the `Any` driver carries (`i64`, `String`), so every query is
//! written once.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, SqlSafeStr};

use super::error::{Error, Result};

/// Which SQL dialect a pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend a URL names, or an error for anything else.
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::Config(
                "database URL must start with sqlite: or postgres://".into(),
            ))
        }
    }
}

/// A connection pool and the backend behind it.
#[derive(Clone, Debug)]
pub struct Db {
    /// The pool.
    pub pool: AnyPool,
    /// The backend.
    pub backend: Backend,
}

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "registries",
        include_str!("../../migrations/sqlite/0002_registries.sql"),
    ),
    (
        3,
        "confidential",
        include_str!("../../migrations/sqlite/0003_confidential.sql"),
    ),
    (
        4,
        "proof_jobs",
        include_str!("../../migrations/sqlite/0004_proof_jobs.sql"),
    ),
    (
        5,
        "audit_checkpoints",
        include_str!("../../migrations/sqlite/0005_audit_checkpoints.sql"),
    ),
    (
        6,
        "proof_pool",
        include_str!("../../migrations/sqlite/0006_proof_pool.sql"),
    ),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "registries",
        include_str!("../../migrations/postgres/0002_registries.sql"),
    ),
    (
        3,
        "confidential",
        include_str!("../../migrations/postgres/0003_confidential.sql"),
    ),
    (
        4,
        "proof_jobs",
        include_str!("../../migrations/postgres/0004_proof_jobs.sql"),
    ),
    (
        5,
        "audit_checkpoints",
        include_str!("../../migrations/postgres/0005_audit_checkpoints.sql"),
    ),
    (
        6,
        "proof_pool",
        include_str!("../../migrations/postgres/0006_proof_pool.sql"),
    ),
];

fn migrator(backend: Backend) -> Migrator {
    let files = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    let migrations = files
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

impl Db {
    /// Connects (creating the SQLite file and its directory if needed).
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        if backend == Backend::Sqlite
            && let Some(dir) = sqlite_path(url).and_then(Path::parent)
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        Ok(Self { pool, backend })
    }

    /// Connects and applies pending migrations.
    pub async fn connect_and_migrate(url: &str) -> Result<Self> {
        let db = Self::connect(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> Result<()> {
        migrator(self.backend).run(&self.pool).await?;
        Ok(())
    }

    /// Begins a transaction that will write. On SQLite it takes the write
    /// lock up front (`BEGIN IMMEDIATE`, waiting out the busy timeout):
    /// a deferred transaction that reads first and writes later fails at
    /// once with "database is locked" when another connection writes
    /// meanwhile.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// The file path inside a `sqlite://path?...` URL.
fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// Current time in unix seconds.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::from_url("sqlite://x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(Backend::from_url("mysql://h/db").is_err());
        assert_eq!(
            sqlite_path("sqlite://a/b.db?mode=rwc"),
            Some(Path::new("a/b.db"))
        );
    }

    #[tokio::test]
    async fn migrates_a_fresh_sqlite_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db/zkr.db").display()
        );
        let db = Db::connect_and_migrate(&url).await.expect("migrate");
        db.migrate().await.expect("migrations are idempotent");
        db.ping().await.expect("ping");
    }
}
