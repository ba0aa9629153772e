//! Prometheus metrics, one registry per service instance (so that tests
//! running several routers in one process do not share counters).
//!
//! Two kinds of figures: a process's own counters and histograms (requests,
//! the jobs its workers ended), which add up across processes, and
//! pool-wide gauges (`POOL_WIDE`) read from the shared database at each
//! scrape, which every process exports with the same value: those are
//! aggregated with `max`, never `sum` (docs/operations.md).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use super::AppState;
use super::error::{Error, ErrorCode, Result};

/// The gauges read from the database at each scrape: every node of a pool
/// exports the same figures, so a sum over nodes counts them once per node.
/// The tests hold the dashboard and the alert rules to this list.
#[cfg(test)]
const POOL_WIDE: &[&str] = &[
    "zkr_proof_jobs",
    "zkr_proof_queue_depth",
    "zkr_proof_workers_live",
    "zkr_webhooks",
    "zkr_audit_head_seq",
    "zkr_audit_checkpoint_seq",
];

/// The first words of every pool-wide gauge's help text.
const POOL_WIDE_HELP: &str =
    "Pool-wide (read from the database, the same on every node: aggregate with max)";

fn pool_wide(help: &str) -> String {
    format!("{POOL_WIDE_HELP}: {help}")
}

