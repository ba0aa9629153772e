//! Prover workers: each claims a job from the database with a lease,
//! renews the lease while it proves, and stores the result only while it
//! still holds the lease (see [`crate::jobs::Jobs`]). `zkr serve` runs
//! `proofs.workers` of them beside the API; `zkr worker` runs only them,
//! on any machine that reaches the database and has the pool's KEK (the
//! circuit keys come from the database).

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ark_bn254::Fr;
use ark_std::UniformRand;
use ark_std::rand::rngs::OsRng;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;
use zkr_circuits::{AnyCircuit, CircuitKind};
use zkr_prover::{Phase, ProveObserver, throughput};
use zkr_verifier::snarkjs;

use crate::AppState;
use crate::audit::NewEvent;
use crate::config::Workers;
use crate::error::{Error, Result};
use crate::jobs::{
    CIRCUITS, CircuitKeys, Claim, Failure, FailureCode, JobState, Outcome, PROVER_ACTOR, WorkerInfo,
};
use crate::routes::proofs::{circuit_of_input, circuit_of_source};
use crate::slots::{Slot, Slots};

/// How often a node's reaper (deadlines, exhausted attempts) runs.
const REAP_EVERY: Duration = Duration::from_secs(1);
/// How long a stopping pool waits for its workers to end by themselves
/// before it cuts short those still proving.
const STOP_GRACE: Duration = Duration::from_millis(1500);
/// How often an idle worker writes its heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// Longest time between a proving worker's lease checks: a cancelled job's
/// proof stops at the first phase boundary after this.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Watches a job's proof: stops it before its next phase once the job's
/// lease is lost (cancelled, expired, taken over), and keeps the phase it
/// is in for the job's progress.
#[derive(Debug, Default)]
pub(crate) struct JobObserver {
    stop: AtomicBool,
    phase: Mutex<Option<Phase>>,
}

impl JobObserver {
    /// Stops the proof before its next phase.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Whether the proof was told to stop.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// The phase the proof is in, as `name k/n`.
    pub(crate) fn progress(&self) -> Option<String> {
        let phase = (*self.phase.lock().ok()?)?;
        let k = Phase::ALL.iter().position(|p| *p == phase)? + 1;
        Some(format!("{} {k}/{}", phase.name(), Phase::ALL.len()))
    }
}

impl ProveObserver for JobObserver {
    fn begin(&self, phase: Phase) -> ControlFlow<()> {
        if self.stopped() {
            return ControlFlow::Break(());
        }
        if let Ok(mut p) = self.phase.lock() {
            *p = Some(phase);
        }
        ControlFlow::Continue(())
    }
}

/// This machine's name, for worker ids and `GET /v1/workers`.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// The circuits this node may prove: those it has keys for whose verifying
/// key is the one recorded in the database (recorded by the API node at
/// start, see [`crate::pool_identity`], which also refuses to start a node
/// whose keys differ). A circuit whose keys differ is refused here too,
/// with an error naming both hashes: its proofs would not verify for
/// anyone else.
pub async fn usable_circuits(state: &AppState, node: &str) -> Result<Vec<CircuitKind>> {
    let mut usable = Vec::new();
    for kind in CIRCUITS {
        let keys = state.circuit_keys.clone();
        let info = tokio::task::spawn_blocking(move || keys.info(kind))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        let Some(info) = info else { continue };
        let recorded = state
            .jobs
            .record_circuit_key(kind, &info.verifying_key_sha256, node)
            .await?;
        if recorded.eq_ignore_ascii_case(&info.verifying_key_sha256) {
            usable.push(kind);
        } else {
            tracing::error!(
                circuit = kind.name(),
                local = %info.verifying_key_sha256,
                recorded = %recorded,
                "refusing the circuit: this node's keys are not the ones the database records \
                 (copy the circuit keys of the other nodes here)"
            );
        }
    }
    Ok(usable)
}

/// Running workers; [`Pool::stop`] ends them and hands their jobs back.
pub struct Pool {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    /// Ends the jobs no worker will finish, once per node.
    reaper: Option<JoinHandle<()>>,
    /// Claims in progress, so that a stopping node can hand them back.
    held: Arc<Mutex<Vec<(Uuid, String)>>>,
    /// Outcomes being stored, which a stopping node waits for.
    settling: Arc<Mutex<Vec<JoinHandle<()>>>>,
    state: AppState,
}

impl Pool {
    /// No workers.
    pub fn none(state: &AppState) -> Self {
        let (stop, _) = watch::channel(false);
        Self {
            stop,
            handles: Vec::new(),
            reaper: None,
            held: Arc::new(Mutex::new(Vec::new())),
            settling: Arc::new(Mutex::new(Vec::new())),
            state: state.clone(),
        }
    }

