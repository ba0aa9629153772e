//! A single-party Groth16 setup in snarkjs's form, for tests and
//! benchmarks only: whoever runs it knows the trapdoor and can forge proofs.
//! Real keys come from a ceremony (`snarkjs groth16 setup`, `zkey
//! contribute`, `zkey beacon`). It computes what those commands compute,
//! with gamma = 1, so that the `.zkey` prover and snarkjs can be measured on
//! circuits whose powers of tau would take too long to prepare.

use crate::r1cs::{Lc, R1cs};
use crate::{Result, ZkeyProvingKey};
use ark_bn254::{Fr, G1Projective, G2Affine, G2Projective};
use ark_ec::scalar_mul::BatchMulPreprocessing;
use ark_ec::{AffineRepr, PrimeGroup};
use ark_ff::{Field, UniformRand, Zero};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use ark_std::rand::{CryptoRng, RngCore};

/// The secrets of a setup.
pub struct Trapdoor {
    /// The evaluation point.
    pub tau: Fr,
    /// alpha.
    pub alpha: Fr,
    /// beta.
    pub beta: Fr,
    /// delta.
    pub delta: Fr,
}

impl Trapdoor {
    /// A random trapdoor.
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self {
            tau: Fr::rand(rng),
            alpha: Fr::rand(rng),
            beta: Fr::rand(rng),
            delta: Fr::rand(rng),
        }
    }
}

/// The proving key of `r` under trapdoor `t`.
pub fn setup(r: &R1cs, t: &Trapdoor) -> Result<ZkeyProvingKey> {
    let n = r.domain_size();
    let no_domain = || crate::Error::Mismatch(format!("no evaluation domain of size {n}"));
    let u = Radix2EvaluationDomain::<Fr>::new(n)
        .ok_or_else(no_domain)?
        .evaluate_all_lagrange_coefficients(t.tau);
    let u2 = Radix2EvaluationDomain::<Fr>::new(2 * n)
        .ok_or_else(no_domain)?
        .evaluate_all_lagrange_coefficients(t.tau);
    let nv = r.n_wires;
    let (mut a, mut b, mut c) = (
        vec![Fr::zero(); nv],
        vec![Fr::zero(); nv],
        vec![Fr::zero(); nv],
    );
    let add = |acc: &mut Vec<Fr>, lc: &Lc, l: Fr| {
        for (w, v) in lc {
            acc[*w as usize] += l * v;
        }
    };
    for (row, k) in r.constraints.iter().enumerate() {
        add(&mut a, &k.a, u[row]);
        add(&mut b, &k.b, u[row]);
        add(&mut c, &k.c, u[row]);
    }
    let m = r.constraints.len();
    for (i, ai) in a.iter_mut().enumerate().take(r.n_public() + 1) {
        *ai += u[m + i];
    }
    let d_inv = t
        .delta
        .inverse()
        .ok_or_else(|| crate::Error::Mismatch("delta is zero".into()))?;
    let lin: Vec<Fr> = (0..nv)
        .map(|s| t.beta * a[s] + t.alpha * b[s] + c[s])
        .collect();
    let np = r.n_public();
    let g1 = BatchMulPreprocessing::new(G1Projective::generator(), 5 * nv + n);
    let g2 = BatchMulPreprocessing::new(G2Projective::generator(), nv + 3);
    let g1s = |v: &[Fr]| g1.batch_mul(v);
    let mut g2s = g2.batch_mul(&[t.beta, t.delta]).into_iter();
    let beta_g2 = g2s.next().unwrap_or_default();
    let delta_g2 = g2s.next().unwrap_or_default();
    let mut head = g1s(&[t.alpha, t.beta, t.delta]).into_iter();
    let c_scalars: Vec<Fr> = lin[np + 1..].iter().map(|x| *x * d_inv).collect();
    let h_scalars: Vec<Fr> = (0..n).map(|i| u2[2 * i + 1] * d_inv).collect();
    Ok(ZkeyProvingKey {
        n_public: np,
        domain_size: n,
        alpha_g1: head.next().unwrap_or_default(),
        beta_g1: head.next().unwrap_or_default(),
        beta_g2,
        gamma_g2: G2Affine::generator(),
        delta_g1: head.next().unwrap_or_default(),
        delta_g2,
        ic: g1s(&lin[..=np]),
        coeffs: r.zkey_coeffs(),
        a: g1s(&a),
        b1: g1s(&b),
        b2: g2.batch_mul(&b),
        c: g1s(&c_scalars),
        h: g1s(&h_scalars),
    })
}
