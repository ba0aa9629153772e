//! Verifying keys of the circuits, read from `circuits_dir/<circuit>/
//! verification_key.json` (what `zkr setup --out circuits_dir/<circuit>`
//! writes), validated once and kept prepared in memory.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use ark_bn254::Bn254;
use ark_groth16::{PreparedVerifyingKey, prepare_verifying_key};
use zkr_circuits::CircuitKind;
use zkr_verifier::binary;

use super::error::{Error, Result};

/// Prepared verifying keys by circuit name.
pub struct VerifyingKeys {
    dir: PathBuf,
    cache: RwLock<HashMap<&'static str, Arc<PreparedVerifyingKey<Bn254>>>>,
}

impl VerifyingKeys {
    /// Keys under `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The prepared key of `circuit`; `NotFound` when it is not set up.
    /// Reading and parsing happen on a blocking thread.
    pub async fn get(&self, circuit: &str) -> Result<Arc<PreparedVerifyingKey<Bn254>>> {
        let kind = CircuitKind::from_name(circuit)
            .map_err(|_| Error::Unprocessable(format!("unknown circuit {circuit:?}")))?;
        let name = kind.name();
        if let Some(k) = self.read_cache(name) {
            return Ok(k);
        }
        let path = self.dir.join(name).join("verification_key.json");
        if !path.exists() {
            return Err(Error::NotFound(format!("verifying key of circuit {name}")));
        }
        let pvk = tokio::task::spawn_blocking(move || {
            let text = binary::read_text_bounded(&path, binary::MAX_JSON_BYTES)
                .map_err(|e| Error::Internal(e.to_string()))?;
            let vk = zkr_verifier::snarkjs::parse_vk(&text, &path.display().to_string())
                .map_err(|e| Error::Internal(e.to_string()))?;
            Ok::<_, Error>(prepare_verifying_key(&vk))
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
        let pvk = Arc::new(pvk);
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(name, pvk.clone());
        }
        Ok(pvk)
    }

    fn read_cache(&self, name: &str) -> Option<Arc<PreparedVerifyingKey<Bn254>>> {
        self.cache.read().ok()?.get(name).cloned()
    }
}
