//! `/v1/confidential/transactions`: store a receipt encrypted for its
//! participants and the audit escrow, signed by the coordinator; read its
//! public metadata, and for a participant its own envelope copy.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use zkr_circuits::Receipt;
use zkr_circuits::field::{fr_to_be_bytes, fr_to_decimal};
use zkr_circuits::receipt::ReceiptJson;
use zkr_keys::Envelope;

use crate::access::{Action, Purpose, Resource};
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::http::{ApiJson, ApiPath};
use crate::records::{self, NewRecord, Stored};
use crate::{AppState, Ask};
use utoipa_axum::{router::OpenApiRouter, routes};
use zkr_store::now_unix;

/// A receipt to store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTransaction {
    /// The nine receipt fields (docs/formats.md), decimal strings.
    #[schema(value_type = Object)]
    pub receipt: ReceiptJson,
    /// The client's key id (also its principal id).
    pub client_key: String,
    /// The miner's key id (also its principal id).
    pub miner_key: String,
    /// Free-form job metadata, encrypted with the receipt.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

/// The coordinator's signature over `b"zkr/receipt/v1" || receipt_hash`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Attestation {
    /// Signing key id.
    pub key_id: String,
    /// Signing key version.
    pub key_version: u32,
    /// Ed25519 signature, hex.
    pub signature: String,
}

/// A participant's own copy of the envelope.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnvelopeCopy {
    /// The envelope (format version 1) holding only this participant's wrap, hex.
    pub envelope: String,
    /// AES-256-GCM ciphertext with tag, hex.
    pub ciphertext: String,
    /// Nonce, hex.
    pub nonce: String,
    /// `"zkr/tx/v1" || tx_id || receipt_hash`, hex.
    pub aad: String,
    /// Key id of the wrap.
    pub key_id: String,
    /// Key version of the wrap.
    pub key_version: u32,
    /// HPKE `enc`, hex.
    pub enc: String,
    /// HPKE-wrapped DEK, hex.
    pub wrapped_dek: String,
}

/// A stored transaction as its reader may see it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Transaction {
    /// Transaction id.
    pub tx_id: String,
    /// `H9` of the receipt, decimal.
    pub receipt_hash: String,
    /// Coordinator attestation.
    pub attestation: Attestation,
    /// Unix seconds.
    pub created_at: i64,
    /// Only for the transaction's participants.
    pub envelope: Option<EnvelopeCopy>,
}

/// Store a confidential receipt (coordinator).
#[utoipa::path(post, path = "/v1/confidential/transactions", tag = "confidential",
    security(("bearer" = [])), request_body = NewTransaction,
    responses((status = 201, body = Transaction), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<NewTransaction>,
) -> Result<(StatusCode, Json<Transaction>)> {
    let receipt =
        Receipt::try_from(&req.receipt).map_err(|e| Error::Unprocessable(e.to_string()))?;
    receipt
        .check()
        .map_err(|e| Error::Unprocessable(e.to_string()))?;
    let tx_id = Uuid::new_v4();
    let resource = Resource {
        id: format!("tx/{tx_id}"),
        participants: vec![req.client_key.clone(), req.miner_key.clone()],
        created_at: Some(now_unix()),
    };
    state
        .authorize(Ask::new(&caller, Action::TxCreate, &resource))
        .await?;
    for (field, key_id) in [
        ("client_key", &req.client_key),
        ("miner_key", &req.miner_key),
    ] {
        if !records::is_participant_key(&state, key_id).await? {
            return Err(Error::Unprocessable(format!(
                "{field}: {key_id:?} is not a participant's key (the escrow, signing and other service keys cannot stand for a participant)"
            )));
        }
    }
    let keys = state.key_store()?;
    let hash = receipt.hash();
    let hash_bytes = fr_to_be_bytes(&hash);
    let plaintext = serde_json::to_vec(&serde_json::json!({
        "receipt": ReceiptJson::from(&receipt),
        "metadata": req.metadata,
    }))
    .map_err(|e| Error::Internal(e.to_string()))?;
    let escrow = state.config.escrow_key_id.as_str();
    let envelope = keys
        .seal(
            tx_id,
            hash_bytes,
            &plaintext,
            &[&req.client_key, &req.miner_key, escrow],
        )
        .await?;
    let signature = keys
        .sign_receipt(&state.config.signing_key_id, &hash_bytes)
        .await?;
    let created_at = now_unix();
    let receipt_hash = fr_to_decimal(&hash);
    records::insert(
        &state,
        NewRecord {
            record: &envelope.record,
            receipt_hash: &receipt_hash,
            client_key: &req.client_key,
            miner_key: &req.miner_key,
            escrow_key: escrow,
            signature: &signature,
            created_at,
            created_by: &caller.id,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Transaction {
            tx_id: tx_id.to_string(),
            receipt_hash,
            attestation: Attestation {
                key_id: signature.key_id,
                key_version: signature.key_version,
                signature: hex::encode(signature.signature),
            },
            created_at,
            envelope: None,
        }),
    ))
}

