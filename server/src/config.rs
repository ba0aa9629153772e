//! Service configuration: defaults, then a TOML file, then `ZKR_*` variables,
//! then command-line flags, each layer overriding the one before.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{Error, Result};

/// Everything `zkr serve` needs to know; every field has a default that works
/// on an empty machine.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory for the embedded database and the first admin token.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; empty means SQLite in `data_dir`.
    pub database_url: String,
    /// HTTP limits.
    pub http: HttpConfig,
    /// Token buckets.
    pub rate_limit: RateLimitConfig,
    /// Access-control settings used by the built-in rules.
    pub access: AccessConfig,
    /// Audit-log writer settings.
    pub audit: AuditConfig,
    /// Depth of registry Merkle trees (the circuits' D).
    pub registry_depth: usize,
    /// Where circuit keys live (`<dir>/<circuit>/verification_key.json`);
    /// empty means `data_dir/circuits`.
    pub circuits_dir: PathBuf,
    /// Key id of the audit-escrow key every record is also sealed for.
    pub escrow_key_id: String,
    /// Key id of the coordinator's attestation (signing) key.
    pub signing_key_id: String,
    /// Further Ed25519 coordinator keys (ids in the key store) whose
    /// attestations `POST /v1/verify` accepts, besides `signing_key_id`.
    pub trusted_signing_keys: Vec<String>,
    /// The proof-job queue.
    pub proofs: ProofsConfig,
    /// Days the bootstrap admin token (and one made by `zkr token
    /// rotate-admin`) stays valid.
    pub admin_token_days: u32,
    /// Which registry roots verification accepts.
    pub registries: RegistriesConfig,
    /// Webhooks of proof jobs.
    pub webhooks: WebhooksConfig,
    /// Metrics listeners besides the API's `/metrics`.
    pub metrics: MetricsConfig,
}

/// Where `/metrics` is served outside the API.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// `zkr worker` serves `/metrics` (and nothing else) on this address;
    /// unset: not served. Keep it on loopback or a private network: the
    /// metrics are not authenticated.
    pub worker_listen: Option<SocketAddr>,
}

/// Webhooks: a job may name a URL that is told when it ends. Denied by
/// default: a URL is accepted only when its host is in `allow_hosts`, and
/// its address is neither loopback nor private unless
/// `allow_private_addresses` (so that a caller cannot make the service
/// POST into its own network). The signing secret is not configuration:
/// it comes from `ZKR_WEBHOOK_SECRET` or the file `secret_file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Host names (or IP literals) webhook URLs may name, compared
    /// case-insensitively; empty: webhooks are refused.
    pub allow_hosts: Vec<String>,
    /// Deliver to loopback, private, link-local and other non-public
    /// addresses (tests, one-machine set-ups).
    pub allow_private_addresses: bool,
    /// A file holding the signing secret (at least 32 bytes), read when
    /// `ZKR_WEBHOOK_SECRET` is not set.
    pub secret_file: PathBuf,
    /// Seconds one delivery attempt may take, connection included.
    pub timeout_secs: u64,
    /// Attempts before a delivery is given up (`dead`).
    pub max_attempts: u32,
    /// The first retry's delay in milliseconds; each further one doubles,
    /// with jitter, up to `backoff_max_secs`.
    pub backoff_base_ms: u64,
    /// Longest delay between two attempts, in seconds.
    pub backoff_max_secs: u64,
    /// How often an idle deliverer looks for due deliveries, in
    /// milliseconds (jobs ending on its own node wake it at once).
    pub poll_ms: u64,
    /// Deliveries a process makes at once.
    pub concurrency: usize,
    /// Deliveries a process makes at once to one destination (`host:port`),
    /// so that a receiver that does not answer holds up only its own.
    pub per_destination: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_hosts: Vec::new(),
            allow_private_addresses: false,
            secret_file: PathBuf::new(),
            timeout_secs: 10,
            max_attempts: 10,
            backoff_base_ms: 2_000,
            backoff_max_secs: 3_600,
            poll_ms: 1_000,
            concurrency: 16,
            per_destination: 2,
        }
    }
}

/// Which registry roots `POST /v1/verify` accepts (DESIGN §3): a root of
/// the registry the proof is checked against, the current one or a recent
/// one within both limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistriesConfig {
    /// The registry `receipt` proofs are checked against.
    pub miners: String,
    /// How many roots count, the current one included (at least 1).
    pub root_window: u32,
    /// How long a root still counts after it was replaced, in seconds;
    /// 0 = no time limit (the count alone decides).
    pub root_max_age_secs: u64,
}

impl Default for RegistriesConfig {
    fn default() -> Self {
        Self {
            miners: "miners".into(),
            root_window: 128,
            root_max_age_secs: 86_400,
        }
    }
}

