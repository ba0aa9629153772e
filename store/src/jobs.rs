//! `proof_jobs`, `proof_workers` and `proof_circuit_keys`: the prover
//! pool's queue, its workers and the verifying key each circuit's jobs are
//! proved for. Every SQL statement on these tables is here; the service's
//! `jobs` module keeps the rules (sealing, admission, metrics, audit).
//!
//! Workers claim a job with a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, one conditional `UPDATE` on SQLite), renew it while proving,
//! and store a result only while they still hold it. A job's end and its
//! webhook delivery ([`crate::webhooks::enqueue`]) are written in one
//! transaction.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::db::{Backend, Db, WriteLock};
use crate::error::Result;
use crate::webhooks;

/// A job row as its owner sees it (JSON columns as text).
#[derive(Debug, Clone)]
pub struct JobRow {
    /// Job id.
    pub id: String,
    /// Circuit name.
    pub circuit: String,
    /// `proof` or `disclosure`.
    pub kind: String,
    /// Submitting principal.
    pub owner: String,
    /// Source transaction.
    pub tx_id: Option<String>,
    /// State name.
    pub state: String,
    /// Stage while running.
    pub stage: Option<String>,
    /// Progress within the stage.
    pub progress: Option<String>,
    /// Priority among its owner's jobs.
    pub priority: i64,
    /// Unix seconds after which it expires.
    pub deadline: Option<i64>,
    /// Claims so far.
    pub attempts: i64,
    /// The worker that ran it.
    pub worker_id: Option<String>,
    /// The MSM backend that ran it.
    pub backend: Option<String>,
    /// Why it ended without a proof, for people.
    pub error: Option<String>,
    /// Why it ended without a proof, as a code.
    pub error_code: Option<String>,
    /// Times an admin sent it back to the queue.
    pub retries: i64,
    /// snarkjs `proof.json` text.
    pub proof: Option<String>,
    /// snarkjs `public.json` text.
    pub public_signals: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub started_at: Option<i64>,
    /// Unix seconds.
    pub finished_at: Option<i64>,
    /// Milliseconds proving took.
    pub proving_ms: Option<i64>,
    /// Its webhook, if any.
    pub webhook_url: Option<String>,
}

/// Reads job `id`.
pub async fn load(db: &Db, id: &str) -> Result<Option<JobRow>> {
    let row = sqlx::query(
        "SELECT id, circuit, kind, owner, tx_id, state, stage, progress, priority, deadline, \
         attempts, worker_id, backend, error, error_code, retries, proof, public_signals, \
         created_at, started_at, finished_at, proving_ms, webhook_url FROM proof_jobs \
         WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(JobRow {
        id: r.try_get("id")?,
        circuit: r.try_get("circuit")?,
        kind: r.try_get("kind")?,
        owner: r.try_get("owner")?,
        tx_id: r.try_get("tx_id")?,
        state: r.try_get("state")?,
        stage: r.try_get("stage")?,
        progress: r.try_get("progress")?,
        priority: r.try_get("priority")?,
        deadline: r.try_get("deadline")?,
        attempts: r.try_get("attempts")?,
        worker_id: r.try_get("worker_id")?,
        backend: r.try_get("backend")?,
        error: r.try_get("error")?,
        error_code: r.try_get("error_code")?,
        retries: r.try_get("retries")?,
        proof: r.try_get("proof")?,
        public_signals: r.try_get("public_signals")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        proving_ms: r.try_get("proving_ms")?,
        webhook_url: r.try_get("webhook_url")?,
    }))
}

/// PostgreSQL `NOTIFY` on `channel` with `payload` (a no-op on SQLite).
pub async fn notify(db: &Db, channel: &str, payload: &str) -> Result<()> {
    if db.backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}

/// The job `owner` made with idempotency key `key`: its id and the digest
/// of the request that made it.
pub async fn by_idempotency_key(
    db: &Db,
    owner: &str,
    key: &str,
) -> Result<Option<(String, Option<String>)>> {
    let row = sqlx::query(
        "SELECT id, request_sha256 FROM proof_jobs WHERE owner = $1 AND idempotency_key = $2",
    )
    .bind(owner)
    .bind(key)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| Ok((r.try_get("id")?, r.try_get("request_sha256")?)))
        .transpose()
}

