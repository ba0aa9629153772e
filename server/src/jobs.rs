//! Proof jobs: the circuits' keys (set up on first start when missing) and
//! the job queue in the database, shared by every API node and worker.
//!
//! A job's private inputs are stored only sealed to the pool key (an X25519
//! key held under the KEK, like the escrow key); a job made from a stored
//! transaction stores only its reference. Workers (see [`crate::worker`])
//! claim jobs with a lease, renew it while proving, and store a result only
//! while they hold it: a job whose worker dies is claimed again, up to its
//! maximum of attempts, and never gets two results. Every SQL statement on
//! `proof_jobs`, `proof_workers` and `proof_circuit_keys` is in
//! `zkr_store::jobs`; this module keeps the rules.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ark_bn254::Bn254;
use ark_groth16::ProvingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::{Notify, broadcast};
use utoipa::ToSchema;
use uuid::Uuid;
use zeroize::Zeroizing;
use zkr_circuits::CircuitKind;
use zkr_keys::{Envelope, KeyStore};
use zkr_prover::Prepared;

use zkr_artifacts::{self as key_files, CircuitInfo};
use zkr_store::jobs as store;
use zkr_store::webhooks as webhooks_outbox;
use zkr_store::{Db, now_unix};

use crate::audit::{AuditLog, NewEvent};
use crate::config::ProofsConfig;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::webhooks::{self, WebhookView};

/// Every circuit the service proves and verifies.
pub(crate) const CIRCUITS: [CircuitKind; 4] = [
    CircuitKind::Range,
    CircuitKind::Membership,
    CircuitKind::Receipt,
    CircuitKind::Disclosure,
];

/// Fewest seconds without a heartbeat after which a worker is `lost`
/// (three of its heartbeat periods).
const LOST_AFTER_MIN_SECS: i64 = 15;

/// The actor of events the workers append.
pub(crate) const PROVER_ACTOR: &str = "zkr-prover";

/// The circuit's prepared matrices, cached beside its keys (the file `zkr
/// prove` writes too).
pub(crate) const PREPARED_CIRCUIT: &str = "circuit.prepared";

/// The proving keys under `dir/<circuit>/` (what `zkr setup` writes), read
/// once and kept in memory, with each circuit's prepared R1CS matrices.
pub struct CircuitKeys {
    dir: PathBuf,
    depth: usize,
    cache: Mutex<HashMap<&'static str, Arc<ProvingKey<Bn254>>>>,
    prepared: Mutex<HashMap<&'static str, Arc<Prepared>>>,
    /// The proving keys' own verifying keys, prepared, for checking each
    /// new proof.
    pvks: Mutex<HashMap<&'static str, Arc<ark_groth16::PreparedVerifyingKey<Bn254>>>>,
}

/// The value of `kind` in `map`, made by `make` and kept the first time.
fn cached<T>(
    map: &Mutex<HashMap<&'static str, Arc<T>>>,
    kind: CircuitKind,
    make: impl FnOnce() -> Result<T>,
) -> Result<Arc<T>> {
    if let Some(v) = map.lock().ok().and_then(|c| c.get(kind.name()).cloned()) {
        return Ok(v);
    }
    let v = Arc::new(make()?);
    if let Ok(mut c) = map.lock() {
        c.insert(kind.name(), v.clone());
    }
    Ok(v)
}

impl CircuitKeys {
    /// Keys under `dir`, for registries of `depth`.
    pub fn new(dir: PathBuf, depth: usize) -> Self {
        Self {
            dir,
            depth,
            cache: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashMap::new()),
            pvks: Mutex::new(HashMap::new()),
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
        cached(&self.cache, kind, || {
            let dir = self.dir_of(kind);
            if !dir.join(key_files::CIRCUIT_JSON).exists() {
                return Err(Error::Unavailable(format!(
                    "the {} circuit has no keys on this service",
                    kind.name()
                )));
            }
            let info = key_files::read_info(&dir)?;
            Ok(key_files::read_proving_key(&dir, &info)?)
        })
    }

    /// The verifying key of `kind`'s proving key, prepared once.
    pub fn prepared_vk(
        &self,
        kind: CircuitKind,
    ) -> Result<Arc<ark_groth16::PreparedVerifyingKey<Bn254>>> {
        cached(&self.pvks, kind, || {
            Ok(ark_groth16::prepare_verifying_key(
                &self.proving_key(kind)?.vk,
            ))
        })
    }

