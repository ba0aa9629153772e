//! The escrow gadgets as a prover could abuse them: satisfied cases,
//! tampered witnesses and inputs that must fail, and the constraint count of
//! each part of the escrow statement.
//!
//! `every_witness_is_bound` changes each witness of a satisfied system in
//! turn and requires the system to become unsatisfied: a constraint that is
//! missing leaves some witness free, and that test goes red.
#![allow(clippy::unwrap_used)]

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field};
use ark_r1cs_std::{fields::fp::FpVar, prelude::*};
use ark_relations::gr1cs::{ConstraintSystem, ConstraintSystemRef};
use num_bigint::BigUint;
use zkr_circuits::{
    babyjubjub::{A, BASE8, Point, SCALAR_BITS, scalar_bits, subgroup_order},
    babyjubjub_var::{PointVar, enforce_scalar_below_l},
    poseidon_cipher::encrypt,
    poseidon_cipher_var::{encrypt_var, enforce_encryption},
};

fn big(k: u64) -> BigUint {
    BigUint::from(k)
}

/// circomlib's generator of the whole group (order 8*l).
fn generator() -> Point {
    Point {
        x: "995203441582195749578291179787384436505546430278305826713579947235728471134"
            .parse()
            .unwrap(),
        y: "5472060717959818805561601436314318772137091100104008585924551046643952123905"
            .parse()
            .unwrap(),
    }
}

/// Points on the curve outside the subgroup, and the identity.
fn bad_points() -> Vec<(&'static str, Point)> {
    let t8 = generator().mul(subgroup_order());
    let t2 = Point {
        x: Fr::ZERO,
        y: -Fr::ONE,
    };
    let p = BASE8.mul(&big(977));
    vec![
        ("identity", Point::IDENTITY),
        ("order 2", t2),
        (
            "order 4",
            t8.double().double().double().neg().add(&t8.double()),
        ),
        ("order 8", t8),
        ("order 8l", generator()),
        ("subgroup + order 8", p.add(&t8)),
        (
            "off the curve",
            Point {
                x: p.x,
                y: p.y + Fr::ONE,
            },
        ),
        (
            "off the curve, x = 0",
            Point {
                x: Fr::ZERO,
                y: Fr::from(2u64),
            },
        ),
    ]
}

fn bits(cs: &ConstraintSystemRef<Fr>, k: &BigUint) -> Vec<Boolean<Fr>> {
    bits_n(cs, k, SCALAR_BITS)
}

fn bits_n(cs: &ConstraintSystemRef<Fr>, k: &BigUint, n: usize) -> Vec<Boolean<Fr>> {
    scalar_bits(k, n)
        .unwrap()
        .into_iter()
        .map(|b| Boolean::new_witness(cs.clone(), || Ok(b)).unwrap())
        .collect()
}

/// The witnesses of a satisfied system that can be changed, one at a
/// time, without making it unsatisfied.
fn free_witnesses(cs: &ConstraintSystemRef<Fr>) -> Vec<usize> {
    finalize(cs);
    assert!(cs.is_satisfied().unwrap());
    let n = cs.num_witness_variables();
    assert!(n > 0);
    (0..n)
        .filter(|&i| {
            let old = set_witness(cs, i, None);
            let free = cs.is_satisfied().unwrap();
            set_witness(cs, i, Some(old));
            free
        })
        .collect()
}

/// Inlines the linear combinations and drops their cached values, so that
/// the satisfaction check evaluates them from the (changed) witnesses.
fn finalize(cs: &ConstraintSystemRef<Fr>) {
    cs.finalize();
    cs.borrow_mut().unwrap().assignments.lc_assignment.clear();
}

/// Sets witness `i` (to its value plus one when `value` is `None`) and
/// returns the old value.
fn set_witness(cs: &ConstraintSystemRef<Fr>, i: usize, value: Option<Fr>) -> Fr {
    let mut inner = cs.borrow_mut().unwrap();
    let w = &mut inner.assignments.witness_assignment;
    let old = w[i];
    w[i] = value.unwrap_or(old + Fr::ONE);
    old
}

/// Requires the system to be satisfied, and unsatisfied after any one
/// witness is changed.
fn every_witness_is_bound(cs: &ConstraintSystemRef<Fr>) {
    assert_eq!(
        free_witnesses(cs),
        Vec::<usize>::new(),
        "witnesses not bound by any constraint"
    );
}

