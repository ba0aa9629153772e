//! Bearer API tokens bound to a principal and its roles. Only the SHA-256 of
//! a token is stored; a token is 256 random bits, so a plain hash suffices.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::announced::Announced;
use super::error::{Error, Result};
use zkr_store::tokens::{self, Credential, TokenRow};
use zkr_store::{Db, now_unix};

/// Prefix of every token, so that leaked tokens are easy to scan for.
pub const TOKEN_PREFIX: &str = "zkr_";

/// The roles of DESIGN §1.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Pays for jobs; reads its own receipts.
    Client,
    /// Runs jobs; asks for proofs about its receipts.
    Miner,
    /// The marketplace operator: issues receipts.
    Coordinator,
    /// Reads receipts for purpose audit, in business hours, within retention.
    Auditor,
    /// Opens escrow copies with an authorization reference.
    Regulator,
    /// Keys, policies, registries, tokens.
    Admin,
    /// The marketplace or any verifier: verifies proofs, reads registries,
    /// verifying keys and coordinators' public signing keys; nothing else.
    Verifier,
}

impl Role {
    /// Every role, for iteration in tests and checks.
    pub const ALL: [Role; 7] = [
        Role::Client,
        Role::Miner,
        Role::Coordinator,
        Role::Auditor,
        Role::Regulator,
        Role::Admin,
        Role::Verifier,
    ];

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Miner => "miner",
            Role::Coordinator => "coordinator",
            Role::Auditor => "auditor",
            Role::Regulator => "regulator",
            Role::Admin => "admin",
            Role::Verifier => "verifier",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::BadRequest(format!("unknown role {s:?}")))
    }
}

/// Who is calling: resolved from the bearer token on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable name of the caller (e.g. `miner-7`).
    pub id: String,
    /// Its roles.
    pub roles: Vec<Role>,
}

impl Principal {
    /// Whether the principal holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Roles as a comma-separated list (storage and audit form).
    pub fn roles_csv(&self) -> String {
        roles_csv(&self.roles)
    }
}

/// A freshly minted token: shown once, zeroized on drop, never logged.
pub struct NewToken {
    /// Token id (not secret).
    pub id: String,
    /// The secret bearer token.
    pub secret: Zeroizing<String>,
}

fn roles_csv(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_roles(csv: &str) -> Result<Vec<Role>> {
    csv.split(',')
        .filter(|s| !s.is_empty())
        .map(Role::from_str)
        .collect()
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn validate_principal(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Unprocessable(
            "principal must be 1..=128 characters of [A-Za-z0-9-_.@:]".into(),
        ))
    }
}

/// Mints a token for `principal` with `roles`, valid until `expires_at`
/// (unix seconds) if given. The secret is returned once and only its hash kept.
pub async fn mint(
    db: &Db,
    principal: &str,
    roles: &[Role],
    expires_at: Option<i64>,
) -> Result<NewToken> {
    validate_principal(principal)?;
    if roles.is_empty() {
        return Err(Error::Unprocessable("at least one role is required".into()));
    }
    if let Some(t) = expires_at
        && t <= now_unix()
    {
        return Err(Error::Unprocessable(
            "expires_at is not in the future: a token that is already expired is refused".into(),
        ));
    }
    let mut raw = Zeroizing::new([0u8; 32]);
    getrandom::fill(raw.as_mut()).map_err(|e| Error::Internal(format!("random source: {e}")))?;
    let secret = Zeroizing::new(format!("{TOKEN_PREFIX}{}", hex::encode(raw.as_ref())));
    let id = uuid::Uuid::new_v4().to_string();
    tokens::insert(
        db,
        &tokens::NewToken {
            id: &id,
            token_hash: &hash_token(&secret),
            principal,
            roles: &roles_csv(roles),
            created_at: now_unix(),
            expires_at,
        },
    )
    .await?;
    Ok(NewToken { id, secret })
}

/// Resolves a bearer token to its principal; any failure is `Unauthorized`.
pub async fn authenticate(db: &Db, token: &str) -> Result<Principal> {
    let hash = token_hash(token)?;
    principal_of(tokens::credential(db, &hash).await?, &hash)
}

/// The stored hash of a well-formed `token`.
fn token_hash(token: &str) -> Result<String> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Err(Error::Unauthorized);
    }
    Ok(hash_token(token))
}

/// The principal of the token whose hash is `hash`, as stored.
fn principal_of(stored: Option<Credential>, hash: &str) -> Result<Principal> {
    let stored = stored.ok_or(Error::Unauthorized)?;
    // The lookup already matched; comparing again in constant time keeps the
    // decision itself free of timing differences.
    if !bool::from(stored.token_hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Err(Error::Unauthorized);
    }
    if stored.revoked || stored.expires_at.is_some_and(|t| t <= now_unix()) {
        return Err(Error::Unauthorized);
    }
    Ok(Principal {
        roles: parse_roles(&stored.roles)?,
        id: stored.principal,
    })
}

