//! `proof_webhooks`: the outbox of proof-job webhooks. A job that names a
//! URL gets one delivery row, written by [`enqueue`] inside the transaction
//! that ends the job, so that no end goes unannounced after a crash or a
//! restart. Deliverers (any API node or worker) take due rows with a lease
//! ([`claim`], `FOR UPDATE SKIP LOCKED` on PostgreSQL), and only the lease
//! holder records the outcome ([`delivered`], [`failed`]), so two
//! deliverers never send one notice at once. A deliverer sends several at
//! once with a limit per destination (`host:port`): [`claim`] skips the
//! destinations it names as full. Every SQL statement on the table is here.

use sqlx::{AnyConnection, Row};

use crate::db::{Backend, Db};
use crate::error::Result;

/// A delivery row's state.
pub const PENDING: &str = "pending";
/// Delivered (the receiver answered 2xx).
pub const DELIVERED: &str = "delivered";
/// Every attempt failed; no more are made.
pub const DEAD: &str = "dead";

/// A delivery a deliverer holds the lease of, with what the notice says
/// about its job.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The job (one delivery per job).
    pub job_id: String,
    /// Where to POST.
    pub url: String,
    /// This claim is attempt number `attempts`.
    pub attempts: i64,
    /// The lease.
    pub lease_token: String,
    /// The job's final state.
    pub job_state: String,
    /// The job's circuit.
    pub circuit: String,
    /// Unix seconds the job ended.
    pub finished_at: Option<i64>,
    /// `host:port` of the URL, when recorded with the job.
    pub destination: Option<String>,
}

/// A delivery as the job's owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    /// Attempts made (or under way).
    pub attempts: i64,
    /// Why the last attempt failed (never the URL or a body).
    pub last_error: Option<String>,
    /// Milliseconds since the epoch of the next attempt, while pending.
    pub next_attempt_ms: i64,
    /// Unix seconds it was delivered.
    pub delivered_at: Option<i64>,
}

