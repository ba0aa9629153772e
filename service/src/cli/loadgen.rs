//! `zkr loadgen`: a bounded load generator against a `zkr serve` on this
//! machine. It sends proof jobs (each followed to its end) or verifications
//! from `--concurrency` connections until `--count` or `--duration` runs
//! out, and reports throughput, latency percentiles, errors by status and,
//! for proof jobs, jobs lost or ended twice (from the audit log). With
//! `--baseline` it then measures the raw in-process rate of the same work
//! with the same circuit keys, so that one run prints the API/raw ratio.
//!
//! Only loopback addresses are accepted: this is a tool to measure one's
//! own service, never to load someone else's.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ark_std::rand::RngCore;
use ark_std::rand::rngs::OsRng;
use clap::{Args, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Value, json};
use zkr_circuits::CircuitKind;
use zkr_circuits::input::circuit_from_json;
use zkr_prover::throughput;

use super::{CliError, CliResult};

/// Most requests or jobs one run may send.
pub const MAX_COUNT: u64 = 100_000;
/// Longest run, in seconds (prove mode may then wait `--drain-secs` more).
pub const MAX_DURATION_SECS: u64 = 3_600;
/// Most connections at once.
pub const MAX_CONCURRENCY: usize = 256;
/// Longest wait for jobs still in flight when sending stops, in seconds.
pub const MAX_DRAIN_SECS: u64 = 600;
/// Most rounds of a prove run with `--baseline`.
pub const MAX_ROUNDS: u64 = 16;
/// Longest single long-poll of a job (the service caps it too).
const WAIT_SECS: u64 = 20;

/// What the load consists of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Proof jobs: `POST /v1/proofs`, then `GET /v1/proofs/{id}?wait=` until the job ends.
    Prove,
    /// `POST /v1/verify` of one valid proof, again and again.
    Verify,
}

/// Arguments of `zkr loadgen`.
#[derive(Debug, Args)]
pub struct LoadgenArgs {
    /// Base URL of the service; loopback only (127.0.0.0/8, [::1], localhost), plain http.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// `prove` (proof jobs, each followed to its end) or `verify`.
    #[arg(long, value_enum, default_value = "verify")]
    pub mode: Mode,
    /// The circuit: prove mode `receipt` (default) or `range`; verify mode `range`.
    #[arg(long)]
    pub circuit: Option<String>,
    /// Most requests (verify) or jobs (prove) to send, 1 to 100000.
    #[arg(long, default_value_t = 1000)]
    pub count: u64,
    /// Most seconds to send for, 1 to 3600.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Requests (verify) or jobs (prove) in flight at once, 1 to 256.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Prove mode: seconds to wait, after sending stops, for jobs still in
    /// flight (at most 600); a job that has not ended by then is lost.
    #[arg(long, default_value_t = 120)]
    pub drain_secs: u64,
    /// File holding an admin token (`zkr serve` writes `<data_dir>/admin-token`);
    /// without it, the token is read from ZKR_TOKEN. It mints the run's own
    /// miner and verifier tokens and reads the audit log.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Then measure the raw in-process rate of the same work on this
    /// machine and print API/raw (prove mode needs --keys).
    #[arg(long)]
    pub baseline: bool,
    /// Prove --baseline: the circuit's key directory, the service's
    /// `<circuits_dir>/<circuit>` (by default `zkr-data/circuits/receipt`).
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// With --baseline: rounds the API run is split into, with the raw
    /// side measured before each round and after the last (1 to 16), so
    /// that a machine whose speed drifts during the run weighs on both
    /// sides alike.
    #[arg(long, default_value_t = 4)]
    pub rounds: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl Latency {
    fn of(mut ms: Vec<f64>) -> Self {
        if ms.is_empty() {
            return Self::default();
        }
        ms.sort_by(f64::total_cmp);
        // Nearest rank.
        let at = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        Self {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: ms[ms.len() - 1],
        }
    }
}

/// What became of the proof jobs of a prove run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Jobs {
    /// Jobs the service accepted (202).
    pub accepted: u64,
    /// Ended succeeded.
    pub succeeded: u64,
    /// Ended failed, cancelled or expired.
    pub failed: u64,
    /// Accepted but not ended when the run's wait was over.
    pub not_ended: u64,
    /// With more than one end in the audit log.
    pub ended_twice: u64,
    /// Seen ended through the API but with no end in the audit log.
    pub end_not_audited: u64,
    /// `not_ended + ended_twice`: what the pool must never do.
    pub lost: u64,
    /// From submission to the job seen ended.
    pub latency_ms: Latency,
}

/// The raw in-process rate of the same work.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Baseline {
    /// What was measured.
    pub what: String,
    /// Proofs (prove) or verifications (verify) run at once at the best rate.
    pub parallel: usize,
    /// Per second, at that parallelism.
    pub per_s: f64,
    /// Per second at each parallelism tried.
    pub tried: BTreeMap<usize, f64>,
    /// Proofs or verifications `per_s` was measured over.
    pub measured_over: u64,
    /// The rate (at `parallel`) of each measurement, before each round of
    /// the API run and after the last (`per_s` is the rate over all of
    /// them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<f64>,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// `prove` or `verify`.
    pub mode: &'static str,
    /// The circuit.
    pub circuit: &'static str,
    /// Connections.
    pub concurrency: usize,
    /// Requests that got an answer or failed (submissions in prove mode).
    pub requests: u64,
    /// Answered as expected: 200 with a valid verdict, 202 accepted.
    pub ok: u64,
    /// Everything else by HTTP status, `io` for a connection error,
    /// `invalid` for a 200 that said the proof is not valid.
    pub errors: BTreeMap<String, u64>,
    /// Seconds from the first request to the last answer.
    pub elapsed_s: f64,
    /// Requests answered as expected per second (`ok / elapsed_s`):
    /// refusals (429, 503) and errors do not count.
    pub req_per_s: f64,
    /// Requests sent per second, whatever their answer
    /// (`requests / elapsed_s`).
    pub sent_per_s: f64,
    /// Verify: valid verdicts per second; prove: jobs succeeded per second.
    pub proofs_per_s: f64,
    /// Request latency.
    pub latency_ms: Latency,
    /// Prove mode: the jobs.
    pub jobs: Option<Jobs>,
    /// With `--baseline`: the raw in-process rate.
    pub baseline: Option<Baseline>,
    /// With `--baseline`: `proofs_per_s / baseline.per_s`.
    pub api_over_raw: Option<f64>,
    /// With more than one round: proofs (prove) or verifications (verify)
    /// per second through the API in each round.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rounds_proofs_per_s: Vec<f64>,
}

