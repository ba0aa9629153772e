//! Persistent registries (DESIGN §3): members are stored in insertion order
//! with every root the registry has had; the Merkle tree itself is a cache
//! rebuilt from the members, checked against the stored member count before
//! every use so that several service nodes on one database stay consistent.

use std::collections::HashMap;

use ark_bn254::Fr;
use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;
use zkr_circuits::field::{fr_to_decimal, parse_fr_named};
use zkr_circuits::merkle::{MerklePath, MerkleTree};

use super::error::{Error, Result};
use zkr_store::registries::{self as table, Appended};
use zkr_store::{Db, now_unix};

/// Default tree depth (the circuits' default D).
pub(crate) const DEFAULT_DEPTH: usize = 20;

/// Cached trees by registry name; the lock also serializes writers in this
/// process (PostgreSQL adds a table lock for writers on other nodes).
pub struct Registries {
    depth: usize,
    trees: Mutex<HashMap<String, MerkleTree>>,
}

/// Result of adding a member.
#[derive(Debug, Serialize, ToSchema)]
pub struct Added {
    /// Leaf index.
    pub index: u64,
    /// New root (decimal).
    pub root: String,
    /// Root version (= number of members).
    pub version: i64,
}

/// A past or current root.
#[derive(Debug, Serialize, ToSchema)]
pub struct RootVersion {
    /// Version (= number of members when it was the root).
    pub version: i64,
    /// Root (decimal).
    pub root: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A registry's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryInfo {
    /// Name.
    pub name: String,
    /// Tree depth.
    pub depth: usize,
    /// Number of members.
    pub size: u64,
    /// Current root (decimal).
    pub root: String,
    /// Most recent roots, newest first.
    pub history: Vec<RootVersion>,
}

/// A member's authentication path, as the circuits take it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPath {
    /// The member (decimal).
    pub member: String,
    /// Leaf index.
    pub index: u64,
    /// Root the path leads to (decimal).
    pub root: String,
    /// Siblings from the leaf level up (decimal).
    pub path_elements: Vec<String>,
    /// Bit k of the index: 1 when the path node at level k is a right child.
    pub path_indices: Vec<u8>,
}

/// Validates a registry name from a URL.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(
            "registry name must be 1..=64 characters of [a-z0-9-_]".into(),
        ))
    }
}

/// Parses a member (identity commitment) from the wire: a canonical field
/// element (< r) that is not 0, the empty leaf (DESIGN §3).
pub(crate) fn parse_member(s: &str) -> Result<Fr> {
    let member = parse_fr_named(s, "member").map_err(|e| Error::Unprocessable(e.to_string()))?;
    if member == Fr::from(0u64) {
        return Err(Error::Unprocessable(
            "member: 0 is the empty leaf, not an identity; identities are non-zero".into(),
        ));
    }
    Ok(member)
}

/// Which roots of a registry verification accepts: the newest `roots`
/// (the current one included) and, when `max_age_secs` is not 0, only
/// those replaced at most that many seconds ago.
#[derive(Debug, Clone, Copy)]
pub struct RootWindow {
    /// How many of the newest roots count (at least 1).
    pub roots: u32,
    /// How long a replaced root still counts; 0 = no time limit.
    pub max_age_secs: u64,
}

fn circuits_error(e: zkr_circuits::error::Error) -> Error {
    match e {
        zkr_circuits::error::Error::Registry(m) => Error::Conflict(m),
        other => Error::Internal(other.to_string()),
    }
}