/// The proof-job queue (in the database) and this node's workers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProofsConfig {
    /// Proofs this node runs at once (`zkr serve`; `zkr worker` runs at
    /// least one), each on its share of the cores: `auto` measures at
    /// start which number proves most per second on the CPU and adds a
    /// worker per OpenCL device that `backend` asks for; a number `n` is
    /// `n` workers in all, devices first; `0`: an API-only node.
    pub workers: Workers,
    /// Jobs of circuits with fewer constraints than this prove on the CPU
    /// even when `backend` would use an OpenCL device: below it, copying
    /// to and from the device costs more than it saves.
    pub device_min_constraints: usize,
    /// Jobs that may wait, over all nodes; one more is answered with 503.
    pub queue: usize,
    /// MSM backend: `auto` (a worker for each OpenCL device that is not a
    /// CPU, the rest on the CPU), `cpu`, `opencl` (a worker for each
    /// device, CPU devices included) or `opencl:N` (device `N` only).
    pub backend: zkr_prover::Backend,
    /// Set up missing circuit keys on start (single-party, development only).
    pub setup_missing_keys: bool,
    /// Most jobs one principal may have waiting; one more is answered with
    /// 429. Unset: a quarter of `queue` (at least 1).
    pub per_principal_queue: Option<usize>,
    /// Seconds a worker's claim on a job lasts unless renewed (workers
    /// renew every third of it); a job whose worker died is claimed again
    /// after this.
    pub lease_secs: u64,
    /// Claims of one job (attempts) before a job whose workers keep dying
    /// is failed.
    pub max_attempts: u32,
    /// Key id of the pool key: jobs' private inputs are sealed to it
    /// (X25519, custodial under the KEK; created on first use).
    pub pool_key_id: String,
    /// How often an idle worker looks for jobs queued by other nodes, in
    /// milliseconds (jobs queued on its own node wake it at once).
    pub poll_ms: u64,
    /// Longest `GET /v1/proofs/{id}?wait=` long-poll, in seconds (also
    /// kept below the request timeout).
    pub max_wait_secs: u64,
}

impl ProofsConfig {
    /// The per-principal limit in force.
    pub fn per_principal_limit(&self) -> usize {
        self.per_principal_queue
            .unwrap_or(self.queue / 4)
            .clamp(1, self.queue.max(1))
    }
}

/// How many proofs a node runs at once (`proofs.workers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workers {
    /// Chosen at start by measured throughput: the node proves a sample of
    /// its largest circuit `k` at once for `k` = 1, 2, 4, .., cores, and
    /// keeps the `k` that proves most per second (more at once only when
    /// at least 5 % faster).
    Auto,
    /// This many at once (0: none, an API-only node).
    Count(usize),
}

impl Workers {
    /// Whether the node runs no prover.
    pub fn is_none(self) -> bool {
        self == Self::Count(0)
    }
}

impl From<usize> for Workers {
    fn from(n: usize) -> Self {
        Self::Count(n)
    }
}

impl std::str::FromStr for Workers {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        s.parse()
            .map(Self::Count)
            .map_err(|_| format!("{s:?}: expected auto or a number of workers"))
    }
}

impl std::fmt::Display for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Count(n) => write!(f, "{n}"),
        }
    }
}

impl<'de> Deserialize<'de> for Workers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(usize),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Count(n) => Ok(Self::Count(n)),
            Raw::Name(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Default for ProofsConfig {
    fn default() -> Self {
        Self {
            workers: Workers::Auto,
            device_min_constraints: 1 << 14,
            queue: 64,
            backend: zkr_prover::Backend::Auto,
            setup_missing_keys: true,
            per_principal_queue: None,
            lease_secs: 30,
            max_attempts: 3,
            pool_key_id: "proof-pool".into(),
            poll_ms: 500,
            max_wait_secs: 25,
        }
    }
}

/// Request size and time limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// A request still running after this many seconds is answered with 408.
    pub request_timeout_secs: u64,
    /// A connection that has not sent a whole request head this many seconds
    /// after it opened (or after its previous response) is closed.
    pub header_read_timeout_secs: u64,
    /// A connection on which no byte moved for this many seconds is closed.
    pub idle_timeout_secs: u64,
    /// Most connections served at once; further ones wait in the listen
    /// backlog until one closes.
    pub max_connections: usize,
}

/// Token-bucket sizes; a rate of 0 turns that limiter off.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second per client IP, before authentication.
    pub ip_per_second: u32,
    /// Burst size per client IP.
    pub ip_burst: u32,
    /// Sustained requests per second per authenticated principal.
    pub principal_per_second: u32,
    /// Burst size per principal; also the largest verification batch it
    /// may send (every item counts).
    pub principal_burst: u32,
}

/// Settings of the built-in access rules (DESIGN §7).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// First UTC hour (inclusive) in which auditors may read.
    pub business_hours_start: u8,
    /// Last UTC hour (exclusive) in which auditors may read.
    pub business_hours_end: u8,
    /// Whether Saturday and Sunday count as business days.
    pub weekends: bool,
    /// Retention in days per role: records and audit events older than this
    /// are out of that role's reach. A role without an entry is unlimited.
    pub retention_days: BTreeMap<String, u32>,
}

