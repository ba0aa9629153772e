//! Registries: the fixed-depth binary Poseidon Merkle tree of DESIGN §3 over
//! identity commitments in insertion order. Empty leaves are 0,
//! `z_0 = 0`, `z_{k+1} = H2(z_k, z_k)`, a node is `H2(left, right)`.
//!
//! The tree stores only the non-empty nodes of each level, so a depth-20
//! registry with a few thousand members costs a few thousand nodes.

use crate::error::{Error, Result};
use crate::poseidon::h2;
use ark_bn254::Fr;
use std::collections::HashMap;

/// The deepest tree supported: 2^32 leaves is far beyond any registry, and
/// the bound keeps path vectors and circuits a sane size.
pub const MAX_DEPTH: usize = 32;

/// A leaf's authentication path, from the leaf's level up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerklePath {
    /// The D siblings.
    pub elements: Vec<Fr>,
    /// Bit k of the leaf index: true when the path node at level k is a right child.
    pub indices: Vec<bool>,
}

impl MerklePath {
    /// The root this path leads to from `leaf`.
    pub fn root_from(&self, leaf: Fr) -> Fr {
        self.elements
            .iter()
            .zip(&self.indices)
            .fold(leaf, |node, (sib, &right)| {
                if right {
                    h2(*sib, node)
                } else {
                    h2(node, *sib)
                }
            })
    }

    /// The leaf index the path bits encode.
    pub fn index(&self) -> u64 {
        self.indices
            .iter()
            .enumerate()
            .fold(0u64, |acc, (k, &b)| acc | (u64::from(b) << k))
    }
}

/// The empty-subtree roots `z_0 .. z_depth`.
pub fn zeros(depth: usize) -> Vec<Fr> {
    // Computed once per process for every supported depth.
    static ZEROS: std::sync::OnceLock<Vec<Fr>> = std::sync::OnceLock::new();
    let all = ZEROS.get_or_init(|| {
        let mut z = Vec::with_capacity(MAX_DEPTH + 1);
        z.push(Fr::from(0u64));
        for k in 0..MAX_DEPTH {
            z.push(h2(z[k], z[k]));
        }
        z
    });
    all[..=depth.min(MAX_DEPTH)].to_vec()
}

/// A Poseidon Merkle tree of fixed depth.
#[derive(Clone, Debug)]
pub struct MerkleTree {
    depth: usize,
    zeros: Vec<Fr>,
    /// `levels[k]` holds the non-empty nodes of level k by index.
    levels: Vec<HashMap<u64, Fr>>,
    len: u64,
}

impl MerkleTree {
    /// An empty tree of `depth` levels (1..=32).
    pub fn new(depth: usize) -> Result<Self> {
        if depth == 0 || depth > MAX_DEPTH {
            return Err(Error::Registry(format!(
                "depth {depth} not in 1..={MAX_DEPTH}"
            )));
        }
        Ok(Self {
            depth,
            zeros: zeros(depth),
            levels: vec![HashMap::new(); depth + 1],
            len: 0,
        })
    }

    /// A tree holding `leaves` in order: the same tree as inserting them
    /// one by one, built a level at a time, so that each node is hashed
    /// once (about `n + depth` hashes instead of `n * depth`).
    pub fn from_leaves(depth: usize, leaves: &[Fr]) -> Result<Self> {
        let mut t = Self::new(depth)?;
        if leaves.len() as u128 > u128::from(t.capacity()) {
            return Err(Error::Registry(format!(
                "{} leaves do not fit a tree of depth {depth}",
                leaves.len()
            )));
        }
        if leaves.iter().any(|l| *l == Fr::from(0u64)) {
            return Err(Error::Registry(
                "0 is the empty leaf, not an identity; identities are non-zero".into(),
            ));
        }
        t.levels[0] = (0u64..).zip(leaves.iter().copied()).collect();
        t.len = leaves.len() as u64;
        // Level k holds the nodes 0 .. ceil(n / 2^k).
        let mut width = t.len;
        for k in 0..depth {
            width = width.div_ceil(2);
            let level: HashMap<u64, Fr> = (0..width)
                .map(|i| (i, h2(t.node(k, 2 * i), t.node(k, 2 * i + 1))))
                .collect();
            t.levels[k + 1] = level;
        }
        Ok(t)
    }

    /// The depth D.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// How many leaves have been inserted.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no leaf has been inserted.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The maximum number of leaves, 2^D.
    pub fn capacity(&self) -> u64 {
        1u64 << self.depth
    }

    /// Appends a leaf and returns its index. A leaf of 0 is refused: 0 is
    /// the empty leaf, so it would be a "member" of every slot and would
    /// leave the root unchanged (DESIGN §3).
    pub fn insert(&mut self, leaf: Fr) -> Result<u64> {
        if leaf == Fr::from(0u64) {
            return Err(Error::Registry(
                "0 is the empty leaf, not an identity; identities are non-zero".into(),
            ));
        }
        if self.len >= self.capacity() {
            return Err(Error::Registry(format!(
                "tree of depth {} is full",
                self.depth
            )));
        }
        let index = self.len;
        self.len += 1;
        let mut node = leaf;
        let mut i = index;
        self.levels[0].insert(i, node);
        for k in 0..self.depth {
            let sibling = self.node(k, i ^ 1);
            node = if i & 1 == 1 {
                h2(sibling, node)
            } else {
                h2(node, sibling)
            };
            i >>= 1;
            self.levels[k + 1].insert(i, node);
        }
        Ok(index)
    }