/// Queued jobs of everyone, and of `owner`, in one query.
pub async fn count_queued<'e, E>(exec: E, owner: &str) -> Result<(i64, i64)>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN owner = $1 THEN 1 ELSE 0 END), 0) \
         FROM proof_jobs WHERE state = 'queued'",
    )
    .bind(owner)
    .fetch_one(exec)
    .await?)
}

/// A job to store.
#[derive(Debug)]
pub struct NewJobRow<'a> {
    /// Job id.
    pub id: &'a str,
    /// Circuit name.
    pub circuit: &'a str,
    /// `proof` or `disclosure`.
    pub kind: &'a str,
    /// Submitting principal.
    pub owner: &'a str,
    /// Source transaction.
    pub tx_id: Option<String>,
    /// Priority among its owner's jobs.
    pub priority: i64,
    /// Unix seconds after which it expires.
    pub deadline: Option<i64>,
    /// Claims before a lost worker fails it.
    pub max_attempts: i64,
    /// Idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// Digest of the request that came with the key.
    pub request_sha256: Option<&'a str>,
    /// Hex envelope of the sealed input.
    pub sealed_input: Option<String>,
    /// JSON reference to a stored transaction.
    pub source: Option<String>,
    /// Webhook URL.
    pub webhook_url: Option<&'a str>,
    /// Its `host:port`, for the per-destination delivery limit.
    pub webhook_destination: Option<&'a str>,
}

/// What [`insert`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Stored.
    Stored,
    /// The queue holds `capacity` jobs already.
    QueueFull,
    /// Its owner has `per_principal` jobs waiting already.
    OwnerFull,
}

/// Stores `job` as queued, unless the queue or its owner's share is full:
/// counted and decided under one lock (an advisory lock on PostgreSQL,
/// the write lock on SQLite), so that API nodes together never queue more
/// than the limits.
pub async fn insert(
    db: &Db,
    job: &NewJobRow<'_>,
    capacity: i64,
    per_principal: i64,
    now_ms: i64,
) -> Result<Admission> {
    let mut tx = db.begin_locked(WriteLock::JobAdmission).await?;
    let (queued, mine) = count_queued(&mut *tx, job.owner).await?;
    if queued >= capacity {
        return Ok(Admission::QueueFull);
    }
    if mine >= per_principal {
        return Ok(Admission::OwnerFull);
    }
    sqlx::query(
        "INSERT INTO proof_jobs (id, circuit, kind, owner, tx_id, state, created_at, queued_ms, \
         priority, deadline, max_attempts, idempotency_key, request_sha256, sealed_input, source, \
         webhook_url, webhook_destination) \
         VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16)",
    )
    .bind(job.id)
    .bind(job.circuit)
    .bind(job.kind)
    .bind(job.owner)
    .bind(job.tx_id.clone())
    .bind(now_ms / 1000)
    .bind(now_ms)
    .bind(job.priority)
    .bind(job.deadline)
    .bind(job.max_attempts)
    .bind(job.idempotency_key)
    .bind(job.request_sha256)
    .bind(job.sealed_input.clone())
    .bind(job.source.clone())
    .bind(job.webhook_url)
    .bind(job.webhook_destination)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Admission::Stored)
}

/// Cancels job `id` if it is queued or running, with its webhook delivery;
/// `false` when it had already ended.
pub async fn cancel(db: &Db, id: &str, now_ms: i64) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let r = sqlx::query(
        "UPDATE proof_jobs SET state = 'cancelled', finished_at = $1, lease_token = NULL, \
         sealed_input = NULL, error_code = 'cancelled', \
         error = 'the job was cancelled before it was proved' \
         WHERE id = $2 AND state IN ('queued', 'running')",
    )
    .bind(now_ms / 1000)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    webhooks::enqueue(&mut tx, id, now_ms).await?;
    tx.commit().await?;
    Ok(true)
}