/// The file in the data directory that keeps the newest signed audit
/// checkpoint.
pub(crate) const AUDIT_CHECKPOINT_FILE: &str = "audit-checkpoint.ndjson";

/// Audit writer settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Most events committed in one transaction.
    pub batch_max: usize,
    /// Capacity of the queue in front of the writer.
    pub queue: usize,
    /// Sign a checkpoint of the chain head after this many new events
    /// (1: after every committed batch).
    pub checkpoint_every_events: u64,
    /// Sign a checkpoint at least this often (seconds) while events arrive.
    pub checkpoint_every_secs: u64,
    /// At most one checkpoint signature per this many milliseconds; a head
    /// due earlier is signed when the interval has passed.
    pub checkpoint_min_interval_ms: u64,
    /// Key id of the Ed25519 checkpoint signing key (custodial, under the KEK).
    pub checkpoint_key_id: String,
    /// A second copy of the newest checkpoint, kept beside the one in the
    /// data directory (e.g. on other storage); empty: none.
    pub checkpoint_copy: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("zkr-data"),
            database_url: String::new(),
            http: HttpConfig::default(),
            rate_limit: RateLimitConfig::default(),
            access: AccessConfig::default(),
            audit: AuditConfig::default(),
            registry_depth: super::registries::DEFAULT_DEPTH,
            circuits_dir: PathBuf::new(),
            escrow_key_id: "escrow".into(),
            signing_key_id: "coordinator".into(),
            trusted_signing_keys: Vec::new(),
            proofs: ProofsConfig::default(),
            admin_token_days: 30,
            registries: RegistriesConfig::default(),
            webhooks: WebhooksConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 1024,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            ip_per_second: 50,
            ip_burst: 100,
            principal_per_second: 20,
            // The largest batch of `POST /v1/verify/batch`: every item is
            // charged, and a batch larger than the burst is refused.
            principal_burst: 64,
        }
    }
}

impl Default for AccessConfig {
    fn default() -> Self {
        let retention_days = [
            ("auditor".to_string(), 365 * 7),
            ("regulator".to_string(), 365 * 10),
        ]
        .into_iter()
        .collect();
        Self {
            business_hours_start: 8,
            business_hours_end: 18,
            weekends: false,
            retention_days,
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            batch_max: 256,
            queue: 4096,
            checkpoint_every_events: 1,
            checkpoint_every_secs: 60,
            checkpoint_min_interval_ms: 1000,
            checkpoint_key_id: "audit-checkpoint".into(),
            checkpoint_copy: PathBuf::new(),
        }
    }
}

