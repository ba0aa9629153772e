//! `/v1/circuits`: the circuits this service verifies and their verifying
//! keys in snarkjs's format, so that a verifier can check proofs offline.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use zkr_circuits::CircuitKind;

use crate::access::{Action, Resource};
use crate::auth::Principal;
use crate::error::Result;
use crate::http::ApiPath;
use crate::{AppState, Ask};
use utoipa_axum::{router::OpenApiRouter, routes};

/// One circuit whose keys are set up.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CircuitView {
    /// `range`, `membership`, `receipt` or `disclosure`.
    pub name: String,
    /// Registry depth, for `membership` and `receipt`.
    pub depth: Option<usize>,
    /// Number of R1CS constraints.
    pub constraints: usize,
    /// Public input names, in `public.json` order.
    pub public_inputs: Vec<String>,
    /// SHA-256 of the verifying key (arkworks compressed bytes), hex.
    pub verifying_key_sha256: String,
    /// Index in `public.json` of the registry root, for the circuits with one.
    pub registry_root_input: Option<usize>,
    /// The registry `POST /v1/verify` checks that root against (`receipt`);
    /// `membership` requests name theirs.
    pub registry: Option<String>,
}

/// The circuits.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CircuitList {
    /// Every circuit whose verifying key is set up.
    pub circuits: Vec<CircuitView>,
}

/// List the circuits and what their public inputs are.
#[utoipa::path(get, path = "/v1/circuits", tag = "circuits", security(("bearer" = [])),
    responses((status = 200, body = CircuitList), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Principal,
) -> Result<Json<CircuitList>> {
    let resource = Resource::named("circuit/*");
    state
        .authorize(Ask::new(&caller, Action::CircuitRead, &resource))
        .await?;
    let circuits = state
        .verifying_keys
        .list()
        .await?
        .into_iter()
        .map(|info| {
            let kind = CircuitKind::from_name(&info.name).ok();
            CircuitView {
                registry_root_input: kind.and_then(CircuitKind::registry_root_input),
                registry: (kind == Some(CircuitKind::Receipt))
                    .then(|| state.config.registries.miners.clone()),
                name: info.name,
                depth: info.depth,
                constraints: info.constraints,
                public_inputs: info.public_inputs,
                verifying_key_sha256: info.verifying_key_sha256,
            }
        })
        .collect();
    Ok(Json(CircuitList { circuits }))
}

/// A circuit's description exactly as `circuit.json` beside its keys: saved
/// next to `verification_key.json`, it tells `zkr verify` the circuit, so
/// an offline verifier needs no `--circuit`.
#[utoipa::path(get, path = "/v1/circuits/{name}", tag = "circuits", security(("bearer" = [])),
    params(("name" = String, Path, description = "range, membership, receipt or disclosure")),
    responses((status = 200, description = "circuit.json: name, depth, constraints, public_inputs, verifying_key_sha256", body = Object),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn describe(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<zkr_artifacts::CircuitInfo>> {
    let kind = known_circuit(&name)?;
    let resource = Resource::named(format!("circuit/{}", kind.name()));
    state
        .authorize(Ask::new(&caller, Action::CircuitRead, &resource))
        .await?;
    Ok(Json(state.verifying_keys.checked(kind.name()).await?.info))
}

/// The circuit a path names; a 404 for any other name, which is never
/// echoed unescaped.
fn known_circuit(name: &str) -> Result<CircuitKind> {
    CircuitKind::from_name(name)
        .map_err(|_| crate::error::Error::NotFound(format!("circuit {:?}", name.escape_debug())))
}

/// A circuit's verifying key as snarkjs writes `verification_key.json`.
#[utoipa::path(get, path = "/v1/circuits/{name}/verification_key", tag = "circuits",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "range, membership, receipt or disclosure")),
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn verification_key(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<zkr_verifier::snarkjs::VerificationKeyJson>> {
    let kind = known_circuit(&name)?;
    let resource = Resource::named(format!("circuit/{}", kind.name()));
    state
        .authorize(Ask::new(&caller, Action::CircuitRead, &resource))
        .await?;
    let checked = state.verifying_keys.checked(kind.name()).await?;
    Ok(Json(zkr_verifier::snarkjs::VerificationKeyJson::from_vk(
        &checked.vk,
    )))
}

/// The routes of `/v1/circuits`: circuits and their verifying keys (authenticated, under `/v1`).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(describe))
        .routes(routes!(verification_key))
}