/// The service's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route, method and status.
    pub requests: IntCounterVec,
    /// Request latency by route and method.
    pub latency: HistogramVec,
    /// Error responses by route and error code.
    pub errors: IntCounterVec,
    /// Proof jobs queued and running, by circuit and state (sampled from
    /// the database at each scrape, so it counts every node's jobs).
    pub proof_jobs: IntGaugeVec,
    /// Proof jobs waiting for a prover (every node's).
    pub queue_depth: IntGauge,
    /// Proof jobs this node's workers ended, by circuit, state and backend.
    pub jobs_finished: IntCounterVec,
    /// Time from queued to claimed, by circuit.
    pub queue_wait: HistogramVec,
    /// Time proving a job (witness, proof, self-check), by circuit and backend.
    pub proving_time: HistogramVec,
    /// Leases that expired (a worker was lost) and were claimed again or
    /// ended their job.
    pub lease_expiries: IntCounter,
    /// Jobs claimed again after a lost worker, by circuit.
    pub retries: IntCounterVec,
    /// Audit appends by result (`ok`, `error`).
    pub audit_appends: IntCounterVec,
    /// Access decisions by outcome.
    pub decisions: IntCounterVec,
    /// Webhook delivery attempts this node made, by result (`delivered`,
    /// `retry`, `dead`).
    pub webhook_deliveries: IntCounterVec,
    /// Webhook deliveries by state (sampled from the database, every node's).
    pub webhooks: IntGaugeVec,
    /// Jobs whose MSM device failed (or was not there) and that were proved
    /// on the CPU instead, by circuit.
    pub fallbacks: IntCounterVec,
    /// CPU proofs this node's `auto` workers run at once (chosen by
    /// measured throughput; 0 without such workers).
    pub proofs_at_once: IntGauge,
    /// Live prover workers of the pool by backend kind (`cpu`, `opencl`):
    /// a heartbeat within `LIVE_WITHIN_SECS` (jobs.rs) and not stopped.
    pub workers_live: IntGaugeVec,
    /// Sequence number of the audit chain's head (every node's events).
    pub audit_head: IntGauge,
    /// Sequence number of the last signed audit checkpoint.
    pub audit_checkpoint: IntGauge,
    /// 1, labelled with this process's version and role (`serve`, `worker`).
    build_info: IntGaugeVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Self> {
        let m = |e: prometheus::Error| Error::Internal(format!("metrics: {e}"));
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "zkr_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )
        .map_err(m)?;
        let latency = HistogramVec::new(
            HistogramOpts::new("zkr_http_request_duration_seconds", "HTTP request latency")
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0,
                ]),
            &["route", "method"],
        )
        .map_err(m)?;
        let errors = IntCounterVec::new(
            Opts::new(
                "zkr_http_errors_total",
                "Error responses by route and error code",
            ),
            &["route", "code"],
        )
        .map_err(m)?;
        let proof_jobs = IntGaugeVec::new(
            Opts::new(
                "zkr_proof_jobs",
                pool_wide("proof jobs queued and running, by circuit and state"),
            ),
            &["circuit", "state"],
        )
        .map_err(m)?;
        let jobs_finished = IntCounterVec::new(
            Opts::new(
                "zkr_proof_jobs_finished_total",
                "Proof jobs this node's workers ended, by circuit, state and backend",
            ),
            &["circuit", "state", "backend"],
        )
        .map_err(m)?;
        let seconds = vec![
            0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
        ];
        let queue_wait = HistogramVec::new(
            HistogramOpts::new(
                "zkr_proof_queue_wait_seconds",
                "Time proof jobs waited from queued to claimed",
            )
            .buckets(seconds.clone()),
            &["circuit"],
        )
        .map_err(m)?;
        let proving_time = HistogramVec::new(
            HistogramOpts::new("zkr_proof_proving_seconds", "Time proving a job").buckets(seconds),
            &["circuit", "backend"],
        )
        .map_err(m)?;
        let lease_expiries = IntCounter::new(
            "zkr_proof_lease_expiries_total",
            "Proof-job leases that expired because their worker was lost",
        )
        .map_err(m)?;
        let retries = IntCounterVec::new(
            Opts::new(
                "zkr_proof_retries_total",
                "Proof jobs claimed again after a lost worker",
            ),
            &["circuit"],
        )
        .map_err(m)?;
        let queue_depth = IntGauge::new(
            "zkr_proof_queue_depth",
            pool_wide("proof jobs waiting for a prover"),
        )
        .map_err(m)?;
        let audit_appends = IntCounterVec::new(
            Opts::new(
                "zkr_audit_appends_total",
                "Audit events appended, by result",
            ),
            &["result"],
        )
        .map_err(m)?;
        let decisions = IntCounterVec::new(
            Opts::new("zkr_access_decisions_total", "Access decisions by outcome"),
            &["outcome"],
        )
        .map_err(m)?;
        registry.register(Box::new(requests.clone())).map_err(m)?;
        registry.register(Box::new(latency.clone())).map_err(m)?;
        registry.register(Box::new(errors.clone())).map_err(m)?;
        registry.register(Box::new(proof_jobs.clone())).map_err(m)?;
        registry
            .register(Box::new(jobs_finished.clone()))
            .map_err(m)?;
        registry.register(Box::new(queue_wait.clone())).map_err(m)?;
        registry
            .register(Box::new(proving_time.clone()))
            .map_err(m)?;
        registry
            .register(Box::new(lease_expiries.clone()))
            .map_err(m)?;
        registry.register(Box::new(retries.clone())).map_err(m)?;
        registry
            .register(Box::new(queue_depth.clone()))
            .map_err(m)?;
        registry
            .register(Box::new(audit_appends.clone()))
            .map_err(m)?;
        let webhook_deliveries = IntCounterVec::new(
            Opts::new(
                "zkr_webhook_deliveries_total",
                "Webhook delivery attempts this node made, by result",
            ),
            &["result"],
        )
        .map_err(m)?;
        let webhooks = IntGaugeVec::new(
            Opts::new("zkr_webhooks", pool_wide("webhook deliveries by state")),
            &["state"],
        )
        .map_err(m)?;
        registry.register(Box::new(decisions.clone())).map_err(m)?;
        registry
            .register(Box::new(webhook_deliveries.clone()))
            .map_err(m)?;
        registry.register(Box::new(webhooks.clone())).map_err(m)?;
        let fallbacks = IntCounterVec::new(
            Opts::new(
                "zkr_proof_fallbacks_total",
                "Proof jobs proved on the CPU after their MSM device failed, by circuit",
            ),
            &["circuit"],
        )
        .map_err(m)?;
        registry.register(Box::new(fallbacks.clone())).map_err(m)?;
        let proofs_at_once = IntGauge::new(
            "zkr_proofs_at_once",
            "CPU proofs this node's workers run at once, chosen by measured throughput",
        )
        .map_err(m)?;
        registry
            .register(Box::new(proofs_at_once.clone()))
            .map_err(m)?;
        let workers_live = IntGaugeVec::new(
            Opts::new(
                "zkr_proof_workers_live",
                pool_wide("prover workers with a recent heartbeat, by backend kind"),
            ),
            &["backend"],
        )
        .map_err(m)?;
        registry
            .register(Box::new(workers_live.clone()))
            .map_err(m)?;
        let audit_head = IntGauge::new(
            "zkr_audit_head_seq",
            pool_wide("sequence number of the audit chain's newest event"),
        )
        .map_err(m)?;
        registry.register(Box::new(audit_head.clone())).map_err(m)?;
        let audit_checkpoint = IntGauge::new(
            "zkr_audit_checkpoint_seq",
            pool_wide("sequence number of the newest signed audit checkpoint"),
        )
        .map_err(m)?;
        registry
            .register(Box::new(audit_checkpoint.clone()))
            .map_err(m)?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "zkr_build_info",
                "1 for each process, labelled with its version and role (serve, worker)",
            ),
            &["version", "role"],
        )
        .map_err(m)?;
        registry.register(Box::new(build_info.clone())).map_err(m)?;
        for kind in ["cpu", "opencl"] {
            workers_live.with_label_values(&[kind]).set(0);
        }
        for result in ["delivered", "retry", "dead"] {
            webhook_deliveries.with_label_values(&[result]);
        }
        for state in ["pending", "delivered", "dead"] {
            webhooks.with_label_values(&[state]).set(0);
        }
        // Make the series visible from the first scrape, so dashboards show 0, not "no data".
        for circuit in ["range", "membership", "receipt", "disclosure"] {
            for state in ["queued", "running"] {
                proof_jobs.with_label_values(&[circuit, state]).set(0);
            }
            retries.with_label_values(&[circuit]);
            fallbacks.with_label_values(&[circuit]);
            // Every process, an API-only node too, exports its own job
            // figures from the start: a sum over nodes is then complete and
            // a rate sees a series' first increase.
            queue_wait.with_label_values(&[circuit]);
            proving_time.with_label_values(&[circuit, "cpu"]);
            for state in ["succeeded", "failed"] {
                jobs_finished.with_label_values(&[circuit, state, "cpu"]);
            }
        }
        for result in ["ok", "error"] {
            audit_appends.with_label_values(&[result]);
        }
        Ok(Self {
            registry,
            requests,
            latency,
            errors,
            proof_jobs,
            queue_depth,
            jobs_finished,
            queue_wait,
            proving_time,
            lease_expiries,
            retries,
            audit_appends,
            decisions,
            webhook_deliveries,
            webhooks,
            fallbacks,
            proofs_at_once,
            workers_live,
            audit_head,
            audit_checkpoint,
            build_info,
        })
    }

    /// Labels this process in `zkr_build_info` with its role: `serve` (the
    /// API, with its in-process workers) or `worker`.
    pub fn set_role(&self, role: &str) {
        self.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), role])
            .set(1);
    }

    /// Text exposition format.
    pub fn render(&self) -> Result<String> {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .map_err(|e| Error::Internal(format!("metrics: {e}")))?;
        String::from_utf8(buf).map_err(|e| Error::Internal(format!("metrics: {e}")))
    }
}