/// A job a worker took, with its lease.
#[derive(Debug, Clone)]
pub struct ClaimRow {
    /// Job id.
    pub id: String,
    /// Circuit name.
    pub circuit: String,
    /// Owner.
    pub owner: String,
    /// Source transaction.
    pub tx_id: Option<String>,
    /// Hex envelope of the sealed input.
    pub sealed_input: Option<String>,
    /// JSON reference to a stored transaction.
    pub source: Option<String>,
    /// This claim's attempt number.
    pub attempts: i64,
    /// Milliseconds since the epoch when it was queued.
    pub queued_ms: i64,
    /// The lease.
    pub lease_token: String,
}

/// Takes the next job among `circuits` for `worker` with lease `token`
/// until `now_ms + lease_ms`: a queued job, or a running one whose lease
/// expired with attempts left, before its deadline. Principals take turns:
/// a job's turn is its place among its owner's waiting jobs (by priority,
/// then age) plus the owner's jobs running, so one principal's burst does
/// not starve another; priority and age break ties.
pub async fn claim(
    db: &Db,
    worker: &str,
    circuits: &[&str],
    token: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Option<ClaimRow>> {
    if circuits.is_empty() {
        return Ok(None);
    }
    // $1 now (ms), $2 now (s), $3 worker, $4 token, $5 lease end; the
    // circuit names are bound from $6 on.
    let names = (0..circuits.len())
        .map(|i| format!("${}", i + 6))
        .collect::<Vec<_>>()
        .join(", ");
    let claimable = |t: &str| {
        format!(
            "({t}.state = 'queued' OR ({t}.state = 'running' AND {t}.lease_expires_ms < $1)) \
             AND {t}.attempts < {t}.max_attempts \
             AND ({t}.deadline IS NULL OR {t}.deadline > $2) AND {t}.circuit IN ({names})"
        )
    };
    let lock = match db.backend {
        Backend::Postgres => "FOR UPDATE OF c SKIP LOCKED",
        // One UPDATE statement holds SQLite's write lock throughout.
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE proof_jobs SET state = 'running', worker_id = $3, lease_token = $4, \
         lease_expires_ms = $5, attempts = attempts + 1, started_at = $2, stage = 'claimed', \
         progress = NULL \
         WHERE id = (SELECT c.id FROM proof_jobs c JOIN (\
             SELECT q.id, ROW_NUMBER() OVER (PARTITION BY q.owner \
                 ORDER BY q.priority DESC, q.queued_ms, q.id) \
               + (SELECT COUNT(*) FROM proof_jobs r WHERE r.owner = q.owner \
                  AND r.state = 'running' AND r.lease_expires_ms >= $1) AS turn \
             FROM proof_jobs q WHERE {q}) t ON t.id = c.id \
           WHERE {c} ORDER BY t.turn, c.priority DESC, c.queued_ms, c.id LIMIT 1 {lock}) \
         AND {u} \
         RETURNING id, circuit, owner, tx_id, sealed_input, source, attempts, queued_ms, \
         lease_token",
        q = claimable("q"),
        c = claimable("c"),
        u = claimable("proof_jobs"),
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now_ms)
        .bind(now_ms / 1000)
        .bind(worker)
        .bind(token)
        .bind(now_ms.saturating_add(lease_ms));
    for c in circuits {
        query = query.bind(*c);
    }
    let Some(row) = query.fetch_optional(&db.pool).await? else {
        return Ok(None);
    };
    Ok(Some(ClaimRow {
        id: row.try_get("id")?,
        circuit: row.try_get("circuit")?,
        owner: row.try_get("owner")?,
        tx_id: row.try_get("tx_id")?,
        sealed_input: row.try_get("sealed_input")?,
        source: row.try_get("source")?,
        attempts: row.try_get("attempts")?,
        queued_ms: row.try_get("queued_ms")?,
        lease_token: row.try_get("lease_token")?,
    }))
}

/// Extends lease `token` on job `id` to `until_ms` and records the stage;
/// `false` when the lease is no longer held.
pub async fn renew(
    db: &Db,
    id: &str,
    token: &str,
    stage: &str,
    progress: Option<&str>,
    until_ms: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE proof_jobs SET lease_expires_ms = $1, stage = $2, progress = $3 \
         WHERE id = $4 AND lease_token = $5 AND state = 'running'",
    )
    .bind(until_ms)
    .bind(stage)
    .bind(progress)
    .bind(id)
    .bind(token)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Hands held job `id` back to the queue without counting the attempt.
pub async fn release(db: &Db, id: &str, token: &str) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE proof_jobs SET state = 'queued', lease_token = NULL, lease_expires_ms = NULL, \
         worker_id = NULL, stage = NULL, progress = NULL, \
         attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END \
         WHERE id = $1 AND lease_token = $2 AND state = 'running'",
    )
    .bind(id)
    .bind(token)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy)]
