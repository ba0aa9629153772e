//! The tamper-evident audit log (DESIGN §8).
//!
//! `entry_hash = SHA-256(prev_hash || canonical event)`, the first `prev_hash`
//! being 32 zero bytes. One tokio task owns all appends and commits them in
//! batches; a caller awaits the acknowledgement of its own event, so a
//! request that must be audited only succeeds once its event is committed
//! (fail closed), while the runtime is never blocked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use utoipa::ToSchema;

pub(crate) use super::audit_verify::verify_with;
pub use super::audit_verify::{
    Broken, VerifyReport, verify, verify_database, verify_database_with, verify_export,
};
use super::error::{Error, Result};
use super::metrics::Metrics;
use zkr_store::{
    AuditAppend, AuditFilter, AuditProbeError, AuditRow, Db, audit_append_after, audit_head,
    audit_probe, audit_query, now_unix,
};

/// What a caller hands to the log; the writer adds sequence and hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Principal id, or `-` before authentication.
    pub actor: String,
    /// The actor's roles, comma-separated.
    pub roles: String,
    /// What was done or asked, e.g. `policy.write`.
    pub action: String,
    /// What it was done to, e.g. `policy/p1`.
    pub resource: String,
    /// Stated purpose, or `-`.
    pub purpose: String,
    /// `allow`, `deny`, or an operation's result.
    pub outcome: String,
    /// Further detail (the deciding rule, counts), never a secret.
    pub detail: String,
}

impl NewEvent {
    /// Whether every field can be stored: PostgreSQL refuses NUL in text,
    /// and one such event must fail alone, never its batch.
    pub fn is_storable(&self) -> bool {
        [
            &self.actor,
            &self.roles,
            &self.action,
            &self.resource,
            &self.purpose,
            &self.outcome,
            &self.detail,
        ]
        .iter()
        .all(|f| !f.contains('\0'))
    }
}

/// A stored event, as exported and as hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Unix seconds.
    pub ts: i64,
    /// Principal id.
    pub actor: String,
    /// Roles, comma-separated.
    pub roles: String,
    /// Action.
    pub action: String,
    /// Resource.
    pub resource: String,
    /// Purpose.
    pub purpose: String,
    /// Outcome.
    pub outcome: String,
    /// Detail.
    pub detail: String,
    /// Hex of the previous entry's hash.
    pub prev_hash: String,
    /// Hex of this entry's hash.
    pub entry_hash: String,
}

/// The hashed part of an event: fixed field order, compact JSON.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    ts: i64,
    actor: &'a str,
    roles: &'a str,
    action: &'a str,
    resource: &'a str,
    purpose: &'a str,
    outcome: &'a str,
    detail: &'a str,
}

/// The canonical byte form of an event's content.
pub fn canonical(seq: i64, ts: i64, e: &NewEvent) -> Vec<u8> {
    let c = Canonical {
        seq,
        ts,
        actor: &e.actor,
        roles: &e.roles,
        action: &e.action,
        resource: &e.resource,
        purpose: &e.purpose,
        outcome: &e.outcome,
        detail: &e.detail,
    };
    // Serializing plain strings and integers cannot fail.
    serde_json::to_vec(&c).unwrap_or_default()
}

/// `SHA-256(prev_hash || canonical event)`.
pub fn entry_hash(prev: &[u8; 32], canonical_event: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(canonical_event);
    h.finalize().into()
}

enum Msg {
    Append(i64, NewEvent, oneshot::Sender<Result<i64, ()>>),
    Close(oneshot::Sender<()>),
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    head: watch::Receiver<i64>,
    floor: Arc<AtomicI64>,
}

/// The writer task, to await on shutdown.
pub struct AuditWriter {
    handle: JoinHandle<()>,
}

impl AuditWriter {
    /// Waits until the writer has committed everything queued and stopped.
    pub async fn join(self) {
        if let Err(e) = self.handle.await {
            tracing::error!(error = %e, "audit writer task failed");
        }
    }
}

impl AuditLog {
    /// Starts the writer task on `db`.
    pub fn start(db: Db, metrics: Metrics, queue: usize, batch_max: usize) -> (Self, AuditWriter) {
        let (tx, rx) = mpsc::channel(queue);
        let (head_tx, head) = watch::channel(0);
        let floor = Arc::new(AtomicI64::new(0));
        let chain = Chain::new(db, floor.clone());
        let handle = tokio::spawn(writer(chain, metrics, rx, batch_max, head_tx));
        (Self { tx, head, floor }, AuditWriter { handle })
    }

