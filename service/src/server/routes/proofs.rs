//! `/v1/proofs` (submit, read, cancel proof jobs) and `/v1/disclosures`
//! (a disclosure proof for chosen fields of a stored receipt).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use zkr_circuits::circuits::{DisclosureCircuit, ReceiptCircuit};
use zkr_circuits::field::parse_u128;
use zkr_circuits::input::circuit_from_json;
use zkr_circuits::{AnyCircuit, CircuitKind, Receipt};

use super::transactions::{self, Stored};
use crate::server::access::{Action, Purpose, Resource};
use crate::server::audit::NewEvent;
use crate::server::auth::Principal;
use crate::server::error::{Error, Result};
use crate::server::http::{ApiJson, ApiPath};
use crate::server::proving::{JobState, JobView, NewJob, load};
use crate::server::registries::validate_name;
use crate::server::{AppState, Ask};

/// A proof to make: either `input` (the circuit's `input.json`, as for
/// `zkr prove`) or `tx_id` (a stored receipt, for `receipt` and
/// `disclosure`; the service decrypts it with the caller's custodial key).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofRequest {
    /// `range`, `membership`, `receipt` or `disclosure`.
    pub circuit: String,
    /// The circuit's `input.json` object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub input: Option<serde_json::Value>,
    /// A stored transaction whose receipt is the witness.
    #[serde(default)]
    pub tx_id: Option<String>,
    /// With `tx_id`, `receipt`: lower bound on the amount (decimal).
    #[serde(default)]
    pub amount_min: Option<String>,
    /// With `tx_id`, `receipt`: upper bound on the amount (decimal).
    #[serde(default)]
    pub amount_max: Option<String>,
    /// With `tx_id`, `receipt`: the miner registry (default: the configured
    /// `registries.miners`).
    #[serde(default)]
    pub registry: Option<String>,
    /// With `tx_id`, `disclosure`: the field names to disclose.
    #[serde(default)]
    pub disclose: Option<Vec<String>>,
}

/// A disclosure proof of a stored receipt, for a regulator (escrow path,
/// with an authorization reference) or one of the record's participants.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisclosureRequest {
    /// Transaction id.
    pub tx_id: String,
    /// Field names to disclose (`job_id` .. `timestamp`; never `salt`).
    pub disclose: Vec<String>,
    /// Why.
    pub purpose: Purpose,
    /// Authorization reference (court order, audit mandate); required for regulators.
    #[serde(default)]
    pub authorization_ref: Option<String>,
    /// Free text, kept in the audit log.
    #[serde(default)]
    pub justification: String,
}

/// A job was accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Job id.
    pub job_id: String,
    /// `queued`.
    pub state: JobState,
    /// Where to poll: `/v1/proofs/{job_id}`.
    pub location: String,
}

fn unprocessable(e: impl std::fmt::Display) -> Error {
    Error::Unprocessable(e.to_string())
}

fn accepted(job_id: Uuid) -> Result<Response> {
    let location = format!("/v1/proofs/{job_id}");
    let mut response = (
        StatusCode::ACCEPTED,
        Json(Accepted {
            job_id: job_id.to_string(),
            state: JobState::Queued,
            location: location.clone(),
        }),
    )
        .into_response();
    let value = HeaderValue::from_str(&location).map_err(|e| Error::Internal(e.to_string()))?;
    response.headers_mut().insert(header::LOCATION, value);
    Ok(response)
}

async fn submit(
    state: &AppState,
    caller: &Principal,
    circuit: AnyCircuit,
    kind: &'static str,
    tx_id: Option<Uuid>,
    detail: String,
) -> Result<Response> {
    let queued_event = NewEvent {
        actor: caller.id.clone(),
        roles: caller.roles_csv(),
        action: if kind == "proof" {
            "proof_job"
        } else {
            "disclosure"
        }
        .into(),
        resource: String::new(),
        purpose: "-".into(),
        outcome: "queued".into(),
        detail,
    };
    let job_id = state
        .jobs
        .submit(
            NewJob {
                circuit,
                kind,
                owner: caller.id.clone(),
                tx_id,
                queued_event,
            },
            &state.audit,
        )
        .await?;
    accepted(job_id)
}

