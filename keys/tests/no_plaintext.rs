//! Scans every file and every database row the key store wrote and finds no
//! private key and no data key in plaintext (raw or hex).
// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{SpyKek, databases, file_kek};
use sqlx::{Column, Row};
use uuid::Uuid;
use zkr_keys::dek_wrap::unwrap_dek;
use zkr_keys::{CacheConfig, KeyStore, RotationOptions, X25519PrivateKey};

fn needles(secrets: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, s) in secrets.iter().enumerate() {
        out.push((format!("secret {i} raw"), s.clone()));
        out.push((format!("secret {i} hex"), hex::encode(s).into_bytes()));
        out.push((format!("secret {i} HEX"), hex::encode_upper(s).into_bytes()));
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn scan_dir(dir: &Path, needles: &[(String, Vec<u8>)]) -> usize {
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files += scan_dir(&path, needles);
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for (what, n) in needles {
            assert!(!find(&bytes, n), "{what} found in {}", path.display());
        }
        files += 1;
    }
    files
}

#[tokio::test]
async fn no_private_key_or_dek_is_stored_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    for db in databases(dir.path(), "no_plaintext").await {
        let spy = SpyKek::new(file_kek(dir.path()));
        let pool = db.pool().await;
        let ks = KeyStore::new(pool.clone(), spy.clone(), CacheConfig::default());
        ks.create_escrow_key("escrow").await.unwrap();
        ks.create_custodial_keys(&["client-a", "client-b"])
            .await
            .unwrap();
        ks.create_signing_key("coordinator").await.unwrap();
        let own = X25519PrivateKey::generate().unwrap();
        ks.register_public_key("miner", &own.public_key())
            .await
            .unwrap();
        let mut envs = Vec::new();
        for i in 0..10u8 {
            let to = if i % 2 == 0 { "client-a" } else { "client-b" };
            envs.push(
                ks.seal(Uuid::new_v4(), [i; 32], &[i; 200], &[to, "miner", "escrow"])
                    .await
                    .unwrap(),
            );
        }
        ks.rotate(
            "client-a",
            None,
            RotationOptions {
                batch_size: 3,
                max_batches: None,
            },
        )
        .await
        .unwrap();
        ks.rotate("escrow", None, RotationOptions::default())
            .await
            .unwrap();
        ks.rotate("coordinator", None, RotationOptions::default())
            .await
            .unwrap();
        ks.sign_receipt("coordinator", &[9; 32]).await.unwrap();

        // Every private key the store generated went through the KEK: that is
        // the complete list of private keys it ever held.
        let mut secrets = spy.secrets();
        assert_eq!(secrets.len(), 1 + 2 + 1 + 1 + 1 + 1, "{}", db.name);
        // The DEKs, recovered with those keys from the stored wraps.
        let mut deks = 0;
        for env in &envs {
            for w in ks.wraps(&env.record.tx_id).await.unwrap() {
                for s in spy.secrets() {
                    let Ok(sk) = X25519PrivateKey::from_bytes(&s) else {
                        continue;
                    };
                    if let Ok(dek) = unwrap_dek(&w, &env.record.tx_id, &sk) {
                        secrets.push(dek.expose().to_vec());
                        deks += 1;
                        break;
                    }
                }
            }
        }
        assert!(deks >= 30, "recovered {deks} DEK copies");
        let ns = needles(&secrets);

        // Every row of every table.
        let mut rows_seen = 0;
        for table in ["zkr_keys", "zkr_dek_wraps", "zkr_rotations"] {
            for row in sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
                .fetch_all(&pool)
                .await
                .unwrap()
            {
                for col in row.columns() {
                    let i = col.ordinal();
                    let value: Vec<u8> = if let Ok(Some(b)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                        b
                    } else if let Ok(Some(s)) = row.try_get::<Option<String>, _>(i) {
                        s.into_bytes()
                    } else {
                        continue;
                    };
                    for (what, n) in &ns {
                        assert!(
                            !find(&value, n),
                            "{what} in {table}.{} ({})",
                            col.name(),
                            db.name
                        );
                    }
                }
                rows_seen += 1;
            }
        }
        assert!(rows_seen > 40, "{rows_seen} rows");
        pool.close().await;
        drop(ks);

        // Every file: the SQLite database with its journal files, and the KEK file.
        if db.sqlite_file.is_some() {
            let files = scan_dir(dir.path(), &ns);
            assert!(files >= 2, "scanned {files} files");
        }
    }
}
