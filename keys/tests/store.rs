//! The key store end to end, on SQLite and (when configured) PostgreSQL:
//! registration, custodial keys, sealing and opening, signing, rotation with
//! re-wrap, retirement and a resumed rotation.
// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{SpyKek, databases, file_kek, store};
use uuid::Uuid;
use zkr_keys::store::verify_receipt_signature;
use zkr_keys::{
    CacheConfig, Envelope, Error, KeyStatus, KeyStore, RotationOptions, SealRequest,
    X25519PrivateKey,
};

fn rh(i: u8) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[31] = i;
    h
}

#[tokio::test]
async fn seal_and_open_for_every_kind_of_recipient() {
    let dir = tempfile::tempdir().unwrap();
    for db in databases(dir.path(), "seal_and_open").await {
        let ks = store(db.pool().await, file_kek(dir.path()));
        let client = ks.create_custodial_key("client-1").await.unwrap();
        assert_eq!((client.version, client.status), (1, KeyStatus::Active));
        ks.create_escrow_key("escrow").await.unwrap();
        // A miner that keeps its own private key registers only the public key.
        let miner_sk = X25519PrivateKey::generate().unwrap();
        ks.register_public_key("miner-1", &miner_sk.public_key())
            .await
            .unwrap();

        let tx = Uuid::new_v4();
        let env = ks
            .seal(tx, rh(1), b"record one", &["client-1", "miner-1", "escrow"])
            .await
            .unwrap();
        assert_eq!(env.wraps.len(), 3);
        assert_eq!(
            ks.open(&env, "client-1").await.unwrap().expose(),
            b"record one"
        );
        assert_eq!(
            ks.open(&env, "escrow").await.unwrap().expose(),
            b"record one"
        );
        // The service cannot open the miner's copy; the miner can, from bytes alone.
        assert!(matches!(
            ks.open(&env, "miner-1").await,
            Err(Error::NoPrivateKey { .. })
        ));
        let bytes = ks
            .envelope(env.record.clone())
            .await
            .unwrap()
            .to_bytes()
            .unwrap();
        let theirs = Envelope::from_bytes(&bytes).unwrap();
        assert_eq!(
            theirs.open("miner-1", 1, &miner_sk).unwrap().expose(),
            b"record one"
        );

        // Duplicates are refused, and a batch is all or nothing.
        assert!(matches!(
            ks.create_custodial_key("client-1").await,
            Err(Error::KeyExists(_))
        ));
        assert!(
            ks.create_custodial_keys(&["client-2", "client-1"])
                .await
                .is_err()
        );
        assert!(
            ks.versions("client-2").await.is_err(),
            "{}: batch not rolled back",
            db.name
        );
        // Signing keys are not recipients; unknown keys are errors.
        ks.create_signing_key("coordinator").await.unwrap();
        assert!(ks.seal(tx, rh(1), b"x", &["coordinator"]).await.is_err());
        assert!(ks.seal(tx, rh(1), b"x", &["nobody"]).await.is_err());
        // Forgetting a record's wraps makes it unopenable.
        assert_eq!(ks.forget_record(&tx).await.unwrap(), 3);
        let bare = Envelope {
            record: env.record.clone(),
            wraps: vec![],
        };
        assert!(ks.open(&bare, "escrow").await.is_err());
    }
}

#[tokio::test]
async fn batches_seal_many_and_register_many() {
    let dir = tempfile::tempdir().unwrap();
    for db in databases(dir.path(), "batches").await {
        let ks = store(db.pool().await, file_kek(dir.path()));
        let sks: Vec<_> = (0..5)
            .map(|_| X25519PrivateKey::generate().unwrap())
            .collect();
        let pks: Vec<_> = sks.iter().map(|s| s.public_key()).collect();
        let ids: Vec<String> = (0..5).map(|i| format!("client-{i}")).collect();
        let pairs: Vec<(&str, &zkr_keys::X25519PublicKey)> =
            ids.iter().map(String::as_str).zip(pks.iter()).collect();
        assert_eq!(ks.register_public_keys(&pairs).await.unwrap().len(), 5);
        ks.create_escrow_key("escrow").await.unwrap();
        let plaintexts: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 100]).collect();
        let rec: Vec<[&str; 1]> = (0..20usize).map(|i| [ids[i % 5].as_str()]).collect();
        let reqs: Vec<_> = (0..20usize)
            .map(|i| SealRequest {
                tx_id: Uuid::new_v4(),
                receipt_hash: rh(i as u8),
                plaintext: &plaintexts[i],
                recipients: &rec[i],
            })
            .collect();
        let envs = ks.seal_many(&reqs).await.unwrap();
        for (i, env) in envs.iter().enumerate() {
            assert_eq!(
                env.open(&ids[i % 5], 1, &sks[i % 5]).unwrap().expose(),
                &plaintexts[i][..]
            );
            assert_eq!(ks.wraps(&env.record.tx_id).await.unwrap().len(), 1);
        }
        let _ = db.name;
    }
}

