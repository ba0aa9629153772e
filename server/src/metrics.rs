//! Prometheus metrics, one registry per service instance (so that tests
//! running several routers in one process do not share counters).

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
                "Proof jobs queued and running, by circuit and state",
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
        let queue_depth =
            IntGauge::new("zkr_proof_queue_depth", "Proof jobs waiting for a prover").map_err(m)?;
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
            Opts::new("zkr_webhooks", "Webhook deliveries by state"),
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
        })
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

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response> {
    // The queue is shared by every node: its depth is read, not counted.
    if let Err(e) = state.jobs.sample_gauges().await {
        tracing::warn!(error = %e, "cannot sample the proof queue for metrics");
    }
    let body = state.metrics.render()?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response())
}