    fn node(&self, level: usize, index: u64) -> Fr {
        self.levels[level]
            .get(&index)
            .copied()
            .unwrap_or(self.zeros[level])
    }

    /// The current root.
    pub fn root(&self) -> Fr {
        self.node(self.depth, 0)
    }

    /// The leaf at `index`, if inserted.
    pub fn leaf(&self, index: u64) -> Option<Fr> {
        (index < self.len).then(|| self.node(0, index))
    }

    /// The index of the first leaf equal to `leaf`.
    pub fn index_of(&self, leaf: &Fr) -> Option<u64> {
        (0..self.len).find(|&i| self.node(0, i) == *leaf)
    }

    /// The authentication path of the leaf at `index`.
    pub fn path(&self, index: u64) -> Result<MerklePath> {
        if index >= self.len {
            return Err(Error::Registry(format!("no leaf at index {index}")));
        }
        let mut elements = Vec::with_capacity(self.depth);
        let mut indices = Vec::with_capacity(self.depth);
        let mut i = index;
        for k in 0..self.depth {
            elements.push(self.node(k, i ^ 1));
            indices.push(i & 1 == 1);
            i >>= 1;
        }
        Ok(MerklePath { elements, indices })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lead_to_root_and_empty_tree_is_zero_root() {
        let mut t = MerkleTree::new(4).unwrap();
        assert_eq!(t.root(), zeros(4)[4]);
        for i in 0..11u64 {
            t.insert(Fr::from(100 + i)).unwrap();
        }
        for i in 0..11u64 {
            let p = t.path(i).unwrap();
            assert_eq!(p.index(), i);
            assert_eq!(p.root_from(Fr::from(100 + i)), t.root());
            assert_ne!(p.root_from(Fr::from(99)), t.root());
        }
        assert!(t.path(11).is_err());
        assert_eq!(t.index_of(&Fr::from(105)), Some(5));
    }

    #[test]
    fn full_tree_refuses_more_leaves_and_depth_is_bounded() {
        let mut t = MerkleTree::new(1).unwrap();
        t.insert(Fr::from(1u64)).unwrap();
        t.insert(Fr::from(2u64)).unwrap();
        assert!(t.insert(Fr::from(3u64)).is_err());
        assert_eq!(t.root(), h2(Fr::from(1u64), Fr::from(2u64)));
        assert!(MerkleTree::new(0).is_err());
        assert!(MerkleTree::new(33).is_err());
    }

    /// Built a level at a time or a leaf at a time, the tree is the same:
    /// every node, root and path.
    #[test]
    fn a_tree_built_at_once_equals_one_built_leaf_by_leaf() {
        for depth in [1usize, 2, 5] {
            let cap = 1u64 << depth;
            for n in 0..=cap.min(19) {
                let leaves: Vec<Fr> = (0..n).map(|i| Fr::from(1000 + 7 * i)).collect();
                let mut one_by_one = MerkleTree::new(depth).unwrap();
                for l in &leaves {
                    one_by_one.insert(*l).unwrap();
                }
                let at_once = MerkleTree::from_leaves(depth, &leaves).unwrap();
                assert_eq!(
                    at_once.levels, one_by_one.levels,
                    "depth {depth}, {n} leaves"
                );
                assert_eq!(at_once.root(), one_by_one.root());
                assert_eq!(at_once.len(), n);
                for i in 0..n {
                    assert_eq!(at_once.path(i).unwrap(), one_by_one.path(i).unwrap());
                }
            }
        }
        let full: Vec<Fr> = (1..=2u64).map(Fr::from).collect();
        assert!(MerkleTree::from_leaves(1, &full).is_ok());
        let over: Vec<Fr> = (1..=3u64).map(Fr::from).collect();
        assert!(MerkleTree::from_leaves(1, &over).is_err());
        assert_eq!(zeros(3), {
            let mut z = vec![Fr::from(0u64)];
            for k in 0..3 {
                z.push(h2(z[k], z[k]));
            }
            z
        });
    }

    #[test]
    fn zero_is_not_a_member() {
        let mut t = MerkleTree::from_leaves(4, &[Fr::from(5u64)]).unwrap();
        let root = t.root();
        let e = t.insert(Fr::from(0u64)).unwrap_err();
        assert!(e.to_string().contains("non-zero"), "{e}");
        assert_eq!(t.len(), 1);
        assert_eq!(t.root(), root);
        assert!(MerkleTree::from_leaves(4, &[Fr::from(1u64), Fr::from(0u64)]).is_err());
    }
}
