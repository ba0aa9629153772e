//! `zkr audit verify`: recompute the audit chain and check its signed
//! checkpoints offline, from the database (with the checkpoint a node keeps
//! in its data directory) or, with no database, from an export.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use zkr_server::audit_log::{self, Checkpoint, Trust, VerifyReport};
use zkr_server::{Config, Error, Result};

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
#[derive(Debug, Default, Args)]
pub struct AuditVerifyArgs {
    /// Database URL (default: the one `zkr serve` would use).
    #[arg(long, conflicts_with = "file")]
    pub database: Option<String>,
    /// TOML configuration file.
    #[arg(long, env = "ZKR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory whose kept checkpoint (`audit-checkpoint.ndjson`, and
    /// `audit.checkpoint_copy` if configured) is checked too (default: the
    /// one `zkr serve` would use).
    #[arg(long, conflicts_with = "file")]
    pub data_dir: Option<PathBuf>,
    /// Verify an export instead of the database: the JSON lines of
    /// `GET /v1/audit/events` without filters (the whole log); with
    /// `--checkpoints` and `--public-key`, no database is needed.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Hex Ed25519 public key every checkpoint must be signed by (repeatable;
    /// from `GET /v1/audit/checkpoints`). Without it, and without a key in
    /// `--checkpoints`, the key stored in the database is used: not pinned.
    #[arg(long = "public-key")]
    pub public_keys: Vec<String>,
    /// Checkpoints kept outside the database: the JSON answer of
    /// `GET /v1/audit/checkpoints`, a JSON array or JSON lines of
    /// checkpoints (such as a node's `audit-checkpoint.ndjson`).
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
}

/// Runs a `zkr audit` command: the verdict on stderr, exit 1 when broken.
pub fn run(a: &AuditArgs) -> CliResult {
    let AuditCommand::Verify(v) = &a.command;
    let report = service(audit_verify(v))?;
    eprintln!("{}", checkpoint_summary(&report));
    match verdict(&report) {
        Ok(line) => {
            eprintln!("{line}");
            Ok(())
        }
        Err(line) => Err(CliError::Rejected(line)),
    }
}

/// The last line: OK, or BROKEN naming the first broken entry and how
/// many entries before it are intact.
pub fn verdict(report: &VerifyReport) -> std::result::Result<String, String> {
    let Some(b) = &report.first_broken else {
        return Ok(format!(
            "OK: {} audit entries, head {}",
            report.entries, report.head
        ));
    };
    let intact = match report.intact {
        0 => "no entry before it is known intact".to_string(),
        n if n == b.seq - 1 => format!("the {n} entries before it are intact"),
        n => format!("only entries 1..={n} are known intact"),
    };
    Err(format!(
        "BROKEN: audit entry {} ({}); {intact}",
        b.seq, b.reason
    ))
}

/// Runs `zkr audit verify`; `Ok(report)` whether or not the chain is intact.
pub fn audit_verify(args: &AuditVerifyArgs) -> Result<VerifyReport> {
    let mut trust = trust(args)?;
    if let Some(path) = &args.file {
        let file = std::fs::File::open(path)
            .map_err(|e| Error::BadRequest(format!("--file {}: {e}", path.display())))?;
        return audit_log::verify_export(std::io::BufReader::new(file), &trust)
            .map_err(|e| Error::BadRequest(format!("--file {}: {e}", path.display())));
    }
    trust.kept.extend(kept_in_data_dir(args)?);
    let url = database_url(&args.database, &args.config)?;
    runtime()?.block_on(audit_log::verify_database_with(&url, &trust))
}

/// The checkpoints the node keeps in its data directory (and the copy the
/// configuration names), beside the database.
fn kept_in_data_dir(args: &AuditVerifyArgs) -> Result<Vec<Checkpoint>> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    let kept = audit_log::kept_checkpoints(&config.audit_checkpoint_files())
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    Ok(kept.into_iter().map(|(_, c)| c).collect())
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
pub fn checkpoint_summary(report: &VerifyReport) -> String {
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
    if report.checkpoints == 0 {
        line.push_str(
            " (WARNING: without checkpoints a cut tail cannot be seen; give --checkpoints)",
        );
    }
    // The first problem is the verdict's, printed once, there.
    for e in report
        .checkpoint_errors
        .iter()
        .filter(|e| Some(*e) != report.first_broken.as_ref())
    {
        line.push_str(&format!(
            "\ncheckpoint problem at entry {}: {}",
            e.seq, e.reason
        ));
    }
    line
}
