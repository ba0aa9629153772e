//! `/v1/proofs` (submit, list, read and long-poll, cancel and retry proof
//! jobs),
//! `/v1/disclosures` (a disclosure proof for chosen fields of a stored
//! receipt) and `/v1/workers` (the prover pool's workers).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use zeroize::Zeroizing;
use zkr_circuits::circuits::{DisclosureCircuit, ReceiptCircuit};
use zkr_circuits::field::parse_u128;
use zkr_circuits::input::circuit_from_json;
use zkr_circuits::{AnyCircuit, CircuitKind, Receipt};

use crate::access::{Action, Purpose, Resource};
use crate::audit::NewEvent;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::job_list::{self, JobPage, ListQuery};
use crate::jobs::{
    Idempotency, JobInput, JobState, JobView, NewJob, StoredSource, WorkerState, WorkerView, load,
};
use crate::records;
use crate::registries::validate_name;
use crate::{AppState, Ask};
use utoipa_axum::{router::OpenApiRouter, routes};

/// The request header that makes a submission idempotent.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The response header on a submission answered with an earlier job.
pub(crate) const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// Priorities a caller may give its jobs.
pub(crate) const PRIORITIES: std::ops::RangeInclusive<i64> = -100..=100;
/// Longest deadline a job may ask for (a week), in seconds.
pub(crate) const MAX_DEADLINE_SECS: u64 = 7 * 86_400;

/// A proof to make: either `input` (the circuit's `input.json`, as for
/// `zkr prove`) or `tx_id` (a stored receipt, for `receipt` and
/// `disclosure`; the service decrypts it with the caller's custodial key).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProofRequest {
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
    /// -100..=100, default 0: orders the caller's own jobs (higher first);
    /// between principals, turns are taken fairly whatever the priority.
    #[serde(default)]
    pub priority: Option<i64>,
    /// Seconds from now after which the job expires unproved (at most a week).
    #[serde(default)]
    pub deadline_secs: Option<u64>,
    /// An `http://` URL on a host the service allows (`webhooks.allow_hosts`),
    /// POSTed a signed notice once the job ends.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// A disclosure proof of a stored receipt, for a regulator (escrow path,
/// with an authorization reference) or one of the record's participants.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DisclosureRequest {
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
    /// As for proofs: orders the caller's own jobs.
    #[serde(default)]
    pub priority: Option<i64>,
    /// As for proofs: seconds until the job expires unproved.
    #[serde(default)]
    pub deadline_secs: Option<u64>,
    /// As for proofs: told when the job ends.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// A job was accepted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Accepted {
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

fn accepted(job_id: Uuid, replayed: bool) -> Result<Response> {
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
    if replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The request's `Idempotency-Key` with the digest of what it asks
/// (`route` and the parsed body), or `None` without the header.
fn idempotency(
    headers: &HeaderMap,
    route: &str,
    body: &impl Serialize,
) -> Result<Option<Idempotency>> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            Error::BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters".into())
        })?;
    let canonical = serde_json::to_vec(body).map_err(|e| Error::Internal(e.to_string()))?;
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update([0]);
    h.update(&canonical);
    Ok(Some(Idempotency {
        key: key.to_string(),
        request_sha256: hex::encode(h.finalize()),
    }))
}

/// The priority and absolute deadline a request asks for.
fn schedule(priority: Option<i64>, deadline_secs: Option<u64>) -> Result<(i64, Option<i64>)> {
    let priority = priority.unwrap_or(0);
    if !PRIORITIES.contains(&priority) {
        return Err(Error::Unprocessable(format!(
            "priority must be {}..={}",
            PRIORITIES.start(),
            PRIORITIES.end()
        )));
    }
    let deadline = match deadline_secs {
        None => None,
        Some(s) if (1..=MAX_DEADLINE_SECS).contains(&s) => {
            Some(zkr_store::now_unix() + i64::try_from(s).unwrap_or(0))
        }
        Some(_) => {
            return Err(Error::Unprocessable(format!(
                "deadline_secs must be 1..={MAX_DEADLINE_SECS}"
            )));
        }
    };
    Ok((priority, deadline))
}

