//! `/v1/audit`: export and verify the audit log.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::{Action, Purpose, Resource, retention_floor};
use crate::audit::{self, CSV_HEADER, Filter, VerifyReport};
use crate::auth::Principal;
use crate::checkpoint_file;
use crate::checkpoints::{self, Checkpoint, Trust};
use crate::error::{Error, Result};
use crate::http::ApiQuery;
use crate::{AppState, Ask};
use utoipa_axum::{router::OpenApiRouter, routes};

/// Export format.
#[derive(Debug, Default, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    /// One JSON object per line.
    #[default]
    Jsonl,
    /// RFC 4180 CSV with a header line.
    Csv,
}

/// Export filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    /// Earliest time: unix seconds or RFC 3339.
    pub since: Option<String>,
    /// Latest time (exclusive): unix seconds or RFC 3339.
    pub until: Option<String>,
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// `jsonl` (default) or `csv`.
    pub format: Option<Format>,
    /// Most events (default and maximum 100000).
    pub limit: Option<i64>,
    /// Stated purpose (auditors: `audit`).
    pub purpose: Option<Purpose>,
    /// Authorization reference (regulators).
    pub authorization_ref: Option<String>,
}

/// Purpose and authorization reference for verification.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyQuery {
    /// Stated purpose (auditors: `audit`).
    pub purpose: Option<Purpose>,
    /// Authorization reference (regulators).
    pub authorization_ref: Option<String>,
}

/// Which checkpoints to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckpointsQuery {
    /// Only checkpoints after this sequence number (default 0: all).
    pub after: Option<i64>,
    /// Most checkpoints (default and maximum 10000).
    pub limit: Option<i64>,
    /// Stated purpose (auditors: `audit`).
    pub purpose: Option<Purpose>,
    /// Authorization reference (regulators).
    pub authorization_ref: Option<String>,
}

/// Signed checkpoints and the key that signs them, to keep outside the service.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CheckpointList {
    /// Id of the checkpoint signing key.
    pub key_id: String,
    /// Hex Ed25519 public key of its active version (derived from the private
    /// key under the KEK); absent when the key does not exist yet.
    pub public_key: Option<String>,
    /// The message every checkpoint signs.
    pub message: String,
    /// Checkpoints, oldest first.
    pub checkpoints: Vec<Checkpoint>,
}

fn parse_time(name: &str, value: &str) -> Result<i64> {
    if let Ok(secs) = value.parse::<i64>() {
        return Ok(secs);
    }
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| Error::BadRequest(format!("{name}: expected unix seconds or RFC 3339")))
}