/// The receipt circuit of `receipt`: its amount within `[min, max]` and its
/// miner in `registry` (default `miners`).
async fn receipt_circuit(
    state: &AppState,
    receipt: &Receipt,
    req: &ProofRequest,
) -> Result<AnyCircuit> {
    let (Some(min), Some(max)) = (&req.amount_min, &req.amount_max) else {
        return Err(Error::Unprocessable(
            "a receipt proof needs amount_min and amount_max".into(),
        ));
    };
    let min = parse_u128(min, "amount_min").map_err(unprocessable)?;
    let max = parse_u128(max, "amount_max").map_err(unprocessable)?;
    // The registry verification checks receipt proofs against.
    let registry = req
        .registry
        .as_deref()
        .unwrap_or(&state.config.registries.miners);
    validate_name(registry)?;
    let path = state
        .registries
        .merkle_path(&state.db, registry, receipt.miner_id)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => Error::Unprocessable(format!(
                "the receipt's miner_id is not a member of registry {registry}"
            )),
            other => other,
        })?;
    ReceiptCircuit::new(receipt, min, max, &path)
        .map(AnyCircuit::Receipt)
        .map_err(unprocessable)
}

fn disclosure_circuit(receipt: &Receipt, fields: &[String]) -> Result<AnyCircuit> {
    DisclosureCircuit::new(receipt, fields)
        .map(AnyCircuit::Disclosure)
        .map_err(unprocessable)
}

/// The receipt of `stored`, decrypted with the key the service uses for `caller`.
async fn receipt_of(state: &AppState, stored: &Stored, caller: &Principal) -> Result<Receipt> {
    let key_id = transactions::key_for(state, stored, caller);
    Ok(transactions::decrypt(state, stored, &key_id).await?.1)
}

/// Submit a proof job (202 with the job id).
#[utoipa::path(post, path = "/v1/proofs", tag = "proofs", security(("bearer" = [])),
    request_body = ProofRequest,
    responses((status = 202, body = Accepted), (status = 403, body = crate::server::error::ErrorBody),
              (status = 422, body = crate::server::error::ErrorBody),
              (status = 503, description = "the queue is full", body = crate::server::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<ProofRequest>,
) -> Result<Response> {
    let kind = CircuitKind::from_name(&req.circuit)
        .map_err(|_| Error::Unprocessable(format!("unknown circuit {:?}", req.circuit)))?;
    match (&req.input, &req.tx_id) {
        (Some(input), None) => {
            if req.amount_min.is_some()
                || req.amount_max.is_some()
                || req.registry.is_some()
                || req.disclose.is_some()
            {
                return Err(Error::Unprocessable(
                    "amount_min, amount_max, registry and disclose go with tx_id; with input, put them in the input".into(),
                ));
            }
            let resource = Resource::named(format!("circuit/{}", kind.name()));
            state
                .authorize(Ask::new(&caller, Action::ProofCreate, &resource))
                .await?;
            let text = input.to_string();
            let depth = state.config.registry_depth;
            let circuit =
                tokio::task::spawn_blocking(move || circuit_from_json(kind, depth, &text))
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?
                    .map_err(unprocessable)?;
            submit(
                &state,
                &caller,
                circuit,
                "proof",
                None,
                format!("circuit={}", kind.name()),
            )
            .await
        }
        (None, Some(tx_id)) => {
            let stored = transactions::load(&state, tx_id).await?;
            let resource = transactions::resource(&stored);
            let detail = format!("circuit={}", kind.name());
            state
                .authorize(Ask::new(&caller, Action::ProofCreate, &resource).detail(&detail))
                .await?;
            let circuit = match kind {
                CircuitKind::Receipt => {
                    let receipt = receipt_of(&state, &stored, &caller).await?;
                    receipt_circuit(&state, &receipt, &req).await?
                }
                CircuitKind::Disclosure => {
                    let fields = req.disclose.as_deref().ok_or_else(|| {
                        Error::Unprocessable(
                            "a disclosure proof needs disclose (field names)".into(),
                        )
                    })?;
                    disclosure_circuit(&receipt_of(&state, &stored, &caller).await?, fields)?
                }
                other => {
                    return Err(Error::Unprocessable(format!(
                        "tx_id works with the receipt and disclosure circuits, not {}",
                        other.name()
                    )));
                }
            };
            let detail = format!("circuit={} tx={}", kind.name(), stored.tx_id);
            submit(
                &state,
                &caller,
                circuit,
                "proof",
                Some(stored.tx_id),
                detail,
            )
            .await
        }
        _ => Err(Error::Unprocessable(
            "give exactly one of input and tx_id".into(),
        )),
    }
}

/// Ask for a disclosure proof of chosen fields of a stored receipt (202 with
/// the job id; the proof is read at `/v1/proofs/{id}`).
#[utoipa::path(post, path = "/v1/disclosures", tag = "proofs", security(("bearer" = [])),
    request_body = DisclosureRequest,
    responses((status = 202, body = Accepted), (status = 403, body = crate::server::error::ErrorBody),
              (status = 404, body = crate::server::error::ErrorBody),
              (status = 422, body = crate::server::error::ErrorBody)))]