/// What a submission carries besides the circuit and its input.
struct Submission {
    kind: &'static str,
    tx_id: Option<Uuid>,
    detail: String,
    priority: i64,
    deadline: Option<i64>,
    idempotency: Option<Idempotency>,
    webhook_url: Option<String>,
}

/// The request's `webhook_url`, checked (422 when webhooks are off or the
/// URL is not allowed).
fn webhook_url(state: &AppState, url: Option<&String>) -> Result<Option<String>> {
    url.map(|u| state.webhooks.check_url(u).map(|()| u.clone()))
        .transpose()
}

async fn submit(
    state: &AppState,
    caller: &Principal,
    circuit: CircuitKind,
    input: JobInput,
    sub: Submission,
) -> Result<Response> {
    let queued_event = NewEvent {
        actor: caller.id.clone(),
        roles: caller.roles_csv(),
        action: if sub.kind == "proof" {
            "proof_job"
        } else {
            "disclosure"
        }
        .into(),
        resource: String::new(),
        purpose: "-".into(),
        outcome: "queued".into(),
        detail: sub.detail,
    };
    let submitted = state
        .jobs
        .submit(
            NewJob {
                circuit,
                input,
                kind: sub.kind,
                owner: caller.id.clone(),
                tx_id: sub.tx_id,
                priority: sub.priority,
                deadline: sub.deadline,
                idempotency: sub.idempotency,
                webhook_url: sub.webhook_url,
                queued_event,
            },
            state.key_store()?,
            &state.audit,
        )
        .await?;
    accepted(submitted.id, submitted.replayed)
}

/// An earlier job of `caller` with the same idempotency key and request.
async fn replay(
    state: &AppState,
    caller: &Principal,
    idem: Option<&Idempotency>,
) -> Result<Option<Response>> {
    let Some(idem) = idem else { return Ok(None) };
    match state.jobs.idempotent(&caller.id, idem).await? {
        Some(id) => accepted(id, true).map(Some),
        None => Ok(None),
    }
}