impl Config {
    /// Defaults, overridden by `path` (when given) and then by the environment.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
                Self::from_toml(&text)?
            }
            None => Self::default(),
        };
        config.apply_env(std::env::vars())?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML document; missing keys keep their defaults, unknown keys
    /// are an error (a typo must not silently fall back to a default).
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Config(format!("configuration file: {e}")))
    }

    /// Applies `ZKR_*` variables from `vars` ([`ENV_VARS`]); any other
    /// `ZKR_*` variable that is not one of the service's, the tests' or
    /// CI's is an error.
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<()> {
        for (key, value) in vars {
            if !key.starts_with("ZKR_") {
                continue;
            }
            match ENV_VARS.iter().find(|v| v.matches(&key)) {
                Some(var) => (var.set)(self, &key, &value)?,
                None if is_known_other_var(&key) => {}
                // A typo must not silently fall back to a default, as with
                // unknown TOML keys.
                None => {
                    return Err(Error::Config(format!(
                        "unknown environment variable {key} (`zkr serve --help` lists the ZKR_* variables)"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks values that would only fail later and less clearly.
    pub fn validate(&self) -> Result<()> {
        let a = &self.access;
        if a.business_hours_start > 23 || a.business_hours_end > 24 {
            return Err(Error::Config(
                "business hours must be UTC hours 0..=24".into(),
            ));
        }
        if self.http.body_limit_bytes == 0 || self.http.request_timeout_secs == 0 {
            return Err(Error::Config(
                "body limit and request timeout must be > 0".into(),
            ));
        }
        let h = &self.http;
        if h.header_read_timeout_secs == 0 || h.idle_timeout_secs == 0 || h.max_connections == 0 {
            return Err(Error::Config(
                "http.header_read_timeout_secs, http.idle_timeout_secs and http.max_connections must be > 0"
                    .into(),
            ));
        }
        if self.admin_token_days == 0 {
            return Err(Error::Config("admin_token_days must be > 0".into()));
        }
        if !(1..=zkr_circuits::merkle::MAX_DEPTH).contains(&self.registry_depth) {
            return Err(Error::Config(format!(
                "registry_depth must be 1..={}",
                zkr_circuits::merkle::MAX_DEPTH
            )));
        }
        if self.audit.batch_max == 0 || self.audit.queue == 0 {
            return Err(Error::Config(
                "audit batch and queue sizes must be > 0".into(),
            ));
        }
        if self.audit.checkpoint_every_events == 0 || self.audit.checkpoint_every_secs == 0 {
            return Err(Error::Config(
                "audit.checkpoint_every_events and audit.checkpoint_every_secs must be > 0".into(),
            ));
        }
        if self.proofs.queue == 0 {
            return Err(Error::Config("proofs.queue must be > 0".into()));
        }
        let p = &self.proofs;
        if p.lease_secs == 0 || p.max_attempts == 0 || p.poll_ms < 10 {
            return Err(Error::Config(
                "proofs.lease_secs and proofs.max_attempts must be > 0, proofs.poll_ms >= 10"
                    .into(),
            ));
        }
        if !(1..=100_000).contains(&self.registries.root_window) {
            return Err(Error::Config(
                "registries.root_window must be 1..=100000".into(),
            ));
        }
        if super::registries::validate_name(&self.registries.miners).is_err() {
            return Err(Error::Config(
                "registries.miners must be a registry name of [a-z0-9-_]".into(),
            ));
        }
        let w = &self.webhooks;
        if w.timeout_secs == 0 || w.max_attempts == 0 || w.backoff_base_ms == 0 || w.poll_ms < 10 {
            return Err(Error::Config(
                "webhooks.timeout_secs, max_attempts and backoff_base_ms must be > 0, \
                 webhooks.poll_ms >= 10"
                    .into(),
            ));
        }
        if !(1..=1024).contains(&w.concurrency) || !(1..=w.concurrency).contains(&w.per_destination)
        {
            return Err(Error::Config(
                "webhooks.concurrency must be 1..=1024 and webhooks.per_destination \
                 1..=concurrency"
                    .into(),
            ));
        }
        if self.proofs.per_principal_queue == Some(0) {
            return Err(Error::Config(
                "proofs.per_principal_queue must be > 0".into(),
            ));
        }
        Ok(())
    }

    /// The MSM backend proof jobs ask for.
    pub fn proof_backend(&self) -> zkr_prover::Backend {
        self.proofs.backend
    }

    /// The directory of circuit keys.
    pub fn circuits_dir(&self) -> PathBuf {
        if self.circuits_dir.as_os_str().is_empty() {
            self.data_dir.join("circuits")
        } else {
            self.circuits_dir.clone()
        }
    }

    /// Where the newest signed audit checkpoint is kept outside the
    /// database: `audit-checkpoint.ndjson` in `data_dir`, and
    /// `audit.checkpoint_copy` when set.
    pub fn audit_checkpoint_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.data_dir.join(AUDIT_CHECKPOINT_FILE)];
        if !self.audit.checkpoint_copy.as_os_str().is_empty() {
            files.push(self.audit.checkpoint_copy.clone());
        }
        files
    }

    /// The database to use: the configured URL, or SQLite in `data_dir`.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("zkr.db").display()
            )
        } else {
            self.database_url.clone()
        }
    }
}

/// The `ZKR_*` variables that set a configuration key: name, key, example.
/// A `ZKR_*` variable that sets a configuration key: the one list behind
/// [`Config::apply_env`], `zkr serve --help` and docs/configuration.md.
pub(crate) struct EnvVar {
    /// The variable (`<ROLE>` stands for a role name in capitals).
    pub name: &'static str,
    /// The configuration key it sets.
    pub key: &'static str,
    /// An example value.
    pub example: &'static str,
    /// Applies a value (the variable's full name is passed for messages).
    set: fn(&mut Config, &str, &str) -> Result<()>,
}

impl EnvVar {
    fn matches(&self, var: &str) -> bool {
        match self.name.strip_suffix("<ROLE>") {
            Some(prefix) => var.starts_with(prefix),
            None => self.name == var,
        }
    }
}

/// `ZKR_RETENTION_DAYS_<ROLE>`.
fn set_retention_days(c: &mut Config, var: &str, value: &str) -> Result<()> {
    let role = var
        .strip_prefix("ZKR_RETENTION_DAYS_")
        .unwrap_or_default()
        .to_ascii_lowercase();
    role.parse::<super::auth::Role>()
        .map_err(|_| Error::Config(format!("{var}: {role} is not a role")))?;
    c.access.retention_days.insert(role, parse(var, value)?);
    Ok(())
}

/// The `ZKR_*` variables that set a configuration key.
pub(crate) const ENV_VARS: &[EnvVar] = &[
    EnvVar {
        name: "ZKR_LISTEN",
        key: "listen",
        example: "127.0.0.1:8080",
        set: |c, k, v| {
            c.listen = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_DATA_DIR",
        key: "data_dir",
        example: "zkr-data",
        set: |c, _, v| {
            c.data_dir = PathBuf::from(v);
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_DATABASE_URL",
        key: "database_url",
        example: "postgres://zkr@db/zkr",
        set: |c, _, v| {
            c.database_url = v.to_string();
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_BODY_LIMIT_BYTES",
        key: "http.body_limit_bytes",
        example: "1048576",
        set: |c, k, v| {
            c.http.body_limit_bytes = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_REQUEST_TIMEOUT_SECS",
        key: "http.request_timeout_secs",
        example: "30",
        set: |c, k, v| {
            c.http.request_timeout_secs = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_RATE_IP_PER_SECOND",
        key: "rate_limit.ip_per_second",
        example: "50",
        set: |c, k, v| {
            c.rate_limit.ip_per_second = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_RATE_IP_BURST",
        key: "rate_limit.ip_burst",
        example: "100",
        set: |c, k, v| {
            c.rate_limit.ip_burst = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_RATE_PRINCIPAL_PER_SECOND",
        key: "rate_limit.principal_per_second",
        example: "20",
        set: |c, k, v| {
            c.rate_limit.principal_per_second = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_RATE_PRINCIPAL_BURST",
        key: "rate_limit.principal_burst",
        example: "64",
        set: |c, k, v| {
            c.rate_limit.principal_burst = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_BUSINESS_HOURS_START",
        key: "access.business_hours_start",
        example: "8",
        set: |c, k, v| {
            c.access.business_hours_start = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_BUSINESS_HOURS_END",
        key: "access.business_hours_end",
        example: "18",
        set: |c, k, v| {
            c.access.business_hours_end = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_BUSINESS_WEEKENDS",
        key: "access.weekends",
        example: "false",
        set: |c, k, v| {
            c.access.weekends = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_RETENTION_DAYS_<ROLE>",
        key: "access.retention_days.<role>",
        example: "2555",
        set: set_retention_days,
    },
    EnvVar {
        name: "ZKR_AUDIT_BATCH_MAX",
        key: "audit.batch_max",
        example: "256",
        set: |c, k, v| {
            c.audit.batch_max = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_AUDIT_QUEUE",
        key: "audit.queue",
        example: "4096",
        set: |c, k, v| {
            c.audit.queue = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_ESCROW_KEY_ID",
        key: "escrow_key_id",
        example: "escrow",
        set: |c, _, v| {
            c.escrow_key_id = v.to_string();
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_SIGNING_KEY_ID",
        key: "signing_key_id",
        example: "coordinator",
        set: |c, _, v| {
            c.signing_key_id = v.to_string();
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_CIRCUITS_DIR",
        key: "circuits_dir",
        example: "zkr-data/circuits",
        set: |c, _, v| {
            c.circuits_dir = PathBuf::from(v);
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_REGISTRY_DEPTH",
        key: "registry_depth",
        example: "20",
        set: |c, k, v| {
            c.registry_depth = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_PROOF_WORKERS",
        key: "proofs.workers",
        example: "auto",
        set: |c, k, v| {
            c.proofs.workers = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_PROOF_QUEUE",
        key: "proofs.queue",
        example: "64",
        set: |c, k, v| {
            c.proofs.queue = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_PROOF_DEVICE_MIN_CONSTRAINTS",
        key: "proofs.device_min_constraints",
        example: "16384",
        set: |c, k, v| {
            c.proofs.device_min_constraints = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_PROOF_BACKEND",
        key: "proofs.backend",
        example: "auto",
        set: |c, k, v| {
            c.proofs.backend = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_SETUP_MISSING_KEYS",
        key: "proofs.setup_missing_keys",
        example: "true",
        set: |c, k, v| {
            c.proofs.setup_missing_keys = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_PROOF_PER_PRINCIPAL_QUEUE",
        key: "proofs.per_principal_queue",
        example: "16",
        set: |c, k, v| {
            c.proofs.per_principal_queue = Some(parse(k, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_PROOF_LEASE_SECS",
        key: "proofs.lease_secs",
        example: "30",
        set: |c, k, v| {
            c.proofs.lease_secs = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_PROOF_MAX_ATTEMPTS",
        key: "proofs.max_attempts",
        example: "3",
        set: |c, k, v| {
            c.proofs.max_attempts = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_PROOF_POOL_KEY_ID",
        key: "proofs.pool_key_id",
        example: "proof-pool",
        set: |c, _, v| {
            c.proofs.pool_key_id = v.to_string();
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_PROOF_POLL_MS",
        key: "proofs.poll_ms",
        example: "500",
        set: |c, k, v| {
            c.proofs.poll_ms = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_PROOF_MAX_WAIT_SECS",
        key: "proofs.max_wait_secs",
        example: "25",
        set: |c, k, v| {
            c.proofs.max_wait_secs = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_HEADER_READ_TIMEOUT_SECS",
        key: "http.header_read_timeout_secs",
        example: "10",
        set: |c, k, v| {
            c.http.header_read_timeout_secs = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_IDLE_TIMEOUT_SECS",
        key: "http.idle_timeout_secs",
        example: "60",
        set: |c, k, v| {
            c.http.idle_timeout_secs = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_MAX_CONNECTIONS",
        key: "http.max_connections",
        example: "1024",
        set: |c, k, v| {
            c.http.max_connections = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_ADMIN_TOKEN_DAYS",
        key: "admin_token_days",
        example: "30",
        set: |c, k, v| {
            c.admin_token_days = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_AUDIT_CHECKPOINT_EVERY_EVENTS",
        key: "audit.checkpoint_every_events",
        example: "1",
        set: |c, k, v| {
            c.audit.checkpoint_every_events = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_AUDIT_CHECKPOINT_EVERY_SECS",
        key: "audit.checkpoint_every_secs",
        example: "60",
        set: |c, k, v| {
            c.audit.checkpoint_every_secs = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_AUDIT_CHECKPOINT_MIN_INTERVAL_MS",
        key: "audit.checkpoint_min_interval_ms",
        example: "1000",
        set: |c, k, v| {
            c.audit.checkpoint_min_interval_ms = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_AUDIT_CHECKPOINT_COPY",
        key: "audit.checkpoint_copy",
        example: "/mnt/other/zkr-audit-checkpoint.ndjson",
        set: |c, _, v| {
            c.audit.checkpoint_copy = PathBuf::from(v);
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_AUDIT_CHECKPOINT_KEY_ID",
        key: "audit.checkpoint_key_id",
        example: "audit-checkpoint",
        set: |c, _, v| {
            c.audit.checkpoint_key_id = v.to_string();
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_MINER_REGISTRY",
        key: "registries.miners",
        example: "miners",
        set: |c, _, v| {
            c.registries.miners = v.to_string();
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_WEBHOOK_ALLOW_HOSTS",
        key: "webhooks.allow_hosts",
        example: "hooks.example.com,127.0.0.1",
        set: |c, _, v| {
            c.webhooks.allow_hosts = v
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect();
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_WEBHOOK_ALLOW_PRIVATE_ADDRESSES",
        key: "webhooks.allow_private_addresses",
        example: "false",
        set: |c, k, v| {
            c.webhooks.allow_private_addresses = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_WEBHOOK_SECRET_FILE",
        key: "webhooks.secret_file",
        example: "/etc/zkr/webhook-secret",
        set: |c, _, v| {
            c.webhooks.secret_file = PathBuf::from(v);
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_WEBHOOK_TIMEOUT_SECS",
        key: "webhooks.timeout_secs",
        example: "10",
        set: |c, k, v| {
            c.webhooks.timeout_secs = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_WORKER_METRICS_LISTEN",
        key: "metrics.worker_listen",
        example: "127.0.0.1:9464",
        set: |c, k, v| {
            c.metrics.worker_listen = Some(parse(k, v)?);
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_WEBHOOK_MAX_ATTEMPTS",
        key: "webhooks.max_attempts",
        example: "10",
        set: |c, k, v| {
            c.webhooks.max_attempts = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_ROOT_WINDOW",
        key: "registries.root_window",
        example: "128",
        set: |c, k, v| {
            c.registries.root_window = parse(k, v)?;
            Ok(())
        },
    },
    EnvVar {
        name: "ZKR_ROOT_MAX_AGE_SECS",
        key: "registries.root_max_age_secs",
        example: "86400",
        set: |c, k, v| {
            c.registries.root_max_age_secs = parse(k, v)?;
            Ok(())
        },
    },
];

/// `ZKR_*` variables that `zkr` reads outside the configuration file: the
/// file itself, the log filter and the key-encryption key.
pub(crate) const SERVICE_ENV_VARS: &[(&str, &str)] = &[
    (
        "ZKR_CONFIG",
        "the TOML configuration file (same as --config)",
    ),
    (
        "ZKR_LOG",
        "log filter, e.g. `info` or `warn,zkr_server=debug` (default `warn,zkr::server=info,zkr_server=info`)",
    ),
    (
        "ZKR_PKCS11_MODULE",
        "PKCS#11 module (.so) holding the key-encryption key",
    ),
    ("ZKR_PKCS11_TOKEN_LABEL", "label of the PKCS#11 token"),
    ("ZKR_PKCS11_PIN", "the token's user PIN"),
    (
        "ZKR_PKCS11_KEY_LABEL",
        "label of the AES key-encryption key (default zkr-kek)",
    ),
    (
        "ZKR_DEV_KEK_FILE",
        "development key-encryption key file (instead of an HSM)",
    ),
    (
        "ZKR_TOKEN",
        "an API token for `zkr loadgen` (not read by serve or worker)",
    ),
    (
        "ZKR_WEBHOOK_SECRET",
        "the webhook signing secret (at least 32 bytes; instead of webhooks.secret_file)",
    ),
];

/// `ZKR_*` variables of the test suite, CI and scripts: never configuration,
/// accepted so that `zkr` runs inside them.
pub(crate) const NON_CONFIG_ENV_VARS: &[&str] = &[
    "ZKR_TEST_DATABASE_URL",
    "ZKR_REQUIRE_POSTGRES",
    "ZKR_REQUIRE_SOFTHSM",
    "ZKR_REQUIRE_OPENCL",
    "ZKR_PKCS11_SO_PIN",
    "ZKR_BIN",
    "ZKR_REQUIRE_IFMA",
    "ZKR_CPU_MSM",
    "ZKR_REQUIRE_EVM",
    "ZKR_FUZZ_SECONDS",
    "ZKR_FUZZ_SEED",
];

fn is_known_other_var(key: &str) -> bool {
    SERVICE_ENV_VARS.iter().any(|(name, _)| *name == key) || NON_CONFIG_ENV_VARS.contains(&key)
}

/// The environment section of `zkr serve --help`.
pub fn env_help() -> String {
    let mut text = String::from(
        "Environment (overrides the file; flags override both; any other ZKR_* variable is an error):\n",
    );
    for EnvVar {
        name, key, example, ..
    } in ENV_VARS
    {
        text.push_str(&format!("  {name:<32} {key} (e.g. {example})\n"));
    }
    for (name, what) in SERVICE_ENV_VARS {
        text.push_str(&format!("  {name:<32} {what}\n"));
    }
    text.push_str(&format!(
        "Ignored (tests and CI): {}",
        NON_CONFIG_ENV_VARS.join(", ")
    ));
    text
}

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| Error::Config(format!("{key}: cannot parse {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_nothing() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.database_url().starts_with("sqlite://zkr-data/"));
        c.validate().expect("defaults are valid");
    }

    #[test]
    fn toml_then_env_override() {
        let mut c = Config::from_toml(
            "listen = \"127.0.0.1:9000\"\n[rate_limit]\nprincipal_burst = 3\n[access.retention_days]\nauditor = 30\n",
        )
        .expect("valid toml");
        assert_eq!(c.rate_limit.principal_burst, 3);
        assert_eq!(c.rate_limit.ip_burst, RateLimitConfig::default().ip_burst);
        c.apply_env([
            ("ZKR_LISTEN".to_string(), "127.0.0.1:9001".to_string()),
            ("ZKR_RETENTION_DAYS_AUDITOR".to_string(), "10".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ])
        .expect("valid env");
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.access.retention_days["auditor"], 10);
    }

    #[test]
    fn backend_is_read_by_the_one_parser_in_files_and_env() {
        let mut c = Config::from_toml("[proofs]\nbackend = \"OpenCL\"\n").expect("valid toml");
        assert_eq!(c.proof_backend(), zkr_prover::Backend::OpenCl);
        c.apply_env([("ZKR_PROOF_BACKEND".to_string(), "cpu".to_string())])
            .expect("valid env");
        assert_eq!(c.proof_backend(), zkr_prover::Backend::Cpu);
        let e = Config::from_toml("[proofs]\nbackend = \"gpu\"\n").expect_err("refused");
        assert!(e.to_string().contains("gpu"), "{e}");
        assert!(
            c.apply_env([("ZKR_PROOF_BACKEND".to_string(), "cuda".to_string())])
                .is_err()
        );
    }

    #[test]
    fn registry_root_window_keys() {
        let mut c = Config::from_toml(
            "[registries]\nroot_window = 3\nroot_max_age_secs = 60\nminers = \"gpu-miners\"\n",
        )
        .expect("valid toml");
        assert_eq!(c.registries.root_window, 3);
        assert_eq!(c.registries.root_max_age_secs, 60);
        assert_eq!(c.registries.miners, "gpu-miners");
        c.validate().expect("valid");
        c.apply_env([("ZKR_ROOT_WINDOW".to_string(), "0".to_string())])
            .expect("parses");
        assert!(
            c.validate().is_err(),
            "a window of no roots accepts nothing"
        );
        assert!(Config::from_toml("[registries]\nroot_windw = 3\n").is_err());
    }

    #[test]
    fn edge_limits_have_defaults_and_overrides() {
        let c = Config::default();
        assert_eq!(c.http.header_read_timeout_secs, 10);
        assert_eq!(c.http.idle_timeout_secs, 60);
        assert_eq!(c.http.max_connections, 1024);
        assert_eq!(c.admin_token_days, 30);
        // A quarter of the queue per principal unless configured.
        assert_eq!(c.proofs.per_principal_limit(), 16);
        let mut c = Config::from_toml(
            "admin_token_days = 7\n[http]\nmax_connections = 8\n[proofs]\nqueue = 10\nper_principal_queue = 3\n",
        )
        .expect("valid toml");
        assert_eq!(c.http.max_connections, 8);
        assert_eq!(c.admin_token_days, 7);
        assert_eq!(c.proofs.per_principal_limit(), 3);
        c.apply_env([("ZKR_IDLE_TIMEOUT_SECS".to_string(), "5".to_string())])
            .expect("valid env");
        assert_eq!(c.http.idle_timeout_secs, 5);
        c.http.max_connections = 0;
        assert!(c.validate().is_err());
        let c = Config::from_toml("[proofs]\nper_principal_queue = 0\n").expect("toml");
        assert!(c.validate().is_err());
    }

    #[test]
    fn documented_example_is_valid() {
        let doc = include_str!("../../docs/configuration.md");
        let example = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|s| s.split("```").next())
            .expect("a toml block in docs/configuration.md");
        let c = Config::from_toml(example).expect("the documented example parses");
        c.validate().expect("the documented example is valid");
        assert_eq!(c.listen.port(), 8080);
        assert!(!c.proofs.setup_missing_keys);
        assert_eq!(c.access.retention_days["auditor"], 2555);
        // Every variable of the table is in the document.
        for EnvVar { name, key, .. } in ENV_VARS {
            assert!(
                doc.contains(name),
                "{name} missing from docs/configuration.md"
            );
            let last = key.rsplit('.').next().unwrap_or(key);
            assert!(
                doc.contains(last),
                "{key} missing from docs/configuration.md"
            );
        }
    }

    /// `table`'s keys, nested tables as `a.b`.
    fn flat_keys(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in table {
            let key = format!("{prefix}{k}");
            match v {
                toml::Value::Table(t) => flat_keys(t, &format!("{key}."), out),
                _ => out.push(key),
            }
        }
    }

    #[test]
    fn packaged_config_works_as_is_and_lists_every_documented_key() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/zkr.toml");
        let text = std::fs::read_to_string(path).expect("packaging/zkr.toml");
        let c = Config::from_toml(&text).expect("the packaged configuration parses");
        c.validate().expect("the packaged configuration is valid");
        // As shipped, a single machine that starts with nothing else:
        // SQLite in the units' state directory, no file it would have to
        // find, reachable from this machine only.
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/zkr"));
        assert!(c.database_url.is_empty());
        assert!(c.listen.ip().is_loopback());
        assert!(c.circuits_dir.as_os_str().is_empty());
        assert!(c.webhooks.secret_file.as_os_str().is_empty());
        assert!(c.webhooks.allow_hosts.is_empty());
        // Its commented alternatives (`# key = value`) are valid too, and
        // with them it names every key of the documented example.
        let uncommented: String = text
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(k, _)| {
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
                {
                    rest
                }
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect();
        Config::from_toml(&uncommented).expect("the commented alternatives parse");
        let mut packaged = Vec::new();
        flat_keys(
            &toml::from_str(&uncommented).expect("toml"),
            "",
            &mut packaged,
        );
        let doc = include_str!("../../docs/configuration.md");
        let example = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|s| s.split("```").next())
            .expect("a toml block in docs/configuration.md");
        let mut documented = Vec::new();
        flat_keys(&toml::from_str(example).expect("toml"), "", &mut documented);
        let missing: Vec<&String> = documented
            .iter()
            .filter(|k| !packaged.contains(k))
            .collect();
        assert!(missing.is_empty(), "packaging/zkr.toml lacks {missing:?}");
    }

    #[test]
    fn unknown_env_variables_are_errors() {
        let mut c = Config::default();
        let e = c
            .apply_env([("ZKR_LISTN".to_string(), "127.0.0.1:1".to_string())])
            .expect_err("a misspelt variable is refused");
        assert!(e.to_string().contains("ZKR_LISTN"), "{e}");
        assert!(
            c.apply_env([("ZKR_RETENTION_DAYS_AUDITR".into(), "1".into())])
                .is_err()
        );
        // Variables of the tests, CI and the key-encryption key are not
        // configuration and pass.
        let others = NON_CONFIG_ENV_VARS
            .iter()
            .chain(SERVICE_ENV_VARS.iter().map(|(n, _)| n))
            .map(|n| (n.to_string(), "x".to_string()));
        c.apply_env(others)
            .expect("known non-configuration variables");
    }

    #[test]
    fn every_documented_variable_is_applied() {
        for EnvVar {
            name, key, example, ..
        } in ENV_VARS
        {
            let name = name.replace("<ROLE>", "AUDITOR");
            let mut c = Config::default();
            c.apply_env([(name.clone(), example.to_string())])
                .unwrap_or_else(|e| panic!("{name} ({key}) = {example}: {e}"));
        }
    }

    /// The one table names each variable once, and `zkr serve --help`
    /// lists them all.
    #[test]
    fn every_variable_is_listed_once_and_in_the_help() {
        let mut names: Vec<&str> = ENV_VARS.iter().map(|v| v.name).collect();
        assert!(names.len() >= 40, "only {} variables", names.len());
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ENV_VARS.len(), "a variable is listed twice");
        let help = env_help();
        for name in names {
            assert!(help.contains(name), "{name} not in --help");
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(Config::from_toml("listn = \"x\"").is_err());
        let mut c = Config::default();
        assert!(
            c.apply_env([("ZKR_RATE_IP_BURST".into(), "many".into())])
                .is_err()
        );
    }
}