    /// The prepared matrices of `kind` (read from the cache file beside its
    /// keys, or built from the blank circuit and cached there), checked
    /// against its proving key: proving then synthesises only the witness.
    /// Built once per process. Blocking.
    pub fn prepared(&self, kind: CircuitKind) -> Result<Arc<Prepared>> {
        // Held while preparing, so that workers starting together build the
        // matrices once.
        let mut cache = self
            .prepared
            .lock()
            .map_err(|_| Error::Internal("prepared-circuit cache poisoned".into()))?;
        if let Some(p) = cache.get(kind.name()) {
            return Ok(p.clone());
        }
        let pk = self.proving_key(kind)?;
        let dir = self.dir_of(kind);
        let info = key_files::read_info(&dir)?;
        let (_, depth) = info.kind_and_depth()?;
        // Bound to the circuit, its depth and its key, as `zkr prove` binds it.
        let id = format!(
            "zkr {} {} {:?} {}",
            env!("CARGO_PKG_VERSION"),
            info.name,
            info.depth,
            info.verifying_key_sha256
        );
        let blank = kind
            .blank(depth)
            .map_err(|e| Error::Internal(format!("blank {} circuit: {e}", kind.name())))?;
        let (prepared, loaded) =
            Prepared::load_or_prepare(id.as_bytes(), &dir.join(PREPARED_CIRCUIT), &pk, blank)
                .map_err(|e| Error::Internal(format!("preparing {}: {e}", kind.name())))?;
        if let zkr_prover::keycache::Loaded::Checked { cache: Err(e) } = &loaded {
            tracing::info!(circuit = kind.name(), error = %e,
                "prepared circuit not cached on disk; it is kept in memory");
        }
        let prepared = Arc::new(prepared);
        cache.insert(kind.name(), prepared.clone());
        Ok(prepared)
    }

    /// `circuit.json` of `kind`, or `None` when this node has no keys for
    /// it. Blocking.
    pub fn info(&self, kind: CircuitKind) -> Result<Option<CircuitInfo>> {
        let dir = self.dir_of(kind);
        if !dir.join(key_files::CIRCUIT_JSON).exists() {
            return Ok(None);
        }
        Ok(Some(key_files::read_info(&dir)?))
    }

    /// The directory the keys live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker holds its lease and is proving it.
    Running,
    /// Proved; the proof is there.
    Succeeded,
    /// Could not be proved; `failure` says why.
    Failed,
    /// Cancelled by its owner.
    Cancelled,
    /// Its deadline passed before it was proved.
    Expired,
    /// The queue gave up on it: the worker of every attempt was lost
    /// (`failure.code` `lease_lost_too_often`). An admin may retry it.
    Dead,
}

/// A worker counts as live in metrics while its last heartbeat is at most
/// this old: four of the heartbeats a worker writes every 5 seconds, idle
/// or proving.
pub(crate) const LIVE_WITHIN_SECS: i64 = 20;

impl JobState {
    pub(crate) const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Expired,
        JobState::Dead,
    ];

    /// Name stored in the database and used in metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Expired => "expired",
            JobState::Dead => "dead",
        }
    }

    /// The state named `s`, if there is one.
    pub(crate) fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|j| j.as_str() == s)
    }

    fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|j| j.as_str() == s)
            .ok_or_else(|| Error::Internal(format!("stored job state {s:?}")))
    }

    /// Whether the job has ended (no worker will touch it again).
    pub(crate) fn is_terminal(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

/// A proof job as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobView {
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
    /// What the worker is doing (`witness`, `prove`, `verify`), while running.
    pub stage: Option<String>,
    /// Finer progress within the stage, when the prover reports it.
    pub progress: Option<String>,
    /// Higher runs first among its owner's jobs.
    pub priority: i64,
    /// Unix seconds after which the job expires unproved.
    pub deadline: Option<i64>,
    /// Workers that took the job so far (more than one after a lost worker).
    pub attempts: i64,
    /// The worker that ran (or runs) it.
    pub worker: Option<String>,
    /// Where the G1 multi-scalar multiplications ran (`cpu`, `opencl`), once succeeded.
    pub backend: Option<String>,
    /// Why it ended without a proof (the message of `failure`).
    pub error: Option<String>,
    /// Why it ended without a proof, when it did (failed, dead, cancelled,
    /// expired).
    pub failure: Option<Failure>,
    /// Times an admin sent it back to the queue.
    pub retries: i64,
    /// snarkjs `proof.json`, once succeeded.
    #[schema(value_type = Option<Object>)]
    pub proof: Option<serde_json::Value>,
    /// snarkjs `public.json` (decimal strings), once succeeded.
    pub public_signals: Option<Vec<String>>,
    /// Unix seconds (when it was queued).
    pub created_at: i64,
    /// Unix seconds, the latest attempt's start.
    pub started_at: Option<i64>,
    /// Unix seconds.
    pub finished_at: Option<i64>,
    /// Milliseconds the successful attempt spent proving.
    pub proving_ms: Option<i64>,
    /// The job's webhook, when it named one.
    pub webhook: Option<WebhookView>,
}

