//! Random MSM inputs, made quickly enough for 2^20 points.

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::CurveGroup;
use ark_ff::UniformRand;
use ark_std::rand::{SeedableRng, rngs::StdRng};
use rayon::prelude::*;

/// `n` distinct points: per chunk of 1024 a random start and a random step,
/// one addition per point, then one batch normalisation. Far cheaper than a
/// scalar multiplication per point; the MSM does not care how the points
/// relate.
pub fn g1_points(n: usize, seed: u64) -> Vec<G1Affine> {
    points::<G1Projective>(n, seed)
}

/// As [`g1_points`], in G2.
pub fn g2_points(n: usize, seed: u64) -> Vec<G2Affine> {
    points::<G2Projective>(n, seed)
}

fn points<G: CurveGroup>(n: usize, seed: u64) -> Vec<G::Affine> {
    let proj: Vec<G> = (0..n.div_ceil(1024))
        .into_par_iter()
        .flat_map_iter(|chunk| {
            let mut rng =
                StdRng::seed_from_u64(seed ^ (chunk as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let step = G::rand(&mut rng);
            let mut p = G::rand(&mut rng);
            let len = 1024.min(n - chunk * 1024);
            (0..len).map(move |_| {
                p += step;
                p
            })
        })
        .collect();
    G::normalize_batch(&proj)
}

/// `n` uniformly random scalars.
pub fn scalars(n: usize, seed: u64) -> Vec<Fr> {
    (0..n.div_ceil(4096))
        .into_par_iter()
        .flat_map_iter(|chunk| {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(chunk as u64));
            let len = 4096.min(n - chunk * 4096);
            (0..len)
                .map(move |_| Fr::rand(&mut rng))
                .collect::<Vec<_>>()
        })
        .collect()
}
