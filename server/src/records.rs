//! Confidential records, the domain layer under the transaction, access
//! and proof routes: reading a stored record (`zkr_store::records`),
//! deciding which key opens it for a caller, and decrypting it.

use uuid::Uuid;
use zkr_circuits::Receipt;
use zkr_circuits::field::fr_to_be_bytes;
use zkr_circuits::receipt::ReceiptJson;
use zkr_keys::{ReceiptSignature, SealedRecord};
use zkr_store::records::{self as table, RecordRow};

use crate::AppState;
use crate::access::Resource;
use crate::auth::Principal;
use crate::error::{Error, Result};

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
pub(crate) async fn participant_ids(state: &AppState, ids: [String; 2]) -> Result<Vec<String>> {
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

/// A stored transaction, still sealed.
pub(crate) struct Stored {
    pub(crate) tx_id: Uuid,
    pub(crate) receipt_hash: String,
    pub(crate) record: SealedRecord,
    pub(crate) participants: Vec<String>,
    pub(crate) created_at: i64,
    /// The coordinator's signature: key id, key version, hex signature.
    pub(crate) signing_key: String,
    pub(crate) signing_version: i64,
    pub(crate) signature: String,
}

/// Reads transaction `id` (400 for a malformed id, 404 for an unknown one).
pub(crate) async fn load(state: &AppState, id: &str) -> Result<Stored> {
    let tx_id =
        Uuid::parse_str(id).map_err(|_| Error::BadRequest("tx id must be a UUID".into()))?;
    find(state, tx_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("transaction {tx_id}")))
}

/// Reads transaction `tx_id`, if it exists.
pub(crate) async fn find(state: &AppState, tx_id: Uuid) -> Result<Option<Stored>> {
    let Some(row) = table::find(&state.db, &tx_id.to_string()).await? else {
        return Ok(None);
    };
    let hash = zkr_circuits::field::parse_fr(&row.receipt_hash)
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Some(Stored {
        tx_id,
        record: SealedRecord {
            tx_id,
            receipt_hash: fr_to_be_bytes(&hash),
            nonce: decode_array(&row.nonce)?,
            ciphertext: hex::decode(&row.ciphertext).map_err(|e| Error::Internal(e.to_string()))?,
        },
        receipt_hash: row.receipt_hash,
        participants: participant_ids(state, [row.client_key, row.miner_key]).await?,
        created_at: row.created_at,
        signing_key: row.signing_key,
        signing_version: row.signing_version,
        signature: row.signature,
    }))
}

/// What [`insert`] stores: a sealed record, who it is for, and the
/// coordinator's signature of its commitment.
pub(crate) struct NewRecord<'a> {
    pub(crate) record: &'a SealedRecord,
    pub(crate) receipt_hash: &'a str,
    pub(crate) client_key: &'a str,
    pub(crate) miner_key: &'a str,
    pub(crate) escrow_key: &'a str,
    pub(crate) signature: &'a ReceiptSignature,
    pub(crate) created_at: i64,
    pub(crate) created_by: &'a str,
}

/// Stores a new transaction.
pub(crate) async fn insert(state: &AppState, new: NewRecord<'_>) -> Result<()> {
    let row = RecordRow {
        id: new.record.tx_id.to_string(),
        receipt_hash: new.receipt_hash.to_string(),
        nonce: hex::encode(new.record.nonce),
        ciphertext: hex::encode(&new.record.ciphertext),
        client_key: new.client_key.to_string(),
        miner_key: new.miner_key.to_string(),
        escrow_key: new.escrow_key.to_string(),
        signing_key: new.signature.key_id.clone(),
        signing_version: i64::from(new.signature.key_version),
        signature: hex::encode(new.signature.signature),
        created_at: new.created_at,
        created_by: new.created_by.to_string(),
    };
    Ok(table::insert(&state.db, &row).await?)
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

/// The access-control resource of a stored transaction.
pub(crate) fn resource(stored: &Stored) -> Resource {
    Resource {
        id: format!("tx/{}", stored.tx_id),
        participants: stored.participants.clone(),
        created_at: Some(stored.created_at),
    }
}
