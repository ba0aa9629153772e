//! Proof jobs: the circuits' keys (set up on first start when missing), an
//! in-process queue, and the workers that prove.
//!
//! A job's witness (the private values) lives only in memory, in the queue,
//! never in the database: a job that was queued or running when the service
//! stopped is marked failed on the next start and has to be submitted again.
//! The database holds each job's state and, once done, its proof and public
//! inputs in snarkjs JSON.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ark_bn254::Bn254;
use ark_groth16::ProvingKey;
use ark_std::rand::rngs::OsRng;
use serde::Serialize;
use sqlx::Row;
use tokio::sync::mpsc;
use utoipa::ToSchema;
use uuid::Uuid;
use zkr_circuits::{AnyCircuit, CircuitKind};
use zkr_verifier::snarkjs;

use super::audit::{AuditLog, NewEvent};
use super::error::{Error, Result};
use super::metrics::Metrics;
use zkr_artifacts::{self as key_files, CircuitInfo};
use zkr_store::{Db, now_unix};

/// Every circuit the service proves and verifies.
pub const CIRCUITS: [CircuitKind; 4] = [
    CircuitKind::Range,
    CircuitKind::Membership,
    CircuitKind::Receipt,
    CircuitKind::Disclosure,
];

/// The actor of events the workers append.
pub const PROVER_ACTOR: &str = "zkr-prover";

/// The proving keys under `dir/<circuit>/` (what `zkr setup` writes), read
/// once and kept in memory.
pub struct CircuitKeys {
    dir: PathBuf,
    depth: usize,
    cache: Mutex<HashMap<&'static str, Arc<ProvingKey<Bn254>>>>,
}

impl CircuitKeys {
    /// Keys under `dir`, for registries of `depth`.
    pub fn new(dir: PathBuf, depth: usize) -> Self {
        Self {
            dir,
            depth,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn dir_of(&self, kind: CircuitKind) -> PathBuf {
        self.dir.join(kind.name())
    }

    /// Sets up the keys of every circuit that has none (printing the
    /// development-setup warning and a progress spinner), and checks that
    /// existing keys are for this registry depth. Blocking.
    pub fn ensure(&self, setup_missing: bool) -> Result<Vec<CircuitInfo>> {
        let mut infos = Vec::new();
        for kind in CIRCUITS {
            let dir = self.dir_of(kind);
            if !dir.join(key_files::CIRCUIT_JSON).exists() {
                if !setup_missing {
                    tracing::warn!(circuit = kind.name(), dir = %dir.display(),
                        "no circuit keys; proofs of this circuit will be refused");
                    continue;
                }
                let info = key_files::setup_keys(kind, self.depth, &dir)?;
                tracing::info!(
                    circuit = kind.name(),
                    constraints = info.constraints,
                    "circuit keys set up (single-party, development only)"
                );
                infos.push(info);
                continue;
            }
            let info = key_files::read_info(&dir)?;
            let (_, depth) = info.kind_and_depth()?;
            if kind.has_depth() && depth != self.depth {
                return Err(Error::Config(format!(
                    "{}: keys are for registry depth {depth}, the service is configured for {}",
                    dir.display(),
                    self.depth
                )));
            }
            infos.push(info);
        }
        Ok(infos)
    }

    /// The proving key of `kind`. Blocking (reads and validates the file
    /// the first time).
    pub fn proving_key(&self, kind: CircuitKind) -> Result<Arc<ProvingKey<Bn254>>> {
        if let Some(pk) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(kind.name()).cloned())
        {
            return Ok(pk);
        }
        let dir = self.dir_of(kind);
        if !dir.join(key_files::CIRCUIT_JSON).exists() {
            return Err(Error::Unavailable(format!(
                "the {} circuit has no keys on this service",
                kind.name()
            )));
        }
        let info = key_files::read_info(&dir)?;
        let pk = Arc::new(key_files::read_proving_key(&dir, &info)?);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(kind.name(), pk.clone());
        }
        Ok(pk)
    }

    /// The directory the keys live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// Being proved.
    Running,
    /// Proved; the proof is there.
    Done,
    /// Could not be proved; `error` says why.
    Failed,
    /// Cancelled by its owner.
    Cancelled,
}

impl JobState {
    /// Name stored in the database and used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        [
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Failed,
            JobState::Cancelled,
        ]
        .into_iter()
        .find(|j| j.as_str() == s)
        .ok_or_else(|| Error::Internal(format!("stored job state {s:?}")))
    }
}

