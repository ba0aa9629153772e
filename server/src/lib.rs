//! The HTTP service behind `zkr serve`: configuration, authentication,
//! access control, audit log, proof jobs, rate limits and metrics. The
//! `zkr` binary parses the command line and calls [`run`]; storage is
//! `zkr-store`, circuit keys `zkr-artifacts`.
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod access;
mod access_log;
mod announced;
mod audit;
mod audit_verify;
mod auth;
mod checkpoint_file;
mod checkpoints;
mod config;
mod error;
mod http;
mod job_list;
mod jobs;
mod metrics;
mod openapi;
mod policies;
mod pool_identity;
mod ratelimit;
mod records;
mod registries;
mod routes;
mod slots;
mod state;
mod verifying_keys;
mod webhooks;
mod worker;

pub use self::access::{Action, Purpose};
pub use self::auth::{Principal, Role};
pub use self::config::{Config, HttpConfig, RateLimitConfig, Workers, env_help};
pub use self::error::{Error, Result};
pub use self::http::{serve, timeout};
pub use self::registries::Registries;
pub use self::state::{AppState, Ask, Clock};

/// Bearer tokens: minting, checking, listing and revoking them, and the
/// admin token file of the first start.
pub mod tokens {
    pub use crate::auth::{
        NewToken, Rotated, TOKEN_PREFIX, TokenInfo, authenticate, bootstrap_admin, create_token_in,
        list, mint, revoke, rotate_admin,
    };
}

/// The audit log outside a request: appending from the command line,
/// export, and verification of the hash chain and its signed checkpoints.
pub mod audit_log {
    pub use crate::audit::{
        AuditLog, AuditWriter, Broken, Event, Filter, NewEvent, VerifyReport, append_direct,
        canonical, entry_hash, query, verify, verify_database, verify_database_with, verify_export,
    };
    pub use crate::checkpoint_file::{read as read_kept_checkpoint, read_all as kept_checkpoints};
    pub use crate::checkpoints::{
        Checkpoint, Checkpointer, Schedule, Trust, guard_start, list as checkpoints, sign_head,
    };
}

/// Proof jobs, the prover workers and the deliverer of job-end webhooks,
/// for tools and tests that drive them directly rather than through the API.
pub mod provers {
    pub use crate::jobs::{CircuitKeys, Failure, FailureCode, Outcome};
    pub use crate::webhooks::{Deliverer, WebhookSecret};
    pub use crate::worker::{Pool, usable_circuits};
}

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;

/// The whole HTTP API on `state`.
pub fn router(state: AppState) -> Router {
    let (routes, _) = routes::public()
        .merge(routes::v1().layer(from_fn_with_state(state.clone(), http::authenticate)))
        .split_for_parts();
    routes
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.http.body_limit_bytes))
        .layer(from_fn_with_state(state.clone(), http::timeout))
        // The IP bucket covers every route, the fallback included, and
        // runs before authentication; metrics still count its 429s.
        .layer(from_fn_with_state(state.clone(), http::limit_ip))
        .layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(axum::middleware::from_fn(access_log::log))
        .with_state(state)
}

/// Serves `config` until SIGTERM or ctrl-c, then finishes in-flight
/// requests and flushes the audit log.
pub async fn run(config: Config) -> Result<()> {
    let shutdown = shutdown_signal()?;
    let listen = config.listen;
    // Bound before anything is created: a port that is taken must not
    // cost a first start (data directory, keys, circuit set-up) first.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {listen}: {e}")))?;
    let data_dir = config.data_dir.clone();
    zkr_artifacts::secure_dir(&data_dir)?;
    zkr_artifacts::prepare_sqlite(&config.database_url())?;
    let (mut state, writer) = AppState::start(config).await?;
    state.metrics.set_role("serve");
    // Before anything is appended: never behind a kept checkpoint.
    checkpoints::guard_start(&state).await?;
    let kek = pool_identity::kek(&state, &data_dir, pool_identity::Role::Api).await?;
    state.attach_keys(kek).await?;
    for id in state.ensure_service_keys().await? {
        println!("created service key {id} (custodial, under the KEK)");
    }
    // This node makes the pool or joins it: its keys and KEK are the pool's.
    pool_identity::check_pool_key(&state, pool_identity::Role::Api).await?;
    let node = format!("api {} pid {}", worker::host_name(), std::process::id());
    pool_identity::sync_circuit_keys(&state, pool_identity::Role::Api, &node).await?;
    // Jobs an earlier run left queued or running are still in the
    // database: the workers (here or elsewhere) take them up again.
    let provers = state.start_provers().await?;
    let deliverer = start_deliverer(&state)?;
    let relay = relay_announcements(&state);
    let checkpointer = checkpoints::Checkpointer::for_state(&state).await?;
    if let Some(path) =
        auth::bootstrap_admin(&state.db, &data_dir, state.config.admin_token_days).await?
    {
        println!(
            "admin token written to {} (readable only by its owner)",
            path.display()
        );
    }
    tracing::info!(%listen, "zkr serve listening");
    println!("listening on http://{}", listener.local_addr()?);
    let limits = state.limits.clone();
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limits.shrink();
        }
    });
    let audit = state.audit.clone();
    let db = state.db.clone();
    let http_config = state.config.http.clone();
    http::serve(listener, router(state), &http_config, shutdown).await?;
    sweeper.abort();
    if let Some(r) = relay {
        r.abort();
    }
    provers.stop().await;
    if let Some(d) = deliverer {
        d.stop().await;
    }
    audit.close().await;
    writer.join().await;
    checkpointer.finish().await;
    db.pool.close().await;
    tracing::info!("zkr serve stopped; audit log flushed");
    Ok(())
}

