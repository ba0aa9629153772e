//! Liveness, readiness and the OpenAPI document.

use axum::Json;
use axum::extract::State;
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
