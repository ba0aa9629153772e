//! `disclosure`: public `receipt_hash, mask, d_0 .. d_7`; proves that the
//! nine private fields hash to `receipt_hash`, `mask < 2^8`, and for each
//! i < 8 that `d_i = field_i` when bit i of mask is set and `d_i = 0` when it
//! is not. Both cases are the one constraint `d_i = bit_i * field_i`. The
//! salt (field 8) is never disclosed.

use crate::bits::enforce_bits;
use crate::error::{Error, Result};
use crate::poseidon_var::hash_var;
use crate::receipt::{Receipt, disclosable_index};
use ark_bn254::Fr;
use ark_ff::AdditiveGroup;
use ark_r1cs_std::{fields::fp::FpVar, prelude::*};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

/// Public inputs, in order.
pub const PUBLIC_INPUTS: [&str; 10] = [
    "receipt_hash",
    "mask",
    "d_0",
    "d_1",
    "d_2",
    "d_3",
    "d_4",
    "d_5",
    "d_6",
    "d_7",
];

/// The disclosure statement with its witness.
#[derive(Clone, Debug)]
pub struct DisclosureCircuit {
    /// Private: the nine receipt fields.
    pub fields: [Fr; 9],
    /// Public: `H9(fields)`.
    pub receipt_hash: Fr,
    /// Public: bit i set discloses field i.
    pub mask: Fr,
    /// Public: the disclosed values, 0 where not disclosed.
    pub disclosed: [Fr; 8],
}

impl DisclosureCircuit {
    /// Placeholder values for setup.
    pub fn blank() -> Self {
        Self {
            fields: [Fr::ZERO; 9],
            receipt_hash: Fr::ZERO,
            mask: Fr::ZERO,
            disclosed: [Fr::ZERO; 8],
        }
    }

    /// Discloses the named fields of `receipt` (names from DESIGN §4; `salt`
    /// cannot be disclosed).
    pub fn new(receipt: &Receipt, disclose: &[String]) -> Result<Self> {
        let mut mask = 0u8;
        for name in disclose {
            let i = disclosable_index(name).ok_or_else(|| {
                Error::Input(format!(
                    "cannot disclose {name:?}: expected one of job_id, client_id, miner_id, units, unit_price, amount, fee, timestamp"
                ))
            })?;
            mask |= 1 << i;
        }
        Ok(Self::with_mask(receipt, mask))
    }

    /// Discloses the fields whose bits are set in `mask`.
    pub fn with_mask(receipt: &Receipt, mask: u8) -> Self {
        let fields = receipt.fields();
        let mut disclosed = [Fr::ZERO; 8];
        for (i, d) in disclosed.iter_mut().enumerate() {
            if mask >> i & 1 == 1 {
                *d = fields[i];
            }
        }
        Self {
            fields,
            receipt_hash: receipt.hash(),
            mask: Fr::from(mask),
            disclosed,
        }
    }

    /// The public inputs in order.
    pub fn public_inputs(&self) -> Vec<Fr> {
        let mut v = vec![self.receipt_hash, self.mask];
        v.extend_from_slice(&self.disclosed);
        v
    }
}

impl ConstraintSynthesizer<Fr> for DisclosureCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let receipt_hash = FpVar::new_input(cs.clone(), || Ok(self.receipt_hash))?;
        let mask = FpVar::new_input(cs.clone(), || Ok(self.mask))?;
        let d = self
            .disclosed
            .iter()
            .map(|x| FpVar::new_input(cs.clone(), || Ok(*x)))
            .collect::<Result<Vec<_>, _>>()?;
        let f = self
            .fields
            .iter()
            .map(|x| FpVar::new_witness(cs.clone(), || Ok(*x)))
            .collect::<Result<Vec<_>, _>>()?;

        hash_var(&f)?.enforce_equal(&receipt_hash)?;
        let bits = enforce_bits(&mask, 8)?;
        for i in 0..8 {
            FpVar::from(bits[i].clone()).mul_equals(&f[i], &d[i])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuits::AnyCircuit;
    use crate::poseidon::h1;
    use ark_ff::Field;

    const MAX_CONSTRAINTS: usize = 450;

    fn receipt() -> Receipt {
        Receipt {
            job_id: Fr::from(11u64),
            client_id: h1(Fr::from(2u64)),
            miner_id: h1(Fr::from(5u64)),
            units: 1000,
            unit_price: 7,
            amount: 7000,
            fee: 70,
            timestamp: 1_764_000_000,
            salt: Fr::from(99u64),
        }
    }

    fn sat(c: &DisclosureCircuit) -> bool {
        AnyCircuit::Disclosure(c.clone()).check().unwrap().0
    }

    #[test]
    fn chosen_fields_are_disclosed() {
        let c = DisclosureCircuit::new(&receipt(), &["amount".into(), "miner_id".into()]).unwrap();
        assert_eq!(c.mask, Fr::from(0b100100u64));
        assert_eq!(c.disclosed[5], Fr::from(7000u64));
        assert_eq!(c.disclosed[0], Fr::ZERO);
        let (ok, n) = AnyCircuit::Disclosure(c).check().unwrap();
        assert!(ok);
        assert!(n <= MAX_CONSTRAINTS, "{n} constraints");
        assert!(sat(&DisclosureCircuit::with_mask(&receipt(), 0)));
        assert!(sat(&DisclosureCircuit::with_mask(&receipt(), 0xff)));
    }

    #[test]
    fn salt_and_unknown_names_cannot_be_disclosed() {
        assert!(DisclosureCircuit::new(&receipt(), &["salt".into()]).is_err());
        assert!(DisclosureCircuit::new(&receipt(), &["price".into()]).is_err());
    }

    #[test]
    fn tampered_disclosures_fail() {
        let good = DisclosureCircuit::with_mask(&receipt(), 0b0010_0100);
        // a disclosed value that differs
        let mut c = good.clone();
        c.disclosed[5] += Fr::ONE;
        assert!(!sat(&c));
        // a value shown where the mask bit is clear
        let mut c = good.clone();
        c.disclosed[0] = c.fields[0];
        assert!(!sat(&c));
        // mask bit 8 set (would address the salt)
        let mut c = good.clone();
        c.mask += Fr::from(256u64);
        assert!(!sat(&c));
        // a mask that wraps
        let mut c = good.clone();
        c.mask = -Fr::ONE;
        assert!(!sat(&c));
        // wrong hash
        let mut c = good.clone();
        c.receipt_hash += Fr::ONE;
        assert!(!sat(&c));
        // a different private field under the same hash
        let mut c = good.clone();
        c.fields[3] += Fr::ONE;
        assert!(!sat(&c));
    }
}
