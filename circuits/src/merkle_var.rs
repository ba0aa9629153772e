//! The in-circuit twin of [`crate::merkle::MerklePath::root_from`].

use crate::poseidon_var::hash_var;
use ark_bn254::Fr;
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
}
