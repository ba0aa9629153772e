//! The data directory and the files the service creates in it: the
//! directory is 0700 and the files 0600, so that no other local user can
//! read the database, the development KEK, the admin token or the circuit
//! keys.
//!
//! Rather than changing the process umask (which needs `unsafe` or another
//! system crate), each file is created with its mode: the SQLite database
//! is created here, empty, before SQLite opens it, and SQLite gives its
//! `-wal`, `-shm` and `-journal` files the mode of the database file.

use std::path::Path;

use std::io::Result;

/// Creates `dir` (and missing parents) with mode 0700; an existing `dir`
/// that group or others may enter is narrowed to 0700, with a warning.
pub fn secure_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777),
                "data directory was open to group or others; narrowed to 0700");
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// For a `sqlite://path` URL, creates the database file empty with mode
/// 0600 (and its directory 0700) when it does not exist yet, so that SQLite
/// never creates it with the umask's mode. Other URLs are left alone.
pub fn prepare_sqlite(url: &str) -> Result<()> {
    let Some(path) = sqlite_file(url) else {
        return Ok(());
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        secure_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Narrows every file under `dir` to 0600 and every directory to 0700
/// (for files written by code that does not set a mode, such as circuit
/// keys set up on first start).
pub fn restrict_tree(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(dir)?;
        if meta.is_dir() {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            for entry in std::fs::read_dir(dir)? {
                restrict_tree(&entry?.path())?;
            }
        } else if meta.is_file() {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The file path inside a `sqlite://path?...` URL (`None` for memory).
fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("meta").permissions().mode() & 0o777
    }

    #[test]
    fn directory_and_database_are_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        secure_dir(&dir).expect("dir");
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        secure_dir(&dir).expect("narrowed");
        assert_eq!(mode(&dir), 0o700);

        let db = tmp.path().join("other/zkr.db");
        prepare_sqlite(&format!("sqlite://{}?mode=rwc", db.display())).expect("db");
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(db.parent().expect("parent")), 0o700);
        // An existing file is kept as it is (and not truncated).
        std::fs::write(&db, b"x").expect("write");
        prepare_sqlite(&format!("sqlite://{}", db.display())).expect("again");
        assert_eq!(std::fs::read(&db).expect("read"), b"x");
        prepare_sqlite("postgres://h/db").expect("not a file");
        prepare_sqlite("sqlite::memory:").expect("memory");

        let keys = dir.join("circuits/range");
        std::fs::create_dir_all(&keys).expect("mkdir");
        std::fs::write(keys.join("proving_key.bin"), b"k").expect("write");
        std::fs::set_permissions(
            keys.join("proving_key.bin"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        restrict_tree(&dir.join("circuits")).expect("restrict");
        assert_eq!(mode(&keys.join("proving_key.bin")), 0o600);
        assert_eq!(mode(&keys), 0o700);
    }
}
