//! The tamper-evident audit log (DESIGN §8).
//!
//! `entry_hash = SHA-256(prev_hash || canonical event)`, the first `prev_hash`
//! being 32 zero bytes. One tokio task owns all appends and commits them in
//! batches; a caller awaits the acknowledgement of its own event, so a
//! request that must be audited only succeeds once its event is committed
//! (fail closed), while the runtime is never blocked.

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use super::checkpoints::{self, Checkpoint, Trust};
use super::error::{Error, Result};
use super::metrics::Metrics;
use zkr_store::{
    AuditAppend, AuditFilter, AuditProbeError, AuditRow, Db, audit_append_after, audit_head,
    audit_page, audit_probe, audit_query, now_unix,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
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
        let handle = tokio::spawn(writer(db, metrics, rx, batch_max, head_tx));
        (Self { tx, head }, AuditWriter { handle })
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
    db: Db,
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
        match commit(&db, &events).await {
            Ok(seqs) => {
                count(&metrics, "ok", seqs.len());
                if let Some(last) = seqs.last() {
                    head.send_replace(*last);
                }
                for ((_, _, ack), seq) in batch.into_iter().zip(seqs) {
                    let _ = ack.send(Ok(seq));
                }
            }
            Err(e) if batch.len() > 1 => {
                // One bad event must not fail the others: retry one by one,
                // in order, so that only the event that fails is refused.
                tracing::warn!(error = %e, events = batch.len(), "audit batch failed; retrying its events one by one");
                for (ts, event, ack) in batch {
                    commit_one(&db, &metrics, &head, ts, &event, ack).await;
                }
            }
            Err(e) => {
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

async fn commit_one(
    db: &Db,
    metrics: &Metrics,
    head: &watch::Sender<i64>,
    ts: i64,
    event: &NewEvent,
    ack: Ack,
) {
    match commit(db, &[(ts, event)]).await {
        Ok(seqs) => {
            count(metrics, "ok", seqs.len());
            if let Some(seq) = seqs.first() {
                head.send_replace(*seq);
                let _ = ack.send(Ok(*seq));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "audit append failed");
            count(metrics, "error", 1);
            let _ = ack.send(Err(()));
        }
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
    let seqs = commit(db, &[(now_unix(), event)]).await?;
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

/// Commits `events`, all or none, after the chain head, and returns their
/// sequence numbers. The head is read and the events appended without a
/// lock, in two statements; when another writer (another node, `zkr token
/// create`) appends in between, the primary key on `seq` refuses the
/// events, and they are chained again on the new head, at last under the
/// chain's lock.
async fn commit(db: &Db, events: &[(i64, &NewEvent)]) -> Result<Vec<i64>> {
    let seqs = |head: Head| (head.seq + 1..).take(events.len()).collect::<Vec<_>>();
    for _ in 0..UNLOCKED_TRIES {
        let head = Head::of(audit_head(db).await?)?;
        match audit_append_after(db, &chain(head, events)).await {
            Ok(()) => return Ok(seqs(head)),
            Err(e) if e.is_unique_violation() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let (mut append, stored) = AuditAppend::begin(db).await?;
    let head = Head::of(stored)?;
    append.insert(&chain(head, events)).await?;
    append.commit().await?;
    Ok(seqs(head))
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

/// Result of recomputing the chain and checking its signed checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct VerifyReport {
    /// Whether every entry and every checkpoint checked out.
    pub valid: bool,
    /// Entries checked.
    pub entries: i64,
    /// Hash of the last good entry (hex), the chain head when valid.
    pub head: String,
    /// The first entry that does not check out: a break in the chain
    /// itself, or else the first checkpoint the chain contradicts.
    pub first_broken: Option<Broken>,
    /// Signed checkpoints checked (stored ones and those handed in).
    pub checkpoints: i64,
    /// Sequence number of the last checkpoint, if any.
    pub last_checkpoint: Option<i64>,
    /// Every checkpoint that failed: bad signature, recomputed entry, truncation.
    pub checkpoint_errors: Vec<Broken>,
    /// Whether checkpoint signatures were checked against a pinned key
    /// rather than the public key stored in the database under check.
    pub key_pinned: bool,
    /// Where the checkpoint key came from.
    pub key_source: String,
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Broken {
    /// Sequence number of the entry.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: String,
}

/// Recomputes the whole chain and checks the stored checkpoints, each
/// signature under the public key stored with it (not pinned).
pub async fn verify(db: &Db) -> Result<VerifyReport> {
    verify_with(db, &Trust::default()).await
}

/// Recomputes the whole chain, page by page, names the first broken entry,
/// and checks every checkpoint (stored and `trust.kept`) under `trust`.
pub(crate) async fn verify_with(db: &Db, trust: &Trust) -> Result<VerifyReport> {
    const PAGE: i64 = 1000;
    let mut all: Vec<Checkpoint> = checkpoints::list(db, 0, i64::MAX).await?;
    all.extend(trust.kept.iter().cloned());
    all.sort_by_key(|c| c.seq);
    let wanted: std::collections::HashSet<i64> = all.iter().map(|c| c.seq).collect();
    let mut seen = std::collections::HashMap::new();
    let mut prev = [0u8; 32];
    let mut expected_seq = 1;
    let mut entries = 0;
    let mut chain_break: Option<Broken> = None;
    'pages: loop {
        let rows = audit_page(db, expected_seq, PAGE).await?;
        let n = rows.len() as i64;
        for row in rows {
            let e = Event::from(row);
            let broken = |reason: String| Broken { seq: e.seq, reason };
            if e.seq != expected_seq {
                chain_break = Some(Broken {
                    seq: expected_seq,
                    reason: format!("entry missing (next present is {})", e.seq),
                });
                break 'pages;
            }
            if e.prev_hash != hex::encode(prev) {
                chain_break = Some(broken("prev_hash does not match the previous entry".into()));
                break 'pages;
            }
            let content = NewEvent {
                actor: e.actor.clone(),
                roles: e.roles.clone(),
                action: e.action.clone(),
                resource: e.resource.clone(),
                purpose: e.purpose.clone(),
                outcome: e.outcome.clone(),
                detail: e.detail.clone(),
            };
            let hash = entry_hash(&prev, &canonical(e.seq, e.ts, &content));
            if e.entry_hash != hex::encode(hash) {
                chain_break = Some(broken("entry_hash does not match the content".into()));
                break 'pages;
            }
            if wanted.contains(&e.seq) {
                seen.insert(e.seq, hash);
            }
            prev = hash;
            expected_seq += 1;
            entries += 1;
        }
        if n < PAGE {
            break;
        }
    }
    let checkpoint_errors = checkpoints::check(
        &all,
        &seen,
        entries,
        chain_break.as_ref().map(|b| b.seq),
        trust,
    );
    let first_broken = chain_break.or_else(|| checkpoint_errors.first().cloned());
    Ok(VerifyReport {
        valid: first_broken.is_none() && checkpoint_errors.is_empty(),
        entries,
        head: hex::encode(prev),
        first_broken,
        checkpoints: all.len() as i64,
        last_checkpoint: all.last().map(|c| c.seq),
        checkpoint_errors,
        key_pinned: trust.pinned_keys.is_some(),
        key_source: trust.source(),
    })
}

/// Library entry of `zkr audit verify --database ...`: works offline, on the
/// database alone (and what `trust` adds).
pub async fn verify_database(database_url: &str) -> Result<VerifyReport> {
    verify_database_with(database_url, &Trust::default()).await
}

/// [`verify_database`] with a pinned key and/or checkpoints kept elsewhere.
pub async fn verify_database_with(database_url: &str, trust: &Trust) -> Result<VerifyReport> {
    let db = Db::connect(database_url).await?;
    verify_with(&db, trust).await
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