/// The receipt circuit of `receipt`: its amount within `[min, max]` and its
/// miner in `registry`.
async fn receipt_circuit(
    state: &AppState,
    receipt: &Receipt,
    min: Option<&str>,
    max: Option<&str>,
    registry: &str,
) -> Result<AnyCircuit> {
    let (Some(min), Some(max)) = (min, max) else {
        return Err(Error::Unprocessable(
            "a receipt proof needs amount_min and amount_max".into(),
        ));
    };
    let min = parse_u128(min, "amount_min").map_err(unprocessable)?;
    let max = parse_u128(max, "amount_max").map_err(unprocessable)?;
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

/// The witness of a job made from stored transaction `tx_id`: the
/// transaction opened with `source.key_id`, the registry path read now.
/// Used when the job is submitted (to refuse what cannot be proved) and by
/// the worker that proves it.
pub(crate) async fn circuit_of_source(
    state: &AppState,
    kind: CircuitKind,
    tx_id: &Uuid,
    source: &StoredSource,
) -> Result<AnyCircuit> {
    let stored = records::load(state, &tx_id.to_string()).await?;
    let (_, receipt) = records::decrypt(state, &stored, &source.key_id).await?;
    match kind {
        CircuitKind::Receipt => {
            let registry = source
                .registry
                .as_deref()
                .unwrap_or(&state.config.registries.miners);
            receipt_circuit(
                state,
                &receipt,
                source.amount_min.as_deref(),
                source.amount_max.as_deref(),
                registry,
            )
            .await
        }
        CircuitKind::Disclosure => {
            let fields = source.disclose.as_deref().ok_or_else(|| {
                Error::Unprocessable("a disclosure proof needs disclose (field names)".into())
            })?;
            disclosure_circuit(&receipt, fields)
        }
        other => Err(Error::Unprocessable(format!(
            "tx_id works with the receipt and disclosure circuits, not {}",
            other.name()
        ))),
    }
}

/// The witness of a sealed job: its `input.json` parsed at the service's
/// registry depth (off the runtime: parsing checks every constraint input).
pub(crate) async fn circuit_of_input(
    state: &AppState,
    kind: CircuitKind,
    text: Zeroizing<String>,
) -> Result<AnyCircuit> {
    let depth = state.config.registry_depth;
    tokio::task::spawn_blocking(move || circuit_from_json(kind, depth, &text))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(unprocessable)
}

/// Submit a proof job (202 with the job id). With an `Idempotency-Key`
/// header, the same request again gives the same job (and the header
/// `Idempotent-Replayed: true`); the key with a different request is 422.
#[utoipa::path(post, path = "/v1/proofs", tag = "proofs", security(("bearer" = [])),
    request_body = ProofRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the submission idempotent per principal")),
    responses((status = 202, body = Accepted), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody),
              (status = 429, description = "the caller has its share of the queue waiting", body = crate::error::ErrorBody),
              (status = 503, description = "the queue is full", body = crate::error::ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ProofRequest>,
) -> Result<Response> {
    let kind = CircuitKind::from_name(&req.circuit)
        .map_err(|_| Error::Unprocessable(format!("unknown circuit {:?}", req.circuit)))?;
    let idem = idempotency(&headers, "/v1/proofs", &req)?;
    let (priority, deadline) = schedule(req.priority, req.deadline_secs)?;
    let webhook_url = webhook_url(&state, req.webhook_url.as_ref())?;
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
            if let Some(r) = replay(&state, &caller, idem.as_ref()).await? {
                return Ok(r);
            }
            let text = Zeroizing::new(input.to_string());
            // Refused now if it cannot be proved; the worker parses it again.
            drop(circuit_of_input(&state, kind, text.clone()).await?);
            submit(
                &state,
                &caller,
                kind,
                JobInput::Sealed(text),
                Submission {
                    kind: "proof",
                    tx_id: None,
                    detail: format!("circuit={}", kind.name()),
                    priority,
                    deadline,
                    idempotency: idem,
                    webhook_url,
                },
            )
            .await
        }
        (None, Some(tx_id)) => {
            let stored = records::load(&state, tx_id).await?;
            let resource = records::resource(&stored);
            let detail = format!("circuit={}", kind.name());
            state
                .authorize(Ask::new(&caller, Action::ProofCreate, &resource).detail(&detail))
                .await?;
            if let Some(r) = replay(&state, &caller, idem.as_ref()).await? {
                return Ok(r);
            }
            let source = match kind {
                CircuitKind::Receipt => StoredSource {
                    key_id: records::key_for(&state, &stored, &caller),
                    amount_min: req.amount_min.clone(),
                    amount_max: req.amount_max.clone(),
                    registry: Some(
                        req.registry
                            .clone()
                            .unwrap_or_else(|| state.config.registries.miners.clone()),
                    ),
                    disclose: None,
                },
                CircuitKind::Disclosure => StoredSource {
                    key_id: records::key_for(&state, &stored, &caller),
                    amount_min: None,
                    amount_max: None,
                    registry: None,
                    disclose: Some(req.disclose.clone().ok_or_else(|| {
                        Error::Unprocessable(
                            "a disclosure proof needs disclose (field names)".into(),
                        )
                    })?),
                },
                other => {
                    return Err(Error::Unprocessable(format!(
                        "tx_id works with the receipt and disclosure circuits, not {}",
                        other.name()
                    )));
                }
            };
            drop(circuit_of_source(&state, kind, &stored.tx_id, &source).await?);
            submit(
                &state,
                &caller,
                kind,
                JobInput::Stored(source),
                Submission {
                    kind: "proof",
                    tx_id: Some(stored.tx_id),
                    detail: format!("circuit={} tx={}", kind.name(), stored.tx_id),
                    priority,
                    deadline,
                    idempotency: idem,
                    webhook_url,
                },
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
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the submission idempotent per principal")),
    responses((status = 202, body = Accepted), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody),
              (status = 503, body = crate::error::ErrorBody)))]