    /// Starts the workers proving `circuits`: one per OpenCL device that
    /// `proofs.backend` asks for (see [`zkr_prover::device_slots`]) and
    /// CPU workers (see [`plan`]), each proving in its own rayon pool of
    /// its share of the cores.
    pub async fn start(state: &AppState, n: Workers, circuits: Vec<CircuitKind>) -> Result<Self> {
        let mut pool = Self::none(state);
        if n == Workers::Count(0) {
            return Ok(pool);
        }
        let choice = state.config.proof_backend();
        // Opening the devices builds the MSM program for each: blocking,
        // and not done at all for the CPU.
        let devices = if choice == zkr_prover::Backend::Cpu {
            Vec::new()
        } else {
            tokio::task::spawn_blocking(zkr_prover::devices)
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
        };
        let device_slots = zkr_prover::device_slots(choice, &devices);
        if choice == zkr_prover::Backend::OpenCl && device_slots.is_empty() {
            tracing::warn!(
                "proofs.backend is opencl but no OpenCL device opened; the workers prove on the CPU"
            );
        }
        let (measured, clear) = match n {
            Workers::Count(_) => (0, false),
            Workers::Auto => {
                let keys = state.circuit_keys.clone();
                let of = circuits.clone();
                let measured = tokio::task::spawn_blocking(move || choose_workers(&keys, &of))
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))
                    .and_then(|r| r);
                match measured {
                    Ok(Some(c)) => (c.parallel, c.clear()),
                    Ok(None) => (1, false),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot measure the best number of workers; running one");
                        (1, false)
                    }
                }
            }
        };
        let (backends, threads) = plan(n, measured, &device_slots);
        let slots = proving_slots(n, measured, clear, &backends, &state.metrics.proofs_at_once);
        let host = host_name();
        let names = circuits
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(",");
        for (backend, slots) in backends.into_iter().zip(slots) {
            let simple = Uuid::new_v4().simple().to_string();
            // Workers sharing slots prove on the slot's threads.
            let rayon = match slots {
                Some(_) => None,
                None => Some(Arc::new(
                    throughput::pool(threads, &format!("zkr-prove-{}", &simple[..8]))
                        .map_err(|e| Error::Internal(e.to_string()))?,
                )),
            };
            let threads = slots.as_ref().map_or(threads, |s| s.threads_now());
            let info = WorkerInfo {
                id: format!("{host}-{}-{}", std::process::id(), &simple[..8]),
                host: host.clone(),
                backend: backend.to_string(),
                circuits: names.clone(),
            };
            state.jobs.register_worker(&info).await?;
            let device = devices
                .iter()
                .find(|d| d.backend == backend)
                .map_or("", |d| d.name.as_str());
            tracing::info!(worker = %info.id, circuits = %names, %backend, device, threads,
                "prover worker started");
            let worker = Worker {
                state: state.clone(),
                id: info.id,
                backend,
                rayon,
                slots,
                circuits: circuits.clone(),
                stop: pool.stop.subscribe(),
                held: pool.held.clone(),
                settling: pool.settling.clone(),
                // Registering wrote the first heartbeat.
                beat: Arc::new(Mutex::new(Instant::now())),
            };
            pool.handles.push(tokio::spawn(worker.run()));
        }
        pool.reaper = Some(tokio::spawn(reap(state.clone(), pool.stop.subscribe())));
        Ok(pool)
    }

    /// How many workers run.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether none runs.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Stops the workers and requeues the jobs they held (without counting
    /// the attempt), so that a restart does not wait for their leases.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        // An idle worker ends by itself at once, and so does one whose
        // claim is in flight: a claim cannot be called back once sent (on
        // SQLite it runs on the connection's own thread), so the worker
        // hands back a job it claims after the stop. A worker that is
        // proving is cut short here and its job handed back below.
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        if let Some(reaper) = self.reaper {
            let _ = reaper.await;
        }
        for mut h in self.handles {
            if tokio::time::timeout_at(deadline, &mut h).await.is_err() {
                h.abort();
                let _ = h.await;
            }
        }
        let held = self
            .held
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        for (id, token) in held {
            hand_back(&self.state.jobs, &id, &token).await;
        }
        let settling = self
            .settling
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        for h in settling {
            let _ = h.await;
        }
    }
}

