//! `/v1/confidential/transactions`: store a receipt encrypted for its
//! participants and the audit escrow, signed by the coordinator; read its
//! public metadata, and for a participant its own envelope copy.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use uuid::Uuid;
use zkr_circuits::Receipt;
use zkr_circuits::field::{fr_to_be_bytes, fr_to_decimal};
use zkr_circuits::receipt::ReceiptJson;
use zkr_keys::{Envelope, SealedRecord};

use crate::server::access::{Action, Purpose, Resource};
use crate::server::auth::Principal;
use crate::server::error::{Error, Result};
use crate::server::http::{ApiJson, ApiPath};
use crate::server::{AppState, Ask};
use zkr_store::now_unix;

/// A receipt to store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTransaction {
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
pub struct Attestation {
    /// Signing key id.
    pub key_id: String,
    /// Signing key version.
    pub key_version: u32,
    /// Ed25519 signature, hex.
    pub signature: String,
}

/// A participant's own copy of the envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnvelopeCopy {
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
pub struct Transaction {
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
    responses((status = 201, body = Transaction), (status = 422, body = crate::server::error::ErrorBody)))]
pub async fn create(
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
        if !is_participant_key(&state, key_id).await? {
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
    sqlx::query(
        "INSERT INTO confidential_txs (id, receipt_hash, nonce, ciphertext, client_key, miner_key, \
         escrow_key, signing_key, signing_version, signature, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(tx_id.to_string())
    .bind(fr_to_decimal(&hash))
    .bind(hex::encode(envelope.record.nonce))
    .bind(hex::encode(&envelope.record.ciphertext))
    .bind(&req.client_key)
    .bind(&req.miner_key)
    .bind(escrow)
    .bind(&signature.key_id)
    .bind(i64::from(signature.key_version))
    .bind(hex::encode(signature.signature))
    .bind(created_at)
    .bind(&caller.id)
    .execute(&state.db.pool)
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Transaction {
            tx_id: tx_id.to_string(),
            receipt_hash: fr_to_decimal(&hash),
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
    responses((status = 200, body = Transaction), (status = 404, body = crate::server::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Transaction>> {
    let tx_id =
        Uuid::parse_str(&id).map_err(|_| Error::BadRequest("tx id must be a UUID".into()))?;
    let row = sqlx::query("SELECT * FROM confidential_txs WHERE id = $1")
        .bind(tx_id.to_string())
        .fetch_optional(&state.db.pool)
        .await?;
    // Authorize before answering, so a probe for ids is audited even when absent.
    let participants = match &row {
        Some(r) => {
            participant_ids(
                &state,
                [
                    r.try_get::<String, _>("client_key")?,
                    r.try_get("miner_key")?,
                ],
            )
            .await?
        }
        None => vec![],
    };
    let created_at = row
        .as_ref()
        .map(|r| r.try_get::<i64, _>("created_at"))
        .transpose()?;
    let resource = Resource {
        id: format!("tx/{tx_id}"),
        participants: participants.clone(),
        created_at,
    };
    state
        .authorize(Ask::new(&caller, Action::TxRead, &resource))
        .await?;
    let row = row.ok_or_else(|| Error::NotFound(format!("transaction {tx_id}")))?;
    let receipt_hash: String = row.try_get("receipt_hash")?;
    let hash =
        zkr_circuits::field::parse_fr(&receipt_hash).map_err(|e| Error::Internal(e.to_string()))?;
    let envelope = if participants.contains(&caller.id) {
        let record = SealedRecord {
            tx_id,
            receipt_hash: fr_to_be_bytes(&hash),
            nonce: decode_array(&row.try_get::<String, _>("nonce")?)?,
            ciphertext: hex::decode(row.try_get::<String, _>("ciphertext")?)
                .map_err(|e| Error::Internal(e.to_string()))?,
        };
        let full = state.key_store()?.envelope(record).await?;
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
        receipt_hash,
        attestation: Attestation {
            key_id: row.try_get("signing_key")?,
            key_version: u32::try_from(row.try_get::<i64, _>("signing_version")?)
                .map_err(|e| Error::Internal(e.to_string()))?,
            signature: row.try_get("signature")?,
        },
        created_at: row.try_get("created_at")?,
        envelope,
    }))
}

/// Whether `key_id` names a participant's key: a key of kind participant
/// in the key store that is none of the service's own key ids. Key ids are
/// also principal ids, so a record may only name participant keys, and a
/// principal whose id is a service key's id gains nothing from the name.
pub(crate) async fn is_participant_key(state: &AppState, key_id: &str) -> Result<bool> {
    let c = &state.config;
    if key_id == c.escrow_key_id
        || key_id == c.signing_key_id
        || c.trusted_signing_keys.iter().any(|k| k == key_id)
    {
        return Ok(false);
    }
    match state.key_store()?.versions(key_id).await {
        Ok(versions) => Ok(versions
            .iter()
            .all(|k| k.kind == zkr_keys::KeyKind::Participant)),
        Err(zkr_keys::Error::UnknownKey { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The stored participant ids that are participants' keys (records stored
/// before keys were checked may name a service key: that name is no
/// participant).
async fn participant_ids(state: &AppState, ids: [String; 2]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(2);
    for id in ids {
        if is_participant_key(state, &id).await? {
            out.push(id);
        }
    }
    Ok(out)
}

fn decode_array<const N: usize>(text: &str) -> Result<[u8; N]> {
    hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::Internal("stored value has the wrong length".into()))
}

/// A request to read a record's plaintext.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
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
pub struct OpenedRecord {
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

/// A stored transaction, still sealed.
pub(crate) struct Stored {
    pub(crate) tx_id: Uuid,
    pub(crate) receipt_hash: String,
    pub(crate) record: SealedRecord,
    pub(crate) participants: Vec<String>,
    pub(crate) created_at: i64,
}

/// Reads transaction `id` (400 for a malformed id, 404 for an unknown one).
pub(crate) async fn load(state: &AppState, id: &str) -> Result<Stored> {
    let tx_id =
        Uuid::parse_str(id).map_err(|_| Error::BadRequest("tx id must be a UUID".into()))?;
    let row = sqlx::query("SELECT * FROM confidential_txs WHERE id = $1")
        .bind(tx_id.to_string())
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("transaction {tx_id}")))?;
    let receipt_hash: String = row.try_get("receipt_hash")?;
    let hash =
        zkr_circuits::field::parse_fr(&receipt_hash).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Stored {
        tx_id,
        record: SealedRecord {
            tx_id,
            receipt_hash: fr_to_be_bytes(&hash),
            nonce: decode_array(&row.try_get::<String, _>("nonce")?)?,
            ciphertext: hex::decode(row.try_get::<String, _>("ciphertext")?)
                .map_err(|e| Error::Internal(e.to_string()))?,
        },
        receipt_hash,
        participants: participant_ids(
            state,
            [row.try_get("client_key")?, row.try_get("miner_key")?],
        )
        .await?,
        created_at: row.try_get("created_at")?,
    })
}

/// Decrypts `stored` with `key_id`: the record and its receipt.
pub(crate) async fn decrypt(
    state: &AppState,
    stored: &Stored,
    key_id: &str,
) -> Result<(serde_json::Value, Receipt)> {
    let keys = state.key_store()?;
    let envelope = keys.envelope(stored.record.clone()).await?;
    let plaintext = keys.open(&envelope, key_id).await?;
    let record: serde_json::Value = serde_json::from_slice(plaintext.expose())
        .map_err(|e| Error::Internal(format!("stored record is not JSON: {e}")))?;
    let receipt: ReceiptJson = serde_json::from_value(record["receipt"].clone())
        .map_err(|e| Error::Internal(format!("stored record has no receipt: {e}")))?;
    let receipt = Receipt::try_from(&receipt).map_err(|e| Error::Internal(e.to_string()))?;
    Ok((record, receipt))
}

/// The key the service opens `stored` with for `caller`: the caller's own
/// custodial key when it is a participant, otherwise the audit escrow (only
/// reached after access control allowed the escrow path).
pub(crate) fn key_for(state: &AppState, stored: &Stored, caller: &Principal) -> String {
    if stored.participants.contains(&caller.id) {
        caller.id.clone()
    } else {
        state.config.escrow_key_id.clone()
    }
}

/// Decrypts with `key_id` and checks the receipt against the commitment.
async fn open_as(state: &AppState, stored: Stored, key_id: &str) -> Result<OpenedRecord> {
    let (record, receipt) = decrypt(state, &stored, key_id).await?;
    Ok(OpenedRecord {
        tx_id: stored.tx_id.to_string(),
        hash_matches: fr_to_decimal(&receipt.hash()) == stored.receipt_hash,
        receipt_hash: stored.receipt_hash,
        record,
    })
}

pub(crate) fn resource(stored: &Stored) -> Resource {
    Resource {
        id: format!("tx/{}", stored.tx_id),
        participants: stored.participants.clone(),
        created_at: Some(stored.created_at),
    }
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
    let stored = load(state, &req.tx_id).await?;
    let detail = format!("justification={:?}", req.justification);
    let res = resource(&stored);
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
    responses((status = 200, body = OpenedRecord), (status = 403, body = crate::server::error::ErrorBody)))]
pub async fn access(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<AccessRequest>,
) -> Result<Json<OpenedRecord>> {
    open_record(&state, &caller, req, Action::RecordAccess, key_for).await
}

/// Open the audit-escrow copy (regulators; auditors for purpose audit), with
/// an authorization reference; confirms the record hashes to the commitment.
#[utoipa::path(post, path = "/v1/confidential/audit", tag = "confidential",
    security(("bearer" = [])), request_body = AccessRequest,
    responses((status = 200, body = OpenedRecord), (status = 403, body = crate::server::error::ErrorBody)))]
pub async fn escrow(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(req): ApiJson<AccessRequest>,
) -> Result<Json<OpenedRecord>> {
    open_record(&state, &caller, req, Action::EscrowOpen, |state, _, _| {
        state.config.escrow_key_id.clone()
    })
    .await
}