pub(crate) async fn disclose(
    State(state): State<AppState>,
    caller: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<DisclosureRequest>,
) -> Result<Response> {
    let idem = idempotency(&headers, "/v1/disclosures", &req)?;
    let (priority, deadline) = schedule(req.priority, req.deadline_secs)?;
    let webhook_url = webhook_url(&state, req.webhook_url.as_ref())?;
    let stored = records::load(&state, &req.tx_id).await?;
    let resource = records::resource(&stored);
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
    if let Some(r) = replay(&state, &caller, idem.as_ref()).await? {
        return Ok(r);
    }
    let source = StoredSource {
        key_id: records::key_for(&state, &stored, &caller),
        amount_min: None,
        amount_max: None,
        registry: None,
        disclose: Some(req.disclose.clone()),
    };
    drop(circuit_of_source(&state, CircuitKind::Disclosure, &stored.tx_id, &source).await?);
    submit(
        &state,
        &caller,
        CircuitKind::Disclosure,
        JobInput::Stored(source),
        Submission {
            kind: "disclosure",
            tx_id: Some(stored.tx_id),
            detail: format!("tx={} fields={}", stored.tx_id, req.disclose.join(",")),
            priority,
            deadline,
            idempotency: idem,
            webhook_url,
        },
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

/// `GET /v1/proofs/{id}` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaitQuery {
    /// Seconds to wait for the job to end before answering (bounded by
    /// `proofs.max_wait_secs` and the request timeout); 0 or absent answers at once.
    #[serde(default)]
    pub wait: Option<u64>,
}

/// A job: its state, and once succeeded the proof and public inputs in
/// snarkjs JSON. With `?wait=SECONDS`, answers as soon as the job ends or
/// the wait is over (one access decision, one audit event, however long
/// it waits).
#[utoipa::path(get, path = "/v1/proofs/{id}", tag = "proofs", security(("bearer" = [])),
    params(("id" = String, Path, description = "Job id"), WaitQuery),
    responses((status = 200, body = JobView), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<Json<JobView>> {
    // Subscribed before the job is read, so an end between the read and
    // the wait is not missed.
    let mut ended = state.jobs.subscribe();
    let (job_id, job) = authorized_job(&state, &caller, &id, "read").await?;
    let wait = q
        .wait
        .unwrap_or(0)
        .min(state.config.proofs.max_wait_secs)
        .min(state.config.http.request_timeout_secs.saturating_sub(1));
    if wait == 0 || job.state.is_terminal() {
        return Ok(Json(job));
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        match tokio::time::timeout_at(until, ended.recv()).await {
            // The wait is over: the job as it is now.
            Err(_) => break,
            Ok(Ok(id)) if id != job_id => continue,
            // This job ended, or notices were missed (lagged) or the
            // sender is gone: read the row.
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                if let Some(job) = load(&state.db, &job_id).await?
                    && job.state.is_terminal()
                {
                    return Ok(Json(job));
                }
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => break,
        }
    }
    let job = load(&state.db, &job_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("job {job_id}")))?;
    Ok(Json(job))
}

/// Cancel a queued or running job (a running job's worker stops at its
/// next lease renewal and its result is discarded); 409 when it has
/// already ended.
#[utoipa::path(delete, path = "/v1/proofs/{id}", tag = "proofs", security(("bearer" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn cancel(
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

/// Proof jobs, newest first, a page at a time. An admin lists everyone's
/// (and may filter by `owner`); any other principal that may own jobs
/// (client, miner, coordinator, regulator) lists only its own, and naming
/// another `owner` is 403. A bad filter, cursor or limit is 400.
#[utoipa::path(get, path = "/v1/proofs", tag = "proofs", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = JobPage), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<JobPage>> {
    let listing = q.check()?;
    // Whose jobs: the one named, else everyone's for an admin and the
    // caller's own for anyone else; access control decides.
    let owner = match (&q.owner, caller.has(crate::Role::Admin)) {
        (Some(o), _) => Some(o.clone()),
        (None, true) => None,
        (None, false) => Some(caller.id.clone()),
    };
    let resource = Resource {
        id: format!("jobs/{}", owner.as_deref().unwrap_or("*")),
        participants: owner.iter().cloned().collect(),
        created_at: None,
    };
    state
        .authorize(Ask::new(&caller, Action::ProofList, &resource))
        .await?;
    Ok(Json(
        job_list::list(&state.db, &listing, owner.as_deref()).await?,
    ))
}