/// Each worker's backend, and the threads each proves on, given the
/// devices that get a worker each (`devices`, in order):
/// - `Count(n)`: `n` workers in all, the first devices first, CPU workers
///   for the rest; each on `1/n` of the cores;
/// - `Auto`, where `measured` proofs at once on the CPU proved most per
///   second at startup: a worker per device, each on `1/measured` of the
///   cores, and one CPU worker more than the most proofs at once the
///   node may choose (the cores), sharing [`Slots`]: as many of them
///   prove at once as the node has measured best (`measured` to start
///   with), and one more readies the next job (its claim and input from
///   the database) while the cores prove, so that they are not idle
///   between jobs, without one proof more time-sliced onto them. The
///   other CPU workers wait for a ticket before they claim.
///
/// A device worker's MSMs run on its device; its other work (the witness,
/// the FFTs, the G2 MSM) and proofs of circuits under
/// `proofs.device_min_constraints` run on its CPU threads.
fn plan(
    n: Workers,
    measured: usize,
    devices: &[zkr_prover::Backend],
) -> (Vec<zkr_prover::Backend>, usize) {
    let cpu = zkr_prover::Backend::Cpu;
    match n {
        Workers::Count(n) => {
            let on_devices = n.min(devices.len());
            let mut all = devices[..on_devices].to_vec();
            all.resize(n, cpu);
            (all, throughput::threads_each(n))
        }
        Workers::Auto => {
            let most = throughput::parallelisms().last().copied().unwrap_or(1);
            let mut all = devices.to_vec();
            all.resize(devices.len() + most + 1, cpu);
            (all, throughput::threads_each(measured.max(1)))
        }
    }
}

/// The proving slots each worker of `backends` (as [`plan`] made them)
/// waits for. Under `auto` the CPU workers share one [`Slots`], which
/// starts at `measured` proofs at once (`clear`: the startup measurement
/// found that clearly best) and keeps measuring: the extra worker claims
/// and opens the next job while the others prove and starts it the
/// moment one of them ends, instead of proving beside them on cores they
/// already fill. Device workers, and workers of a set number, prove
/// without waiting, each on its own threads.
fn proving_slots(
    n: Workers,
    measured: usize,
    clear: bool,
    backends: &[zkr_prover::Backend],
    at_once: &prometheus::IntGauge,
) -> Vec<Option<Arc<Slots>>> {
    let shared = match n {
        Workers::Auto => Some(Arc::new(Slots::new(
            throughput::parallelisms(),
            measured.max(1),
            clear,
            throughput::cores(),
            Some(at_once.clone()),
        ))),
        Workers::Count(_) => None,
    };
    backends
        .iter()
        .map(|b| match b {
            zkr_prover::Backend::Cpu => shared.clone(),
            _ => None,
        })
        .collect()
}

/// How many proofs at once prove most per second on this machine: a
/// sample of the largest of `circuits` (the one whose choice matters most
/// for memory and latency) is proved with 1, 2, 4, .., cores at once, from
/// its prepared matrices on the CPU. `None` when there is nothing to
/// measure (no circuit, one core). Blocking: a few seconds.
pub(crate) fn choose_workers(
    keys: &CircuitKeys,
    circuits: &[CircuitKind],
) -> Result<Option<throughput::Choice>> {
    let ks = throughput::parallelisms();
    if ks.len() < 2 {
        return Ok(None);
    }
    let mut largest: Option<(CircuitKind, usize, usize)> = None;
    for kind in circuits {
        let Some(info) = keys.info(*kind)? else {
            continue;
        };
        let (_, depth) = info
            .kind_and_depth()
            .map_err(|e| Error::Internal(e.to_string()))?;
        if largest.is_none_or(|(_, _, c)| info.constraints > c) {
            largest = Some((*kind, depth, info.constraints));
        }
    }
    let Some((kind, depth, constraints)) = largest else {
        return Ok(None);
    };
    let pk = keys.proving_key(kind)?;
    let prepared = keys.prepared(kind)?;
    let sample = zkr_circuits::sample::instance(kind, depth, &mut OsRng)
        .map_err(|e| Error::Internal(format!("sample {} instance: {e}", kind.name())))?;
    let started = Instant::now();
    let choice = throughput::choose_for(&prepared, &pk, &sample, &ks, 2 * throughput::cores())
        .map_err(|e| Error::Internal(format!("measuring workers: {e}")))?;
    tracing::info!(
        circuit = kind.name(),
        constraints,
        workers = choice.parallel,
        proofs_per_s = format!("{:.1}", choice.per_s),
        tried = ?choice.tried,
        ms = started.elapsed().as_millis() as u64,
        "measured the best number of proofs at once"
    );
    Ok(Some(choice))
}

