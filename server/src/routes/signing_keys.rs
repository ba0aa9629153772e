//! `GET /v1/signing-keys`: the public keys of the coordinator signing keys
//! this service trusts, so that a verifier can check receipt attestations
//! offline (`zkr verify --attestation --signing-key`).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use zkr_keys::{KeyKind, KeyStatus};

use crate::access::{Action, Resource};
use crate::auth::Principal;
use crate::error::Result;
use crate::{AppState, Ask};
use utoipa_axum::{router::OpenApiRouter, routes};

/// One version of a trusted coordinator signing key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SigningKeyView {
    /// Key id, as in an attestation's `key_id`.
    pub key_id: String,
    /// Version, as in an attestation's `key_version`.
    pub key_version: u32,
    /// Ed25519 public key, 32 bytes hex.
    pub public_key: String,
    /// `active` (signs new receipts) or `decrypt_only` (an older version
    /// whose attestations still count).
    pub status: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// The trusted signing keys.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SigningKeyList {
    /// Every version that is not retired, of every trusted key.
    pub keys: Vec<SigningKeyView>,
}

/// The ids of the trusted coordinator keys: the service's own signing key
/// and the configured further ones.
pub(crate) fn trusted_ids(state: &AppState) -> Vec<String> {
    let mut ids = vec![state.config.signing_key_id.clone()];
    for id in &state.config.trusted_signing_keys {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// Public keys of the trusted coordinator signing keys.
#[utoipa::path(get, path = "/v1/signing-keys", tag = "circuits", operation_id = "list_signing_keys", security(("bearer" = [])),
    responses((status = 200, body = SigningKeyList), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Principal,
) -> Result<Json<SigningKeyList>> {
    let resource = Resource::named("signing-keys");
    state
        .authorize(Ask::new(&caller, Action::SigningKeyRead, &resource))
        .await?;
    let store = state.key_store()?;
    let mut keys = Vec::new();
    for id in trusted_ids(&state) {
        let versions = match store.versions(&id).await {
            Ok(v) => v,
            Err(zkr_keys::Error::UnknownKey { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        keys.extend(
            versions
                .into_iter()
                .filter(|k| k.kind == KeyKind::Signing && k.status != KeyStatus::Retired)
                .map(|k| SigningKeyView {
                    key_id: k.key_id,
                    key_version: k.version,
                    public_key: hex::encode(k.public_key),
                    status: k.status.as_str().to_string(),
                    created_at: k.created_at.unix_timestamp(),
                }),
        );
    }
    Ok(Json(SigningKeyList { keys }))
}

/// The routes of `/v1/signing-keys`: the coordinator's public signing keys (authenticated, under `/v1`).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}
