//! Webhooks of proof jobs: a job may name a `webhook_url` that is told,
//! once, when the job ends (succeeded, failed, cancelled or expired).
//!
//! The job's end and its delivery row are written in one transaction (the
//! outbox, `zkr_store::webhooks`), so no notice is lost to a crash or a
//! restart. A [`Deliverer`] runs in every `zkr serve` and `zkr worker`
//! process; deliverers take due rows with a lease, POST the notice (job id,
//! state, circuit, end time: never an input; the result is read through the
//! audited API) signed with HMAC-SHA256, and retry failures with
//! exponential backoff and jitter until `webhooks.max_attempts`, after which
//! the delivery is `dead`. Delivery is at least once: a deliverer stopped
//! between the POST and recording it leaves the row to be sent again, so
//! receivers deduplicate on the [`ID_HEADER`].
//!
//! Denied by default: a URL must be plain `http://` to a host in
//! `webhooks.allow_hosts`, and every attempt checks the addresses the host
//! resolves to, refusing loopback and private ones unless
//! `webhooks.allow_private_addresses`. Redirects are not followed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Request, StatusCode, Uri, header};
use hmac::{KeyInit, Mac};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use utoipa::ToSchema;
use uuid::Uuid;
use zeroize::Zeroizing;
use zkr_store::webhooks::{self as outbox, Delivery};
use zkr_store::{Db, now_unix};

use crate::AppState;
use crate::config::WebhooksConfig;
use crate::error::{Error, Result};
use crate::jobs::now_ms;
use crate::metrics::Metrics;

/// Header with the Unix time (seconds) the notice was signed at.
pub(crate) const TIMESTAMP_HEADER: &str = "zkr-webhook-timestamp";
/// Header with `v1=` and the hex HMAC-SHA256 of `timestamp + "." + body`.
pub(crate) const SIGNATURE_HEADER: &str = "zkr-webhook-signature";
/// Header with the delivery's id (the job id: one delivery per job), for
/// receivers to deduplicate on.
pub(crate) const ID_HEADER: &str = "zkr-webhook-id";
/// Longest `webhook_url`.
pub(crate) const MAX_URL_LEN: usize = 2048;
/// Shortest signing secret.
pub(crate) const MIN_SECRET_LEN: usize = 32;

/// The webhook signing secret: never logged, compared only by the
/// receiver, zeroized on drop.
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl WebhookSecret {
    /// A secret of at least [`MIN_SECRET_LEN`] bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Self> {
        let bytes = Zeroizing::new(bytes);
        if bytes.len() < MIN_SECRET_LEN {
            return Err(Error::Config(format!(
                "the webhook signing secret must be at least {MIN_SECRET_LEN} bytes"
            )));
        }
        Ok(Self(bytes))
    }

    /// `ZKR_WEBHOOK_SECRET`, else the file `webhooks.secret_file` (its
    /// content without the final newline), else none.
    pub fn from_env_or_file(config: &WebhooksConfig) -> Result<Option<Self>> {
        if let Some(v) = std::env::var_os("ZKR_WEBHOOK_SECRET") {
            let v = Zeroizing::new(v.into_encoded_bytes());
            return Self::new(v.to_vec()).map(Some);
        }
        if config.secret_file.as_os_str().is_empty() {
            return Ok(None);
        }
        let mut bytes = Zeroizing::new(std::fs::read(&config.secret_file).map_err(|e| {
            Error::Config(format!(
                "webhooks.secret_file {}: {e}",
                config.secret_file.display()
            ))
        })?);
        while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            bytes.pop();
        }
        Self::new(bytes.to_vec()).map(Some)
    }

    /// `v1=` and the hex HMAC-SHA256 of `timestamp.body`.
    pub fn sign(&self, timestamp: i64, body: &str) -> String {
        format!(
            "v1={}",
            hmac_hex(&self.0, format!("{timestamp}.{body}").as_bytes())
        )
    }
}

fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Where a webhook goes, from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    authority: String,
    path: String,
}

/// Parses and checks a webhook URL against `config`; the message is safe
/// to show to the caller.
fn target(config: &WebhooksConfig, url: &str) -> std::result::Result<Target, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("webhook_url is longer than {MAX_URL_LEN} bytes"));
    }
    if url.contains('#') {
        return Err("webhook_url must not have a fragment".into());
    }
    let uri: Uri = url
        .parse()
        .map_err(|_| "webhook_url is not a URL".to_string())?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(
                "webhook_url must be http:// (this service does not deliver over TLS; \
                 put a TLS-terminating relay on an allowed host)"
                    .into(),
            );
        }
        _ => return Err("webhook_url must be an http:// URL".into()),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| "webhook_url has no host".to_string())?;
    if authority.as_str().contains('@') {
        return Err("webhook_url must not carry user information".into());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if host.is_empty() {
        return Err("webhook_url has no host".into());
    }
    if !config.allow_hosts.iter().any(|h| {
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .eq_ignore_ascii_case(&host)
    }) {
        return Err(format!(
            "webhook_url host {host} is not allowed on this service (webhooks.allow_hosts)"
        ));
    }
    Ok(Target {
        port: authority.port_u16().unwrap_or(80),
        authority: authority.as_str().to_string(),
        host,
        path: uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
    })
}

/// Whether `ip` is a public unicast address (not loopback, private,
/// link-local, shared, multicast, unspecified or documentation). An IPv6
/// address that carries an IPv4 address (IPv4-mapped, IPv4-compatible,
/// IPv4-translated, NAT64, 6to4, Teredo) is judged by the IPv4 address it
/// reaches as well, since a gateway or the host's own stack delivers to it:
/// `[::127.0.0.1]` and `[64:ff9b::7f00:1]` are loopback.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            let first = s[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // unique local fc00::/7 and link-local fe80::/10
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                // deprecated site-local fec0::/10
                || (first & 0xffc0) == 0xfec0
                // documentation 2001:db8::/32
                || (first == 0x2001 && s[1] == 0x0db8)
                // discard-only 100::/64
                || (first == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)
                // NAT64 local-use 64:ff9b:1::/48: translated by a local gateway
                || (first == 0x0064 && s[1] == 0xff9b && s[2] == 1)
                // the rest of ::/8 that carries no IPv4 address (reserved)
                || (first == 0 && s[1..6].iter().any(|x| *x != 0)))
        }
    }
}

fn is_public_v4(v4: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_unspecified()
        || v4.is_documentation()
        || a == 0
        // shared address space (carrier-grade NAT), 100.64.0.0/10
        || (a == 100 && (64..128).contains(&b))
        // benchmarking and reserved
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

/// The IPv4 address an IPv6 address delivers to, for the forms that embed
/// one: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d` (but not
/// `::` or `::1`), IPv4-translated `::ffff:0:a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::/48` and Teredo
/// `2001:0::/32` (the client's address, inverted).
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    let low = std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    let zero = |r: std::ops::Range<usize>| s[r].iter().all(|x| *x == 0);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if zero(0..6) && !(s[6] == 0 && s[7] <= 1) {
        return Some(low);
    }
    if zero(0..4) && s[4] == 0xffff && s[5] == 0 {
        return Some(low);
    }
    if s[0] == 0x0064 && s[1] == 0xff9b && zero(2..6) {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(std::net::Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return Some(std::net::Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15]));
    }
    None
}

/// Delay before attempt `attempts + 1`: `base * 2^(attempts - 1)`, capped
/// at `max`, then drawn uniformly from its upper half (jitter, so that
/// deliveries failing together do not retry together).
fn backoff(config: &WebhooksConfig, attempts: i64, random: u64) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
    let max_ms = config.backoff_max_secs.saturating_mul(1000).max(1);
    let full = config
        .backoff_base_ms
        .saturating_mul(1u64 << exp)
        .min(max_ms)
        .max(1);
    let half = full / 2;
    Duration::from_millis(half + random % (full - half + 1))
}

