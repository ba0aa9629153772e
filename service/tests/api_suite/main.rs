//! End-to-end tests of the HTTP service through the real router, each test
//! with its own database, on SQLite and (when configured) PostgreSQL.

mod helpers;

mod access_log;
mod access_matrix;
mod audit_checkpoints;
mod audit_isolation;
mod audit_log;
mod audit_offline;
mod audit_tail;
mod basics;
mod connections;
mod docs;
mod keys;
mod outage;
mod policies;
mod pool;
mod proofs;
mod rate_limits;
mod registries;
mod tokens;
mod transactions;
mod verify;
mod webhooks;
