//! The database: one `sqlx::AnyPool` over SQLite (default, embedded) or
//! PostgreSQL, with the migrations of each backend embedded in the binary.
//! Every table of the service and of the key store is created by these
//! migrations; nothing creates tables at run time.
//!
//! Queries use `$N` placeholders, which both backends understand, and only
//! the types the `Any` driver carries (`i64`, `String`), so every query is
//! written once.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, SqlSafeStr};

use crate::error::{Error, Result};

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

impl Backend {
    /// The backend of `pool`'s database.
    pub async fn of(pool: &AnyPool) -> Result<Self> {
        let conn = pool.acquire().await?;
        Ok(if conn.backend_name().eq_ignore_ascii_case("postgresql") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        })
    }
}

/// A connection pool and the backend behind it.
#[derive(Clone, Debug)]
pub struct Db {
    /// The pool.
    pub pool: AnyPool,
    /// The backend.
    pub backend: Backend,
    beat: Arc<Heartbeat>,
}

/// The last committed write of [`Db::heartbeat`]: when, and whether it
/// went through.
#[derive(Debug, Default)]
struct Heartbeat {
    last: Mutex<Option<(Instant, std::result::Result<(), String>)>>,
}

/// How long a heartbeat's answer stands before the next write.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "registries",
        include_str!("../migrations/sqlite/0002_registries.sql"),
    ),
    (
        3,
        "confidential",
        include_str!("../migrations/sqlite/0003_confidential.sql"),
    ),
    (
        4,
        "proof_jobs",
        include_str!("../migrations/sqlite/0004_proof_jobs.sql"),
    ),
    (
        5,
        "audit_checkpoints",
        include_str!("../migrations/sqlite/0005_audit_checkpoints.sql"),
    ),
    (
        6,
        "key_store",
        include_str!("../migrations/sqlite/0006_key_store.sql"),
    ),
    (
        7,
        "proof_pool",
        include_str!("../migrations/sqlite/0007_proof_pool.sql"),
    ),
    (
        8,
        "proof_webhooks",
        include_str!("../migrations/sqlite/0008_proof_webhooks.sql"),
    ),
    (
        9,
        "readiness_heartbeat",
        include_str!("../migrations/sqlite/0009_readiness_heartbeat.sql"),
    ),
    (
        10,
        "pool_circuit_keys",
        include_str!("../migrations/sqlite/0010_pool_circuit_keys.sql"),
    ),
    (
        11,
        "jobs_and_webhooks",
        include_str!("../migrations/sqlite/0011_jobs_and_webhooks.sql"),
    ),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "registries",
        include_str!("../migrations/postgres/0002_registries.sql"),
    ),
    (
        3,
        "confidential",
        include_str!("../migrations/postgres/0003_confidential.sql"),
    ),
    (
        4,
        "proof_jobs",
        include_str!("../migrations/postgres/0004_proof_jobs.sql"),
    ),
    (
        5,
        "audit_checkpoints",
        include_str!("../migrations/postgres/0005_audit_checkpoints.sql"),
    ),
    (
        6,
        "key_store",
        include_str!("../migrations/postgres/0006_key_store.sql"),
    ),
    (
        7,
        "proof_pool",
        include_str!("../migrations/postgres/0007_proof_pool.sql"),
    ),
    (
        8,
        "proof_webhooks",
        include_str!("../migrations/postgres/0008_proof_webhooks.sql"),
    ),
    (
        9,
        "readiness_heartbeat",
        include_str!("../migrations/postgres/0009_readiness_heartbeat.sql"),
    ),
    (
        10,
        "pool_circuit_keys",
        include_str!("../migrations/postgres/0010_pool_circuit_keys.sql"),
    ),
    (
        11,
        "jobs_and_webhooks",
        include_str!("../migrations/postgres/0011_jobs_and_webhooks.sql"),
    ),
];

fn migrator(backend: Backend) -> Migrator {
    migrator_of(match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    })
}