/// Export events (JSON lines or CSV), restricted to the caller's retention.
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", security(("bearer" = [])),
    params(ExportQuery),
    responses((status = 200, description = "application/x-ndjson or text/csv"),
              (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn events(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response> {
    let since = q
        .since
        .as_deref()
        .map(|v| parse_time("since", v))
        .transpose()?;
    let until = q
        .until
        .as_deref()
        .map(|v| parse_time("until", v))
        .transpose()?;
    let limit = q.limit.unwrap_or(100_000);
    if !(1..=100_000).contains(&limit) {
        return Err(Error::BadRequest("limit must be 1..=100000".into()));
    }
    let resource = Resource::named("audit");
    let ask = Ask::new(&caller, Action::AuditRead, &resource)
        .purpose(q.purpose)
        .authorization_ref(q.authorization_ref.as_deref());
    state.authorize(ask).await?;
    let floor = retention_floor(&caller, state.now(), &state.config.access);
    let filter = Filter {
        since: match (since, floor) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        },
        until,
        actor: q.actor,
        action: q.action,
        limit,
    };
    let events = audit::query(&state.db, &filter).await?;
    let (content_type, body) = match q.format.unwrap_or_default() {
        Format::Jsonl => {
            let mut body = String::new();
            for e in &events {
                body.push_str(
                    &serde_json::to_string(e).map_err(|e| Error::Internal(e.to_string()))?,
                );
                body.push('\n');
            }
            ("application/x-ndjson", body)
        }
        Format::Csv => {
            let mut body = CSV_HEADER.to_string();
            for e in &events {
                body.push_str(&audit::csv_line(e));
            }
            ("text/csv; charset=utf-8", body)
        }
    };
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Recompute the chain and check every signed checkpoint, those in the
/// database and the one this node keeps outside it; names the first broken
/// entry.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    params(VerifyQuery),
    responses((status = 200, body = VerifyReport), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<VerifyQuery>,
) -> Result<Json<VerifyReport>> {
    let resource = Resource::named("audit");
    state
        .authorize(
            Ask::new(&caller, Action::AuditVerify, &resource)
                .purpose(q.purpose)
                .authorization_ref(q.authorization_ref.as_deref()),
        )
        .await?;
    let trust = service_trust(&state).await?;
    Ok(Json(audit::verify_with(&state.db, &trust).await?))
}

/// Pins checkpoint signatures to the versions of the checkpoint key whose
/// private keys the KEK unwraps, not to public keys read from the database,
/// and adds the checkpoints this node keeps outside the database.
async fn service_trust(state: &AppState) -> Result<Trust> {
    let files = state.config.audit_checkpoint_files();
    let kept = tokio::task::spawn_blocking(move || checkpoint_file::read_all(&files))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let trust = Trust {
        kept,
        ..Trust::default()
    };
    let key_id = &state.config.audit.checkpoint_key_id;
    let Some(keys) = state.keys.as_deref() else {
        return Ok(trust);
    };
    let versions = match keys.versions(key_id).await {
        Ok(v) => v,
        Err(zkr_keys::Error::UnknownKey { .. }) => return Ok(trust),
        Err(e) => return Err(e.into()),
    };
    let mut pinned = Vec::new();
    for v in versions {
        // A retired or unusable version pins nothing: its checkpoints fail.
        if let Ok(pk) = keys.signing_public_key(key_id, v.version).await {
            pinned.push(pk);
        }
    }
    Ok(Trust {
        pinned_keys: Some(pinned),
        pinned_by: format!("the service's key {key_id}, held under the KEK"),
        ..trust
    })
}

/// Signed checkpoints of the chain and the public key, so that auditors can
/// keep them outside the service (same access as reading the log).
#[utoipa::path(get, path = "/v1/audit/checkpoints", tag = "audit", security(("bearer" = [])),
    params(CheckpointsQuery),
    responses((status = 200, body = CheckpointList), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn checkpoints(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<CheckpointsQuery>,
) -> Result<Json<CheckpointList>> {
    let limit = q.limit.unwrap_or(10_000);
    if !(1..=10_000).contains(&limit) {
        return Err(Error::BadRequest("limit must be 1..=10000".into()));
    }
    let resource = Resource::named("audit");
    state
        .authorize(
            Ask::new(&caller, Action::AuditRead, &resource)
                .purpose(q.purpose)
                .authorization_ref(q.authorization_ref.as_deref()),
        )
        .await?;
    let key_id = state.config.audit.checkpoint_key_id.clone();
    let public_key = match state.keys.as_deref() {
        Some(keys) => match keys.active(&key_id).await {
            Ok(info) => Some(hex::encode(
                keys.signing_public_key(&key_id, info.version).await?,
            )),
            Err(zkr_keys::Error::UnknownKey { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    Ok(Json(CheckpointList {
        key_id,
        public_key,
        message:
            "b\"zkr/audit/v1\" || seq (8 bytes BE) || entry_hash (32 bytes) || ts (8 bytes BE)"
                .into(),
        checkpoints: checkpoints::list(&state.db, q.after.unwrap_or(0), limit).await?,
    }))
}

/// The routes of `/v1/audit`: the audit log (authenticated, under `/v1`).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events))
        .routes(routes!(verify))
        .routes(routes!(checkpoints))
}
