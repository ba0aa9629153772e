//! The HTTP service behind `zkr serve`: configuration, storage,
//! authentication, access control, audit log, rate limits and metrics.

pub mod access;
pub mod access_log;
pub mod audit;
pub mod auth;
pub mod checkpoints;
pub mod commands;
pub mod config;
pub mod error;
pub mod files;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod policies;
pub mod proving;
pub mod ratelimit;
pub mod registries;
pub mod routes;
pub mod store;
pub mod verifying_keys;
pub mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use time::OffsetDateTime;

use self::access::{Action, Decision, Purpose, Request as AccessRequest, Resource};
use self::audit::{AuditLog, AuditWriter, NewEvent};
use self::auth::Principal;
use self::config::Config;
pub use self::error::{Error, Result};
use self::metrics::Metrics;
use self::ratelimit::Limits;
use self::store::Db;

/// `zkr serve` flags; each overrides the file and the environment.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_help = config::env_help())]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "ZKR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL (`sqlite://...` or `postgres://...`); default SQLite in the data directory.
    #[arg(long)]
    pub database: Option<String>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Data directory (default ./zkr-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Prover workers to run beside the API (default `proofs.workers`);
    /// 0 runs only the API, for a node whose jobs `zkr worker` proves.
    #[arg(long)]
    pub workers: Option<usize>,
}

/// `zkr worker` flags: the configuration of `zkr serve` (the same file,
/// database, data directory and KEK variables), without the API.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_help = config::env_help())]
pub struct WorkerArgs {
    /// TOML configuration file.
    #[arg(long, env = "ZKR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL (`sqlite://...` or `postgres://...`); default SQLite in the data directory.
    #[arg(long)]
    pub database: Option<String>,
    /// Data directory (default ./zkr-data): circuit keys under `circuits/`
    /// unless `circuits_dir` says otherwise, and the development KEK file.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Workers in this process (default `proofs.workers`, at least 1).
    #[arg(long)]
    pub workers: Option<usize>,
}

impl WorkerArgs {
    /// The configuration these flags select.
    pub fn load_config(&self) -> Result<Config> {
        let mut config = ServeArgs {
            config: self.config.clone(),
            database: self.database.clone(),
            data_dir: self.data_dir.clone(),
            ..ServeArgs::default()
        }
        .load_config()?;
        config.proofs.workers = self.workers.unwrap_or(config.proofs.workers).max(1);
        Ok(config)
    }
}

impl ServeArgs {
    /// The configuration these flags select.
    pub fn load_config(&self) -> Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(url) = &self.database {
            config.database_url = url.clone();
        }
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(n) = self.workers {
            config.proofs.workers = n;
        }
        config.validate()?;
        Ok(config)
    }
}

/// Where the service reads the time: the system clock, or a fixed instant
/// so that tests of business hours do not depend on when they run.
#[derive(Debug, Clone, Copy, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// Always this instant.
    Fixed(OffsetDateTime),
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// Configuration in force.
    pub config: Arc<Config>,
    /// Database.
    pub db: Db,
    /// Audit log writer handle.
    pub audit: AuditLog,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Token buckets.
    pub limits: Arc<Limits>,
    /// Registry trees.
    pub registries: Arc<registries::Registries>,
    /// Circuits' verifying keys.
    pub verifying_keys: Arc<verifying_keys::VerifyingKeys>,
    /// The key store (envelopes, custodial keys under the KEK).
    pub keys: Option<Arc<zkr_keys::KeyStore>>,
    /// Time source for access decisions.
    pub clock: Clock,
    /// Circuits' proving keys.
    pub circuit_keys: Arc<proving::CircuitKeys>,
    /// The proof-job queue (in the database, shared by every node).
    pub jobs: Arc<proving::Jobs>,
}

/// One access question, built by a handler and answered by
/// [`AppState::authorize`].
pub struct Ask<'a> {
    principal: &'a Principal,
    action: Action,
    resource: &'a Resource,
    purpose: Option<Purpose>,
    authorization_ref: Option<&'a str>,
    detail: &'a str,
}