#[tokio::test]
async fn signing_key_signs_and_rotates() {
    let dir = tempfile::tempdir().unwrap();
    for db in databases(dir.path(), "signing").await {
        let ks = store(db.pool().await, file_kek(dir.path()));
        let v1 = ks.create_signing_key("coordinator").await.unwrap();
        let sig = ks.sign_receipt("coordinator", &rh(9)).await.unwrap();
        assert_eq!(sig.key_version, 1);
        assert!(verify_receipt_signature(
            &v1.public_key,
            &rh(9),
            &sig.signature
        ));
        assert!(!verify_receipt_signature(
            &v1.public_key,
            &rh(8),
            &sig.signature
        ));
        let p = ks
            .rotate("coordinator", None, RotationOptions::default())
            .await
            .unwrap();
        assert!(p.done);
        let v2 = ks.active("coordinator").await.unwrap();
        assert_eq!(v2.version, 2);
        let sig2 = ks.sign_receipt("coordinator", &rh(9)).await.unwrap();
        assert_eq!(sig2.key_version, 2);
        assert!(verify_receipt_signature(
            &v2.public_key,
            &rh(9),
            &sig2.signature
        ));
        assert_eq!(
            ks.key("coordinator", 1).await.unwrap().status,
            KeyStatus::DecryptOnly
        );
        // X25519 keys do not sign.
        ks.create_escrow_key("escrow").await.unwrap();
        assert!(ks.sign_receipt("escrow", &rh(1)).await.is_err());
        let _ = db.name;
    }
}