struct Worker {
    state: AppState,
    id: String,
    /// Where this worker's MSMs run: the CPU, or one OpenCL device.
    backend: zkr_prover::Backend,
    /// The threads this worker's proofs run on, unless it shares `slots`.
    rayon: Option<Arc<rayon::ThreadPool>>,
    /// Proving slots shared with the other CPU workers under `auto` (see
    /// [`plan`]): a slot's threads prove.
    slots: Option<Arc<Slots>>,
    circuits: Vec<CircuitKind>,
    stop: watch::Receiver<bool>,
    held: Arc<Mutex<Vec<(Uuid, String)>>>,
    settling: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// When this worker last wrote its heartbeat, idle or proving.
    beat: Arc<Mutex<Instant>>,
}

/// Hands a claimed job back to the queue (without counting the attempt);
/// a failure is logged, and the job's lease then runs out instead.
async fn hand_back(jobs: &crate::jobs::Jobs, id: &Uuid, token: &str) {
    if let Err(e) = jobs.release(id, token).await {
        tracing::warn!(job = %id, error = %e, "cannot hand a job back");
    }
}

/// Whether a heartbeat is due (at most one per [`HEARTBEAT_EVERY`] per
/// worker, whether it is idle or proving, however short its jobs are);
/// when it is, the time is taken.
fn beat_due(beat: &Mutex<Instant>) -> bool {
    let Ok(mut last) = beat.lock() else {
        return true;
    };
    if last.elapsed() < HEARTBEAT_EVERY {
        return false;
    }
    *last = Instant::now();
    true
}

impl Worker {
    async fn run(mut self) {
        let jobs = self.state.jobs.clone();
        let wake = jobs.wake();
        let poll = Duration::from_millis(self.state.config.proofs.poll_ms);
        loop {
            if *self.stop.borrow() {
                break;
            }
            if beat_due(&self.beat)
                && let Err(e) = jobs.heartbeat(&self.id, None).await
            {
                tracing::warn!(error = %e, "worker heartbeat failed");
            }
            // Under `auto`, leave to hold a job: the heartbeat is kept
            // while waiting for it.
            let _ticket = match &self.slots {
                Some(slots) => tokio::select! {
                    t = slots.ticket() => Some(t),
                    () = tokio::time::sleep(HEARTBEAT_EVERY) => continue,
                    // A dropped pool (closed channel) ends its workers.
                    r = self.stop.changed() => if r.is_err() { break } else { continue },
                },
                None => None,
            };
            // Registered before the claim, so that a job queued between an
            // empty claim and the wait still wakes this worker.
            let notified = wake.notified();
            match jobs.claim(&self.id, &self.circuits).await {
                Ok(Some(claim)) if *self.stop.borrow() => {
                    // Claimed while the pool stops: handed straight back.
                    hand_back(&jobs, &claim.id, claim.lease_token()).await;
                    break;
                }
                Ok(Some(claim)) => {
                    self.hold(&claim, true);
                    let claim = Arc::new(claim);
                    match self.run_one(&claim).await {
                        Ok(Some(outcome)) => {
                            // The job's end, its count and its audit event
                            // are written while this worker claims the next
                            // job: their database round trips no longer
                            // leave the cores idle between proofs. A
                            // stopping pool waits for them.
                            let (state, worker) = (self.state.clone(), self.id.clone());
                            let settled = claim.clone();
                            let handle = tokio::spawn(async move {
                                if let Err(e) = settle(&state, &worker, &settled, outcome).await {
                                    tracing::error!(job = %settled.id, error = %e,
                                        "proof job bookkeeping failed");
                                }
                            });
                            if let Ok(mut pending) = self.settling.lock() {
                                pending.retain(|h| !h.is_finished());
                                pending.push(handle);
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(job = %claim.id, error = %e, "proof job bookkeeping failed");
                        }
                    }
                    self.hold(&claim, false);
                }
                Ok(None) => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep(poll) => {}
                        r = self.stop.changed() => if r.is_err() { break },
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim a proof job");
                    tokio::time::sleep(poll).await;
                }
            }
        }
        if let Err(e) = jobs.worker_stopped(&self.id).await {
            tracing::warn!(error = %e, "cannot mark the worker stopped");
        }
    }

    fn hold(&self, claim: &Claim, on: bool) {
        if let Ok(mut held) = self.held.lock() {
            if on {
                held.push((claim.id, claim.lease_token().to_string()));
            } else {
                held.retain(|(id, _)| *id != claim.id);
            }
        }
    }

    /// The witness of a claimed job.
    async fn circuit(&self, claim: &Claim) -> Result<AnyCircuit> {
        match (&claim.source, claim.tx_id) {
            (Some(source), Some(tx_id)) => {
                circuit_of_source(&self.state, claim.circuit, &tx_id, source).await
            }
            _ => {
                let text = self
                    .state
                    .jobs
                    .open_input(claim, self.state.key_store()?)
                    .await?;
                circuit_of_input(&self.state, claim.circuit, text).await
            }
        }
    }

