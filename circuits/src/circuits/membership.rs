//! `membership(D)`: public `root, nullifier, scope`; proves that `H1(s)` is
//! non-zero and a leaf of the depth-D registry with `root`, and that
//! `nullifier = H2(s, scope)`.

use crate::error::{Error, Result};
use crate::merkle::MerklePath;
use crate::merkle_var::MerklePathVar;
use crate::poseidon::{h1, h2};
use crate::poseidon_var::hash_var;
use ark_bn254::Fr;
use ark_ff::AdditiveGroup;
use ark_r1cs_std::{fields::fp::FpVar, prelude::*};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

/// Public inputs, in order.
pub const PUBLIC_INPUTS: [&str; 3] = ["root", "nullifier", "scope"];

/// The membership statement with its witness.
#[derive(Clone, Debug)]
pub struct MembershipCircuit {
    /// Registry depth D.
    pub depth: usize,
    /// Private: the identity secret s.
    pub secret: Fr,
    /// Private: the path of `H1(s)`.
    pub path_elements: Vec<Fr>,
    /// Private: the path bits.
    pub path_indices: Vec<bool>,
    /// Public: the registry root.
    pub root: Fr,
    /// Public: `H2(s, scope)`.
    pub nullifier: Fr,
    /// Public: the scope the nullifier is bound to.
    pub scope: Fr,
}

impl MembershipCircuit {
    /// Placeholder values of depth D for setup.
    pub fn blank(depth: usize) -> Self {
        Self {
            depth,
            secret: Fr::ZERO,
            path_elements: vec![Fr::ZERO; depth],
            path_indices: vec![false; depth],
            root: Fr::ZERO,
            nullifier: Fr::ZERO,
            scope: Fr::ZERO,
        }
    }

    /// Builds the circuit from a secret, a scope and the path of `H1(s)`;
    /// the root is the one the path leads to.
    pub fn new(secret: Fr, scope: Fr, path: &MerklePath) -> Result<Self> {
        if path.elements.len() != path.indices.len() || path.elements.is_empty() {
            return Err(Error::Input(
                "path_elements and path_indices must have the same, non-zero length".into(),
            ));
        }
        if h1(secret) == Fr::ZERO {
            return Err(Error::Unsatisfied(
                "H1(secret) is 0, the empty leaf; identities are non-zero".into(),
            ));
        }
        Ok(Self {
            depth: path.elements.len(),
            secret,
            path_elements: path.elements.clone(),
            path_indices: path.indices.clone(),
            root: path.root_from(h1(secret)),
            nullifier: h2(secret, scope),
            scope,
        })
    }

    /// The public inputs in order.
    pub fn public_inputs(&self) -> Vec<Fr> {
        vec![self.root, self.nullifier, self.scope]
    }
}

impl ConstraintSynthesizer<Fr> for MembershipCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let root = FpVar::new_input(cs.clone(), || Ok(self.root))?;
        let nullifier = FpVar::new_input(cs.clone(), || Ok(self.nullifier))?;
        let scope = FpVar::new_input(cs.clone(), || Ok(self.scope))?;
        let secret = FpVar::new_witness(cs.clone(), || Ok(self.secret))?;
        let path = MerklePathVar::new_witness(
            cs.clone(),
            self.depth,
            &self.path_elements,
            &self.path_indices,
        )?;

        let id = hash_var(std::slice::from_ref(&secret))?;
        path.enforce_member(&id, &root)?;
        hash_var(&[secret, scope])?.enforce_equal(&nullifier)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuits::AnyCircuit;
    use crate::merkle::MerkleTree;
    use ark_ff::Field;

    const DEPTH: usize = 8;
    /// Measured at D = 8, the non-zero leaf check included; grows by 242
    /// per level.
    const MAX_CONSTRAINTS: usize = 2_392;

    fn setup() -> (MerkleTree, Fr) {
        let secret = Fr::from(424242u64);
        let mut tree = MerkleTree::new(DEPTH).unwrap();
        for i in 0..5u64 {
            tree.insert(h1(Fr::from(i))).unwrap();
        }
        tree.insert(h1(secret)).unwrap();
        tree.insert(h1(Fr::from(77u64))).unwrap();
        (tree, secret)
    }

    fn sat(c: &MembershipCircuit) -> bool {
        AnyCircuit::Membership(c.clone()).check().unwrap().0
    }

    #[test]
    fn member_is_satisfied() {
        let (tree, secret) = setup();
        let c = MembershipCircuit::new(secret, Fr::from(9u64), &tree.path(5).unwrap()).unwrap();
        assert_eq!(c.root, tree.root());
        let (ok, n) = AnyCircuit::Membership(c).check().unwrap();
        assert!(ok);
        assert!(n <= MAX_CONSTRAINTS, "{n} constraints");
    }

    #[test]
    fn wrong_path_leaf_root_or_nullifier_fails() {
        let (tree, secret) = setup();
        let good = MembershipCircuit::new(secret, Fr::from(9u64), &tree.path(5).unwrap()).unwrap();

        // another member's path
        let mut c = good.clone();
        let other = tree.path(4).unwrap();
        c.path_elements = other.elements;
        c.path_indices = other.indices;
        assert!(!sat(&c));

        // a flipped direction bit
        let mut c = good.clone();
        c.path_indices[0] = !c.path_indices[0];
        assert!(!sat(&c));

        // a tampered sibling
        let mut c = good.clone();
        c.path_elements[3] += Fr::ONE;
        assert!(!sat(&c));

        // a secret whose identity is not a leaf
        let mut c = good.clone();
        c.secret = Fr::from(424243u64);
        c.nullifier = h2(c.secret, c.scope);
        assert!(!sat(&c));

        // another root
        let mut c = good.clone();
        c.root += Fr::ONE;
        assert!(!sat(&c));

        // a nullifier for another scope
        let mut c = good.clone();
        c.scope += Fr::ONE;
        assert!(!sat(&c));
    }

    /// No secret with `H1(s) = 0` is known, so the leaf check of this
    /// circuit is driven directly: the membership statement is
    /// `MerklePathVar::enforce_member(H1(s), root)`, and a leaf of 0 on an
    /// empty slot must not satisfy it.
    #[test]
    fn leaf_zero_on_an_empty_slot_fails() {
        use ark_relations::gr1cs::ConstraintSystem;
        let (tree, _) = setup();
        let mut filled = tree.clone();
        filled.insert(Fr::ONE).unwrap();
        let path = filled.path(tree.len()).unwrap();
        assert_eq!(path.root_from(Fr::ZERO), tree.root());
        let member_of = |leaf: Fr, root: Fr| {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let leaf = FpVar::new_witness(cs.clone(), || Ok(leaf)).unwrap();
            let root = FpVar::new_input(cs.clone(), || Ok(root)).unwrap();
            MerklePathVar::new_witness(cs.clone(), DEPTH, &path.elements, &path.indices)
                .unwrap()
                .enforce_member(&leaf, &root)
                .unwrap();
            cs.is_satisfied().unwrap()
        };
        assert!(!member_of(Fr::ZERO, tree.root()));
        // The same path with a real leaf at that slot passes.
        assert!(member_of(Fr::ONE, filled.root()));
        // The circuit synthesizes the check: its count is the measured one,
        // which has the check's one constraint in it.
        let (_, n) = AnyCircuit::Membership(
            MembershipCircuit::new(Fr::from(424242u64), Fr::from(9u64), &tree.path(5).unwrap())
                .unwrap(),
        )
        .check()
        .unwrap();
        assert_eq!(n, MAX_CONSTRAINTS, "{n} constraints");
    }
}
