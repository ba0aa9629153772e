//! `zkr audit verify`: recompute the audit chain and check its signed
//! checkpoints offline.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use zkr_server::audit_log::{self, Checkpoint, Trust};
use zkr_server::{Error, Result};

use super::service::{database_url, runtime};
use super::{CliError, CliResult, service};

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
    /// Hex Ed25519 public key every checkpoint must be signed by (repeatable;
    /// from `GET /v1/audit/checkpoints`). Without it, and without a key in
    /// `--checkpoints`, the key stored in the database is used: not pinned.
    #[arg(long = "public-key")]
    pub public_keys: Vec<String>,
    /// Checkpoints kept outside the database: the JSON answer of
    /// `GET /v1/audit/checkpoints`, a JSON array or JSON lines of checkpoints.
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
}

/// Runs a `zkr audit` command: the verdict on stderr, exit 1 when broken.
pub fn run(a: &AuditArgs) -> CliResult {
    let AuditCommand::Verify(v) = &a.command;
    let report = service(audit_verify(v))?;
    eprintln!("{}", checkpoint_summary(&report));
    match report.first_broken {
        None => {
            eprintln!("OK: {} audit entries, head {}", report.entries, report.head);
            Ok(())
        }
        Some(b) => Err(CliError::Rejected(format!(
            "BROKEN: audit entry {} ({}); {} entries before it are intact",
            b.seq, b.reason, report.entries
        ))),
    }
}

/// Runs `zkr audit verify`; `Ok(report)` whether or not the chain is intact.
pub fn audit_verify(args: &AuditVerifyArgs) -> Result<audit_log::VerifyReport> {
    let url = database_url(&args.database, &args.config)?;
    let trust = trust(args)?;
    runtime()?.block_on(audit_log::verify_database_with(&url, &trust))
}

/// The pinned keys and kept checkpoints of `zkr audit verify`.
fn trust(args: &AuditVerifyArgs) -> Result<Trust> {
    let mut trust = Trust::default();
    if !args.public_keys.is_empty() {
        let keys = args
            .public_keys
            .iter()
            .map(|k| {
                hex::decode(k.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| Error::BadRequest("--public-key: expected 64 hex digits".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        trust.pinned_keys = Some(keys);
        trust.pinned_by = "--public-key".into();
    }
    if let Some(path) = &args.checkpoints {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::BadRequest(format!("--checkpoints {}: {e}", path.display())))?;
        let (kept, key) = parse_checkpoints(&text)
            .map_err(|e| Error::BadRequest(format!("--checkpoints {}: {e}", path.display())))?;
        trust.kept = kept;
        if trust.pinned_keys.is_none()
            && let Some(key) = key
        {
            trust.pinned_keys = Some(vec![key]);
            trust.pinned_by = format!("the public key in {}", path.display());
        }
    }
    Ok(trust)
}

/// Checkpoints from the answer of `GET /v1/audit/checkpoints` (with its
/// public key), a JSON array, or JSON lines.
fn parse_checkpoints(
    text: &str,
) -> std::result::Result<(Vec<Checkpoint>, Option<[u8; 32]>), String> {
    #[derive(serde::Deserialize)]
    struct Listed {
        public_key: Option<String>,
        checkpoints: Vec<Checkpoint>,
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with('{')
        && let Ok(listed) = serde_json::from_str::<Listed>(text)
    {
        let key = match listed.public_key {
            Some(k) => Some(
                hex::decode(&k)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or("public_key: expected 64 hex digits")?,
            ),
            None => None,
        };
        return Ok((listed.checkpoints, key));
    }
    if trimmed.starts_with('[') {
        return serde_json::from_str(text)
            .map(|c| (c, None))
            .map_err(|e| e.to_string());
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| e.to_string()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(|c| (c, None))
}

/// One line on the checkpoints `zkr audit verify` checked and where their
/// key came from.
pub fn checkpoint_summary(report: &audit_log::VerifyReport) -> String {
    let last = report
        .last_checkpoint
        .map_or("none".to_string(), |s| format!("at entry {s}"));
    let mut line = format!(
        "checkpoints: {} checked, last {last}; key: {}",
        report.checkpoints, report.key_source
    );
    if !report.key_pinned {
        line.push_str(
            " (WARNING: anyone who can write the database can re-sign; pin the key with --public-key or --checkpoints)",
        );
    }
    for e in &report.checkpoint_errors {
        line.push_str(&format!(
            "\ncheckpoint problem at entry {}: {}",
            e.seq, e.reason
        ));
    }
    line
}
