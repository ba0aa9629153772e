//! Helpers shared by the tests that run the `zkr` binary as a process.
// Each test binary uses its own subset.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output};

/// Runs `zkr args` to its end and returns what it printed.
pub fn zkr(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_zkr")).args(args).output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run zkr: {e}"),
    }
}

/// `zkr` with none of the caller's `ZKR_*` variables (CI sets some for the
/// test suite) and no `NO_COLOR`, so that only what a test sets applies.
pub fn zkr_clean() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zkr"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ZKR_") || key == "NO_COLOR" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A process's standard error, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A process's standard output, as trimmed text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Tells that the running test did not run, and why, in a line that
/// `cargo test` shows (libtest captures `eprintln!`, not the handle).
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {}: {reason}",
        thread.name().unwrap_or("a test")
    );
}

/// Runs a future to its end on a one-thread runtime, for the blocking
/// process tests.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => panic!("tokio runtime: {e}"),
    }
}

/// A fresh database on the test PostgreSQL server
/// (`ZKR_TEST_DATABASE_URL`), dropped at the end; `None`, with a SKIP
/// line, where there is no server, unless `ZKR_REQUIRE_POSTGRES=1`.
pub struct PgDb {
    /// The server's URL, for creating and dropping.
    pub admin_url: String,
    /// The database's name.
    pub name: String,
    /// The database's URL.
    pub url: String,
}

impl PgDb {
    /// A new database named `<prefix>_<random>`.
    pub fn create(prefix: &str) -> Option<Self> {
        use sqlx::Connection;
        let Some(admin_url) = std::env::var("ZKR_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            if std::env::var("ZKR_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("ZKR_REQUIRE_POSTGRES=1 but ZKR_TEST_DATABASE_URL is not set");
            }
            skip("ZKR_TEST_DATABASE_URL is not set");
            return None;
        };
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        block_on(async {
            let mut conn = match sqlx::PgConnection::connect(&admin_url).await {
                Ok(c) => c,
                Err(e) => panic!("PostgreSQL at ZKR_TEST_DATABASE_URL: {e}"),
            };
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
            {
                panic!("CREATE DATABASE {name}: {e}");
            }
            let _ = conn.close().await;
        });
        let base = admin_url.split('?').next().unwrap_or(&admin_url);
        let prefix_url = base.rsplit_once('/').map_or(base, |(p, _)| p);
        let url = format!("{prefix_url}/{name}");
        Some(Self {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        use sqlx::Connection;
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        block_on(async move {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await;
            }
        });
    }
}