pub enum End<'a> {
    /// Proved.
    Succeeded {
        /// The MSM backend that ran.
        backend: &'a str,
        /// snarkjs `proof.json`.
        proof: &'a str,
        /// snarkjs `public.json`.
        public: &'a str,
        /// Milliseconds.
        proving_ms: i64,
    },
    /// Failed, with a code and a message for the owner.
    Failed {
        /// Why, as a code.
        code: &'a str,
        /// Why, for people.
        message: &'a str,
    },
}

/// PostgreSQL channel on which a job's end is announced (its id), for
/// the long-polls of every node.
pub const ENDED_CHANNEL: &str = "zkr_proof_jobs_ended";

/// Stores the end of job `id` if lease `token` still holds it, all or
/// nothing with its webhook delivery, the count of `worker`'s jobs and (on
/// PostgreSQL, where all of it is one statement) the announcement on
/// [`ENDED_CHANNEL`], which listeners get once it commits; the sealed
/// input is deleted once it succeeded. `false` (nothing written) when the
/// lease was lost.
pub async fn finish(
    db: &Db,
    id: &str,
    token: &str,
    worker: &str,
    end: End<'_>,
    now_ms: i64,
) -> Result<bool> {
    let now = now_ms / 1000;
    // The end's own values are $1..; the job's id and lease follow, `$n`
    // and `$n+1`, then (PostgreSQL) the worker, the time and the channel.
    // A failed job keeps its sealed input, so that an admin can send it
    // back to the queue ([`retry`]).
    let (set, n, counter) = match end {
        End::Succeeded { .. } => (
            "state = 'succeeded', backend = $1, proof = $2, public_signals = $3, \
             finished_at = $4, proving_ms = $5, sealed_input = NULL",
            6,
            "jobs_done",
        ),
        End::Failed { .. } => (
            "state = 'failed', error_code = $1, error = $2, finished_at = $3",
            4,
            "jobs_failed",
        ),
    };
    let update = format!(
        "UPDATE proof_jobs SET {set}, stage = NULL, progress = NULL, lease_token = NULL \
         WHERE id = ${n} AND lease_token = ${} AND state = 'running' \
         RETURNING id, webhook_url, webhook_destination",
        n + 1
    );
    let count = |worker: &str, when: &str| {
        format!(
            "UPDATE proof_workers SET {counter} = {counter} + 1, current_job = NULL \
             WHERE id = {worker}{when}"
        )
    };
    let sql = match db.backend {
        // One statement: its parts see one snapshot and commit together,
        // and the announcement is sent when it commits.
        Backend::Postgres => format!(
            "WITH ended AS ({update}), \
             counted AS ({}), \
             hooked AS ({}), \
             notified AS (SELECT pg_notify(${}, id) FROM ended) \
             SELECT ended.id FROM ended, notified",
            count(&format!("${}", n + 2), " AND EXISTS (SELECT 1 FROM ended)"),
            webhooks::enqueue_sql("ended WHERE TRUE", &format!("${}", n + 3)),
            n + 4
        ),
        Backend::Sqlite => update,
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    query = match end {
        End::Succeeded {
            backend,
            proof,
            public,
            proving_ms,
        } => query
            .bind(backend)
            .bind(proof)
            .bind(public)
            .bind(now)
            .bind(proving_ms),
        End::Failed { code, message } => query.bind(code).bind(message).bind(now),
    }
    .bind(id)
    .bind(token);
    if db.backend == Backend::Postgres {
        let ended = query
            .bind(worker)
            .bind(now_ms)
            .bind(ENDED_CHANNEL)
            .fetch_optional(&db.pool)
            .await?;
        return Ok(ended.is_some());
    }
    let mut tx = db.begin_write().await?;
    let Some(ended) = query.fetch_optional(&mut *tx).await? else {
        return Ok(false);
    };
    // The webhook's delivery is written with the job's end: both or neither.
    let webhook: Option<String> = ended.try_get("webhook_url")?;
    if webhook.is_some() {
        webhooks::enqueue(&mut tx, id, now_ms).await?;
    }
    sqlx::query(sqlx::AssertSqlSafe(count("$1", "")))
        .bind(worker)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Jobs [`reap`] ended, by id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReapedIds {
    /// Past their deadline (now `expired`).
    pub expired: Vec<String>,
    /// Their last allowed attempt's lease expired (now `dead`).
    pub exhausted: Vec<String>,
}

/// Ends jobs no worker will finish, with their webhook deliveries: past
/// their deadline, and running ones whose last allowed attempt's lease
/// expired.
pub async fn reap(db: &Db, now_ms: i64) -> Result<ReapedIds> {
    let ids = |rows: Vec<AnyRow>| -> Result<Vec<String>> {
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("id")?))
            .collect()
    };
    let mut tx = db.begin_write().await?;
    let expired = ids(sqlx::query(
        "UPDATE proof_jobs SET state = 'expired', finished_at = $1, lease_token = NULL, \
         sealed_input = NULL, error_code = 'deadline', \
         error = 'the deadline passed before the job was proved' \
         WHERE state IN ('queued', 'running') AND deadline IS NOT NULL AND deadline <= $1 \
         RETURNING id",
    )
    .bind(now_ms / 1000)
    .fetch_all(&mut *tx)
    .await?)?;
    let exhausted = ids(sqlx::query(
        "UPDATE proof_jobs SET state = 'dead', finished_at = $1, lease_token = NULL, \
         error_code = 'lease_lost_too_often', \
         error = 'the worker proving it was lost on every attempt' \
         WHERE state = 'running' AND lease_expires_ms < $2 AND attempts >= max_attempts \
         RETURNING id",
    )
    .bind(now_ms / 1000)
    .bind(now_ms)
    .fetch_all(&mut *tx)
    .await?)?;
    for id in expired.iter().chain(exhausted.iter()) {
        webhooks::enqueue(&mut tx, id, now_ms).await?;
    }
    tx.commit().await?;
    Ok(ReapedIds { expired, exhausted })
}

