//! The application state every handler shares, and the authorize step:
//! one access decision, audited durably before the handler goes on.

use std::sync::Arc;

use time::OffsetDateTime;
use zkr_store::Db;

use crate::access::{self, Action, Decision, Purpose, Request as AccessRequest, Resource};
use crate::audit::{AuditLog, AuditWriter, NewEvent, Pending};
use crate::auth::Principal;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::ratelimit::Limits;
use crate::{jobs, policies, registries, verifying_keys, webhooks, worker};

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
    pub circuit_keys: Arc<jobs::CircuitKeys>,
    /// The proof-job queue (in the database, shared by every node).
    pub jobs: Arc<jobs::Jobs>,
    /// Webhook settings and signing secret.
    pub webhooks: Arc<webhooks::Webhooks>,
    /// The policies in force, as last read.
    pub(crate) policies: Arc<policies::PolicyCache>,
    /// Tokens as last read (kept only on PostgreSQL, see
    /// [`auth::TokenCache`](crate::auth::TokenCache)).
    pub(crate) tokens: Arc<crate::auth::TokenCache>,
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
        let circuit_keys = Arc::new(jobs::CircuitKeys::new(
            config.circuits_dir(),
            config.registry_depth,
        ));
        let jobs = Arc::new(jobs::Jobs::new(db.clone(), metrics.clone(), &config.proofs));
        let webhooks = Arc::new(webhooks::Webhooks::new(
            config.webhooks.clone(),
            webhooks::WebhookSecret::from_env_or_file(&config.webhooks)?,
        ));
        let db_backend = db.backend;
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
            webhooks,
            // On PostgreSQL other nodes change policies too: kept only
            // while their announcements are heard (see `lib::listen`).
            policies: Arc::new(policies::PolicyCache::new(
                db_backend != zkr_store::Backend::Postgres,
            )),
            tokens: Arc::new(crate::auth::TokenCache::new()),
        };
        Ok((state, writer))
    }

    /// Attaches the key store on this state's database (whose migrations
    /// created its tables), under `kek`.
    pub async fn attach_keys(&mut self, kek: Arc<dyn zkr_keys::Kek>) -> Result<()> {
        self.keys = Some(Arc::new(zkr_keys::KeyStore::new(
            self.db.pool.clone(),
            kek,
            zkr_keys::CacheConfig::default(),
        )));
        Ok(())
    }

    /// Starts the proof workers (`proofs.workers` of them, or as many as
    /// measured best) for the circuits whose keys match the verifying keys
    /// the database records.
    pub async fn start_provers(&self) -> Result<worker::Pool> {
        let n = self.config.proofs.workers;
        if n.is_none() {
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
        let (decision, pending) = self.authorize_queued(ask).await?;
        pending.committed().await?;
        Ok(decision)
    }

    /// As [`authorize`](Self::authorize), but an allowed request goes on
    /// while its decision is being committed: for handlers that change
    /// nothing before they answer (verification), which must await the
    /// returned [`Pending`] before answering, whatever the answer. A denial
    /// is awaited here, then `Forbidden`.
    pub async fn authorize_queued(&self, ask: Ask<'_>) -> Result<(Decision, Pending)> {
        let policies = self.policies.active(&self.db).await?;
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
        let pending = self
            .audit
            .submit(NewEvent {
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
            Ok((decision, pending))
        } else {
            pending.committed().await?;
            Err(Error::Forbidden {
                rule: decision.rule,
            })
        }
    }
}
