//! `receipt(D)`: public `receipt_hash, registry_root, amount_min,
//! amount_max`; proves that the nine private fields hash to `receipt_hash`,
//! `units, unit_price, fee, timestamp < 2^64`, `amount = units * unit_price`,
//! `fee <= amount`, `amount_min <= amount <= amount_max` with both bounds
//! below 2^128, and that `miner_id` is non-zero and a leaf of the miner
//! registry.
//!
//! `amount` is a product of two 64-bit values, so it is below 2^128 without
//! a decomposition of its own.

use crate::bits::{enforce_bits, enforce_le};
use crate::error::{Error, Result};
use crate::merkle::MerklePath;
use crate::merkle_var::MerklePathVar;
use crate::poseidon_var::hash_var;
use crate::receipt::Receipt;
use ark_bn254::Fr;
use ark_ff::AdditiveGroup;
use ark_r1cs_std::{fields::fp::FpVar, prelude::*};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

/// Public inputs, in order.
pub const PUBLIC_INPUTS: [&str; 4] = ["receipt_hash", "registry_root", "amount_min", "amount_max"];

/// The receipt statement with its witness.
#[derive(Clone, Debug)]
pub struct ReceiptCircuit {
    /// Registry depth D.
    pub depth: usize,
    /// Private: the nine receipt fields, in hash order.
    pub fields: [Fr; 9],
    /// Private: the miner's registry path.
    pub path_elements: Vec<Fr>,
    /// Private: the path bits.
    pub path_indices: Vec<bool>,
    /// Public: `H9(fields)`.
    pub receipt_hash: Fr,
    /// Public: the miner registry's root.
    pub registry_root: Fr,
    /// Public: lower bound on the amount.
    pub amount_min: Fr,
    /// Public: upper bound on the amount.
    pub amount_max: Fr,
}

impl ReceiptCircuit {
    /// Placeholder values of depth D for setup.
    pub fn blank(depth: usize) -> Self {
        Self {
            depth,
            fields: [Fr::ZERO; 9],
            path_elements: vec![Fr::ZERO; depth],
            path_indices: vec![false; depth],
            receipt_hash: Fr::ZERO,
            registry_root: Fr::ZERO,
            amount_min: Fr::ZERO,
            amount_max: Fr::ZERO,
        }
    }

    /// Builds the circuit, refusing a receipt that does not satisfy the
    /// statement; the error names the failed condition.
    pub fn new(
        receipt: &Receipt,
        amount_min: u128,
        amount_max: u128,
        miner_path: &MerklePath,
    ) -> Result<Self> {
        receipt.check()?;
        if receipt.amount < amount_min {
            return Err(Error::Unsatisfied(format!(
                "amount < amount_min ({} < {amount_min})",
                receipt.amount
            )));
        }
        if receipt.amount > amount_max {
            return Err(Error::Unsatisfied(format!(
                "amount > amount_max ({} > {amount_max})",
                receipt.amount
            )));
        }
        if receipt.miner_id == Fr::ZERO {
            return Err(Error::Unsatisfied(
                "miner_id is 0, the empty leaf; identities are non-zero".into(),
            ));
        }
        if miner_path.elements.len() != miner_path.indices.len() || miner_path.elements.is_empty() {
            return Err(Error::Input(
                "path_elements and path_indices must have the same, non-zero length".into(),
            ));
        }
        Ok(Self {
            depth: miner_path.elements.len(),
            fields: receipt.fields(),
            path_elements: miner_path.elements.clone(),
            path_indices: miner_path.indices.clone(),
            receipt_hash: receipt.hash(),
            registry_root: miner_path.root_from(receipt.miner_id),
            amount_min: Fr::from(amount_min),
            amount_max: Fr::from(amount_max),
        })
    }

    /// The public inputs in order.
    pub fn public_inputs(&self) -> Vec<Fr> {
        vec![
            self.receipt_hash,
            self.registry_root,
            self.amount_min,
            self.amount_max,
        ]
    }
}

