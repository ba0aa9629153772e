//! `/v1/policies`: admins add, change and retire access policies.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::access::{Action, PolicyBody, Resource};
use crate::auth::Principal;
use crate::error::Result;
use crate::http::{ApiJson, ApiPath};
use crate::policies::{self, PolicyVersion};
use crate::{AppState, Ask};
use utoipa_axum::{router::OpenApiRouter, routes};

/// A new policy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPolicy {
    /// Stable id, `[A-Za-z0-9-_]{1,64}`.
    pub id: String,
    /// The rule.
    pub policy: PolicyBody,
}

/// Latest version of every policy.
#[utoipa::path(get, path = "/v1/policies", tag = "policies", security(("bearer" = [])),
    responses((status = 200, body = Vec<PolicyVersion>)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Principal,
) -> Result<Json<Vec<PolicyVersion>>> {
    state
        .authorize(Ask::new(
            &caller,
            Action::PolicyRead,
            &Resource::named("policy/*"),
        ))
        .await?;
    Ok(Json(policies::latest_all(&state.db).await?))
}

/// Every version of one policy.
#[utoipa::path(get, path = "/v1/policies/{id}", tag = "policies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Policy id")),
    responses((status = 200, body = Vec<PolicyVersion>), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<PolicyVersion>>> {
    policies::validate_id(&id)?;
    let resource = Resource::named(format!("policy/{id}"));
    state
        .authorize(Ask::new(&caller, Action::PolicyRead, &resource))
        .await?;
    Ok(Json(policies::history(&state.db, &id).await?))
}

/// Add a policy.
#[utoipa::path(post, path = "/v1/policies", tag = "policies", security(("bearer" = [])),
    request_body = NewPolicy,
    responses((status = 201, body = PolicyVersion), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<NewPolicy>,
) -> Result<(StatusCode, Json<PolicyVersion>)> {
    policies::validate_id(&req.id)?;
    req.policy.validate()?;
    let resource = Resource::named(format!("policy/{}", req.id));
    state
        .authorize(Ask::new(&caller, Action::PolicyWrite, &resource).detail("create"))
        .await?;
    let created =
        policies::create(&state.db, &state.policies, &req.id, &req.policy, &caller.id).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Change a policy (adds a version).
#[utoipa::path(put, path = "/v1/policies/{id}", tag = "policies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Policy id")), request_body = PolicyBody,
    responses((status = 200, body = PolicyVersion), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PolicyBody>,
) -> Result<Json<PolicyVersion>> {
    policies::validate_id(&id)?;
    body.validate()?;
    let resource = Resource::named(format!("policy/{id}"));
    state
        .authorize(Ask::new(&caller, Action::PolicyWrite, &resource).detail("update"))
        .await?;
    Ok(Json(
        policies::update(&state.db, &state.policies, &id, &body, &caller.id).await?,
    ))
}

/// Retire a policy (adds a retired version).
#[utoipa::path(delete, path = "/v1/policies/{id}", tag = "policies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Policy id")),
    responses((status = 200, body = PolicyVersion), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn retire(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PolicyVersion>> {
    policies::validate_id(&id)?;
    let resource = Resource::named(format!("policy/{id}"));
    state
        .authorize(Ask::new(&caller, Action::PolicyWrite, &resource).detail("retire"))
        .await?;
    Ok(Json(
        policies::retire(&state.db, &state.policies, &id, &caller.id).await?,
    ))
}

/// The routes of `/v1/policies`: access policies (authenticated, under `/v1`).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, retire))
}
