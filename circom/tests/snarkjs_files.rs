//! The readers against files made by the reference tools: circom 2 (the
//! `circom2` npm package) and snarkjs 0.7.6, from
//! `interop/circom/circuits/tiny.circom` by `interop/circom/make-fixtures.sh`
//! (a two-constraint circuit with a public output `c = a*b*a + b` and a
//! public input `b`; a = 3, b = 11).
#![allow(clippy::unwrap_used)]

use ark_bn254::Fr;
use ark_std::rand::{SeedableRng, rngs::StdRng};
use zkr_circom::{R1csCircuit, r1cs, to_arkworks, wtns, zkey};
use zkr_prover::Backend;
use zkr_verifier::snarkjs;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn text(name: &str) -> String {
    String::from_utf8(fixture(name)).unwrap()
}

#[test]
fn circom_r1cs_and_witness() {
    let bytes = fixture("tiny.r1cs");
    let r = r1cs::read(&bytes, "tiny.r1cs").unwrap();
    assert_eq!(
        (r.n_wires, r.n_outputs, r.n_pub_inputs, r.n_prv_inputs),
        (5, 1, 1, 1)
    );
    assert_eq!(r.constraints.len(), 2);
    // circom writes the constraints before the header; we write sections in
    // order, so compare what is read back
    assert_eq!(r1cs::read(&r1cs::write(&r).unwrap(), "again").unwrap(), r);
    let wb = fixture("tiny.wtns");
    let w = wtns::read(&wb, "tiny.wtns").unwrap();
    assert_eq!(wtns::write(&w).unwrap(), wb, "byte-identical rewrite");
    assert_eq!(
        &w[..3],
        &[Fr::from(1u64), Fr::from(110u64), Fr::from(11u64)]
    );
    assert!(r.is_satisfied(&w));
    let mut bad = w.clone();
    bad[4] += Fr::from(1u64);
    assert!(!r.is_satisfied(&bad));
}

#[test]
fn snarkjs_zkey_matches_its_r1cs_and_verification_key() {
    let zb = fixture("tiny.zkey");
    let z = zkey::read(&zb, "tiny.zkey").unwrap();
    assert!(z.contributions.is_some());
    assert_eq!(zkey::write(&z).unwrap(), zb, "byte-identical rewrite");
    let r = r1cs::read(&fixture("tiny.r1cs"), "tiny.r1cs").unwrap();
    let k = &z.key;
    assert_eq!((k.n_vars(), k.n_public, k.domain_size), (5, 2, 8));
    assert_eq!(k.domain_size, r.domain_size());
    let mut coeffs = k.coeffs.clone();
    r1cs::sort_coeffs(&mut coeffs);
    assert_eq!(
        coeffs,
        r.zkey_coeffs(),
        "coefficients decoded as snarkjs wrote them"
    );
    let vk = snarkjs::parse_vk(&text("tiny_vk.json"), "tiny_vk.json").unwrap();
    assert_eq!(k.verifying_key(), vk);
    // snarkjs's own proof verifies under the key we read
    let proof = snarkjs::parse_proof(&text("tiny_proof.json"), "tiny_proof.json").unwrap();
    let public = snarkjs::parse_public(&text("tiny_public.json"), "tiny_public.json").unwrap();
    assert!(zkr_verifier::verify(&vk, &proof, &public).unwrap());
}

#[test]
fn our_proofs_from_snarkjs_files_verify_under_snarkjs_key() {
    let z = zkey::read(&fixture("tiny.zkey"), "tiny.zkey").unwrap();
    let w = wtns::read(&fixture("tiny.wtns"), "tiny.wtns").unwrap();
    let r = r1cs::read(&fixture("tiny.r1cs"), "tiny.r1cs").unwrap();
    let vk = snarkjs::parse_vk(&text("tiny_vk.json"), "tiny_vk.json").unwrap();
    let public = &w[1..3];
    let mut rng = StdRng::seed_from_u64(9);
    // the zkey prover
    let p = zkr_prover::zkey::prove_zkey(&z.key, &w, &mut rng, Backend::Cpu).unwrap();
    assert!(zkr_verifier::verify(&vk, &p.proof, public).unwrap());
    assert!(
        !zkr_verifier::verify(&vk, &p.proof, &[public[0], public[1] + Fr::from(1u64)]).unwrap()
    );
    // the key converted to arkworks' form, on the arkworks-form prover
    let pk = to_arkworks(&z.key).unwrap();
    let c = R1csCircuit {
        r1cs: &r,
        witness: Some(&w),
    };
    let p = zkr_prover::prove(&pk, c, &mut rng, Backend::Cpu).unwrap();
    assert!(zkr_verifier::verify(&vk, &p, public).unwrap());
}

/// Every single-byte change and every truncation of a real `.zkey`, `.r1cs`
/// and `.wtns` is either read or refused with an error: never a panic.
#[test]
fn corrupted_real_files_never_panic() {
    for (name, read) in [
        (
            "tiny.zkey",
            (|b: &[u8]| zkey::read(b, "f").map(|_| ())) as fn(&[u8]) -> _,
        ),
        ("tiny.r1cs", |b: &[u8]| r1cs::read(b, "f").map(|_| ())),
        ("tiny.wtns", |b: &[u8]| wtns::read(b, "f").map(|_| ())),
    ] {
        let good = fixture(name);
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x80;
            let _ = read(&b);
            let _ = read(&good[..i]);
        }
    }
}
