//! The database of the service and of the key store: the pool handle,
//! backend detection (SQLite or PostgreSQL), write transactions, time, and
//! the versioned migrations that create every table.
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod db;
mod error;
pub mod jobs;
pub mod webhooks;

pub use db::{Backend, Db, FileStatus, begin_write, now_unix};
pub use error::{Error, Result};
