//! `POST /v1/tokens`: admins mint API tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::server::access::{Action, Resource};
use crate::server::auth::{self, Principal, Role};
use crate::server::error::Result;
use crate::server::http::ApiJson;
use crate::server::{AppState, Ask};

/// A token request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Principal the token speaks for.
    pub principal: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// Optional expiry, unix seconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A minted token; the secret is shown only here.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
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
    responses((status = 201, body = CreatedToken), (status = 403, body = crate::server::error::ErrorBody)))]
pub async fn create(
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
