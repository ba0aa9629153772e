//! The versioned key store: participant keys (registered public keys or
//! custodial key pairs), the audit-escrow key and the coordinator's Ed25519
//! attestation key, each with id, version, status and times; private keys
//! only as KEK wraps. Also seals and opens envelopes against the store.

use std::collections::HashMap;
use std::sync::Arc;

use ed25519_dalek::Signer;
use sqlx::{AnyPool, Row, any::AnyRow};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::cache::{CacheConfig, KeyCache};
use crate::dek_wrap::{WrappedDek, unwrap_dek, validate_key_id};
use crate::envelope::{Envelope, Recipient, SealedRecord, decrypt_record};
use crate::error::{Error, Result};
use crate::kek::{Kek, key_wrap_aad};
use crate::secret::{Secret32, SecretBytes};
use crate::x25519::{X25519PrivateKey, X25519PublicKey};

/// The signed message is `b"zkr/receipt/v1" || receipt_hash` (DESIGN §4).
pub const RECEIPT_SIGNING_LABEL: &[u8] = b"zkr/receipt/v1";

/// What a key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// A client's or miner's X25519 encryption key.
    Participant,
    /// The audit-escrow X25519 key (regulator access).
    Escrow,
    /// The coordinator's Ed25519 attestation key.
    Signing,
}

/// Who holds the private key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Custody {
    /// Only the public key is known; its owner keeps the private key.
    Registered,
    /// The service generated the key pair and holds the private key under the KEK.
    Custodial,
}

/// Lifecycle state of one key version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// The current version: new data keys are wrapped to it.
    Active,
    /// An older version: it still opens what was wrapped to it.
    DecryptOnly,
    /// Neither wraps nor opens.
    Retired,
}

macro_rules! str_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            /// The name stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            fn parse(s: &str) -> Result<Self> {
                match s { $($s => Ok(Self::$v),)* _ => Err(Error::malformed("key row", "unknown enum value")) }
            }
        }
    };
}
str_enum!(KeyKind { Participant => "participant", Escrow => "escrow", Signing => "signing" });
str_enum!(Custody { Registered => "registered", Custodial => "custodial" });
str_enum!(KeyStatus { Active => "active", DecryptOnly => "decrypt_only", Retired => "retired" });

/// Public metadata of one key version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key id.
    pub key_id: String,
    /// Version, from 1.
    pub version: u32,
    /// What the key is for.
    pub kind: KeyKind,
    /// Who holds the private key.
    pub custody: Custody,
    /// The public key: X25519 or Ed25519, 32 bytes.
    pub public_key: [u8; 32],
    /// The KEK the private key is wrapped under (custodial keys).
    pub kek_id: Option<String>,
    /// Lifecycle state.
    pub status: KeyStatus,
    /// When this version was created.
    pub created_at: OffsetDateTime,
    /// When this version stopped being the active one.
    pub rotated_at: Option<OffsetDateTime>,
}

impl KeyInfo {
    /// The envelope recipient for this version (X25519 kinds only).
    pub fn recipient(&self) -> Result<Recipient> {
        if self.kind == KeyKind::Signing {
            return Err(Error::WrongKeyKind {
                key_id: self.key_id.clone(),
                expected: "X25519 encryption",
                actual: self.kind.as_str().into(),
            });
        }
        Ok(Recipient {
            key_id: self.key_id.clone(),
            key_version: self.version,
            public_key: X25519PublicKey::from_bytes(&self.public_key)?,
        })
    }
}

/// A receipt attestation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptSignature {
    /// The signing key's id.
    pub key_id: String,
    /// The signing key's version.
    pub key_version: u32,
    /// Ed25519 signature over `b"zkr/receipt/v1" || receipt_hash`.
    pub signature: [u8; 64],
}

/// A signed audit checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointSignature {
    /// The signing key's id.
    pub key_id: String,
    /// The signing key's version.
    pub key_version: u32,
    /// The Ed25519 public key that verifies the signature.
    pub public_key: [u8; 32],
    /// Ed25519 signature over [`audit_checkpoint_message`].
    pub signature: [u8; 64],
}

