//! Liveness, readiness, the OpenAPI document, the index at `/` and the
//! API docs page at `/docs/`.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{Error, ErrorCode, ErrorDetail, Result};
use axum::routing::get;
use utoipa_axum::{router::OpenApiRouter, routes};
use zkr_store::{Backend, FileStatus};

/// Health answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Why the service is not ready, as `/readyz` answers it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotReady {
    /// `unavailable`.
    pub status: &'static str,
    /// Stable reason: `key_store`, `audit_writer_stopped`,
    /// `database_missing`, `database_read_only`, `database_unavailable`,
    /// `audit_not_writable`, `database_not_writable` or `probe_timeout`.
    pub reason: &'static str,
    /// The usual error body (`code` is `unavailable`).
    pub error: ErrorDetail,
}

/// The longest a readiness probe waits for the database (a locked table
/// must answer "not ready", not hang the probe).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`: ready means a request that must be audited can succeed:
/// the key store is attached, the audit writer runs, the database file is
/// there and writable, a row can be appended to the audit table, and the
/// database committed a write within the last second (a heartbeat row,
/// rewritten at most once a second; probes meanwhile share its answer).
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, body = Health),
    (status = 503, body = NotReady)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
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
    audit_append_probe(state).await?;
    // The probe above is rolled back; only a commit shows a full disk or
    // a database file that cannot be written.
    state.db.heartbeat().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: heartbeat write");
        (
            "database_not_writable",
            "the database cannot commit a write",
        )
    })
}

async fn sqlite_file_writable(state: &AppState) -> Result<(), NotReadyReason> {
    match state.db.file_status().await {
        Ok(FileStatus::Writable) => Ok(()),
        Ok(FileStatus::Missing) => Err(("database_missing", "the database file is missing")),
        Ok(FileStatus::ReadOnly) => Err(("database_read_only", "the database file is read-only")),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database_list");
            Err(("database_unavailable", "the database does not answer"))
        }
    }
}

async fn audit_append_probe(state: &AppState) -> Result<(), NotReadyReason> {
    match crate::audit::append_probe(&state.db).await {
        Ok(()) => Ok(()),
        Err(crate::audit::ProbeError::CannotWrite) => {
            Err(("database_unavailable", "the database cannot start a write"))
        }
        Err(crate::audit::ProbeError::NotAppendable) => {
            Err(("audit_not_writable", "the audit log cannot be appended to"))
        }
    }
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, description = "This document")))]
pub(crate) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

/// What `/` names: where to go from here.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Index {
    /// `zk-receipts`.
    pub service: &'static str,
    /// The running version.
    pub version: &'static str,
    /// The API docs page (Swagger UI).
    pub docs: &'static str,
    /// The OpenAPI document.
    pub openapi: &'static str,
    /// Liveness.
    pub health: &'static str,
    /// Readiness.
    pub ready: &'static str,
    /// Prometheus metrics.
    pub metrics: &'static str,
}

const INDEX: Index = Index {
    service: "zk-receipts",
    version: env!("CARGO_PKG_VERSION"),
    docs: "/docs/",
    openapi: "/openapi.json",
    health: "/healthz",
    ready: "/readyz",
    metrics: "/metrics",
};

/// `GET /`: links to the docs page, the OpenAPI document and the health
/// endpoints; an HTML page for a browser, JSON otherwise.
#[utoipa::path(get, path = "/", tag = "ops", responses(
    (status = 200, body = Index, description = "JSON, or HTML when the client accepts text/html")))]
pub(crate) async fn index(headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if !wants_html {
        return Json(INDEX).into_response();
    }
    let i = INDEX;
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>zk-receipts</title></head>\n\
         <body><h1>zk-receipts {}</h1><ul>\n\
         <li><a href=\"{}\">API docs</a> (Swagger UI)</li>\n\
         <li><a href=\"{}\">OpenAPI document</a></li>\n\
         <li><a href=\"{}\">health</a>, <a href=\"{}\">readiness</a>, <a href=\"{}\">metrics</a></li>\n\
         </ul></body></html>\n",
        i.version, i.docs, i.openapi, i.health, i.ready, i.metrics
    ))
    .into_response()
}

/// `GET /docs`: the API docs page lives at `/docs/` (its files are
/// addressed relative to it).
#[utoipa::path(get, path = "/docs", tag = "ops", responses(
    (status = 308, description = "Redirect to /docs/, the Swagger UI page over /openapi.json")))]
pub(crate) async fn docs() -> Redirect {
    Redirect::permanent("/docs/")
}

/// Swagger UI, its files compiled into the binary, pointed at our document.
static SWAGGER: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from("/openapi.json")));

/// `GET /docs/`: the Swagger UI page.
pub(crate) async fn docs_index() -> Response {
    swagger_file("index.html")
}

/// `GET /docs/{file}`: the page's scripts and styles.
pub(crate) async fn docs_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    swagger_file(&file)
}

fn swagger_file(file: &str) -> Response {
    match utoipa_swagger_ui::serve(file, SWAGGER.clone()) {
        Ok(Some(f)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, f.content_type)],
            f.bytes.into_owned(),
        )
            .into_response(),
        Ok(None) => Error::NotFound("docs file".into()).into_response(),
        Err(e) => Error::Internal(format!("docs page: {e}")).into_response(),
    }
}

/// The public routes: the index, the docs page and its files, health,
/// readiness, the OpenAPI document and the metrics (no authentication).
/// The docs page's files are not API operations, so they are the only
/// routes added without their OpenAPI entry.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(docs))
        .route("/docs/", get(docs_index))
        .route("/docs/{*file}", get(docs_file))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(openapi))
        .routes(routes!(crate::metrics::metrics))
}
