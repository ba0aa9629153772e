//! The PKCS#11 KEK against SoftHSM2. CI (`.ci/softhsm.sh`) provides a token
//! through `ZKR_PKCS11_*` and sets `ZKR_REQUIRE_SOFTHSM=1`, so these tests
//! cannot skip there. Elsewhere: without the module they skip with a visible
//! message; with the module but no token configured they make a token in a
//! temporary directory and re-run themselves in a child process with
//! `SOFTHSM2_CONF` pointing at it.
// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use cryptoki::types::AuthPin;
use uuid::Uuid;
use zkr_keys::{Kek, Pkcs11Config, Pkcs11Kek, RotationOptions};

const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The configuration to test with, or `None` after a visible skip (or after
/// a child process ran the test).
fn config(test: &str) -> Option<Pkcs11Config> {
    if let Some(c) = Pkcs11Config::from_env() {
        return Some(c);
    }
    let required = std::env::var("ZKR_REQUIRE_SOFTHSM").as_deref() == Ok("1");
    let module = std::env::var("ZKR_PKCS11_MODULE").unwrap_or_else(|_| DEFAULT_MODULE.into());
    if !Path::new(&module).exists() {
        assert!(
            !required,
            "ZKR_REQUIRE_SOFTHSM=1 but {module} is missing (apt-get install softhsm2)"
        );
        common::skip(
            test,
            &format!(
                "PKCS#11 module {module} not found (install softhsm2, or source .ci/softhsm.sh)"
            ),
        );
        return None;
    }
    assert!(
        !required,
        "ZKR_REQUIRE_SOFTHSM=1 but ZKR_PKCS11_TOKEN_LABEL / ZKR_PKCS11_PIN are not set"
    );
    // Provision a throwaway token and run this test again in a child process.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tokens")).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.path().join("tokens").display()
        ),
    )
    .unwrap();
    let init = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "zkr-test",
            "--pin",
            "1234",
            "--so-pin",
            "5678",
        ])
        .output()
        .expect("run softhsm2-util");
    assert!(
        init.status.success(),
        "softhsm2-util: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env("ZKR_PKCS11_MODULE", &module)
        .env("ZKR_PKCS11_TOKEN_LABEL", "zkr-test")
        .env("ZKR_PKCS11_PIN", "1234")
        .env("ZKR_REQUIRE_SOFTHSM", "1")
        .output()
        .expect("re-run test");
    let out = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success() && out.contains("1 passed"),
        "child run failed:\n{out}\n{}",
        String::from_utf8_lossy(&child.stderr)
    );
    eprintln!("{test}: ran against a temporary SoftHSM2 token in a child process");
    None
}

#[tokio::test]
async fn pkcs11_kek_wraps_inside_the_token() {
    let Some(cfg) = config("pkcs11_kek_wraps_inside_the_token") else {
        return;
    };
    let kek = Pkcs11Kek::connect(&cfg).expect("connect to token");
    assert!(kek.kek_id().starts_with("pkcs11:"));
    let secret = [0x5au8; 32];
    let w1 = kek.wrap(&secret, b"ctx").await.unwrap();
    let w2 = kek.wrap(&secret, b"ctx").await.unwrap();
    assert_ne!(w1, w2, "fresh IV per wrap");
    assert_eq!(w1.len(), 12 + 32 + 16);
    assert!(!w1.windows(32).any(|w| w == secret));
    assert_eq!(kek.unwrap(&w1, b"ctx").await.unwrap().expose(), &secret);
    assert!(kek.unwrap(&w1, b"other").await.is_err(), "AAD is bound");
    let mut bad = w1.clone();
    bad[20] ^= 1;
    assert!(kek.unwrap(&bad, b"ctx").await.is_err(), "tamper detected");
    assert!(kek.unwrap(&w1[..20], b"ctx").await.is_err());

    // A second connection finds the same (persistent) key rather than making another.
    let again = Pkcs11Kek::connect(&cfg).unwrap();
    assert_eq!(again.kek_id(), kek.kek_id());
    assert_eq!(again.unwrap(&w1, b"ctx").await.unwrap().expose(), &secret);

    // Refusals: unknown token, missing key when creation is off.
    let wrong_label = Pkcs11Config {
        module_path: cfg.module_path.clone(),
        token_label: "no-such-token".into(),
        pin: AuthPin::from("1234".to_owned()),
        key_label: cfg.key_label.clone(),
        create_if_missing: true,
    };
    assert!(Pkcs11Kek::connect(&wrong_label).is_err());
    let no_key = Pkcs11Config {
        module_path: cfg.module_path.clone(),
        token_label: cfg.token_label.clone(),
        pin: AuthPin::from(std::env::var("ZKR_PKCS11_PIN").unwrap()),
        key_label: "absent-key".into(),
        create_if_missing: false,
    };
    assert!(Pkcs11Kek::connect(&no_key).is_err());

    // The key store under the HSM KEK, end to end.
    let dir = tempfile::tempdir().unwrap();
    let db = common::sqlite_db(dir.path());
    let ks = common::store(db.pool().await, Arc::new(kek));
    ks.create_escrow_key("escrow").await.unwrap();
    ks.create_custodial_key("client").await.unwrap();
    let signing = ks.create_signing_key("coordinator").await.unwrap();
    assert!(signing.kek_id.as_deref().unwrap().starts_with("pkcs11:"));
    let env = ks
        .seal(
            Uuid::new_v4(),
            [1; 32],
            b"hsm record",
            &["client", "escrow"],
        )
        .await
        .unwrap();
    assert_eq!(
        ks.open(&env, "client").await.unwrap().expose(),
        b"hsm record"
    );
    let sig = ks.sign_receipt("coordinator", &[1; 32]).await.unwrap();
    assert!(zkr_keys::store::verify_receipt_signature(
        &signing.public_key,
        &[1; 32],
        &sig.signature
    ));
    let p = ks
        .rotate("client", None, RotationOptions::default())
        .await
        .unwrap();
    assert!(p.done && p.rewrapped == 1);
    ks.retire("client", 1).await.unwrap();
    assert_eq!(
        ks.open(&env, "client").await.unwrap().expose(),
        b"hsm record"
    );
}
