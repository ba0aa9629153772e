//! The prover pool's identity: the circuit keys its nodes prove and verify
//! with, and the KEK its private keys are wrapped under.
//!
//! The API node (`zkr serve`, whatever its number of workers) makes the
//! pool: it records each circuit's verifying-key hash in the database with
//! the key files themselves, and makes the pool key. A `zkr worker` takes
//! both from the pool: the circuit keys it lacks come from the database,
//! checked against the recorded hashes, and it must be given the pool's
//! KEK; it never sets up keys nor makes a KEK. A node whose keys or KEK
//! differ from the pool's refuses to start with one line naming what
//! differs and how to fix it, rather than failing jobs later.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;
use zkr_circuits::CircuitKind;
use zkr_keys::{Envelope, Kek};
use zkr_store::jobs::{self as store, CircuitKeyFiles, CircuitKeyRow};

use crate::error::{Error, Result};
use crate::jobs::CIRCUITS;
use crate::state::AppState;

/// Which kind of node is starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// `zkr serve`: records the pool's circuit keys and makes its pool key.
    Api,
    /// `zkr worker`: takes both from the pool.
    Worker,
}

/// How to give a node the pool's KEK, said in every refusal about it.
const KEK_FIX: &str = "give this node the pool's KEK: the same HSM token \
    (ZKR_PKCS11_MODULE, ZKR_PKCS11_TOKEN_LABEL, ZKR_PKCS11_PIN, ZKR_PKCS11_KEY_LABEL) or, \
    in development, ZKR_DEV_KEK_FILE naming a copy (mode 0600) of the API node's \
    <data_dir>/dev-kek.bin";

fn refuse(why: String) -> Error {
    Error::Config(format!("refusing to start: {why}"))
}

/// The KEK this node starts with: the HSM that `ZKR_PKCS11_MODULE` names,
/// or the key file that `ZKR_DEV_KEK_FILE` names, or else the development
/// file in the data directory. A missing file is created only by an API
/// node on a database that holds no pool yet (with the warning every load
/// of a key file logs): a new KEK could unwrap none of a pool's keys.
pub(crate) async fn kek(state: &AppState, data_dir: &Path, role: Role) -> Result<Arc<dyn Kek>> {
    if std::env::var_os("ZKR_PKCS11_MODULE").is_some() {
        return Ok(zkr_keys::kek::provider_from_env()?);
    }
    let named = std::env::var_os("ZKR_DEV_KEK_FILE").map(PathBuf::from);
    let path = named
        .clone()
        .unwrap_or_else(|| zkr_keys::kek_file::default_path(data_dir));
    if path.exists() {
        return Ok(Arc::new(zkr_keys::FileKek::open(&path)?));
    }
    let missing = match &named {
        Some(p) => format!("ZKR_DEV_KEK_FILE {} does not exist", p.display()),
        None => format!(
            "no KEK (neither ZKR_PKCS11_MODULE nor ZKR_DEV_KEK_FILE is set, and there is no {})",
            path.display()
        ),
    };
    if role == Role::Worker {
        return Err(refuse(format!(
            "{missing}, and a worker never makes its own KEK; {KEK_FIX}"
        )));
    }
    if !store::circuit_keys(&state.db).await?.is_empty() {
        return Err(refuse(format!(
            "{missing}, and this database already holds a prover pool whose keys are \
             wrapped under its KEK; {KEK_FIX}"
        )));
    }
    if named.is_none() {
        std::fs::create_dir_all(data_dir)?;
    }
    Ok(Arc::new(zkr_keys::FileKek::create(&path)?))
}

