//! `zkr verify`: exit 0 for a valid proof, 1 for a well-formed invalid one,
//! 2 for malformed input; one line on stderr either way.
//!
//! Offline, the checks the service makes beside the pairing can be asked
//! for too: `--registry-root` (repeatable) accepts the proof only when its
//! registry root public input is one of the given roots, and
//! `--attestation FILE --signing-key FILE` checks a coordinator's Ed25519
//! signature over `b"zkr/receipt/v1" || receipt_hash` (32 bytes big-endian).

use super::{CliError, CliResult};
use clap::Args;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use zkr_artifacts::{CIRCUIT_JSON, read_info, read_vk_json};
use zkr_circuits::CircuitKind;
use zkr_circuits::field::{fr_to_be_bytes, fr_to_decimal, parse_fr_named};
use zkr_verifier::{binary, snarkjs};

/// Arguments of `zkr verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// snarkjs verification_key.json.
    #[arg(long)]
    pub vk: PathBuf,
    /// snarkjs proof.json.
    #[arg(long, required_unless_present = "batch")]
    pub proof: Option<PathBuf>,
    /// snarkjs public.json.
    #[arg(long, required_unless_present = "batch")]
    pub public: Option<PathBuf>,
    /// A directory of NAME.proof.json + NAME.public.json pairs, verified as one batch.
    #[arg(long, conflicts_with_all = ["proof", "public", "registry_roots", "attestation"])]
    pub batch: Option<PathBuf>,
    /// The circuit the key is for (range, membership, receipt, disclosure);
    /// by default read from circuit.json beside --vk. Needed with
    /// --registry-root and --attestation.
    #[arg(long)]
    pub circuit: Option<String>,
    /// An accepted registry root, decimal (repeatable): the proof's root
    /// public input (membership: `root`, the 1st; receipt:
    /// `registry_root`, the 2nd) must be one of them.
    #[arg(long = "registry-root", value_name = "ROOT")]
    pub registry_roots: Vec<String>,
    /// A coordinator's attestation of a receipt proof's receipt_hash:
    /// `{"key_id","key_version","signature"}` (signature 64 bytes hex), or
    /// the whole answer of POST /v1/confidential/transactions.
    #[arg(long, value_name = "FILE", requires = "signing_key")]
    pub attestation: Option<PathBuf>,
    /// The coordinator's public signing key: `{"key_id","key_version",
    /// "public_key"}` (Ed25519, 32 bytes hex), or the whole answer of
    /// GET /v1/signing-keys (the entry the attestation names is used).
    #[arg(long, value_name = "FILE", requires = "attestation")]
    pub signing_key: Option<PathBuf>,
}

/// An attestation file.
#[derive(Debug, Deserialize)]
struct AttestationFile {
    key_id: String,
    key_version: u32,
    signature: String,
}

/// One public signing key.
#[derive(Debug, Deserialize)]
struct SigningKeyFile {
    key_id: String,
    key_version: u32,
    public_key: String,
}

/// Either a bare object or one wrapped the way the API answers it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Wrapped<T> {
    Bare(T),
    Attestation { attestation: T },
    Keys { keys: Vec<T> },
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, expected: &str) -> CliResult<T> {
    let text = binary::read_text_bounded(path, binary::MAX_JSON_BYTES)?;
    serde_json::from_str(&text)
        .map_err(|_| CliError::Input(format!("{}: expected {expected}", path.display())))
}

fn hex_array<const N: usize>(text: &str, what: &str) -> CliResult<[u8; N]> {
    hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| CliError::Input(format!("{what}: expected {N} bytes, hex")))
}

/// The circuit the key is for: `--circuit`, checked against circuit.json
/// beside the key when that is there; `None` when neither says.
fn circuit_of(a: &VerifyArgs) -> CliResult<Option<CircuitKind>> {
    let dir = match a.vk.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let from_info = if dir.join(CIRCUIT_JSON).exists() {
        Some(read_info(&dir)?.kind_and_depth()?.0)
    } else {
        None
    };
    match (&a.circuit, from_info) {
        (Some(name), info) => {
            let kind = CircuitKind::from_name(name)?;
            if info.is_some_and(|k| k != kind) {
                return Err(CliError::Input(format!(
                    "--circuit {name}: {} beside the key is for another circuit",
                    dir.join(CIRCUIT_JSON).display()
                )));
            }
            Ok(Some(kind))
        }
        (None, info) => Ok(info),
    }
}

/// The checks the service makes beside the pairing that this run did not
/// make, so that "valid" is never read as more than it says.
fn checks_not_made(kind: Option<CircuitKind>, roots_given: bool, attested: bool) -> Vec<String> {
    let Some(kind) = kind else {
        return vec![
            "the circuit is unknown (no --circuit, no circuit.json beside the key), so its registry root and attestation, if it has them, were not checked".into(),
        ];
    };
    let mut out = Vec::new();
    if kind.registry_root_input().is_some() && !roots_given {
        out.push(
            "the registry root is not checked against a trusted root (--registry-root)".into(),
        );
    }
    if kind == CircuitKind::Receipt && !attested {
        out.push(
            "the receipt_hash is not checked against a coordinator's attestation (--attestation, --signing-key)"
                .into(),
        );
    }
    out
}