/// The `route` label of requests that matched no route: one label for
/// every unknown path, so that made-up paths cannot add series.
pub(crate) const UNMATCHED_ROUTE: &str = "unmatched";

/// The `method` label: the standard methods by name, anything else
/// `other`. HTTP allows any token as a method, so labelling by the raw
/// method would let a caller add a series per request.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts and times every request by its route template (never
/// the raw path, which would make one series per id) and by a fixed set of
/// methods, so the number of series is bounded whatever callers send.
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, |p| p.as_str())
        .to_string();
    let method = method_label(req.method());
    let start = Instant::now();
    let response = next.run(req).await;
    let m = &state.metrics;
    m.latency
        .with_label_values(&[&route, method])
        .observe(start.elapsed().as_secs_f64());
    m.requests
        .with_label_values(&[&route, method, response.status().as_str()])
        .inc();
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        m.errors.with_label_values(&[&route, code.0]).inc();
    }
    response
}

/// Reads the audit chain's head and its newest checkpoint (0 before the first).
async fn sample_audit(state: &AppState) -> Result<()> {
    let head = zkr_store::audit_head(&state.db).await?;
    let signed = zkr_store::audit_checkpoints::last_seq(&state.db).await?;
    state.metrics.audit_head.set(head.map_or(0, |h| h.seq));
    state.metrics.audit_checkpoint.set(signed.unwrap_or(0));
    Ok(())
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response> {
    // The queue and the audit chain are shared by every node: their
    // figures are read, not counted.
    if let Err(e) = state.jobs.sample_gauges().await {
        tracing::warn!(error = %e, "cannot sample the proof queue for metrics");
    }
    if let Err(e) = sample_audit(&state).await {
        tracing::warn!(error = %e, "cannot sample the audit chain for metrics");
    }
    let body = state.metrics.render()?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PromQL aggregation operators, which may take a `by`/`without` clause.
    const AGGREGATIONS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    /// The aggregations that are right for a figure every node exports alike.
    const ONCE: &[&str] = &["max", "min", "avg"];

    /// The identifier that ends just before byte `end` of `expr`.
    fn word_before(expr: &str, end: usize) -> (&str, usize) {
        let head = expr[..end].trim_end();
        let start = head
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        (&head[start..], start)
    }

    /// The index of the `(` that closes at `close` (a `)`), scanning left.
    fn open_of(expr: &[u8], close: usize) -> Option<usize> {
        let mut depth = 0usize;
        for i in (0..=close).rev() {
            match expr[i] {
                b')' => depth += 1,
                b'(' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The aggregation operator nearest around byte `at` of `expr`, looking
    /// out through function calls and parentheses.
    fn aggregation_around(expr: &str, at: usize) -> Option<&str> {
        let bytes = expr.as_bytes();
        let mut pos = at;
        loop {
            // The nearest unclosed `(` to the left.
            let mut depth = 0usize;
            let mut open = None;
            for i in (0..pos).rev() {
                match bytes[i] {
                    b')' => depth += 1,
                    b'(' if depth == 0 => {
                        open = Some(i);
                        break;
                    }
                    b'(' => depth -= 1,
                    _ => {}
                }
            }
            let open = open?;
            let before = expr[..open].trim_end();
            let (mut word, mut start) = word_before(expr, before.len());
            // `max by (a, b) (x)`: step over the clause to the operator.
            if before.ends_with(')')
                && let Some(clause) = open_of(bytes, before.len() - 1)
            {
                let (kw, kw_start) = word_before(expr, clause);
                if kw == "by" || kw == "without" {
                    (word, start) = word_before(expr, kw_start);
                }
            }
            if AGGREGATIONS.contains(&word) {
                return Some(word);
            }
            pos = start.min(open);
        }
    }

    /// Every place in `expr` where a pool-wide gauge is not aggregated
    /// across nodes with max, min or avg.
    fn pool_wide_misuses(expr: &str) -> Vec<String> {
        let mut wrong = Vec::new();
        for name in POOL_WIDE {
            let mut from = 0;
            while let Some(i) = expr[from..].find(name).map(|i| i + from) {
                from = i + name.len();
                let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
                let whole = !expr[..i].ends_with(ident) && !expr[from..].starts_with(ident);
                if !whole {
                    continue;
                }
                match aggregation_around(expr, i) {
                    Some(op) if ONCE.contains(&op) => {}
                    Some(op) => wrong.push(format!("{name} aggregated with {op}: {expr}")),
                    None => wrong.push(format!("{name} not aggregated across nodes: {expr}")),
                }
            }
        }
        wrong
    }

    /// A file of the repository's `dashboards/`.
    fn dashboards_file(name: &str) -> String {
        let path = format!("{}/../dashboards/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn dashboard_exprs() -> Vec<String> {
        let text = dashboards_file("zkr.json");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
        let mut exprs = Vec::new();
        for panel in doc["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(e) = target["expr"].as_str() {
                    exprs.push(e.to_string());
                }
            }
        }
        exprs
    }

    fn alert_exprs() -> Vec<String> {
        dashboards_file("zkr-alerts.yml")
            .lines()
            .filter_map(|l| l.trim().strip_prefix("expr:"))
            .map(|e| e.trim().to_string())
            .collect()
    }

    #[test]
    fn the_checker_tells_max_from_sum() {
        assert!(pool_wide_misuses("max by (circuit, state) (zkr_proof_jobs)").is_empty());
        assert!(pool_wide_misuses("max(zkr_proof_queue_depth) > 0").is_empty());
        assert!(
            pool_wide_misuses("deriv(max without (instance) (zkr_proof_queue_depth)[15m:1m])")
                .is_empty()
        );
        assert!(pool_wide_misuses("max(max_over_time(zkr_webhooks[5m]))").is_empty());
        assert_eq!(
            pool_wide_misuses("sum by (circuit, state) (zkr_proof_jobs)").len(),
            1
        );
        assert_eq!(pool_wide_misuses("zkr_proof_queue_depth").len(), 1);
        assert_eq!(
            pool_wide_misuses("sum(max_over_time(zkr_webhooks[5m]))").len(),
            1
        );
        // A per-process metric whose name starts like a pool-wide one.
        assert!(pool_wide_misuses("sum(rate(zkr_proof_jobs_finished_total[5m]))").is_empty());
    }

    #[test]
    fn pool_wide_gauges_are_never_summed_across_nodes() {
        let mut exprs = dashboard_exprs();
        exprs.extend(alert_exprs());
        assert!(exprs.len() > 10, "dashboard and alert expressions read");
        let wrong: Vec<String> = exprs.iter().flat_map(|e| pool_wide_misuses(e)).collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn pool_wide_gauges_say_so_and_every_node_exports_its_job_figures() {
        let metrics = Metrics::new().expect("metrics");
        let text = metrics.render().expect("render");
        for name in POOL_WIDE {
            let help = format!("# HELP {name} {POOL_WIDE_HELP}");
            assert!(text.contains(&help), "{name} is not marked pool-wide");
        }
        // An API-only node, which proves nothing, still exports the job
        // counters and histograms (at 0), so sums over nodes are complete.
        for name in [
            "zkr_proof_jobs_finished_total{",
            "zkr_proof_queue_wait_seconds_bucket{",
            "zkr_proof_proving_seconds_bucket{",
            "zkr_proof_workers_live{",
        ] {
            assert!(text.contains(name), "{name} missing from a fresh scrape");
        }
    }
}