/// Which jobs [`list`] returns: every condition given must hold.
#[derive(Debug, Default, Clone)]
pub struct ListFilter<'a> {
    /// This state only.
    pub state: Option<&'a str>,
    /// This circuit only.
    pub circuit: Option<&'a str>,
    /// This owner's jobs only.
    pub owner: Option<&'a str>,
    /// Created at or after (Unix seconds).
    pub created_after: Option<i64>,
    /// Created before (Unix seconds).
    pub created_before: Option<i64>,
    /// Keyset paging: only jobs after this `(created_at, id)` in the
    /// listing's order (newest first), i.e. the last row of the page before.
    pub after: Option<(i64, &'a str)>,
    /// Most rows.
    pub limit: i64,
}

/// A job as a listing shows it: no proof, no input.
#[derive(Debug, Clone)]
pub struct JobSummaryRow {
    /// Job id.
    pub id: String,
    /// Circuit name.
    pub circuit: String,
    /// `proof` or `disclosure`.
    pub kind: String,
    /// Submitting principal.
    pub owner: String,
    /// State name.
    pub state: String,
    /// Claims so far.
    pub attempts: i64,
    /// Times an admin sent it back to the queue.
    pub retries: i64,
    /// The worker that ran it.
    pub worker_id: Option<String>,
    /// Why it ended without a proof, as a code.
    pub error_code: Option<String>,
    /// Why it ended without a proof, for people.
    pub error: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub finished_at: Option<i64>,
}

