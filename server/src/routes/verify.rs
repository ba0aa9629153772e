//! `POST /v1/verify` and `POST /v1/verify/batch`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use std::sync::Arc;

use ark_bn254::{Bn254, Fr};
use ark_groth16::{PreparedVerifyingKey, Proof};
use zkr_circuits::CircuitKind;
use zkr_circuits::field::fr_to_be_bytes;
use zkr_verifier::batch::BatchItem;

use crate::access::{Action, Resource};
use crate::audit::{NewEvent, Pending};
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::http::ApiJson;
use crate::registries;
use crate::{AppState, Ask};
use utoipa_axum::{router::OpenApiRouter, routes};

/// Most proofs in one batch.
pub(crate) const MAX_BATCH: usize = 64;

/// One proof to verify.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyRequest {
    /// `range`, `membership`, `receipt` or `disclosure`.
    pub circuit: String,
    /// snarkjs `proof.json` object.
    #[schema(value_type = Object)]
    pub proof: serde_json::Value,
    /// snarkjs `public.json`: decimal strings.
    pub public_signals: Vec<String>,
    /// For `receipt` (required there): the coordinator's attestation, as
    /// `POST /v1/confidential/transactions` returned it.
    #[serde(default)]
    pub attestation: Option<AttestationIn>,
    /// For `membership` (required there): the registry whose root history
    /// the proof's root must be in. `receipt` proofs are checked against
    /// the configured miner registry; if given, it must name that one.
    #[serde(default)]
    pub registry: Option<String>,
}

/// A coordinator's Ed25519 signature over `b"zkr/receipt/v1" || receipt_hash`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttestationIn {
    /// Signing key id.
    pub key_id: String,
    /// Signing key version.
    pub key_version: u32,
    /// Signature, 64 bytes hex.
    pub signature: String,
}

/// The verdict.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Verdict {
    /// Whether the proof is valid for these public inputs.
    pub valid: bool,
    /// Why not, when it is not.
    pub reason: Option<String>,
}

/// Several proofs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    /// The proofs (at most 64).
    pub items: Vec<VerifyRequest>,
}

/// Verdicts in request order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchVerdict {
    /// One per item.
    pub results: Vec<Verdict>,
}

fn invalid(reason: impl Into<String>) -> Verdict {
    Verdict {
        valid: false,
        reason: Some(reason.into()),
    }
}