fn migrator_of(files: &[(i64, &'static str, &'static str)]) -> Migrator {
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
        let mut options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 10 })
            .acquire_timeout(Duration::from_secs(5))
            // No ping before every use: on PostgreSQL it is a round trip
            // per query. A connection that broke (the server restarted) fails
            // its next query instead, and is dropped: that request answers
            // 503 and a proof job is retried. Connections are renewed after
            // 30 minutes and closed after 10 idle (sqlx's defaults).
            .test_before_acquire(false)
            .after_release(|conn, _| Box::pin(async move { still_usable(conn).await }));
        if backend == Backend::Sqlite {
            // Write-ahead logging: readers (token and policy lookups) no
            // longer wait for the audit writer's commits, and a commit is
            // one sync of the log instead of the rollback journal's
            // several. `synchronous = FULL` keeps every answered request's
            // audit events on disk through a power loss.
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::raw_sql("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        Ok(Self {
            pool,
            backend,
            beat: Arc::default(),
        })
    }

    /// The handle of an open pool (its backend asked of the database).
    pub async fn from_pool(pool: AnyPool) -> Result<Self> {
        let backend = Backend::of(&pool).await?;
        Ok(Self {
            pool,
            backend,
            beat: Arc::default(),
        })
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
        Ok(begin_write_as(&self.pool, self.backend).await?)
    }

    /// Begins a write transaction holding `lock`. On SQLite the write lock
    /// of [`begin_write`](Db::begin_write) already excludes every other
    /// writer. (On PostgreSQL the lock is its own statement: sent with
    /// `BEGIN` in one query, a lock that fails would leave the pooled
    /// connection inside an aborted transaction.)
    pub async fn begin_locked(
        &self,
        lock: WriteLock,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query(lock.postgres()).execute(&mut *tx).await?;
        }
        Ok(tx)
    }

    /// Whether the database's own file can still take writes. A connection
    /// opened before the file was made read-only or deleted keeps writing
    /// to it (or to the unlinked inode), so the file itself is checked: the
    /// next connection the pool opens would fail. PostgreSQL has no such
    /// file and answers [`FileStatus::Writable`].
    pub async fn file_status(&self) -> Result<FileStatus> {
        if self.backend != Backend::Sqlite {
            return Ok(FileStatus::Writable);
        }
        let rows = sqlx::query("PRAGMA database_list")
            .fetch_all(&self.pool)
            .await?;
        for row in rows {
            let name: String = sqlx::Row::try_get(&row, "name")?;
            let file: String = sqlx::Row::try_get(&row, "file")?;
            if name != "main" || file.is_empty() {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&file) else {
                return Ok(FileStatus::Missing);
            };
            if meta.permissions().readonly() {
                return Ok(FileStatus::ReadOnly);
            }
        }
        Ok(FileStatus::Writable)
    }

    /// Whether the database took a committed write within the last second:
    /// rewrites the heartbeat row at most once a second (callers meanwhile
    /// get the last answer), so that a readiness probe proves what a
    /// rolled-back probe cannot: on SQLite a transaction that is rolled
    /// back never reaches the disk, and a full disk or a file that cannot
    /// be written only shows at commit.
    /// The error is the database's, for the log.
    pub async fn heartbeat(&self) -> std::result::Result<(), String> {
        {
            let mut last = self.beat.last.lock().unwrap_or_else(|e| e.into_inner());
            match &*last {
                Some((at, answer)) if at.elapsed() < HEARTBEAT_EVERY => return answer.clone(),
                // Claimed for this caller: the others keep the last answer
                // meanwhile.
                Some((_, answer)) => *last = Some((Instant::now(), answer.clone())),
                None => *last = Some((Instant::now(), Ok(()))),
            }
        }
        let answer = sqlx::query(
            "INSERT INTO readiness_heartbeat (id, beat_at) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at",
        )
        .bind(now_unix())
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
        *self.beat.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), answer.clone()));
        answer
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Whether a connection handed back to the pool may serve again: not
/// when it is still inside a transaction. A transaction whose COMMIT (or a
/// statement) failed is dropped, and its rollback queued; on SQLite a full
/// disk or an I/O error has already rolled the transaction back, that
/// ROLLBACK fails, and the connection would stay "in a transaction" for
/// ever: every later `BEGIN` on it fails ("begin_with at non-zero
/// transaction depth"). Such a connection is closed instead; the pool
/// opens a new one.
async fn still_usable(conn: &mut sqlx::AnyConnection) -> sqlx::Result<bool> {
    use sqlx::Connection;
    // SQLite's rollback of a dropped transaction is queued to the
    // connection's thread; a ping runs after it, so the depth below is what
    // that rollback left. (PostgreSQL counts the rollback when it queues it.)
    if !conn.backend_name().eq_ignore_ascii_case("postgresql") {
        conn.ping().await?;
    }
    Ok(!conn.is_in_transaction())
}

/// What [`Db::file_status`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// The file is there and writable (or the database has no file).
    Writable,
    /// The SQLite file was deleted.
    Missing,
    /// The SQLite file is read-only.
    ReadOnly,
}

/// [`Db::begin_write`] on a bare pool, for code that holds only the pool.
pub async fn begin_write(pool: &AnyPool) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
    let backend = Backend::of(pool).await?;
    Ok(begin_write_as(pool, backend).await?)
}

async fn begin_write_as(
    pool: &AnyPool,
    backend: Backend,
) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Any>> {
    match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
}

