//! The files of a key directory: proving and verifying keys (arkworks
//! compressed), the snarkjs verifying key and `circuit.json`.

use crate::error::{Error, Result};
use ark_bn254::Bn254;
use ark_groth16::{ProvingKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use zkr_circuits::CircuitKind;
use zkr_verifier::binary;

/// The proving key's file name.
pub const PROVING_KEY: &str = "proving_key.bin";
/// The fast form of the proving key, written after its first full check
/// (see `zkr_prover::keycache`).
const CHECKED_KEY: &str = "proving_key.checked";
/// The verifying key's file name (binary).
pub const VERIFYING_KEY: &str = "verifying_key.bin";
/// The verifying key in snarkjs's format.
pub const VERIFICATION_KEY_JSON: &str = "verification_key.json";
/// The circuit description.
pub const CIRCUIT_JSON: &str = "circuit.json";

/// `circuit.json`: what the keys are for.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitInfo {
    /// The circuit's name.
    pub name: String,
    /// Registry depth, for `membership` and `receipt`.
    pub depth: Option<usize>,
    /// Number of R1CS constraints.
    pub constraints: usize,
    /// Public input names, in `public.json` order.
    pub public_inputs: Vec<String>,
    /// SHA-256 of `verifying_key.bin`, hex.
    pub verifying_key_sha256: String,
}

impl CircuitInfo {
    /// The circuit kind and the depth to build witnesses at.
    pub fn kind_and_depth(&self) -> Result<(CircuitKind, usize)> {
        let kind = CircuitKind::from_name(&self.name)
            .map_err(|e| Error::Input(format!("{CIRCUIT_JSON}: name: {e}")))?;
        let depth = match (kind.has_depth(), self.depth) {
            (true, Some(d)) => d,
            (true, None) => {
                return Err(Error::Input(format!(
                    "{CIRCUIT_JSON}: depth: missing for {}",
                    self.name
                )));
            }
            (false, _) => 0,
        };
        if kind.public_input_names() != self.public_inputs {
            return Err(Error::Input(format!(
                "{CIRCUIT_JSON}: public_inputs: do not match the {} circuit",
                self.name
            )));
        }
        Ok((kind, depth))
    }
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads `DIR/circuit.json`.
pub fn read_info(dir: &Path) -> Result<CircuitInfo> {
    let path = dir.join(CIRCUIT_JSON);
    let text = binary::read_text_bounded(&path, binary::MAX_JSON_BYTES)?;
    serde_json::from_str(&text).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

/// Reads `DIR/proving_key.bin` and checks that it belongs with `circuit.json`.
pub fn read_proving_key(dir: &Path, info: &CircuitInfo) -> Result<ProvingKey<Bn254>> {
    let path = dir.join(PROVING_KEY);
    let bytes = binary::read_bounded(&path, binary::MAX_PROVING_KEY_BYTES)?;
    // Checked once; later loads read the fast form bound to these bytes.
    let (pk, _) = zkr_prover::keycache::load_or_check(&bytes, &dir.join(CHECKED_KEY), |b| {
        binary::proving_key_from_bytes(b, &path.display().to_string())
    })?;
    if !recorded_in(info, &pk.vk) {
        return Err(Error::Input(format!(
            "{}: its verifying key does not match {CIRCUIT_JSON} (verifying_key_sha256)",
            path.display()
        )));
    }
    Ok(pk)
}

/// Reads `DIR/circuit.json` and `DIR/verification_key.json`, checks that the
/// description is of `kind` and that the key is the one it records (as
/// [`read_proving_key`] checks the proving key), so that the verifier and
/// the prover trust the same key.
pub fn read_verifying_key(
    dir: &Path,
    kind: CircuitKind,
) -> Result<(CircuitInfo, VerifyingKey<Bn254>)> {
    let info = read_info(dir)?;
    let (info_kind, _) = info.kind_and_depth()?;
    if info_kind != kind {
        return Err(Error::Input(format!(
            "{}: {CIRCUIT_JSON} is for {}, not {}",
            dir.display(),
            info.name,
            kind.name()
        )));
    }
    let path = dir.join(VERIFICATION_KEY_JSON);
    let vk = read_vk_json(&path)?;
    if !recorded_in(&info, &vk) {
        return Err(Error::Input(format!(
            "{}: does not match {CIRCUIT_JSON} (verifying_key_sha256)",
            path.display()
        )));
    }
    Ok((info, vk))
}

/// Whether `vk` is the verifying key whose SHA-256 `info` records.
fn recorded_in(info: &CircuitInfo, vk: &VerifyingKey<Bn254>) -> bool {
    let digest = sha256_hex(&binary::verifying_key_to_bytes(vk));
    digest.eq_ignore_ascii_case(&info.verifying_key_sha256)
}

/// Writes all key files for `pk` into `dir`.
pub fn write_keys(
    dir: &Path,
    pk: &ProvingKey<Bn254>,
    info_of: impl FnOnce(String) -> CircuitInfo,
) -> Result<CircuitInfo> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Failed(format!("{}: {e}", dir.display())))?;
    let vk_bytes = binary::verifying_key_to_bytes(&pk.vk);
    let info = info_of(sha256_hex(&vk_bytes));
    write_file(&dir.join(PROVING_KEY), &binary::proving_key_to_bytes(pk))?;
    write_file(&dir.join(VERIFYING_KEY), &vk_bytes)?;
    write_json(
        &dir.join(VERIFICATION_KEY_JSON),
        &zkr_verifier::snarkjs::VerificationKeyJson::from_vk(&pk.vk),
    )?;
    write_json(&dir.join(CIRCUIT_JSON), &info)?;
    Ok(info)
}