/// Checks a receipt attestation over `receipt_hash`: `Ok(None)` when it is
/// valid and by a trusted coordinator key, `Ok(Some(reason))` when not,
/// `Err` (422) when it is malformed.
async fn check_attestation(
    state: &AppState,
    attestation: &AttestationIn,
    receipt_hash: &Fr,
) -> Result<Option<String>> {
    let signature: [u8; 64] = hex::decode(&attestation.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            Error::Unprocessable("attestation.signature must be 64 bytes, hex".into())
        })?;
    let trusted = attestation.key_id == state.config.signing_key_id
        || state
            .config
            .trusted_signing_keys
            .contains(&attestation.key_id);
    if !trusted {
        return Ok(Some(format!(
            "attestation key {} is not a trusted coordinator key",
            attestation.key_id
        )));
    }
    let key = match state
        .key_store()?
        .key(&attestation.key_id, attestation.key_version)
        .await
    {
        Ok(k) => k,
        Err(zkr_keys::Error::UnknownKey { .. }) => {
            return Ok(Some(format!(
                "attestation key {} version {} is unknown",
                attestation.key_id, attestation.key_version
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if key.kind != zkr_keys::KeyKind::Signing || key.status == zkr_keys::KeyStatus::Retired {
        return Ok(Some(format!(
            "attestation key {} version {} is not an active signing key",
            attestation.key_id, attestation.key_version
        )));
    }
    let hash = fr_to_be_bytes(receipt_hash);
    if !zkr_keys::store::verify_receipt_signature(&key.public_key, &hash, &signature) {
        return Ok(Some(
            "the attestation does not sign this receipt_hash".into(),
        ));
    }
    Ok(None)
}

/// The verdict reason of a proof whose registry root is not an accepted
/// root of the registry it is checked against.
pub(crate) const UNKNOWN_REGISTRY_ROOT: &str = "unknown_registry_root";

/// The registry a proof of `kind` is checked against: the configured miner
/// registry for `receipt`, the one the request names for `membership`,
/// none for the other circuits. `Err` (422) when the request names a
/// registry where none or another one belongs, or none where one is needed.
pub(crate) fn registry_for(
    state: &AppState,
    kind: CircuitKind,
    named: Option<&str>,
) -> Result<Option<String>> {
    match (kind, named) {
        (CircuitKind::Receipt, None) => Ok(Some(state.config.registries.miners.clone())),
        (CircuitKind::Receipt, Some(name)) if name == state.config.registries.miners => {
            Ok(Some(name.to_string()))
        }
        (CircuitKind::Receipt, Some(_)) => Err(Error::Unprocessable(format!(
            "registry: receipt proofs are checked against the miner registry {:?}",
            state.config.registries.miners
        ))),
        (CircuitKind::Membership, Some(name)) => {
            registries::validate_name(name)
                .map_err(|_| Error::Unprocessable("registry: not a registry name".into()))?;
            Ok(Some(name.to_string()))
        }
        (CircuitKind::Membership, None) => Err(Error::Unprocessable(
            "registry: a membership proof names the registry it is checked against".into(),
        )),
        (_, Some(_)) => Err(Error::Unprocessable(format!(
            "registry: the {} circuit has no registry",
            kind.name()
        ))),
        (_, None) => Ok(None),
    }
}

/// Decides whether a proof's public inputs are acceptable against the
/// registries (DESIGN §3), apart from the pairing check so that every
/// verification path runs it: for a circuit with a registry root among its
/// public inputs, that root must be a root of `registry` within the
/// configured window, never just a root the prover chose. `Ok(None)` when
/// acceptable, `Ok(Some(reason))` when not, `Err` (422) for inputs of the
/// wrong number.
pub(crate) async fn check_registry_root(
    state: &AppState,
    kind: CircuitKind,
    registry: Option<&str>,
    public: &[Fr],
) -> Result<Option<String>> {
    let expected = kind.public_input_names().len();
    if public.len() != expected {
        return Err(Error::Unprocessable(format!(
            "public_signals: the {} circuit has {expected} public inputs, got {}",
            kind.name(),
            public.len()
        )));
    }
    let (Some(index), Some(registry)) = (kind.registry_root_input(), registry) else {
        // A circuit with a root but no registry to check it against is
        // never accepted.
        return Ok(kind
            .registry_root_input()
            .map(|_| UNKNOWN_REGISTRY_ROOT.to_string()));
    };
    let c = &state.config.registries;
    let window = registries::RootWindow {
        roots: c.root_window,
        max_age_secs: c.root_max_age_secs,
    };
    let now = state.now().unix_timestamp();
    let known = state
        .registries
        .root_in_window(&state.db, registry, &public[index], window, now)
        .await?;
    Ok((!known).then(|| UNKNOWN_REGISTRY_ROOT.to_string()))
}

/// A well-formed request whose statement still needs the pairing check.
struct Ready {
    pvk: Arc<PreparedVerifyingKey<Bn254>>,
    proof: Proof<Bn254>,
    public: Vec<Fr>,
}

/// Everything but the pairing: `Ok(Err(verdict))` when the request is
/// well formed but already invalid (attestation, registry root), `Err`
/// (4xx) when it is malformed.
async fn prepare(state: &AppState, req: VerifyRequest) -> Result<Result<Ready, Verdict>> {
    let kind = CircuitKind::from_name(&req.circuit)
        .map_err(|_| Error::Unprocessable(format!("unknown circuit {:?}", req.circuit)))?;
    let proof = zkr_verifier::snarkjs::parse_proof(&req.proof.to_string(), "proof")
        .map_err(|e| Error::Unprocessable(e.to_string()))?;
    let public_json =
        serde_json::to_string(&req.public_signals).map_err(|e| Error::Internal(e.to_string()))?;
    let public = zkr_verifier::snarkjs::parse_public(&public_json, "public_signals")
        .map_err(|e| Error::Unprocessable(e.to_string()))?;
    let registry = registry_for(state, kind, req.registry.as_deref())?;
    if kind == CircuitKind::Receipt {
        // A receipt proof counts only with a valid attestation by a
        // coordinator key this service trusts.
        let attestation = req.attestation.as_ref().ok_or_else(|| {
            Error::Unprocessable("a receipt proof needs the coordinator's attestation".into())
        })?;
        let receipt_hash = public.first().ok_or_else(|| {
            Error::Unprocessable("public_signals: the receipt circuit has 4 public inputs".into())
        })?;
        if let Some(reason) = check_attestation(state, attestation, receipt_hash).await? {
            return Ok(Err(invalid(reason)));
        }
    } else if req.attestation.is_some() {
        return Err(Error::Unprocessable(
            "attestation goes only with receipt proofs".into(),
        ));
    }
    let pvk = state.verifying_keys.get(kind.name()).await?;
    if let Some(reason) = check_registry_root(state, kind, registry.as_deref(), &public).await? {
        return Ok(Err(invalid(reason)));
    }
    let ready = Ready { pvk, proof, public };
    // The count of public inputs and the points, before any pairing.
    zkr_verifier::batch::check_item(&ready.item())
        .map_err(|e| Error::Unprocessable(e.to_string()))?;
    Ok(Ok(ready))
}

impl Ready {
    fn item(&self) -> BatchItem<'_> {
        BatchItem {
            pvk: &self.pvk,
            proof: &self.proof,
            public_inputs: &self.public,
        }
    }
}

fn verdict(valid: bool) -> Verdict {
    if valid {
        Verdict {
            valid: true,
            reason: None,
        }
    } else {
        invalid("the proof does not verify for these public inputs")
    }
}

/// `Ok(verdict)` for a well-formed request; `Err` (4xx) for a malformed one.
async fn check(state: &AppState, req: VerifyRequest) -> Result<Verdict> {
    let ready = match prepare(state, req).await? {
        Ok(ready) => ready,
        Err(verdict) => return Ok(verdict),
    };
    let outcome = tokio::task::spawn_blocking(move || {
        zkr_verifier::verify_prepared(&ready.pvk, &ready.proof, &ready.public)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?;
    outcome
        .map(verdict)
        .map_err(|e| Error::Unprocessable(e.to_string()))
}

/// Queues the verdict's audit event; the caller awaits its commit before
/// answering.
async fn record(
    state: &AppState,
    caller: &Principal,
    circuit: &str,
    v: &Verdict,
) -> Result<Pending> {
    state
        .audit
        .submit(NewEvent {
            actor: caller.id.clone(),
            roles: caller.roles_csv(),
            action: "verification".into(),
            resource: format!("circuit/{circuit}"),
            purpose: "-".into(),
            outcome: if v.valid { "valid" } else { "invalid" }.into(),
            detail: v.reason.clone().unwrap_or_default(),
        })
        .await
}

/// Verify one proof.
#[utoipa::path(post, path = "/v1/verify", tag = "proofs", security(("bearer" = [])),
    request_body = VerifyRequest,
    responses((status = 200, body = Verdict), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Json<Verdict>> {
    let resource = Resource::named(format!("circuit/{}", req.circuit));
    // The decision is committed while the proof is checked (verifying
    // changes nothing); no answer, not even an error, goes out before it is.
    let (_, decision) = state
        .authorize_queued(Ask::new(&caller, Action::Verify, &resource))
        .await?;
    let circuit = req.circuit.clone();
    let verdict = match check(&state, req).await {
        Ok(v) => v,
        Err(e) => {
            decision.committed().await?;
            return Err(e);
        }
    };
    // Both events usually share one commit of the audit writer.
    let recorded = record(&state, &caller, &circuit, &verdict).await;
    decision.committed().await?;
    recorded?.committed().await?;
    Ok(Json(verdict))
}

/// Verify several proofs; a malformed item is an invalid verdict with its reason.
#[utoipa::path(post, path = "/v1/verify/batch", tag = "proofs", security(("bearer" = [])),
    request_body = BatchRequest,
    responses((status = 200, body = BatchVerdict),
              (status = 413, body = crate::error::ErrorBody,
               description = "`batch_too_large`: more items than the caller's rate limit lets through at once (`rate_limit.principal_burst`); the message names the largest batch"),
              (status = 422, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody,
               description = "Every item counts as a request of the caller's rate limit; `Retry-After` says when the whole batch fits")))]
pub(crate) async fn verify_batch(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<BatchRequest>,
) -> Result<Json<BatchVerdict>> {
    if req.items.is_empty() || req.items.len() > MAX_BATCH {
        return Err(Error::Unprocessable(format!(
            "items must hold 1..={MAX_BATCH} proofs"
        )));
    }
    // Each item counts as a request for the principal's rate limit, all
    // of them: a batch is never cheaper than its items sent one by one.
    state
        .limits
        .check_principal_batch(&caller.id, req.items.len())?;
    let resource = Resource::named("circuit/*");
    let detail = format!("batch of {}", req.items.len());
    state
        .authorize(Ask::new(&caller, Action::Verify, &resource).detail(&detail))
        .await?;
    // Every item is checked up to the pairing; the well-formed ones then
    // go through one randomised batch check (bisected to name the false
    // ones), and verdicts come back in request order.
    let mut circuits = Vec::with_capacity(req.items.len());
    let mut slots: Vec<Option<Verdict>> = Vec::with_capacity(req.items.len());
    let mut ready = Vec::new();
    for (i, item) in req.items.into_iter().enumerate() {
        circuits.push(item.circuit.clone());
        match prepare(&state, item).await {
            Ok(Ok(r)) => {
                ready.push((i, r));
                slots.push(None);
            }
            Ok(Err(v)) => slots.push(Some(v)),
            Err(e) if e.status_and_code().0.is_client_error() => slots.push(Some(Verdict {
                valid: false,
                reason: Some(e.to_string()),
            })),
            Err(e) => return Err(e),
        }
    }
    if !ready.is_empty() {
        let (ready, valid) = tokio::task::spawn_blocking(move || {
            let items: Vec<BatchItem<'_>> = ready.iter().map(|(_, r)| r.item()).collect();
            let valid = zkr_verifier::batch::verify_batch(&items);
            (ready, valid)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
        let valid = valid.map_err(|e| Error::Internal(format!("batch verification: {e}")))?;
        for ((i, _), ok) in ready.iter().zip(valid) {
            slots[*i] = Some(verdict(ok));
        }
    }
    // Every verdict is queued, then all are awaited: one or a few commits
    // for the whole batch, in request order in the chain.
    let mut results = Vec::with_capacity(slots.len());
    let mut pending = Vec::with_capacity(slots.len());
    for (circuit, slot) in circuits.iter().zip(slots) {
        let verdict = slot.ok_or_else(|| Error::Internal("batch verdict missing".into()))?;
        pending.push(record(&state, &caller, circuit, &verdict).await?);
        results.push(verdict);
    }
    for p in pending {
        p.committed().await?;
    }
    Ok(Json(BatchVerdict { results }))
}

/// The routes of `/v1/verify`: proof verification (authenticated, under `/v1`).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify))
        .routes(routes!(verify_batch))
}
