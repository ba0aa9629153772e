//! Liveness, readiness and the OpenAPI document.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sqlx::Row;
use utoipa::{OpenApi, ToSchema};

use crate::server::AppState;
use crate::server::error::{ErrorCode, ErrorDetail};
use crate::server::store::{Backend, now_unix};

/// Health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Why the service is not ready, as `/readyz` answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotReady {
    /// `unavailable`.
    pub status: &'static str,
    /// Stable reason: `key_store`, `audit_writer_stopped`,
    /// `database_missing`, `database_read_only`, `database_unavailable`,
    /// `audit_not_writable` or `probe_timeout`.
    pub reason: &'static str,
    /// The usual error body (`code` is `unavailable`).
    pub error: ErrorDetail,
}

/// The longest a readiness probe waits for the database (a locked table
/// must answer "not ready", not hang the probe).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`: ready means a request that must be audited can succeed:
/// the key store is attached, the audit writer runs, the database file is
/// there and writable, and a row can be appended to the audit table.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, body = Health),
    (status = 503, body = NotReady)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let limit = PROBE_TIMEOUT.min(Duration::from_secs(state.config.http.request_timeout_secs));
    let outcome = match tokio::time::timeout(limit, readiness(&state)).await {
        Ok(r) => r,
        Err(_) => Err(("probe_timeout", "the database did not answer in time")),
    };
    match outcome {
        Ok(()) => Json(Health { status: "ok" }).into_response(),
        Err((reason, message)) => {
            tracing::warn!(reason, "not ready");
            let body = NotReady {
                status: "unavailable",
                reason,
                error: ErrorDetail {
                    code: "unavailable".into(),
                    message: message.into(),
                },
            };
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
            response.extensions_mut().insert(ErrorCode("unavailable"));
            response
        }
    }
}

type NotReadyReason = (&'static str, &'static str);

async fn readiness(state: &AppState) -> Result<(), NotReadyReason> {
    if state.key_store().is_err() {
        return Err(("key_store", "the key store is not attached"));
    }
    if !state.audit.is_running() {
        return Err(("audit_writer_stopped", "the audit writer has stopped"));
    }
    if state.db.backend == Backend::Sqlite {
        sqlite_file_writable(state).await?;
    }
    audit_append_probe(state).await
}

/// A connection opened before the file was made read-only or deleted keeps
/// writing to it (or to the unlinked inode), so the file itself is checked:
/// the next connection the pool opens would fail.
async fn sqlite_file_writable(state: &AppState) -> Result<(), NotReadyReason> {
    let unavailable = ("database_unavailable", "the database does not answer");
    let rows = sqlx::query("PRAGMA database_list")
        .fetch_all(&state.db.pool)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "readiness: database_list");
            unavailable
        })?;
    for row in rows {
        let name: String = row.try_get("name").map_err(|_| unavailable)?;
        let file: String = row.try_get("file").map_err(|_| unavailable)?;
        if name != "main" || file.is_empty() {
            continue;
        }
        let meta = std::fs::metadata(&file)
            .map_err(|_| ("database_missing", "the database file is missing"))?;
        if meta.permissions().readonly() {
            return Err(("database_read_only", "the database file is read-only"));
        }
    }
    Ok(())
}

/// Appends a row to the audit table inside a write transaction and rolls
/// it back: this takes the same locks and constraints as the audit writer
/// (a read-only, locked or missing table fails here) but leaves nothing
/// behind, so probes do not fill the log. The row's `seq` is negative, so it
/// can never collide with the chain, which starts at 1.
async fn audit_append_probe(state: &AppState) -> Result<(), NotReadyReason> {
    let not_writable = ("database_unavailable", "the database cannot start a write");
    let mut tx = state.db.begin_write().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: begin write");
        not_writable
    })?;
    let inserted = sqlx::query(
        "INSERT INTO audit_events (seq, ts, actor, roles, action, resource, purpose, outcome, detail, prev_hash, entry_hash) \
         VALUES ($1, $2, 'zkr-readyz', 'system', 'readiness_probe', '-', '-', 'probe', '', '', '')",
    )
    .bind(-1i64)
    .bind(now_unix())
    .execute(&mut *tx)
    .await;
    // Never committed, whatever happened.
    let rolled_back = tx.rollback().await;
    if let Err(e) = inserted {
        tracing::warn!(error = %e, "readiness: audit append probe");
        return Err(("audit_not_writable", "the audit log cannot be appended to"));
    }
    rolled_back.map_err(|e| {
        tracing::warn!(error = %e, "readiness: rollback");
        not_writable
    })
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, description = "This document")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::server::openapi::ApiDoc::openapi())
}