/// The tree of the stored members of `name`.
async fn load<'e, E>(exec: E, name: &str, depth: usize) -> Result<MerkleTree>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let members = table::members(exec, name).await?;
    let leaves = members
        .iter()
        .map(|m| parse_fr_named(m, "stored member").map_err(|e| Error::Internal(e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    MerkleTree::from_leaves(depth, &leaves).map_err(circuits_error)
}

impl Registries {
    /// Registries of trees of `depth`.
    pub fn new(depth: usize) -> Self {
        Self {
            depth,
            trees: Mutex::new(HashMap::new()),
        }
    }

    /// Appends `member` to `name` (created on first use) and records the new root.
    pub async fn add(&self, db: &Db, name: &str, member: Fr, by: &str) -> Result<Added> {
        let mut trees = self.trees.lock().await;
        let mut tx = table::begin_append(db).await?;
        let stored = table::count(&mut *tx, name).await?;
        let mut tree = match trees.get(name) {
            Some(t) if t.len() as i64 == stored => t.clone(),
            _ => load(&mut *tx, name, self.depth).await?,
        };
        let member_text = fr_to_decimal(&member);
        if tree.index_of(&member).is_some() {
            return Err(Error::Conflict(format!(
                "{member_text} is already a member"
            )));
        }
        let index = tree.insert(member).map_err(circuits_error)?;
        let root = fr_to_decimal(&tree.root());
        let version = index as i64 + 1;
        let now = now_unix();
        table::append(
            &mut tx,
            &Appended {
                registry: name,
                index: index as i64,
                member: &member_text,
                root: &root,
                at: now,
                by,
            },
        )
        .await?;
        tx.commit().await?;
        trees.insert(name.to_string(), tree);
        Ok(Added {
            index,
            root,
            version,
        })
    }

    /// The tree of `name`, fresh with respect to the database.
    async fn tree(&self, db: &Db, name: &str) -> Result<MerkleTree> {
        let mut trees = self.trees.lock().await;
        let stored = table::count(&db.pool, name).await?;
        if stored == 0 {
            return Err(Error::NotFound(format!("registry {name}")));
        }
        match trees.get(name) {
            Some(t) if t.len() as i64 == stored => Ok(t.clone()),
            _ => {
                let t = load(&db.pool, name, self.depth).await?;
                trees.insert(name.to_string(), t.clone());
                Ok(t)
            }
        }
    }

    /// Root, size and the last `history` roots of `name`.
    pub async fn info(&self, db: &Db, name: &str, history: i64) -> Result<RegistryInfo> {
        let tree = self.tree(db, name).await?;
        let history = table::roots(db, name, history)
            .await?
            .into_iter()
            .map(|r| RootVersion {
                version: r.version,
                root: r.root,
                created_at: r.created_at,
            })
            .collect();
        Ok(RegistryInfo {
            name: name.to_string(),
            depth: tree.depth(),
            size: tree.len(),
            root: fr_to_decimal(&tree.root()),
            history,
        })
    }

    /// Whether `root` is a root of registry `name` within `window` at unix
    /// time `now`. A registry that does not exist has no roots.
    pub async fn root_in_window(
        &self,
        db: &Db,
        name: &str,
        root: &Fr,
        window: RootWindow,
        now: i64,
    ) -> Result<bool> {
        let rows = table::roots(db, name, i64::from(window.roots.max(1))).await?;
        let wanted = fr_to_decimal(root);
        // Row i was replaced when row i - 1 was created.
        let mut replaced_at: Option<i64> = None;
        for row in rows {
            if row.root == wanted {
                let max_age = i64::try_from(window.max_age_secs).unwrap_or(i64::MAX);
                return Ok(match replaced_at {
                    None => true,
                    Some(t) => max_age == 0 || now.saturating_sub(t) <= max_age,
                });
            }
            replaced_at = Some(row.created_at);
        }
        Ok(false)
    }

    /// The path of `member` in `name`, as the circuits take it.
    pub async fn merkle_path(&self, db: &Db, name: &str, member: Fr) -> Result<MerklePath> {
        let tree = self.tree(db, name).await?;
        let index = tree
            .index_of(&member)
            .ok_or_else(|| Error::NotFound(format!("member of registry {name}")))?;
        tree.path(index).map_err(circuits_error)
    }

    /// The authentication path of `member` in `name`.
    pub async fn path(&self, db: &Db, name: &str, member: Fr) -> Result<MemberPath> {
        let path = self.merkle_path(db, name, member).await?;
        let index = path
            .indices
            .iter()
            .rev()
            .fold(0u64, |acc, right| (acc << 1) | u64::from(*right));
        Ok(MemberPath {
            member: fr_to_decimal(&member),
            index,
            root: fr_to_decimal(&path.root_from(member)),
            path_elements: path.elements.iter().map(fr_to_decimal).collect(),
            path_indices: path.indices.iter().map(|b| u8::from(*b)).collect(),
        })
    }
}