/// One record to seal in [`KeyStore::seal_many`].
pub struct SealRequest<'a> {
    /// Transaction id.
    pub tx_id: Uuid,
    /// Receipt hash, 32 bytes big-endian.
    pub receipt_hash: [u8; 32],
    /// The canonical record bytes.
    pub plaintext: &'a [u8],
    /// Recipient key ids; their active versions are used.
    pub recipients: &'a [&'a str],
}

/// An Ed25519 signing key; no `Debug`, no `Clone`, zeroized on drop.
pub(crate) struct SigningSecret(ed25519_dalek::SigningKey);

/// The key store. Cheap to share behind an `Arc`.
pub struct KeyStore {
    pub(crate) pool: AnyPool,
    pub(crate) kek: Arc<dyn Kek>,
    pub(crate) x25519_cache: KeyCache<X25519PrivateKey>,
    signing_cache: KeyCache<SigningSecret>,
}

/// The single result of a one-element batch.
fn first<T>(v: Vec<T>) -> Result<T> {
    v.into_iter()
        .next()
        .ok_or(Error::InvalidArgument("empty batch result"))
}

pub(crate) use zkr_store::now_unix as now;

fn ts(secs: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| Error::malformed("key row", "bad time"))
}

pub(crate) fn version_of(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::malformed("key row", "version out of range"))
}

pub(crate) fn array32(v: &[u8], what: &'static str) -> Result<[u8; 32]> {
    v.try_into()
        .map_err(|_| Error::malformed(what, "expected 32 bytes"))
}

pub(crate) fn wrap_from_row(row: &AnyRow) -> Result<WrappedDek> {
    let enc: Vec<u8> = row.try_get("enc")?;
    let wrapped: Vec<u8> = row.try_get("wrapped_dek")?;
    Ok(WrappedDek {
        key_id: row.try_get("key_id")?,
        key_version: version_of(row.try_get("key_version")?)?,
        enc: array32(&enc, "stored enc")?,
        wrapped: wrapped
            .as_slice()
            .try_into()
            .map_err(|_| Error::malformed("stored wrap", "expected 48 bytes"))?,
    })
}

fn info_from_row(row: &AnyRow) -> Result<KeyInfo> {
    let pk: Vec<u8> = row.try_get("public_key")?;
    let rotated: Option<i64> = row.try_get("rotated_at")?;
    Ok(KeyInfo {
        key_id: row.try_get("key_id")?,
        version: version_of(row.try_get("version")?)?,
        kind: KeyKind::parse(row.try_get::<String, _>("kind")?.as_str())?,
        custody: Custody::parse(row.try_get::<String, _>("custody")?.as_str())?,
        public_key: array32(&pk, "stored public key")?,
        kek_id: row.try_get("kek_id")?,
        status: KeyStatus::parse(row.try_get::<String, _>("status")?.as_str())?,
        created_at: ts(row.try_get("created_at")?)?,
        rotated_at: rotated.map(ts).transpose()?,
    })
}

/// A new key version before it is written: public part and, for custodial
/// keys, the private bytes to wrap.
pub(crate) struct NewKey {
    pub(crate) kind: KeyKind,
    pub(crate) custody: Custody,
    pub(crate) public_key: [u8; 32],
    pub(crate) private: Option<Secret32>,
}

impl NewKey {
    pub(crate) fn x25519(kind: KeyKind) -> Result<NewKey> {
        let sk = X25519PrivateKey::generate()?;
        Ok(NewKey {
            kind,
            custody: Custody::Custodial,
            public_key: *sk.public_key().as_bytes(),
            private: Some(sk.to_secret()),
        })
    }

    pub(crate) fn ed25519() -> Result<NewKey> {
        let seed = Secret32::random()?;
        let sk = ed25519_dalek::SigningKey::from_bytes(seed.expose());
        Ok(NewKey {
            kind: KeyKind::Signing,
            custody: Custody::Custodial,
            public_key: sk.verifying_key().to_bytes(),
            private: Some(seed),
        })
    }

    pub(crate) fn registered(public_key: &X25519PublicKey) -> NewKey {
        NewKey {
            kind: KeyKind::Participant,
            custody: Custody::Registered,
            public_key: *public_key.as_bytes(),
            private: None,
        }
    }
}