/// Jobs matching `f`, newest first (`created_at`, then id, both
/// descending), at most `f.limit`.
pub async fn list(db: &Db, f: &ListFilter<'_>) -> Result<Vec<JobSummaryRow>> {
    let mut conditions: Vec<String> = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if f.state.is_some() {
        conditions.push(format!("state = {}", next()));
    }
    if f.circuit.is_some() {
        conditions.push(format!("circuit = {}", next()));
    }
    if f.owner.is_some() {
        conditions.push(format!("owner = {}", next()));
    }
    if f.created_after.is_some() {
        conditions.push(format!("created_at >= {}", next()));
    }
    if f.created_before.is_some() {
        conditions.push(format!("created_at < {}", next()));
    }
    if f.after.is_some() {
        let (t, t2, id) = (next(), next(), next());
        conditions.push(format!(
            "(created_at < {t} OR (created_at = {t2} AND id < {id}))"
        ));
    }
    let limit = next();
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT id, circuit, kind, owner, state, attempts, retries, worker_id, error_code, \
         error, created_at, finished_at FROM proof_jobs {filter} \
         ORDER BY created_at DESC, id DESC LIMIT {limit}"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in [f.state, f.circuit, f.owner].into_iter().flatten() {
        q = q.bind(v);
    }
    for v in [f.created_after, f.created_before].into_iter().flatten() {
        q = q.bind(v);
    }
    if let Some((t, id)) = f.after {
        q = q.bind(t).bind(t).bind(id);
    }
    let rows = q.bind(f.limit).fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| {
            Ok(JobSummaryRow {
                id: r.try_get("id")?,
                circuit: r.try_get("circuit")?,
                kind: r.try_get("kind")?,
                owner: r.try_get("owner")?,
                state: r.try_get("state")?,
                attempts: r.try_get("attempts")?,
                retries: r.try_get("retries")?,
                worker_id: r.try_get("worker_id")?,
                error_code: r.try_get("error_code")?,
                error: r.try_get("error")?,
                created_at: r.try_get("created_at")?,
                finished_at: r.try_get("finished_at")?,
            })
        })
        .collect()
}

/// Sends failed or dead job `id` back to the queue as a fresh job (no
/// attempts, no error), if its input is still stored and its deadline, if
/// any, has not passed; its webhook delivery is dropped so that its next
/// end is announced. `false` when it is not such a job (nothing changed).
pub async fn retry(db: &Db, id: &str, now_ms: i64) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let r = sqlx::query(
        "UPDATE proof_jobs SET state = 'queued', attempts = 0, retries = retries + 1, \
         error = NULL, error_code = NULL, finished_at = NULL, started_at = NULL, \
         worker_id = NULL, backend = NULL, lease_token = NULL, lease_expires_ms = NULL, \
         stage = NULL, progress = NULL, queued_ms = $1 \
         WHERE id = $2 AND state IN ('failed', 'dead') \
         AND (sealed_input IS NOT NULL OR source IS NOT NULL) \
         AND (deadline IS NULL OR deadline > $3)",
    )
    .bind(now_ms)
    .bind(id)
    .bind(now_ms / 1000)
    .execute(&mut *tx)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM proof_webhooks WHERE job_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Whether job `id` still stores its input (sealed, or a reference).
pub async fn has_input(db: &Db, id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM proof_jobs WHERE id = $1 \
         AND (sealed_input IS NOT NULL OR source IS NOT NULL)",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await?;
    Ok(n > 0)
}

/// Queued and running jobs by circuit and state.
pub async fn count_active(db: &Db) -> Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT circuit, state, COUNT(*) AS n FROM proof_jobs \
         WHERE state IN ('queued', 'running') GROUP BY circuit, state",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("circuit")?, r.try_get("state")?, r.try_get("n")?)))
        .collect()
}

/// Records `vk_sha256` for `circuit` unless one is recorded; the recorded one.
pub async fn record_circuit_key(
    db: &Db,
    circuit: &str,
    vk_sha256: &str,
    by: &str,
    now: i64,
) -> Result<String> {
    sqlx::query(
        "INSERT INTO proof_circuit_keys (circuit, vk_sha256, recorded_at, recorded_by) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (circuit) DO NOTHING",
    )
    .bind(circuit)
    .bind(vk_sha256)
    .bind(now)
    .bind(by)
    .execute(&db.pool)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT vk_sha256 FROM proof_circuit_keys WHERE circuit = $1")
            .bind(circuit)
            .fetch_one(&db.pool)
            .await?,
    )
}