/// Runs `zkr loadgen`.
pub fn run(a: &LoadgenArgs) -> CliResult {
    let addr = loopback_addr(&a.url)?;
    if !(1..=MAX_COUNT).contains(&a.count) {
        return Err(CliError::Input(format!("--count must be 1 to {MAX_COUNT}")));
    }
    if !(1..=MAX_DURATION_SECS).contains(&a.duration) {
        return Err(CliError::Input(format!(
            "--duration must be 1 to {MAX_DURATION_SECS} seconds"
        )));
    }
    if !(1..=MAX_CONCURRENCY).contains(&a.concurrency) {
        return Err(CliError::Input(format!(
            "--concurrency must be 1 to {MAX_CONCURRENCY}"
        )));
    }
    if a.drain_secs > MAX_DRAIN_SECS {
        return Err(CliError::Input(format!(
            "--drain-secs must be at most {MAX_DRAIN_SECS}"
        )));
    }
    if !(1..=MAX_ROUNDS).contains(&a.rounds) {
        return Err(CliError::Input(format!(
            "--rounds must be 1 to {MAX_ROUNDS}"
        )));
    }
    let kind = circuit_of(a)?;
    if a.baseline && a.mode == Mode::Prove && a.keys.is_none() {
        return Err(CliError::Input(
            "prove --baseline needs --keys, the circuit's key directory (e.g. zkr-data/circuits/receipt)"
                .into(),
        ));
    }
    let admin = admin_token(a)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("tokio runtime: {e}")))?;
    let target = Target { addr, admin };
    // The raw prover is measured before each round of the API run and
    // after the last, so that a machine whose speed drifts during the run
    // does not favour either side.
    let raw = match (a.baseline, a.mode) {
        (true, Mode::Prove) => Some(RawProver::new(a, kind, &input_for(kind, 0).to_string())?),
        _ => None,
    };
    let rounds = if a.baseline { a.rounds } else { 1 };
    let per_segment = (a.count / (2 * rounds)).max(1);
    let mut segments = Vec::new();
    let mut between = || -> CliResult<()> {
        if let Some(raw) = &raw {
            let reverse = segments.len() % 2 == 1;
            segments.push(raw.measure(per_segment, reverse)?);
        }
        Ok(())
    };
    // Verify: the raw side is built from the run's own proof, once the
    // API has proved it.
    let mut raw_verify: Option<RawVerifier> = None;
    let mut verified = Vec::new();
    let segment_secs = Duration::from_secs(a.duration).div_f64((2 * rounds) as f64);
    let mut verify_between = |w: &Work| -> CliResult<()> {
        if !a.baseline {
            return Ok(());
        }
        if raw_verify.is_none() {
            raw_verify = Some(RawVerifier::new(a, w)?);
        }
        if let Some(raw) = &raw_verify {
            verified.push(raw.measure(per_segment, segment_secs));
        }
        Ok(())
    };
    let (mut report, work) = runtime.block_on(async {
        match a.mode {
            Mode::Verify => verify_load(a, &target, kind, rounds, &mut verify_between).await,
            Mode::Prove => prove_load(a, &target, kind, rounds, &mut between).await,
        }
    })?;
    drop(runtime);
    if a.baseline {
        let baseline = match work {
            Work::Verify { .. } => match raw_verify {
                Some(raw) => raw.baseline(&verified),
                None => return Err(CliError::Failed("no raw verifier measured".into())),
            },
            Work::Prove => match raw {
                Some(raw) => raw.baseline(&segments),
                None => return Err(CliError::Failed("no raw prover measured".into())),
            },
        };
        report.api_over_raw = Some(report.proofs_per_s / baseline.per_s);
        report.baseline = Some(baseline);
    }
    for warning in warnings(&report) {
        eprintln!("WARNING: {warning}");
    }
    if a.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Failed(format!("report: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", text_report(&report));
    }
    Ok(())
}

fn circuit_of(a: &LoadgenArgs) -> CliResult<CircuitKind> {
    let name = a.circuit.as_deref().unwrap_or(match a.mode {
        Mode::Prove => "receipt",
        Mode::Verify => "range",
    });
    match (a.mode, name) {
        (Mode::Prove, "receipt") => Ok(CircuitKind::Receipt),
        (_, "range") => Ok(CircuitKind::Range),
        (Mode::Prove, other) => Err(CliError::Input(format!(
            "--circuit: prove mode sends receipt or range, not {other:?}"
        ))),
        (Mode::Verify, other) => Err(CliError::Input(format!(
            "--circuit: verify mode sends range proofs, not {other:?}"
        ))),
    }
}

