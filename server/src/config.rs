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
    /// Workers this node runs (`zkr serve`; `zkr worker` runs at least
    /// one). 0: an API-only node. Each job already uses every core.
    pub workers: usize,
    /// Jobs that may wait, over all nodes; one more is answered with 503.
    pub queue: usize,
    /// MSM backend: `auto` (OpenCL when a device is there, else CPU), `cpu` or `opencl`.
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

impl Default for ProofsConfig {
    fn default() -> Self {
        Self {
            workers: 1,
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
    /// Burst size per principal.
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

/// Audit writer settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Most events committed in one transaction.
    pub batch_max: usize,
    /// Capacity of the queue in front of the writer.
    pub queue: usize,
    /// Sign a checkpoint of the chain head after this many new events.
    pub checkpoint_every_events: u64,
    /// Sign a checkpoint at least this often (seconds) while events arrive.
    pub checkpoint_every_secs: u64,
    /// Key id of the Ed25519 checkpoint signing key (custodial, under the KEK).
    pub checkpoint_key_id: String,
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
            principal_burst: 40,
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
            checkpoint_every_events: 1000,
            checkpoint_every_secs: 60,
            checkpoint_key_id: "audit-checkpoint".into(),
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

    /// Applies `ZKR_*` variables from `vars`.
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<()> {
        for (key, value) in vars {
            let Some(name) = key.strip_prefix("ZKR_") else {
                continue;
            };
            match name {
                "LISTEN" => self.listen = parse(&key, &value)?,
                "DATA_DIR" => self.data_dir = PathBuf::from(value),
                "DATABASE_URL" => self.database_url = value,
                "BODY_LIMIT_BYTES" => self.http.body_limit_bytes = parse(&key, &value)?,
                "REQUEST_TIMEOUT_SECS" => self.http.request_timeout_secs = parse(&key, &value)?,
                "HEADER_READ_TIMEOUT_SECS" => {
                    self.http.header_read_timeout_secs = parse(&key, &value)?
                }
                "IDLE_TIMEOUT_SECS" => self.http.idle_timeout_secs = parse(&key, &value)?,
                "MAX_CONNECTIONS" => self.http.max_connections = parse(&key, &value)?,
                "ADMIN_TOKEN_DAYS" => self.admin_token_days = parse(&key, &value)?,
                "RATE_IP_PER_SECOND" => self.rate_limit.ip_per_second = parse(&key, &value)?,
                "RATE_IP_BURST" => self.rate_limit.ip_burst = parse(&key, &value)?,
                "RATE_PRINCIPAL_PER_SECOND" => {
                    self.rate_limit.principal_per_second = parse(&key, &value)?
                }
                "RATE_PRINCIPAL_BURST" => self.rate_limit.principal_burst = parse(&key, &value)?,
                "BUSINESS_HOURS_START" => self.access.business_hours_start = parse(&key, &value)?,
                "BUSINESS_HOURS_END" => self.access.business_hours_end = parse(&key, &value)?,
                "BUSINESS_WEEKENDS" => self.access.weekends = parse(&key, &value)?,
                "AUDIT_BATCH_MAX" => self.audit.batch_max = parse(&key, &value)?,
                "AUDIT_QUEUE" => self.audit.queue = parse(&key, &value)?,
                "AUDIT_CHECKPOINT_EVERY_EVENTS" => {
                    self.audit.checkpoint_every_events = parse(&key, &value)?
                }
                "AUDIT_CHECKPOINT_EVERY_SECS" => {
                    self.audit.checkpoint_every_secs = parse(&key, &value)?
                }
                "AUDIT_CHECKPOINT_KEY_ID" => self.audit.checkpoint_key_id = value,
                "ESCROW_KEY_ID" => self.escrow_key_id = value,
                "SIGNING_KEY_ID" => self.signing_key_id = value,
                "CIRCUITS_DIR" => self.circuits_dir = PathBuf::from(value),
                "REGISTRY_DEPTH" => self.registry_depth = parse(&key, &value)?,
                "PROOF_WORKERS" => self.proofs.workers = parse(&key, &value)?,
                "PROOF_QUEUE" => self.proofs.queue = parse(&key, &value)?,
                "PROOF_BACKEND" => self.proofs.backend = parse(&key, &value)?,
                "SETUP_MISSING_KEYS" => self.proofs.setup_missing_keys = parse(&key, &value)?,
                "MINER_REGISTRY" => self.registries.miners = value,
                "ROOT_WINDOW" => self.registries.root_window = parse(&key, &value)?,
                "ROOT_MAX_AGE_SECS" => self.registries.root_max_age_secs = parse(&key, &value)?,
                "PROOF_PER_PRINCIPAL_QUEUE" => {
                    self.proofs.per_principal_queue = Some(parse(&key, &value)?)
                }
                "PROOF_LEASE_SECS" => self.proofs.lease_secs = parse(&key, &value)?,
                "PROOF_MAX_ATTEMPTS" => self.proofs.max_attempts = parse(&key, &value)?,
                "PROOF_POOL_KEY_ID" => self.proofs.pool_key_id = value,
                "PROOF_POLL_MS" => self.proofs.poll_ms = parse(&key, &value)?,
                "PROOF_MAX_WAIT_SECS" => self.proofs.max_wait_secs = parse(&key, &value)?,
                other => {
                    if let Some(role) = other.strip_prefix("RETENTION_DAYS_") {
                        let role = role.to_ascii_lowercase();
                        role.parse::<super::auth::Role>()
                            .map_err(|_| Error::Config(format!("{key}: {role} is not a role")))?;
                        self.access
                            .retention_days
                            .insert(role, parse(&key, &value)?);
                    } else if !is_known_other_var(&key) {
                        // A typo must not silently fall back to a default,
                        // as with unknown TOML keys.
                        return Err(Error::Config(format!(
                            "unknown environment variable {key} (`zkr serve --help` lists the ZKR_* variables)"
                        )));
                    }
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
pub(crate) const ENV_VARS: &[(&str, &str, &str)] = &[
    ("ZKR_LISTEN", "listen", "127.0.0.1:8080"),
    ("ZKR_DATA_DIR", "data_dir", "zkr-data"),
    ("ZKR_DATABASE_URL", "database_url", "postgres://zkr@db/zkr"),
    ("ZKR_BODY_LIMIT_BYTES", "http.body_limit_bytes", "1048576"),
    (
        "ZKR_REQUEST_TIMEOUT_SECS",
        "http.request_timeout_secs",
        "30",
    ),
    ("ZKR_RATE_IP_PER_SECOND", "rate_limit.ip_per_second", "50"),
    ("ZKR_RATE_IP_BURST", "rate_limit.ip_burst", "100"),
    (
        "ZKR_RATE_PRINCIPAL_PER_SECOND",
        "rate_limit.principal_per_second",
        "20",
    ),
    (
        "ZKR_RATE_PRINCIPAL_BURST",
        "rate_limit.principal_burst",
        "40",
    ),
    (
        "ZKR_BUSINESS_HOURS_START",
        "access.business_hours_start",
        "8",
    ),
    ("ZKR_BUSINESS_HOURS_END", "access.business_hours_end", "18"),
    ("ZKR_BUSINESS_WEEKENDS", "access.weekends", "false"),
    (
        "ZKR_RETENTION_DAYS_<ROLE>",
        "access.retention_days.<role>",
        "2555",
    ),
    ("ZKR_AUDIT_BATCH_MAX", "audit.batch_max", "256"),
    ("ZKR_AUDIT_QUEUE", "audit.queue", "4096"),
    ("ZKR_ESCROW_KEY_ID", "escrow_key_id", "escrow"),
    ("ZKR_SIGNING_KEY_ID", "signing_key_id", "coordinator"),
    ("ZKR_CIRCUITS_DIR", "circuits_dir", "zkr-data/circuits"),
    ("ZKR_REGISTRY_DEPTH", "registry_depth", "20"),
    ("ZKR_PROOF_WORKERS", "proofs.workers", "1"),
    ("ZKR_PROOF_QUEUE", "proofs.queue", "64"),
    ("ZKR_PROOF_BACKEND", "proofs.backend", "auto"),
    (
        "ZKR_SETUP_MISSING_KEYS",
        "proofs.setup_missing_keys",
        "true",
    ),
    (
        "ZKR_PROOF_PER_PRINCIPAL_QUEUE",
        "proofs.per_principal_queue",
        "16",
    ),
    ("ZKR_PROOF_LEASE_SECS", "proofs.lease_secs", "30"),
    ("ZKR_PROOF_MAX_ATTEMPTS", "proofs.max_attempts", "3"),
    ("ZKR_PROOF_POOL_KEY_ID", "proofs.pool_key_id", "proof-pool"),
    ("ZKR_PROOF_POLL_MS", "proofs.poll_ms", "500"),
    ("ZKR_PROOF_MAX_WAIT_SECS", "proofs.max_wait_secs", "25"),
    (
        "ZKR_HEADER_READ_TIMEOUT_SECS",
        "http.header_read_timeout_secs",
        "10",
    ),
    ("ZKR_IDLE_TIMEOUT_SECS", "http.idle_timeout_secs", "60"),
    ("ZKR_MAX_CONNECTIONS", "http.max_connections", "1024"),
    ("ZKR_ADMIN_TOKEN_DAYS", "admin_token_days", "30"),
    (
        "ZKR_AUDIT_CHECKPOINT_EVERY_EVENTS",
        "audit.checkpoint_every_events",
        "1000",
    ),
    (
        "ZKR_AUDIT_CHECKPOINT_EVERY_SECS",
        "audit.checkpoint_every_secs",
        "60",
    ),
    (
        "ZKR_AUDIT_CHECKPOINT_KEY_ID",
        "audit.checkpoint_key_id",
        "audit-checkpoint",
    ),
    ("ZKR_MINER_REGISTRY", "registries.miners", "miners"),
    ("ZKR_ROOT_WINDOW", "registries.root_window", "128"),
    (
        "ZKR_ROOT_MAX_AGE_SECS",
        "registries.root_max_age_secs",
        "86400",
    ),
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
    for (name, key, _) in ENV_VARS {
        text.push_str(&format!("  {name:<32} {key}\n"));
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
        for (name, key, _) in ENV_VARS {
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
        for (name, key, example) in ENV_VARS {
            let name = name.replace("<ROLE>", "AUDITOR");
            let mut c = Config::default();
            c.apply_env([(name.clone(), example.to_string())])
                .unwrap_or_else(|e| panic!("{name} ({key}) = {example}: {e}"));
        }
    }

    /// Every variable `apply_env` matches is in the table behind `zkr serve
    /// --help` and docs/configuration.md.
    #[test]
    fn every_applied_variable_is_documented() {
        let source = include_str!("config.rs");
        let body = source
            .split("pub fn apply_env")
            .nth(1)
            .and_then(|s| s.split("pub fn validate").next())
            .expect("apply_env in config.rs");
        let mut found = 0;
        for arm in body.split("\n").filter_map(|l| {
            let l = l.trim_start();
            let rest = l.strip_prefix('"')?;
            let (name, tail) = rest.split_once('"')?;
            tail.trim_start().starts_with("=>").then_some(name)
        }) {
            found += 1;
            let var = format!("ZKR_{arm}");
            assert!(
                ENV_VARS.iter().any(|(n, _, _)| *n == var),
                "{var} is applied but missing from ENV_VARS"
            );
        }
        assert!(found >= 20, "parsed only {found} variables");
        let help = env_help();
        for (name, _, _) in ENV_VARS {
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