#[test]
fn the_tamper_check_finds_a_free_witness() {
    let cs = ConstraintSystem::<Fr>::new_ref();
    let a = FpVar::new_witness(cs.clone(), || Ok(Fr::from(3u64))).unwrap();
    let _free = FpVar::new_witness(cs.clone(), || Ok(Fr::from(4u64))).unwrap();
    a.square()
        .unwrap()
        .enforce_equal(&FpVar::Constant(Fr::from(9u64)))
        .unwrap();
    assert_eq!(free_witnesses(&cs), vec![1]);
}

#[test]
fn valid_points_pass_and_every_other_point_fails() {
    for k in [1u64, 2, 977, 1 << 40] {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let p = PointVar::new_input(cs.clone(), || Ok(BASE8.mul(&big(k)))).unwrap();
        p.enforce_valid().unwrap();
        every_witness_is_bound(&cs);
    }
    for (what, bad) in bad_points() {
        assert!(bad.validate().is_err(), "native accepted {what}");
        let cs = ConstraintSystem::<Fr>::new_ref();
        let p = PointVar::new_input(cs.clone(), || Ok(bad)).unwrap();
        p.enforce_valid().unwrap();
        assert!(!cs.is_satisfied().unwrap(), "gadget accepted {what}");
    }
}

/// `2*q` by the dedicated doubling formula, which agrees with the sum
/// `q + q` only on the curve.
fn formula_double(q: &Point) -> Point {
    let (xx, yy) = (q.x.square(), q.y.square());
    Point {
        x: (q.x * q.y).double() * (A * xx + yy).inverse().unwrap(),
        y: (yy - A * xx) * (Fr::from(2u64) - A * xx - yy).inverse().unwrap(),
    }
}

#[test]
fn the_curve_equation_refuses_points_off_the_curve() {
    let p = BASE8.mul(&big(55));
    for (bad, ok) in [
        (p, true),
        (
            Point {
                x: p.x + Fr::ONE,
                ..p
            },
            false,
        ),
        (
            Point {
                y: p.y + Fr::ONE,
                ..p
            },
            false,
        ),
    ] {
        let cs = ConstraintSystem::<Fr>::new_ref();
        PointVar::new_input(cs.clone(), || Ok(bad))
            .unwrap()
            .enforce_on_curve()
            .unwrap();
        assert_eq!(cs.is_satisfied().unwrap(), ok);
    }
}

/// Whether `p = 8*q` with `q` on the curve holds, for the prover's own `q`.
fn eight_times(p: Point, q: Point) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    let pv = PointVar::new_input(cs.clone(), || Ok(p)).unwrap();
    let qv = PointVar::new_witness(cs.clone(), || Ok(q)).unwrap();
    pv.enforce_eight_times(&qv).unwrap();
    cs.is_satisfied().unwrap()
}

#[test]
fn a_prover_chosen_subgroup_witness_cannot_pass_a_bad_point() {
    let p = BASE8.mul(&big(977));
    let inv8 = big(8).modinv(subgroup_order()).unwrap();
    let q = p.mul(&inv8);
    assert!(eight_times(p, q));
    // The right Q for P's x (or y) alone: each coordinate's equation is
    // needed.
    assert!(!eight_times(
        Point {
            y: p.y + Fr::ONE,
            ..p
        },
        q
    ));
    assert!(!eight_times(
        Point {
            x: p.x + Fr::ONE,
            ..p
        },
        q
    ));
    // P = "8*Q" through the doubling formulas for a Q off the curve: only
    // Q's curve equation stands between P and the check.
    let off = Point {
        x: Fr::from(5u64),
        y: Fr::from(7u64),
    };
    let p_off = formula_double(&formula_double(&formula_double(&off)));
    assert!(!p_off.is_on_curve() && !off.is_on_curve());
    assert!(!eight_times(p_off, off));
}

#[test]
fn the_identity_passes_the_subgroup_check_but_not_validation() {
    // (0, 1) = 8*T for T of order 8: in the subgroup, so only the
    // "not the identity" constraint refuses it.
    let cs = ConstraintSystem::<Fr>::new_ref();
    let p = PointVar::new_input(cs.clone(), || Ok(Point::IDENTITY)).unwrap();
    p.enforce_in_subgroup().unwrap();
    assert!(cs.is_satisfied().unwrap());
    p.enforce_not_identity().unwrap();
    assert!(!cs.is_satisfied().unwrap());
}