/// The socket address of `url` when its host is a loopback address;
/// anything else is refused (exit 2).
pub fn loopback_addr(url: &str) -> CliResult<SocketAddr> {
    let refuse = |why: &str| CliError::Input(format!("--url {url:?}: {why}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| refuse("must start with http:// (the service on this machine)"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        return Err(refuse("give only scheme, host and port"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| refuse("unclosed [ in the host"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port: u16 = match port {
        None => 80,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| refuse("the port must be 1 to 65535"))?,
    };
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse()
            .map_err(|_| refuse("the host must be a loopback address or localhost"))?
    };
    if !ip.is_loopback() {
        return Err(refuse(
            "only loopback addresses (127.0.0.0/8, ::1, localhost) are allowed",
        ));
    }
    Ok(SocketAddr::new(ip, port))
}

fn admin_token(a: &LoadgenArgs) -> CliResult<String> {
    let token = match &a.token_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::Input(format!("--token-file {}: {e}", path.display())))?,
        None => std::env::var("ZKR_TOKEN").map_err(|_| {
            CliError::Input(
                "no token: give --token-file (e.g. zkr-data/admin-token) or set ZKR_TOKEN".into(),
            )
        })?,
    };
    let token = token.trim().to_string();
    if token.is_empty() || token.contains(char::is_whitespace) || token.len() > 128 {
        return Err(CliError::Input("the token is empty or malformed".into()));
    }
    Ok(token)
}

/// Where to send and with what admin token.
struct Target {
    addr: SocketAddr,
    admin: String,
}

/// What the baseline repeats: the same proof or the same input.
enum Work {
    Verify {
        vk: String,
        proof: String,
        public: String,
    },
    Prove,
}

/// The outcome of one request.
enum Answer {
    Status(StatusCode, Bytes),
    Io(String),
}

