//! The database of the service and of the key store: the pool handle,
//! backend detection (SQLite or PostgreSQL), write transactions, time, and
//! the versioned migrations that create every table.
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod audit;
mod db;
mod error;

pub use audit::{
    AuditAppend, AuditFilter, AuditHead, AuditProbeError, AuditRow, audit_head, audit_page,
    audit_probe, audit_query,
};
pub use db::{Backend, Db, FileStatus, begin_write, now_unix};
pub use error::{Error, Result};