/// What a write transaction of [`Db::begin_locked`] excludes until it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteLock {
    /// Other appends to the audit chain (its table, in exclusive mode:
    /// readers go on), so that several nodes on one database keep one chain.
    AuditChain,
    /// Other appends to a registry (its members table, in exclusive mode),
    /// so that two nodes cannot give two members one index.
    RegistryMembers,
    /// Other job admissions (an advisory lock), so that nodes counting the
    /// queue before they add to it never together exceed its limits.
    JobAdmission,
}

impl WriteLock {
    /// The statement that takes it.
    fn postgres(self) -> &'static str {
        match self {
            WriteLock::AuditChain => "LOCK TABLE audit_events IN EXCLUSIVE MODE",
            WriteLock::RegistryMembers => "LOCK TABLE registry_members IN EXCLUSIVE MODE",
            WriteLock::JobAdmission => "SELECT pg_advisory_xact_lock(7301164012)",
        }
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

    /// Makes files immutable (`chattr +i`) until dropped: writes to them
    /// fail as on a full disk. Needs root; `None` when not permitted.
    struct Immutable(Vec<std::path::PathBuf>);

    impl Immutable {
        fn set(files: &[std::path::PathBuf]) -> Option<Self> {
            let ok = std::process::Command::new("chattr")
                .arg("+i")
                .args(files)
                .status()
                .is_ok_and(|s| s.success());
            let guard = Self(files.to_vec());
            ok.then_some(guard)
        }
    }

    impl Drop for Immutable {
        fn drop(&mut self) {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .args(&self.0)
                .status();
        }
    }

    /// A COMMIT that fails on SQLite (its files cannot be written) leaves
    /// no pooled connection inside a transaction: every later write
    /// transaction begins.
    #[tokio::test]
    async fn a_connection_whose_commit_failed_does_not_return_in_a_transaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("zkr.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let db = Db::connect_and_migrate(&url).await.expect("migrate");
        sqlx::query("CREATE TABLE t (n BIGINT NOT NULL)")
            .execute(&db.pool)
            .await
            .expect("table");
        let wal = dir.path().join("zkr.db-wal");
        let Some(guard) = Immutable::set(&[file.clone(), wal]) else {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIP a_connection_whose_commit_failed_does_not_return_in_a_transaction: chattr +i is not permitted"
            );
            return;
        };
        // One transaction, on a connection opened before: one opened while
        // the file cannot be written falls back to read-only for good.
        let mut failed = 0;
        for n in 0..1i64 {
            let Ok(mut tx) = db.begin_write().await else {
                failed += 1;
                continue;
            };
            let inserted = sqlx::query("INSERT INTO t (n) VALUES ($1)")
                .bind(n)
                .execute(&mut *tx)
                .await;
            if inserted.is_err() || tx.commit().await.is_err() {
                failed += 1;
            }
        }
        assert!(failed > 0, "writes went through to an immutable file");
        drop(guard);
        for n in 0..32i64 {
            let mut tx = db
                .begin_write()
                .await
                .expect("begin after the disk has room");
            sqlx::query("INSERT INTO t (n) VALUES ($1)")
                .bind(n)
                .execute(&mut *tx)
                .await
                .expect("insert");
            tx.commit().await.expect("commit");
        }
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
        assert_eq!(
            Backend::of(&db.pool).await.expect("backend"),
            Backend::Sqlite
        );
    }

    /// A database whose key-store tables were made at run time, before the
    /// key store had a migration, upgrades: the migration is a no-op on
    /// them and keeps their rows.
    #[tokio::test]
    async fn key_store_migration_upgrades_a_database_with_runtime_tables() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("zkr.db").display());
        let db = Db::connect(&url).await.expect("connect");
        let migrator = migrator_of(&SQLITE[..5]);
        migrator.run(&db.pool).await.expect("migrations 1-5");
        // What the key store used to run at start-up.
        sqlx::query(
            "CREATE TABLE zkr_keys (key_id TEXT NOT NULL, version BIGINT NOT NULL, \
             kind TEXT NOT NULL, custody TEXT NOT NULL, algorithm TEXT NOT NULL, \
             public_key BLOB NOT NULL, wrapped_private BLOB, kek_id TEXT, \
             status TEXT NOT NULL, created_at BIGINT NOT NULL, rotated_at BIGINT, \
             PRIMARY KEY (key_id, version))",
        )
        .execute(&db.pool)
        .await
        .expect("old table");
        sqlx::query(
            "INSERT INTO zkr_keys VALUES ('k', 1, 'escrow', 'custodial', 'x25519', \
             x'00', NULL, NULL, 'active', 0, NULL)",
        )
        .execute(&db.pool)
        .await
        .expect("old row");
        db.migrate().await.expect("upgrade");
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM zkr_keys")
            .fetch_one(&db.pool)
            .await
            .expect("count");
        assert_eq!(n, 1);
        for table in ["zkr_dek_wraps", "zkr_rotations"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&db.pool)
                .await
                .expect("table created by the migration");
        }
    }
}
