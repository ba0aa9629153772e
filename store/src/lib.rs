//! The database of the service and of the key store: the pool handle,
//! backend detection (SQLite or PostgreSQL), write transactions, time, and
//! the versioned migrations that create every table.
//!
//! The SQL of each table lives in one module here, named after the table,
//! with typed rows; the server keeps the domain rules. (The key store's
//! tables are read and written by `zkr-keys`, on tables these migrations
//! create.)
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod audit;
mod db;
mod error;
pub mod jobs;
pub mod webhooks;

pub mod audit_checkpoints;
pub mod policies;
pub mod records;
pub mod registries;
pub mod tokens;

pub use audit::{
    AuditAppend, AuditFilter, AuditHead, AuditProbeError, AuditRow, audit_append_after,
    audit_entry_hash, audit_head, audit_page, audit_probe, audit_query,
};
pub use db::{Backend, Db, FileStatus, WriteLock, begin_write, now_unix};
pub use error::{Error, Result};

/// A migrated SQLite database in a temporary directory, for unit tests.
#[cfg(test)]
async fn test_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("zkr.db").display());
    let db = Db::connect_and_migrate(&url).await.expect("migrate");
    (dir, db)
}