impl<'a> Ask<'a> {
    /// `principal` wants `action` on `resource`.
    pub fn new(principal: &'a Principal, action: Action, resource: &'a Resource) -> Self {
        Self {
            principal,
            action,
            resource,
            purpose: None,
            authorization_ref: None,
            detail: "",
        }
    }
    /// With a stated purpose.
    pub fn purpose(mut self, purpose: Option<Purpose>) -> Self {
        self.purpose = purpose;
        self
    }
    /// With an authorization reference.
    pub fn authorization_ref(mut self, r: Option<&'a str>) -> Self {
        self.authorization_ref = r;
        self
    }
    /// With a detail for the audit event (never a secret).
    pub fn detail(mut self, detail: &'a str) -> Self {
        self.detail = detail;
        self
    }
}

impl AppState {
    /// Opens the database, runs migrations and starts the audit writer.
    pub async fn start(config: Config) -> Result<(Self, AuditWriter)> {
        let db = Db::connect_and_migrate(&config.database_url()).await?;
        Self::with_db(config, db)
    }

    /// Builds the state on an open, migrated database.
    pub fn with_db(config: Config, db: Db) -> Result<(Self, AuditWriter)> {
        let metrics = Metrics::new()?;
        let (audit, writer) = AuditLog::start(
            db.clone(),
            metrics.clone(),
            config.audit.queue,
            config.audit.batch_max,
        );
        let limits = Arc::new(Limits::new(&config.rate_limit));
        let verifying_keys = Arc::new(verifying_keys::VerifyingKeys::new(config.circuits_dir()));
        let registries = Arc::new(registries::Registries::new(config.registry_depth));
        let circuit_keys = Arc::new(proving::CircuitKeys::new(
            config.circuits_dir(),
            config.registry_depth,
        ));
        let jobs = Arc::new(proving::Jobs::new(
            db.clone(),
            metrics.clone(),
            &config.proofs,
        ));
        let state = Self {
            config: Arc::new(config),
            db,
            audit,
            metrics,
            limits,
            registries,
            verifying_keys,
            keys: None,
            clock: Clock::System,
            circuit_keys,
            jobs,
        };
        Ok((state, writer))
    }

    /// Attaches the key store on this state's database, under `kek`.
    pub async fn attach_keys(&mut self, kek: Arc<dyn zkr_keys::Kek>) -> Result<()> {
        zkr_keys::KeyStore::migrate(&self.db.pool).await?;
        self.keys = Some(Arc::new(zkr_keys::KeyStore::new(
            self.db.pool.clone(),
            kek,
            zkr_keys::CacheConfig::default(),
        )));
        Ok(())
    }

