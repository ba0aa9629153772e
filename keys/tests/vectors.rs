//! Known-answer tests against independent vectors: Project Wycheproof for
//! AES-256-GCM and X25519, RFC 9180 Appendix A.1 for HPKE with
//! DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256.
// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;

use aes_gcm::aead::consts::{U1, U2, U4, U6, U8, U10, U12, U15, U16, U20, U32, U64, U128, U257};
use aes_gcm::aead::{Aead, Payload, array::Array};
use aes_gcm::{AesGcm, KeyInit, aes::Aes256};
use hpke::rand_core::{TryCryptoRng, TryRng};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use hpke::{aead::AesGcm128, aead::AesGcm256, kdf::HkdfSha256, kem::X25519HkdfSha256};
use uuid::Uuid;
use wycheproof::TestResult;
use zkr_keys::dek_wrap::{hpke_aad, hpke_info, unwrap_dek};
use zkr_keys::{Error, X25519PrivateKey, X25519PublicKey};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// Runs one AES-256-GCM case with an `N`-byte nonce; `Some(verdict)` when
/// the primitive accepted the case and produced the expected bytes.
fn gcm_case<N: aes_gcm::aead::array::ArraySize>(t: &wycheproof::aead::Test) -> bool {
    let cipher = AesGcm::<Aes256, N>::new_from_slice(&t.key).unwrap();
    let nonce = Array::<u8, N>::try_from(&t.nonce[..]).unwrap();
    let mut ct_tag = t.ct.to_vec();
    ct_tag.extend_from_slice(&t.tag);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: &t.pt,
                aad: &t.aad,
            },
        )
        .unwrap();
    let opened = cipher.decrypt(
        &nonce,
        Payload {
            msg: &ct_tag,
            aad: &t.aad,
        },
    );
    match opened {
        Ok(pt) => pt == *t.pt && sealed == ct_tag,
        Err(_) => false,
    }
}

#[test]
fn wycheproof_aes_256_gcm() {
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
    let mut run = 0;
    for g in set.test_groups.iter().filter(|g| g.key_size == 256) {
        assert_eq!(g.tag_size, 128, "all 256-bit groups use full tags");
        for t in &g.tests {
            let accepted = match t.nonce.len() {
                0 => false, // GCM has no empty IV: refused before any computation
                1 => gcm_case::<U1>(t),
                2 => gcm_case::<U2>(t),
                4 => gcm_case::<U4>(t),
                6 => gcm_case::<U6>(t),
                8 => gcm_case::<U8>(t),
                10 => gcm_case::<U10>(t),
                12 => gcm_case::<U12>(t),
                15 => gcm_case::<U15>(t),
                16 => gcm_case::<U16>(t),
                20 => gcm_case::<U20>(t),
                32 => gcm_case::<U32>(t),
                64 => gcm_case::<U64>(t),
                128 => gcm_case::<U128>(t),
                257 => gcm_case::<U257>(t),
                n => panic!("tc {}: unexpected nonce length {n}", t.tc_id),
            };
            assert_eq!(
                accepted,
                !t.result.must_fail(),
                "tc {} ({})",
                t.tc_id,
                t.comment
            );
            run += 1;
        }
    }
    assert!(run >= 100, "ran {run} cases");
}

#[test]
fn wycheproof_x25519() {
    let set = wycheproof::xdh::TestSet::load(wycheproof::xdh::TestName::X25519).unwrap();
    let mut run = 0;
    let mut zero = 0;
    for g in &set.test_groups {
        for t in &g.tests {
            assert_ne!(t.result, TestResult::Invalid, "x25519 has no invalid cases");
            let sk: [u8; 32] = t.private_key[..].try_into().unwrap();
            let pk: [u8; 32] = t.public_key[..].try_into().unwrap();
            // RFC 7748 function: every case, including twist and non-canonical points.
            assert_eq!(
                x25519_dalek::x25519(sk, pk).to_vec(),
                *t.shared_secret,
                "tc {}",
                t.tc_id
            );
            let is_zero = t
                .flags
                .contains(&wycheproof::xdh::TestFlag::ZeroSharedSecret);
            assert_eq!(
                is_zero,
                t.shared_secret.iter().all(|&b| b == 0),
                "tc {}",
                t.tc_id
            );
            // Our policy: exactly the public keys that give an all-zero secret are refused,
            // both when registering a key and when HPKE meets one as `enc`.
            match X25519PublicKey::from_bytes(&pk) {
                Err(Error::LowOrderPublicKey) => assert!(is_zero, "tc {}", t.tc_id),
                Ok(_) => assert!(!is_zero, "tc {}", t.tc_id),
                Err(e) => panic!("tc {}: {e}", t.tc_id),
            }
            let hpke_pk = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(&pk).unwrap();
            let sealed = hpke::single_shot_seal::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
                &OpModeS::Base,
                &hpke_pk,
                b"info",
                b"dek",
                b"aad",
            );
            assert_eq!(sealed.is_err(), is_zero, "tc {}: HPKE encap", t.tc_id);
            if is_zero {
                zero += 1;
                let me = X25519PrivateKey::from_bytes(&sk).unwrap();
                let w = zkr_keys::WrappedDek {
                    key_id: "k".into(),
                    key_version: 1,
                    enc: pk,
                    wrapped: [0u8; 48],
                };
                assert!(
                    unwrap_dek(&w, &Uuid::nil(), &me).is_err(),
                    "tc {}: HPKE decap",
                    t.tc_id
                );
            }
            run += 1;
        }
    }
    assert!(
        run > 500 && zero > 20,
        "ran {run} cases, {zero} with zero shared secret"
    );
}

