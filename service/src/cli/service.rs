//! The service's commands on the `zkr` command line: `serve`, `worker` and
//! `token create|list|revoke|rotate-admin` (`audit verify` is in `audit`).
//! Each builds its own tokio runtime, so the rest of the command line stays
//! synchronous.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use zkr_server::audit_log;
use zkr_server::{Action, Config, Error, Result, Role, Workers, env_help, tokens};
use zkr_store::Db;

/// `zkr serve` flags; each overrides the file and the environment.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_help = env_help())]
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
    /// Proofs to run at once beside the API, or `auto` to measure the best
    /// number at start (default `proofs.workers`); 0 runs only the API,
    /// for a node whose jobs `zkr worker` proves.
    #[arg(long)]
    pub workers: Option<Workers>,
}

/// `zkr worker` flags: the configuration of `zkr serve` (the same file,
/// database, data directory and KEK variables), without the API.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_help = env_help())]
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
    /// Proofs to run at once in this process, or `auto` (default
    /// `proofs.workers`, at least 1).
    #[arg(long)]
    pub workers: Option<Workers>,
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
        config.proofs.workers = match self.workers.unwrap_or(config.proofs.workers) {
            Workers::Count(0) => Workers::Count(1),
            w => w,
        };
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

/// `zkr token ...`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint an API token directly in the database; prints it once on stdout.
    Create(TokenCreateArgs),
    /// List tokens: id, principal, roles, created, expires, state (never a token).
    List(TokenDbArgs),
    /// Revoke a token by id; it is refused from the next request on.
    Revoke(TokenRevokeArgs),
    /// Write a new admin token to the data directory's `admin-token` (0600)
    /// and revoke the one the file held.
    RotateAdmin(RotateAdminArgs),
}

/// Where the tokens are: `zkr token list`.
#[derive(Debug, Args)]
pub struct TokenDbArgs {
    /// Database URL (default: the one `zkr serve` would use).
    #[arg(long)]
    pub database: Option<String>,
    /// TOML configuration file.
    #[arg(long, env = "ZKR_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `zkr token revoke`.
#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// Id of the token (as `zkr token list` shows it).
    pub id: String,
    /// Where the tokens are.
    #[command(flatten)]
    pub db: TokenDbArgs,
}

/// `zkr token rotate-admin`.
#[derive(Debug, Args)]
pub struct RotateAdminArgs {
    /// Data directory holding `admin-token` (default: the one `zkr serve` would use).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where the tokens are.
    #[command(flatten)]
    pub db: TokenDbArgs,
}

/// `zkr token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Role(s): client, miner, coordinator, auditor, regulator, admin (repeat or comma-separate).
    #[arg(long = "role", required = true, value_delimiter = ',')]
    pub roles: Vec<String>,
    /// Principal the token speaks for (default: the first role's name).
    #[arg(long)]
    pub principal: Option<String>,
    /// Days until the token expires (default: never).
    #[arg(long)]
    pub expires_in_days: Option<u32>,
    /// Database URL (default: the one `zkr serve` would use).
    #[arg(long)]
    pub database: Option<String>,
    /// TOML configuration file.
    #[arg(long, env = "ZKR_CONFIG")]
    pub config: Option<PathBuf>,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn database_url(database: &Option<String>, config: &Option<PathBuf>) -> Result<String> {
    let url = match database {
        Some(url) => url.clone(),
        None => Config::load(config.as_deref())?.database_url(),
    };
    // The first command may be the one that creates the database.
    zkr_artifacts::prepare_sqlite(&url)?;
    Ok(url)
}

/// Runs `zkr serve`.
pub fn serve(args: ServeArgs) -> Result<()> {
    let config = args.load_config()?;
    runtime()?.block_on(zkr_server::run(config))
}

/// Runs `zkr worker`.
pub fn worker(args: WorkerArgs) -> Result<()> {
    let config = args.load_config()?;
    runtime()?.block_on(zkr_server::run_worker(config))
}

/// Runs `zkr token create`; returns the secret to print.
pub fn token_create(args: &TokenCreateArgs) -> Result<String> {
    let roles = args
        .roles
        .iter()
        .map(|r| r.trim().parse::<Role>())
        .collect::<Result<Vec<_>>>()?;
    let principal = match &args.principal {
        Some(p) => p.clone(),
        None => roles.first().map(|r| r.to_string()).unwrap_or_default(),
    };
    let expires_at = args
        .expires_in_days
        .map(|d| zkr_store::now_unix() + i64::from(d) * 86_400);
    let url = database_url(&args.database, &args.config)?;
    let roles_csv = roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let event = |outcome: &str, detail: String| audit_log::NewEvent {
        actor: CLI_ACTOR.into(),
        roles: "system".into(),
        action: Action::TokenCreate.as_str().into(),
        resource: format!("token/{principal}"),
        purpose: "-".into(),
        outcome: outcome.into(),
        detail,
    };
    let token = runtime()?.block_on(async {
        let db = Db::connect_and_migrate(&url).await?;
        // Like the API: no token without its audit event.
        let expiry = expires_at.map_or("never".to_string(), |t| t.to_string());
        audit_log::append_direct(
            &db,
            &event(
                "allow",
                format!("rule=command-line roles={roles_csv} expires_at={expiry}"),
            ),
        )
        .await?;
        let minted = tokens::mint(&db, &principal, &roles, expires_at).await;
        if let Err(e) = &minted {
            let detail = format!("rule=command-line not minted: {e}");
            if let Err(e) = audit_log::append_direct(&db, &event("failed", detail)).await {
                tracing::error!(error = %e, "audit append failed");
            }
        }
        db.pool.close().await;
        minted
    })?;
    Ok(token.secret.to_string())
}