    /// Never append while the chain in the database ends before `seq`:
    /// entries up to `seq` are known to have existed (a kept checkpoint),
    /// so a shorter chain was cut, and appending would reuse their
    /// sequence numbers. The writer raises this floor itself to every head
    /// it reads or writes.
    pub fn hold_at_least(&self, seq: i64) {
        self.floor.fetch_max(seq, Ordering::SeqCst);
    }

    /// The sequence number of the last event this writer committed (0
    /// before the first); changes wake the checkpoint task.
    pub fn head(&self) -> watch::Receiver<i64> {
        self.head.clone()
    }

    /// Appends `event` and waits until it is committed. Any failure is
    /// `AuditUnavailable`: the caller must then not answer with data.
    pub async fn append(&self, event: NewEvent) -> Result<i64> {
        self.submit(event).await?.committed().await
    }

    /// Hands `event` to the writer without waiting for its commit, so that
    /// a request can go on working (or queue its next event) meanwhile. The
    /// caller must await [`Pending::committed`] before it answers: an event
    /// never awaited is still written, but nothing tells the caller whether
    /// it was. Events are chained in the order they are submitted.
    pub async fn submit(&self, event: NewEvent) -> Result<Pending> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Msg::Append(now_unix(), event, ack))
            .await
            .map_err(|_| Error::AuditUnavailable)?;
        Ok(Pending(done))
    }

    /// Whether the writer still accepts events.
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Asks the writer to commit what is queued and stop; later appends fail.
    pub async fn close(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Close(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

/// An event handed to the writer, its commit not yet awaited.
#[must_use = "a request must not answer before its audit event is committed"]
pub struct Pending(oneshot::Receiver<Result<i64, ()>>);

impl Pending {
    /// Waits until the event is committed: its sequence number, or
    /// `AuditUnavailable` when it could not be written.
    pub async fn committed(self) -> Result<i64> {
        match self.0.await {
            Ok(Ok(seq)) => Ok(seq),
            _ => Err(Error::AuditUnavailable),
        }
    }
}

type Ack = oneshot::Sender<Result<i64, ()>>;

async fn writer(
    chain: Chain,
    metrics: Metrics,
    mut rx: mpsc::Receiver<Msg>,
    batch_max: usize,
    head: watch::Sender<i64>,
) {
    let mut closing: Option<oneshot::Sender<()>> = None;
    while closing.is_none() {
        let Some(first) = rx.recv().await else { break };
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Append(ts, event, ack) => batch.push((ts, event, ack)),
                Msg::Close(ack) => {
                    closing = Some(ack);
                    break;
                }
            }
            if batch.len() < batch_max {
                next = rx.try_recv().ok();
            }
        }
        // An event the database cannot store fails alone, before any SQL.
        let (batch, refused): (Vec<_>, Vec<_>) =
            batch.into_iter().partition(|(_, e, _)| e.is_storable());
        if !refused.is_empty() {
            tracing::warn!(
                events = refused.len(),
                "audit event refused: NUL in a field"
            );
            count(&metrics, "error", refused.len());
            for (_, _, ack) in refused {
                let _ = ack.send(Err(()));
            }
        }
        if batch.is_empty() {
            continue;
        }
        let events: Vec<(i64, &NewEvent)> = batch.iter().map(|(ts, e, _)| (*ts, e)).collect();
        match chain.commit(&events).await {
            Err(CommitError::Cut(e)) => {
                refuse_cut(&metrics, &e, batch.into_iter().map(|(_, _, ack)| ack));
                break;
            }
            Ok(seqs) => {
                count(&metrics, "ok", seqs.len());
                if let Some(last) = seqs.last() {
                    head.send_replace(*last);
                }
                for ((_, _, ack), seq) in batch.into_iter().zip(seqs) {
                    let _ = ack.send(Ok(seq));
                }
            }
            Err(CommitError::Other(e)) if batch.len() > 1 => {
                // One bad event must not fail the others: retry one by one,
                // in order, so that only the event that fails is refused.
                tracing::warn!(error = %e, events = batch.len(), "audit batch failed; retrying its events one by one");
                let mut rest = batch.into_iter();
                while let Some((ts, event, ack)) = rest.next() {
                    if let Err(e) = commit_one(&chain, &metrics, &head, ts, &event, ack).await {
                        refuse_cut(&metrics, &e, rest.map(|(_, _, ack)| ack));
                        break;
                    }
                }
                if chain.is_cut() {
                    break;
                }
            }
            Err(CommitError::Other(e)) => {
                tracing::error!(error = %e, "audit append failed");
                count(&metrics, "error", batch.len());
                for (_, _, ack) in batch {
                    let _ = ack.send(Err(()));
                }
            }
        }
    }
    // Refuse anything sent after the close: those callers get 503.
    rx.close();
    while let Ok(msg) = rx.try_recv() {
        if let Msg::Close(ack) = msg {
            let _ = ack.send(());
        }
    }
    if let Some(ack) = closing {
        let _ = ack.send(());
    }
}