#[test]
fn scalar_multiplications_bind_their_results() {
    let r = BigUint::parse_bytes(b"1234567890123456789012345678901234567890", 10).unwrap();
    let e = BASE8.mul(&big(4242));
    let cs = ConstraintSystem::<Fr>::new_ref();
    let ev = PointVar::new_input(cs.clone(), || Ok(e)).unwrap();
    ev.enforce_valid().unwrap();
    let rb = bits(&cs, &r);
    let big_r = PointVar::mul_base8(&rb).unwrap();
    let k = ev.scalar_mul(&rb).unwrap();
    assert_eq!(big_r.value().unwrap(), BASE8.mul(&r));
    assert_eq!(k.value().unwrap(), e.mul(&r));
    big_r.enforce_not_identity().unwrap();
    enforce_scalar_below_l(&rb).unwrap();
    assert!(cs.is_satisfied().unwrap());

    // The same gadgets over a 14-bit scalar (full windows of both sizes and
    // a short top window), small enough to change every witness in turn.
    let cs = ConstraintSystem::<Fr>::new_ref();
    let ev = PointVar::new_input(cs.clone(), || Ok(e)).unwrap();
    ev.enforce_valid().unwrap();
    let rb = bits_n(&cs, &big(0b10_1101_0111_0110), 14);
    PointVar::mul_base8(&rb)
        .unwrap()
        .enforce_not_identity()
        .unwrap();
    ev.scalar_mul(&rb).unwrap();
    every_witness_is_bound(&cs);
}

#[test]
fn a_wrong_public_result_fails() {
    let r = big(987654321);
    for wrong in [BASE8.mul(&big(987654322)), BASE8.mul(&r).neg()] {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let rb = bits(&cs, &r);
        let claimed = PointVar::new_input(cs.clone(), || Ok(wrong)).unwrap();
        let got = PointVar::mul_base8(&rb).unwrap();
        got.x.enforce_equal(&claimed.x).unwrap();
        got.y.enforce_equal(&claimed.y).unwrap();
        assert!(!cs.is_satisfied().unwrap());
    }
}

#[test]
fn scalar_zero_and_l_give_the_identity_and_are_refused() {
    let e = BASE8.mul(&big(31337));
    for r in [big(0), subgroup_order().clone()] {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let rb = bits(&cs, &r);
        let big_r = PointVar::mul_base8(&rb).unwrap();
        let ev = PointVar::new_input(cs.clone(), || Ok(e)).unwrap();
        let k = ev.scalar_mul(&rb).unwrap();
        assert_eq!(big_r.value().unwrap(), Point::IDENTITY);
        assert_eq!(k.value().unwrap(), Point::IDENTITY);
        assert!(cs.is_satisfied().unwrap());
        big_r.enforce_not_identity().unwrap();
        assert!(!cs.is_satisfied().unwrap(), "r = {r}");
    }
}

#[test]
fn scalars_at_or_above_l_fail_the_canonical_check() {
    let l = subgroup_order();
    for (r, ok) in [(l - 1u32, true), (l.clone(), false), (l + 1u32, false)] {
        let cs = ConstraintSystem::<Fr>::new_ref();
        enforce_scalar_below_l(&bits(&cs, &r)).unwrap();
        assert_eq!(cs.is_satisfied().unwrap(), ok, "r = {r}");
    }
}

fn cipher_cs(nonce: Fr, ciphertext: &[Fr]) -> ConstraintSystemRef<Fr> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    let w = |x: Fr| FpVar::new_witness(cs.clone(), || Ok(x)).unwrap();
    let m: Vec<_> = (1..=9u64).map(|i| w(Fr::from(i * 1000))).collect();
    let (k0, k1) = (w(Fr::from(11u64)), w(Fr::from(22u64)));
    let nv = FpVar::new_input(cs.clone(), || Ok(nonce)).unwrap();
    let cv: Vec<_> = ciphertext
        .iter()
        .map(|x| FpVar::new_input(cs.clone(), || Ok(*x)).unwrap())
        .collect();
    enforce_encryption(&m, (&k0, &k1), &nv, &cv).unwrap();
    cs
}

#[test]
fn the_encryption_gadget_refuses_tampering() {
    let msg: Vec<Fr> = (1..=9u64).map(|i| Fr::from(i * 1000)).collect();
    let key = (Fr::from(11u64), Fr::from(22u64));
    let c = encrypt(&msg, key, 77);
    assert!(cipher_cs(Fr::from(77u64), &c).is_satisfied().unwrap());
    for i in 0..c.len() {
        let mut bad = c.clone();
        bad[i] += Fr::ONE;
        let what = if i == c.len() - 1 { "tag" } else { "element" };
        assert!(
            !cipher_cs(Fr::from(77u64), &bad).is_satisfied().unwrap(),
            "{what} {i}"
        );
    }
    assert!(!cipher_cs(Fr::from(78u64), &c).is_satisfied().unwrap());
}

