//! The files `zkr setup` writes and `zkr prove` reads: proving and verifying
//! keys (arkworks compressed), the snarkjs verifying key and `circuit.json`.

use super::{CliError, CliResult};
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
pub const CHECKED_KEY: &str = "proving_key.checked";
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
    pub fn kind_and_depth(&self) -> CliResult<(CircuitKind, usize)> {
        let kind = CircuitKind::from_name(&self.name)
            .map_err(|e| CliError::Input(format!("{CIRCUIT_JSON}: name: {e}")))?;
        let depth = match (kind.has_depth(), self.depth) {
            (true, Some(d)) => d,
            (true, None) => {
                return Err(CliError::Input(format!(
                    "{CIRCUIT_JSON}: depth: missing for {}",
                    self.name
                )));
            }
            (false, _) => 0,
        };
        if kind.public_input_names() != self.public_inputs {
            return Err(CliError::Input(format!(
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
pub fn read_info(dir: &Path) -> CliResult<CircuitInfo> {
    let path = dir.join(CIRCUIT_JSON);
    let text = binary::read_text_bounded(&path, binary::MAX_JSON_BYTES)?;
    serde_json::from_str(&text).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

/// Reads `DIR/proving_key.bin` and checks that it belongs with `circuit.json`.
pub fn read_proving_key(dir: &Path, info: &CircuitInfo) -> CliResult<ProvingKey<Bn254>> {
    let path = dir.join(PROVING_KEY);
    let bytes = binary::read_bounded(&path, binary::MAX_PROVING_KEY_BYTES)?;
    // Checked once; later loads read the fast form bound to these bytes.
    let (pk, _) = zkr_prover::keycache::load_or_check(&bytes, &dir.join(CHECKED_KEY), |b| {
        binary::proving_key_from_bytes(b, &path.display().to_string())
    })?;
    let vk_hash = sha256_hex(&binary::verifying_key_to_bytes(&pk.vk));
    if vk_hash != info.verifying_key_sha256 {
        return Err(CliError::Input(format!(
            "{}: its verifying key does not match {CIRCUIT_JSON} (verifying_key_sha256)",
            path.display()
        )));
    }
    Ok(pk)
}

/// Writes all key files for `pk` into `dir`.
pub fn write_keys(
    dir: &Path,
    pk: &ProvingKey<Bn254>,
    info_of: impl FnOnce(String) -> CircuitInfo,
) -> CliResult<CircuitInfo> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Failed(format!("{}: {e}", dir.display())))?;
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
pub fn read_vk_json(path: &Path) -> CliResult<VerifyingKey<Bn254>> {
    let text = binary::read_text_bounded(path, binary::MAX_JSON_BYTES)?;
    Ok(zkr_verifier::snarkjs::parse_vk(
        &text,
        &path.display().to_string(),
    )?)
}

/// Writes a file through a temporary sibling and a rename, so that a crash
/// never leaves a half-written key or proof behind.
pub fn write_file(path: &Path, bytes: &[u8]) -> CliResult {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))
}

/// Writes pretty JSON (see [`write_file`]).
pub fn write_json<T: Serialize>(path: &Path, v: &T) -> CliResult {
    let mut s = serde_json::to_string_pretty(v).map_err(|e| CliError::Failed(e.to_string()))?;
    s.push('\n');
    write_file(path, s.as_bytes())
}
