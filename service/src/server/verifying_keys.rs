//! Verifying keys of the circuits, read from `circuits_dir/<circuit>/
//! verification_key.json` (what `zkr setup --out circuits_dir/<circuit>`
//! writes), checked against the SHA-256 of the verifying key that
//! `circuit.json` beside it records (as the proving side checks the proving
//! key), validated once and kept prepared in memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use ark_bn254::Bn254;
use ark_groth16::{PreparedVerifyingKey, VerifyingKey, prepare_verifying_key};
use zkr_circuits::CircuitKind;
use zkr_verifier::binary;

use super::error::{Error, Result};
use crate::cli::keys::{self as key_files, CircuitInfo};

/// A circuit's verifying key, checked against its `circuit.json`.
pub struct CheckedKey {
    /// What `circuit.json` says about the circuit.
    pub info: CircuitInfo,
    /// The verifying key.
    pub vk: VerifyingKey<Bn254>,
}

/// Prepared verifying keys by circuit name.
pub struct VerifyingKeys {
    dir: PathBuf,
    cache: RwLock<HashMap<&'static str, Arc<PreparedVerifyingKey<Bn254>>>>,
}

/// Reads `dir/verification_key.json` and `dir/circuit.json` of `kind` and
/// checks that they belong together. Blocking.
pub fn read_checked(dir: &Path, kind: CircuitKind) -> Result<CheckedKey> {
    let info = key_files::read_info(dir).map_err(|e| Error::Internal(e.to_string()))?;
    let (info_kind, _) = info
        .kind_and_depth()
        .map_err(|e| Error::Internal(e.to_string()))?;
    if info_kind != kind {
        return Err(Error::Internal(format!(
            "{}: circuit.json is for {}, not {}",
            dir.display(),
            info.name,
            kind.name()
        )));
    }
    let path = dir.join(key_files::VERIFICATION_KEY_JSON);
    let text = binary::read_text_bounded(&path, binary::MAX_JSON_BYTES)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let vk = zkr_verifier::snarkjs::parse_vk(&text, &path.display().to_string())
        .map_err(|e| Error::Internal(e.to_string()))?;
    let digest = key_files::sha256_hex(&binary::verifying_key_to_bytes(&vk));
    if !digest.eq_ignore_ascii_case(&info.verifying_key_sha256) {
        return Err(Error::Internal(format!(
            "{}: does not match circuit.json (verifying_key_sha256)",
            path.display()
        )));
    }
    Ok(CheckedKey { info, vk })
}

impl VerifyingKeys {
    /// Keys under `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            cache: RwLock::new(HashMap::new()),
        }
    }

    fn dir_of(&self, kind: CircuitKind) -> PathBuf {
        self.dir.join(kind.name())
    }

    /// The checked key and description of `circuit`; `NotFound` when it is
    /// not set up. Reading and parsing happen on a blocking thread.
    pub async fn checked(&self, circuit: &str) -> Result<CheckedKey> {
        let kind = CircuitKind::from_name(circuit)
            .map_err(|_| Error::Unprocessable(format!("unknown circuit {circuit:?}")))?;
        let dir = self.dir_of(kind);
        if !dir.join(key_files::VERIFICATION_KEY_JSON).exists() {
            return Err(Error::NotFound(format!(
                "verifying key of circuit {}",
                kind.name()
            )));
        }
        tokio::task::spawn_blocking(move || read_checked(&dir, kind))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
    }

    /// The prepared key of `circuit`; `NotFound` when it is not set up.
    pub async fn get(&self, circuit: &str) -> Result<Arc<PreparedVerifyingKey<Bn254>>> {
        let kind = CircuitKind::from_name(circuit)
            .map_err(|_| Error::Unprocessable(format!("unknown circuit {circuit:?}")))?;
        let name = kind.name();
        if let Some(k) = self.read_cache(name) {
            return Ok(k);
        }
        let checked = self.checked(name).await?;
        let pvk = Arc::new(prepare_verifying_key(&checked.vk));
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(name, pvk.clone());
        }
        Ok(pvk)
    }

    /// The circuits whose keys are set up, with their descriptions.
    pub async fn list(&self) -> Result<Vec<CircuitInfo>> {
        let mut out = Vec::new();
        for kind in CircuitKind::ALL {
            if self
                .dir_of(kind)
                .join(key_files::VERIFICATION_KEY_JSON)
                .exists()
            {
                out.push(self.checked(kind.name()).await?.info);
            }
        }
        Ok(out)
    }

    fn read_cache(&self, name: &str) -> Option<Arc<PreparedVerifyingKey<Bn254>>> {
        self.cache.read().ok()?.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_groth16::Groth16;
    use zkr_circuits::circuits::RangeCircuit;

    #[test]
    fn a_verifying_key_that_does_not_match_circuit_json_is_refused() {
        let mut rng = ark_std::test_rng();
        let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
            RangeCircuit::blank(),
            &mut rng,
        )
        .expect("setup");
        let other = Groth16::<Bn254>::generate_random_parameters_with_reduction(
            RangeCircuit::blank(),
            &mut rng,
        )
        .expect("setup");
        let dir = tempfile::tempdir().expect("tempdir");
        let info_of = |sha: String| CircuitInfo {
            name: "range".into(),
            depth: None,
            constraints: 1,
            public_inputs: vec!["commitment".into(), "min".into(), "max".into()],
            verifying_key_sha256: sha,
        };
        key_files::write_keys(dir.path(), &pk, info_of).expect("write");
        let ok = read_checked(dir.path(), CircuitKind::Range).expect("matching key");
        assert_eq!(ok.vk, pk.vk);
        // The JSON key replaced by another circuit's key.
        key_files::write_json(
            &dir.path().join(key_files::VERIFICATION_KEY_JSON),
            &zkr_verifier::snarkjs::VerificationKeyJson::from_vk(&other.vk),
        )
        .expect("write");
        let e = read_checked(dir.path(), CircuitKind::Range)
            .err()
            .expect("refused");
        assert!(e.to_string().contains("verifying_key_sha256"), "{e}");
        // A description of another circuit.
        assert!(read_checked(dir.path(), CircuitKind::Disclosure).is_err());
    }
}