/// Why a job ended without a proof: a code for programs and a message for
/// people. Neither ever holds an input, a key or an internal detail
/// (those are logged, not stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Failure {
    /// `invalid_input` (the witness does not satisfy the circuit),
    /// `source_unavailable` (the stored transaction or registry it came
    /// from cannot be read), `key_mismatch` (the worker's keys do not
    /// prove this circuit's statements), `internal`, `deadline` (expired),
    /// `cancelled`, `lease_lost_too_often` (dead), or `unknown` (ended
    /// before codes were recorded).
    pub code: String,
    /// What happened, for people.
    pub message: String,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_string(),
            message: message.into(),
        }
    }

    fn of(code: Option<&str>, message: Option<&str>) -> Option<Self> {
        code.map(|c| Self {
            code: c.to_string(),
            message: message.unwrap_or_default().to_string(),
        })
    }
}

/// Why a worker's attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    /// The witness does not satisfy the circuit, or the input is malformed.
    InvalidInput,
    /// The stored transaction or registry the witness comes from is gone.
    SourceUnavailable,
    /// The worker's keys do not prove this circuit's statements.
    KeyMismatch,
    /// Anything else (logged in full by the worker).
    Internal,
}

impl FailureCode {
    /// The code as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::InvalidInput => "invalid_input",
            FailureCode::SourceUnavailable => "source_unavailable",
            FailureCode::KeyMismatch => "key_mismatch",
            FailureCode::Internal => "internal",
        }
    }
}

/// Reads job `id`; `None` when there is none.
pub(crate) async fn load(db: &Db, id: &Uuid) -> Result<Option<JobView>> {
    let Some(row) = store::load(db, &id.to_string()).await? else {
        return Ok(None);
    };
    let json = |text: Option<String>| -> Result<Option<serde_json::Value>> {
        text.map(|t| serde_json::from_str(&t).map_err(|e| Error::Internal(e.to_string())))
            .transpose()
    };
    let public_signals = json(row.public_signals)?
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let webhook = match row.webhook_url {
        Some(_) => Some(webhooks::view(db, &row.id).await?),
        None => None,
    };
    Ok(Some(JobView {
        job_id: row.id,
        circuit: row.circuit,
        kind: row.kind,
        owner: row.owner,
        tx_id: row.tx_id,
        state: JobState::parse(&row.state)?,
        stage: row.stage,
        progress: row.progress,
        priority: row.priority,
        deadline: row.deadline,
        attempts: row.attempts,
        worker: row.worker_id,
        backend: row.backend,
        failure: Failure::of(row.error_code.as_deref(), row.error.as_deref()),
        error: row.error,
        retries: row.retries,
        proof: json(row.proof)?,
        public_signals,
        created_at: row.created_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
        proving_ms: row.proving_ms,
        webhook,
    }))
}

/// Where a job's witness comes from.
pub enum JobInput {
    /// The circuit's `input.json`: private, so it is stored only sealed to
    /// the pool key.
    Sealed(Zeroizing<String>),
    /// A stored transaction (the job's `tx_id`): only this reference is
    /// stored, and the worker opens the transaction when it runs the job.
    Stored(StoredSource),
}

/// How a worker makes the witness of a job from a stored transaction. None
/// of it is secret: the bounds become public inputs, the key id is a
/// principal's id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StoredSource {
    /// The key the service opens the transaction with (the submitter's own
    /// custodial key, or the escrow key on the regulator's path).
    pub key_id: String,
    /// `receipt`: lower bound on the amount (decimal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_min: Option<String>,
    /// `receipt`: upper bound on the amount (decimal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_max: Option<String>,
    /// `receipt`: the miner registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// `disclosure`: the fields to disclose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclose: Option<Vec<String>>,
}

/// An `Idempotency-Key` with the digest of the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// The caller's key.
    pub key: String,
    /// SHA-256 (hex) of the request, so that a reused key with another
    /// request is refused instead of answered with the wrong job.
    pub request_sha256: String,
}

/// What a new job is.
pub struct NewJob {
    /// The circuit.
    pub circuit: CircuitKind,
    /// Its witness, sealed or by reference.
    pub input: JobInput,
    /// `proof` or `disclosure`.
    pub kind: &'static str,
    /// The submitting principal.
    pub owner: String,
    /// Source transaction, if any.
    pub tx_id: Option<Uuid>,
    /// Higher runs first among the owner's jobs.
    pub priority: i64,
    /// Unix seconds after which the job expires unproved.
    pub deadline: Option<i64>,
    /// The request's idempotency key, if it had one.
    pub idempotency: Option<Idempotency>,
    /// Told when the job ends (checked by [`crate::webhooks::Webhooks::check_url`]).
    pub webhook_url: Option<String>,
    /// The job's `queued` audit event; `submit` names the job in its resource.
    pub queued_event: NewEvent,
}