#[test]
fn every_encryption_witness_is_bound() {
    // Two elements: one absorbing permutation and the tag's, small enough
    // to change every witness in turn.
    let key = (Fr::from(11u64), Fr::from(22u64));
    let msg = [Fr::from(5u64), Fr::from(6u64)];
    let c = encrypt(&msg, key, 77);
    let cs = ConstraintSystem::<Fr>::new_ref();
    let w = |x: Fr| FpVar::new_witness(cs.clone(), || Ok(x)).unwrap();
    let m: Vec<_> = msg.iter().map(|x| w(*x)).collect();
    let (k0, k1) = (w(key.0), w(key.1));
    let nv = FpVar::new_input(cs.clone(), || Ok(Fr::from(77u64))).unwrap();
    let cv: Vec<_> = c
        .iter()
        .map(|x| FpVar::new_input(cs.clone(), || Ok(*x)).unwrap())
        .collect();
    enforce_encryption(&m, (&k0, &k1), &nv, &cv).unwrap();
    every_witness_is_bound(&cs);
}

#[test]
fn the_encryption_gadget_refuses_a_nonce_of_2_to_128() {
    // nonce + 9 * 2^128 with nonce = 2^128 + 5 is the initial state of a
    // ten-element message under nonce 5: only the range check refuses it.
    let nonce = Fr::from(2u64).pow([128u64]) + Fr::from(5u64);
    let cs = ConstraintSystem::<Fr>::new_ref();
    let w = |x: Fr| FpVar::new_witness(cs.clone(), || Ok(x)).unwrap();
    let m: Vec<_> = (1..=9u64).map(|i| w(Fr::from(i))).collect();
    let (k0, k1) = (w(Fr::from(11u64)), w(Fr::from(22u64)));
    encrypt_var(&m, (&k0, &k1), &w(nonce)).unwrap();
    assert!(!cs.is_satisfied().unwrap());
}

/// A part of the statement, given the system, r's bits and E.
type Part<'a> = dyn Fn(&ConstraintSystemRef<Fr>, &[Boolean<Fr>], &PointVar) + 'a;

/// The parts of the escrow statement beside `receipt(D)`, each measured on
/// its own: the scalar's bits, `R = r*Base8`, `R != O`, `K = r*E`, E's
/// validation, and the ciphertext of the nine fields with its nonce check.
#[test]
fn constraint_counts_of_the_escrow_parts() {
    let r = BigUint::parse_bytes(b"98765432109876543210987654321", 10).unwrap();
    let e = BASE8.mul(&big(4242));
    let count = |f: &Part<'_>| {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let rb = bits(&cs, &r);
        let ev = PointVar::new_input(cs.clone(), || Ok(e)).unwrap();
        let before = cs.num_constraints();
        f(&cs, &rb, &ev);
        assert!(cs.is_satisfied().unwrap());
        cs.num_constraints() - before
    };
    let scalar_bits = count(&|cs, _, _| {
        bits(cs, &r);
    });
    let fixed = count(&|_, rb, _| {
        PointVar::mul_base8(rb).unwrap();
    });
    let variable = count(&|_, rb, ev| {
        ev.scalar_mul(rb).unwrap();
    });
    let validation = count(&|_, _, ev| ev.enforce_valid().unwrap());
    let not_identity = count(&|_, rb, _| {
        PointVar::mul_base8(rb)
            .unwrap()
            .enforce_not_identity()
            .unwrap();
    }) - fixed;
    let msg: Vec<Fr> = (1..=9u64).map(Fr::from).collect();
    let key = e.mul(&r);
    let c = encrypt(&msg, (key.x, key.y), 3);
    let encryption = cipher_cs(Fr::from(3u64), &c).num_constraints();
    let canonical = count(&|_, rb, _| enforce_scalar_below_l(rb).unwrap());
    let parts = [
        ("scalar bits (251)", scalar_bits, 251),
        ("r*Base8", fixed, 748),
        ("R != O", not_identity, 1),
        ("r*E", variable, 2765),
        ("E valid", validation, 19),
        (
            "encrypt 9 + nonce < 2^128 + 10 equalities",
            encryption,
            1192,
        ),
    ];
    for (what, n, _) in parts {
        println!("{what}: {n} constraints");
    }
    println!("(r < l, not needed by the escrow: {canonical} constraints)");
    let total: usize = parts.iter().map(|p| p.1).sum();
    println!("escrow addition: {total} constraints");
    for (what, n, ceiling) in parts {
        assert!(n <= ceiling, "{what}: {n} > {ceiling}");
    }
}
