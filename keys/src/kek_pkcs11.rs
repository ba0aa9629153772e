//! A KEK held in an HSM through PKCS#11: a non-extractable AES-256 key
//! generated inside the token (CKA_SENSITIVE, !CKA_EXTRACTABLE), used with
//! CKM_AES_GCM to wrap host-generated private keys (tokens such as SoftHSM2
//! have no X25519, so X25519 keys live on the host, only ever wrapped).
//!
//! The token is found by label, not slot id (SoftHSM renumbers slots). A
//! wrap is `iv (12) || ciphertext || tag (16)`; the IV comes from the host's
//! random source and the AAD is the caller's.

use std::path::PathBuf;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use crate::error::{Error, Result};
use crate::kek::{Kek, KekFuture};
use crate::secret::SecretBytes;

/// Default label of the KEK object inside the token.
pub const DEFAULT_KEY_LABEL: &str = "zkr-kek";

/// Where the PKCS#11 KEK lives. The PIN is held as a `secrecy` string.
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (`.so`).
    pub module_path: PathBuf,
    /// Label of the token.
    pub token_label: String,
    /// User PIN.
    pub pin: AuthPin,
    /// Label of the AES key object.
    pub key_label: String,
    /// Generate the key if the token does not have it yet.
    pub create_if_missing: bool,
}

impl Pkcs11Config {
    /// Reads `ZKR_PKCS11_MODULE`, `ZKR_PKCS11_TOKEN_LABEL`, `ZKR_PKCS11_PIN`
    /// and optionally `ZKR_PKCS11_KEY_LABEL` (default `zkr-kek`). `None`
    /// when the module, label or PIN is not set.
    pub fn from_env() -> Option<Pkcs11Config> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// As [`Pkcs11Config::from_env`], reading variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<Pkcs11Config> {
        Some(Pkcs11Config {
            module_path: var("ZKR_PKCS11_MODULE")?.into(),
            token_label: var("ZKR_PKCS11_TOKEN_LABEL")?,
            pin: AuthPin::from(var("ZKR_PKCS11_PIN")?),
            key_label: var("ZKR_PKCS11_KEY_LABEL").unwrap_or_else(|| DEFAULT_KEY_LABEL.to_owned()),
            create_if_missing: true,
        })
    }
}

/// The PKCS#11 KEK provider.
pub struct Pkcs11Kek {
    // Sessions are not thread safe; one session, serialized.
    session: Mutex<Session>,
    key: ObjectHandle,
    id: String,
    _ctx: Pkcs11,
}

fn ck(context: &'static str) -> impl Fn(CkError) -> Error {
    // cryptoki errors carry return codes and function names, never data.
    move |e| Error::Pkcs11(format!("{context}: {e}"))
}

impl Pkcs11Kek {
    /// Loads the module, finds the token by label, logs in and finds (or
    /// generates) the AES-256 KEK.
    pub fn connect(config: &Pkcs11Config) -> Result<Pkcs11Kek> {
        let ctx = Pkcs11::new(&config.module_path).map_err(ck("loading module"))?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(ck("C_Initialize")(e)),
        }
        let mut found = None;
        for slot in ctx.get_slots_with_token().map_err(ck("listing slots"))? {
            let info = ctx.get_token_info(slot).map_err(ck("token info"))?;
            if info.label().trim_end() == config.token_label {
                found = Some(slot);
                break;
            }
        }
        let slot = found
            .ok_or_else(|| Error::Pkcs11(format!("no token labelled {:?}", config.token_label)))?;
        let session = ctx.open_rw_session(slot).map_err(ck("opening session"))?;
        match session.login(UserType::User, Some(&config.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(ck("login")(e)),
        }
        let label = config.key_label.as_bytes().to_vec();
        let search = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(label.clone()),
        ];
        let existing = session.find_objects(&search).map_err(ck("finding key"))?;
        let key = match existing.as_slice() {
            [k] => *k,
            [] if config.create_if_missing => {
                let template = [
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Label(label),
                ];
                let k = session
                    .generate_key(&Mechanism::AesKeyGen, &template)
                    .map_err(ck("generating key"))?;
                tracing::info!(token = %config.token_label, key = %config.key_label, "generated a new KEK in the token");
                k
            }
            [] => {
                return Err(Error::Pkcs11(format!(
                    "no key labelled {:?} in the token",
                    config.key_label
                )));
            }
            _ => {
                return Err(Error::Pkcs11(format!(
                    "several keys labelled {:?} in the token",
                    config.key_label
                )));
            }
        };
        // Refuse a key that could leave the token.
        let attrs = session
            .get_attributes(
                key,
                &[
                    cryptoki::object::AttributeType::Sensitive,
                    cryptoki::object::AttributeType::Extractable,
                ],
            )
            .map_err(ck("reading key attributes"))?;
        let mut sensitive = false;
        let mut extractable = true;
        for a in attrs {
            match a {
                Attribute::Sensitive(v) => sensitive = v,
                Attribute::Extractable(v) => extractable = v,
                _ => {}
            }
        }
        if !sensitive || extractable {
            return Err(Error::Pkcs11(
                "the KEK must be sensitive and non-extractable".into(),
            ));
        }
        Ok(Pkcs11Kek {
            session: Mutex::new(session),
            key,
            id: format!("pkcs11:{}/{}", config.token_label, config.key_label),
            _ctx: ctx,
        })
    }

    fn with_session<T>(&self, f: impl FnOnce(&Session) -> Result<T>) -> Result<T> {
        let guard = self.session.lock().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }

    fn wrap_sync(&self, secret: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut iv = [0u8; 12];
        getrandom::fill(&mut iv).map_err(|_| Error::Rng)?;
        let mut iv_buf = iv;
        let ct = self.with_session(|s| {
            let params =
                GcmParams::new(&mut iv_buf, aad, 128.into()).map_err(ck("GCM parameters"))?;
            s.encrypt(&Mechanism::AesGcm(params), self.key, secret)
                .map_err(ck("C_Encrypt"))
        })?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unwrap_sync(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes> {
        if wrapped.len() < 12 + 16 {
            return Err(Error::Kek {
                kek_id: self.id.clone(),
                reason: "wrapped value too short".into(),
            });
        }
        let mut iv = [0u8; 12];
        iv.copy_from_slice(&wrapped[..12]);
        self.with_session(|s| {
            let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(ck("GCM parameters"))?;
            s.decrypt(&Mechanism::AesGcm(params), self.key, &wrapped[12..])
                .map(SecretBytes::new)
                .map_err(|_| Error::Kek {
                    kek_id: self.id.clone(),
                    reason: "unwrap failed: wrong KEK, wrong context or tampered value".into(),
                })
        })
    }
}

impl Kek for Pkcs11Kek {
    fn kek_id(&self) -> &str {
        &self.id
    }

    // The token call is short and synchronous; it runs inside the future.
    fn wrap<'a>(&'a self, secret: &'a [u8], aad: &'a [u8]) -> KekFuture<'a, Vec<u8>> {
        Box::pin(async move { self.wrap_sync(secret, aad) })
    }

    fn unwrap<'a>(&'a self, wrapped: &'a [u8], aad: &'a [u8]) -> KekFuture<'a, SecretBytes> {
        Box::pin(async move { self.unwrap_sync(wrapped, aad) })
    }
}
