//! Stored, versioned access policies. A change never overwrites: it adds a
//! version, and retiring a policy adds a retired version, so the history of
//! what was in force is kept next to the audit log.

use super::access::{Policy, PolicyBody};
use super::error::{Error, Result};
use zkr_store::policies::{self as table, PolicyRow};
use zkr_store::{Db, now_unix};

/// One stored version.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PolicyVersion {
    /// Policy id.
    pub id: String,
    /// Version, from 1.
    pub version: i64,
    /// Whether this version retires the policy.
    pub retired: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Principal who made the change.
    pub created_by: String,
    /// The rule.
    pub body: PolicyBody,
}

fn from_row(row: PolicyRow) -> Result<PolicyVersion> {
    Ok(PolicyVersion {
        body: serde_json::from_str(&row.body)
            .map_err(|e| Error::Internal(format!("stored policy is not valid: {e}")))?,
        id: row.id,
        version: row.version,
        retired: row.retired,
        created_at: row.created_at,
        created_by: row.created_by,
    })
}

/// Validates a policy id from a URL or body.
pub(crate) fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(
            "policy id must be 1..=64 characters of [A-Za-z0-9-_]".into(),
        ))
    }
}

/// The latest version of every policy (retired ones included).
pub(crate) async fn latest_all(db: &Db) -> Result<Vec<PolicyVersion>> {
    table::latest_all(db)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// The policies in force.
pub(crate) async fn active(db: &Db) -> Result<Vec<Policy>> {
    Ok(latest_all(db)
        .await?
        .into_iter()
        .filter(|p| !p.retired)
        .map(|p| Policy {
            id: p.id,
            version: p.version,
            body: p.body,
        })
        .collect())
}

/// Every version of one policy, oldest first.
pub(crate) async fn history(db: &Db, id: &str) -> Result<Vec<PolicyVersion>> {
    let rows = table::history(db, id).await?;
    if rows.is_empty() {
        return Err(Error::NotFound(format!("policy {id}")));
    }
    rows.into_iter().map(from_row).collect()
}

async fn insert(
    db: &Db,
    id: &str,
    version: i64,
    body: &PolicyBody,
    retired: bool,
    by: &str,
) -> Result<PolicyVersion> {
    let text = serde_json::to_string(body).map_err(|e| Error::Internal(e.to_string()))?;
    let created_at = now_unix();
    let row = PolicyRow {
        id: id.to_string(),
        version,
        body: text,
        retired,
        created_at,
        created_by: by.to_string(),
    };
    if !table::insert(db, &row).await? {
        // Two concurrent changes raced for the same version.
        return Err(Error::Conflict(format!(
            "policy {id} changed concurrently; retry"
        )));
    }
    Ok(PolicyVersion {
        id: row.id,
        version,
        retired,
        created_at,
        created_by: row.created_by,
        body: body.clone(),
    })
}

/// Creates version 1 of a new policy.
pub(crate) async fn create(
    db: &Db,
    id: &str,
    body: &PolicyBody,
    by: &str,
) -> Result<PolicyVersion> {
    validate_id(id)?;
    body.validate()?;
    match table::latest_version(db, id).await? {
        Some((_, false)) => Err(Error::Conflict(format!("policy {id} exists; use PUT"))),
        Some((v, true)) => insert(db, id, v + 1, body, false, by).await,
        None => insert(db, id, 1, body, false, by).await,
    }
}

/// Adds a new version of an existing policy.
pub(crate) async fn update(
    db: &Db,
    id: &str,
    body: &PolicyBody,
    by: &str,
) -> Result<PolicyVersion> {
    body.validate()?;
    match table::latest_version(db, id).await? {
        Some((v, _)) => insert(db, id, v + 1, body, false, by).await,
        None => Err(Error::NotFound(format!("policy {id}"))),
    }
}

/// Retires a policy (a new, retired version with the last body).
pub(crate) async fn retire(db: &Db, id: &str, by: &str) -> Result<PolicyVersion> {
    let last = history(db, id)
        .await?
        .pop()
        .ok_or_else(|| Error::NotFound(format!("policy {id}")))?;
    if last.retired {
        return Err(Error::NotFound(format!("policy {id}")));
    }
    insert(db, id, last.version + 1, &last.body, true, by).await
}
