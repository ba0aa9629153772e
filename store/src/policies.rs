//! The `policies` table: every change of an access policy is a new version
//! and retiring one is a version too, so rows are only ever inserted.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Backend, Db};
use crate::error::Result;

/// One stored version of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRow {
    /// Policy id.
    pub id: String,
    /// Version, from 1.
    pub version: i64,
    /// The rule as JSON.
    pub body: String,
    /// Whether this version retires the policy.
    pub retired: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Principal who made the change.
    pub created_by: String,
}

fn from_row(row: &AnyRow) -> Result<PolicyRow> {
    Ok(PolicyRow {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        body: row.try_get("body")?,
        retired: row.try_get::<i64, _>("retired")? != 0,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
    })
}

/// The latest version of every policy (retired ones included), by id.
pub async fn latest_all(db: &Db) -> Result<Vec<PolicyRow>> {
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

/// Every version of policy `id`, oldest first (empty for an unknown id).
pub async fn history(db: &Db, id: &str) -> Result<Vec<PolicyRow>> {
    let rows = sqlx::query("SELECT * FROM policies WHERE id = $1 ORDER BY version")
        .bind(id)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// The latest version of policy `id` and whether it retired the policy.
pub async fn latest_version(db: &Db, id: &str) -> Result<Option<(i64, bool)>> {
    let row = sqlx::query(
        "SELECT version, retired FROM policies WHERE id = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| Ok((r.try_get("version")?, r.try_get::<i64, _>("retired")? != 0)))
        .transpose()
}

/// PostgreSQL channel on which a stored change of the policies is
/// announced (payload: the policy id), in the transaction that stores it.
pub const CHANGED_CHANNEL: &str = "zkr_policies_changed";

/// Stores a version, announced on [`CHANGED_CHANNEL`] on PostgreSQL.
/// `false` when that version of the policy exists already: another change
/// took it first.
pub async fn insert(db: &Db, policy: &PolicyRow) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let result = sqlx::query(
        "INSERT INTO policies (id, version, body, retired, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&policy.id)
    .bind(policy.version)
    .bind(&policy.body)
    .bind(i64::from(policy.retired))
    .bind(policy.created_at)
    .bind(&policy.created_by)
    .execute(&mut *tx)
    .await;
    match result {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    if db.backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGED_CHANNEL)
            .bind(&policy.id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, version: i64, retired: bool) -> PolicyRow {
        PolicyRow {
            id: id.into(),
            version,
            body: format!("{{\"v\":{version}}}"),
            retired,
            created_at: version,
            created_by: "admin".into(),
        }
    }

    #[tokio::test]
    async fn versions_are_only_added() {
        let (_dir, db) = crate::test_db().await;
        assert_eq!(latest_version(&db, "p").await.expect("latest"), None);
        assert!(insert(&db, &row("p", 1, false)).await.expect("v1"));
        assert!(insert(&db, &row("p", 2, true)).await.expect("v2"));
        assert!(insert(&db, &row("q", 1, false)).await.expect("q1"));
        // A second writer of the same version is told, not failed.
        assert!(!insert(&db, &row("p", 2, false)).await.expect("taken"));
        assert_eq!(
            latest_version(&db, "p").await.expect("latest"),
            Some((2, true))
        );
        assert_eq!(
            history(&db, "p").await.expect("history"),
            vec![row("p", 1, false), row("p", 2, true)]
        );
        assert_eq!(history(&db, "none").await.expect("history"), vec![]);
        assert_eq!(
            latest_all(&db).await.expect("latest_all"),
            vec![row("p", 2, true), row("q", 1, false)]
        );
    }
}