impl ConstraintSynthesizer<Fr> for ReceiptCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let receipt_hash = FpVar::new_input(cs.clone(), || Ok(self.receipt_hash))?;
        let registry_root = FpVar::new_input(cs.clone(), || Ok(self.registry_root))?;
        let amount_min = FpVar::new_input(cs.clone(), || Ok(self.amount_min))?;
        let amount_max = FpVar::new_input(cs.clone(), || Ok(self.amount_max))?;
        let f = self
            .fields
            .iter()
            .map(|x| FpVar::new_witness(cs.clone(), || Ok(*x)))
            .collect::<Result<Vec<_>, _>>()?;
        let path = MerklePathVar::new_witness(
            cs.clone(),
            self.depth,
            &self.path_elements,
            &self.path_indices,
        )?;
        let [
            _job,
            _client,
            miner,
            units,
            unit_price,
            amount,
            fee,
            timestamp,
            _salt,
        ] = &f[..]
        else {
            return Err(SynthesisError::Unsatisfiable);
        };

        hash_var(&f)?.enforce_equal(&receipt_hash)?;
        for x in [units, unit_price, fee, timestamp] {
            enforce_bits(x, 64)?;
        }
        units.mul_equals(unit_price, amount)?;
        enforce_le(fee, amount, 128)?;
        enforce_bits(&amount_min, 128)?;
        enforce_bits(&amount_max, 128)?;
        enforce_le(&amount_min, amount, 128)?;
        enforce_le(amount, &amount_max, 128)?;
        path.enforce_member(miner, &registry_root)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuits::AnyCircuit;
    use crate::merkle::MerkleTree;
    use crate::poseidon::{h1, hash};
    use ark_ff::Field;

    const DEPTH: usize = 8;
    /// Measured at D = 8, the non-zero miner check included; each extra
    /// level adds 242.
    const MAX_CONSTRAINTS: usize = 3_262;

    fn two_pow(k: u64) -> Fr {
        Fr::from(2u64).pow([k])
    }

    fn receipt(miner_id: Fr) -> Receipt {
        Receipt {
            job_id: Fr::from(11u64),
            client_id: h1(Fr::from(2u64)),
            miner_id,
            units: 3_600_000,
            unit_price: 25,
            amount: 90_000_000,
            fee: 1_000_000,
            timestamp: 1_764_000_000,
            salt: Fr::from(123456789u64),
        }
    }

    fn good() -> (ReceiptCircuit, MerkleTree) {
        let miner = h1(Fr::from(5u64));
        let tree = MerkleTree::from_leaves(DEPTH, &[h1(Fr::from(1u64)), h1(Fr::from(3u64)), miner])
            .unwrap();
        let c = ReceiptCircuit::new(&receipt(miner), 1_000, 100_000_000, &tree.path(2).unwrap())
            .unwrap();
        (c, tree)
    }

    fn sat(c: &ReceiptCircuit) -> bool {
        AnyCircuit::Receipt(c.clone()).check().unwrap().0
    }

    /// Replaces field i and recomputes the hash, so that only the targeted
    /// condition is violated.
    fn with_field(c: &ReceiptCircuit, i: usize, v: Fr) -> ReceiptCircuit {
        let mut c = c.clone();
        c.fields[i] = v;
        c.receipt_hash = hash(&c.fields).unwrap();
        c
    }

    #[test]
    fn valid_receipt_is_satisfied() {
        let (c, tree) = good();
        assert_eq!(c.registry_root, tree.root());
        let (ok, n) = AnyCircuit::Receipt(c).check().unwrap();
        assert!(ok);
        assert!(n <= MAX_CONSTRAINTS, "{n} constraints");
    }

    #[test]
    fn typed_constructor_names_the_failed_condition() {
        let (_, tree) = good();
        let path = tree.path(2).unwrap();
        let mut r = receipt(h1(Fr::from(5u64)));
        let e = ReceiptCircuit::new(&r, 100_000_001, u128::MAX, &path).unwrap_err();
        assert!(e.to_string().contains("amount < amount_min"), "{e}");
        let e = ReceiptCircuit::new(&r, 0, 10, &path).unwrap_err();
        assert!(e.to_string().contains("amount > amount_max"), "{e}");
        r.amount += 1;
        let e = ReceiptCircuit::new(&r, 0, u128::MAX, &path).unwrap_err();
        assert!(
            e.to_string().contains("amount != units * unit_price"),
            "{e}"
        );
        let mut r = receipt(h1(Fr::from(5u64)));
        r.fee = u64::MAX;
        r.units = 1;
        r.unit_price = 1;
        r.amount = 1;
        let e = ReceiptCircuit::new(&r, 0, u128::MAX, &path).unwrap_err();
        assert!(e.to_string().contains("fee > amount"), "{e}");
    }

    #[test]
    fn amount_out_of_bounds_fails() {
        let (c, _) = good();
        let mut lo = c.clone();
        lo.amount_min = Fr::from(90_000_001u64);
        assert!(!sat(&lo));
        let mut hi = c.clone();
        hi.amount_max = Fr::from(89_999_999u64);
        assert!(!sat(&hi));
        // bounds that are not < 2^128
        let mut b = c.clone();
        b.amount_max = two_pow(128);
        assert!(!sat(&b));
        let mut b = c.clone();
        b.amount_max = -Fr::ONE;
        assert!(!sat(&b));
        let mut b = c.clone();
        b.amount_min = -Fr::ONE;
        assert!(!sat(&b));
    }

    #[test]
    fn u64_fields_must_fit_64_bits() {
        let (c, _) = good();
        // units = 2^64 with unit_price 1 keeps amount = units * unit_price
        let mut x = with_field(&c, 3, two_pow(64));
        x.fields[4] = Fr::ONE;
        x.fields[5] = two_pow(64);
        x.amount_max = two_pow(127);
        x.receipt_hash = hash(&x.fields).unwrap();
        assert!(!sat(&x));
        // unit_price = 2^64
        let mut x = with_field(&c, 4, two_pow(64));
        x.fields[3] = Fr::ONE;
        x.fields[5] = two_pow(64);
        x.amount_max = two_pow(127);
        x.receipt_hash = hash(&x.fields).unwrap();
        assert!(!sat(&x));
        // fee = 2^64 (and amount large enough that fee <= amount holds)
        let mut x = with_field(&c, 6, two_pow(64));
        x.fields[3] = two_pow(63);
        x.fields[4] = Fr::from(4u64);
        x.fields[5] = two_pow(65);
        x.amount_max = two_pow(127);
        x.receipt_hash = hash(&x.fields).unwrap();
        assert!(!sat(&x));
        // timestamp = 2^64 and p - 1
        assert!(!sat(&with_field(&c, 7, two_pow(64))));
        assert!(!sat(&with_field(&c, 7, -Fr::ONE)));
    }

    #[test]
    fn wrapped_values_fail() {
        let (c, _) = good();
        // units = p - 1, unit_price = p - 1: the product is 1 modulo p
        let mut x = with_field(&c, 3, -Fr::ONE);
        x.fields[4] = -Fr::ONE;
        x.fields[5] = Fr::ONE;
        x.fields[6] = Fr::ZERO;
        x.amount_min = Fr::ZERO;
        x.receipt_hash = hash(&x.fields).unwrap();
        assert!(!sat(&x));
        // fee = amount + 1: amount - fee wraps to p - 1
        let amount = c.fields[5];
        assert!(!sat(&with_field(&c, 6, amount + Fr::ONE)));
        // an amount that is not units * unit_price
        assert!(!sat(&with_field(&c, 5, amount + Fr::ONE)));
    }

    #[test]
    fn wrong_hash_or_registry_fails() {
        let (c, _) = good();
        let mut x = c.clone();
        x.receipt_hash += Fr::ONE;
        assert!(!sat(&x));
        // a miner who is not in the registry
        assert!(!sat(&with_field(&c, 2, h1(Fr::from(6u64)))));
        let mut x = c.clone();
        x.path_indices[1] = !x.path_indices[1];
        assert!(!sat(&x));
        let mut x = c.clone();
        x.registry_root += Fr::ONE;
        assert!(!sat(&x));
        // the salt is bound by the hash
        let mut x = c.clone();
        x.fields[8] += Fr::ONE;
        assert!(!sat(&x));
    }

    /// The path of the first empty slot of `tree`: its siblings do not
    /// depend on the leaf, so any leaf inserted there gives them.
    fn empty_slot_path(tree: &MerkleTree) -> MerklePath {
        let mut t = tree.clone();
        t.insert(Fr::ONE).unwrap();
        t.path(tree.len()).unwrap()
    }

    #[test]
    fn miner_id_zero_on_an_empty_slot_fails() {
        let (c, tree) = good();
        let path = empty_slot_path(&tree);
        // Natively the attack works: 0 on an empty slot leads to the root.
        assert_eq!(path.root_from(Fr::ZERO), tree.root());
        let mut x = with_field(&c, 2, Fr::ZERO);
        x.path_elements = path.elements.clone();
        x.path_indices = path.indices.clone();
        assert_eq!(x.registry_root, tree.root());
        assert!(!sat(&x));
        // The same slot with a non-zero leaf is not a member either.
        let mut y = with_field(&x, 2, Fr::ONE);
        y.path_elements = path.elements.clone();
        assert!(!sat(&y));
        // The typed constructor names the condition.
        let e = ReceiptCircuit::new(&receipt(Fr::ZERO), 0, u128::MAX, &path).unwrap_err();
        assert!(e.to_string().contains("miner_id is 0"), "{e}");
    }
}
