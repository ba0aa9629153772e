//! A key directory received from elsewhere (a prover pool's database),
//! installed only once it is checked against the verifying-key hash it was
//! expected to have. Its files are 0600 in a 0700 directory, like
//! everything the service keeps in its data directory.

use std::path::Path;

use crate::error::{Error, Result};
use crate::key_dir::{
    CIRCUIT_JSON, CircuitInfo, PROVING_KEY, VERIFICATION_KEY_JSON, VERIFYING_KEY, read_proving_key,
};
use crate::private_files::secure_dir;

/// Installs `circuit_json` and `proving_key` as the key directory `dir`
/// (which must not hold keys yet), with the verifying keys derived from
/// the proving key, after checking that both the description and the
/// proving key are for the verifying key `expected_vk_sha256`. The proving
/// key is fully checked (every point) on the way, and its checked fast form
/// written beside it. The files are assembled in a sibling directory and
/// renamed into place, so that a half-installed directory never looks like
/// keys.
pub fn install_keys(
    dir: &Path,
    circuit_json: &str,
    proving_key: &[u8],
    expected_vk_sha256: &str,
) -> Result<CircuitInfo> {
    let info: CircuitInfo = serde_json::from_str(circuit_json)
        .map_err(|e| Error::Input(format!("{CIRCUIT_JSON}: {e}")))?;
    info.kind_and_depth()?;
    if !info
        .verifying_key_sha256
        .eq_ignore_ascii_case(expected_vk_sha256)
    {
        return Err(Error::Input(format!(
            "{CIRCUIT_JSON} is for verifying key {}, not {expected_vk_sha256}",
            info.verifying_key_sha256
        )));
    }
    let parent = dir
        .parent()
        .ok_or_else(|| Error::Failed(format!("{}: no parent directory", dir.display())))?;
    let failed = |p: &Path, e: std::io::Error| Error::Failed(format!("{}: {e}", p.display()));
    secure_dir(parent).map_err(|e| failed(parent, e))?;
    let staging = dir.with_extension("installing");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| failed(&staging, e))?;
    }
    secure_dir(&staging).map_err(|e| failed(&staging, e))?;
    let installed = assemble(&staging, dir, &info, circuit_json, proving_key);
    if installed.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    installed.map(|()| info)
}

/// Writes the key files into `staging`, checks the proving key, and
/// renames `staging` to `dir`.
fn assemble(
    staging: &Path,
    dir: &Path,
    info: &CircuitInfo,
    circuit_json: &str,
    proving_key: &[u8],
) -> Result<()> {
    write_private(&staging.join(PROVING_KEY), proving_key)?;
    write_private(&staging.join(CIRCUIT_JSON), circuit_json.as_bytes())?;
    // Checks every point and that the key's own verifying key is the one
    // circuit.json names (checked by the caller to be the expected one).
    let pk = read_proving_key(staging, info)?;
    let vk_bytes = zkr_verifier::binary::verifying_key_to_bytes(&pk.vk);
    write_private(&staging.join(VERIFYING_KEY), &vk_bytes)?;
    let vk_json =
        serde_json::to_string_pretty(&zkr_verifier::snarkjs::VerificationKeyJson::from_vk(&pk.vk))
            .map_err(|e| Error::Failed(e.to_string()))?;
    write_private(
        &staging.join(VERIFICATION_KEY_JSON),
        format!("{vk_json}\n").as_bytes(),
    )?;
    // Fails when `dir` holds anything: it is never overwritten.
    std::fs::rename(staging, dir).map_err(|e| Error::Failed(format!("{}: {e}", dir.display())))
}

/// Writes `bytes` to a new file of mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .map_err(|e| Error::Failed(format!("{}: {e}", path.display())))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::setup::setup_keys;
    use std::os::unix::fs::PermissionsExt;
    use zkr_circuits::CircuitKind;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("meta").permissions().mode() & 0o777
    }

    /// Keys from elsewhere are installed only for the expected verifying
    /// key, 0600 files in 0700 directories, and never over existing keys.
    #[test]
    fn installed_keys_are_checked_and_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let source = tmp.path().join("source");
        let info = setup_keys(CircuitKind::Range, 0, &source).expect("setup");
        let json = std::fs::read_to_string(source.join(CIRCUIT_JSON)).expect("json");
        let pk = std::fs::read(source.join(PROVING_KEY)).expect("pk");
        let sha = info.verifying_key_sha256.clone();
        let dir = tmp.path().join("pool/circuits/range");

        let other = "00".repeat(32);
        let e = install_keys(&dir, &json, &pk, &other).expect_err("another key");
        assert!(e.to_string().contains(&other), "{e}");
        // A byte of the key's own verifying key changed.
        let mut bad = pk.clone();
        bad[10] ^= 1;
        assert!(install_keys(&dir, &json, &bad, &sha).is_err(), "tampered");
        assert!(!dir.exists());
        assert!(!dir.with_extension("installing").exists());

        let installed = install_keys(&dir, &json, &pk, &sha).expect("install");
        assert_eq!(installed.verifying_key_sha256, sha);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(dir.parent().expect("parent")), 0o700);
        for entry in std::fs::read_dir(&dir).expect("list") {
            let path = entry.expect("entry").path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        let (_, vk) = crate::read_verifying_key(&dir, CircuitKind::Range).expect("vk");
        assert_eq!(
            crate::sha256_hex(&zkr_verifier::binary::verifying_key_to_bytes(&vk)),
            sha
        );
        assert!(
            install_keys(&dir, &json, &pk, &sha).is_err(),
            "never over keys"
        );
    }
}