    /// Proves a claimed job; `Some` outcome to be stored (by [`settle`]),
    /// `None` when there is nothing to store (lease lost, passing trouble:
    /// the job is claimed again).
    async fn run_one(&self, claim: &Claim) -> Result<Option<Outcome>> {
        let jobs = &self.state.jobs;
        let stage = Arc::new(Mutex::new("witness"));
        let observer = Arc::new(JobObserver::default());
        // Renews the lease (at least every second, so that a cancel stops
        // the proof soon) while the job runs; a lost lease (cancelled,
        // expired, taken over) stops the proof at its next phase. The
        // claim itself set the lease and the stage, so the first renewal
        // waits a period: a job shorter than that costs no renewal.
        let renewer = {
            let jobs = jobs.clone();
            let stage = stage.clone();
            let observer = observer.clone();
            let every = Duration::from_millis(
                u64::try_from(jobs.settings().lease_ms / 3)
                    .unwrap_or(1000)
                    .max(50),
            )
            .min(CHECK_EVERY);
            let claim_id = claim.id;
            let token = claim.lease_token().to_string();
            let worker = self.id.clone();
            let beat = self.beat.clone();
            tokio::spawn(async move {
                loop {
                    if beat_due(&beat) {
                        let _ = jobs.heartbeat(&worker, Some(&claim_id)).await;
                    }
                    tokio::time::sleep(every).await;
                    let now = stage.lock().map(|s| *s).unwrap_or("prove");
                    let progress = observer.progress();
                    match jobs
                        .renew_token(&claim_id, &token, now, progress.as_deref())
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => {
                            observer.stop();
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(job = %claim_id, error = %e, "lease renewal failed")
                        }
                    }
                }
            })
        };
        let started = Instant::now();
        let outcome = self.prove(claim, &stage, &observer).await;
        renewer.abort();
        let proving_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let outcome = match outcome {
            Ok(Some((proof, public, backend))) => Outcome::Proved {
                proof,
                public,
                backend,
                proving_ms,
            },
            // The lease was lost while proving: nothing to store.
            Ok(None) => {
                tracing::info!(job = %claim.id, "job cancelled or taken over while proving; result discarded");
                return Ok(None);
            }
            // Passing trouble (the database, the key store): the lease
            // runs out and the job is claimed again, up to its attempts.
            Err(e @ (Error::Database(_) | Error::Unavailable(_) | Error::Io(_))) => {
                tracing::warn!(job = %claim.id, error = %e, "proof job interrupted; it will be retried");
                return Ok(None);
            }
            Err(e) => Outcome::Failed(failure_of(&claim.id, &e)),
        };
        Ok(Some(outcome))
    }

    /// Builds the witness and proves; `Ok(None)` when the lease was lost
    /// on the way (the proof stops at its next phase boundary).
    async fn prove(
        &self,
        claim: &Claim,
        stage: &Arc<Mutex<&'static str>>,
        observer: &Arc<JobObserver>,
    ) -> Result<Option<(String, String, String)>> {
        let circuit = self.circuit(claim).await?;
        if observer.stopped() {
            return Ok(None);
        }
        // The job is ready; it waits here, its lease renewed, until a
        // proving slot is free.
        let slot: Option<Slot> = match &self.slots {
            Some(slots) => Some(slots.slot().await?),
            None => None,
        };
        let rayon = match (&slot, &self.rayon) {
            (Some(slot), _) => slot.pool(),
            (None, Some(rayon)) => rayon.clone(),
            (None, None) => return Err(Error::Internal("a worker without threads".into())),
        };
        if observer.stopped() {
            return Ok(None);
        }
        // The renewer records the new stage at its next round.
        if let Ok(mut s) = stage.lock() {
            *s = "prove";
        }
        let keys = self.state.circuit_keys.clone();
        let configured = self.backend;
        let device_min = self.state.config.proofs.device_min_constraints;
        let kind = circuit.kind();
        let obs = observer.clone();
        let fallbacks = self.state.metrics.fallbacks.clone();
        let proving = tokio::task::spawn_blocking(move || -> Result<_> {
            rayon.install(|| {
                let pk = keys.proving_key(kind)?;
                // The matrices are built once per process; each proof then
                // synthesises only its witness.
                let prepared = keys.prepared(kind)?;
                // Small circuits stay on the CPU: a device would spend more on
                // copies than it saves.
                let backend = if prepared.num_constraints() < device_min {
                    zkr_prover::Backend::Cpu
                } else {
                    configured
                };
                let public = circuit.public_inputs();
                let (r, s) = (Fr::rand(&mut OsRng), Fr::rand(&mut OsRng));
                let first = prepared.prove_observed(&pk, circuit.clone(), r, s, backend, &*obs);
                let proved = match first {
                    // The device is not there or failed: the job runs again on
                    // the CPU (the same proof for the same r, s), counted.
                    Err(zkr_prover::Error::Backend(e)) if backend != zkr_prover::Backend::Cpu => {
                        tracing::warn!(circuit = kind.name(), error = %e,
                        "MSM device failed; proving the job on the CPU");
                        fallbacks.with_label_values(&[kind.name()]).inc();
                        let cpu = zkr_prover::Backend::Cpu;
                        prepared.prove_observed(&pk, circuit, r, s, cpu, &*obs)
                    }
                    other => other,
                };
                let work = prepared.num_constraints();
                let proved = match proved {
                    Ok(p) => p,
                    Err(zkr_prover::Error::Aborted { .. }) => return Ok(None),
                    Err(e) => return Err(Error::Unprocessable(format!("proving failed: {e}"))),
                };
                // A proof that does not verify under its own key is never handed out.
                let pvk = keys.prepared_vk(kind)?;
                let ok = zkr_verifier::verify_prepared(&pvk, &proved.proof, &public)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                if !ok {
                    return Err(Error::KeyMismatch(format!(
                        "the new {} proof does not verify under its proving key's own key",
                        kind.name()
                    )));
                }
                let proof = serde_json::to_string(&snarkjs::ProofJson::from_proof(&proved.proof))
                    .map_err(|e| Error::Internal(e.to_string()))?;
                let public = serde_json::to_string(&snarkjs::public_json(&public))
                    .map_err(|e| Error::Internal(e.to_string()))?;
                Ok(Some((proof, public, proved.ran.to_string(), work)))
            })
        });
        let result = proving
            .await
            .map_err(|e| Error::Internal(format!("prover task: {e}")))??;
        if observer.stopped() {
            return Ok(None);
        }
        Ok(result.map(|(proof, public, ran, work)| {
            // Only a proof that ran on the CPU measures the CPU's split.
            if let Some(slot) = slot
                && ran == zkr_prover::Backend::Cpu.to_string()
            {
                slot.proved(work);
            }
            (proof, public, ran)
        }))
    }
}

