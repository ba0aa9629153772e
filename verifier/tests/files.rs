//! Round trips and hostile inputs for every reader of outside bytes.
#![allow(clippy::unwrap_used)]

use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{Field, PrimeField};
use ark_groth16::{Groth16, Proof, ProvingKey};
use ark_std::rand::{SeedableRng, rngs::StdRng};
use num_bigint::BigUint;
use std::sync::OnceLock;
use zkr_circuits::{CircuitKind, circuits::RangeCircuit};
use zkr_verifier::{
    Error, binary,
    snarkjs::{ProofJson, VerificationKeyJson, parse_proof, parse_public, parse_vk, public_json},
    verify,
};

struct Fixture {
    pk: ProvingKey<Bn254>,
    proof: Proof<Bn254>,
    public: Vec<Fr>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(7);
        let blank = CircuitKind::Range.blank(0).unwrap();
        let pk =
            Groth16::<Bn254>::generate_random_parameters_with_reduction(blank, &mut rng).unwrap();
        let c = RangeCircuit::new(50, Fr::from(3u64), 10, 100).unwrap();
        let public = c.public_inputs();
        let proof = Groth16::<Bn254>::create_random_proof_with_reduction(c, &pk, &mut rng).unwrap();
        Fixture { pk, proof, public }
    })
}

fn q_decimal() -> String {
    let q: BigUint = Fq::MODULUS.into();
    q.to_string()
}

#[test]
fn json_round_trips_and_verifies() {
    let f = fixture();
    let vk_json = serde_json::to_string(&VerificationKeyJson::from_vk(&f.pk.vk)).unwrap();
    let proof_json = serde_json::to_string(&ProofJson::from_proof(&f.proof)).unwrap();
    let public = serde_json::to_string(&public_json(&f.public)).unwrap();
    let vk = parse_vk(&vk_json, "vk.json").unwrap();
    assert_eq!(vk, f.pk.vk);
    let proof = parse_proof(&proof_json, "proof.json").unwrap();
    assert_eq!(proof, f.proof);
    let inputs = parse_public(&public, "public.json").unwrap();
    assert!(verify(&vk, &proof, &inputs).unwrap());
}

#[test]
fn false_proofs_are_ok_false() {
    let f = fixture();
    let mut wrong = f.public.clone();
    wrong[1] += Fr::ONE;
    assert!(!verify(&f.pk.vk, &f.proof, &wrong).unwrap());
    let mut p = f.proof.clone();
    p.a = (p.a + G1Affine::generator()).into();
    assert!(!verify(&f.pk.vk, &p, &f.public).unwrap());
}

#[test]
fn input_count_must_match_the_key() {
    let f = fixture();
    let mut extra = f.public.clone();
    extra.push(Fr::ONE);
    assert!(matches!(
        verify(&f.pk.vk, &f.proof, &extra),
        Err(Error::Mismatch(_))
    ));
    assert!(matches!(
        verify(&f.pk.vk, &f.proof, &f.public[..2]),
        Err(Error::Mismatch(_))
    ));
}

#[test]
fn malformed_proof_json_names_file_and_field() {
    let f = fixture();
    let good = ProofJson::from_proof(&f.proof);

    let mut j = good.clone();
    j.pi_a[0] = q_decimal();
    let e = j.to_proof("proof.json").unwrap_err().to_string();
    assert!(
        e.contains("proof.json") && e.contains("pi_a[0]") && e.contains("canonical"),
        "{e}"
    );

    let mut j = good.clone();
    j.pi_a[1] = "5".into();
    let e = j.to_proof("proof.json").unwrap_err().to_string();
    assert!(
        e.contains("pi_a") && e.contains("not on the BN254 G1 curve"),
        "{e}"
    );

    let mut j = good.clone();
    j.pi_c.pop();
    assert!(j.to_proof("proof.json").is_err());

    let mut j = good.clone();
    j.pi_b[0][0] = "-1".into();
    assert!(j.to_proof("proof.json").is_err());

    let mut j = good.clone();
    j.pi_a[2] = "2".into();
    assert!(j.to_proof("proof.json").is_err());

    let mut j = good.clone();
    j.protocol = "plonk".into();
    assert!(
        j.to_proof("proof.json")
            .unwrap_err()
            .to_string()
            .contains("protocol")
    );

    for bad in ["", "{", "[]", "{\"pi_a\": 1}", "null"] {
        assert!(parse_proof(bad, "proof.json").is_err(), "{bad:?}");
    }
}

