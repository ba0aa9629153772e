//! `/v1/tokens`: admins mint, list and revoke API tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{Action, Resource};
use crate::auth::{self, Principal, Role, TokenInfo};
use crate::error::Result;
use crate::http::{ApiJson, ApiPath};
use crate::{AppState, Ask};
use utoipa_axum::{router::OpenApiRouter, routes};

/// A token request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// Principal the token speaks for.
    pub principal: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// Optional expiry, unix seconds; must be in the future.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A minted token; the secret is shown only here.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedToken {
    /// Token id.
    pub id: String,
    /// The bearer token.
    pub token: String,
    /// Principal.
    pub principal: String,
    /// Roles.
    pub roles: Vec<Role>,
}

/// Mint a token (admin).
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = CreateToken,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedToken), (status = 403, body = crate::error::ErrorBody),
              (status = 422, description = "bad principal or roles, or an expiry that is not in the future", body = crate::error::ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>)> {
    let resource = Resource::named(format!("token/{}", req.principal));
    state
        .authorize(Ask::new(&caller, Action::TokenCreate, &resource))
        .await?;
    let token = auth::mint(&state.db, &req.principal, &req.roles, req.expires_at).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: token.id.clone(),
            token: token.secret.to_string(),
            principal: req.principal,
            roles: req.roles,
        }),
    ))
}

/// List every token: id, principal, roles, times and whether it is revoked;
/// never a token or its hash (admin).
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = [TokenInfo]), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Principal,
) -> Result<Json<Vec<TokenInfo>>> {
    let resource = Resource::named("token/*");
    state
        .authorize(Ask::new(&caller, Action::TokenRead, &resource))
        .await?;
    Ok(Json(auth::list(&state.db).await?))
}

/// Revoke a token (admin); it is refused from the next request on.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, body = TokenInfo), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TokenInfo>> {
    let resource = Resource::named(format!("token/{id}"));
    state
        .authorize(Ask::new(&caller, Action::TokenRevoke, &resource))
        .await?;
    let revoked = auth::revoke(&state.db, &id).await;
    // Whatever the outcome: a failed revocation may still have committed.
    state.tokens.changed();
    Ok(Json(revoked?))
}

/// The routes of `/v1/tokens`: API tokens (authenticated, under `/v1`).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(revoke))
}