/// Public metadata; a participant also gets its own envelope copy.
#[utoipa::path(get, path = "/v1/confidential/transactions/{id}", tag = "confidential",
    security(("bearer" = [])), params(("id" = String, Path, description = "Transaction id")),
    responses((status = 200, body = Transaction), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Transaction>> {
    let tx_id =
        Uuid::parse_str(&id).map_err(|_| Error::BadRequest("tx id must be a UUID".into()))?;
    let stored = records::find(&state, tx_id).await?;
    // Authorize before answering, so a probe for ids is audited even when absent.
    let resource = match &stored {
        Some(stored) => records::resource(stored),
        None => Resource {
            id: format!("tx/{tx_id}"),
            participants: vec![],
            created_at: None,
        },
    };
    state
        .authorize(Ask::new(&caller, Action::TxRead, &resource))
        .await?;
    let stored = stored.ok_or_else(|| Error::NotFound(format!("transaction {tx_id}")))?;
    let envelope = if stored.participants.contains(&caller.id) {
        let full = state.key_store()?.envelope(stored.record.clone()).await?;
        // The newest wrap for the caller's key.
        let wrap = full
            .wraps
            .iter()
            .filter(|w| w.key_id == caller.id)
            .max_by_key(|w| w.key_version)
            .cloned()
            .ok_or_else(|| Error::NotFound("a wrap for this participant".into()))?;
        let own = Envelope {
            record: full.record,
            wraps: vec![wrap.clone()],
        };
        Some(EnvelopeCopy {
            envelope: hex::encode(own.to_bytes()?),
            ciphertext: hex::encode(&own.record.ciphertext),
            nonce: hex::encode(own.record.nonce),
            aad: hex::encode(zkr_keys::envelope::record_aad(
                &tx_id,
                &own.record.receipt_hash,
            )),
            key_id: wrap.key_id,
            key_version: wrap.key_version,
            enc: hex::encode(wrap.enc),
            wrapped_dek: hex::encode(wrap.wrapped),
        })
    } else {
        None
    };
    Ok(Json(Transaction {
        tx_id: tx_id.to_string(),
        receipt_hash: stored.receipt_hash,
        attestation: Attestation {
            key_id: stored.signing_key,
            key_version: u32::try_from(stored.signing_version)
                .map_err(|e| Error::Internal(e.to_string()))?,
            signature: stored.signature,
        },
        created_at: stored.created_at,
        envelope,
    }))
}

/// A request to read a record's plaintext.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccessRequest {
    /// Transaction id.
    pub tx_id: String,
    /// Why.
    pub purpose: Purpose,
    /// Free text, kept in the audit log.
    pub justification: String,
    /// Authorization reference (court order, audit mandate); required on the escrow path.
    #[serde(default)]
    pub authorization_ref: Option<String>,
}

/// A decrypted record.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OpenedRecord {
    /// Transaction id.
    pub tx_id: String,
    /// The stored commitment, decimal.
    pub receipt_hash: String,
    /// Whether the decrypted receipt hashes to the stored commitment.
    pub hash_matches: bool,
    /// The record: `{"receipt": {...}, "metadata": ...}`.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}

/// Decrypts with `key_id` and checks the receipt against the commitment.
async fn open_as(state: &AppState, stored: Stored, key_id: &str) -> Result<OpenedRecord> {
    let (record, receipt) = records::decrypt(state, &stored, key_id).await?;
    Ok(OpenedRecord {
        tx_id: stored.tx_id.to_string(),
        hash_matches: fr_to_decimal(&receipt.hash()) == stored.receipt_hash,
        receipt_hash: stored.receipt_hash,
        record,
    })
}

/// Asks for `action` on the record `req` names and, if allowed, decrypts it
/// with the key `key_of` picks.
async fn open_record(
    state: &AppState,
    caller: &Principal,
    req: AccessRequest,
    action: Action,
    key_of: impl FnOnce(&AppState, &Stored, &Principal) -> String,
) -> Result<Json<OpenedRecord>> {
    let stored = records::load(state, &req.tx_id).await?;
    let detail = format!("justification={:?}", req.justification);
    let res = records::resource(&stored);
    let ask = Ask::new(caller, action, &res)
        .purpose(Some(req.purpose))
        .authorization_ref(req.authorization_ref.as_deref())
        .detail(&detail);
    state.authorize(ask).await?;
    let key_id = key_of(state, &stored, caller);
    Ok(Json(open_as(state, stored, &key_id).await?))
}

/// Decrypt a record if policy allows: a participant through its custodial
/// key, anyone else a policy admits (auditors for purpose audit) through
/// the escrow key. Denials are 403 naming the rule.
#[utoipa::path(post, path = "/v1/confidential/access", tag = "confidential",
    security(("bearer" = [])), request_body = AccessRequest,
    responses((status = 200, body = OpenedRecord), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn access(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<AccessRequest>,
) -> Result<Json<OpenedRecord>> {
    open_record(&state, &caller, req, Action::RecordAccess, records::key_for).await
}

/// Open the audit-escrow copy (regulators; auditors for purpose audit), with
/// an authorization reference; confirms the record hashes to the commitment.
#[utoipa::path(post, path = "/v1/confidential/audit", tag = "confidential",
    security(("bearer" = [])), request_body = AccessRequest,
    responses((status = 200, body = OpenedRecord), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn escrow(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<AccessRequest>,
) -> Result<Json<OpenedRecord>> {
    open_record(&state, &caller, req, Action::EscrowOpen, |state, _, _| {
        state.config.escrow_key_id.clone()
    })
    .await
}

/// The routes of `/v1/confidential`: records and their decryption (authenticated, under `/v1`).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(get))
        .routes(routes!(access))
        .routes(routes!(escrow))
}