/// A submitted job: new, or the one an earlier request with the same
/// idempotency key made.
#[derive(Debug, Clone, Copy)]
pub struct Submitted {
    /// Job id.
    pub id: Uuid,
    /// The job existed already (same key, same request).
    pub replayed: bool,
}

/// A job a worker holds the lease of.
pub struct Claim {
    /// Job id.
    pub id: Uuid,
    /// The circuit.
    pub circuit: CircuitKind,
    /// Owner.
    pub owner: String,
    /// Source transaction.
    pub tx_id: Option<Uuid>,
    /// Hex envelope of the input, for sealed jobs.
    sealed_input: Option<String>,
    /// The reference, for jobs from a stored transaction.
    pub source: Option<StoredSource>,
    /// This claim is attempt number `attempts`.
    pub attempts: i64,
    /// Milliseconds the job waited since it was queued.
    pub waited_ms: i64,
    lease_token: String,
}

impl Claim {
    /// The lease this claim holds.
    pub fn lease_token(&self) -> &str {
        &self.lease_token
    }
}

/// What a worker's attempt came to.
pub enum Outcome {
    /// A proof that verifies: snarkjs proof and public JSON, the backend that
    /// ran, and how long proving took.
    Proved {
        /// snarkjs `proof.json`.
        proof: String,
        /// snarkjs `public.json`.
        public: String,
        /// The backend that ran the MSMs.
        backend: String,
        /// Milliseconds.
        proving_ms: i64,
    },
    /// It cannot be proved; the failure is safe to show to the owner.
    Failed(Failure),
}

/// Jobs the reaper ended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    /// Past their deadline.
    pub expired: u64,
    /// Their last attempt's lease expired (now dead).
    pub exhausted: u64,
}

/// Settings of the pool, from `[proofs]`.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Most queued jobs.
    pub capacity: usize,
    /// Most queued jobs per principal.
    pub per_principal: usize,
    /// Lease length, milliseconds.
    pub lease_ms: i64,
    /// Claims of one job before a lost worker fails it.
    pub max_attempts: i64,
    /// Key id of the pool key (X25519, held under the KEK).
    pub pool_key_id: String,
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
    )
    .unwrap_or(i64::MAX)
}

/// The record-AAD binding of a job's sealed input (in the envelope's
/// receipt-hash slot): the envelope opens only as the input of this job id,
/// circuit and owner, so a sealed input copied to another row is refused.
fn seal_binding(id: &Uuid, circuit: CircuitKind, owner: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"zkr/job/v1");
    h.update(id.as_bytes());
    h.update(circuit.name().as_bytes());
    h.update([0]);
    h.update(owner.as_bytes());
    h.finalize().into()
}

/// Whether a database error is a unique-constraint violation.
fn is_unique_violation(e: &Error) -> bool {
    match e {
        Error::Database(sqlx::Error::Database(d)) => {
            d.is_unique_violation() || d.message().contains("UNIQUE")
        }
        _ => false,
    }
}

/// The proof-job queue in the database, shared by every API node and worker.
pub struct Jobs {
    db: Db,
    metrics: Metrics,
    settings: Mutex<PoolSettings>,
    /// Wakes this process's workers when it queues a job (other processes'
    /// workers find it at their next poll).
    wake: Arc<Notify>,
    /// Jobs that ended, as seen by this process (its workers' results, its
    /// cancels, and on PostgreSQL every node's through LISTEN/NOTIFY).
    ended: broadcast::Sender<Uuid>,
}