/// A circuit's recorded key, without its files.
#[derive(Debug, Clone)]
pub struct CircuitKeyRow {
    /// Circuit name.
    pub circuit: String,
    /// SHA-256 of the verifying key every job of the circuit is proved for, hex.
    pub vk_sha256: String,
    /// Unix seconds.
    pub recorded_at: i64,
    /// The node that recorded it.
    pub recorded_by: String,
    /// Whether the key files are stored too (not in rows recorded before
    /// they were, until a node with matching keys fills them in).
    pub has_files: bool,
}

/// The recorded circuit keys, by circuit name.
pub async fn circuit_keys(db: &Db) -> Result<Vec<CircuitKeyRow>> {
    let rows = sqlx::query(
        "SELECT circuit, vk_sha256, recorded_at, recorded_by, \
         CAST(CASE WHEN proving_key IS NULL OR circuit_json IS NULL THEN 0 ELSE 1 END AS BIGINT) \
         AS has_files FROM proof_circuit_keys ORDER BY circuit",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CircuitKeyRow {
                circuit: r.try_get("circuit")?,
                vk_sha256: r.try_get("vk_sha256")?,
                recorded_at: r.try_get("recorded_at")?,
                recorded_by: r.try_get("recorded_by")?,
                has_files: r.try_get::<i64, _>("has_files")? != 0,
            })
        })
        .collect()
}

/// A circuit's key files as the pool stores them.
#[derive(Debug, Clone)]
pub struct CircuitKeyFiles {
    /// SHA-256 of the verifying key, hex, as recorded.
    pub vk_sha256: String,
    /// The key directory's `circuit.json`.
    pub circuit_json: String,
    /// The key directory's `proving_key.bin` (arkworks compressed).
    pub proving_key: Vec<u8>,
}

/// Records `files` as the keys of `circuit` unless a key is recorded
/// already; stores the files beside a recorded hash that has none and
/// matches. Returns the recorded hash.
pub async fn record_circuit_key_files(
    db: &Db,
    circuit: &str,
    files: &CircuitKeyFiles,
    by: &str,
    now: i64,
) -> Result<String> {
    sqlx::query(
        "INSERT INTO proof_circuit_keys \
         (circuit, vk_sha256, recorded_at, recorded_by, circuit_json, proving_key) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (circuit) DO NOTHING",
    )
    .bind(circuit)
    .bind(&files.vk_sha256)
    .bind(now)
    .bind(by)
    .bind(&files.circuit_json)
    .bind(files.proving_key.clone())
    .execute(&db.pool)
    .await?;
    sqlx::query(
        "UPDATE proof_circuit_keys SET circuit_json = $1, proving_key = $2 \
         WHERE circuit = $3 AND LOWER(vk_sha256) = LOWER($4) \
         AND (proving_key IS NULL OR circuit_json IS NULL)",
    )
    .bind(&files.circuit_json)
    .bind(files.proving_key.clone())
    .bind(circuit)
    .bind(&files.vk_sha256)
    .execute(&db.pool)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT vk_sha256 FROM proof_circuit_keys WHERE circuit = $1")
            .bind(circuit)
            .fetch_one(&db.pool)
            .await?,
    )
}

/// The stored key files of `circuit`, if the pool has them.
pub async fn circuit_key_files(db: &Db, circuit: &str) -> Result<Option<CircuitKeyFiles>> {
    let row = sqlx::query(
        "SELECT vk_sha256, circuit_json, proving_key FROM proof_circuit_keys \
         WHERE circuit = $1 AND circuit_json IS NOT NULL AND proving_key IS NOT NULL",
    )
    .bind(circuit)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok(CircuitKeyFiles {
            vk_sha256: r.try_get("vk_sha256")?,
            circuit_json: r.try_get("circuit_json")?,
            proving_key: r.try_get("proving_key")?,
        })
    })
    .transpose()
}

#[cfg(test)]
mod circuit_key_tests {
    use super::*;