/// Most tokens a node keeps; past that it starts again from none.
const MAX_KEPT_TOKENS: usize = 10_000;

/// Tokens as stored (hash, principal, roles, expiry, revocation), kept
/// between requests while every change to them is announced to this node
/// (see [`Announced`]): only on PostgreSQL, where a revocation by any node
/// or by `zkr token revoke` is announced on
/// [`zkr_store::tokens::CHANGED_CHANNEL`] in its transaction, and only
/// while this node's listener is connected. On SQLite, where `zkr token
/// revoke` changes the database from another process unannounced, every
/// request reads its token. Expiry is checked at every use; unknown tokens
/// are never kept.
pub(crate) struct TokenCache {
    changes: Announced,
    kept: Mutex<HashMap<String, (u64, Instant, Credential)>>,
}

impl TokenCache {
    pub(crate) fn new() -> Self {
        Self {
            changes: Announced::new(false),
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// [`authenticate`], from what is kept when it may be used.
    pub(crate) async fn authenticate(&self, db: &Db, token: &str) -> Result<Principal> {
        let hash = token_hash(token)?;
        let stamp = self.changes.stamp();
        if let Some(s) = stamp
            && let Ok(kept) = self.kept.lock()
            && let Some((generation, at, stored)) = kept.get(&hash)
            && *generation == s
            && self.changes.fresh(s, *at)
        {
            return principal_of(Some(stored.clone()), &hash);
        }
        let at = Instant::now();
        let stored = tokens::credential(db, &hash).await?;
        if let (Some(s), Some(found)) = (stamp, &stored)
            && self.changes.fresh(s, at)
            && let Ok(mut kept) = self.kept.lock()
        {
            if kept.len() >= MAX_KEPT_TOKENS {
                kept.clear();
            }
            kept.insert(hash.clone(), (s, at, found.clone()));
        }
        principal_of(stored, &hash)
    }

    /// A token changed (revoked through this node, or announced).
    pub(crate) fn changed(&self) {
        self.changes.changed();
        if let Ok(mut kept) = self.kept.lock() {
            kept.clear();
        }
    }

    /// Whether announcements of changes arrive (see [`Announced::watching`]).
    pub(crate) fn watching(&self, on: bool) {
        self.changes.watching(on);
        if let Ok(mut kept) = self.kept.lock() {
            kept.clear();
        }
    }
}

/// Whether any token exists (first start detection).
pub(crate) async fn any_token(db: &Db) -> Result<bool> {
    Ok(tokens::count(db).await? > 0)
}

/// The file the bootstrap admin token is written to, in the data directory.
pub(crate) const ADMIN_TOKEN_FILE: &str = "admin-token";

/// When a bootstrap admin token minted now expires: `days` from now.
pub(crate) fn admin_expiry(days: u32) -> i64 {
    now_unix() + i64::from(days) * 86_400
}

/// On first start (no token at all), mints an admin token valid for `days`
/// and writes it to `dir/admin-token` with mode 0600. Returns the path when
/// it wrote one.
pub async fn bootstrap_admin(db: &Db, dir: &Path, days: u32) -> Result<Option<PathBuf>> {
    if any_token(db).await? {
        return Ok(None);
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join(ADMIN_TOKEN_FILE);
    // create_new: an existing file is never overwritten, so a token is written once.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(|e| {
        Error::Config(format!(
            "cannot create {} ({e}); remove a stale file to mint a new admin token",
            path.display()
        ))
    })?;
    let token = mint(db, "admin", &[Role::Admin], Some(admin_expiry(days))).await?;
    use std::io::Write;
    file.write_all(token.secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(Some(path))
}

/// What [`rotate_admin`] did.
#[derive(Debug)]
pub struct Rotated {
    /// The file now holding the new token.
    pub path: PathBuf,
    /// Id of the new token.
    pub new_id: String,
    /// Id of the token the file held before, now revoked (`None` when the
    /// file was missing or held no known token).
    pub revoked_id: Option<String>,
}

/// Mints a new admin token valid for `days`, replaces `dir/admin-token`
/// with it (mode 0600, written to a temporary file and renamed, so the file
/// always holds a whole token) and revokes the token the file held before.
pub async fn rotate_admin(db: &Db, dir: &Path, days: u32) -> Result<Rotated> {
    let path = dir.join(ADMIN_TOKEN_FILE);
    let old = match std::fs::read_to_string(&path) {
        Ok(text) => Some(Zeroizing::new(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let old_id = match &old {
        Some(text) => tokens::id_by_hash(db, &hash_token(text.trim())).await?,
        None => None,
    };
    let token = mint(db, "admin", &[Role::Admin], Some(admin_expiry(days))).await?;
    let tmp = dir.join(format!("{ADMIN_TOKEN_FILE}.new"));
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    {
        use std::io::Write;
        let mut file = options.open(&tmp)?;
        file.write_all(token.secret.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    let revoked_id = match old_id {
        Some(id) => {
            revoke(db, &id).await?;
            Some(id)
        }
        None => None,
    };
    Ok(Rotated {
        path,
        new_id: token.id.clone(),
        revoked_id,
    })
}

/// A token as listed: never the secret, never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TokenInfo {
    /// Token id.
    pub id: String,
    /// Principal it speaks for.
    pub principal: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `null` when it never expires.
    pub expires_at: Option<i64>,
    /// Whether it was revoked.
    pub revoked: bool,
}

fn token_info(row: TokenRow) -> Result<TokenInfo> {
    Ok(TokenInfo {
        roles: parse_roles(&row.roles)?,
        id: row.id,
        principal: row.principal,
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked: row.revoked,
    })
}

/// Every token, oldest first.
pub async fn list(db: &Db) -> Result<Vec<TokenInfo>> {
    tokens::list(db)
        .await?
        .into_iter()
        .map(token_info)
        .collect()
}

/// Revokes token `id`; authentication reads the row on every request, so
/// the token is refused from the next request on. Revoking a revoked token
/// changes nothing. `NotFound` when there is no such token.
pub async fn revoke(db: &Db, id: &str) -> Result<TokenInfo> {
    tokens::revoke(db, id).await?;
    let row = tokens::get(db, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("token {id}")))?;
    token_info(row)
}

/// Library entry of `zkr token create`: mints a token directly in the database.
pub async fn create_token_in(
    database_url: &str,
    principal: &str,
    roles: &[Role],
    expires_at: Option<i64>,
) -> Result<NewToken> {
    let db = Db::connect_and_migrate(database_url).await?;
    mint(&db, principal, roles, expires_at).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        let csv = roles_csv(&Role::ALL);
        assert_eq!(parse_roles(&csv).ok(), Some(Role::ALL.to_vec()));
        assert!(parse_roles("root").is_err());
    }

    #[test]
    fn principal_names_are_checked() {
        assert!(validate_principal("miner-7").is_ok());
        assert!(validate_principal("").is_err());
        assert!(validate_principal("a b").is_err());
    }

    /// Unwatched (SQLite, or a lost listener) a revocation made behind the
    /// node's back applies at the next request; watched, a token is kept
    /// until a change is announced, and a revocation through the node
    /// applies at once. Unknown tokens are not kept.
    #[tokio::test]
    async fn tokens_are_kept_only_while_revocations_are_announced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("zkr.db").display());
        let db = Db::connect_and_migrate(&url).await.expect("migrate");
        let cache = TokenCache::new();
        let t = mint(&db, "miner-1", &[Role::Miner], None)
            .await
            .expect("mint");
        assert_eq!(
            cache.authenticate(&db, &t.secret).await.expect("ok").id,
            "miner-1"
        );
        tokens::revoke(&db, &t.id).await.expect("revoke");
        assert!(matches!(
            cache.authenticate(&db, &t.secret).await,
            Err(Error::Unauthorized)
        ));

        cache.watching(true);
        let t = mint(&db, "miner-2", &[Role::Miner], None)
            .await
            .expect("mint");
        cache.authenticate(&db, &t.secret).await.expect("read");
        // Revoked unannounced: the kept token still passes...
        tokens::revoke(&db, &t.id).await.expect("revoke");
        cache.authenticate(&db, &t.secret).await.expect("kept");
        // ...until the change is announced.
        cache.changed();
        assert!(matches!(
            cache.authenticate(&db, &t.secret).await,
            Err(Error::Unauthorized)
        ));
        let unknown = format!("{TOKEN_PREFIX}{}", "x".repeat(40));
        assert!(cache.authenticate(&db, &unknown).await.is_err());
        assert_eq!(
            cache.kept.lock().expect("lock").len(),
            1,
            "only the revoked one read"
        );
        // A lost listener: nothing kept is used.
        let t = mint(&db, "miner-3", &[Role::Miner], None)
            .await
            .expect("mint");
        cache.authenticate(&db, &t.secret).await.expect("read");
        cache.watching(false);
        tokens::revoke(&db, &t.id).await.expect("revoke");
        assert!(matches!(
            cache.authenticate(&db, &t.secret).await,
            Err(Error::Unauthorized)
        ));
    }
}
