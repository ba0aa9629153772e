//! Envelope sealing and opening for 1 KiB records with three recipients,
//! beside the raw cost of the same primitives (three HPKE seals and one
//! AES-256-GCM encryption; one HPKE open and one decryption) in the same run.
// A benchmark that cannot set up or whose primitive fails must stop loudly.
#![allow(clippy::unwrap_used)]

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hpke::{Deserializable, Kem as _};
use hpke::{OpModeR, OpModeS, aead::AesGcm256, kdf::HkdfSha256, kem::X25519HkdfSha256};
use std::hint::black_box;
use uuid::Uuid;
use zkr_keys::{Envelope, Recipient, X25519PrivateKey};

type Kem = X25519HkdfSha256;

fn bench(c: &mut Criterion) {
    let record = vec![0xabu8; 1024];
    let tx = Uuid::new_v4();
    let hash = [7u8; 32];
    let sks: Vec<X25519PrivateKey> = (0..3)
        .map(|_| X25519PrivateKey::generate().unwrap())
        .collect();
    let recipients: Vec<Recipient> = sks
        .iter()
        .enumerate()
        .map(|(i, sk)| Recipient {
            key_id: format!("party-{i}"),
            key_version: 1,
            public_key: sk.public_key(),
        })
        .collect();
    let sealed = Envelope::seal(tx, hash, &record, &recipients).unwrap();
    let bytes = sealed.to_bytes().unwrap();

    // Raw primitives, same keys and sizes.
    let hpke_pks: Vec<_> = sks
        .iter()
        .map(|sk| <Kem as hpke::Kem>::PublicKey::from_bytes(sk.public_key().as_bytes()).unwrap())
        .collect();
    let (hpke_sk, hpke_pk) = Kem::derive_keypair(&[1u8; 32]);
    let dek = [9u8; 32];
    let aes = Aes256Gcm::new_from_slice(&dek).unwrap();
    let nonce = Nonce::from([3u8; 12]);
    let ct = aes
        .encrypt(
            &nonce,
            Payload {
                msg: &record,
                aad: b"aad",
            },
        )
        .unwrap();
    let (enc, wrapped) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem>(
        &OpModeS::Base,
        &hpke_pk,
        b"info",
        &dek,
        b"aad",
    )
    .unwrap();

    let mut g = c.benchmark_group("envelope_1KiB_3_recipients");
    g.throughput(Throughput::Bytes(record.len() as u64));
    g.bench_function("seal/envelope", |b| {
        b.iter(|| Envelope::seal(tx, hash, black_box(&record), &recipients).unwrap())
    });
    g.bench_function("seal/envelope+serialize", |b| {
        b.iter(|| {
            Envelope::seal(tx, hash, black_box(&record), &recipients)
                .unwrap()
                .to_bytes()
                .unwrap()
        })
    });
    g.bench_function("seal/raw_3xhpke+aesgcm", |b| {
        b.iter(|| {
            let ct = aes
                .encrypt(
                    &nonce,
                    Payload {
                        msg: black_box(&record),
                        aad: b"aad",
                    },
                )
                .unwrap();
            let wraps: Vec<_> = hpke_pks
                .iter()
                .map(|pk| {
                    hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem>(
                        &OpModeS::Base,
                        pk,
                        b"info",
                        &dek,
                        b"aad",
                    )
                    .unwrap()
                })
                .collect();
            (ct, wraps)
        })
    });
    g.bench_function("open/envelope", |b| {
        b.iter(|| {
            let env = Envelope::from_bytes(black_box(&bytes)).unwrap();
            env.open("party-1", 1, &sks[1]).unwrap()
        })
    });
    g.bench_function("open/raw_hpke+aesgcm", |b| {
        b.iter(|| {
            let dek = hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(
                &OpModeR::Base,
                &hpke_sk,
                &enc,
                b"info",
                black_box(&wrapped),
                b"aad",
            )
            .unwrap();
            let aes = Aes256Gcm::new_from_slice(&dek).unwrap();
            aes.decrypt(
                &nonce,
                Payload {
                    msg: black_box(&ct),
                    aad: b"aad",
                },
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