/// Runs `zkr worker` on `config` until SIGTERM or ctrl-c: prover workers
/// only, on the database, circuit keys and KEK that the configuration
/// names. Jobs it holds when stopped go back to the queue.
pub async fn run_worker(config: Config) -> Result<()> {
    let shutdown = shutdown_signal()?;
    let data_dir = config.data_dir.clone();
    zkr_artifacts::secure_dir(&data_dir)?;
    zkr_artifacts::prepare_sqlite(&config.database_url())?;
    let (mut state, writer) = AppState::start(config).await?;
    state.metrics.set_role("worker");
    checkpoints::guard_start(&state).await?;
    // A worker joins an existing pool: its KEK, pool key and circuit keys
    // are the pool's, or it does not start.
    let kek = pool_identity::kek(&state, &data_dir, pool_identity::Role::Worker).await?;
    state.attach_keys(kek).await?;
    pool_identity::check_pool_key(&state, pool_identity::Role::Worker).await?;
    let node = format!("worker {} pid {}", worker::host_name(), std::process::id());
    let circuits =
        pool_identity::sync_circuit_keys(&state, pool_identity::Role::Worker, &node).await?;
    let provers = worker::Pool::start(&state, state.config.proofs.workers, circuits).await?;
    let deliverer = start_deliverer(&state)?;
    let metrics = match state.config.metrics.worker_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            println!("metrics on http://{}/metrics", listener.local_addr()?);
            Some(tokio::spawn(serve_worker_metrics(listener, state.clone())))
        }
        None => None,
    };
    println!("{} prover workers running", provers.len());
    shutdown.await;
    if let Some(m) = metrics {
        m.abort();
    }
    provers.stop().await;
    if let Some(d) = deliverer {
        d.stop().await;
    }
    state.audit.close().await;
    writer.join().await;
    state.db.pool.close().await;
    tracing::info!("zkr worker stopped; held jobs handed back");
    Ok(())
}

/// `GET /metrics` of a `zkr worker` (which serves no API) on `listener`,
/// with the HTTP limits of the configuration.
pub async fn serve_worker_metrics(listener: tokio::net::TcpListener, state: AppState) {
    let http_config = state.config.http.clone();
    // The API's own documented `/metrics` route, alone.
    let (app, _) = utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(crate::metrics::metrics))
        .split_for_parts();
    let app = app.fallback(http::not_found).with_state(state);
    if let Err(e) = http::serve(listener, app, &http_config, std::future::pending()).await {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}

/// The webhook deliverer of this process, when webhooks are on; an error
/// when hosts are allowed but no signing secret is set.
fn start_deliverer(state: &AppState) -> Result<Option<webhooks::Deliverer>> {
    if !state.config.webhooks.allow_hosts.is_empty() && !state.webhooks.enabled() {
        return Err(Error::Config(
            "webhooks.allow_hosts is set but there is no webhook signing secret \
             (ZKR_WEBHOOK_SECRET or webhooks.secret_file)"
                .into(),
        ));
    }
    Ok(webhooks::Deliverer::start(state))
}

/// On PostgreSQL, passes every node's announcements to this node: job
/// ends to its long-polls (LISTEN on [`zkr_store::jobs::ENDED_CHANNEL`]), policy
/// changes to its policy cache, token revocations to its token cache;
/// reconnects after a lost connection.
fn relay_announcements(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    if state.db.backend != zkr_store::Backend::Postgres {
        return None;
    }
    let url = state.config.database_url();
    let state = state.clone();
    Some(tokio::spawn(async move {
        loop {
            let heard = listen(&url, &state).await;
            // Announcements may be missed until the next connection.
            state.policies.watching(false);
            state.tokens.watching(false);
            if let Err(e) = heard {
                tracing::warn!(error = %e, "database announcements interrupted; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }))
}

/// LISTENs for announcements until the connection is lost.
async fn listen(url: &str, state: &AppState) -> std::result::Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener
        .listen_all([
            zkr_store::jobs::ENDED_CHANNEL,
            zkr_store::policies::CHANGED_CHANNEL,
            zkr_store::tokens::CHANGED_CHANNEL,
        ])
        .await?;
    state.policies.watching(true);
    state.tokens.watching(true);
    // `try_recv` tells of a lost connection (`None`), which `recv` would
    // hide by reconnecting, and with it the changes made meanwhile.
    while let Some(notice) = listener.try_recv().await? {
        if notice.channel() == zkr_store::policies::CHANGED_CHANNEL {
            state.policies.changed();
        } else if notice.channel() == zkr_store::tokens::CHANGED_CHANNEL {
            state.tokens.changed();
        } else if let Ok(id) = uuid::Uuid::parse_str(notice.payload()) {
            state.jobs.relay_end(id);
        }
    }
    Ok(())
}

/// Listens for SIGTERM and SIGINT (ctrl-c) from now on, and resolves when
/// one arrives. Called first thing: the handlers must be in place before
/// anything enumerates OpenCL devices. POCL's LLVM installs its own
/// SIGTERM and SIGINT handlers when it loads; a handler installed after
/// them would call them in turn (signal-hook chains to the previous
/// handler), and theirs ends the process at once. Installed before, ours
/// is the one LLVM's restores and calls on the signal.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            tracing::info!("shutdown requested; finishing in-flight requests");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!(error = %e, "cannot listen for ctrl-c");
                std::future::pending::<()>().await;
            }
            tracing::info!("shutdown requested; finishing in-flight requests");
        })
    }
}