fn count(metrics: &Metrics, result: &str, n: usize) {
    metrics
        .audit_appends
        .with_label_values(&[result])
        .inc_by(n as u64);
}

/// Commits one event; `Err` (after refusing the event) when the chain
/// was found cut, after which nothing may be appended.
async fn commit_one(
    chain: &Chain,
    metrics: &Metrics,
    head: &watch::Sender<i64>,
    ts: i64,
    event: &NewEvent,
    ack: Ack,
) -> std::result::Result<(), Error> {
    match chain.commit(&[(ts, event)]).await {
        Ok(seqs) => {
            count(metrics, "ok", seqs.len());
            if let Some(seq) = seqs.first() {
                head.send_replace(*seq);
                let _ = ack.send(Ok(*seq));
            }
            Ok(())
        }
        Err(CommitError::Cut(e)) => {
            refuse_cut(metrics, &e, [ack]);
            Err(e)
        }
        Err(CommitError::Other(e)) => {
            tracing::error!(error = %e, "audit append failed");
            count(metrics, "error", 1);
            let _ = ack.send(Err(()));
            Ok(())
        }
    }
}

/// Refuses `acks` because the chain was cut; the writer stops after this,
/// so readiness reports it and every later append fails (closed).
fn refuse_cut(metrics: &Metrics, e: &Error, acks: impl IntoIterator<Item = Ack>) {
    tracing::error!(error = %e, "audit writer stopped: refusing to append behind a cut chain");
    for ack in acks {
        count(metrics, "error", 1);
        let _ = ack.send(Err(()));
    }
}

/// Appends one event directly, without a writer task: for commands that
/// change the database outside the service (`zkr token create`). The
/// caller acts only once this returns `Ok`.
pub async fn append_direct(db: &Db, event: &NewEvent) -> Result<i64> {
    if !event.is_storable() {
        return Err(Error::Unprocessable(
            "audit event: control characters are not allowed".into(),
        ));
    }
    let chain = Chain::new(db.clone(), Arc::new(AtomicI64::new(0)));
    let seqs = chain
        .commit(&[(now_unix(), event)])
        .await
        .map_err(CommitError::into_error)?;
    seqs.first()
        .copied()
        .ok_or_else(|| Error::Internal("audit append wrote nothing".into()))
}

/// The head of the chain: its last entry's sequence number and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Head {
    seq: i64,
    hash: [u8; 32],
}

impl Head {
    /// The head before the first event.
    const EMPTY: Head = Head {
        seq: 0,
        hash: [0u8; 32],
    };

    fn of(stored: Option<zkr_store::AuditHead>) -> Result<Head> {
        stored.map_or(Ok(Head::EMPTY), |h| {
            Ok(Head {
                seq: h.seq,
                hash: decode_hash(&h.entry_hash)?,
            })
        })
    }
}

/// `events` chained on `head`.
fn chain(head: Head, events: &[(i64, &NewEvent)]) -> Vec<AuditRow> {
    let mut at = head;
    let mut rows = Vec::with_capacity(events.len());
    for (ts, e) in events {
        let seq = at.seq + 1;
        let hash = entry_hash(&at.hash, &canonical(seq, *ts, e));
        rows.push(AuditRow {
            seq,
            ts: *ts,
            actor: e.actor.clone(),
            roles: e.roles.clone(),
            action: e.action.clone(),
            resource: e.resource.clone(),
            purpose: e.purpose.clone(),
            outcome: e.outcome.clone(),
            detail: e.detail.clone(),
            prev_hash: hex::encode(at.hash),
            entry_hash: hex::encode(hash),
        });
        at = Head { seq, hash };
    }
    rows
}