/// One keep-alive HTTP/1.1 connection, reopened when the service closes it.
struct Conn {
    addr: SocketAddr,
    host: String,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            host: addr.to_string(),
            sender: None,
        }
    }

    async fn open(&self) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, String> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            // Ends when the service closes the connection or we drop it.
            let _ = conn.await;
        });
        Ok(sender)
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Bytes>,
    ) -> Answer {
        // A connection the service closed between requests is reopened once.
        for _ in 0..2 {
            let mut sender = match self.sender.take() {
                Some(s) if !s.is_closed() => s,
                _ => match self.open().await {
                    Ok(s) => s,
                    Err(e) => return Answer::Io(e),
                },
            };
            if sender.ready().await.is_err() {
                continue;
            }
            let mut req = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(header::HOST, &self.host)
                .header(header::AUTHORIZATION, format!("Bearer {token}"));
            if body.is_some() {
                req = req.header(header::CONTENT_TYPE, "application/json");
            }
            let req = match req.body(Full::new(body.cloned().unwrap_or_default())) {
                Ok(r) => r,
                Err(e) => return Answer::Io(e.to_string()),
            };
            let response = match sender.send_request(req).await {
                Ok(r) => r,
                Err(e) if e.is_canceled() || e.is_closed() => continue,
                Err(e) => return Answer::Io(e.to_string()),
            };
            let status = response.status();
            let bytes = match response.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return Answer::Io(e.to_string()),
            };
            self.sender = Some(sender);
            return Answer::Status(status, bytes);
        }
        Answer::Io("the service closed the connection".into())
    }

    /// A request whose answer the run needs (set-up, not load): anything
    /// but `expect` is an error naming the step.
    async fn must(
        &mut self,
        step: &str,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        expect: StatusCode,
    ) -> CliResult<Value> {
        let body = body.map(|b| Bytes::from(b.to_string()));
        match self.send(method, path, token, body.as_ref()).await {
            Answer::Status(s, bytes) if s == expect => serde_json::from_slice(&bytes)
                .map_err(|e| CliError::Failed(format!("{step}: the answer is not JSON: {e}"))),
            Answer::Status(s, bytes) => Err(CliError::Failed(format!(
                "{step}: HTTP {s}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            ))),
            Answer::Io(e) => Err(CliError::Failed(format!(
                "{step}: cannot reach the service at {}: {e}",
                self.addr
            ))),
        }
    }
}

/// Mints a token for this run with `role`, valid for two hours, with the
/// admin token. The secret stays in memory only.
async fn mint(conn: &mut Conn, t: &Target, principal: &str, role: &str) -> CliResult<String> {
    let expires_at = time::OffsetDateTime::now_utc().unix_timestamp() + 7200;
    let body = json!({"principal": principal, "roles": [role], "expires_at": expires_at});
    let created = conn
        .must(
            &format!("minting a {role} token (needs an admin token)"),
            Method::POST,
            "/v1/tokens",
            &t.admin,
            Some(body),
            StatusCode::CREATED,
        )
        .await?;
    created["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| CliError::Failed("minting a token: no token in the answer".into()))
}

fn run_principal() -> String {
    format!("loadgen-{}-{:08x}", std::process::id(), OsRng.next_u32())
}

/// A random field element below 2^200, in decimal.
fn random_decimal() -> String {
    let mut bytes = [0u8; 25];
    OsRng.fill_bytes(&mut bytes);
    num_decimal(&bytes)
}

/// Big-endian bytes as a decimal string.
fn num_decimal(bytes: &[u8]) -> String {
    let mut digits = vec![0u8]; // little-endian base-10 digits
    for b in bytes {
        let mut carry = u32::from(*b);
        for d in digits.iter_mut() {
            let v = u32::from(*d) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    while digits.len() > 1 && digits.last() == Some(&0) {
        digits.pop();
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

/// An `input.json` for `kind` that satisfies the statement; `n` and fresh
/// randomness make every one different.
fn input_for(kind: CircuitKind, n: u64) -> Value {
    match kind {
        CircuitKind::Receipt => {
            let units = 1000 + n % 1000;
            let unit_price = 7u64;
            let amount = u128::from(units) * u128::from(unit_price);
            json!({
                "receipt": {
                    "job_id": random_decimal(),
                    "client_id": "1001",
                    "miner_id": "2002",
                    "units": units.to_string(),
                    "unit_price": unit_price.to_string(),
                    "amount": amount.to_string(),
                    "fee": "10",
                    "timestamp": "1767225600",
                    "salt": random_decimal(),
                },
                "amount_min": "1000",
                "amount_max": "1000000",
                "miners": ["2001", "2002", "2003"],
            })
        }
        _ => json!({
            "value": (50 + n % 40).to_string(),
            "blind": random_decimal(),
            "min": "10",
            "max": "100",
        }),
    }
}

fn bump(errors: &mut BTreeMap<String, u64>, key: String) {
    *errors.entry(key).or_default() += 1;
}

/// Shared budget: the next request number while count and time last.
struct Budget {
    next: AtomicU64,
    count: u64,
    until: Instant,
}

impl Budget {
    fn take(&self) -> Option<u64> {
        if Instant::now() >= self.until {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        (n < self.count).then_some(n)
    }
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    requests: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    latency_ms: Vec<f64>,
    /// Prove mode: accepted job id, its end state (if seen), its latency.
    jobs: Vec<(String, Option<String>, f64)>,
}

fn merge(tallies: Vec<Tally>) -> Tally {
    let mut all = Tally::default();
    for t in tallies {
        all.requests += t.requests;
        all.ok += t.ok;
        for (k, v) in t.errors {
            *all.errors.entry(k).or_default() += v;
        }
        all.latency_ms.extend(t.latency_ms);
        all.jobs.extend(t.jobs);
    }
    all
}

fn report_of(a: &LoadgenArgs, kind: CircuitKind, t: &Tally, elapsed: Duration) -> Report {
    let secs = elapsed.as_secs_f64().max(1e-9);
    Report {
        mode: match a.mode {
            Mode::Prove => "prove",
            Mode::Verify => "verify",
        },
        circuit: kind.name(),
        concurrency: a.concurrency,
        requests: t.requests,
        ok: t.ok,
        errors: t.errors.clone(),
        elapsed_s: secs,
        req_per_s: t.ok as f64 / secs,
        sent_per_s: t.requests as f64 / secs,
        proofs_per_s: 0.0,
        latency_ms: Latency::of(t.latency_ms.clone()),
        jobs: None,
        baseline: None,
        api_over_raw: None,
        rounds_proofs_per_s: Vec::new(),
    }
}

/// Proves one `input` through the API with `token` and returns the job as
/// the service shows it once succeeded.
async fn prove_one(
    conn: &mut Conn,
    token: &str,
    kind: CircuitKind,
    input: Value,
) -> CliResult<Value> {
    let body = json!({"circuit": kind.name(), "input": input});
    let accepted = conn
        .must(
            "submitting the proof to verify",
            Method::POST,
            "/v1/proofs",
            token,
            Some(body),
            StatusCode::ACCEPTED,
        )
        .await?;
    let id = accepted["job_id"]
        .as_str()
        .ok_or_else(|| CliError::Failed("submitting a proof: no job_id".into()))?
        .to_string();
    let until = Instant::now() + Duration::from_secs(MAX_DRAIN_SECS);
    while Instant::now() < until {
        let job = conn
            .must(
                "waiting for the proof to verify",
                Method::GET,
                &format!("/v1/proofs/{id}?wait={WAIT_SECS}"),
                token,
                None,
                StatusCode::OK,
            )
            .await?;
        match job["state"].as_str() {
            Some("succeeded") => return Ok(job),
            Some("queued" | "running") => continue,
            other => {
                return Err(CliError::Failed(format!(
                    "the proof to verify ended {other:?}: {}",
                    job["error"]
                )));
            }
        }
    }
    Err(CliError::Failed(
        "the proof to verify did not end in time".into(),
    ))
}

/// Sends `POST /v1/verify` of one proof in `rounds` rounds of about equal
/// time, calling `between` before each round and after the last (the raw
/// verifier's measurements); the API's rate is over the rounds' time only.
async fn verify_load(
    a: &LoadgenArgs,
    t: &Target,
    kind: CircuitKind,
    rounds: u64,
    between: &mut dyn FnMut(&Work) -> CliResult<()>,
) -> CliResult<(Report, Work)> {
    let mut conn = Conn::new(t.addr);
    let principal = run_principal();
    let miner = mint(&mut conn, t, &principal, "miner").await?;
    let verifier = mint(&mut conn, t, &format!("{principal}-v"), "verifier").await?;
    let job = prove_one(&mut conn, &miner, kind, input_for(kind, 0)).await?;
    let vk = conn
        .must(
            "reading the verifying key",
            Method::GET,
            &format!("/v1/circuits/{}/verification_key", kind.name()),
            &verifier,
            None,
            StatusCode::OK,
        )
        .await?;
    let body = Bytes::from(
        json!({
            "circuit": kind.name(),
            "proof": job["proof"],
            "public_signals": job["public_signals"],
        })
        .to_string(),
    );
    let work = Work::Verify {
        vk: vk.to_string(),
        proof: job["proof"].to_string(),
        public: job["public_signals"].to_string(),
    };
    let verifier = Arc::new(verifier);
    let total = Duration::from_secs(a.duration);
    let mut elapsed = Duration::ZERO;
    let mut tallies = Vec::new();
    let mut per_round = Vec::new();
    for round in 0..rounds {
        let left = total.saturating_sub(elapsed);
        if left.is_zero() {
            break;
        }
        tokio::task::block_in_place(|| between(&work))?;
        let share = (total * u32::try_from(round + 1).unwrap_or(u32::MAX))
            .div_f64(rounds as f64)
            .saturating_sub(elapsed)
            .min(left);
        let budget = Arc::new(Budget {
            next: AtomicU64::new(a.count * round / rounds),
            count: a.count * (round + 1) / rounds,
            until: Instant::now() + share,
        });
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..a.concurrency {
            let (budget, body, token) = (budget.clone(), body.clone(), verifier.clone());
            let addr = t.addr;
            tasks.spawn(async move {
                let mut conn = Conn::new(addr);
                let mut tally = Tally::default();
                while budget.take().is_some() {
                    let t0 = Instant::now();
                    let answer = conn
                        .send(Method::POST, "/v1/verify", &token, Some(&body))
                        .await;
                    tally.latency_ms.push(t0.elapsed().as_secs_f64() * 1e3);
                    tally.requests += 1;
                    match answer {
                        Answer::Status(StatusCode::OK, bytes) => {
                            let valid = serde_json::from_slice::<Value>(&bytes)
                                .ok()
                                .and_then(|v| v["valid"].as_bool())
                                == Some(true);
                            if valid {
                                tally.ok += 1;
                            } else {
                                bump(&mut tally.errors, "invalid".into());
                            }
                        }
                        Answer::Status(s, _) => bump(&mut tally.errors, s.as_u16().to_string()),
                        Answer::Io(_) => bump(&mut tally.errors, "io".into()),
                    }
                }
                tally
            });
        }
        let tally = merge(tasks.join_all().await);
        let took = start.elapsed();
        per_round.push(tally.ok as f64 / took.as_secs_f64().max(1e-9));
        tallies.push(tally);
        elapsed += took;
    }
    tokio::task::block_in_place(|| between(&work))?;
    let all = merge(tallies);
    let mut report = report_of(a, kind, &all, elapsed);
    report.proofs_per_s = all.ok as f64 / report.elapsed_s;
    if per_round.len() > 1 {
        report.rounds_proofs_per_s = per_round;
    }
    Ok((report, work))
}

/// Follows job `id` until it ends or `until`; its end state if it ended.
async fn follow(conn: &mut Conn, token: &str, id: &str, until: Instant) -> Option<String> {
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now()).as_secs();
        let wait = left.clamp(1, WAIT_SECS);
        match conn
            .send(
                Method::GET,
                &format!("/v1/proofs/{id}?wait={wait}"),
                token,
                None,
            )
            .await
        {
            Answer::Status(StatusCode::OK, bytes) => {
                let state = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|v| v["state"].as_str().map(str::to_string));
                match state.as_deref() {
                    Some("queued" | "running") | None => {}
                    Some(_) => return state,
                }
            }
            // The service is busy or restarting: ask again shortly.
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    None
}

/// Proves `a.count` jobs through the API in `rounds` rounds of about
/// equal size, calling `between` before each round and after the last
/// (the raw prover's measurements); the API's rate is over the rounds'
/// time only.
async fn prove_load(
    a: &LoadgenArgs,
    t: &Target,
    kind: CircuitKind,
    rounds: u64,
    between: &mut dyn FnMut() -> CliResult<()>,
) -> CliResult<(Report, Work)> {
    let mut conn = Conn::new(t.addr);
    let principal = run_principal();
    let miner = Arc::new(mint(&mut conn, t, &principal, "miner").await?);
    let since = time::OffsetDateTime::now_utc().unix_timestamp() - 1;
    let mut left = Duration::from_secs(a.duration);
    let mut elapsed = Duration::ZERO;
    let mut tallies = Vec::new();
    let mut per_round = Vec::new();
    for round in 0..rounds {
        if left.is_zero() {
            // --duration is spent: no more rounds.
            break;
        }
        tokio::task::block_in_place(&mut *between)?;
        let budget = Arc::new(Budget {
            next: AtomicU64::new(a.count * round / rounds),
            count: a.count * (round + 1) / rounds,
            until: Instant::now() + left,
        });
        let (tally, took) = prove_round(a, t, kind, &miner, budget).await;
        let proved = tally
            .jobs
            .iter()
            .filter(|(_, end, _)| end.as_deref() == Some("succeeded"))
            .count();
        per_round.push(proved as f64 / took.as_secs_f64().max(1e-9));
        tallies.push(tally);
        elapsed += took;
        left = left.saturating_sub(took);
    }
    tokio::task::block_in_place(&mut *between)?;
    let all = merge(tallies);
    let mut report = report_of(a, kind, &all, elapsed);
    let mut jobs = Jobs {
        accepted: all.jobs.len() as u64,
        ..Jobs::default()
    };
    let mut latencies = Vec::new();
    for (_, end, ms) in &all.jobs {
        match end.as_deref() {
            Some("succeeded") => {
                jobs.succeeded += 1;
                latencies.push(*ms);
            }
            Some(_) => jobs.failed += 1,
            None => jobs.not_ended += 1,
        }
    }
    jobs.latency_ms = Latency::of(latencies);
    let ended: Vec<&str> = all
        .jobs
        .iter()
        .filter(|(_, end, _)| end.is_some())
        .map(|(id, _, _)| id.as_str())
        .collect();
    let ends = audited_ends(&mut conn, t, since, &ended).await?;
    for (id, end, _) in &all.jobs {
        match ends.get(id.as_str()).copied().unwrap_or(0) {
            0 if end.is_some() => jobs.end_not_audited += 1,
            0 | 1 => {}
            _ => jobs.ended_twice += 1,
        }
    }
    jobs.lost = jobs.not_ended + jobs.ended_twice;
    report.proofs_per_s = jobs.succeeded as f64 / report.elapsed_s;
    report.jobs = Some(jobs);
    if per_round.len() > 1 {
        report.rounds_proofs_per_s = per_round;
    }
    Ok((report, Work::Prove))
}

/// One round of a prove run: `a.concurrency` connections submit jobs
/// while `budget` lasts and follow each to its end.
async fn prove_round(
    a: &LoadgenArgs,
    t: &Target,
    kind: CircuitKind,
    miner: &Arc<String>,
    budget: Arc<Budget>,
) -> (Tally, Duration) {
    let drain_until = budget.until + Duration::from_secs(a.drain_secs);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..a.concurrency {
        let (budget, token) = (budget.clone(), miner.clone());
        let addr = t.addr;
        tasks.spawn(async move {
            let mut conn = Conn::new(addr);
            let mut tally = Tally::default();
            while let Some(n) = budget.take() {
                let body = Bytes::from(
                    json!({"circuit": kind.name(), "input": input_for(kind, n)}).to_string(),
                );
                let t0 = Instant::now();
                let answer = conn
                    .send(Method::POST, "/v1/proofs", &token, Some(&body))
                    .await;
                tally.latency_ms.push(t0.elapsed().as_secs_f64() * 1e3);
                tally.requests += 1;
                let id = match answer {
                    Answer::Status(StatusCode::ACCEPTED, bytes) => {
                        serde_json::from_slice::<Value>(&bytes)
                            .ok()
                            .and_then(|v| v["job_id"].as_str().map(str::to_string))
                    }
                    Answer::Status(s, _) => {
                        bump(&mut tally.errors, s.as_u16().to_string());
                        if matches!(s.as_u16(), 429 | 503) {
                            // Full queue: back off a little.
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        continue;
                    }
                    Answer::Io(_) => {
                        bump(&mut tally.errors, "io".into());
                        continue;
                    }
                };
                let Some(id) = id else {
                    bump(&mut tally.errors, "202-without-job_id".into());
                    continue;
                };
                tally.ok += 1;
                let end = follow(&mut conn, &token, &id, drain_until).await;
                tally.jobs.push((id, end, t0.elapsed().as_secs_f64() * 1e3));
            }
            tally
        });
    }
    let tallies = tasks.join_all().await;
    (merge(tallies), start.elapsed())
}

/// How many ends (succeeded, failed, cancelled, expired) the audit log
/// records for each job since `since`. A job's end is audited just after
/// it is stored, so the log is read again for a few seconds until every
/// job in `ended` has one.
async fn audited_ends(
    conn: &mut Conn,
    t: &Target,
    since: i64,
    ended: &[&str],
) -> CliResult<HashMap<String, u64>> {
    let path = format!("/v1/audit/events?action=proof_job&since={since}&format=jsonl");
    let mut attempts = 0;
    loop {
        let body = match conn.send(Method::GET, &path, &t.admin, None).await {
            Answer::Status(StatusCode::OK, bytes) => bytes,
            Answer::Status(s, bytes) => {
                return Err(CliError::Failed(format!(
                    "reading the audit log (needs an admin token): HTTP {s}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                )));
            }
            Answer::Io(e) => return Err(CliError::Failed(format!("reading the audit log: {e}"))),
        };
        let mut ends: HashMap<String, u64> = HashMap::new();
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(event) = serde_json::from_slice::<Value>(line) else {
                continue;
            };
            let is_end = matches!(
                event["outcome"].as_str(),
                Some("succeeded" | "failed" | "cancelled" | "expired")
            );
            if let (true, Some(job)) = (
                is_end,
                event["resource"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("job/")),
            ) {
                *ends.entry(job.to_string()).or_default() += 1;
            }
        }
        attempts += 1;
        if attempts >= 20 || ended.iter().all(|id| ends.contains_key(*id)) {
            return Ok(ends);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Prepared-key verification of the run's proof, `concurrency` threads at
/// once, as many as the API run sent (bounded by `--duration`).
/// The raw side of a verify run: `verify_prepared` of the run's proof on
/// `--concurrency` threads in this process, measured before each round of
/// the API run and after the last.
struct RawVerifier {
    pvk: ark_groth16::PreparedVerifyingKey<ark_bn254::Bn254>,
    proof: ark_groth16::Proof<ark_bn254::Bn254>,
    public: Vec<ark_bn254::Fr>,
    threads: usize,
}

impl RawVerifier {
    fn new(a: &LoadgenArgs, work: &Work) -> CliResult<Self> {
        let Work::Verify { vk, proof, public } = work else {
            return Err(CliError::Failed("not a verify run".into()));
        };
        let vk = zkr_verifier::snarkjs::parse_vk(vk, "verification key")?;
        let pvk = ark_groth16::prepare_verifying_key(&vk);
        let proof = zkr_verifier::snarkjs::parse_proof(proof, "proof")?;
        let public = zkr_verifier::snarkjs::parse_public(public, "public_signals")?;
        if !zkr_verifier::verify_prepared(&pvk, &proof, &public)? {
            return Err(CliError::Failed(
                "the run's proof does not verify in process".into(),
            ));
        }
        Ok(Self {
            pvk,
            proof,
            public,
            threads: a.concurrency,
        })
    }

    /// Verifies for `secs` or `count` verifications, whichever ends first.
    fn measure(&self, count: u64, secs: Duration) -> Measured {
        let budget = Budget {
            next: AtomicU64::new(0),
            count,
            until: Instant::now() + secs,
        };
        let start = Instant::now();
        let done = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..self.threads {
                s.spawn(|| {
                    while budget.take().is_some() {
                        if matches!(
                            zkr_verifier::verify_prepared(&self.pvk, &self.proof, &self.public),
                            Ok(true)
                        ) {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        Measured {
            proofs: done.load(Ordering::Relaxed),
            secs: start.elapsed().as_secs_f64(),
        }
    }

    /// The rate over all the measurements.
    fn baseline(self, segments: &[Measured]) -> Baseline {
        let done: u64 = segments.iter().map(|m| m.proofs).sum();
        let secs: f64 = segments.iter().map(|m| m.secs).sum();
        let per_s = done as f64 / secs.max(1e-9);
        Baseline {
            what: format!(
                "verify_prepared of the same proof, {} threads, in this process, before each \
                 round of the API run and after the last",
                self.threads
            ),
            parallel: self.threads,
            per_s,
            tried: BTreeMap::from([(self.threads, per_s)]),
            measured_over: done,
            segments: segments
                .iter()
                .map(|m| m.proofs as f64 / m.secs.max(1e-9))
                .collect(),
        }
    }
}

/// The raw side of a prove run: the run's input proved in this process
/// from prepared matrices, with each number of proofs at once of
/// [`throughput::parallelisms`] (each proof on its share of the cores),
/// measured alike before each round of the API run and after the last;
/// the best of them over all measurements is the raw rate (at its very
/// best: not held back by `MIN_GAIN`, so that the API/raw ratio is not
/// flattered).
struct RawProver {
    what: String,
    pk: ark_groth16::ProvingKey<ark_bn254::Bn254>,
    prepared: zkr_prover::Prepared,
    circuit: zkr_circuits::AnyCircuit,
    /// Proofs at once measured, ascending.
    ks: Vec<usize>,
}

/// Proofs, and the seconds they took.
#[derive(Clone, Copy)]
struct Measured {
    proofs: u64,
    secs: f64,
}

impl RawProver {
    fn new(a: &LoadgenArgs, kind: CircuitKind, input: &str) -> CliResult<Self> {
        let dir = a
            .keys
            .as_deref()
            .ok_or_else(|| CliError::Input("--keys is required".into()))?;
        let info = zkr_artifacts::read_info(dir)?;
        let (key_kind, depth) = info.kind_and_depth()?;
        if key_kind != kind {
            return Err(CliError::Input(format!(
                "--keys {} holds the {} circuit, the run proves {}",
                dir.display(),
                key_kind.name(),
                kind.name()
            )));
        }
        let pk = zkr_artifacts::read_proving_key(dir, &info)?;
        let circuit = circuit_from_json(kind, depth, input)?;
        let prepared = zkr_prover::Prepared::new(kind.blank(depth)?)
            .map_err(|e| CliError::Failed(format!("preparing the circuit: {e}")))?;
        Ok(Self {
            what: format!(
                "{}({depth}) proofs from prepared matrices (CPU), in this process, 1..{} at \
                 once, each measured before each round of the API run and after the last; \
                 the fastest",
                kind.name(),
                throughput::cores()
            ),
            pk,
            prepared,
            circuit,
            ks: throughput::parallelisms(),
        })
    }

    /// Proves about `n` proofs, shared among the numbers at once (whole
    /// rounds of each), in turn, the order reversed when `reverse`: one
    /// measurement per number.
    fn measure(&self, n: u64, reverse: bool) -> CliResult<Vec<Measured>> {
        let each = (n / self.ks.len() as u64).max(1) as usize;
        let prove = |_: u64| {
            self.prepared
                .prove(
                    &self.pk,
                    self.circuit.clone(),
                    &mut OsRng,
                    zkr_prover::Backend::Cpu,
                )
                .map(|_| ())
        };
        let mut order: Vec<usize> = (0..self.ks.len()).collect();
        if reverse {
            order.reverse();
        }
        let mut out = vec![
            Measured {
                proofs: 0,
                secs: 0.0
            };
            self.ks.len()
        ];
        for i in order {
            let k = self.ks[i];
            let rounds = each.div_ceil(k);
            let rate = throughput::proofs_per_s(k, rounds, &prove)
                .map_err(|e| CliError::Failed(format!("proving: {e}")))?;
            let proofs = (rounds * k) as u64;
            out[i] = Measured {
                proofs,
                secs: proofs as f64 / rate,
            };
        }
        Ok(out)
    }

    /// The best number at once over all the measurements, and its rate.
    fn baseline(self, segments: &[Vec<Measured>]) -> Baseline {
        let over = |i: usize| {
            let proofs: u64 = segments.iter().map(|m| m[i].proofs).sum();
            let secs: f64 = segments.iter().map(|m| m[i].secs).sum();
            (proofs, proofs as f64 / secs.max(1e-9))
        };
        let tried: BTreeMap<usize, f64> = (0..self.ks.len())
            .map(|i| (self.ks[i], over(i).1))
            .collect();
        let best = (0..self.ks.len())
            .max_by(|x, y| over(*x).1.total_cmp(&over(*y).1))
            .unwrap_or(0);
        let (proofs, per_s) = over(best);
        Baseline {
            what: self.what,
            parallel: self.ks[best],
            per_s,
            tried,
            measured_over: proofs,
            segments: segments
                .iter()
                .map(|m| m[best].proofs as f64 / m[best].secs.max(1e-9))
                .collect(),
        }
    }
}

/// What makes the headline rate mean less than it seems: requests the
/// service refused (a rate limit or a full queue) are not throughput.
fn warnings(r: &Report) -> Vec<String> {
    let refused: u64 = ["429", "503"]
        .iter()
        .filter_map(|code| r.errors.get(*code))
        .sum();
    if refused == 0 {
        return Vec::new();
    }
    vec![format!(
        "{refused} of {} requests were refused (429 rate limit or 503 busy) and are not counted in the rates; \
         raise the token's or the address's rate limit ([rate_limit] in the configuration) or lower --concurrency to measure the service",
        r.requests
    )]
}

fn text_report(r: &Report) -> String {
    let mut s = format!(
        "{} {}: {} of {} requests answered as expected in {:.1} s over {} connections: {:.1} req/s, {:.2} proofs/s\n",
        r.mode,
        r.circuit,
        r.ok,
        r.requests,
        r.elapsed_s,
        r.concurrency,
        r.req_per_s,
        r.proofs_per_s
    );
    let l = &r.latency_ms;
    s.push_str(&format!(
        "latency ms: p50 {:.1}  p95 {:.1}  p99 {:.1}  max {:.1}\n",
        l.p50, l.p95, l.p99, l.max
    ));
    let errors: Vec<String> = r.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    s.push_str(&format!(
        "ok {}; errors {}\n",
        r.ok,
        if errors.is_empty() {
            "none".into()
        } else {
            errors.join(", ")
        }
    ));
    if let Some(j) = &r.jobs {
        s.push_str(&format!(
            "jobs: accepted {}, succeeded {}, failed {}, not ended {}, ended twice {}, end not audited {}; LOST {}\n",
            j.accepted, j.succeeded, j.failed, j.not_ended, j.ended_twice, j.end_not_audited, j.lost
        ));
        let l = &j.latency_ms;
        s.push_str(&format!(
            "job latency ms (submit to end): p50 {:.0}  p95 {:.0}  p99 {:.0}  max {:.0}\n",
            l.p50, l.p95, l.p99, l.max
        ));
    }
    if let (Some(b), Some(ratio)) = (&r.baseline, r.api_over_raw) {
        s.push_str(&format!(
            "raw: {:.2}/s ({}; best at {} at once, over {})\n",
            b.per_s, b.what, b.parallel, b.measured_over,
        ));
        if !b.segments.is_empty() {
            let rates: Vec<String> = b.segments.iter().map(|r| format!("{r:.2}")).collect();
            s.push_str(&format!(
                "raw before each round and after the last: {} /s\n",
                rates.join(", ")
            ));
        }
        if !r.rounds_proofs_per_s.is_empty() {
            let rates: Vec<String> = r
                .rounds_proofs_per_s
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect();
            s.push_str(&format!("API in each round: {} /s\n", rates.join(", ")));
        }
        s.push_str(&format!("API/raw: {:.1} %\n", ratio * 100.0));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_accepted_and_others_refused() {
        for (url, addr) in [
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://127.9.8.7:1/", "127.9.8.7:1"),
            ("http://localhost:3000", "127.0.0.1:3000"),
            ("http://[::1]:8080/", "[::1]:8080"),
            ("http://127.0.0.1", "127.0.0.1:80"),
        ] {
            assert_eq!(
                loopback_addr(url).ok().map(|a| a.to_string()).as_deref(),
                Some(addr),
                "{url}"
            );
        }
        for url in [
            "http://10.0.0.1:8080",
            "http://0.0.0.0:8080",
            "http://example.com:80",
            "http://127.0.0.1.example.com",
            "https://127.0.0.1:8080",
            "127.0.0.1:8080",
            "http://127.0.0.1:8080/v1",
            "http://user@127.0.0.1:8080",
            "http://[::ffff:10.0.0.1]:80",
            "http://127.0.0.1:0",
            "http://127.0.0.1:99999",
        ] {
            let e = loopback_addr(url).expect_err(url);
            assert!(matches!(e, CliError::Input(_)), "{url}");
        }
    }

    #[test]
    fn refusals_are_not_throughput() {
        let mut errors = BTreeMap::new();
        errors.insert("429".to_string(), 90);
        let t = Tally {
            requests: 100,
            ok: 10,
            errors,
            ..Tally::default()
        };
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            a: LoadgenArgs,
        }
        let a = <Cli as clap::Parser>::parse_from(["loadgen"]).a;
        let r = report_of(&a, CircuitKind::Range, &t, Duration::from_secs(2));
        assert_eq!(r.req_per_s, 5.0);
        assert_eq!(r.sent_per_s, 50.0);
        let w = warnings(&r);
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("90 of 100 requests were refused"), "{w:?}");
        assert!(text_report(&r).contains("10 of 100 requests answered as expected"));
        let quiet = Tally {
            requests: 10,
            ok: 10,
            ..Tally::default()
        };
        assert!(
            warnings(&report_of(
                &a,
                CircuitKind::Range,
                &quiet,
                Duration::from_secs(1)
            ))
            .is_empty()
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let l = Latency::of((1..=100).map(f64::from).rev().collect());
        assert_eq!((l.p50, l.p95, l.p99, l.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(Latency::of(vec![]), Latency::default());
        assert_eq!(Latency::of(vec![3.0]).p99, 3.0);
    }

    #[test]
    fn decimal_of_big_endian_bytes() {
        assert_eq!(num_decimal(&[0]), "0");
        assert_eq!(num_decimal(&[1, 0]), "256");
        assert_eq!(num_decimal(&[0xff; 8]), u64::MAX.to_string());
    }

    #[test]
    fn generated_inputs_satisfy_their_circuits() {
        for n in [0, 1, 999, 12_345] {
            for kind in [CircuitKind::Range, CircuitKind::Receipt] {
                let input = input_for(kind, n).to_string();
                circuit_from_json(kind, 4, &input).unwrap_or_else(|e| panic!("{kind:?} {n}: {e}"));
            }
        }
    }
}