/// Sends a failed or dead job back to the queue (admin): its attempts
/// start again from zero, its failure is cleared, its webhook is told of
/// its next end; audited. Idempotent: a job already back in the queue or
/// running after a retry is answered as it is. 409 for any other state,
/// for a job whose input is no longer stored, or whose deadline passed.
#[utoipa::path(post, path = "/v1/proofs/{id}/retry", tag = "proofs", security(("bearer" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn retry(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<JobView>> {
    let job_id =
        Uuid::parse_str(&id).map_err(|_| Error::BadRequest("job id must be a UUID".into()))?;
    let resource = Resource::named(format!("job/{job_id}"));
    state
        .authorize(Ask::new(&caller, Action::ProofRetry, &resource))
        .await?;
    let job = load(&state.db, &job_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("job {job_id}")))?;
    match job.state {
        JobState::Failed | JobState::Dead => {}
        JobState::Queued | JobState::Running if job.retries > 0 => return Ok(Json(job)),
        other => {
            return Err(Error::Conflict(format!(
                "job {job_id} is {}: only failed and dead jobs are retried",
                other.as_str()
            )));
        }
    }
    if !state.jobs.has_input(&job_id).await? {
        return Err(Error::Conflict(format!(
            "job {job_id} no longer stores its input; submit it again"
        )));
    }
    // Fail closed: no retry without its event.
    state
        .audit
        .append(NewEvent {
            actor: caller.id.clone(),
            roles: caller.roles_csv(),
            action: "proof_job".into(),
            resource: format!("job/{job_id}"),
            purpose: "-".into(),
            outcome: "retried".into(),
            detail: format!(
                "was {} code={}",
                job.state.as_str(),
                job.failure.as_ref().map_or("-", |f| f.code.as_str())
            ),
        })
        .await?;
    if !state.jobs.retry(&job_id).await? {
        let now = load(&state.db, &job_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("job {job_id}")))?;
        // Another retry won the race: the same answer as it got.
        if now.retries > job.retries && !now.state.is_terminal() {
            return Ok(Json(now));
        }
        return Err(Error::Conflict(format!(
            "job {job_id} cannot be retried: its deadline has passed"
        )));
    }
    let job = load(&state.db, &job_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("job {job_id}")))?;
    Ok(Json(job))
}

/// `GET /v1/workers` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkersQuery {
    /// Only workers with a heartbeat in the last this many seconds (default 300).
    #[serde(default)]
    pub since_secs: Option<u64>,
    /// Only workers in this state: `live`, `stopped` or `lost`.
    #[serde(default)]
    pub state: Option<WorkerState>,
}

/// The prover pool's workers (admin): state (`live`, `stopped` cleanly, or
/// `lost`: no heartbeat for longer than a job's lease), heartbeats,
/// backend, circuits, jobs done and the current job. `?state=live` counts
/// the workers that prove now.
#[utoipa::path(get, path = "/v1/workers", tag = "proofs", security(("bearer" = [])),
    params(WorkersQuery),
    responses((status = 200, body = [WorkerView]), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn workers(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<WorkersQuery>,
) -> Result<Json<Vec<WorkerView>>> {
    let resource = Resource::named("workers".to_string());
    state
        .authorize(Ask::new(&caller, Action::WorkersRead, &resource))
        .await?;
    let since = i64::try_from(q.since_secs.unwrap_or(300).min(86_400 * 30)).unwrap_or(300);
    let mut workers = state.jobs.workers(since).await?;
    if let Some(want) = q.state {
        workers.retain(|w| w.state == want);
    }
    Ok(Json(workers))
}

/// The routes of `/v1/proofs`, `/v1/disclosures` and `/v1/workers`: proof
/// jobs and the pool (authenticated, under `/v1`).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get, cancel))
        .routes(routes!(retry))
        .routes(routes!(disclose))
        .routes(routes!(workers))
}
