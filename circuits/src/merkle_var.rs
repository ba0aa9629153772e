//! The in-circuit twin of [`crate::merkle::MerklePath::root_from`].

use crate::poseidon_var::hash_var;
use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field};
use ark_r1cs_std::{fields::fp::FpVar, prelude::*};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};

/// A path allocated as witnesses.
pub struct MerklePathVar {
    /// The siblings, from the leaf's level up.
    pub elements: Vec<FpVar<Fr>>,
    /// Bit k: the path node at level k is a right child.
    pub indices: Vec<Boolean<Fr>>,
}

impl MerklePathVar {
    /// Allocates a path of `depth` levels; `path` is `None` in setup.
    pub fn new_witness(
        cs: ConstraintSystemRef<Fr>,
        depth: usize,
        elements: &[Fr],
        indices: &[bool],
    ) -> Result<Self, SynthesisError> {
        if elements.len() != depth || indices.len() != depth {
            return Err(SynthesisError::Unsatisfiable);
        }
        let elements = elements
            .iter()
            .map(|e| FpVar::new_witness(cs.clone(), || Ok(*e)))
            .collect::<Result<Vec<_>, _>>()?;
        let indices = indices
            .iter()
            .map(|b| Boolean::new_witness(cs.clone(), || Ok(*b)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { elements, indices })
    }

    /// The root reached from `leaf`. Each level costs one constraint for the
    /// ordering, one for the bit's booleanity and one `H2`.
    pub fn root_from(&self, leaf: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
        let mut node = leaf.clone();
        for (sibling, right) in self.elements.iter().zip(&self.indices) {
            // left = right ? sibling : node, with one multiplication;
            // right_child = node + sibling - left, free.
            let left = &node + FpVar::from(right.clone()) * (sibling - &node);
            let right_child = &node + sibling - &left;
            node = hash_var(&[left, right_child])?;
        }
        Ok(node)
    }

    /// Enforces that `leaf` is a member of the tree with `root`: the leaf is
    /// non-zero (0 is the empty leaf, DESIGN §3, so without this a leaf of 0
    /// on any empty slot would pass) and the path leads from it to `root`.
    pub fn enforce_member(&self, leaf: &FpVar<Fr>, root: &FpVar<Fr>) -> Result<(), SynthesisError> {
        enforce_nonzero(leaf)?;
        self.root_from(leaf)?.enforce_equal(root)
    }
}

/// Enforces `x != 0` with one constraint: a witness `inv` with `x * inv = 1`,
/// which has no solution when x is 0.
pub fn enforce_nonzero(x: &FpVar<Fr>) -> Result<(), SynthesisError> {
    let cs = x.cs();
    if cs.is_none() {
        return if x.value()? == Fr::ZERO {
            Err(SynthesisError::Unsatisfiable)
        } else {
            Ok(())
        };
    }
    let inv = FpVar::new_witness(cs, || {
        // In setup mode this closure is not called; a zero value gets the
        // witness 0, which leaves the constraint unsatisfied.
        Ok(x.value()?.inverse().unwrap_or(Fr::ZERO))
    })?;
    x.mul_equals(&inv, &FpVar::Constant(Fr::ONE))
}
