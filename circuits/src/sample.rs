//! Valid random instances of each circuit, for benchmarks, demos and tests
//! that need a witness of realistic shape.

use crate::circuits::{
    AnyCircuit, CircuitKind, DisclosureCircuit, MembershipCircuit, RangeCircuit, ReceiptCircuit,
};
use crate::error::Result;
use crate::merkle::MerkleTree;
use crate::poseidon::h1;
use crate::receipt::Receipt;
use ark_bn254::Fr;
use ark_ff::UniformRand;
use ark_std::rand::{Rng, RngCore};

/// A registry of `members` random identities; returns the tree and the
/// secrets in insertion order.
pub fn registry<R: RngCore>(
    depth: usize,
    members: usize,
    rng: &mut R,
) -> Result<(MerkleTree, Vec<Fr>)> {
    let secrets: Vec<Fr> = (0..members).map(|_| Fr::rand(rng)).collect();
    let ids: Vec<Fr> = secrets.iter().map(|s| h1(*s)).collect();
    Ok((MerkleTree::from_leaves(depth, &ids)?, secrets))
}

/// A random, consistent receipt for `miner_id`.
pub fn receipt<R: RngCore>(miner_id: Fr, rng: &mut R) -> Receipt {
    let units = rng.gen_range(1..=10_000_000u64);
    let unit_price = rng.gen_range(1..=1_000_000u64);
    let amount = u128::from(units) * u128::from(unit_price);
    let fee = u64::try_from(amount / 100).unwrap_or(u64::MAX);
    Receipt {
        job_id: Fr::rand(rng),
        client_id: h1(Fr::rand(rng)),
        miner_id,
        units,
        unit_price,
        amount,
        fee,
        timestamp: 1_764_000_000 + rng.gen_range(0..86_400u64),
        salt: Fr::rand(rng),
    }
}

/// A valid instance of `kind` at registry depth `depth`, with a registry of
/// eight members where there is one.
pub fn instance<R: RngCore>(kind: CircuitKind, depth: usize, rng: &mut R) -> Result<AnyCircuit> {
    Ok(match kind {
        CircuitKind::Range => {
            let value = rng.gen_range(1_000..1_000_000_000u128);
            AnyCircuit::Range(RangeCircuit::new(
                value,
                Fr::rand(rng),
                value / 2,
                value * 2,
            )?)
        }
        CircuitKind::Membership => {
            let (tree, secrets) = registry(depth, 8, rng)?;
            AnyCircuit::Membership(MembershipCircuit::new(
                secrets[5],
                Fr::rand(rng),
                &tree.path(5)?,
            )?)
        }
        CircuitKind::Receipt => {
            let (tree, _) = registry(depth, 8, rng)?;
            let miner = tree.leaf(3).unwrap_or_default();
            let r = receipt(miner, rng);
            AnyCircuit::Receipt(ReceiptCircuit::new(
                &r,
                r.amount / 2,
                r.amount * 2,
                &tree.path(3)?,
            )?)
        }
        CircuitKind::Disclosure => {
            let r = receipt(h1(Fr::rand(rng)), rng);
            AnyCircuit::Disclosure(DisclosureCircuit::with_mask(&r, 0b0010_0100))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_std::rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn every_sample_satisfies_its_circuit() {
        let mut rng = StdRng::seed_from_u64(1);
        for kind in CircuitKind::ALL {
            let c = instance(kind, 6, &mut rng).unwrap();
            assert_eq!(c.kind(), kind);
            assert!(c.check().unwrap().0, "{}", kind.name());
        }
    }
}
