//! Batch verification names exactly the false proofs, under one key or
//! several, and agrees with one-by-one verification.
#![allow(clippy::unwrap_used)]

use ark_bn254::{Bn254, Fr, G1Affine};
use ark_ec::AffineRepr;
use ark_ff::Field;
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, prepare_verifying_key};
use ark_std::rand::{SeedableRng, rngs::StdRng};
use proptest::prelude::*;
use std::sync::OnceLock;
use zkr_circuits::{CircuitKind, sample};
use zkr_verifier::{BatchItem, Error, verify_batch, verify_prepared};

/// Two keys of the range circuit from different setups (same number of
/// inputs) and one of the membership circuit, each with valid proofs.
struct Fixture {
    keys: Vec<PreparedVerifyingKey<Bn254>>,
    /// `(key index, proof, public inputs)`, all valid.
    proofs: Vec<(usize, Proof<Bn254>, Vec<Fr>)>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(13);
        let mut keys = Vec::new();
        let mut proofs = Vec::new();
        for (k, (kind, depth, count)) in [
            (CircuitKind::Range, 0, 6),
            (CircuitKind::Range, 0, 3),
            (CircuitKind::Membership, 4, 3),
        ]
        .into_iter()
        .enumerate()
        {
            let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
                kind.blank(depth).unwrap(),
                &mut rng,
            )
            .unwrap();
            for _ in 0..count {
                let c = sample::instance(kind, depth, &mut rng).unwrap();
                let public = c.public_inputs();
                let proof =
                    Groth16::<Bn254>::create_random_proof_with_reduction(c, &pk, &mut rng).unwrap();
                proofs.push((k, proof, public));
            }
            keys.push(prepare_verifying_key(&pk.vk));
        }
        Fixture { keys, proofs }
    })
}

#[derive(Clone, Copy, Debug)]
enum Tamper {
    /// A moved by the generator.
    Proof,
    /// The first public input plus one.
    Input,
    /// Checked under the other range key (same number of inputs).
    WrongKey,
}

/// A batch of the fixture's proofs (indices `order`), with the given ones
/// tampered; returns the items' parts.
fn batch(order: &[usize], tamper: &[(usize, Tamper)]) -> Vec<(usize, Proof<Bn254>, Vec<Fr>)> {
    let f = fixture();
    order
        .iter()
        .enumerate()
        .map(|(pos, &i)| {
            let (mut k, mut proof, mut public) = f.proofs[i].clone();
            for (_, t) in tamper.iter().filter(|(p, _)| *p == pos) {
                match t {
                    Tamper::Proof => proof.a = (proof.a + G1Affine::generator()).into(),
                    Tamper::Input => public[0] += Fr::ONE,
                    Tamper::WrongKey => {
                        assert!(k < 2, "only range proofs have a sibling key");
                        k = 1 - k;
                    }
                }
            }
            (k, proof, public)
        })
        .collect()
}

fn run(parts: &[(usize, Proof<Bn254>, Vec<Fr>)]) -> Result<Vec<bool>, Error> {
    let f = fixture();
    let items: Vec<BatchItem<'_>> = parts
        .iter()
        .map(|(k, proof, public)| BatchItem {
            pvk: &f.keys[*k],
            proof,
            public_inputs: public,
        })
        .collect();
    verify_batch(&items)
}

fn one_by_one(parts: &[(usize, Proof<Bn254>, Vec<Fr>)]) -> Vec<bool> {
    let f = fixture();
    parts
        .iter()
        .map(|(k, proof, public)| verify_prepared(&f.keys[*k], proof, public).unwrap())
        .collect()
}

fn all() -> Vec<usize> {
    (0..fixture().proofs.len()).collect()
}

#[test]
fn all_valid_under_mixed_keys_are_all_true() {
    let parts = batch(&all(), &[]);
    assert_eq!(run(&parts).unwrap(), vec![true; parts.len()]);
    // and in another order, keys interleaved
    let mut order = all();
    order.reverse();
    order.rotate_left(4);
    assert_eq!(run(&batch(&order, &[])).unwrap(), vec![true; order.len()]);
}