/// What the owner of job `id` is told of an attempt that failed with `e`:
/// a code and a message without secrets. Internal errors are logged in
/// full here and stored generically.
fn failure_of(id: &Uuid, e: &Error) -> Failure {
    match e {
        Error::Unprocessable(m) => Failure::new(FailureCode::InvalidInput, m.clone()),
        Error::BadRequest(_) => Failure::new(FailureCode::InvalidInput, e.to_string()),
        Error::NotFound(_) => Failure::new(FailureCode::SourceUnavailable, e.to_string()),
        Error::KeyMismatch(_) => {
            tracing::error!(job = %id, error = %e, "proof job failed");
            Failure::new(
                FailureCode::KeyMismatch,
                "the proof did not verify under the circuit's verifying key on this worker",
            )
        }
        _ => {
            tracing::error!(job = %id, error = %e, "proof job failed");
            Failure::new(FailureCode::Internal, "internal error while proving")
        }
    }
}

/// Ends, every [`REAP_EVERY`] until the pool stops, the jobs no worker
/// will finish: past their deadline, or out of attempts with their lease
/// expired.
async fn reap(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(REAP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        if let Err(e) = state.jobs.reap().await {
            tracing::warn!(error = %e, "proof job reaper failed");
        }
    }
}

/// Stores a job's outcome (only while its lease holds), counts it and
/// appends its audit event.
async fn settle(state: &AppState, worker: &str, claim: &Claim, outcome: Outcome) -> Result<()> {
    let jobs = &state.jobs;
    let circuit_name = claim.circuit.name();
    if !jobs.finish(claim, worker, &outcome).await? {
        tracing::info!(job = %claim.id, "job ended elsewhere while proving; result discarded");
        return Ok(());
    }
    let (end, backend, detail) = match &outcome {
        Outcome::Proved {
            backend,
            proving_ms,
            ..
        } => {
            state
                .metrics
                .proving_time
                .with_label_values(&[circuit_name, backend])
                .observe(*proving_ms as f64 / 1000.0);
            (
                JobState::Succeeded,
                backend.clone(),
                format!(
                    "circuit={circuit_name} backend={backend} worker={} attempt={}",
                    worker, claim.attempts
                ),
            )
        }
        Outcome::Failed(f) => (
            JobState::Failed,
            state.config.proofs.backend.to_string(),
            format!(
                "circuit={circuit_name} error={} code={} worker={} attempt={}",
                f.message, f.code, worker, claim.attempts
            ),
        ),
    };
    state
        .metrics
        .jobs_finished
        .with_label_values(&[circuit_name, end.as_str(), &backend])
        .inc();
    state
        .audit
        .append(NewEvent {
            actor: PROVER_ACTOR.into(),
            roles: "system".into(),
            action: "proof_job".into(),
            resource: format!("job/{}", claim.id),
            purpose: "-".into(),
            outcome: end.as_str().into(),
            detail,
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkr_artifacts::{read_info, read_proving_key, setup_keys};
    use zkr_circuits::circuits::RangeCircuit;

    /// A cancelled job's proof stops at the next phase boundary; one left
    /// alone runs through every phase and its progress names them.
    #[test]
    fn the_observer_stops_a_proof_and_reports_its_phase() {
        let dir = tempfile::tempdir().expect("tempdir");
        setup_keys(CircuitKind::Range, 0, dir.path()).expect("setup");
        let info = read_info(dir.path()).expect("info");
        let pk = read_proving_key(dir.path(), &info).expect("key");
        let circuit = || RangeCircuit::new(50, Fr::from(7u64), 10, 100).expect("circuit");
        let (r, s) = (Fr::from(3u64), Fr::from(5u64));
        let cpu = zkr_prover::Backend::Cpu;

        let obs = JobObserver::default();
        assert_eq!(obs.progress(), None);
        obs.stop();
        match zkr_prover::prove_observed(&pk, circuit(), r, s, cpu, &obs) {
            Err(zkr_prover::Error::Aborted { phase }) => assert_eq!(phase, Phase::Synthesis),
            other => panic!("not stopped: {:?}", other.map(|p| p.ran)),
        }

        let obs = JobObserver::default();
        let proved = zkr_prover::prove_observed(&pk, circuit(), r, s, cpu, &obs).expect("proof");
        let public = circuit().public_inputs();
        assert!(zkr_verifier::verify(&pk.vk, &proved.proof, &public).expect("verify"));
        let progress = obs.progress().expect("a phase");
        assert!(progress.starts_with("msm_"), "{progress}");
        assert!(
            progress.ends_with(&format!("/{}", Phase::ALL.len())),
            "{progress}"
        );
    }

    /// `workers = "auto"` measures every split of the cores on the
    /// largest circuit with keys and picks one of them; with nothing to
    /// prove there is nothing to measure.
    #[test]
    fn the_number_of_workers_is_measured() {
        let dir = tempfile::tempdir().expect("tempdir");
        setup_keys(CircuitKind::Range, 0, &dir.path().join("range")).expect("setup");
        let keys = crate::jobs::CircuitKeys::new(dir.path().to_path_buf(), 4);
        assert_eq!(choose_workers(&keys, &[]).expect("nothing"), None);
        // Membership has no keys here: it is skipped, not an error.
        let chosen = choose_workers(&keys, &[CircuitKind::Membership, CircuitKind::Range])
            .expect("measured");
        let ks = throughput::parallelisms();
        if ks.len() < 2 {
            assert_eq!(chosen, None, "one core: nothing to choose");
            return;
        }
        let chosen = chosen.expect("a choice");
        assert_eq!(chosen.tried.keys().copied().collect::<Vec<_>>(), ks);
        assert!(ks.contains(&chosen.parallel));
        assert!(chosen.tried.values().all(|r| *r > 0.0), "{chosen:?}");
        assert_eq!(chosen.per_s, chosen.tried[&chosen.parallel]);
    }

    /// A heartbeat is due once per period, however often it is asked for.
    #[test]
    fn heartbeats_are_written_at_most_once_a_period() {
        let beat = Mutex::new(Instant::now());
        assert!(!beat_due(&beat), "just written");
        let beat = Mutex::new(Instant::now() - HEARTBEAT_EVERY);
        assert!(beat_due(&beat));
        assert!(!beat_due(&beat), "taken by the first ask");
    }

    /// A worker per device slot, then CPU workers: a number is the total
    /// (devices first), `auto` adds the devices to one CPU worker more
    /// than the most proofs at once (the cores), on the measured share.
    #[test]
    fn workers_are_planned_per_device() {
        use zkr_prover::Backend::{Cpu, OpenClDevice};
        let each = throughput::threads_each;
        let two = [OpenClDevice(0), OpenClDevice(3)];
        assert_eq!(plan(Workers::Count(1), 0, &[]), (vec![Cpu], each(1)));
        assert_eq!(
            plan(Workers::Count(3), 0, &two),
            (vec![OpenClDevice(0), OpenClDevice(3), Cpu], each(3))
        );
        assert_eq!(
            plan(Workers::Count(1), 0, &two),
            (vec![OpenClDevice(0)], each(1))
        );
        assert_eq!(plan(Workers::Count(0), 0, &two), (vec![], each(0)));
        let cpus = vec![Cpu; throughput::cores() + 1];
        assert_eq!(plan(Workers::Auto, 2, &[]), (cpus.clone(), each(2)));
        let mut with_two = two.to_vec();
        with_two.extend(&cpus);
        assert_eq!(plan(Workers::Auto, 1, &two), (with_two, each(1)));
        // Nothing measured: one proof at a time to start with.
        assert_eq!(plan(Workers::Auto, 0, &[]), (cpus, each(1)));
    }

    /// Under `auto` the CPU workers share one set of proving slots that
    /// starts at the measured proofs at once; device workers and a set
    /// number of workers do not wait for one.
    #[test]
    fn auto_cpu_workers_share_the_proving_slots() {
        use zkr_prover::Backend::{Cpu, OpenClDevice};
        let gauge = prometheus::IntGauge::new("at_once", "test").expect("gauge");
        let (backends, _) = plan(Workers::Auto, 1, &[OpenClDevice(1)]);
        let slots = proving_slots(Workers::Auto, 1, true, &backends, &gauge);
        assert_eq!(backends[0], OpenClDevice(1));
        assert!(backends[1..].iter().all(|b| *b == Cpu));
        assert!(slots[0].is_none(), "a device worker does not wait");
        let shared = slots[1].clone().expect("a CPU worker's slots");
        assert_eq!(shared.proofs_at_once(), 1);
        assert_eq!(gauge.get(), 1);
        assert!(
            slots[2..]
                .iter()
                .all(|s| s.as_ref().is_some_and(|s| Arc::ptr_eq(s, &shared)))
        );
        let (backends, _) = plan(Workers::Count(3), 0, &[]);
        assert!(
            proving_slots(Workers::Count(3), 0, false, &backends, &gauge)
                .iter()
                .all(Option::is_none)
        );
    }

    /// Workers prove from the prepared matrices: the same proof, bit for
    /// bit, as proving with synthesis of the matrices, and the matrices
    /// are built once and then come from the cache.
    #[test]
    fn prepared_proofs_equal_plain_proofs() {
        let dir = tempfile::tempdir().expect("tempdir");
        setup_keys(CircuitKind::Range, 0, &dir.path().join("range")).expect("setup");
        let keys = crate::jobs::CircuitKeys::new(dir.path().to_path_buf(), 4);
        let pk = keys.proving_key(CircuitKind::Range).expect("key");
        let prepared = keys.prepared(CircuitKind::Range).expect("prepared");
        assert!(Arc::ptr_eq(
            &prepared,
            &keys.prepared(CircuitKind::Range).expect("again")
        ));
        assert!(
            dir.path()
                .join("range")
                .join(crate::jobs::PREPARED_CIRCUIT)
                .exists()
        );
        let circuit = || RangeCircuit::new(50, Fr::from(7u64), 10, 100).expect("circuit");
        let (r, s) = (Fr::from(3u64), Fr::from(5u64));
        let cpu = zkr_prover::Backend::Cpu;
        let obs = JobObserver::default();
        let fast = prepared
            .prove_observed(&pk, circuit(), r, s, cpu, &obs)
            .expect("prepared proof");
        let plain = zkr_prover::prove_observed(&pk, circuit(), r, s, cpu, &obs).expect("proof");
        assert_eq!(fast.proof, plain.proof);
        // A fresh process reads the cached matrices and proves the same.
        let again = crate::jobs::CircuitKeys::new(dir.path().to_path_buf(), 4)
            .prepared(CircuitKind::Range)
            .expect("from the cache")
            .prove_observed(&pk, circuit(), r, s, cpu, &obs)
            .expect("proof");
        assert_eq!(again.proof, plain.proof);
    }

    /// An owner is told why, by code, and never an internal detail.
    #[test]
    fn failures_have_codes_and_no_internals() {
        let id = Uuid::new_v4();
        let cases = [
            (
                Error::Unprocessable("value is below min".into()),
                "invalid_input",
            ),
            (
                Error::NotFound("transaction t".into()),
                "source_unavailable",
            ),
            (
                Error::KeyMismatch("pk /srv/keys differs".into()),
                "key_mismatch",
            ),
            (Error::Internal("SELECT secret FROM x".into()), "internal"),
        ];
        for (e, code) in cases {
            let f = failure_of(&id, &e);
            assert_eq!(f.code, code, "{e}");
            assert!(
                !f.message.contains("secret") && !f.message.contains("/srv"),
                "{f:?}"
            );
        }
    }
}
