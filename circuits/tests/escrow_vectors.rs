//! BabyJubJub and Poseidon-cipher vectors produced by zk-kit (and checked
//! against circomlibjs) by `interop/gen-escrow-vectors.js` drive both the
//! native code and the gadgets.
#![allow(clippy::unwrap_used)]

use ark_bn254::Fr;
use ark_r1cs_std::{fields::fp::FpVar, prelude::*};
use ark_relations::gr1cs::ConstraintSystem;
use num_bigint::BigUint;
use serde::Deserialize;
use zkr_circuits::{
    babyjubjub::{BASE8, Point, SCALAR_BITS, ecdh, scalar_bits, subgroup_order},
    babyjubjub_var::PointVar,
    field::parse_fr,
    poseidon_cipher::{decrypt, encrypt},
    poseidon_cipher_var::enforce_encryption,
};

type P = [String; 2];

#[derive(Deserialize)]
struct PointCase {
    point: P,
    in_subgroup: bool,
}
#[derive(Deserialize)]
struct AddCase {
    a: P,
    b: P,
    sum: P,
}
#[derive(Deserialize)]
struct Base8Case {
    scalar: String,
    point: P,
}
#[derive(Deserialize)]
struct MulCase {
    point: P,
    scalar: String,
    product: P,
}
#[derive(Deserialize)]
struct PackCase {
    point: P,
    packed_le_hex: String,
}
#[derive(Deserialize)]
struct EcdhCase {
    private: String,
    public: P,
    shared: P,
}
#[derive(Deserialize)]
struct BabyJubJub {
    subgroup_order: String,
    base8: P,
    points: Vec<PointCase>,
    adds: Vec<AddCase>,
    base8_mul: Vec<Base8Case>,
    mul: Vec<MulCase>,
    packed: Vec<PackCase>,
    ecdh: Vec<EcdhCase>,
}
#[derive(Deserialize)]
struct CipherCase {
    key: P,
    nonce: String,
    message: Vec<String>,
    ciphertext: Vec<String>,
}
#[derive(Deserialize)]
struct Cipher {
    cases: Vec<CipherCase>,
}

fn bjj() -> BabyJubJub {
    serde_json::from_str(include_str!("vectors/babyjubjub.json")).unwrap()
}

fn point(p: &P) -> Point {
    Point {
        x: parse_fr(&p[0]).unwrap(),
        y: parse_fr(&p[1]).unwrap(),
    }
}

fn int(s: &str) -> BigUint {
    BigUint::parse_bytes(s.as_bytes(), 10).unwrap()
}

/// Little-endian witness bits of `k`, enough for every vector scalar.
fn bits_var(cs: &ark_relations::gr1cs::ConstraintSystemRef<Fr>, k: &BigUint) -> Vec<Boolean<Fr>> {
    scalar_bits(k, SCALAR_BITS)
        .unwrap()
        .into_iter()
        .map(|b| Boolean::new_witness(cs.clone(), || Ok(b)).unwrap())
        .collect()
}

#[test]
fn curve_constants_equal_zk_kit() {
    let v = bjj();
    assert_eq!(point(&v.base8), BASE8);
    assert_eq!(&int(&v.subgroup_order), subgroup_order());
}

#[test]
fn subgroup_membership_native_and_gadget_equal_zk_kit() {
    let v = bjj();
    assert!(v.points.iter().any(|c| c.in_subgroup) && v.points.iter().any(|c| !c.in_subgroup));
    for c in &v.points {
        let p = point(&c.point);
        assert!(p.is_on_curve());
        assert_eq!(p.is_in_subgroup(), c.in_subgroup, "{:?}", c.point);
        let cs = ConstraintSystem::<Fr>::new_ref();
        let pv = PointVar::new_input(cs.clone(), || Ok(p)).unwrap();
        pv.enforce_in_subgroup().unwrap();
        assert_eq!(cs.is_satisfied().unwrap(), c.in_subgroup, "{:?}", c.point);
    }
}

#[test]
fn addition_and_doubling_native_and_gadget_equal_zk_kit() {
    for c in &bjj().adds {
        let (a, b, sum) = (point(&c.a), point(&c.b), point(&c.sum));
        assert_eq!(a.add(&b), sum);
        let cs = ConstraintSystem::<Fr>::new_ref();
        let av = PointVar::new_witness(cs.clone(), || Ok(a)).unwrap();
        let bv = PointVar::new_witness(cs.clone(), || Ok(b)).unwrap();
        assert_eq!(av.add(&bv).unwrap().value().unwrap(), sum);
        if a == b {
            assert_eq!(a.double(), sum);
            assert_eq!(av.double().unwrap().value().unwrap(), sum);
        }
        assert!(cs.is_satisfied().unwrap());
    }
}