/// Runs a `zkr token` command; returns what to print on stdout.
pub fn token(args: &TokenArgs) -> Result<String> {
    match &args.command {
        TokenCommand::Create(c) => token_create(c),
        TokenCommand::List(a) => token_list(a),
        TokenCommand::Revoke(a) => token_revoke(a),
        TokenCommand::RotateAdmin(a) => token_rotate_admin(a),
    }
}

/// The actor of audit events written by `zkr token` commands.
pub const CLI_ACTOR: &str = "zkr-cli";

/// Appends one event for a command-line action and waits until it is
/// committed.
async fn audit_cli(db: &Db, action: &str, resource: String, detail: String) -> Result<()> {
    let event = audit_log::NewEvent {
        actor: CLI_ACTOR.into(),
        roles: "system".into(),
        action: action.into(),
        resource,
        purpose: "-".into(),
        outcome: "allow".into(),
        detail,
    };
    audit_log::append_direct(db, &event).await.map(|_| ())
}

fn show_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Runs `zkr token list`: one line per token, oldest first. Audited before
/// anything is shown.
pub fn token_list(args: &TokenDbArgs) -> Result<String> {
    let url = database_url(&args.database, &args.config)?;
    runtime()?.block_on(async {
        let db = Db::connect_and_migrate(&url).await?;
        audit_cli(&db, "token_read", "token/*".into(), "cli list".into()).await?;
        let tokens = tokens::list(&db).await?;
        let now = zkr_store::now_unix();
        let mut out = format!(
            "{:<36}  {:<20}  {:<24}  {:<25}  {:<25}  STATE",
            "ID", "PRINCIPAL", "ROLES", "CREATED", "EXPIRES"
        );
        for t in tokens {
            let roles: Vec<&str> = t.roles.iter().map(|r| r.as_str()).collect();
            let state = if t.revoked {
                "revoked"
            } else if t.expires_at.is_some_and(|e| e <= now) {
                "expired"
            } else {
                "active"
            };
            out.push_str(&format!(
                "\n{:<36}  {:<20}  {:<24}  {:<25}  {:<25}  {state}",
                t.id,
                t.principal,
                roles.join(","),
                show_time(t.created_at),
                t.expires_at.map_or_else(|| "never".into(), show_time),
            ));
        }
        Ok(out)
    })
}

/// Runs `zkr token revoke`.
pub fn token_revoke(args: &TokenRevokeArgs) -> Result<String> {
    let url = database_url(&args.db.database, &args.db.config)?;
    runtime()?.block_on(async {
        let db = Db::connect_and_migrate(&url).await?;
        let info = tokens::revoke(&db, &args.id).await?;
        audit_cli(
            &db,
            "token_revoke",
            format!("token/{}", info.id),
            format!("cli revoke principal={}", info.principal),
        )
        .await?;
        Ok(format!("revoked token {} of {}", info.id, info.principal))
    })
}

/// Runs `zkr token rotate-admin`.
pub fn token_rotate_admin(args: &RotateAdminArgs) -> Result<String> {
    let mut config = Config::load(args.db.config.as_deref())?;
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    let url = match &args.db.database {
        Some(url) => url.clone(),
        None => config.database_url(),
    };
    zkr_artifacts::secure_dir(&config.data_dir)?;
    zkr_artifacts::prepare_sqlite(&url)?;
    runtime()?.block_on(async {
        let db = Db::connect_and_migrate(&url).await?;
        let rotated = tokens::rotate_admin(&db, &config.data_dir, config.admin_token_days).await?;
        let revoked = rotated.revoked_id.as_deref().unwrap_or("none");
        audit_cli(
            &db,
            "token_rotate_admin",
            format!("token/{}", rotated.new_id),
            format!("cli rotate-admin revoked={revoked}"),
        )
        .await?;
        Ok(format!(
            "new admin token written to {} (valid {} days); revoked: {revoked}",
            rotated.path.display(),
            config.admin_token_days
        ))
    })
}

/// Whether an error is the caller's (bad input) rather than the system's.
pub fn is_input_error(e: &Error) -> bool {
    matches!(
        e,
        Error::Config(_) | Error::BadRequest(_) | Error::Unprocessable(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::audit::{AuditVerifyArgs, audit_verify};

    #[test]
    fn token_create_then_audit_verify_offline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("zkr.db").display());
        let args = TokenCreateArgs {
            roles: vec!["miner".into(), "client".into()],
            principal: None,
            expires_in_days: Some(30),
            database: Some(url.clone()),
            config: None,
        };
        let secret = token_create(&args).expect("token");
        assert!(secret.starts_with(tokens::TOKEN_PREFIX));
        let report = audit_verify(&AuditVerifyArgs {
            database: Some(url.clone()),
            ..AuditVerifyArgs::default()
        })
        .expect("verify");
        assert!(report.valid);
        // The minting is in the log, as when the API mints.
        assert_eq!(report.entries, 1);
        let events = runtime()
            .expect("runtime")
            .block_on(async {
                let db = Db::connect(&url).await?;
                audit_log::query(
                    &db,
                    &audit_log::Filter {
                        limit: 10,
                        ..Default::default()
                    },
                )
                .await
            })
            .expect("events");
        assert_eq!(events[0].actor, CLI_ACTOR);
        assert_eq!(events[0].action, "token_create");
        assert_eq!(events[0].resource, "token/miner");
        assert!(
            events[0].detail.contains("roles=miner,client"),
            "{}",
            events[0].detail
        );

        let bad = TokenCreateArgs {
            roles: vec!["root".into()],
            ..args
        };
        let e = token_create(&bad).expect_err("unknown role");
        assert!(is_input_error(&e));
    }
}