/// A job's webhook as its owner sees it on `GET /v1/proofs/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookView {
    /// `waiting` (the job has not ended), `pending` (being delivered or
    /// retried), `delivered` or `dead` (every attempt failed).
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// Why the last attempt failed (`HTTP 500`, `connection refused`, ...).
    pub last_error: Option<String>,
    /// Unix seconds of the next attempt, while pending.
    pub next_attempt_at: Option<i64>,
    /// Unix seconds it was delivered.
    pub delivered_at: Option<i64>,
}

/// The webhook of job `job_id` (which has a URL).
pub(crate) async fn view(db: &Db, job_id: &str) -> Result<WebhookView> {
    Ok(match outbox::status(db, job_id).await? {
        None => WebhookView {
            state: "waiting".into(),
            attempts: 0,
            last_error: None,
            next_attempt_at: None,
            delivered_at: None,
        },
        Some(s) => WebhookView {
            next_attempt_at: (s.state == outbox::PENDING).then_some(s.next_attempt_ms / 1000),
            state: s.state,
            attempts: s.attempts,
            last_error: s.last_error,
            delivered_at: s.delivered_at,
        },
    })
}

/// The webhook settings and signing secret of this process.
pub struct Webhooks {
    config: WebhooksConfig,
    secret: RwLock<Option<Arc<WebhookSecret>>>,
}

impl Webhooks {
    /// Webhooks as `config` says, with `secret` (none: webhooks refused).
    pub fn new(config: WebhooksConfig, secret: Option<WebhookSecret>) -> Self {
        Self {
            config,
            secret: RwLock::new(secret.map(Arc::new)),
        }
    }

    /// Replaces the signing secret.
    pub fn set_secret(&self, secret: WebhookSecret) {
        if let Ok(mut s) = self.secret.write() {
            *s = Some(Arc::new(secret));
        }
    }

    fn secret(&self) -> Option<Arc<WebhookSecret>> {
        self.secret.read().ok().and_then(|s| s.clone())
    }

    /// Whether jobs may name webhooks here: hosts are allowed and a
    /// signing secret is set.
    pub fn enabled(&self) -> bool {
        !self.config.allow_hosts.is_empty() && self.secret().is_some()
    }

    /// The settings.
    pub fn config(&self) -> &WebhooksConfig {
        &self.config
    }

    /// Checks a job's `webhook_url`: 422 when webhooks are off here or the
    /// URL is not one this service delivers to.
    pub fn check_url(&self, url: &str) -> Result<()> {
        if !self.enabled() {
            return Err(Error::Unprocessable(
                "webhooks are not enabled on this service".into(),
            ));
        }
        target(&self.config, url)
            .map(drop)
            .map_err(Error::Unprocessable)
    }
}

/// The JSON body of a notice.
#[derive(Serialize)]
struct Notice<'a> {
    event: &'static str,
    job_id: &'a str,
    state: &'a str,
    circuit: &'a str,
    finished_at: Option<i64>,
}

/// POSTs `body` to `target` within `timeout`; the status, or why not (a
/// message without the URL, which may carry a token).
async fn post(
    target: &Target,
    allow_private: bool,
    headers: Vec<(&'static str, String)>,
    body: String,
    timeout: Duration,
) -> std::result::Result<StatusCode, String> {
    let attempt = async {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|_| "cannot resolve the host".to_string())?
            .filter(|a| allow_private || is_public(a.ip()))
            .collect();
        if addrs.is_empty() {
            return Err("the host has no public address".to_string());
        }
        let mut stream = None;
        let mut last = String::new();
        for addr in addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    last = "connection refused".into();
                }
                Err(e) => last = format!("cannot connect: {}", e.kind()),
            }
        }
        let stream = stream.ok_or(last)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP handshake: {e}"))?;
        let driver = tokio::spawn(conn);
        let mut req = Request::post(target.path.as_str())
            .header(header::HOST, target.authority.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "zkr-webhooks/1");
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("request: {e}"))?;
        let response = sender.send_request(req).await;
        driver.abort();
        response
            .map(|r| r.status())
            .map_err(|e| format!("HTTP: {e}"))
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs_f32())))
}