/// A proof job as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// Job id.
    pub job_id: String,
    /// `range`, `membership`, `receipt` or `disclosure`.
    pub circuit: String,
    /// `proof` or `disclosure`.
    pub kind: String,
    /// Who submitted it.
    pub owner: String,
    /// The transaction the witness came from, if any.
    pub tx_id: Option<String>,
    /// Current state.
    pub state: JobState,
    /// Where the G1 multi-scalar multiplications ran (`cpu`, `opencl`), once done.
    pub backend: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// snarkjs `proof.json`, once done.
    #[schema(value_type = Option<Object>)]
    pub proof: Option<serde_json::Value>,
    /// snarkjs `public.json` (decimal strings), once done.
    pub public_signals: Option<Vec<String>>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub started_at: Option<i64>,
    /// Unix seconds.
    pub finished_at: Option<i64>,
}

/// Reads job `id`; `None` when there is none.
pub async fn load(db: &Db, id: &Uuid) -> Result<Option<JobView>> {
    let Some(row) = sqlx::query("SELECT * FROM proof_jobs WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    let json = |col: &str| -> Result<Option<serde_json::Value>> {
        row.try_get::<Option<String>, _>(col)?
            .map(|t| serde_json::from_str(&t).map_err(|e| Error::Internal(e.to_string())))
            .transpose()
    };
    let public_signals = json("public_signals")?
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Some(JobView {
        job_id: row.try_get("id")?,
        circuit: row.try_get("circuit")?,
        kind: row.try_get("kind")?,
        owner: row.try_get("owner")?,
        tx_id: row.try_get("tx_id")?,
        state: JobState::parse(&row.try_get::<String, _>("state")?)?,
        backend: row.try_get("backend")?,
        error: row.try_get("error")?,
        proof: json("proof")?,
        public_signals,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    }))
}

/// What a new job is.
pub struct NewJob {
    /// The circuit with its witness.
    pub circuit: AnyCircuit,
    /// `proof` or `disclosure`.
    pub kind: &'static str,
    /// The submitting principal.
    pub owner: String,
    /// Source transaction, if any.
    pub tx_id: Option<Uuid>,
    /// The job's `queued` audit event; `submit` names the job in its resource.
    pub queued_event: NewEvent,
}

struct Queued {
    id: Uuid,
    owner: String,
    circuit: AnyCircuit,
}

/// A taken per-principal slot; given back on drop unless the job entered
/// the queue (then the worker that takes it out gives it back).
struct Slot<'a> {
    of: &'a PerPrincipal,
    owner: String,
    kept: bool,
}

impl Slot<'_> {
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.of.give_back(&self.owner);
        }
    }
}

/// Jobs each principal has in the queue, so that one principal cannot fill
/// it: a slot is taken before a job enters the queue and given back when a
/// worker takes the job out (or the job never entered).
struct PerPrincipal {
    limit: AtomicUsize,
    queued: Mutex<HashMap<String, usize>>,
}

impl PerPrincipal {
    /// Takes one of `owner`'s slots; 429 when it has none left. The slot
    /// is given back when the returned guard drops, unless it is kept.
    fn take(&self, owner: &str) -> Result<Slot<'_>> {
        let mut queued = self
            .queued
            .lock()
            .map_err(|_| Error::Internal("queue bookkeeping poisoned".into()))?;
        let n = queued.entry(owner.to_string()).or_insert(0);
        if *n >= self.limit.load(Ordering::Relaxed) {
            return Err(Error::RateLimited {
                retry_after_secs: 5,
            });
        }
        *n += 1;
        Ok(Slot {
            of: self,
            owner: owner.to_string(),
            kept: false,
        })
    }

    fn give_back(&self, owner: &str) {
        if let Ok(mut queued) = self.queued.lock()
            && let Some(n) = queued.get_mut(owner)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                queued.remove(owner);
            }
        }
    }
}

/// The queue in front of the workers.
pub struct Jobs {
    tx: mpsc::Sender<Queued>,
    rx: Mutex<Option<mpsc::Receiver<Queued>>>,
    db: Db,
    metrics: Metrics,
    configured_backend: String,
    per_principal: PerPrincipal,
}