/// Tries to append after the head read without a lock before taking the
/// chain's lock: each fails only when another writer appended in between.
const UNLOCKED_TRIES: usize = 2;

/// The chain in the database, as one writer appends to it: the highest
/// head this writer has seen (or was told of) is a floor the database's
/// head may never fall below again.
struct Chain {
    db: Db,
    floor: Arc<AtomicI64>,
    cut: AtomicBool,
}

/// Why a commit failed.
enum CommitError {
    /// The chain in the database ends below the floor: it was cut.
    Cut(Error),
    /// Anything else (the database, a refused event).
    Other(Error),
}

impl CommitError {
    fn into_error(self) -> Error {
        match self {
            Self::Cut(e) | Self::Other(e) => e,
        }
    }
}

impl From<Error> for CommitError {
    fn from(e: Error) -> Self {
        Self::Other(e)
    }
}

impl From<zkr_store::Error> for CommitError {
    fn from(e: zkr_store::Error) -> Self {
        Self::Other(e.into())
    }
}

impl Chain {
    fn new(db: Db, floor: Arc<AtomicI64>) -> Self {
        Self {
            db,
            floor,
            cut: AtomicBool::new(false),
        }
    }

    /// Whether a cut was found: nothing may be appended any more.
    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// Accepts a head read from the database, or refuses when it lies
    /// below the floor; a refusal is final for this writer, even if the
    /// head comes back.
    fn accept(&self, head: Head) -> std::result::Result<Head, CommitError> {
        let floor = self.floor.fetch_max(head.seq, Ordering::SeqCst);
        if self.is_cut() || head.seq < floor {
            self.cut.store(true, Ordering::SeqCst);
            return Err(CommitError::Cut(Error::Unavailable(format!(
                "the audit chain in the database ends at entry {}, but entry {floor} was \
                 already written: the log was cut",
                head.seq
            ))));
        }
        Ok(head)
    }

    /// Commits `events`, all or none, after the chain head, and returns
    /// their sequence numbers. The head is read and the events appended
    /// without a lock, in two statements; when another writer (another
    /// node, `zkr token create`) appends in between, the primary key on
    /// `seq` refuses the events, and they are chained again on the new
    /// head, at last under the chain's lock.
    async fn commit(
        &self,
        events: &[(i64, &NewEvent)],
    ) -> std::result::Result<Vec<i64>, CommitError> {
        let seqs = |head: Head| (head.seq + 1..).take(events.len()).collect::<Vec<_>>();
        for _ in 0..UNLOCKED_TRIES {
            let head = self.accept(Head::of(audit_head(&self.db).await?)?)?;
            match audit_append_after(&self.db, &chain(head, events)).await {
                Ok(()) => return Ok(self.written(seqs(head))),
                Err(e) if e.is_unique_violation() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let (mut append, stored) = AuditAppend::begin(&self.db).await?;
        let head = self.accept(Head::of(stored)?)?;
        append.insert(&chain(head, events)).await?;
        append.commit().await?;
        Ok(self.written(seqs(head)))
    }

    /// Raises the floor to the last of `seqs`, just written.
    fn written(&self, seqs: Vec<i64>) -> Vec<i64> {
        if let Some(last) = seqs.last() {
            self.floor.fetch_max(*last, Ordering::SeqCst);
        }
        seqs
    }
}

pub(crate) fn decode_hash(text: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(text).map_err(|_| Error::Internal("audit hash is not hex".into()))?;
    bytes
        .try_into()
        .map_err(|_| Error::Internal("audit hash is not 32 bytes".into()))
}

impl From<AuditRow> for Event {
    fn from(r: AuditRow) -> Self {
        Self {
            seq: r.seq,
            ts: r.ts,
            actor: r.actor,
            roles: r.roles,
            action: r.action,
            resource: r.resource,
            purpose: r.purpose,
            outcome: r.outcome,
            detail: r.detail,
            prev_hash: r.prev_hash,
            entry_hash: r.entry_hash,
        }
    }
}

/// Export filters; `None` means unrestricted.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Earliest `ts`, inclusive.
    pub since: Option<i64>,
    /// Latest `ts`, exclusive.
    pub until: Option<i64>,
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// Most events returned.
    pub limit: i64,
}

/// Events matching `filter`, in chain order.
pub async fn query(db: &Db, filter: &Filter) -> Result<Vec<Event>> {
    let rows = audit_query(
        db,
        &AuditFilter {
            since: filter.since,
            until: filter.until,
            actor: filter.actor.as_deref(),
            action: filter.action.as_deref(),
            limit: filter.limit,
        },
    )
    .await?;
    Ok(rows.into_iter().map(Event::from).collect())
}

/// One CSV line (RFC 4180 quoting) for an event.
pub(crate) fn csv_line(e: &Event) -> String {
    let fields = [
        e.seq.to_string(),
        e.ts.to_string(),
        e.actor.clone(),
        e.roles.clone(),
        e.action.clone(),
        e.resource.clone(),
        e.purpose.clone(),
        e.outcome.clone(),
        e.detail.clone(),
        e.prev_hash.clone(),
        e.entry_hash.clone(),
    ];
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect();
    format!("{}\r\n", quoted.join(","))
}

/// Header of the CSV export.
pub(crate) const CSV_HEADER: &str =
    "seq,ts,actor,roles,action,resource,purpose,outcome,detail,prev_hash,entry_hash\r\n";

/// Why [`append_probe`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeError {
    /// No write transaction could be started (or rolled back).
    CannotWrite,
    /// The audit table refused the row.
    NotAppendable,
}

