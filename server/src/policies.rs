//! Stored, versioned access policies. A change never overwrites: it adds a
//! version, and retiring a policy adds a retired version, so the history of
//! what was in force is kept next to the audit log.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::access::{Policy, PolicyBody};
use super::announced::Announced;
use super::error::{Error, Result};
use zkr_store::policies::{self as table, PolicyRow};
use zkr_store::{Db, now_unix};

/// The policies in force, kept between requests while nothing can have
/// changed them unseen (see [`Announced`]): every change made through
/// this process says so ([`changed`](Self::changed)); on PostgreSQL every
/// node's changes are also announced on
/// [`zkr_store::policies::CHANGED_CHANNEL`]. While they cannot be kept
/// every decision reads the database.
pub(crate) struct PolicyCache {
    changes: Announced,
    kept: Mutex<Option<Kept>>,
}

struct Kept {
    generation: u64,
    at: Instant,
    policies: Arc<Vec<Policy>>,
}

impl PolicyCache {
    /// A cache that keeps what it reads once `watching` (SQLite, where
    /// this process makes every change: at once; PostgreSQL: once the
    /// listener is connected).
    pub(crate) fn new(watching: bool) -> Self {
        Self {
            changes: Announced::new(watching),
            kept: Mutex::new(None),
        }
    }

    /// The policies in force: those kept, unless a change was announced
    /// since they were read (or they are older than
    /// [`MAX_AGE`](super::announced::MAX_AGE)).
    pub(crate) async fn active(&self, db: &Db) -> Result<Arc<Vec<Policy>>> {
        let stamp = self.changes.stamp();
        if let Some(s) = stamp
            && let Ok(kept) = self.kept.lock()
            && let Some(k) = kept.as_ref()
            && k.generation == s
            && self.changes.fresh(s, k.at)
        {
            return Ok(k.policies.clone());
        }
        let at = Instant::now();
        let policies = Arc::new(active(db).await?);
        // Kept only when no change was announced while they were read.
        if let Some(s) = stamp
            && self.changes.fresh(s, at)
            && let Ok(mut kept) = self.kept.lock()
        {
            *kept = Some(Kept {
                generation: s,
                at,
                policies: policies.clone(),
            });
        }
        Ok(policies)
    }

    /// A change was made or announced: the next decision reads them again.
    pub(crate) fn changed(&self) {
        self.changes.changed();
    }

    /// Whether announcements of changes arrive (see [`Announced::watching`]).
    pub(crate) fn watching(&self, on: bool) {
        self.changes.watching(on);
    }
}

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
    cache: &PolicyCache,
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
    let stored = table::insert(db, &row).await;
    // Whatever the outcome: a failed insert may still have committed.
    cache.changed();
    if !stored? {
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
    cache: &PolicyCache,
    id: &str,
    body: &PolicyBody,
    by: &str,
) -> Result<PolicyVersion> {
    validate_id(id)?;
    body.validate()?;
    match table::latest_version(db, id).await? {
        Some((_, false)) => Err(Error::Conflict(format!("policy {id} exists; use PUT"))),
        Some((v, true)) => insert(db, cache, id, v + 1, body, false, by).await,
        None => insert(db, cache, id, 1, body, false, by).await,
    }
}

/// Adds a new version of an existing policy.
pub(crate) async fn update(
    db: &Db,
    cache: &PolicyCache,
    id: &str,
    body: &PolicyBody,
    by: &str,
) -> Result<PolicyVersion> {
    body.validate()?;
    match table::latest_version(db, id).await? {
        Some((v, _)) => insert(db, cache, id, v + 1, body, false, by).await,
        None => Err(Error::NotFound(format!("policy {id}"))),
    }
}

/// Retires a policy (a new, retired version with the last body).
pub(crate) async fn retire(
    db: &Db,
    cache: &PolicyCache,
    id: &str,
    by: &str,
) -> Result<PolicyVersion> {
    let last = history(db, id)
        .await?
        .pop()
        .ok_or_else(|| Error::NotFound(format!("policy {id}")))?;
    if last.retired {
        return Err(Error::NotFound(format!("policy {id}")));
    }
    insert(db, cache, id, last.version + 1, &last.body, true, by).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("zkr.db").display());
        let db = Db::connect_and_migrate(&url).await.expect("migrate");
        (dir, db)
    }

    /// A version stored behind the cache's back (as another node would).
    async fn store_unannounced(db: &Db, id: &str, version: i64) {
        let body = r#"{"effect":"allow","actions":["audit_read"],"principals":["ops-1"]}"#;
        let row = PolicyRow {
            id: id.into(),
            version,
            body: body.into(),
            retired: false,
            created_at: 1,
            created_by: "admin".into(),
        };
        assert!(table::insert(db, &row).await.expect("insert"));
    }

    fn ids(policies: &[Policy]) -> Vec<(String, i64)> {
        policies.iter().map(|p| (p.id.clone(), p.version)).collect()
    }

    /// Kept while watching until a change is announced; read every time
    /// while not watching; and (re)starting to watch reads again.
    #[tokio::test]
    async fn policies_are_kept_until_a_change_is_announced() {
        let (_dir, db) = db().await;
        let cache = PolicyCache::new(true);
        assert!(cache.active(&db).await.expect("read").is_empty());
        store_unannounced(&db, "p", 1).await;
        assert!(cache.active(&db).await.expect("kept").is_empty());
        cache.changed();
        assert_eq!(
            ids(&cache.active(&db).await.expect("read")),
            [("p".to_string(), 1)]
        );

        // Not watching (a lost listener): every decision reads.
        cache.watching(false);
        store_unannounced(&db, "p", 2).await;
        assert_eq!(
            ids(&cache.active(&db).await.expect("read")),
            [("p".to_string(), 2)]
        );
        store_unannounced(&db, "q", 1).await;
        assert_eq!(
            ids(&cache.active(&db).await.expect("read")).len(),
            2,
            "read again"
        );
        // Watching again: what was kept before is not trusted.
        store_unannounced(&db, "r", 1).await;
        cache.watching(true);
        assert_eq!(ids(&cache.active(&db).await.expect("read")).len(), 3);

        // A change through this process is announced by itself.
        let body: PolicyBody =
            serde_json::from_str(r#"{"effect":"deny","actions":["audit_read"]}"#).expect("body");
        update(&db, &cache, "q", &body, "admin")
            .await
            .expect("update");
        let now = cache.active(&db).await.expect("read");
        assert!(now.iter().any(|p| p.id == "q"
            && p.version == 2
            && p.body.effect == crate::access::Effect::Deny));
    }
}