impl Jobs {
    /// A queue holding at most `capacity` waiting jobs; no worker runs
    /// until [`Jobs::start_workers`].
    pub fn new(db: Db, metrics: Metrics, capacity: usize, configured_backend: &str) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        // Series for the configured backend from the first scrape on.
        for state in ["queued", "running", "cancelled"] {
            metrics
                .proof_jobs
                .with_label_values(&[state, configured_backend])
                .set(0);
        }
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
            db,
            metrics,
            configured_backend: configured_backend.to_string(),
            per_principal: PerPrincipal {
                limit: AtomicUsize::new(capacity),
                queued: Mutex::new(HashMap::new()),
            },
        }
    }

    /// At most `limit` queued jobs per principal (0 keeps the default, the
    /// whole queue).
    pub fn set_per_principal_limit(&self, limit: usize) {
        if limit > 0 {
            self.per_principal.limit.store(limit, Ordering::Relaxed);
        }
    }

    fn gauge(&self, state: JobState, backend: &str, delta: i64) {
        self.metrics
            .proof_jobs
            .with_label_values(&[state.as_str(), backend])
            .add(delta);
    }

    /// Marks jobs a previous run left queued or running as failed (their
    /// witnesses were only in that process's memory). Returns how many.
    pub async fn fail_interrupted(&self) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE proof_jobs SET state = 'failed', finished_at = $1, \
             error = 'the service stopped before the job finished; submit it again' \
             WHERE state IN ('queued', 'running')",
        )
        .bind(now_unix())
        .execute(&self.db.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Appends the job's `queued` event, then stores the job and queues it;
    /// 503 when the queue is full or the event cannot be appended, 429 when
    /// its owner already has its share of the queue waiting.
    pub async fn submit(&self, job: NewJob, audit: &AuditLog) -> Result<Uuid> {
        let id = Uuid::new_v4();
        let permit = self.tx.try_reserve().map_err(|_| Error::QueueFull)?;
        // A full queue is answered first; then the owner's share of it.
        let slot = self.per_principal.take(&job.owner)?;
        // A job exists only once its `queued` event is durable: a submitter
        // answered 503 has no job that runs behind its back.
        let mut event = job.queued_event;
        event.resource = format!("job/{id}");
        let failed = NewEvent {
            outcome: JobState::Failed.as_str().into(),
            detail: format!("{} not stored", event.detail),
            ..event.clone()
        };
        audit
            .append(event)
            .await
            .map_err(|_| Error::JobNotCreated)?;
        let stored = self
            .store(id, &job.circuit, job.kind, &job.owner, job.tx_id)
            .await;
        if let Err(e) = stored {
            // The log says queued; say it did not happen after all.
            let _ = audit.append(failed).await;
            return Err(e);
        }
        permit.send(Queued {
            id,
            owner: job.owner,
            circuit: job.circuit,
        });
        slot.keep();
        self.metrics.queue_depth.inc();
        self.gauge(JobState::Queued, &self.configured_backend, 1);
        Ok(id)
    }

    async fn store(
        &self,
        id: Uuid,
        circuit: &AnyCircuit,
        kind: &str,
        owner: &str,
        tx_id: Option<Uuid>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO proof_jobs (id, circuit, kind, owner, tx_id, state, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'queued', $6)",
        )
        .bind(id.to_string())
        .bind(circuit.kind().name())
        .bind(kind)
        .bind(owner)
        .bind(tx_id.map(|t| t.to_string()))
        .bind(now_unix())
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Cancels a queued or running job. A running proof cannot be
    /// interrupted; its result is thrown away. `Ok(false)` when the job had
    /// already ended.
    pub async fn cancel(&self, id: &Uuid) -> Result<bool> {
        // One state at a time, so that the gauges move from the state the
        // job really left even if a worker picks it up meanwhile.
        for from in [JobState::Queued, JobState::Running] {
            let r = sqlx::query(
                "UPDATE proof_jobs SET state = 'cancelled', finished_at = $1 \
                 WHERE id = $2 AND state = $3",
            )
            .bind(now_unix())
            .bind(id.to_string())
            .bind(from.as_str())
            .execute(&self.db.pool)
            .await?;
            if r.rows_affected() == 0 {
                continue;
            }
            // A running job's worker takes it off the running gauge when it
            // finishes; a queued one never reaches a worker's books.
            if from == JobState::Queued {
                self.gauge(JobState::Queued, &self.configured_backend, -1);
            }
            self.gauge(JobState::Cancelled, &self.configured_backend, 1);
            return Ok(true);
        }
        Ok(false)
    }

    /// Starts `n` workers proving with `keys` on `backend`; each appends a
    /// `proof_job` event when its job ends. They stop when the returned
    /// handles are aborted or the queue is dropped.
    pub fn start_workers(
        self: &Arc<Self>,
        n: usize,
        keys: Arc<CircuitKeys>,
        backend: zkr_prover::Backend,
        audit: AuditLog,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        if n == 0 {
            // A paused pool: jobs queue up until workers start.
            return Vec::new();
        }
        let Some(rx) = self.rx.lock().ok().and_then(|mut r| r.take()) else {
            return Vec::new();
        };
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        (0..n)
            .map(|_| {
                let jobs = self.clone();
                let rx = rx.clone();
                let keys = keys.clone();
                let audit = audit.clone();
                tokio::spawn(async move {
                    loop {
                        let next = rx.lock().await.recv().await;
                        let Some(job) = next else { break };
                        jobs.metrics.queue_depth.dec();
                        jobs.per_principal.give_back(&job.owner);
                        if let Err(e) = jobs.run_one(job, &keys, backend, &audit).await {
                            tracing::error!(error = %e, "proof job bookkeeping failed");
                        }
                    }
                })
            })
            .collect()
    }

    async fn run_one(
        &self,
        job: Queued,
        keys: &Arc<CircuitKeys>,
        backend: zkr_prover::Backend,
        audit: &AuditLog,
    ) -> Result<()> {
        // The row is the truth: a job cancelled while queued is no longer
        // 'queued', one cancelled while running no longer 'running'.
        let id = job.id;
        let started = sqlx::query(
            "UPDATE proof_jobs SET state = 'running', started_at = $1 WHERE id = $2 AND state = 'queued'",
        )
        .bind(now_unix())
        .bind(id.to_string())
        .execute(&self.db.pool)
        .await?;
        if started.rows_affected() == 0 {
            return Ok(());
        }
        let configured = self.configured_backend.clone();
        self.gauge(JobState::Queued, &configured, -1);
        self.gauge(JobState::Running, &configured, 1);
        let circuit_name = job.circuit.kind().name();
        let keys = keys.clone();
        let circuit = job.circuit;
        let outcome = tokio::task::spawn_blocking(move || -> Result<_> {
            let pk = keys.proving_key(circuit.kind())?;
            let public = circuit.public_inputs();
            let proved = zkr_prover::prove_reporting(&pk, circuit, &mut OsRng, backend)
                .map_err(|e| Error::Unprocessable(format!("proving failed: {e}")))?;
            // A proof that does not verify under its own key is never handed out.
            let ok = zkr_verifier::verify(&pk.vk, &proved.proof, &public)
                .map_err(|e| Error::Internal(e.to_string()))?;
            if !ok {
                return Err(Error::Internal("the new proof does not verify".into()));
            }
            let proof = serde_json::to_string(&snarkjs::ProofJson::from_proof(&proved.proof))
                .map_err(|e| Error::Internal(e.to_string()))?;
            let public = serde_json::to_string(&snarkjs::public_json(&public))
                .map_err(|e| Error::Internal(e.to_string()))?;
            Ok((proof, public, proved.ran.to_string()))
        })
        .await
        .map_err(|e| Error::Internal(format!("prover task: {e}")))
        .and_then(|r| r);
        self.gauge(JobState::Running, &configured, -1);
        let (ended, state, backend_ran, detail) = match outcome {
            Ok((proof, public, ran)) => {
                let r = sqlx::query(
                    "UPDATE proof_jobs SET state = 'done', backend = $1, proof = $2, public_signals = $3, \
                     finished_at = $4 WHERE id = $5 AND state = 'running'",
                )
                .bind(&ran)
                .bind(proof)
                .bind(public)
                .bind(now_unix())
                .bind(id.to_string())
                .execute(&self.db.pool)
                .await?;
                (
                    r.rows_affected(),
                    JobState::Done,
                    ran.clone(),
                    format!("circuit={circuit_name} backend={ran}"),
                )
            }
            Err(e) => {
                // Internal errors are logged in full and stored generically.
                let message = match &e {
                    Error::Internal(m) => {
                        tracing::error!(job = %id, error = %m, "proof job failed");
                        "internal error while proving".to_string()
                    }
                    other => other.to_string(),
                };
                let r = sqlx::query(
                    "UPDATE proof_jobs SET state = 'failed', error = $1, finished_at = $2 \
                     WHERE id = $3 AND state = 'running'",
                )
                .bind(&message)
                .bind(now_unix())
                .bind(id.to_string())
                .execute(&self.db.pool)
                .await?;
                (
                    r.rows_affected(),
                    JobState::Failed,
                    configured.clone(),
                    format!("circuit={circuit_name} error={message}"),
                )
            }
        };
        if ended == 0 {
            // Cancelled while it ran: the owner's DELETE moved the row.
            return Ok(());
        }
        self.gauge(state, &backend_ran, 1);
        audit
            .append(NewEvent {
                actor: PROVER_ACTOR.into(),
                roles: "system".into(),
                action: "proof_job".into(),
                resource: format!("job/{id}"),
                purpose: "-".into(),
                outcome: state.as_str().into(),
                detail,
            })
            .await?;
        Ok(())
    }
}