/// Appends a row to the audit table inside a write transaction and rolls
/// it back: this takes the same locks and constraints as the audit writer
/// (a read-only, locked or missing table fails here) but leaves nothing
/// behind, so readiness probes do not fill the log. The row's `seq` is
/// negative, so it can never collide with the chain, which starts at 1.
pub(crate) async fn append_probe(db: &Db) -> std::result::Result<(), ProbeError> {
    audit_probe(db, now_unix()).await.map_err(|e| match e {
        AuditProbeError::CannotWrite(e) => {
            tracing::warn!(error = %e, "readiness: audit write transaction");
            ProbeError::CannotWrite
        }
        AuditProbeError::NotAppendable(e) => {
            tracing::warn!(error = %e, "readiness: audit append probe");
            ProbeError::NotAppendable
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NewEvent {
        NewEvent {
            actor: "a".into(),
            roles: "admin".into(),
            action: "policy.write".into(),
            resource: "policy/x".into(),
            purpose: "-".into(),
            outcome: "allow".into(),
            detail: "rule=admin".into(),
        }
    }

    #[test]
    fn canonical_form_is_fixed() {
        let text = String::from_utf8(canonical(1, 2, &sample())).expect("utf8");
        assert_eq!(
            text,
            r#"{"seq":1,"ts":2,"actor":"a","roles":"admin","action":"policy.write","resource":"policy/x","purpose":"-","outcome":"allow","detail":"rule=admin"}"#
        );
    }

    #[test]
    fn hash_chains_on_prev() {
        let c = canonical(1, 2, &sample());
        assert_ne!(entry_hash(&[0; 32], &c), entry_hash(&[1; 32], &c));
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update(&c);
        let expected: [u8; 32] = h.finalize().into();
        assert_eq!(entry_hash(&[0; 32], &c), expected);
    }

    #[test]
    fn nul_makes_an_event_unstorable() {
        assert!(sample().is_storable());
        let mut e = sample();
        e.detail = "tab\tand\nnewline".into();
        assert!(e.is_storable());
        e.resource = "circuit/range\0".into();
        assert!(!e.is_storable());
    }

    #[test]
    fn csv_quotes() {
        let mut e = Event {
            seq: 1,
            ts: 2,
            actor: "a".into(),
            roles: "client,miner".into(),
            action: "x".into(),
            resource: "r".into(),
            purpose: "-".into(),
            outcome: "allow".into(),
            detail: "say \"hi\"".into(),
            prev_hash: "00".into(),
            entry_hash: "11".into(),
        };
        assert_eq!(
            csv_line(&e),
            "1,2,a,\"client,miner\",x,r,-,allow,\"say \"\"hi\"\"\",00,11\r\n"
        );
        e.roles = "admin".into();
        assert!(csv_line(&e).starts_with("1,2,a,admin,"));
    }
}