    /// The first key recorded is the pool's; its files come back byte for
    /// byte, and a row recorded with the hash alone gets the matching
    /// files, never another key's.
    #[tokio::test]
    async fn circuit_key_files_round_trip() {
        let (_dir, db) = crate::test_db().await;
        let files = |sha: &str, byte: u8| CircuitKeyFiles {
            vk_sha256: sha.into(),
            circuit_json: format!("{{\"sha\":\"{sha}\"}}"),
            proving_key: vec![byte; 3000],
        };
        let first = record_circuit_key_files(&db, "range", &files("aa", 1), "api", 5).await;
        assert_eq!(first.expect("record"), "aa");
        let other = record_circuit_key_files(&db, "range", &files("bb", 2), "w", 6).await;
        assert_eq!(other.expect("kept"), "aa");
        let stored = circuit_key_files(&db, "range").await.expect("read");
        let stored = stored.expect("files");
        assert_eq!(
            (stored.vk_sha256.as_str(), stored.proving_key[0]),
            ("aa", 1)
        );
        assert_eq!(stored.proving_key.len(), 3000);

        record_circuit_key(&db, "receipt", "cc", "old-node", 7)
            .await
            .expect("hash only");
        assert!(
            circuit_key_files(&db, "receipt")
                .await
                .expect("read")
                .is_none()
        );
        let rows = circuit_keys(&db).await.expect("rows");
        let receipt = rows.iter().find(|r| r.circuit == "receipt").expect("row");
        assert!(!receipt.has_files);
        record_circuit_key_files(&db, "receipt", &files("dd", 3), "api", 8)
            .await
            .expect("not these");
        assert!(
            circuit_key_files(&db, "receipt")
                .await
                .expect("read")
                .is_none()
        );
        record_circuit_key_files(&db, "receipt", &files("CC", 4), "api", 9)
            .await
            .expect("these");
        let rows = circuit_keys(&db).await.expect("rows");
        assert!(rows.iter().all(|r| r.has_files), "{rows:?}");
        let receipt = rows.iter().find(|r| r.circuit == "receipt").expect("row");
        assert_eq!(receipt.recorded_by, "old-node");
    }
}

/// A worker row.
#[derive(Debug, Clone)]
pub struct WorkerRow {
    /// Worker id.
    pub id: String,
    /// Host name.
    pub host: String,
    /// Where its MSMs run: `cpu` or `opencl:N` (an OpenCL device).
    pub backend: String,
    /// Circuits, comma-separated.
    pub circuits: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds.
    pub heartbeat_at: i64,
    /// Unix seconds.
    pub stopped_at: Option<i64>,
    /// Jobs proved.
    pub jobs_done: i64,
    /// Jobs failed.
    pub jobs_failed: i64,
    /// The job it is on.
    pub current_job: Option<String>,
}

/// Registers a worker.
pub async fn register_worker(
    db: &Db,
    id: &str,
    host: &str,
    backend: &str,
    circuits: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO proof_workers (id, host, backend, circuits, started_at, heartbeat_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(id)
    .bind(host)
    .bind(backend)
    .bind(circuits)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A worker's heartbeat, with the job it is on.
pub async fn heartbeat(db: &Db, worker: &str, current: Option<&str>, now: i64) -> Result<()> {
    sqlx::query("UPDATE proof_workers SET heartbeat_at = $1, current_job = $2 WHERE id = $3")
        .bind(now)
        .bind(current)
        .bind(worker)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Marks a worker stopped.
pub async fn worker_stopped(db: &Db, worker: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE proof_workers SET stopped_at = $1, current_job = NULL WHERE id = $2")
        .bind(now)
        .bind(worker)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Workers with a heartbeat at or after `since`, newest first.
pub async fn workers(db: &Db, since: i64) -> Result<Vec<WorkerRow>> {
    let rows = sqlx::query(
        "SELECT id, host, backend, circuits, started_at, heartbeat_at, stopped_at, jobs_done, \
         jobs_failed, current_job FROM proof_workers WHERE heartbeat_at >= $1 \
         ORDER BY heartbeat_at DESC, id",
    )
    .bind(since)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(WorkerRow {
                id: r.try_get("id")?,
                host: r.try_get("host")?,
                backend: r.try_get("backend")?,
                circuits: r.try_get("circuits")?,
                started_at: r.try_get("started_at")?,
                heartbeat_at: r.try_get("heartbeat_at")?,
                stopped_at: r.try_get("stopped_at")?,
                jobs_done: r.try_get("jobs_done")?,
                jobs_failed: r.try_get("jobs_failed")?,
                current_job: r.try_get("current_job")?,
            })
        })
        .collect()
}
