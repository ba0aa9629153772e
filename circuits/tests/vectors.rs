//! Poseidon and registry vectors produced by circomlibjs
//! (`interop/gen-vectors.js`) drive both the native code and the gadgets.
#![allow(clippy::unwrap_used)]

use ark_bn254::Fr;
use ark_r1cs_std::{fields::fp::FpVar, prelude::*};
use ark_relations::gr1cs::ConstraintSystem;
use serde::Deserialize;
use zkr_circuits::{
    field::{fr_to_decimal, parse_fr},
    merkle::{MerkleTree, zeros},
    merkle_var::MerklePathVar,
    poseidon::hash,
    poseidon_var::hash_var,
};

#[derive(Deserialize)]
struct PoseidonCase {
    inputs: Vec<String>,
    hash: String,
}

#[derive(Deserialize)]
struct PoseidonVectors {
    cases: Vec<PoseidonCase>,
}

#[derive(Deserialize)]
struct PathVector {
    index: u64,
    leaf: String,
    elements: Vec<String>,
    indices: Vec<u8>,
}

#[derive(Deserialize)]
struct MerkleVectors {
    depth: usize,
    zeros: Vec<String>,
    leaves: Vec<String>,
    root: String,
    paths: Vec<PathVector>,
}

fn frs(v: &[String]) -> Vec<Fr> {
    v.iter().map(|s| parse_fr(s).unwrap()).collect()
}

#[test]
fn poseidon_native_and_gadget_equal_circomlibjs() {
    let v: PoseidonVectors = serde_json::from_str(include_str!("vectors/poseidon.json")).unwrap();
    assert_eq!(v.cases.len(), 48);
    for c in &v.cases {
        let inputs = frs(&c.inputs);
        let expected = parse_fr(&c.hash).unwrap();
        assert_eq!(
            hash(&inputs).unwrap(),
            expected,
            "native, n = {}",
            inputs.len()
        );

        let cs = ConstraintSystem::<Fr>::new_ref();
        let vars: Vec<FpVar<Fr>> = inputs
            .iter()
            .map(|x| FpVar::new_witness(cs.clone(), || Ok(*x)).unwrap())
            .collect();
        let out = hash_var(&vars).unwrap();
        let expected_var = FpVar::new_input(cs.clone(), || Ok(expected)).unwrap();
        out.enforce_equal(&expected_var).unwrap();
        assert!(cs.is_satisfied().unwrap(), "gadget, n = {}", inputs.len());
        assert_eq!(fr_to_decimal(&out.value().unwrap()), c.hash);
    }
}

#[test]
fn registry_equals_circomlibjs_tree() {
    let v: MerkleVectors = serde_json::from_str(include_str!("vectors/merkle.json")).unwrap();
    assert_eq!(zeros(20), frs(&v.zeros));
    let tree = MerkleTree::from_leaves(v.depth, &frs(&v.leaves)).unwrap();
    assert_eq!(tree.root(), parse_fr(&v.root).unwrap());
    for p in &v.paths {
        let path = tree.path(p.index).unwrap();
        assert_eq!(path.elements, frs(&p.elements));
        assert_eq!(
            path.indices,
            p.indices.iter().map(|b| *b == 1).collect::<Vec<_>>()
        );

        let cs = ConstraintSystem::<Fr>::new_ref();
        let leaf = FpVar::new_witness(cs.clone(), || Ok(parse_fr(&p.leaf).unwrap())).unwrap();
        let pv =
            MerklePathVar::new_witness(cs.clone(), v.depth, &path.elements, &path.indices).unwrap();
        let root = pv.root_from(&leaf).unwrap();
        assert_eq!(fr_to_decimal(&root.value().unwrap()), v.root);
        assert!(cs.is_satisfied().unwrap());
    }
}
