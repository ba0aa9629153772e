//! Stored, versioned access policies. A change never overwrites: it adds a
//! version, and retiring a policy adds a retired version, so the history of
//! what was in force is kept next to the audit log.

use sqlx::Row;

use super::access::{Policy, PolicyBody};
use super::error::{Error, Result};
use zkr_store::{Db, now_unix};

/// One stored version.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PolicyVersion {
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

fn from_row(row: &sqlx::any::AnyRow) -> Result<PolicyVersion> {
    let body: String = row.try_get("body")?;
    Ok(PolicyVersion {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        retired: row.try_get::<i64, _>("retired")? != 0,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        body: serde_json::from_str(&body)
            .map_err(|e| Error::Internal(format!("stored policy is not valid: {e}")))?,
    })
}

/// Validates a policy id from a URL or body.
pub fn validate_id(id: &str) -> Result<()> {
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
pub async fn latest_all(db: &Db) -> Result<Vec<PolicyVersion>> {
    let rows = sqlx::query(
        "SELECT p.* FROM policies p \
         JOIN (SELECT id, MAX(version) AS v FROM policies GROUP BY id) m \
           ON p.id = m.id AND p.version = m.v \
         ORDER BY p.id",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The policies in force.
pub async fn active(db: &Db) -> Result<Vec<Policy>> {
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
pub async fn history(db: &Db, id: &str) -> Result<Vec<PolicyVersion>> {
    let rows = sqlx::query("SELECT * FROM policies WHERE id = $1 ORDER BY version")
        .bind(id)
        .fetch_all(&db.pool)
        .await?;
    if rows.is_empty() {
        return Err(Error::NotFound(format!("policy {id}")));
    }
    rows.iter().map(from_row).collect()
}

async fn latest_version(db: &Db, id: &str) -> Result<Option<(i64, bool)>> {
    let row = sqlx::query(
        "SELECT version, retired FROM policies WHERE id = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| Ok((r.try_get("version")?, r.try_get::<i64, _>("retired")? != 0)))
        .transpose()
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
    let result = sqlx::query(
        "INSERT INTO policies (id, version, body, retired, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(version)
    .bind(&text)
    .bind(i64::from(retired))
    .bind(created_at)
    .bind(by)
    .execute(&db.pool)
    .await;
    match result {
        Ok(_) => Ok(PolicyVersion {
            id: id.to_string(),
            version,
            retired,
            created_at,
            created_by: by.to_string(),
            body: body.clone(),
        }),
        // Two concurrent changes raced for the same version.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(Error::Conflict(format!(
            "policy {id} changed concurrently; retry"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Creates version 1 of a new policy.
pub async fn create(db: &Db, id: &str, body: &PolicyBody, by: &str) -> Result<PolicyVersion> {
    validate_id(id)?;
    body.validate()?;
    match latest_version(db, id).await? {
        Some((_, false)) => Err(Error::Conflict(format!("policy {id} exists; use PUT"))),
        Some((v, true)) => insert(db, id, v + 1, body, false, by).await,
        None => insert(db, id, 1, body, false, by).await,
    }
}

/// Adds a new version of an existing policy.
pub async fn update(db: &Db, id: &str, body: &PolicyBody, by: &str) -> Result<PolicyVersion> {
    body.validate()?;
    match latest_version(db, id).await? {
        Some((v, _)) => insert(db, id, v + 1, body, false, by).await,
        None => Err(Error::NotFound(format!("policy {id}"))),
    }
}

/// Retires a policy (a new, retired version with the last body).
pub async fn retire(db: &Db, id: &str, by: &str) -> Result<PolicyVersion> {
    let last = history(db, id)
        .await?
        .pop()
        .ok_or_else(|| Error::NotFound(format!("policy {id}")))?;
    if last.retired {
        return Err(Error::NotFound(format!("policy {id}")));
    }
    insert(db, id, last.version + 1, &last.body, true, by).await
}
