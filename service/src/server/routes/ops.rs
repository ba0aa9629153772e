//! Liveness, readiness, the OpenAPI document, the index at `/` and the
//! API docs page at `/docs/`.

use std::sync::{Arc, LazyLock};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::server::AppState;
use crate::server::error::{Error, Result};

/// Health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`: the database answers and the audit writer runs.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, body = Health),
    (status = 503, body = crate::server::error::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>> {
    state
        .db
        .ping()
        .await
        .map_err(|e| Error::Unavailable(format!("database: {e}")))?;
    state.key_store()?;
    if !state.audit.is_running() {
        return Err(Error::Unavailable("audit writer stopped".into()));
    }
    Ok(Json(Health { status: "ok" }))
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, description = "This document")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::server::openapi::ApiDoc::openapi())
}

/// What `/` names: where to go from here.
#[derive(Debug, Serialize, ToSchema)]
pub struct Index {
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
pub async fn index(headers: HeaderMap) -> Response {
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
pub async fn docs() -> Redirect {
    Redirect::permanent("/docs/")
}

/// Swagger UI, its files compiled into the binary, pointed at our document.
static SWAGGER: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from("/openapi.json")));

/// `GET /docs/`: the Swagger UI page.
pub async fn docs_index() -> Response {
    swagger_file("index.html")
}

/// `GET /docs/{file}`: the page's scripts and styles.
pub async fn docs_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
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