#[test]
fn fixed_base_multiplication_native_and_gadget_equal_zk_kit() {
    for c in &bjj().base8_mul {
        let k = int(&c.scalar);
        let expected = point(&c.point);
        assert_eq!(Point::mul_base8(&k), expected, "k = {}", c.scalar);
        let cs = ConstraintSystem::<Fr>::new_ref();
        let got = PointVar::mul_base8(&bits_var(&cs, &k)).unwrap();
        assert_eq!(got.value().unwrap(), expected, "k = {}", c.scalar);
        assert!(cs.is_satisfied().unwrap());
    }
}

#[test]
fn variable_base_multiplication_native_and_gadget_equal_zk_kit() {
    for c in &bjj().mul {
        let (p, k, expected) = (point(&c.point), int(&c.scalar), point(&c.product));
        assert_eq!(p.mul(&k), expected);
        let cs = ConstraintSystem::<Fr>::new_ref();
        let pv = PointVar::new_witness(cs.clone(), || Ok(p)).unwrap();
        pv.enforce_on_curve().unwrap();
        let got = pv.scalar_mul(&bits_var(&cs, &k)).unwrap();
        assert_eq!(got.value().unwrap(), expected);
        assert!(cs.is_satisfied().unwrap());
    }
}

#[test]
fn packing_equals_zk_kit_and_circomlibjs() {
    for c in &bjj().packed {
        let p = point(&c.point);
        let packed = p.pack();
        let hex: String = packed.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, c.packed_le_hex);
        // Unpacking validates: points outside the subgroup are refused.
        match Point::unpack(&packed) {
            Ok(q) => assert_eq!(q, p),
            Err(_) => assert!(!p.is_in_subgroup()),
        }
    }
}

#[test]
fn ecdh_native_and_gadget_equal_zk_kit() {
    for c in &bjj().ecdh {
        let (k, public, shared) = (int(&c.private), point(&c.public), point(&c.shared));
        assert_eq!(ecdh(&k, &public).unwrap(), shared);
        let cs = ConstraintSystem::<Fr>::new_ref();
        let pv = PointVar::new_input(cs.clone(), || Ok(public)).unwrap();
        pv.enforce_valid().unwrap();
        let got = pv.scalar_mul(&bits_var(&cs, &k)).unwrap();
        got.enforce_not_identity().unwrap();
        assert_eq!(got.value().unwrap(), shared);
        assert!(cs.is_satisfied().unwrap());
    }
}

#[test]
fn cipher_native_and_gadget_equal_zk_kit() {
    let v: Cipher = serde_json::from_str(include_str!("vectors/poseidon_cipher.json")).unwrap();
    assert_eq!(v.cases.len(), 12);
    for c in &v.cases {
        let key = (parse_fr(&c.key[0]).unwrap(), parse_fr(&c.key[1]).unwrap());
        let nonce: u128 = c.nonce.parse().unwrap();
        let message: Vec<Fr> = c.message.iter().map(|s| parse_fr(s).unwrap()).collect();
        let ciphertext: Vec<Fr> = c.ciphertext.iter().map(|s| parse_fr(s).unwrap()).collect();
        let n = message.len();
        assert_eq!(encrypt(&message, key, nonce), ciphertext, "n = {n}");
        assert_eq!(decrypt(&ciphertext, key, nonce, n).unwrap(), message);

        let cs = ConstraintSystem::<Fr>::new_ref();
        let w = |x: Fr| FpVar::new_witness(cs.clone(), || Ok(x)).unwrap();
        let m: Vec<_> = message.iter().map(|x| w(*x)).collect();
        let (k0, k1) = (w(key.0), w(key.1));
        let nv = FpVar::new_input(cs.clone(), || Ok(Fr::from(nonce))).unwrap();
        let cv: Vec<_> = ciphertext
            .iter()
            .map(|x| FpVar::new_input(cs.clone(), || Ok(*x)).unwrap())
            .collect();
        enforce_encryption(&m, (&k0, &k1), &nv, &cv).unwrap();
        assert!(cs.is_satisfied().unwrap(), "gadget, n = {n}");
    }
}