#[test]
fn g2_points_outside_the_subgroup_are_refused() {
    // A point on the twist curve that is not in the order-r subgroup: the
    // twist's cofactor is large, so a point found from a small x is almost
    // surely outside it (checked below).
    let mut x = Fq2::new(Fq::from(1u64), Fq::from(0u64));
    let p = loop {
        if let Some(p) = G2Affine::get_point_from_x_unchecked(x, false) {
            break p;
        }
        x += Fq2::ONE;
    };
    assert!(p.is_on_curve() && !p.is_in_correct_subgroup_assuming_on_curve());
    let f = fixture();
    let mut j = ProofJson::from_proof(&f.proof);
    let (px, py) = p.xy().unwrap();
    j.pi_b = vec![
        vec![px.c0.to_string(), px.c1.to_string()],
        vec![py.c0.to_string(), py.c1.to_string()],
        vec!["1".into(), "0".into()],
    ];
    let e = j.to_proof("proof.json").unwrap_err().to_string();
    assert!(e.contains("not in the G2 subgroup"), "{e}");
}

#[test]
fn malformed_vk_json_is_refused() {
    let f = fixture();
    let good = VerificationKeyJson::from_vk(&f.pk.vk);
    let mut j = good.clone();
    j.n_public += 1;
    assert!(
        j.to_vk("vk.json")
            .unwrap_err()
            .to_string()
            .contains("nPublic")
    );
    let mut j = good.clone();
    j.ic.clear();
    j.n_public = 0;
    assert!(j.to_vk("vk.json").is_err());
    let mut j = good.clone();
    j.ic[2][0] = "1".into();
    let e = j.to_vk("vk.json").unwrap_err().to_string();
    assert!(e.contains("IC[2]"), "{e}");
    let mut j = good.clone();
    j.curve = "bls12-381".into();
    assert!(j.to_vk("vk.json").is_err());
}

#[test]
fn public_inputs_must_be_canonical() {
    let r: BigUint = Fr::MODULUS.into();
    assert!(parse_public(&format!("[\"{r}\"]"), "public.json").is_err());
    assert!(parse_public("[\"01\"]", "public.json").is_err());
    assert!(parse_public("[1]", "public.json").is_err());
    assert!(parse_public("{}", "public.json").is_err());
    let e = parse_public("[\"1\", \"x\"]", "public.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("public.json") && e.contains("[1]"), "{e}");
}

#[test]
fn binary_forms_round_trip_and_refuse_garbage() {
    let f = fixture();
    let vk_bytes = binary::verifying_key_to_bytes(&f.pk.vk);
    assert_eq!(
        binary::verifying_key_from_bytes(&vk_bytes, "vk.bin").unwrap(),
        f.pk.vk
    );
    let pk_bytes = binary::proving_key_to_bytes(&f.pk);
    assert_eq!(
        binary::proving_key_from_bytes(&pk_bytes, "pk.bin")
            .unwrap()
            .vk,
        f.pk.vk
    );
    let proof_bytes = binary::proof_to_bytes(&f.proof);
    assert_eq!(
        binary::proof_from_bytes(&proof_bytes, "p.bin").unwrap(),
        f.proof
    );

    // truncated, trailing bytes, flipped bits
    assert!(binary::verifying_key_from_bytes(&vk_bytes[..vk_bytes.len() - 1], "vk.bin").is_err());
    let mut t = vk_bytes.clone();
    t.push(0);
    assert!(
        binary::verifying_key_from_bytes(&t, "vk.bin")
            .unwrap_err()
            .to_string()
            .contains("trailing")
    );
    let mut t = proof_bytes.clone();
    t[5] ^= 0x40;
    // a flipped bit either leaves the curve or changes the point: never a panic,
    // and never the same proof
    if let Ok(p) = binary::proof_from_bytes(&t, "p.bin") {
        assert_ne!(p, f.proof);
    }
    assert!(binary::proof_from_bytes(&[0xff; 128], "p.bin").is_err());
    assert!(binary::proof_from_bytes(&[], "p.bin").is_err());
}

/// rapidsnark writes `proof.json` without `curve`; snarkjs verifies it, so
/// must we. A `curve` that is present must still name BN254.
#[test]
fn proof_without_curve_tag_is_accepted_and_a_wrong_tag_is_not() {
    let f = fixture();
    let mut v = serde_json::to_value(ProofJson::from_proof(&f.proof)).unwrap();
    assert_eq!(v["curve"], "bn128");
    v.as_object_mut().unwrap().remove("curve");
    let proof = parse_proof(&v.to_string(), "proof.json").unwrap();
    assert_eq!(proof, f.proof);
    let vk = parse_vk(
        &serde_json::to_string(&VerificationKeyJson::from_vk(&f.pk.vk)).unwrap(),
        "vk.json",
    )
    .unwrap();
    assert!(verify(&vk, &proof, &f.public).unwrap());
    for wrong in ["bls12-381", "", "BN128"] {
        v["curve"] = wrong.into();
        let e = parse_proof(&v.to_string(), "proof.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("curve"), "{wrong}: {e}");
    }
    v["curve"] = serde_json::Value::Null;
    assert!(parse_proof(&v.to_string(), "proof.json").is_ok());
}