pub async fn disclose(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<DisclosureRequest>,
) -> Result<Response> {
    let stored = transactions::load(&state, &req.tx_id).await?;
    let resource = transactions::resource(&stored);
    let detail = format!(
        "fields={} justification={:?}",
        req.disclose.join(","),
        req.justification
    );
    state
        .authorize(
            Ask::new(&caller, Action::Disclose, &resource)
                .purpose(Some(req.purpose))
                .authorization_ref(req.authorization_ref.as_deref())
                .detail(&detail),
        )
        .await?;
    let receipt = receipt_of(&state, &stored, &caller).await?;
    let circuit = disclosure_circuit(&receipt, &req.disclose)?;
    let detail = format!("tx={} fields={}", stored.tx_id, req.disclose.join(","));
    submit(
        &state,
        &caller,
        circuit,
        "disclosure",
        Some(stored.tx_id),
        detail,
    )
    .await
}

/// Loads job `id` and asks whether `caller` may read or cancel it.
async fn authorized_job(
    state: &AppState,
    caller: &Principal,
    id: &str,
    what: &str,
) -> Result<(Uuid, JobView)> {
    let job_id =
        Uuid::parse_str(id).map_err(|_| Error::BadRequest("job id must be a UUID".into()))?;
    let job = load(&state.db, &job_id).await?;
    let resource = Resource {
        id: format!("job/{job_id}"),
        participants: job.iter().map(|j| j.owner.clone()).collect(),
        created_at: job.as_ref().map(|j| j.created_at),
    };
    state
        .authorize(Ask::new(caller, Action::ProofRead, &resource).detail(what))
        .await?;
    let job = job.ok_or_else(|| Error::NotFound(format!("job {job_id}")))?;
    Ok((job_id, job))
}

/// A job: its state, and when done the proof and public inputs in snarkjs JSON.
#[utoipa::path(get, path = "/v1/proofs/{id}", tag = "proofs", security(("bearer" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 403, body = crate::server::error::ErrorBody),
              (status = 404, body = crate::server::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<JobView>> {
    let (_, job) = authorized_job(&state, &caller, &id, "read").await?;
    Ok(Json(job))
}

/// Cancel a queued or running job (a running proof's result is discarded);
/// 409 when it has already ended.
#[utoipa::path(delete, path = "/v1/proofs/{id}", tag = "proofs", security(("bearer" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 403, body = crate::server::error::ErrorBody),
              (status = 404, body = crate::server::error::ErrorBody),
              (status = 409, body = crate::server::error::ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<JobView>> {
    let (job_id, job) = authorized_job(&state, &caller, &id, "cancel").await?;
    if !state.jobs.cancel(&job_id).await? {
        return Err(Error::Conflict(format!(
            "job {job_id} has already ended ({})",
            job.state.as_str()
        )));
    }
    state
        .audit
        .append(NewEvent {
            actor: caller.id.clone(),
            roles: caller.roles_csv(),
            action: "proof_job".into(),
            resource: format!("job/{job_id}"),
            purpose: "-".into(),
            outcome: "cancelled".into(),
            detail: format!("was {}", job.state.as_str()),
        })
        .await?;
    let job = load(&state.db, &job_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("job {job_id}")))?;
    Ok(Json(job))
}