/// `host:port` of a webhook URL (port 80 when it names none; an IPv6
/// host in brackets), the unit of the per-destination delivery limit;
/// `None` for what has no host.
pub(crate) fn destination_of(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    let authority = uri.authority()?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = authority.port_u16().unwrap_or(80);
    Some(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// A task that delivers due webhooks until stopped: up to
/// `webhooks.concurrency` at once, at most `webhooks.per_destination` of
/// them to one `host:port`, so that a receiver that does not answer holds
/// up only its own notices.
pub struct Deliverer {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl Deliverer {
    /// Starts a deliverer on `state`, or `None` when webhooks are off here
    /// (no allowed host or no signing secret).
    pub fn start(state: &AppState) -> Option<Self> {
        if !state.webhooks.enabled() {
            return None;
        }
        let (stop, rx) = watch::channel(false);
        let config = &state.webhooks.config;
        let run = Run {
            shared: Arc::new(Shared {
                db: state.db.clone(),
                metrics: state.metrics.clone(),
                webhooks: state.webhooks.clone(),
            }),
            ended: state.jobs.subscribe(),
            stop: rx,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            per_destination: config.per_destination.max(1),
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            done: Arc::new(Notify::new()),
            tasks: JoinSet::new(),
        };
        Some(Self {
            stop,
            handle: tokio::spawn(run.run()),
        })
    }

    /// Stops it. Deliveries in flight are abandoned; their leases run out
    /// and they are sent again.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.handle.abort();
        let _ = self.handle.await;
    }
}

/// What every delivery of a deliverer needs.
struct Shared {
    db: Db,
    metrics: Metrics,
    webhooks: Arc<Webhooks>,
}

/// Deliveries in flight per destination.
type InFlight = Arc<Mutex<HashMap<String, usize>>>;

struct Run {
    shared: Arc<Shared>,
    ended: tokio::sync::broadcast::Receiver<Uuid>,
    stop: watch::Receiver<bool>,
    /// One per delivery in flight, at most `webhooks.concurrency`.
    permits: Arc<Semaphore>,
    per_destination: usize,
    in_flight: InFlight,
    /// Told when a delivery ends: a destination may have room again.
    done: Arc<Notify>,
    /// The deliveries in flight (aborted when the deliverer stops).
    tasks: JoinSet<()>,
}

impl Run {
    async fn run(mut self) {
        let config = self.shared.webhooks.config.clone();
        let poll = Duration::from_millis(config.poll_ms);
        let lease_ms = i64::try_from(config.timeout_secs.saturating_add(30).saturating_mul(1000))
            .unwrap_or(i64::MAX);
        let done = self.done.clone();
        loop {
            if *self.stop.borrow() {
                break;
            }
            while self.tasks.try_join_next().is_some() {}
            let permit = tokio::select! {
                p = self.permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                r = self.stop.changed() => {
                    if r.is_err() { break }
                    continue;
                }
            };
            let full = self.full();
            // A token per claim: each delivery in flight holds its own lease.
            let token = Uuid::new_v4().to_string();
            match outbox::claim(&self.shared.db, &token, now_ms(), lease_ms, &full).await {
                Ok(Some(d)) => {
                    let destination = d
                        .destination
                        .clone()
                        .or_else(|| destination_of(&d.url))
                        .unwrap_or_default();
                    if !self.take(&destination) {
                        // A row without a recorded destination, to a full
                        // one: recorded now, so that claims skip it.
                        let later =
                            now_ms().saturating_add(i64::try_from(config.poll_ms).unwrap_or(1000));
                        if let Err(e) =
                            outbox::postpone(&self.shared.db, &d, &destination, later).await
                        {
                            tracing::warn!(job = %d.job_id, error = %e, "cannot postpone a webhook delivery");
                        }
                        continue;
                    }
                    let (shared, in_flight, done) = (
                        self.shared.clone(),
                        self.in_flight.clone(),
                        self.done.clone(),
                    );
                    self.tasks.spawn(async move {
                        if let Err(e) = shared.deliver(&d).await {
                            tracing::warn!(job = %d.job_id, error = %e, "webhook bookkeeping failed");
                        }
                        release(&in_flight, &destination);
                        drop(permit);
                        done.notify_one();
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        // A job ended here: its delivery may be due now.
                        r = self.ended.recv() => {
                            if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                                tokio::time::sleep(poll).await;
                            }
                        }
                        // A delivery ended: its destination has room again.
                        () = done.notified() => {}
                        () = tokio::time::sleep(poll) => {}
                        _ = self.stop.changed() => {}
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "cannot claim a webhook delivery");
                    tokio::time::sleep(poll).await;
                }
            }
        }
        self.tasks.abort_all();
    }

    /// Destinations with `per_destination` deliveries in flight.
    fn full(&self) -> Vec<String> {
        self.in_flight
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|(_, n)| **n >= self.per_destination)
                    .map(|(d, _)| d.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Counts a delivery to `destination` in flight, unless it is full.
    fn take(&self, destination: &str) -> bool {
        let Ok(mut m) = self.in_flight.lock() else {
            return false;
        };
        let n = m.entry(destination.to_string()).or_default();
        if *n >= self.per_destination {
            return false;
        }
        *n += 1;
        true
    }
}

/// A delivery to `destination` ended.
fn release(in_flight: &InFlight, destination: &str) {
    if let Ok(mut m) = in_flight.lock()
        && let Some(n) = m.get_mut(destination)
    {
        *n = n.saturating_sub(1);
        if *n == 0 {
            m.remove(destination);
        }
    }
}

impl Shared {
    async fn deliver(&self, d: &Delivery) -> Result<()> {
        let config = &self.webhooks.config;
        let Some(secret) = self.webhooks.secret() else {
            return Ok(());
        };
        let body = serde_json::to_string(&Notice {
            event: "proof_job.ended",
            job_id: &d.job_id,
            state: &d.job_state,
            circuit: &d.circuit,
            finished_at: d.finished_at,
        })
        .map_err(|e| Error::Internal(e.to_string()))?;
        let timestamp = now_unix();
        let outcome = match target(config, &d.url) {
            // The allow-list changed since the job was submitted.
            Err(_) => Err("the URL is no longer allowed on this service".to_string()),
            Ok(t) => {
                let headers = vec![
                    (TIMESTAMP_HEADER, timestamp.to_string()),
                    (SIGNATURE_HEADER, secret.sign(timestamp, &body)),
                    (ID_HEADER, d.job_id.clone()),
                ];
                let timeout = Duration::from_secs(config.timeout_secs);
                match post(&t, config.allow_private_addresses, headers, body, timeout).await {
                    Ok(s) if s.is_success() => Ok(()),
                    Ok(s) if s.is_redirection() => {
                        Err(format!("HTTP {} (redirects are not followed)", s.as_u16()))
                    }
                    Ok(s) => Err(format!("HTTP {}", s.as_u16())),
                    Err(e) => Err(e),
                }
            }
        };
        let result = match outcome {
            Ok(()) => {
                outbox::delivered(&self.db, d, now_unix()).await?;
                "delivered"
            }
            Err(why) => {
                let last = d.attempts >= i64::from(config.max_attempts);
                let retry_at = (!last).then(|| {
                    let mut r = [0u8; 8];
                    let _ = getrandom::fill(&mut r);
                    let delay = backoff(config, d.attempts, u64::from_le_bytes(r));
                    now_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX))
                });
                tracing::info!(job = %d.job_id, attempt = d.attempts, error = %why,
                    dead = last, "webhook delivery failed");
                outbox::failed(&self.db, d, &why, retry_at).await?;
                if last { "dead" } else { "retry" }
            }
        };
        self.metrics
            .webhook_deliveries
            .with_label_values(&[result])
            .inc();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowing(hosts: &[&str]) -> WebhooksConfig {
        WebhooksConfig {
            allow_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..WebhooksConfig::default()
        }
    }

    /// RFC 4231, test case 2.
    #[test]
    fn hmac_matches_the_rfc_vector() {
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let secret = WebhookSecret::new(b"Jefe".repeat(8)).expect("32 bytes");
        assert_eq!(
            secret.sign(1700000000, "{}"),
            format!("v1={}", hmac_hex(&b"Jefe".repeat(8), b"1700000000.{}"))
        );
        assert!(WebhookSecret::new(b"short".to_vec()).is_err());
    }

    #[test]
    fn urls_are_checked_against_the_allow_list() {
        let c = allowing(&["hooks.example.com", "127.0.0.1", "[::1]"]);
        let t = target(&c, "http://Hooks.Example.com:8080/a/b?x=1").expect("allowed");
        assert_eq!(
            t,
            Target {
                host: "hooks.example.com".into(),
                port: 8080,
                authority: "Hooks.Example.com:8080".into(),
                path: "/a/b?x=1".into()
            }
        );
        assert_eq!(target(&c, "http://127.0.0.1").expect("ip").path, "/");
        assert_eq!(target(&c, "http://[::1]:9/h").expect("v6").host, "::1");
        for bad in [
            "https://hooks.example.com/",
            "ftp://hooks.example.com/",
            "http://evil.example.com/",
            "http://user:pw@hooks.example.com/",
            "http://hooks.example.com/#frag",
            "hooks.example.com/x",
            "http://hooks.example.com/ x",
            "",
        ] {
            assert!(target(&c, bad).is_err(), "{bad} accepted");
        }
        let long = format!("http://hooks.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(target(&c, &long).is_err());
        assert!(target(&allowing(&[]), "http://127.0.0.1/").is_err());
        // Off without a secret even when hosts are allowed.
        let w = Webhooks::new(c, None);
        assert!(w.check_url("http://127.0.0.1/").is_err());
        w.set_secret(WebhookSecret::new(vec![7; 32]).expect("secret"));
        w.check_url("http://127.0.0.1/").expect("on");
    }

    #[test]
    fn destinations_are_host_and_port() {
        for (url, want) in [
            ("http://Hooks.Example.com/a", "hooks.example.com:80"),
            (
                "http://hooks.example.com:8080/a?b",
                "hooks.example.com:8080",
            ),
            ("http://127.0.0.1:9/h", "127.0.0.1:9"),
            ("http://[::1]:9/h", "[::1]:9"),
        ] {
            assert_eq!(destination_of(url).as_deref(), Some(want), "{url}");
        }
        assert_eq!(destination_of("not a url"), None);
    }

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            // IPv4-compatible, NAT64, IPv4-translated, 6to4 and Teredo
            // forms of loopback and private addresses
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::192.168.0.1",
            "64:ff9b:1::8.8.8.8",
            "::ffff:0:127.0.0.1",
            "2002:7f00:1::1",
            "2002:c0a8:101::",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "fec0::1",
            "100::1",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let c = WebhooksConfig {
            backoff_base_ms: 1000,
            backoff_max_secs: 10,
            ..WebhooksConfig::default()
        };
        for (attempts, full) in [(1, 1000), (2, 2000), (3, 4000), (4, 8000), (5, 10_000)] {
            for random in [0, 1, 499, 123_456_789, u64::MAX] {
                let d = backoff(&c, attempts, random).as_millis();
                assert!((full / 2..=full).contains(&d), "attempt {attempts}: {d}");
            }
        }
        assert_eq!(backoff(&c, 1000, 0).as_millis(), 5000);
    }
}