/// Reads a snarkjs verifying key.
pub fn read_vk_json(path: &Path) -> Result<VerifyingKey<Bn254>> {
    let text = binary::read_text_bounded(path, binary::MAX_JSON_BYTES)?;
    Ok(zkr_verifier::snarkjs::parse_vk(
        &text,
        &path.display().to_string(),
    )?)
}

/// Writes a file through a temporary sibling and a rename, so that a crash
/// never leaves a half-written key or proof behind.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::Failed(format!("{}: {e}", path.display())))
}

/// Writes pretty JSON (see [`write_file`]).
pub fn write_json<T: Serialize>(path: &Path, v: &T) -> Result {
    let mut s = serde_json::to_string_pretty(v).map_err(|e| Error::Failed(e.to_string()))?;
    s.push('\n');
    write_file(path, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_groth16::Groth16;
    use zkr_circuits::circuits::RangeCircuit;

    fn range_keys(rng: &mut impl ark_std::rand::RngCore) -> ProvingKey<Bn254> {
        Groth16::<Bn254>::generate_random_parameters_with_reduction(RangeCircuit::blank(), rng)
            .expect("setup")
    }

    fn range_info(sha: String) -> CircuitInfo {
        CircuitInfo {
            name: "range".into(),
            depth: None,
            constraints: 1,
            public_inputs: vec!["commitment".into(), "min".into(), "max".into()],
            verifying_key_sha256: sha,
        }
    }

    #[test]
    fn a_verifying_key_that_does_not_match_circuit_json_is_refused() {
        let mut rng = ark_std::test_rng();
        let pk = range_keys(&mut rng);
        let other = range_keys(&mut rng);
        let dir = tempfile::tempdir().expect("tempdir");
        write_keys(dir.path(), &pk, range_info).expect("write");
        let (_, vk) = read_verifying_key(dir.path(), CircuitKind::Range).expect("matching key");
        assert_eq!(vk, pk.vk);
        // The JSON key replaced by another circuit's key.
        write_json(
            &dir.path().join(VERIFICATION_KEY_JSON),
            &zkr_verifier::snarkjs::VerificationKeyJson::from_vk(&other.vk),
        )
        .expect("write");
        let e = read_verifying_key(dir.path(), CircuitKind::Range).expect_err("refused");
        assert!(e.to_string().contains("verifying_key_sha256"), "{e}");
        // A description of another circuit.
        assert!(read_verifying_key(dir.path(), CircuitKind::Disclosure).is_err());
    }

    #[test]
    fn a_proving_key_that_does_not_match_circuit_json_is_refused() {
        let mut rng = ark_std::test_rng();
        let pk = range_keys(&mut rng);
        let other = range_keys(&mut rng);
        let dir = tempfile::tempdir().expect("tempdir");
        let info = write_keys(dir.path(), &pk, range_info).expect("write");
        assert!(read_proving_key(dir.path(), &info).is_ok());
        write_file(
            &dir.path().join(PROVING_KEY),
            &binary::proving_key_to_bytes(&other),
        )
        .expect("write");
        let e = read_proving_key(dir.path(), &info).expect_err("refused");
        assert!(e.to_string().contains("verifying_key_sha256"), "{e}");
    }
}