impl KeyStore {
    /// A key store over `pool` (tables already migrated) whose private keys
    /// are wrapped under `kek`.
    pub fn new(pool: AnyPool, kek: Arc<dyn Kek>, cache: CacheConfig) -> KeyStore {
        KeyStore {
            pool,
            kek,
            x25519_cache: KeyCache::new(cache),
            signing_cache: KeyCache::new(cache),
        }
    }

    /// The KEK in use.
    pub fn kek_id(&self) -> &str {
        self.kek.kek_id()
    }

    /// The database pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Wraps the private part of `new` (if any) and inserts it as version
    /// `version` of `key_id` with status active, inside `tx`.
    pub(crate) async fn insert_version(
        &self,
        tx: &mut sqlx::AnyConnection,
        key_id: &str,
        version: u32,
        new: &NewKey,
    ) -> Result<KeyInfo> {
        let wrapped = match &new.private {
            Some(secret) => Some(
                self.kek
                    .wrap(secret.expose(), &key_wrap_aad(key_id, version))
                    .await?,
            ),
            None => None,
        };
        let kek_id = wrapped.as_ref().map(|_| self.kek.kek_id().to_owned());
        let created = now();
        let algorithm = if new.kind == KeyKind::Signing {
            "ed25519"
        } else {
            "x25519"
        };
        sqlx::query(
            "INSERT INTO zkr_keys (key_id, version, kind, custody, algorithm, public_key,
                wrapped_private, kek_id, status, created_at, rotated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)",
        )
        .bind(key_id.to_owned())
        .bind(i64::from(version))
        .bind(new.kind.as_str())
        .bind(new.custody.as_str())
        .bind(algorithm)
        .bind(new.public_key.to_vec())
        .bind(wrapped)
        .bind(kek_id.clone())
        .bind(KeyStatus::Active.as_str())
        .bind(created)
        .execute(&mut *tx)
        .await?;
        Ok(KeyInfo {
            key_id: key_id.to_owned(),
            version,
            kind: new.kind,
            custody: new.custody,
            public_key: new.public_key,
            kek_id,
            status: KeyStatus::Active,
            created_at: ts(created)?,
            rotated_at: None,
        })
    }

    async fn create_many(&self, keys: Vec<(String, NewKey)>) -> Result<Vec<KeyInfo>> {
        for (id, _) in &keys {
            validate_key_id(id)?;
        }
        let mut tx = zkr_store::begin_write(&self.pool).await?;
        let mut out = Vec::with_capacity(keys.len());
        for (id, new) in &keys {
            let exists = sqlx::query("SELECT 1 FROM zkr_keys WHERE key_id = $1")
                .bind(id.clone())
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_some() {
                return Err(Error::KeyExists(id.clone()));
            }
            out.push(self.insert_version(&mut tx, id, 1, new).await?);
        }
        tx.commit().await?;
        for info in &out {
            tracing::info!(key_id = %info.key_id, version = info.version, kind = info.kind.as_str(), custody = info.custody.as_str(), "key created");
        }
        Ok(out)
    }

    /// Registers a participant's public key (the participant keeps the
    /// private key) as version 1.
    pub async fn register_public_key(
        &self,
        key_id: &str,
        public_key: &X25519PublicKey,
    ) -> Result<KeyInfo> {
        self.register_public_keys(&[(key_id, public_key)])
            .await
            .and_then(first)
    }

    /// Registers many public keys in one transaction: all or none.
    pub async fn register_public_keys(
        &self,
        keys: &[(&str, &X25519PublicKey)],
    ) -> Result<Vec<KeyInfo>> {
        self.create_many(
            keys.iter()
                .map(|(id, pk)| ((*id).to_owned(), NewKey::registered(pk)))
                .collect(),
        )
        .await
    }

    /// Generates a custodial participant key pair; the private key is stored
    /// only wrapped under the KEK.
    pub async fn create_custodial_key(&self, key_id: &str) -> Result<KeyInfo> {
        self.create_custodial_keys(&[key_id]).await.and_then(first)
    }

    /// Generates many custodial key pairs in one transaction.
    pub async fn create_custodial_keys(&self, key_ids: &[&str]) -> Result<Vec<KeyInfo>> {
        let keys = key_ids
            .iter()
            .map(|id| Ok(((*id).to_owned(), NewKey::x25519(KeyKind::Participant)?)))
            .collect::<Result<Vec<_>>>()?;
        self.create_many(keys).await
    }

    /// Generates the audit-escrow key pair.
    pub async fn create_escrow_key(&self, key_id: &str) -> Result<KeyInfo> {
        let new = NewKey::x25519(KeyKind::Escrow)?;
        self.create_many(vec![(key_id.to_owned(), new)])
            .await
            .and_then(first)
    }

    /// Generates the coordinator's Ed25519 attestation key.
    pub async fn create_signing_key(&self, key_id: &str) -> Result<KeyInfo> {
        let new = NewKey::ed25519()?;
        self.create_many(vec![(key_id.to_owned(), new)])
            .await
            .and_then(first)
    }

    /// All versions of a key, oldest first.
    pub async fn versions(&self, key_id: &str) -> Result<Vec<KeyInfo>> {
        let rows = sqlx::query(
            "SELECT key_id, version, kind, custody, public_key, kek_id, status, created_at, rotated_at
             FROM zkr_keys WHERE key_id = $1 ORDER BY version",
        )
        .bind(key_id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(Error::UnknownKey {
                key_id: key_id.to_owned(),
                version: None,
            });
        }
        rows.iter().map(info_from_row).collect()
    }

    /// Every version of every key, by key id then version: public metadata
    /// only (the wrapped private parts are not even read).
    pub async fn list(&self) -> Result<Vec<KeyInfo>> {
        let rows = sqlx::query(
            "SELECT key_id, version, kind, custody, public_key, kek_id, status, created_at, rotated_at
             FROM zkr_keys ORDER BY key_id, version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(info_from_row).collect()
    }

    /// One version of a key.
    pub async fn key(&self, key_id: &str, version: u32) -> Result<KeyInfo> {
        let row = sqlx::query(
            "SELECT key_id, version, kind, custody, public_key, kek_id, status, created_at, rotated_at
             FROM zkr_keys WHERE key_id = $1 AND version = $2",
        )
        .bind(key_id.to_owned())
        .bind(i64::from(version))
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::UnknownKey {
            key_id: key_id.to_owned(),
            version: Some(version),
        })?;
        info_from_row(&row)
    }

    /// The active version of a key.
    pub async fn active(&self, key_id: &str) -> Result<KeyInfo> {
        self.versions(key_id)
            .await?
            .into_iter()
            .find(|k| k.status == KeyStatus::Active)
            .ok_or_else(|| Error::UnknownKey {
                key_id: key_id.to_owned(),
                version: None,
            })
    }

    /// The private X25519 key of a version, through the cache.
    pub(crate) async fn x25519_private(
        &self,
        key_id: &str,
        version: u32,
    ) -> Result<Arc<X25519PrivateKey>> {
        if let Some(k) = self.x25519_cache.get(key_id, version) {
            // Status may have changed since caching; retire() evicts, and the
            // check below runs on every cache miss.
            return Ok(k);
        }
        let secret = self.unwrap_private(key_id, version, false).await?;
        let sk = Arc::new(X25519PrivateKey::from_bytes(secret.expose())?);
        self.x25519_cache.insert(key_id, version, Arc::clone(&sk));
        Ok(sk)
    }

    async fn signing_private(&self, key_id: &str, version: u32) -> Result<Arc<SigningSecret>> {
        if let Some(k) = self.signing_cache.get(key_id, version) {
            return Ok(k);
        }
        let secret = self.unwrap_private(key_id, version, true).await?;
        let seed = Secret32::from_slice(secret.expose())?;
        let sk = Arc::new(SigningSecret(ed25519_dalek::SigningKey::from_bytes(
            seed.expose(),
        )));
        self.signing_cache.insert(key_id, version, Arc::clone(&sk));
        Ok(sk)
    }

    async fn unwrap_private(
        &self,
        key_id: &str,
        version: u32,
        signing: bool,
    ) -> Result<SecretBytes> {
        let row = sqlx::query(
            "SELECT kind, status, wrapped_private, kek_id FROM zkr_keys WHERE key_id = $1 AND version = $2",
        )
        .bind(key_id.to_owned())
        .bind(i64::from(version))
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::UnknownKey {
            key_id: key_id.to_owned(),
            version: Some(version),
        })?;
        let kind = KeyKind::parse(row.try_get::<String, _>("kind")?.as_str())?;
        if signing != (kind == KeyKind::Signing) {
            return Err(Error::WrongKeyKind {
                key_id: key_id.to_owned(),
                expected: if signing {
                    "signing"
                } else {
                    "X25519 encryption"
                },
                actual: kind.as_str().into(),
            });
        }
        if KeyStatus::parse(row.try_get::<String, _>("status")?.as_str())? == KeyStatus::Retired {
            return Err(Error::KeyRetired {
                key_id: key_id.to_owned(),
                version,
            });
        }
        let wrapped: Option<Vec<u8>> = row.try_get("wrapped_private")?;
        let kek_id: Option<String> = row.try_get("kek_id")?;
        let wrapped = wrapped.ok_or_else(|| Error::NoPrivateKey {
            key_id: key_id.to_owned(),
            version,
        })?;
        if kek_id.as_deref() != Some(self.kek.kek_id()) {
            return Err(Error::Kek {
                kek_id: self.kek.kek_id().to_owned(),
                reason: format!(
                    "key {key_id} version {version} is wrapped under another KEK ({})",
                    kek_id.unwrap_or_default()
                ),
            });
        }
        self.kek
            .unwrap(&wrapped, &key_wrap_aad(key_id, version))
            .await
    }

    /// Seals one record for the active versions of `recipients` and stores
    /// the wrapped DEKs. The caller stores `envelope.record`.
    pub async fn seal(
        &self,
        tx_id: Uuid,
        receipt_hash: [u8; 32],
        plaintext: &[u8],
        recipients: &[&str],
    ) -> Result<Envelope> {
        self.seal_many(&[SealRequest {
            tx_id,
            receipt_hash,
            plaintext,
            recipients,
        }])
        .await
        .and_then(first)
    }

    /// Seals many records; their wraps are stored in one transaction.
    pub async fn seal_many(&self, requests: &[SealRequest<'_>]) -> Result<Vec<Envelope>> {
        let mut recipients: HashMap<&str, Recipient> = HashMap::new();
        for req in requests {
            for id in req.recipients {
                if !recipients.contains_key(id) {
                    recipients.insert(id, self.active(id).await?.recipient()?);
                }
            }
        }
        let mut envelopes = Vec::with_capacity(requests.len());
        for req in requests {
            let rs = req
                .recipients
                .iter()
                .filter_map(|id| recipients.get(id).cloned())
                .collect::<Vec<_>>();
            envelopes.push(Envelope::seal(
                req.tx_id,
                req.receipt_hash,
                req.plaintext,
                &rs,
            )?);
        }
        let mut tx = self.pool.begin().await?;
        for env in &envelopes {
            insert_wraps(&mut tx, &env.record.tx_id, &env.wraps).await?;
        }
        tx.commit().await?;
        Ok(envelopes)
    }

    /// Stores wraps of an envelope sealed elsewhere (idempotent).
    pub async fn store_wraps(&self, tx_id: &Uuid, wraps: &[WrappedDek]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_wraps(&mut tx, tx_id, wraps).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The stored wraps of a record.
    pub async fn wraps(&self, tx_id: &Uuid) -> Result<Vec<WrappedDek>> {
        let rows = sqlx::query(
            "SELECT key_id, key_version, enc, wrapped_dek FROM zkr_dek_wraps
             WHERE tx_id = $1 ORDER BY key_id, key_version",
        )
        .bind(tx_id.as_bytes().to_vec())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(wrap_from_row).collect()
    }

    /// The record with its current wraps (after rotations), ready to
    /// serialize and hand to a participant.
    pub async fn envelope(&self, record: SealedRecord) -> Result<Envelope> {
        let wraps = self.wraps(&record.tx_id).await?;
        if wraps.is_empty() {
            return Err(Error::NoUsableRecipient(record.tx_id.to_string()));
        }
        Ok(Envelope { record, wraps })
    }

    /// Deletes a record's wraps: once gone, nobody can open it (crypto-shredding).
    pub async fn forget_record(&self, tx_id: &Uuid) -> Result<u64> {
        let r = sqlx::query("DELETE FROM zkr_dek_wraps WHERE tx_id = $1")
            .bind(tx_id.as_bytes().to_vec())
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// Opens a record as `key_id` (a custodial participant key or the escrow
    /// key). Wraps in the envelope and stored wraps are both considered;
    /// the newest usable version wins. If the only wraps for `key_id` are of
    /// retired versions, the error is [`Error::KeyRetired`].
    pub async fn open(&self, envelope: &Envelope, key_id: &str) -> Result<SecretBytes> {
        let stored = self.wraps(&envelope.record.tx_id).await?;
        self.open_with(envelope, key_id, stored).await
    }

    /// Opens, as `key_id`, an envelope that is never stored as a record
    /// (and so has no stored wraps), kept whole where its owner keeps it: a
    /// proof job's sealed input, in the job's row. Only the envelope's own
    /// wraps are tried; otherwise as [`open`](Self::open).
    pub async fn open_unstored(&self, envelope: &Envelope, key_id: &str) -> Result<SecretBytes> {
        self.open_with(envelope, key_id, Vec::new()).await
    }

    async fn open_with(
        &self,
        envelope: &Envelope,
        key_id: &str,
        stored: Vec<WrappedDek>,
    ) -> Result<SecretBytes> {
        let tx_id = envelope.record.tx_id;
        // Stored wraps first: the envelope is untrusted input, and a tampered
        // copy of a version must not hide the stored one.
        let mut candidates: Vec<WrappedDek> =
            stored.into_iter().filter(|w| w.key_id == key_id).collect();
        for w in envelope.wraps.iter().filter(|w| w.key_id == key_id) {
            if !candidates.contains(w) {
                candidates.push(w.clone());
            }
        }
        // Stable sort: newest version first, stored before supplied.
        candidates.sort_by_key(|w| std::cmp::Reverse(w.key_version));
        // Status from the database on every call, not from the cache, so a
        // version retired by another node stops opening at once.
        let statuses: HashMap<u32, KeyStatus> = match self.versions(key_id).await {
            Ok(v) => v.into_iter().map(|k| (k.version, k.status)).collect(),
            Err(Error::UnknownKey { .. }) => HashMap::new(),
            Err(e) => return Err(e),
        };
        let mut last = Error::NoUsableRecipient(tx_id.to_string());
        for w in &candidates {
            match statuses.get(&w.key_version) {
                None => {
                    last = Error::UnknownKey {
                        key_id: key_id.to_owned(),
                        version: Some(w.key_version),
                    };
                    continue;
                }
                Some(KeyStatus::Retired) => {
                    last = Error::KeyRetired {
                        key_id: key_id.to_owned(),
                        version: w.key_version,
                    };
                    continue;
                }
                Some(_) => {}
            }
            match self.x25519_private(key_id, w.key_version).await {
                Ok(sk) => match unwrap_dek(w, &tx_id, &sk) {
                    // The DEK is authentic: a failure now means the record
                    // itself does not match its tx id and receipt hash.
                    Ok(dek) => return decrypt_record(&dek, &envelope.record),
                    Err(e @ Error::Decrypt) => last = e,
                    Err(e) => return Err(e),
                },
                Err(
                    e @ (Error::KeyRetired { .. }
                    | Error::NoPrivateKey { .. }
                    | Error::UnknownKey { .. }),
                ) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Opens many records as `key_id`; one result per envelope.
    pub async fn open_many(
        &self,
        envelopes: &[Envelope],
        key_id: &str,
    ) -> Vec<Result<SecretBytes>> {
        let mut out = Vec::with_capacity(envelopes.len());
        for env in envelopes {
            out.push(self.open(env, key_id).await);
        }
        out
    }

    /// Signs `b"zkr/receipt/v1" || receipt_hash` with the active version of
    /// the signing key `key_id`.
    pub async fn sign_receipt(
        &self,
        key_id: &str,
        receipt_hash: &[u8; 32],
    ) -> Result<ReceiptSignature> {
        let info = self.active(key_id).await?;
        let sk = self.signing_private(key_id, info.version).await?;
        let signature = sk.0.sign(&receipt_message(receipt_hash)).to_bytes();
        Ok(ReceiptSignature {
            key_id: key_id.to_owned(),
            key_version: info.version,
            signature,
        })
    }

    /// Signs an audit checkpoint, [`audit_checkpoint_message`], with the
    /// active version of the signing key `key_id`.
    pub async fn sign_audit_checkpoint(
        &self,
        key_id: &str,
        seq: u64,
        entry_hash: &[u8; 32],
        unix_time: u64,
    ) -> Result<CheckpointSignature> {
        let info = self.active(key_id).await?;
        let sk = self.signing_private(key_id, info.version).await?;
        let signature =
            sk.0.sign(&audit_checkpoint_message(seq, entry_hash, unix_time))
                .to_bytes();
        Ok(CheckpointSignature {
            key_id: key_id.to_owned(),
            key_version: info.version,
            public_key: sk.0.verifying_key().to_bytes(),
            signature,
        })
    }

    /// The public key of a signing key version, derived from its private
    /// key under the KEK: unlike the public key stored beside it, it cannot
    /// be swapped by someone who can only write the database.
    pub async fn signing_public_key(&self, key_id: &str, version: u32) -> Result<[u8; 32]> {
        let sk = self.signing_private(key_id, version).await?;
        Ok(sk.0.verifying_key().to_bytes())
    }

    /// Marks a version retired: it no longer opens anything. The active
    /// version cannot be retired (rotate first), nor a version a running
    /// rotation may still need.
    pub async fn retire(&self, key_id: &str, version: u32) -> Result<()> {
        let info = self.key(key_id, version).await?;
        if info.status == KeyStatus::Active {
            return Err(Error::Rotation {
                key_id: key_id.to_owned(),
                reason: "the active version cannot be retired; rotate first",
            });
        }
        if self.rotation_running(key_id).await? {
            return Err(Error::Rotation {
                key_id: key_id.to_owned(),
                reason: "a rotation is still running; finish it before retiring old versions",
            });
        }
        sqlx::query("UPDATE zkr_keys SET status = $1 WHERE key_id = $2 AND version = $3")
            .bind(KeyStatus::Retired.as_str())
            .bind(key_id.to_owned())
            .bind(i64::from(version))
            .execute(&self.pool)
            .await?;
        self.x25519_cache.remove_key(key_id, version);
        self.signing_cache.remove_key(key_id, version);
        tracing::info!(key_id, version, "key version retired");
        Ok(())
    }
}

/// `b"zkr/receipt/v1" || receipt_hash`.
pub fn receipt_message(receipt_hash: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(RECEIPT_SIGNING_LABEL.len() + 32);
    m.extend_from_slice(RECEIPT_SIGNING_LABEL);
    m.extend_from_slice(receipt_hash);
    m
}

/// Verifies a receipt attestation (strict Ed25519 verification).
pub fn verify_receipt_signature(
    public_key: &[u8; 32],
    receipt_hash: &[u8; 32],
    signature: &[u8; 64],
) -> bool {
    let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(signature);
    vk.verify_strict(&receipt_message(receipt_hash), &sig)
        .is_ok()
}

/// Domain label of audit checkpoint signatures.
pub const AUDIT_CHECKPOINT_LABEL: &[u8] = b"zkr/audit/v1";

/// `b"zkr/audit/v1" || seq (8 bytes BE) || entry_hash || unix_time (8 bytes BE)`.
pub fn audit_checkpoint_message(seq: u64, entry_hash: &[u8; 32], unix_time: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(AUDIT_CHECKPOINT_LABEL.len() + 48);
    m.extend_from_slice(AUDIT_CHECKPOINT_LABEL);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(entry_hash);
    m.extend_from_slice(&unix_time.to_be_bytes());
    m
}

/// Verifies an audit checkpoint signature (strict Ed25519 verification).
pub fn verify_audit_checkpoint_signature(
    public_key: &[u8; 32],
    seq: u64,
    entry_hash: &[u8; 32],
    unix_time: u64,
    signature: &[u8; 64],
) -> bool {
    let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(signature);
    vk.verify_strict(&audit_checkpoint_message(seq, entry_hash, unix_time), &sig)
        .is_ok()
}

pub(crate) async fn insert_wraps(
    conn: &mut sqlx::AnyConnection,
    tx_id: &Uuid,
    wraps: &[WrappedDek],
) -> Result<()> {
    let created = now();
    for w in wraps {
        sqlx::query(
            "INSERT INTO zkr_dek_wraps (tx_id, key_id, key_version, enc, wrapped_dek, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(tx_id.as_bytes().to_vec())
        .bind(w.key_id.clone())
        .bind(i64::from(w.key_version))
        .bind(w.enc.to_vec())
        .bind(w.wrapped.to_vec())
        .bind(created)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