/// Writes the delivery of job `job_id` if the job names a webhook URL; run
/// it on the transaction that ends the job. `false` when the job has no
/// webhook (or its delivery exists already).
pub async fn enqueue(conn: &mut AnyConnection, job_id: &str, now_ms: i64) -> Result<bool> {
    let sql = enqueue_sql("proof_jobs WHERE id = $1", "$2");
    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(job_id)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The statement that writes a delivery for each job `jobs` (a `FROM`
/// source and condition, e.g. `proof_jobs WHERE id = $1`, of rows with
/// `id` and `webhook_url`) that names a webhook, due at `now` (a
/// parameter, milliseconds).
pub(crate) fn enqueue_sql(jobs: &str, now: &str) -> String {
    format!(
        "INSERT INTO proof_webhooks (job_id, url, destination, state, attempts, \
         next_attempt_ms, created_ms) \
         SELECT id, webhook_url, webhook_destination, 'pending', 0, {now}, {now} FROM {jobs} \
         AND webhook_url IS NOT NULL ON CONFLICT (job_id) DO NOTHING"
    )
}

/// Takes the next due delivery with a lease of `lease_ms` for `token`:
/// pending, its next attempt due, no live lease on it, and not to one of
/// the `full` destinations.
pub async fn claim(
    db: &Db,
    token: &str,
    now_ms: i64,
    lease_ms: i64,
    full: &[String],
) -> Result<Option<Delivery>> {
    // $1 token, $2 lease end, $3 now; the full destinations from $4 on.
    let skip = if full.is_empty() {
        String::new()
    } else {
        let names = (0..full.len())
            .map(|i| format!("${}", i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        format!(" AND (destination IS NULL OR destination NOT IN ({names}))")
    };
    let due = format!(
        "state = 'pending' AND next_attempt_ms <= $3 \
         AND (lease_expires_ms IS NULL OR lease_expires_ms < $3){skip}"
    );
    let lock = match db.backend {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        // One UPDATE statement holds SQLite's write lock throughout.
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE proof_webhooks SET lease_token = $1, lease_expires_ms = $2, \
         attempts = attempts + 1 \
         WHERE job_id = (SELECT job_id FROM proof_webhooks WHERE {due} \
             ORDER BY next_attempt_ms, job_id LIMIT 1 {lock}) \
         AND {due} RETURNING job_id, url, attempts, lease_token, destination"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token)
        .bind(now_ms.saturating_add(lease_ms))
        .bind(now_ms);
    for d in full {
        query = query.bind(d.as_str());
    }
    let Some(row) = query.fetch_optional(&db.pool).await? else {
        return Ok(None);
    };
    let job_id: String = row.try_get("job_id")?;
    let job = sqlx::query("SELECT state, circuit, finished_at FROM proof_jobs WHERE id = $1")
        .bind(&job_id)
        .fetch_one(&db.pool)
        .await?;
    Ok(Some(Delivery {
        job_id,
        url: row.try_get("url")?,
        attempts: row.try_get("attempts")?,
        lease_token: row.try_get("lease_token")?,
        job_state: job.try_get("state")?,
        circuit: job.try_get("circuit")?,
        finished_at: job.try_get("finished_at")?,
        destination: row.try_get("destination")?,
    }))
}

/// Hands `d` back unsent (its destination is full here): due again at
/// `at_ms`, the attempt not counted, its destination recorded so that
/// [`claim`] skips it while full.
pub async fn postpone(db: &Db, d: &Delivery, destination: &str, at_ms: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE proof_webhooks SET next_attempt_ms = $1, destination = $2, \
         attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
         lease_token = NULL, lease_expires_ms = NULL WHERE job_id = $3 AND lease_token = $4",
    )
    .bind(at_ms)
    .bind(destination)
    .bind(&d.job_id)
    .bind(&d.lease_token)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Records that `d` was delivered, if its lease is still held.
pub async fn delivered(db: &Db, d: &Delivery, now_unix: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE proof_webhooks SET state = 'delivered', delivered_at = $1, last_error = NULL, \
         lease_token = NULL, lease_expires_ms = NULL WHERE job_id = $2 AND lease_token = $3",
    )
    .bind(now_unix)
    .bind(&d.job_id)
    .bind(&d.lease_token)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Records a failed attempt of `d` (if its lease is still held): retried
/// at `retry_at_ms`, or dead when `None`.
pub async fn failed(db: &Db, d: &Delivery, error: &str, retry_at_ms: Option<i64>) -> Result<bool> {
    let (state, next) = match retry_at_ms {
        Some(at) => (PENDING, at),
        None => (DEAD, 0),
    };
    let r = sqlx::query(
        "UPDATE proof_webhooks SET state = $1, next_attempt_ms = $2, last_error = $3, \
         lease_token = NULL, lease_expires_ms = NULL WHERE job_id = $4 AND lease_token = $5",
    )
    .bind(state)
    .bind(next)
    .bind(error)
    .bind(&d.job_id)
    .bind(&d.lease_token)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The delivery of job `job_id`, if it has one yet.
pub async fn status(db: &Db, job_id: &str) -> Result<Option<Status>> {
    let row = sqlx::query(
        "SELECT state, attempts, last_error, next_attempt_ms, delivered_at \
         FROM proof_webhooks WHERE job_id = $1",
    )
    .bind(job_id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok(Status {
            state: r.try_get("state")?,
            attempts: r.try_get("attempts")?,
            last_error: r.try_get("last_error")?,
            next_attempt_ms: r.try_get("next_attempt_ms")?,
            delivered_at: r.try_get("delivered_at")?,
        })
    })
    .transpose()
}

/// Deliveries by state, for the metrics.
pub async fn count_by_state(db: &Db) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM proof_webhooks GROUP BY state")
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db_with_job(webhook: Option<&str>) -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("zkr.db").display());
        let db = Db::connect_and_migrate(&url).await.expect("migrate");
        sqlx::query(
            "INSERT INTO proof_jobs (id, circuit, kind, owner, state, created_at, webhook_url) \
             VALUES ('j1', 'range', 'proof', 'alice', 'cancelled', 1, $1)",
        )
        .bind(webhook)
        .execute(&db.pool)
        .await
        .expect("job");
        (dir, db)
    }

    #[tokio::test]
    async fn a_job_without_a_webhook_gets_no_delivery() {
        let (_dir, db) = db_with_job(None).await;
        let mut conn = db.pool.acquire().await.expect("conn");
        assert!(!enqueue(&mut conn, "j1", 5).await.expect("enqueue"));
        drop(conn);
        assert_eq!(status(&db, "j1").await.expect("status"), None);
    }

    /// A full destination's deliveries are skipped, the others taken; a
    /// postponed delivery is due again later and its attempt not counted.
    #[tokio::test]
    async fn full_destinations_are_skipped_and_postponed_ones_come_back() {
        let (_dir, db) = db_with_job(Some("http://a.example/h")).await;
        sqlx::query(
            "INSERT INTO proof_jobs (id, circuit, kind, owner, state, created_at, webhook_url, \
             webhook_destination) VALUES ('j2', 'range', 'proof', 'bob', 'cancelled', 1, \
             'http://b.example/h', 'b.example:80')",
        )
        .execute(&db.pool)
        .await
        .expect("job");
        sqlx::query("UPDATE proof_jobs SET webhook_destination = 'a.example:80' WHERE id = 'j1'")
            .execute(&db.pool)
            .await
            .expect("destination");
        let mut conn = db.pool.acquire().await.expect("conn");
        for id in ["j1", "j2"] {
            assert!(enqueue(&mut conn, id, 1_000).await.expect("enqueue"));
        }
        drop(conn);
        let full = vec!["a.example:80".to_string()];
        let b = claim(&db, "t", 1_000, 100, &full)
            .await
            .expect("claim")
            .expect("b has room");
        assert_eq!(
            (b.job_id.as_str(), b.destination.as_deref()),
            ("j2", Some("b.example:80"))
        );
        assert!(
            claim(&db, "t", 1_000, 100, &full)
                .await
                .expect("claim")
                .is_none()
        );
        let a = claim(&db, "t", 1_000, 100, &[])
            .await
            .expect("claim")
            .expect("a");
        assert_eq!((a.job_id.as_str(), a.attempts), ("j1", 1));
        assert!(delivered(&db, &b, 1).await.expect("b delivered"));
        assert!(
            postpone(&db, &a, "a.example:80", 2_000)
                .await
                .expect("postpone")
        );
        assert!(
            claim(&db, "t", 1_999, 100, &[])
                .await
                .expect("claim")
                .is_none()
        );
        let again = claim(&db, "t", 2_000, 100, &[])
            .await
            .expect("claim")
            .expect("due again");
        assert_eq!((again.job_id.as_str(), again.attempts), ("j1", 1));
    }

    /// One lease at a time; only its holder records the outcome; a retry
    /// is not due before its time; dead is final.
    #[tokio::test]
    async fn deliveries_are_leased_retried_and_die() {
        let (_dir, db) = db_with_job(Some("http://127.0.0.1:9/hook")).await;
        let mut conn = db.pool.acquire().await.expect("conn");
        assert!(enqueue(&mut conn, "j1", 1_000).await.expect("enqueue"));
        assert!(!enqueue(&mut conn, "j1", 1_000).await.expect("once"));
        drop(conn);
        assert!(
            claim(&db, "a", 999, 100, &[])
                .await
                .expect("claim")
                .is_none()
        );
        let d = claim(&db, "a", 1_000, 100, &[])
            .await
            .expect("claim")
            .expect("due");
        assert_eq!(
            (d.attempts, d.job_state.as_str(), d.url.as_str()),
            (1, "cancelled", "http://127.0.0.1:9/hook")
        );
        assert!(
            claim(&db, "b", 1_050, 100, &[])
                .await
                .expect("claim")
                .is_none()
        );
        // The lease ran out: another deliverer takes it, the first can no
        // longer record anything.
        let d2 = claim(&db, "b", 1_200, 100, &[])
            .await
            .expect("claim")
            .expect("expired lease");
        assert_eq!(d2.attempts, 2);
        assert!(!delivered(&db, &d, 1).await.expect("stale"));
        assert!(
            failed(&db, &d2, "HTTP 500", Some(5_000))
                .await
                .expect("retry")
        );
        assert!(
            claim(&db, "c", 4_999, 100, &[])
                .await
                .expect("claim")
                .is_none()
        );
        let d3 = claim(&db, "c", 5_000, 100, &[])
            .await
            .expect("claim")
            .expect("due");
        assert!(failed(&db, &d3, "HTTP 500", None).await.expect("dead"));
        assert!(
            claim(&db, "c", 99_999, 100, &[])
                .await
                .expect("claim")
                .is_none()
        );
        let s = status(&db, "j1").await.expect("status").expect("row");
        assert_eq!((s.state.as_str(), s.attempts), (DEAD, 3));
        assert_eq!(s.last_error.as_deref(), Some("HTTP 500"));
        assert_eq!(
            count_by_state(&db).await.expect("count"),
            vec![(DEAD.to_string(), 1)]
        );
    }
}
