//! The newest signed audit checkpoint, kept outside the database.
//!
//! Someone who can write the database can delete the tail of the chain
//! together with its checkpoints; what the database holds then vouches for
//! the shorter chain. So each node also keeps the newest checkpoint it
//! signed in a file of its data directory (and optionally a copy on other
//! storage). At start the database must still reach that checkpoint, with
//! the signed hash, or the node refuses to start; both verifiers report a
//! kept checkpoint beyond the database's end as a cut.
//!
//! The file is one line of JSON, a checkpoint as `GET /v1/audit/checkpoints`
//! lists it, so it is also a valid checkpoints file for
//! `zkr audit verify --checkpoints`. It is replaced atomically (a temporary
//! file, fsync, rename, fsync of the directory), readable only by its owner.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::checkpoints::{Checkpoint, signature_ok};
use super::error::{Error, Result};
use zkr_store::Db;

/// The checkpoint kept in `path`; `None` when there is no such file.
pub fn read(path: &Path) -> Result<Option<Checkpoint>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Unavailable(format!(
                "cannot read the kept audit checkpoint {}: {e}",
                path.display()
            )));
        }
    };
    let line = text.lines().rev().find(|l| !l.trim().is_empty());
    let parsed = line.map(serde_json::from_str::<Checkpoint>);
    match parsed {
        Some(Ok(c)) => Ok(Some(c)),
        Some(Err(e)) => Err(Error::Unavailable(format!(
            "the kept audit checkpoint {} is not a checkpoint: {e}",
            path.display()
        ))),
        None => Err(Error::Unavailable(format!(
            "the kept audit checkpoint {} is empty",
            path.display()
        ))),
    }
}

/// The checkpoints kept in `paths` (those that exist), oldest first.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Checkpoint)>> {
    let mut kept = Vec::new();
    for path in paths {
        if let Some(c) = read(path)? {
            kept.push((path.clone(), c));
        }
    }
    kept.sort_by_key(|(_, c)| c.seq);
    Ok(kept)
}

/// Replaces `path` with `checkpoint`, atomically and durably: a reader (or
/// a crash) sees the old checkpoint or the new one, never a mix.
pub(crate) fn write(path: &Path, checkpoint: &Checkpoint) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Internal(format!("{}: not a file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut line = serde_json::to_vec(checkpoint).map_err(|e| Error::Internal(e.to_string()))?;
    line.push(b'\n');
    let written = (|| {
        let mut file = open_private(&tmp)?;
        file.write_all(&line)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself must survive a power loss.
        std::fs::File::open(&dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("keeping the audit checkpoint in {}: {e}", path.display()),
        ))
    })
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

/// Writes `checkpoint` to every path; a failure is logged, not returned:
/// the checkpoint is already signed and stored in the database.
pub(crate) async fn keep(paths: &[PathBuf], checkpoint: &Checkpoint) {
    let paths = paths.to_vec();
    let c = checkpoint.clone();
    let done = tokio::task::spawn_blocking(move || {
        for path in &paths {
            if let Err(e) = write(path, &c) {
                tracing::error!(error = %e, "audit checkpoint not kept outside the database");
            }
        }
    })
    .await;
    if let Err(e) = done {
        tracing::error!(error = %e, "audit checkpoint file task failed");
    }
}

/// Checks the checkpoints kept in `paths` against the chain in `db`: each
/// must verify under its own key, and the database must still hold its
/// entry with the signed hash. Returns the highest kept sequence number
/// (0 when none is kept); an error names the file and what was lost.
pub(crate) async fn check_against(db: &Db, paths: &[PathBuf]) -> Result<i64> {
    let paths_owned = paths.to_vec();
    let kept = tokio::task::spawn_blocking(move || read_all(&paths_owned))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    let mut floor = 0;
    for (path, c) in kept {
        if !signature_ok(&c) {
            return Err(Error::Unavailable(format!(
                "the audit checkpoint kept in {} does not verify (the file was altered); \
                 refusing to start",
                path.display()
            )));
        }
        match zkr_store::audit_entry_hash(db, c.seq).await? {
            Some(hash) if hash == c.entry_hash => floor = floor.max(c.seq),
            Some(_) => {
                return Err(Error::Unavailable(format!(
                    "audit log rewritten: entry {} in the database has another hash than the \
                     one signed in the checkpoint kept in {}; refusing to start so that nothing \
                     is appended to the rewritten chain (see \"Recovering from a cut or \
                     restored audit log\" in docs/configuration.md)",
                    c.seq,
                    path.display()
                )));
            }
            None => {
                let end = zkr_store::audit_head(db).await?.map_or(0, |h| h.seq);
                return Err(Error::Unavailable(format!(
                    "audit log cut: the database's chain ends at entry {end}, but the \
                     checkpoint kept in {} was signed for entry {} (the tail was deleted, or \
                     the database restored from an older backup); refusing to start so that \
                     no entry is appended behind it (see \"Recovering from a cut or restored \
                     audit log\" in docs/configuration.md)",
                    path.display(),
                    c.seq
                )));
            }
        }
    }
    Ok(floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seq: i64) -> Checkpoint {
        Checkpoint {
            seq,
            entry_hash: "11".repeat(32),
            ts: 5,
            key_id: "audit-checkpoint".into(),
            key_version: 1,
            public_key: "22".repeat(32),
            signature: "33".repeat(64),
        }
    }

    #[test]
    fn written_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kept.ndjson");
        assert_eq!(read(&path).expect("absent"), None);
        write(&path, &sample(3)).expect("write");
        write(&path, &sample(7)).expect("replace");
        assert_eq!(read(&path).expect("read"), Some(sample(7)));
        let text = std::fs::read_to_string(&path).expect("text");
        assert_eq!(text.lines().count(), 1, "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_damaged_file_is_an_error_not_an_absence() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kept.ndjson");
        std::fs::write(&path, "{\"seq\": 3").expect("write");
        assert!(read(&path).is_err());
        std::fs::write(&path, "\n").expect("write");
        assert!(read(&path).is_err());
    }
}
