//! Helpers shared by the integration tests: databases and a KEK that lets a
//! test see which secrets were handed to it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use zkr_keys::kek::{Kek, KekFuture};
use zkr_keys::{CacheConfig, FileKek, KeyStore, SecretBytes};

/// Tells that `test` did not run, and why, in a line `cargo test` shows:
/// libtest captures `eprintln!` of a passing test, but not writes to the
/// stderr handle itself.
pub fn skip(test: &str, reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {reason}");
}

/// A database for one test: a SQLite file in a temporary directory, or a
/// fresh PostgreSQL database when `ZKR_TEST_DATABASE_URL` is set.
pub struct TestDb {
    pub name: &'static str,
    pub url: String,
    pub sqlite_file: Option<PathBuf>,
    /// For PostgreSQL: the server URL to drop this test's database through.
    drop_via: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.drop_via.take() else {
            return;
        };
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let admin = AnyPoolOptions::new()
                    .max_connections(1)
                    .connect(&admin_url)
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&admin)
                .await?;
                admin.close().await;
                Ok::<_, sqlx::Error>(())
            })
        })
        .join();
    }
}

impl TestDb {
    pub async fn pool(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .connect(&self.url)
            .await
            .expect("connect test database");
        zkr_store::Db::from_pool(pool.clone())
            .await
            .expect("backend")
            .migrate()
            .await
            .expect("migrate");
        pool
    }
}

pub fn sqlite_db(dir: &Path) -> TestDb {
    let file = dir.join("keys.sqlite");
    TestDb {
        name: "sqlite",
        url: format!("sqlite://{}?mode=rwc", file.display()),
        sqlite_file: Some(file),
        drop_via: None,
    }
}

/// A fresh PostgreSQL database, or `None` (with a visible message) when
/// `ZKR_TEST_DATABASE_URL` is not set.
pub async fn postgres_db(test: &str) -> Option<TestDb> {
    let Ok(base) = std::env::var("ZKR_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("ZKR_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "ZKR_REQUIRE_POSTGRES=1 but ZKR_TEST_DATABASE_URL is not set"
        );
        skip(
            &format!("{test} on PostgreSQL"),
            "ZKR_TEST_DATABASE_URL is not set",
        );
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!("zkr_keys_{}", uuid::Uuid::new_v4().simple());
    let admin = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&base)
        .await
        .expect("connect ZKR_TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create test database");
    admin.close().await;
    let (prefix, rest) = base.rsplit_once('/').expect("database URL has a path");
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    Some(TestDb {
        name: "postgres",
        url: format!("{prefix}/{name}{query}"),
        sqlite_file: None,
        drop_via: Some((base, name)),
    })
}

/// Every backend this machine can test: SQLite always, PostgreSQL when configured.
pub async fn databases(dir: &Path, test: &str) -> Vec<TestDb> {
    let mut dbs = vec![sqlite_db(dir)];
    if let Some(pg) = postgres_db(test).await {
        dbs.push(pg);
    }
    dbs
}

/// Wraps another KEK, counts unwraps and remembers every secret it was
/// asked to wrap, so that tests can look for them where they must not be.
pub struct SpyKek {
    pub inner: Arc<dyn Kek>,
    pub wrapped_secrets: Mutex<Vec<Vec<u8>>>,
    pub unwraps: AtomicUsize,
}

impl SpyKek {
    pub fn new(inner: Arc<dyn Kek>) -> Arc<SpyKek> {
        Arc::new(SpyKek {
            inner,
            wrapped_secrets: Mutex::new(Vec::new()),
            unwraps: AtomicUsize::new(0),
        })
    }

    pub fn unwrap_count(&self) -> usize {
        self.unwraps.load(Ordering::SeqCst)
    }

    pub fn secrets(&self) -> Vec<Vec<u8>> {
        self.wrapped_secrets.lock().unwrap().clone()
    }
}

impl Kek for SpyKek {
    fn kek_id(&self) -> &str {
        self.inner.kek_id()
    }

    fn wrap<'a>(&'a self, secret: &'a [u8], aad: &'a [u8]) -> KekFuture<'a, Vec<u8>> {
        self.wrapped_secrets.lock().unwrap().push(secret.to_vec());
        self.inner.wrap(secret, aad)
    }

    fn unwrap<'a>(&'a self, wrapped: &'a [u8], aad: &'a [u8]) -> KekFuture<'a, SecretBytes> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        self.inner.unwrap(wrapped, aad)
    }
}

pub fn file_kek(dir: &Path) -> Arc<dyn Kek> {
    Arc::new(FileKek::open_or_create(&dir.join("dev-kek.bin")).expect("KEK file"))
}

pub fn store(pool: AnyPool, kek: Arc<dyn Kek>) -> KeyStore {
    KeyStore::new(pool, kek, CacheConfig::default())
}