/// Hands out fixed bytes: makes HPKE's ephemeral key the RFC's `ikmE`.
struct FixedIkm(Vec<u8>);

impl TryRng for FixedIkm {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        unreachable!("only fill_bytes is used")
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        unreachable!("only fill_bytes is used")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert_eq!(dst.len(), self.0.len());
        dst.copy_from_slice(&self.0);
        Ok(())
    }
}
impl TryCryptoRng for FixedIkm {}

// RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode.
const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
const IKM_E: &str = "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234";
const PK_EM: &str = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431";
const SK_EM: &str = "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736";
const IKM_R: &str = "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037";
const PK_RM: &str = "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d";
const SK_RM: &str = "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8";
const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
const ENCRYPTIONS: [(u32, &str); 3] = [
    (
        0,
        "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a",
    ),
    (
        1,
        "af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84",
    ),
    (
        2,
        "498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518973dcc180",
    ),
];
const EXPORTS: [(&str, &str); 3] = [
    (
        "",
        "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee",
    ),
    (
        "00",
        "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5",
    ),
    (
        "54657374436f6e74657874",
        "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931",
    ),
];

/// RFC 7748 clamping. The RFC lists private keys as derived; the `hpke`
/// crate stores them clamped, which is the same X25519 scalar.
fn clamped(s: &str) -> Vec<u8> {
    let mut k = h(s);
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    k
}

#[test]
fn rfc9180_a1_base_mode_known_answers() {
    type Kem = X25519HkdfSha256;
    let (sk_e, pk_e) = Kem::derive_keypair(&h(IKM_E));
    assert_eq!(sk_e.to_bytes().to_vec(), clamped(SK_EM));
    assert_eq!(pk_e.to_bytes().to_vec(), h(PK_EM));
    let (sk_r, pk_r) = Kem::derive_keypair(&h(IKM_R));
    assert_eq!(sk_r.to_bytes().to_vec(), clamped(SK_RM));
    // The unclamped RFC key, given to this crate, is the same recipient.
    let me = X25519PrivateKey::from_bytes(&h(SK_RM)).unwrap();
    assert_eq!(me.public_key().as_bytes().to_vec(), h(PK_RM));
    assert_eq!(pk_r.to_bytes().to_vec(), h(PK_RM));

    let mut rng = FixedIkm(h(IKM_E));
    let (enc, mut sender) = hpke::setup_sender_with_rng::<AesGcm128, HkdfSha256, Kem>(
        &OpModeS::Base,
        &pk_r,
        &h(INFO),
        &mut rng,
    )
    .unwrap();
    assert_eq!(enc.to_bytes().to_vec(), h(PK_EM));
    let mut receiver =
        hpke::setup_receiver::<AesGcm128, HkdfSha256, Kem>(&OpModeR::Base, &sk_r, &enc, &h(INFO))
            .unwrap();
    for (seq, ct) in ENCRYPTIONS {
        let aad = format!("Count-{seq}");
        assert_eq!(
            sender.seal(&h(PT), aad.as_bytes()).unwrap(),
            h(ct),
            "seq {seq}"
        );
        assert_eq!(
            receiver.open(&h(ct), aad.as_bytes()).unwrap(),
            h(PT),
            "seq {seq}"
        );
    }
    for (ctx, value) in EXPORTS {
        let mut out = [0u8; 32];
        receiver.export(&h(ctx), &mut out).unwrap();
        assert_eq!(out.to_vec(), h(value));
    }
}

/// The AES-256-GCM suite shares the KEM and KDF with A.1: the same `ikmE`
/// gives the same `enc`, and what it seals the recipient key of A.1 opens.
#[test]
fn aes_256_gcm_suite_agrees_with_a1_kem_and_round_trips() {
    type Kem = X25519HkdfSha256;
    let (sk_r, pk_r) = Kem::derive_keypair(&h(IKM_R));
    let tx = Uuid::from_bytes([7; 16]);
    let info = hpke_info(&tx);
    let aad = hpke_aad("escrow", 3);
    assert_eq!(&info[..10], b"zkr/dek/v1");
    assert_eq!(&aad[..], b"escrow\x00\x00\x00\x03");
    let mut rng = FixedIkm(h(IKM_E));
    let (enc, ct) = hpke::single_shot_seal_with_rng::<AesGcm256, HkdfSha256, Kem>(
        &OpModeS::Base,
        &pk_r,
        &info,
        &[0x42; 32],
        &aad,
        &mut rng,
    )
    .unwrap();
    assert_eq!(enc.to_bytes().to_vec(), h(PK_EM));
    assert_eq!(ct.len(), 48);
    // Opened through this crate's own code path.
    let me = X25519PrivateKey::from_bytes(&h(SK_RM)).unwrap();
    let w = zkr_keys::WrappedDek {
        key_id: "escrow".into(),
        key_version: 3,
        enc: enc.to_bytes().as_slice().try_into().unwrap(),
        wrapped: ct.as_slice().try_into().unwrap(),
    };
    assert_eq!(unwrap_dek(&w, &tx, &me).unwrap().expose(), &[0x42; 32]);
    // And with AES-128-GCM the same ciphertext does not open: the suite is bound.
    let opened = hpke::single_shot_open::<AesGcm128, HkdfSha256, Kem>(
        &OpModeR::Base,
        &sk_r,
        &enc,
        &info,
        &ct,
        &aad,
    );
    assert!(opened.is_err());
}