/// Runs `zkr verify`.
pub fn run(a: &VerifyArgs) -> CliResult {
    if let Some(dir) = &a.batch {
        return super::verify_batch::run(&a.vk, dir);
    }
    let (Some(proof_path), Some(public_path)) = (&a.proof, &a.public) else {
        return Err(CliError::Input(
            "give --proof and --public, or --batch DIR".into(),
        ));
    };
    let vk = read_vk_json(&a.vk)?;
    let proof_text = binary::read_text_bounded(proof_path, binary::MAX_JSON_BYTES)?;
    let proof = snarkjs::parse_proof(&proof_text, &proof_path.display().to_string())?;
    let public_text = binary::read_text_bounded(public_path, binary::MAX_JSON_BYTES)?;
    let public = snarkjs::parse_public(&public_text, &public_path.display().to_string())?;

    let extra_checks = !a.registry_roots.is_empty() || a.attestation.is_some();
    let kind = circuit_of(a)?;
    if extra_checks && kind.is_none() {
        return Err(CliError::Input(
            "--registry-root and --attestation need the circuit: give --circuit, or keep circuit.json beside the verifying key".into(),
        ));
    }
    if let Some(kind) = kind {
        let expected = kind.public_input_names().len();
        if public.len() != expected {
            return Err(CliError::Input(format!(
                "{}: the {} circuit has {expected} public inputs, got {}",
                public_path.display(),
                kind.name(),
                public.len()
            )));
        }
    }
    let roots = a
        .registry_roots
        .iter()
        .map(|r| parse_fr_named(r, "--registry-root"))
        .collect::<Result<Vec<_>, _>>()?;
    let root_index = match kind {
        Some(kind) if !roots.is_empty() => Some(kind.registry_root_input().ok_or_else(|| {
            CliError::Input(format!(
                "--registry-root: the {} circuit has no registry root",
                kind.name()
            ))
        })?),
        _ => None,
    };
    let not_made = checks_not_made(kind, !roots.is_empty(), a.attestation.is_some());
    let attestation = match (&a.attestation, &a.signing_key) {
        (Some(att), Some(key)) => {
            if kind != Some(CircuitKind::Receipt) {
                return Err(CliError::Input(
                    "--attestation: only receipt proofs carry an attestation".into(),
                ));
            }
            Some(read_attestation(att, key)?)
        }
        _ => None,
    };

    if !zkr_verifier::verify(&vk, &proof, &public)? {
        return Err(CliError::Rejected(
            "INVALID: the proof does not verify for these public inputs".into(),
        ));
    }
    let mut notes = Vec::new();
    if let Some(i) = root_index {
        if !roots.contains(&public[i]) {
            return Err(CliError::Rejected(format!(
                "INVALID: the proof's registry root {} is none of the --registry-root values",
                fr_to_decimal(&public[i])
            )));
        }
        notes.push("its registry root is a given root".to_string());
    }
    if let Some((att, key)) = attestation {
        if att.key_id != key.key_id || att.key_version != key.key_version {
            return Err(CliError::Rejected(format!(
                "INVALID: the attestation is by key {} version {}, the signing key file holds {} version {}",
                att.key_id, att.key_version, key.key_id, key.key_version
            )));
        }
        let public_key: [u8; 32] = hex_array(&key.public_key, "signing key: public_key")?;
        let signature: [u8; 64] = hex_array(&att.signature, "attestation: signature")?;
        let hash = fr_to_be_bytes(&public[0]);
        if !zkr_keys::store::verify_receipt_signature(&public_key, &hash, &signature) {
            return Err(CliError::Rejected(
                "INVALID: the attestation does not sign this receipt_hash with this key".into(),
            ));
        }
        notes.push(format!(
            "the attestation by {} version {} signs its receipt_hash",
            att.key_id, att.key_version
        ));
    }
    let mut line = String::from("OK: the proof is valid");
    if !notes.is_empty() {
        line = format!("{line}; {}", notes.join("; "));
    }
    eprintln!("{line}");
    for check in not_made {
        eprintln!("NOT CHECKED: {check}");
    }
    Ok(())
}

/// Reads the attestation and the signing key it names.
fn read_attestation(
    attestation: &Path,
    signing_key: &Path,
) -> CliResult<(AttestationFile, SigningKeyFile)> {
    let att = match read_json::<Wrapped<AttestationFile>>(
        attestation,
        r#"{"key_id","key_version","signature"} (or an object with such an "attestation")"#,
    )? {
        Wrapped::Bare(a) | Wrapped::Attestation { attestation: a } => a,
        Wrapped::Keys { .. } => {
            return Err(CliError::Input(format!(
                "{}: not an attestation",
                attestation.display()
            )));
        }
    };
    let key = match read_json::<Wrapped<SigningKeyFile>>(
        signing_key,
        r#"{"key_id","key_version","public_key"} (or {"keys":[...]} of such)"#,
    )? {
        Wrapped::Bare(k) => k,
        Wrapped::Keys { keys } => keys
            .into_iter()
            .find(|k| k.key_id == att.key_id && k.key_version == att.key_version)
            .ok_or_else(|| {
                CliError::Rejected(format!(
                    "INVALID: {} holds no key {} version {}",
                    signing_key.display(),
                    att.key_id,
                    att.key_version
                ))
            })?,
        Wrapped::Attestation { .. } => {
            return Err(CliError::Input(format!(
                "{}: not a signing key",
                signing_key.display()
            )));
        }
    };
    Ok((att, key))
}