#[tokio::test]
async fn rotation_rewraps_and_retirement_refuses_old_versions() {
    let dir = tempfile::tempdir().unwrap();
    for db in databases(dir.path(), "rotation").await {
        let ks = store(db.pool().await, file_kek(dir.path()));
        ks.create_custodial_key("client").await.unwrap();
        ks.create_escrow_key("escrow").await.unwrap();
        let miner_v1 = X25519PrivateKey::generate().unwrap();
        ks.register_public_key("miner", &miner_v1.public_key())
            .await
            .unwrap();
        let mut envs = Vec::new();
        for i in 0..13u8 {
            let env = ks
                .seal(
                    Uuid::new_v4(),
                    rh(i),
                    &[i; 64],
                    &["client", "miner", "escrow"],
                )
                .await
                .unwrap();
            envs.push(env);
        }
        let client_v1 = ks.key("client", 1).await.unwrap();
        // A record wrapped only to client v1 and never stored in the key store.
        let v1_only = Envelope::seal(
            Uuid::new_v4(),
            rh(99),
            b"v1 only",
            &[client_v1.recipient().unwrap()],
        )
        .unwrap();

        let opts = RotationOptions {
            batch_size: 4,
            max_batches: None,
        };
        let p = ks.rotate("client", None, opts).await.unwrap();
        assert_eq!(
            (p.to_version, p.rewrapped, p.skipped, p.done),
            (2, 13, 0, true),
            "{}",
            db.name
        );
        assert_eq!(
            ks.key("client", 1).await.unwrap().status,
            KeyStatus::DecryptOnly
        );
        assert!(ks.key("client", 1).await.unwrap().rotated_at.is_some());
        // Ciphertexts untouched; old and new versions both open.
        for (i, env) in envs.iter().enumerate() {
            let current = ks.envelope(env.record.clone()).await.unwrap();
            assert_eq!(current.record, env.record);
            assert!(current.wrap_for("client", 2).is_some());
            assert!(current.wrap_for("client", 1).is_some());
            assert_eq!(
                ks.open(env, "client").await.unwrap().expose(),
                &[i as u8; 64][..]
            );
        }
        assert_eq!(
            ks.open(&v1_only, "client").await.unwrap().expose(),
            b"v1 only"
        );
        assert_eq!(
            ks.open_unstored(&v1_only, "client").await.unwrap().expose(),
            b"v1 only"
        );
        // Unstored, an envelope opens from its own wraps only: the stored
        // v2 copy that `open` finds is not used, so a forged v2 copy fails.
        let mut forged = ks.envelope(envs[0].record.clone()).await.unwrap();
        forged
            .wraps
            .retain(|w| w.key_id == "client" && w.key_version == 2);
        for w in forged.wraps.iter_mut() {
            w.wrapped[0] ^= 1;
        }
        assert!(ks.open_unstored(&forged, "client").await.is_err());
        assert_eq!(
            ks.open(&forged, "client").await.unwrap().expose(),
            &[0u8; 64][..]
        );
        // A tampered v2 copy in a supplied envelope does not hide the stored one.
        let mut forged = ks.envelope(envs[0].record.clone()).await.unwrap();
        for w in forged.wraps.iter_mut().filter(|w| w.key_id == "client") {
            w.wrapped[0] ^= 1;
        }
        assert_eq!(
            ks.open(&forged, "client").await.unwrap().expose(),
            &[0u8; 64][..]
        );
        // A tampered record with authentic wraps is an error.
        let mut bad = envs[0].clone();
        bad.record.ciphertext[3] ^= 1;
        assert!(matches!(ks.open(&bad, "client").await, Err(Error::Decrypt)));

        // A registered key rotates to its owner's new public key; the DEKs
        // are recovered through the escrow copy, inside this process.
        let miner_v2 = X25519PrivateKey::generate().unwrap();
        let p = ks
            .rotate("miner", Some(&miner_v2.public_key()), opts)
            .await
            .unwrap();
        assert_eq!((p.rewrapped, p.done), (13, true));
        for (i, env) in envs.iter().enumerate() {
            let bytes = ks
                .envelope(env.record.clone())
                .await
                .unwrap()
                .to_bytes()
                .unwrap();
            let theirs = Envelope::from_bytes(&bytes).unwrap();
            assert_eq!(
                theirs.open("miner", 2, &miner_v2).unwrap().expose(),
                &[i as u8; 64][..]
            );
        }
        assert!(
            ks.rotate("miner", None, opts).await.is_err(),
            "registered key needs a public key"
        );

        // Retire v1: records rotated to v2 still open; a v1-only wrap is refused clearly.
        assert!(
            ks.retire("client", 2).await.is_err(),
            "active version cannot be retired"
        );
        ks.retire("client", 1).await.unwrap();
        for env in &envs {
            assert!(ks.open(env, "client").await.is_ok());
        }
        match ks.open(&v1_only, "client").await {
            Err(Error::KeyRetired { key_id, version }) => {
                assert_eq!((key_id.as_str(), version), ("client", 1))
            }
            other => panic!("expected KeyRetired, got {:?}", other.map(|_| ())),
        }
        // Retirement is seen at once by another node whose cache holds the key.
        let other_node = store(db.pool().await, file_kek(dir.path()));
        ks.create_custodial_key("client-x").await.unwrap();
        let env_x = ks
            .seal(Uuid::new_v4(), rh(5), b"x", &["client-x"])
            .await
            .unwrap();
        assert!(other_node.open(&env_x, "client-x").await.is_ok());
        other_node.rotate("client-x", None, opts).await.unwrap();
        ks.forget_record(&env_x.record.tx_id).await.unwrap();
        ks.retire("client-x", 1).await.unwrap();
        assert!(matches!(
            other_node.open(&env_x, "client-x").await,
            Err(Error::KeyRetired { .. })
        ));
        // New seals use v2 only.
        let env = ks
            .seal(Uuid::new_v4(), rh(1), b"new", &["client"])
            .await
            .unwrap();
        assert_eq!(env.wraps[0].key_version, 2);
    }
}