impl Jobs {
    /// The queue on `db`, with the pool settings of `config`.
    pub fn new(db: Db, metrics: Metrics, config: &ProofsConfig) -> Self {
        let (ended, _) = broadcast::channel(1024);
        Self {
            db,
            metrics,
            settings: Mutex::new(PoolSettings {
                capacity: config.queue,
                per_principal: config.per_principal_limit(),
                lease_ms: i64::try_from(config.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
                max_attempts: i64::from(config.max_attempts),
                pool_key_id: config.pool_key_id.clone(),
            }),
            wake: Arc::new(Notify::new()),
            ended,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> PoolSettings {
        self.settings
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// At most `limit` queued jobs per principal (0 keeps the current limit).
    pub fn set_per_principal_limit(&self, limit: usize) {
        if limit > 0
            && let Ok(mut s) = self.settings.lock()
        {
            s.per_principal = limit;
        }
    }

    /// Changes the lease length (tests of lost workers use short leases).
    pub fn set_lease(&self, lease: Duration) {
        if let Ok(mut s) = self.settings.lock() {
            s.lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX).max(1);
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Notified when this process queues a job.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Job ids as they end.
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.ended.subscribe()
    }

    /// Tells this process's waiters (and on PostgreSQL every node's) that
    /// job `id` ended.
    async fn announce_end(&self, id: &Uuid) {
        let _ = self.ended.send(*id);
        if let Err(e) = store::notify(&self.db, store::ENDED_CHANNEL, &id.to_string()).await {
            tracing::warn!(error = %e, "cannot announce a job's end");
        }
    }

    /// Passes on a job end announced by another node.
    pub fn relay_end(&self, id: Uuid) {
        let _ = self.ended.send(id);
    }

    /// The job an earlier request of `owner` with the same idempotency key
    /// made; 422 when that request was a different one.
    pub async fn idempotent(&self, owner: &str, idem: &Idempotency) -> Result<Option<Uuid>> {
        let Some((id, stored)) = store::by_idempotency_key(&self.db, owner, &idem.key).await?
        else {
            return Ok(None);
        };
        let same =
            stored.is_some_and(|s| bool::from(s.as_bytes().ct_eq(idem.request_sha256.as_bytes())));
        if !same {
            return Err(Error::Unprocessable(
                "this Idempotency-Key was used with a different request".into(),
            ));
        }
        Uuid::parse_str(&id)
            .map(Some)
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// 503 when the queue is full, then 429 when `owner` has its share of it.
    async fn admit(&self, owner: &str) -> Result<()> {
        let s = self.settings();
        let (all, owners) = store::count_queued(&self.db.pool, owner).await?;
        let count = |n: i64| usize::try_from(n).unwrap_or(usize::MAX);
        if count(all) >= s.capacity {
            return Err(Error::QueueFull);
        }
        if count(owners) >= s.per_principal {
            return Err(Error::RateLimited {
                retry_after_secs: 5,
            });
        }
        Ok(())
    }

    /// The pool key's recipient, creating the key (under the KEK) the first
    /// time a job is sealed.
    pub(crate) async fn pool_recipient(&self, keys: &KeyStore) -> Result<zkr_keys::Recipient> {
        let key_id = self.settings().pool_key_id;
        match keys.active(&key_id).await {
            Ok(info) => return Ok(info.recipient()?),
            Err(zkr_keys::Error::UnknownKey { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if let Err(e) = keys.create_escrow_key(&key_id).await {
            // Another node may have created it meanwhile.
            tracing::debug!(error = %e, "pool key creation raced");
        }
        Ok(keys.active(&key_id).await?.recipient()?)
    }

    /// Appends the job's `queued` event, then stores the job with its input
    /// sealed; 503 when the queue is full or the event cannot be appended,
    /// 429 when its owner already has its share of the queue waiting. With
    /// an idempotency key seen before (same request), the earlier job.
    pub async fn submit(
        &self,
        job: NewJob,
        keys: &KeyStore,
        audit: &AuditLog,
    ) -> Result<Submitted> {
        if let Some(idem) = &job.idempotency
            && let Some(id) = self.idempotent(&job.owner, idem).await?
        {
            return Ok(Submitted { id, replayed: true });
        }
        // Answered before anything is written; checked again when stored.
        self.admit(&job.owner).await?;
        let id = Uuid::new_v4();
        let (sealed, source) = match &job.input {
            JobInput::Sealed(text) => {
                let recipient = self.pool_recipient(keys).await?;
                let binding = seal_binding(&id, job.circuit, &job.owner);
                let envelope = Envelope::seal(id, binding, text.as_bytes(), &[recipient])?;
                (Some(hex::encode(envelope.to_bytes()?)), None)
            }
            JobInput::Stored(source) => (
                None,
                Some(serde_json::to_string(source).map_err(|e| Error::Internal(e.to_string()))?),
            ),
        };
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
            .insert(
                id,
                &job.circuit,
                job.kind,
                &job.owner,
                job.tx_id,
                job.priority,
                job.deadline,
                job.idempotency.as_ref(),
                sealed,
                source,
                job.webhook_url.as_deref(),
            )
            .await;
        match stored {
            Ok(()) => {
                self.wake.notify_waiters();
                Ok(Submitted {
                    id,
                    replayed: false,
                })
            }
            Err(e) => {
                // The log says queued; say it did not happen after all.
                let _ = audit.append(failed).await;
                // The same key raced in from another request: answer with
                // the job that won.
                if is_unique_violation(&e)
                    && let Some(idem) = &job.idempotency
                    && let Some(id) = self.idempotent(&job.owner, idem).await?
                {
                    return Ok(Submitted { id, replayed: true });
                }
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert(
        &self,
        id: Uuid,
        circuit: &CircuitKind,
        kind: &str,
        owner: &str,
        tx_id: Option<Uuid>,
        priority: i64,
        deadline: Option<i64>,
        idem: Option<&Idempotency>,
        sealed: Option<String>,
        source: Option<String>,
        webhook_url: Option<&str>,
    ) -> Result<()> {
        let s = self.settings();
        let id = id.to_string();
        let destination = webhook_url.and_then(webhooks::destination_of);
        let row = store::NewJobRow {
            id: &id,
            circuit: circuit.name(),
            kind,
            owner,
            tx_id: tx_id.map(|t| t.to_string()),
            priority,
            deadline,
            max_attempts: s.max_attempts,
            idempotency_key: idem.map(|i| i.key.as_str()),
            request_sha256: idem.map(|i| i.request_sha256.as_str()),
            sealed_input: sealed,
            source,
            webhook_url,
            webhook_destination: destination.as_deref(),
        };
        let limit = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        match store::insert(
            &self.db,
            &row,
            limit(s.capacity),
            limit(s.per_principal),
            now_ms(),
        )
        .await?
        {
            store::Admission::Stored => Ok(()),
            store::Admission::QueueFull => Err(Error::QueueFull),
            store::Admission::OwnerFull => Err(Error::RateLimited {
                retry_after_secs: 5,
            }),
        }
    }

    /// Cancels a queued or running job; a running job's worker learns it at
    /// its next lease renewal and its result is discarded. `Ok(false)` when
    /// the job had already ended.
    pub async fn cancel(&self, id: &Uuid) -> Result<bool> {
        if !store::cancel(&self.db, &id.to_string(), now_ms()).await? {
            return Ok(false);
        }
        self.announce_end(id).await;
        Ok(true)
    }

    /// Sends failed or dead job `id` back to the queue (attempts from
    /// zero, its error cleared, its webhook to be told again); `false`
    /// when it is not such a job, its input is no longer stored or its
    /// deadline has passed.
    pub async fn retry(&self, id: &Uuid) -> Result<bool> {
        let retried = store::retry(&self.db, &id.to_string(), now_ms()).await?;
        if retried {
            self.wake.notify_waiters();
        }
        Ok(retried)
    }

    /// Whether job `id` still stores its input, sealed or by reference.
    pub async fn has_input(&self, id: &Uuid) -> Result<bool> {
        Ok(store::has_input(&self.db, &id.to_string()).await?)
    }

    /// Takes the next job among `circuits` with a lease for `worker`: a
    /// queued job, or a running one whose lease expired (its worker was
    /// lost) with attempts left. Principals take turns: a job's turn is its
    /// place among its owner's waiting jobs (by the owner's priorities, then
    /// age) plus the owner's jobs already running, so one principal's burst
    /// does not starve another; priority and age break ties.
    pub async fn claim(&self, worker: &str, circuits: &[CircuitKind]) -> Result<Option<Claim>> {
        let names: Vec<&str> = circuits.iter().map(|c| c.name()).collect();
        let now = now_ms();
        let token = Uuid::new_v4().to_string();
        let lease_ms = self.settings().lease_ms;
        let Some(row) = store::claim(&self.db, worker, &names, &token, now, lease_ms).await? else {
            return Ok(None);
        };
        let claim = Claim {
            id: Uuid::parse_str(&row.id).map_err(|e| Error::Internal(e.to_string()))?,
            circuit: CircuitKind::from_name(&row.circuit)
                .map_err(|e| Error::Internal(format!("stored circuit: {e}")))?,
            owner: row.owner,
            tx_id: row
                .tx_id
                .map(|t| Uuid::parse_str(&t))
                .transpose()
                .map_err(|e| Error::Internal(e.to_string()))?,
            sealed_input: row.sealed_input,
            source: row
                .source
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|e| Error::Internal(format!("stored job source: {e}")))?,
            attempts: row.attempts,
            waited_ms: now.saturating_sub(row.queued_ms).max(0),
            lease_token: row.lease_token,
        };
        let m = &self.metrics;
        m.queue_wait
            .with_label_values(&[claim.circuit.name()])
            .observe(claim.waited_ms as f64 / 1000.0);
        if claim.attempts > 1 {
            // Only a lost worker's expired lease brings a job back.
            m.lease_expiries.inc();
            m.retries.with_label_values(&[claim.circuit.name()]).inc();
        }
        Ok(Some(claim))
    }

    /// Renews the lease `token` on job `id` and records its stage; `false`
    /// when the lease is no longer held (the job was cancelled, expired, or
    /// taken over after this lease expired): the worker stops and discards
    /// its result.
    pub async fn renew_token(
        &self,
        id: &Uuid,
        token: &str,
        stage: &str,
        progress: Option<&str>,
    ) -> Result<bool> {
        let until = now_ms().saturating_add(self.settings().lease_ms);
        Ok(store::renew(&self.db, &id.to_string(), token, stage, progress, until).await?)
    }

    /// Hands a held job back to the queue (a worker stopping cleanly): it
    /// is claimable at once and the attempt does not count.
    pub async fn release(&self, id: &Uuid, token: &str) -> Result<bool> {
        let released = store::release(&self.db, &id.to_string(), token).await?;
        if released {
            self.wake.notify_waiters();
        }
        Ok(released)
    }

    /// Opens a sealed job input with the pool key. Checks that the envelope
    /// belongs to this job before opening it.
    pub async fn open_input(&self, claim: &Claim, keys: &KeyStore) -> Result<Zeroizing<String>> {
        let sealed = claim
            .sealed_input
            .as_deref()
            .ok_or_else(|| Error::Internal("job has no sealed input".into()))?;
        let bytes = hex::decode(sealed).map_err(|e| Error::Internal(e.to_string()))?;
        let envelope = Envelope::from_bytes(&bytes)?;
        if envelope.record.tx_id != claim.id
            || envelope.record.receipt_hash != seal_binding(&claim.id, claim.circuit, &claim.owner)
        {
            return Err(Error::Internal(
                "sealed input does not belong to this job".into(),
            ));
        }
        let key_id = self.settings().pool_key_id;
        let plain = keys.open_unstored(&envelope, &key_id).await?;
        let text = std::str::from_utf8(plain.expose())
            .map_err(|_| Error::Internal("sealed input is not UTF-8".into()))?;
        Ok(Zeroizing::new(text.to_string()))
    }

    /// Stores `outcome` if `claim` still holds the job's lease, and counts
    /// it for `worker`; `false` (result discarded) otherwise, so a job never
    /// gets two results. The sealed input is deleted with the result.
    pub async fn finish(&self, claim: &Claim, worker: &str, outcome: &Outcome) -> Result<bool> {
        let end = match outcome {
            Outcome::Proved {
                proof,
                public,
                backend,
                proving_ms,
            } => store::End::Succeeded {
                backend,
                proof,
                public,
                proving_ms: *proving_ms,
            },
            Outcome::Failed(f) => store::End::Failed {
                code: &f.code,
                message: &f.message,
            },
        };
        let id = claim.id.to_string();
        if !store::finish(&self.db, &id, &claim.lease_token, worker, end, now_ms()).await? {
            return Ok(false);
        }
        // Other nodes heard of it from the transaction itself.
        let _ = self.ended.send(claim.id);
        Ok(true)
    }

    /// Ends jobs no worker will finish: past their deadline (expired), and
    /// running ones whose last allowed attempt's lease expired (failed).
    pub async fn reap(&self) -> Result<Reaped> {
        let ended = store::reap(&self.db, now_ms()).await?;
        let count = |v: &Vec<String>| u64::try_from(v.len()).unwrap_or(0);
        if !ended.exhausted.is_empty() {
            self.metrics.lease_expiries.inc_by(count(&ended.exhausted));
        }
        for id in ended.expired.iter().chain(ended.exhausted.iter()) {
            if let Ok(id) = Uuid::parse_str(id) {
                self.announce_end(&id).await;
            }
        }
        Ok(Reaped {
            expired: count(&ended.expired),
            exhausted: count(&ended.exhausted),
        })
    }

    /// Sets the queue gauges from the database: jobs queued and running by
    /// circuit, and the total waiting.
    pub async fn sample_gauges(&self) -> Result<()> {
        let rows = store::count_active(&self.db).await?;
        let m = &self.metrics;
        for c in CIRCUITS {
            for st in [JobState::Queued, JobState::Running] {
                m.proof_jobs
                    .with_label_values(&[c.name(), st.as_str()])
                    .set(0);
            }
        }
        let mut queued = 0;
        for (circuit, state, n) in rows {
            if state == "queued" {
                queued += n;
            }
            m.proof_jobs.with_label_values(&[&circuit, &state]).set(n);
        }
        m.queue_depth.set(queued);
        for state in ["pending", "delivered", "dead"] {
            m.webhooks.with_label_values(&[state]).set(0);
        }
        for (state, n) in webhooks_outbox::count_by_state(&self.db).await? {
            m.webhooks.with_label_values(&[&state]).set(n);
        }
        let since = now_unix().saturating_sub(LIVE_WITHIN_SECS);
        let (mut cpu, mut opencl) = (0, 0);
        for w in store::workers(&self.db, since).await? {
            if w.stopped_at.is_some() {
                continue;
            }
            // One series per kind, not per device: the label stays bounded.
            if w.backend.starts_with("opencl") {
                opencl += 1;
            } else {
                cpu += 1;
            }
        }
        m.workers_live.with_label_values(&["cpu"]).set(cpu);
        m.workers_live.with_label_values(&["opencl"]).set(opencl);
        Ok(())
    }

    /// Records `vk_sha256` as the verifying key of `circuit` unless one is
    /// recorded already; returns the recorded one.
    pub async fn record_circuit_key(
        &self,
        circuit: CircuitKind,
        vk_sha256: &str,
        by: &str,
    ) -> Result<String> {
        Ok(store::record_circuit_key(&self.db, circuit.name(), vk_sha256, by, now_unix()).await?)
    }

    /// Registers a worker (or refreshes its row).
    pub async fn register_worker(&self, w: &WorkerInfo) -> Result<()> {
        Ok(store::register_worker(
            &self.db,
            &w.id,
            &w.host,
            &w.backend,
            &w.circuits,
            now_unix(),
        )
        .await?)
    }

    /// A worker's heartbeat, with the job it is on.
    pub async fn heartbeat(&self, worker: &str, current: Option<&Uuid>) -> Result<()> {
        let current = current.map(Uuid::to_string);
        Ok(store::heartbeat(&self.db, worker, current.as_deref(), now_unix()).await?)
    }

    /// Seconds without a heartbeat after which a worker that did not stop
    /// is `lost`: a job's lease (its jobs are claimed again by then), at
    /// least three heartbeat periods, so that a busy worker is not
    /// reported lost between two of its heartbeats.
    pub fn lost_after_secs(&self) -> i64 {
        (self.settings().lease_ms / 1000).max(LOST_AFTER_MIN_SECS)
    }

    /// Marks a worker stopped.
    pub async fn worker_stopped(&self, worker: &str) -> Result<()> {
        Ok(store::worker_stopped(&self.db, worker, now_unix()).await?)
    }

    /// Workers seen in the last `since_secs` seconds, newest heartbeat
    /// first, each `live`, `stopped` (it said so) or `lost` (no heartbeat
    /// for [`Jobs::lost_after_secs`]).
    pub async fn workers(&self, since_secs: i64) -> Result<Vec<WorkerView>> {
        let now = now_unix();
        let rows = store::workers(&self.db, now.saturating_sub(since_secs)).await?;
        let lost_after = self.lost_after_secs();
        Ok(rows
            .into_iter()
            .map(|r| WorkerView {
                state: WorkerState::of(r.stopped_at, r.heartbeat_at, now, lost_after),
                id: r.id,
                host: r.host,
                backend: r.backend,
                circuits: r
                    .circuits
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                started_at: r.started_at,
                heartbeat_at: r.heartbeat_at,
                stopped_at: r.stopped_at,
                jobs_succeeded: r.jobs_done,
                jobs_failed: r.jobs_failed,
                current_job: r.current_job,
            })
            .collect())
    }
}

/// A worker as it registers.
#[derive(Debug, Clone)]
pub struct WorkerInfo {
    /// Unique per process: host, process id and a random suffix.
    pub id: String,
    /// Host name.
    pub host: String,
    /// Where its MSMs run: `cpu` or `opencl:N` (an OpenCL device).
    pub backend: String,
    /// Circuits it proves, comma-separated.
    pub circuits: String,
}

/// Whether a worker is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    /// Its heartbeat is recent.
    Live,
    /// It stopped cleanly.
    Stopped,
    /// It did not stop cleanly and has written no heartbeat for longer than
    /// a job's lease (its process died or lost the database).
    Lost,
}

impl WorkerState {
    /// A worker stopped at `stopped_at`, last heard of at `heartbeat_at`,
    /// seen at `now` (Unix seconds); lost after `lost_after` seconds of
    /// silence.
    fn of(stopped_at: Option<i64>, heartbeat_at: i64, now: i64, lost_after: i64) -> Self {
        match stopped_at {
            Some(_) => WorkerState::Stopped,
            None if now.saturating_sub(heartbeat_at) > lost_after => WorkerState::Lost,
            None => WorkerState::Live,
        }
    }
}

/// A worker as `GET /v1/workers` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerView {
    /// Worker id.
    pub id: String,
    /// `live`, `stopped` (it stopped cleanly) or `lost` (no heartbeat for
    /// longer than a job's lease, at least 15 s, without stopping).
    pub state: WorkerState,
    /// Host name.
    pub host: String,
    /// Where its MSMs run: `cpu` or `opencl:N` (an OpenCL device).
    pub backend: String,
    /// Circuits it proves (those whose keys match the recorded verifying keys).
    pub circuits: Vec<String>,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds of the last heartbeat.
    pub heartbeat_at: i64,
    /// Unix seconds, when it stopped cleanly.
    pub stopped_at: Option<i64>,
    /// Jobs it proved.
    pub jobs_succeeded: i64,
    /// Jobs it failed.
    pub jobs_failed: i64,
    /// The job it is proving.
    pub current_job: Option<String>,
}
