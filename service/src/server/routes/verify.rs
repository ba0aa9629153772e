//! `POST /v1/verify` and `POST /v1/verify/batch`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::server::access::{Action, Resource};
use crate::server::audit::NewEvent;
use crate::server::auth::Principal;
use crate::server::error::{Error, Result};
use crate::server::http::ApiJson;
use crate::server::{AppState, Ask};

/// Most proofs in one batch.
pub const MAX_BATCH: usize = 64;

/// One proof to verify.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// `range`, `membership`, `receipt` or `disclosure`.
    pub circuit: String,
    /// snarkjs `proof.json` object.
    #[schema(value_type = Object)]
    pub proof: serde_json::Value,
    /// snarkjs `public.json`: decimal strings.
    pub public_signals: Vec<String>,
    /// For `receipt`: the coordinator's attestation.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attestation: Option<serde_json::Value>,
}

/// The verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verdict {
    /// Whether the proof is valid for these public inputs.
    pub valid: bool,
    /// Why not, when it is not.
    pub reason: Option<String>,
}

/// Several proofs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The proofs (at most 64).
    pub items: Vec<VerifyRequest>,
}

/// Verdicts in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchVerdict {
    /// One per item.
    pub results: Vec<Verdict>,
}

/// `Ok(verdict)` for a well-formed request; `Err` (4xx) for a malformed one.
async fn check(state: &AppState, req: VerifyRequest) -> Result<Verdict> {
    if req.circuit == "receipt" {
        // DESIGN §4: a receipt proof counts only with a valid attestation by a
        // trusted coordinator key, which needs the key store.
        return Err(Error::NotImplemented(
            "receipt proofs need attestation checking, which this build does not have yet".into(),
        ));
    }
    let pvk = state.verifying_keys.get(&req.circuit).await?;
    let proof = zkr_verifier::snarkjs::parse_proof(&req.proof.to_string(), "proof")
        .map_err(|e| Error::Unprocessable(e.to_string()))?;
    let public_json =
        serde_json::to_string(&req.public_signals).map_err(|e| Error::Internal(e.to_string()))?;
    let public = zkr_verifier::snarkjs::parse_public(&public_json, "public_signals")
        .map_err(|e| Error::Unprocessable(e.to_string()))?;
    let outcome =
        tokio::task::spawn_blocking(move || zkr_verifier::verify_prepared(&pvk, &proof, &public))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
    match outcome {
        Ok(true) => Ok(Verdict {
            valid: true,
            reason: None,
        }),
        Ok(false) => Ok(Verdict {
            valid: false,
            reason: Some("the proof does not verify for these public inputs".into()),
        }),
        Err(e) => Err(Error::Unprocessable(e.to_string())),
    }
}

async fn record(state: &AppState, caller: &Principal, circuit: &str, v: &Verdict) -> Result<()> {
    state
        .audit
        .append(NewEvent {
            actor: caller.id.clone(),
            roles: caller.roles_csv(),
            action: "verification".into(),
            resource: format!("circuit/{circuit}"),
            purpose: "-".into(),
            outcome: if v.valid { "valid" } else { "invalid" }.into(),
            detail: v.reason.clone().unwrap_or_default(),
        })
        .await?;
    Ok(())
}

/// Verify one proof.
#[utoipa::path(post, path = "/v1/verify", tag = "proofs", security(("bearer" = [])),
    request_body = VerifyRequest,
    responses((status = 200, body = Verdict), (status = 404, body = crate::server::error::ErrorBody),
              (status = 422, body = crate::server::error::ErrorBody)))]
pub async fn verify(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Json<Verdict>> {
    let resource = Resource::named(format!("circuit/{}", req.circuit));
    state
        .authorize(Ask::new(&caller, Action::Verify, &resource))
        .await?;
    let circuit = req.circuit.clone();
    let verdict = check(&state, req).await?;
    record(&state, &caller, &circuit, &verdict).await?;
    Ok(Json(verdict))
}

/// Verify several proofs; a malformed item is an invalid verdict with its reason.
#[utoipa::path(post, path = "/v1/verify/batch", tag = "proofs", security(("bearer" = [])),
    request_body = BatchRequest,
    responses((status = 200, body = BatchVerdict), (status = 422, body = crate::server::error::ErrorBody)))]
pub async fn verify_batch(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<BatchRequest>,
) -> Result<Json<BatchVerdict>> {
    if req.items.is_empty() || req.items.len() > MAX_BATCH {
        return Err(Error::Unprocessable(format!(
            "items must hold 1..={MAX_BATCH} proofs"
        )));
    }
    let resource = Resource::named("circuit/*");
    let detail = format!("batch of {}", req.items.len());
    state
        .authorize(Ask::new(&caller, Action::Verify, &resource).detail(&detail))
        .await?;
    let mut results = Vec::with_capacity(req.items.len());
    for item in req.items {
        let circuit = item.circuit.clone();
        let verdict = match check(&state, item).await {
            Ok(v) => v,
            Err(e)
                if e.status_and_code().0.is_client_error()
                    || matches!(e, Error::NotImplemented(_)) =>
            {
                Verdict {
                    valid: false,
                    reason: Some(e.to_string()),
                }
            }
            Err(e) => return Err(e),
        };
        record(&state, &caller, &circuit, &verdict).await?;
        results.push(verdict);
    }
    Ok(Json(BatchVerdict { results }))
}