#[tokio::test]
async fn interrupted_rotation_resumes_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for db in databases(dir.path(), "resume").await {
        let n = 30u8;
        let mut records = Vec::new();
        {
            let ks = store(db.pool().await, file_kek(dir.path()));
            ks.create_escrow_key("escrow").await.unwrap();
            ks.create_custodial_key("client").await.unwrap();
            for i in 0..n {
                let env = ks
                    .seal(Uuid::new_v4(), rh(i), &[i; 32], &["client", "escrow"])
                    .await
                    .unwrap();
                records.push(env.record);
            }
            // Killed after two batches of four.
            let p = ks
                .rotate(
                    "escrow",
                    None,
                    RotationOptions {
                        batch_size: 4,
                        max_batches: Some(2),
                    },
                )
                .await
                .unwrap();
            assert_eq!((p.rewrapped, p.done), (8, false));
            // While it is unfinished: no second rotation, no retirement.
            assert!(ks.start_rotation("escrow", None).await.is_err());
            assert!(ks.retire("escrow", 1).await.is_err());
            ks.pool().close().await;
        }
        // A new process: new pool, new store, same database and KEK file.
        let ks = store(db.pool().await, file_kek(dir.path()));
        let status = ks.rotation_status("escrow").await.unwrap().unwrap();
        assert_eq!((status.rewrapped, status.done), (8, false));
        let p = ks
            .run_rotation(
                "escrow",
                RotationOptions {
                    batch_size: 4,
                    max_batches: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (p.to_version, p.rewrapped, p.skipped, p.done),
            (2, n as u64, 0, true),
            "{}",
            db.name
        );
        ks.retire("escrow", 1).await.unwrap();
        for (i, record) in records.into_iter().enumerate() {
            let env = ks.envelope(record).await.unwrap();
            assert_eq!(
                env.wraps
                    .iter()
                    .filter(|w| w.key_id == "escrow" && w.key_version == 2)
                    .count(),
                1
            );
            assert_eq!(
                ks.open(&env, "escrow").await.unwrap().expose(),
                &[i as u8; 32][..]
            );
        }
        // Running it again is a no-op.
        let again = ks
            .run_rotation("escrow", RotationOptions::default())
            .await
            .unwrap();
        assert_eq!(again.rewrapped, n as u64);
    }
}

#[tokio::test]
async fn unwrapped_keys_are_cached_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::sqlite_db(dir.path());
    let spy = SpyKek::new(file_kek(dir.path()));
    let ks = KeyStore::new(
        db.pool().await,
        spy.clone(),
        CacheConfig {
            max_entries: 1,
            ttl: std::time::Duration::from_secs(60),
        },
    );
    ks.create_escrow_key("escrow").await.unwrap();
    ks.create_custodial_key("client").await.unwrap();
    let env = ks
        .seal(Uuid::new_v4(), rh(1), b"r", &["client", "escrow"])
        .await
        .unwrap();
    for _ in 0..5 {
        ks.open(&env, "escrow").await.unwrap();
    }
    assert_eq!(spy.unwrap_count(), 1, "one KEK call for five opens");
    ks.open(&env, "client").await.unwrap();
    ks.open(&env, "escrow").await.unwrap();
    assert_eq!(spy.unwrap_count(), 3, "a cache of one entry evicts");
    let _: Arc<dyn zkr_keys::Kek> = spy;
}

#[tokio::test]
async fn a_store_with_another_kek_refuses_to_unwrap() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let db = common::sqlite_db(dir.path());
    let ks = store(db.pool().await, file_kek(dir.path()));
    ks.create_escrow_key("escrow").await.unwrap();
    let env = ks
        .seal(Uuid::new_v4(), rh(1), b"r", &["escrow"])
        .await
        .unwrap();
    let wrong = store(db.pool().await, file_kek(other.path()));
    assert!(matches!(
        wrong.open(&env, "escrow").await,
        Err(Error::Kek { .. })
    ));
}

/// The service runs these on a multi-threaded runtime behind `Arc<KeyStore>`:
/// the store must be `Send + Sync` and its futures `Send`.
#[allow(dead_code)]
fn futures_are_send(ks: Arc<KeyStore>, env: Envelope) {
    fn send<T: Send>(_: T) {}
    fn shared<T: Send + Sync>(_: &T) {}
    shared(&ks);
    send(async move {
        let _ = ks.seal(Uuid::nil(), [0; 32], b"", &["a"]).await;
        let _ = ks.open(&env, "a").await;
        let _ = ks.sign_receipt("c", &[0; 32]).await;
        let _ = ks.rotate("a", None, RotationOptions::default()).await;
        let _ = ks.create_custodial_key("b").await;
    });
}
