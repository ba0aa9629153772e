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

use super::error::{Error, Result};
use zkr_artifacts::{self as key_files, CircuitInfo};

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

/// Reads the verifying key of `kind` in `dir`, checked against the
/// `circuit.json` beside it. Blocking.
pub(crate) fn read_checked(dir: &Path, kind: CircuitKind) -> Result<CheckedKey> {
    let (info, vk) = key_files::read_verifying_key(dir, kind)?;
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