#[test]
fn each_kind_of_false_proof_is_named_alone() {
    for (pos, t) in [
        (0, Tamper::Proof),
        (4, Tamper::Input),
        (7, Tamper::WrongKey),
        (11, Tamper::Proof),
    ] {
        let parts = batch(&all(), &[(pos, t)]);
        let mut expected = vec![true; parts.len()];
        expected[pos] = false;
        assert_eq!(run(&parts).unwrap(), expected, "{t:?} at {pos}");
    }
}

#[test]
fn several_false_proofs_are_all_named() {
    let tamper = [
        (1, Tamper::Input),
        (2, Tamper::WrongKey),
        (3, Tamper::Proof),
        (9, Tamper::Input),
        (10, Tamper::Proof),
    ];
    let parts = batch(&all(), &tamper);
    let got = run(&parts).unwrap();
    assert_eq!(got, one_by_one(&parts));
    let named: Vec<usize> = (0..got.len()).filter(|&i| !got[i]).collect();
    assert_eq!(named, vec![1, 2, 3, 9, 10]);
    // all false
    let tamper: Vec<(usize, Tamper)> = (0..12).map(|i| (i, Tamper::Proof)).collect();
    assert_eq!(run(&batch(&all(), &tamper)).unwrap(), vec![false; 12]);
}

#[test]
fn a_single_proof_and_an_empty_batch() {
    assert_eq!(run(&batch(&[5], &[])).unwrap(), vec![true]);
    assert_eq!(
        run(&batch(&[5], &[(0, Tamper::Input)])).unwrap(),
        vec![false]
    );
    assert_eq!(run(&[]).unwrap(), Vec::<bool>::new());
}

#[test]
fn inputs_that_do_not_fit_the_key_are_an_error_naming_the_item() {
    let mut parts = batch(&all(), &[]);
    parts[8].2.push(Fr::ONE);
    let e = run(&parts).unwrap_err().to_string();
    assert!(
        e.contains("batch item 8") && e.contains("public inputs"),
        "{e}"
    );
    let mut parts = batch(&all(), &[]);
    parts[10].2.pop();
    assert!(matches!(run(&parts), Err(Error::Mismatch(_))));
}

#[test]
fn a_proof_point_off_the_curve_is_an_error() {
    let mut parts = batch(&[0, 1], &[]);
    let (x, y) = parts[1].1.c.xy().unwrap();
    parts[1].1.c = G1Affine::new_unchecked(x, y + ark_bn254::Fq::ONE);
    let e = run(&parts).unwrap_err().to_string();
    assert!(
        e.contains("batch item 1") && e.contains("off the curve"),
        "{e}"
    );
}

fn tamper_kind() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        Just(Tamper::Proof),
        Just(Tamper::Input),
        Just(Tamper::WrongKey)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any selection of proofs, any of them tampered in any way: the batch
    /// answers what verifying one by one answers.
    #[test]
    fn batch_agrees_with_one_by_one(
        order in proptest::sample::subsequence((0..12usize).collect::<Vec<_>>(), 1..=12)
            .prop_shuffle(),
        tampered in proptest::collection::vec((0..12usize, tamper_kind()), 0..5),
    ) {
        let f = fixture();
        // the wrong-key swap only exists between the two range keys
        // (and two swaps would undo each other: one tamper per position)
        let mut tamper: Vec<(usize, Tamper)> = Vec::new();
        for (p, t) in tampered {
            if p < order.len()
                && !(matches!(t, Tamper::WrongKey) && f.proofs[order[p]].0 == 2)
                && tamper.iter().all(|(q, _)| *q != p)
            {
                tamper.push((p, t));
            }
        }
        let parts = batch(&order, &tamper);
        let got = run(&parts).unwrap();
        prop_assert_eq!(&got, &one_by_one(&parts));
        for (p, _) in &tamper {
            prop_assert!(!got[*p]);
        }
    }
}
