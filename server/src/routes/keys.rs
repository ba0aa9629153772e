//! `/v1/confidential/keys`: register public keys, create custodial, escrow
//! and signing keys, rotate, read status. Private keys never leave the key
//! store; only public metadata is answered.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zkr_keys::{KeyInfo, RotationOptions, X25519PublicKey};

use crate::access::{Action, Resource};
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::http::{ApiJson, ApiPath};
use crate::{AppState, Ask};
use utoipa_axum::{router::OpenApiRouter, routes};

/// What kind of key to create.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NewKeyKind {
    /// A participant's X25519 key: registered (with `public_key`) or custodial.
    Participant,
    /// The audit-escrow X25519 key (custodial).
    Escrow,
    /// The coordinator's Ed25519 attestation key (custodial).
    Signing,
}

/// A key to register or create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    /// Key id, e.g. `miner-7`.
    pub key_id: String,
    /// Kind.
    pub kind: NewKeyKind,
    /// For a participant that keeps its own private key: its X25519 public
    /// key, hex. Without it the service creates a custodial key pair.
    #[serde(default)]
    pub public_key: Option<String>,
}

/// A rotation request.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rotate {
    /// For a registered key: the participant's new X25519 public key, hex.
    #[serde(default)]
    pub public_key: Option<String>,
}

/// Public metadata of one key version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyView {
    /// Key id.
    pub key_id: String,
    /// Version, from 1.
    pub version: u32,
    /// `participant`, `escrow` or `signing`.
    pub kind: String,
    /// `registered` or `custodial`.
    pub custody: String,
    /// Public key, hex.
    pub public_key: String,
    /// `active`, `decrypt_only` or `retired`.
    pub status: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub rotated_at: Option<i64>,
}

impl From<KeyInfo> for KeyView {
    fn from(k: KeyInfo) -> Self {
        Self {
            key_id: k.key_id,
            version: k.version,
            kind: k.kind.as_str().to_string(),
            custody: k.custody.as_str().to_string(),
            public_key: hex::encode(k.public_key),
            status: k.status.as_str().to_string(),
            created_at: k.created_at.unix_timestamp(),
            rotated_at: k.rotated_at.map(|t| t.unix_timestamp()),
        }
    }
}

/// Progress of a rotation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RotationView {
    /// Key id.
    pub key_id: String,
    /// The new version.
    pub to_version: u32,
    /// Records re-wrapped to it.
    pub rewrapped: u64,
    /// Records that could not be re-wrapped (they keep their old wraps).
    pub skipped: u64,
    /// Whether every record was visited.
    pub done: bool,
}

fn parse_public_key(hex_key: &str) -> Result<X25519PublicKey> {
    let bytes =
        hex::decode(hex_key).map_err(|_| Error::Unprocessable("public_key must be hex".into()))?;
    X25519PublicKey::from_bytes(&bytes).map_err(Error::from)
}

/// Register or create a key (admin).
#[utoipa::path(post, path = "/v1/confidential/keys", tag = "keys", security(("bearer" = [])),
    request_body = NewKey,
    responses((status = 201, body = KeyView), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<KeyView>)> {
    let public_key = req
        .public_key
        .as_deref()
        .map(parse_public_key)
        .transpose()?;
    let resource = Resource::named(format!("key/{}", req.key_id));
    state
        .authorize(Ask::new(&caller, Action::KeyWrite, &resource).detail("create"))
        .await?;
    let keys = state.key_store()?;
    let info = match (req.kind, public_key) {
        (NewKeyKind::Participant, Some(pk)) => keys.register_public_key(&req.key_id, &pk).await?,
        (NewKeyKind::Participant, None) => keys.create_custodial_key(&req.key_id).await?,
        (NewKeyKind::Escrow, None) => keys.create_escrow_key(&req.key_id).await?,
        (NewKeyKind::Signing, None) => keys.create_signing_key(&req.key_id).await?,
        (_, Some(_)) => {
            return Err(Error::Unprocessable(
                "public_key is only for participant keys".into(),
            ));
        }
    };
    Ok((StatusCode::CREATED, Json(info.into())))
}

/// Every key with every version: ids, kinds, versions, public keys and
/// status; never private material (admin).
#[utoipa::path(get, path = "/v1/confidential/keys", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = Vec<KeyView>), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Principal,
) -> Result<Json<Vec<KeyView>>> {
    let resource = Resource::named("keys");
    state
        .authorize(Ask::new(&caller, Action::KeyList, &resource))
        .await?;
    let keys = state.key_store()?.list().await?;
    Ok(Json(keys.into_iter().map(KeyView::from).collect()))
}

/// Every version of a key (admin, coordinator).
#[utoipa::path(get, path = "/v1/confidential/keys/{id}", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = Vec<KeyView>), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<KeyView>>> {
    let resource = Resource::named(format!("key/{id}"));
    state
        .authorize(Ask::new(&caller, Action::KeyRead, &resource))
        .await?;
    let versions = state.key_store()?.versions(&id).await?;
    if versions.is_empty() {
        return Err(Error::NotFound(format!("key {id}")));
    }
    Ok(Json(versions.into_iter().map(KeyView::from).collect()))
}

/// Rotate a key: a new version, records re-wrapped to it (admin).
#[utoipa::path(post, path = "/v1/confidential/keys/{id}/rotate", tag = "keys",
    security(("bearer" = [])), request_body = Rotate,
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = RotationView), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn rotate(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<Rotate>,
) -> Result<Json<RotationView>> {
    let public_key = req
        .public_key
        .as_deref()
        .map(parse_public_key)
        .transpose()?;
    let resource = Resource::named(format!("key/{id}"));
    state
        .authorize(Ask::new(&caller, Action::KeyWrite, &resource).detail("rotate"))
        .await?;
    let p = state
        .key_store()?
        .rotate(&id, public_key.as_ref(), RotationOptions::default())
        .await?;
    Ok(Json(RotationView {
        key_id: p.key_id,
        to_version: p.to_version,
        rewrapped: p.rewrapped,
        skipped: p.skipped,
        done: p.done,
    }))
}

/// The routes of `/v1/confidential/keys`: participant keys (authenticated, under `/v1`).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get))
        .routes(routes!(rotate))
}
