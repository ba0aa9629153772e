//! The service's commands on the `zkr` command line: `serve`, `token
//! create` and `audit verify`. Each builds its own tokio runtime, so the
//! rest of the command line stays synchronous.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::auth::{self, Role};
use super::config::Config;
use super::error::{Error, Result};
use super::{ServeArgs, audit};

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

/// `zkr audit ...`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// Audit commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit chain offline; exit 1 and name the first broken entry if any.
    Verify(AuditVerifyArgs),
}

/// `zkr audit verify`.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// Database URL (default: the one `zkr serve` would use).
    #[arg(long)]
    pub database: Option<String>,
    /// TOML configuration file.
    #[arg(long, env = "ZKR_CONFIG")]
    pub config: Option<PathBuf>,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn database_url(database: &Option<String>, config: &Option<PathBuf>) -> Result<String> {
    match database {
        Some(url) => Ok(url.clone()),
        None => Ok(Config::load(config.as_deref())?.database_url()),
    }
}

/// Runs `zkr serve`.
pub fn serve(args: ServeArgs) -> Result<()> {
    runtime()?.block_on(super::run(args))
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
        .map(|d| super::store::now_unix() + i64::from(d) * 86_400);
    let url = database_url(&args.database, &args.config)?;
    let token = runtime()?.block_on(auth::create_token_in(&url, &principal, &roles, expires_at))?;
    Ok(token.secret.to_string())
}

/// Runs `zkr audit verify`; `Ok(report)` whether or not the chain is intact.
pub fn audit_verify(args: &AuditVerifyArgs) -> Result<audit::VerifyReport> {
    let url = database_url(&args.database, &args.config)?;
    runtime()?.block_on(audit::verify_database(&url))
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
        assert!(secret.starts_with(auth::TOKEN_PREFIX));
        let report = audit_verify(&AuditVerifyArgs {
            database: Some(url),
            config: None,
        })
        .expect("verify");
        assert!(report.valid);
        assert_eq!(report.entries, 0);

        let bad = TokenCreateArgs {
            roles: vec!["root".into()],
            ..args
        };
        let e = token_create(&bad).expect_err("unknown role");
        assert!(is_input_error(&e));
    }
}