    /// Starts the proof workers (`proofs.workers` of them) for the
    /// circuits whose keys match the verifying keys the database records.
    pub async fn start_provers(&self) -> Result<worker::Pool> {
        let n = self.config.proofs.workers;
        if n == 0 {
            return Ok(worker::Pool::none(self));
        }
        let node = format!("{}:{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let circuits = worker::usable_circuits(self, &node).await?;
        worker::Pool::start(self, n, circuits).await
    }

    /// First-start set-up of the service's own keys: the audit-escrow key
    /// and the coordinator's signing key, custodial under the KEK. Returns
    /// the ids it created.
    pub async fn ensure_service_keys(&self) -> Result<Vec<String>> {
        let keys = self.key_store()?;
        let mut created = Vec::new();
        // An id already in use (whatever its kind) is left as it is: a
        // wrong kind then fails at the first seal or signature, by name.
        let exists = |r: zkr_keys::Result<Vec<zkr_keys::KeyInfo>>| match r {
            Ok(_) => Ok(true),
            Err(zkr_keys::Error::UnknownKey { .. }) => Ok(false),
            Err(e) => Err(Error::from(e)),
        };
        let escrow = &self.config.escrow_key_id;
        if !exists(keys.versions(escrow).await)? {
            keys.create_escrow_key(escrow).await?;
            created.push(escrow.clone());
        }
        let signing = &self.config.signing_key_id;
        if !exists(keys.versions(signing).await)? {
            keys.create_signing_key(signing).await?;
            created.push(signing.clone());
        }
        let checkpoint = &self.config.audit.checkpoint_key_id;
        if !exists(keys.versions(checkpoint).await)? {
            keys.create_signing_key(checkpoint).await?;
            created.push(checkpoint.clone());
        }
        Ok(created)
    }

    /// The key store, or 503 when none is attached.
    pub fn key_store(&self) -> Result<&zkr_keys::KeyStore> {
        self.keys
            .as_deref()
            .ok_or_else(|| Error::Unavailable("key store not configured".into()))
    }

    /// The current time by [`Clock`].
    pub fn now(&self) -> OffsetDateTime {
        match self.clock {
            Clock::System => OffsetDateTime::now_utc(),
            Clock::Fixed(t) => t,
        }
    }

    /// Decides `ask`, appends the decision to the audit log and waits for it
    /// to be durable. A denial is `Forbidden` naming the rule; an audit
    /// failure is `AuditUnavailable` whatever the decision (fail closed).
    pub async fn authorize(&self, ask: Ask<'_>) -> Result<Decision> {
        let policies = policies::active(&self.db).await?;
        let req = AccessRequest {
            principal: ask.principal,
            action: ask.action,
            resource: ask.resource,
            purpose: ask.purpose,
            at: self.now(),
            authorization_ref: ask.authorization_ref,
        };
        let decision = access::decide(&req, &self.config.access, &policies);
        let outcome = if decision.allow { "allow" } else { "deny" };
        self.metrics.decisions.with_label_values(&[outcome]).inc();
        let mut detail = format!("rule={}", decision.rule);
        if let Some(r) = ask.authorization_ref {
            detail.push_str(&format!(" authorization_ref={r}"));
        }
        if !ask.detail.is_empty() {
            detail.push_str(&format!(" {}", ask.detail));
        }
        self.audit
            .append(NewEvent {
                actor: ask.principal.id.clone(),
                roles: ask.principal.roles_csv(),
                action: ask.action.as_str().to_string(),
                resource: ask.resource.id.clone(),
                purpose: ask.purpose.map_or("-", Purpose::as_str).to_string(),
                outcome: outcome.to_string(),
                detail,
            })
            .await?;
        if decision.allow {
            Ok(decision)
        } else {
            Err(Error::Forbidden {
                rule: decision.rule,
            })
        }
    }
}

/// The whole HTTP API on `state`.
pub fn router(state: AppState) -> Router {
    use routes::{
        audit as audit_routes, keys, ops, policies as policy_routes, proofs, registries as reg,
        tokens, transactions, verify,
    };
    let v1 = Router::new()
        .route("/tokens", post(tokens::create).get(tokens::list))
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route(
            "/policies",
            get(policy_routes::list).post(policy_routes::create),
        )
        .route(
            "/policies/{id}",
            get(policy_routes::get)
                .put(policy_routes::update)
                .delete(policy_routes::retire),
        )
        .route("/audit/events", get(audit_routes::events))
        .route("/audit/verify", get(audit_routes::verify))
        .route("/audit/checkpoints", get(audit_routes::checkpoints))
        .route("/confidential/transactions", post(transactions::create))
        .route("/confidential/transactions/{id}", get(transactions::get))
        .route("/confidential/access", post(transactions::access))
        .route("/confidential/audit", post(transactions::escrow))
        .route("/confidential/keys", get(keys::list).post(keys::create))
        .route("/confidential/keys/{id}", get(keys::get))
        .route("/confidential/keys/{id}/rotate", post(keys::rotate))
        .route("/proofs", post(proofs::create))
        .route("/proofs/{id}", get(proofs::get).delete(proofs::cancel))
        .route("/workers", get(proofs::workers))
        .route("/disclosures", post(proofs::disclose))
        .route("/verify", post(verify::verify))
        .route("/verify/batch", post(verify::verify_batch))
        .route("/registries/{name}", get(reg::info))
        .route("/registries/{name}/members", post(reg::add_member))
        .route("/registries/{name}/path/{member}", get(reg::path))
        .route("/circuits", get(routes::circuits::list))
        .route(
            "/circuits/{name}/verification_key",
            get(routes::circuits::verification_key),
        )
        .route("/signing-keys", get(routes::signing_keys::list))
        .layer(from_fn_with_state(state.clone(), http::authenticate));
    Router::new()
        .route("/", get(ops::index))
        .route("/docs", get(ops::docs))
        .route("/docs/", get(ops::docs_index))
        .route("/docs/{*file}", get(ops::docs_file))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/openapi.json", get(ops::openapi))
        .route("/metrics", get(metrics::metrics))
        .nest("/v1", v1)
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

/// Runs `zkr serve` until SIGTERM or ctrl-c, then finishes in-flight
/// requests and flushes the audit log.
pub async fn run(args: ServeArgs) -> Result<()> {
    let config = args.load_config()?;
    let listen = config.listen;
    let data_dir = config.data_dir.clone();
    files::secure_dir(&data_dir)?;
    files::prepare_sqlite(&config.database_url())?;
    let (mut state, writer) = AppState::start(config).await?;
    state.attach_keys(kek(&data_dir)?).await?;
    for id in state.ensure_service_keys().await? {
        println!("created service key {id} (custodial, under the KEK)");
    }
    let circuit_keys = state.circuit_keys.clone();
    let setup_missing = state.config.proofs.setup_missing_keys;
    tokio::task::spawn_blocking(move || circuit_keys.ensure(setup_missing))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    let circuits_dir = state.config.circuits_dir();
    if circuits_dir.starts_with(&data_dir) && circuits_dir.exists() {
        files::restrict_tree(&circuits_dir)?;
    }
    // Jobs an earlier run left queued or running are still in the
    // database: the workers (here or elsewhere) take them up again.
    let provers = state.start_provers().await?;
    let relay = relay_job_ends(&state);
    let checkpointer = checkpoints::Checkpointer::for_state(&state)?;
    if let Some(path) =
        auth::bootstrap_admin(&state.db, &data_dir, state.config.admin_token_days).await?
    {
        println!(
            "admin token written to {} (readable only by its owner)",
            path.display()
        );
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
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
    http::serve(listener, router(state), &http_config, shutdown_signal()).await?;
    sweeper.abort();
    if let Some(r) = relay {
        r.abort();
    }
    provers.stop().await;
    audit.close().await;
    writer.join().await;
    checkpointer.finish().await;
    db.pool.close().await;
    tracing::info!("zkr serve stopped; audit log flushed");
    Ok(())
}

/// Runs `zkr worker` until SIGTERM or ctrl-c: prover workers only, on the
/// database, circuit keys and KEK that the configuration names. Jobs it
/// holds when stopped go back to the queue.
pub async fn run_worker(args: WorkerArgs) -> Result<()> {
    let config = args.load_config()?;
    let data_dir = config.data_dir.clone();
    files::secure_dir(&data_dir)?;
    files::prepare_sqlite(&config.database_url())?;
    let (mut state, writer) = AppState::start(config).await?;
    state.attach_keys(kek(&data_dir)?).await?;
    let circuit_keys = state.circuit_keys.clone();
    let setup_missing = state.config.proofs.setup_missing_keys;
    tokio::task::spawn_blocking(move || circuit_keys.ensure(setup_missing))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    let provers = state.start_provers().await?;
    println!("{} prover workers running", provers.len());
    shutdown_signal().await;
    provers.stop().await;
    state.audit.close().await;
    writer.join().await;
    state.db.pool.close().await;
    tracing::info!("zkr worker stopped; held jobs handed back");
    Ok(())
}

/// On PostgreSQL, passes every node's job-end notices to this node's
/// long-polls (LISTEN on [`proving::ENDED_CHANNEL`]); reconnects after a
/// lost connection.
fn relay_job_ends(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    if state.db.backend != store::Backend::Postgres {
        return None;
    }
    let url = state.config.database_url();
    let jobs = state.jobs.clone();
    Some(tokio::spawn(async move {
        loop {
            if let Err(e) = listen_job_ends(&url, &jobs).await {
                tracing::warn!(error = %e, "job-end notices interrupted; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }))
}

/// LISTENs for job ends until the connection fails.
async fn listen_job_ends(url: &str, jobs: &proving::Jobs) -> std::result::Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(proving::ENDED_CHANNEL).await?;
    loop {
        let notice = listener.recv().await?;
        if let Ok(id) = uuid::Uuid::parse_str(notice.payload()) {
            jobs.relay_end(id);
        }
    }
}

/// The KEK from the environment (HSM or named file); without either, the
/// development key file in the data directory (which logs a warning).
fn kek(data_dir: &std::path::Path) -> Result<Arc<dyn zkr_keys::Kek>> {
    let configured = std::env::var_os("ZKR_PKCS11_MODULE").is_some()
        || std::env::var_os("ZKR_DEV_KEK_FILE").is_some();
    if configured {
        return Ok(zkr_keys::kek::provider_from_env()?);
    }
    std::fs::create_dir_all(data_dir)?;
    let path = zkr_keys::kek_file::default_path(data_dir);
    // FileKek warns on every load, so the warning is not repeated here.
    Ok(Arc::new(zkr_keys::FileKek::open_or_create(&path)?))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
