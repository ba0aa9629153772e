//! `/v1/registries`: Merkle registries of identity commitments.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::access::{Action, Resource};
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::registries::{self, Added, MemberPath, RegistryInfo};
use crate::{AppState, Ask};
use utoipa_axum::{router::OpenApiRouter, routes};

/// A new member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMember {
    /// Identity commitment `H1(s)`, a decimal field element.
    pub member: String,
}

/// How much root history to return.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct InfoQuery {
    /// Most recent roots to list (default 100, at most 10000).
    pub history: Option<i64>,
}

/// Add a member (admin).
#[utoipa::path(post, path = "/v1/registries/{name}/members", tag = "registries",
    security(("bearer" = [])), request_body = NewMember,
    params(("name" = String, Path, description = "Registry name, e.g. miners")),
    responses((status = 201, body = Added), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn add_member(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<NewMember>,
) -> Result<(StatusCode, Json<Added>)> {
    registries::validate_name(&name)?;
    let member = registries::parse_member(&req.member)?;
    let resource = Resource::named(format!("registry/{name}"));
    state
        .authorize(Ask::new(&caller, Action::RegistryWrite, &resource))
        .await?;
    let added = state
        .registries
        .add(&state.db, &name, member, &caller.id)
        .await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// Current root, size and root history.
#[utoipa::path(get, path = "/v1/registries/{name}", tag = "registries", security(("bearer" = [])),
    params(("name" = String, Path, description = "Registry name"), InfoQuery),
    responses((status = 200, body = RegistryInfo), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn info(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<InfoQuery>,
) -> Result<Json<RegistryInfo>> {
    registries::validate_name(&name)?;
    let history = q.history.unwrap_or(100);
    if !(1..=10_000).contains(&history) {
        return Err(Error::BadRequest("history must be 1..=10000".into()));
    }
    let resource = Resource::named(format!("registry/{name}"));
    state
        .authorize(Ask::new(&caller, Action::RegistryRead, &resource))
        .await?;
    Ok(Json(
        state.registries.info(&state.db, &name, history).await?,
    ))
}

/// A member's Merkle path (for building membership and receipt proofs).
#[utoipa::path(get, path = "/v1/registries/{name}/path/{member}", tag = "registries",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Registry name"),
           ("member" = String, Path, description = "Identity commitment, decimal")),
    responses((status = 200, body = MemberPath), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn path(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath((name, member)): ApiPath<(String, String)>,
) -> Result<Json<MemberPath>> {
    registries::validate_name(&name)?;
    let member = registries::parse_member(&member)?;
    let resource = Resource::named(format!("registry/{name}"));
    state
        .authorize(Ask::new(&caller, Action::RegistryRead, &resource))
        .await?;
    Ok(Json(state.registries.path(&state.db, &name, member).await?))
}

/// The routes of `/v1/registries`: registry trees (authenticated, under `/v1`).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(info))
        .routes(routes!(add_member))
        .routes(routes!(path))
}
