//! Inputs shared by the tests of the scalar and the lane MSM.

use ark_bn254::Fr;
use ark_ec::CurveGroup;
use ark_ff::{PrimeField, Zero};
use ark_std::rand::rngs::StdRng;
use proptest::prelude::*;

/// `n` random points of `G`, affine.
pub(crate) fn points<G: CurveGroup>(n: usize, rng: &mut StdRng) -> Vec<G::Affine> {
    let v: Vec<G> = (0..n).map(|_| G::rand(rng)).collect();
    G::normalize_batch(&v)
}

/// Scalars with the classes the MSM treats apart: 0, 1, -1, 64-bit values
/// and their negatives, and full-size ones (twice as likely).
pub(crate) fn scalar_strategy() -> impl Strategy<Value = Fr> {
    prop_oneof![
        Just(Fr::zero()),
        Just(Fr::from(1u64)),
        Just(-Fr::from(1u64)),
        any::<u64>().prop_map(Fr::from),
        any::<u64>().prop_map(|v| -Fr::from(v)),
        any::<[u8; 32]>().prop_map(|b| Fr::from_le_bytes_mod_order(&b)),
        any::<[u8; 32]>().prop_map(|b| Fr::from_le_bytes_mod_order(&b)),
    ]
}