/// Checks that this node's KEK opens what is sealed to the pool key, as
/// workers open jobs' inputs; an API node makes the pool key when the
/// database has none.
pub(crate) async fn check_pool_key(state: &AppState, role: Role) -> Result<()> {
    let keys = state.key_store()?;
    let key_id = state.jobs.settings().pool_key_id;
    let info = match keys.active(&key_id).await {
        Ok(info) => info,
        Err(zkr_keys::Error::UnknownKey { .. }) if role == Role::Api => {
            state.jobs.pool_recipient(keys).await?;
            keys.active(&key_id).await?
        }
        Err(zkr_keys::Error::UnknownKey { .. }) => {
            return Err(refuse(format!(
                "this database holds no prover pool yet (no pool key {key_id}): \
                 start the API node (zkr serve) on it first"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let probe = Envelope::seal(
        Uuid::new_v4(),
        [0; 32],
        b"zkr/pool-key-probe",
        &[info.recipient()?],
    )?;
    let Err(e) = keys.open_unstored(&probe, &key_id).await else {
        return Ok(());
    };
    let pool_kek = info.kek_id.as_deref().unwrap_or("none");
    Err(refuse(if pool_kek != keys.kek_id() {
        format!(
            "this node's KEK ({}) is not the pool's ({pool_kek}, which the pool key \
             {key_id} is wrapped under); {KEK_FIX}",
            keys.kek_id()
        )
    } else {
        format!(
            "this node's KEK ({}) cannot unwrap the pool key {key_id} version {} ({e}); {KEK_FIX}",
            keys.kek_id(),
            info.version
        )
    }))
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

/// Brings this node's circuit keys in line with the pool's and returns the
/// circuits it can prove. Keys the pool has and this node lacks are
/// fetched from the database and checked against the recorded hashes. An
/// API node then sets up what nobody has (when `setup_missing_keys`) and
/// records its keys, files included; a worker never does either, and
/// refuses to start when it can prove nothing. Keys that differ from the
/// recorded ones are refused whatever the role.
pub(crate) async fn sync_circuit_keys(
    state: &AppState,
    role: Role,
    node: &str,
) -> Result<Vec<CircuitKind>> {
    let recorded: HashMap<String, CircuitKeyRow> = store::circuit_keys(&state.db)
        .await?
        .into_iter()
        .map(|r| (r.circuit.clone(), r))
        .collect();
    for kind in CIRCUITS {
        if let Some(row) = recorded.get(kind.name())
            && row.has_files
            && local_sha(state, kind).await?.is_none()
        {
            fetch(state, kind).await?;
        }
    }
    let mut missing = HashSet::new();
    for kind in CIRCUITS {
        if local_sha(state, kind).await?.is_none() {
            missing.insert(kind);
        }
    }
    // Checks the depth of every key; an API node sets up what is missing.
    let keys = state.circuit_keys.clone();
    let setup = role == Role::Api && state.config.proofs.setup_missing_keys;
    blocking(move || keys.ensure(setup)).await?;
    let mut usable = Vec::new();
    for kind in CIRCUITS {
        let Some(local) = local_sha(state, kind).await? else {
            continue;
        };
        let row = recorded.get(kind.name());
        let pool = match row {
            Some(r) if r.has_files => r.vk_sha256.clone(),
            Some(_) => record(state, kind, node).await?,
            None if role == Role::Api => record(state, kind, node).await?,
            None => {
                tracing::warn!(
                    circuit = kind.name(),
                    "the pool records no keys for this circuit; its jobs are left to other nodes"
                );
                continue;
            }
        };
        if pool.eq_ignore_ascii_case(&local) {
            usable.push(kind);
        } else if row.is_none() && missing.contains(&kind) {
            // Set up here while another API node recorded its own: the
            // pool's keys win.
            let dir = state.circuit_keys.dir().join(kind.name());
            std::fs::remove_dir_all(&dir)?;
            fetch(state, kind).await?;
            usable.push(kind);
        } else {
            return Err(differs(state, kind, &local, &pool).await);
        }
    }
    let circuits_dir = state.config.circuits_dir();
    if circuits_dir.starts_with(&state.config.data_dir) && circuits_dir.exists() {
        zkr_artifacts::restrict_tree(&circuits_dir)?;
    }
    if role == Role::Worker && usable.is_empty() {
        return Err(refuse(if recorded.is_empty() {
            "this worker can prove no circuit: the pool records no circuit keys; start the \
             API node (zkr serve) on this database first, it records them"
                .to_string()
        } else {
            format!(
                "this worker can prove no circuit: the pool's keys were recorded without their \
                 files and {} has none; start an API node that holds them (it stores them) or \
                 copy them there",
                circuits_dir.display()
            )
        }));
    }
    Ok(usable)
}

/// The verifying-key hash of this node's keys of `kind`, if it has any.
async fn local_sha(state: &AppState, kind: CircuitKind) -> Result<Option<String>> {
    let keys = state.circuit_keys.clone();
    let info = blocking(move || keys.info(kind)).await?;
    Ok(info.map(|i| i.verifying_key_sha256))
}

/// Records this node's keys of `kind` (fully checked first) as the pool's
/// unless the pool has others; returns the recorded hash.
async fn record(state: &AppState, kind: CircuitKind, node: &str) -> Result<String> {
    let keys = state.circuit_keys.clone();
    let files = blocking(move || {
        let info = keys
            .info(kind)?
            .ok_or_else(|| Error::Internal(format!("no {} keys", kind.name())))?;
        // A proving key is recorded only once it is known to be whole.
        keys.proving_key(kind)?;
        let dir = keys.dir().join(kind.name());
        Ok(CircuitKeyFiles {
            vk_sha256: info.verifying_key_sha256,
            circuit_json: std::fs::read_to_string(dir.join(zkr_artifacts::CIRCUIT_JSON))?,
            proving_key: std::fs::read(dir.join(zkr_artifacts::PROVING_KEY))?,
        })
    })
    .await?;
    let now = zkr_store::now_unix();
    Ok(store::record_circuit_key_files(&state.db, kind.name(), &files, node, now).await?)
}

/// Installs the pool's keys of `kind` from the database into this node's
/// circuits directory, checked against the recorded hash.
async fn fetch(state: &AppState, kind: CircuitKind) -> Result<()> {
    let Some(files) = store::circuit_key_files(&state.db, kind.name()).await? else {
        return Ok(());
    };
    let dir = state.circuit_keys.dir().join(kind.name());
    let shown = dir.display().to_string();
    let info = blocking(move || {
        zkr_artifacts::install_keys(
            &dir,
            &files.circuit_json,
            &files.proving_key,
            &files.vk_sha256,
        )
        .map_err(|e| {
            refuse(format!(
                "the pool's {} keys cannot be installed in {shown}: {e}",
                kind.name()
            ))
        })
    })
    .await?;
    tracing::info!(circuit = kind.name(), vk_sha256 = %info.verifying_key_sha256,
        "circuit keys fetched from the pool and checked against the recorded hash");
    Ok(())
}

/// The refusal of keys that are not the pool's.
async fn differs(state: &AppState, kind: CircuitKind, local: &str, pool: &str) -> Error {
    let dir = state.circuit_keys.dir().join(kind.name());
    let by = store::circuit_keys(&state.db)
        .await
        .ok()
        .and_then(|rows| rows.into_iter().find(|r| r.circuit == kind.name()))
        .map_or_else(String::new, |r| format!(", recorded by {}", r.recorded_by));
    refuse(format!(
        "the {} circuit keys in {} (verifying key sha256 {local}) are not the pool's \
         ({pool}{by}); a node proves and verifies only with the pool's keys: move {} away \
         and start again to fetch the pool's keys from the database",
        kind.name(),
        dir.display(),
        dir.display()
    ))
}
