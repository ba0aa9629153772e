//! A snarkjs-form setup from a known trapdoor (what `snarkjs groth16 setup`
//! and its contributions compute, with gamma = 1), and the tests that hold
//! the zkey prover and the key conversion to arkworks against it.
#![allow(clippy::unwrap_used)]

use crate::r1cs::{Lc, R1cs};
use crate::{Error, Matrix, Zkey, ZkeyProvingKey, r1cs_of, to_arkworks, witness_of, zkey};
use ark_bn254::{Bn254, Fr, G1Affine, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{Field, UniformRand, Zero};
use ark_groth16::Groth16;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use ark_snark::SNARK;
use ark_std::rand::{SeedableRng, rngs::StdRng};
use zkr_prover::{Backend, circuit::MulChain, zkey::prove_zkey_with_rs};

pub(crate) struct Trapdoor {
    pub tau: Fr,
    pub alpha: Fr,
    pub beta: Fr,
    pub delta: Fr,
}

impl Trapdoor {
    pub fn random(rng: &mut StdRng) -> Self {
        Self {
            tau: Fr::rand(rng),
            alpha: Fr::rand(rng),
            beta: Fr::rand(rng),
            delta: Fr::rand(rng),
        }
    }
}

fn g1(x: Fr) -> G1Affine {
    (G1Affine::generator() * x).into_affine()
}

fn g2(x: Fr) -> G2Affine {
    (G2Affine::generator() * x).into_affine()
}

pub(crate) fn setup(r: &R1cs, t: &Trapdoor) -> ZkeyProvingKey {
    let n = r.domain_size();
    let dom = Radix2EvaluationDomain::<Fr>::new(n).unwrap();
    let u = dom.evaluate_all_lagrange_coefficients(t.tau);
    let u2 = Radix2EvaluationDomain::<Fr>::new(2 * n)
        .unwrap()
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
    let d_inv = t.delta.inverse().unwrap();
    let lin: Vec<Fr> = (0..nv)
        .map(|s| t.beta * a[s] + t.alpha * b[s] + c[s])
        .collect();
    ZkeyProvingKey {
        n_public: r.n_public(),
        domain_size: n,
        alpha_g1: g1(t.alpha),
        beta_g1: g1(t.beta),
        beta_g2: g2(t.beta),
        gamma_g2: G2Affine::generator(),
        delta_g1: g1(t.delta),
        delta_g2: g2(t.delta),
        ic: lin[..=r.n_public()].iter().map(|x| g1(*x)).collect(),
        coeffs: r.zkey_coeffs(),
        a: a.iter().map(|x| g1(*x)).collect(),
        b1: b.iter().map(|x| g1(*x)).collect(),
        b2: b.iter().map(|x| g2(*x)).collect(),
        c: lin[r.n_public() + 1..]
            .iter()
            .map(|x| g1(*x * d_inv))
            .collect(),
        h: (0..n).map(|i| g1(u2[2 * i + 1] * d_inv)).collect(),
    }
}

fn chain(steps: usize, start: u64) -> MulChain {
    MulChain {
        start: Some(Fr::from(start)),
        steps,
    }
}

fn verify(k: &ZkeyProvingKey, proof: &ark_groth16::Proof<Bn254>, public: &[Fr]) -> bool {
    let pvk = Groth16::<Bn254>::process_vk(&k.verifying_key()).unwrap();
    Groth16::<Bn254>::verify_with_processed_vk(&pvk, public, proof).unwrap()
}

#[test]
fn zkey_prover_proofs_verify_and_tampering_fails() {
    let mut rng = StdRng::seed_from_u64(1);
    for steps in [1usize, 6, 61] {
        let r = r1cs_of(MulChain { start: None, steps }).unwrap();
        let k = setup(&r, &Trapdoor::random(&mut rng));
        let w = witness_of(chain(steps, 3)).unwrap();
        assert!(r.is_satisfied(&w));
        let p = zkr_prover::zkey::prove_zkey(&k, &w, &mut rng, Backend::Cpu).unwrap();
        let public = &w[1..=k.n_public];
        assert!(verify(&k, &p.proof, public), "steps {steps}");
        let mut wrong = public.to_vec();
        wrong[0] += Fr::from(1u64);
        assert!(!verify(&k, &p.proof, &wrong));
        // a witness that breaks a constraint gives a proof that fails
        // (wire 2 is the chain's start, used by the first squaring or, with
        // one step, by the final equality)
        let mut bad = w.clone();
        bad[2] += Fr::from(1u64);
        assert!(!r.is_satisfied(&bad));
        let p = zkr_prover::zkey::prove_zkey(&k, &bad, &mut rng, Backend::Cpu).unwrap();
        assert!(!verify(&k, &p.proof, public));
        // dropping an A or B coefficient of a non-zero wire breaks the proof
        for drop_matrix in [Matrix::A, Matrix::B] {
            let mut k2 = k.clone();
            let i = k2
                .coeffs
                .iter()
                .position(|c| c.matrix == drop_matrix && !w[c.signal as usize].is_zero())
                .unwrap();
            k2.coeffs.remove(i);
            let p = zkr_prover::zkey::prove_zkey(&k2, &w, &mut rng, Backend::Cpu).unwrap();
            assert!(!verify(&k2, &p.proof, public), "{drop_matrix:?}");
        }
    }
}

/// The converted key proves with our arkworks-form prover, bit for bit the
/// proof the zkey prover makes with the same blinding, and its H query is
/// `tau^j Z(tau) / delta`.
#[test]
fn converted_key_equals_zkey_prover_and_arkworks_form() {
    let mut rng = StdRng::seed_from_u64(2);
    for steps in [3usize, 40] {
        let r = r1cs_of(MulChain { start: None, steps }).unwrap();
        let t = Trapdoor::random(&mut rng);
        let k = setup(&r, &t);
        let pk = to_arkworks(&k).unwrap();
        let n = k.domain_size;
        let z = t.tau.pow([n as u64]) - Fr::from(1u64);
        let d_inv = t.delta.inverse().unwrap();
        assert_eq!(pk.h_query.len(), n - 1);
        for (j, p) in pk.h_query.iter().enumerate() {
            assert_eq!(*p, g1(t.tau.pow([j as u64]) * z * d_inv), "h_query[{j}]");
        }
        let (rr, ss) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        let w = witness_of(chain(steps, 5)).unwrap();
        let ours = prove_zkey_with_rs(&k, &w, rr, ss, Backend::Cpu).unwrap();
        let ark = zkr_prover::prove_with_rs(&pk, chain(steps, 5), rr, ss, Backend::Cpu).unwrap();
        assert_eq!(ours.proof, ark.proof);
        assert!(verify(&k, &ours.proof, &w[1..=k.n_public]));
    }
}

#[test]
fn zkey_round_trips_and_refuses_malformed() {
    let mut rng = StdRng::seed_from_u64(3);
    let r = r1cs_of(MulChain {
        start: None,
        steps: 5,
    })
    .unwrap();
    let z = Zkey {
        key: setup(&r, &Trapdoor::random(&mut rng)),
        contributions: Some(vec![7; 70]),
    };
    let good = zkey::write(&z).unwrap();
    assert_eq!(zkey::read(&good, "k.zkey").unwrap(), z);
    let section = |b: &[u8]| match zkey::read(b, "k.zkey") {
        Err(Error::Malformed { section, .. }) => section,
        other => panic!("{other:?}"),
    };
    for n in (0..good.len()).step_by(7) {
        assert!(zkey::read(&good[..n], "k.zkey").is_err());
    }
    // offsets: file header 12; section 1 (12 + 4); section 2 header 12
    let s2 = 12 + 16 + 12;
    let nvars = s2 + 4 + 32 + 4 + 32;
    let mut b = good.clone();
    b[nvars..nvars + 4].copy_from_slice(&1000u32.to_le_bytes());
    assert_eq!(section(&b), "A");
    let mut b = good.clone();
    b[nvars + 8] = 3; // domain size not a power of two
    assert_eq!(section(&b), "groth16 header");
    let mut b = good.clone();
    b[s2 + 4] ^= 1; // q of another curve
    assert_eq!(section(&b), "groth16 header");
    let alpha = nvars + 12;
    let mut b = good.clone();
    b[alpha] ^= 1; // alpha off the curve
    assert_eq!(section(&b), "groth16 header");
    let mut b = good.clone();
    b[alpha..alpha + 64].fill(0); // alpha the identity
    assert_eq!(section(&b), "groth16 header");
    // a coefficient whose signal is out of range, or whose value is >= r
    let ic_len = (z.key.n_public + 1) * 64;
    let co = s2 + (4 + 32 + 4 + 32 + 12 + 64 * 3 + 128 * 3) + 12 + ic_len + 12 + 4;
    let mut b = good.clone();
    b[co + 8..co + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(section(&b), "coefficients");
    let mut b = good.clone();
    b[co..co + 4].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(section(&b), "coefficients");
    let mut b = good.clone();
    b[co + 12..co + 44].copy_from_slice(&crate::field::r_bytes());
    assert_eq!(section(&b), "coefficients");
    // the last H point moved off the curve
    let mut b = good.clone();
    let h_end = good.len() - (12 + 70);
    b[h_end - 1] ^= 1;
    assert_eq!(section(&b), "H");
    // a huge coefficient count is refused before any allocation
    let mut b = good;
    b[co - 4..co].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(section(&b), "coefficients");
}

/// A G2 point on the curve but outside the prime-order subgroup is refused
/// wherever a `.zkey` holds one.
#[test]
fn zkey_refuses_g2_points_outside_the_subgroup() {
    let mut rng = StdRng::seed_from_u64(4);
    let r = r1cs_of(MulChain {
        start: None,
        steps: 2,
    })
    .unwrap();
    let mut z = Zkey {
        key: setup(&r, &Trapdoor::random(&mut rng)),
        contributions: None,
    };
    let p = loop {
        let x = ark_bn254::Fq2::rand(&mut rng);
        if let Some(p) = G2Affine::get_point_from_x_unchecked(x, false)
            && !p.is_in_correct_subgroup_assuming_on_curve()
        {
            break p;
        }
    };
    z.key.b2[1] = p;
    let b = zkey::write(&z).unwrap();
    let e = zkey::read(&b, "k.zkey").unwrap_err().to_string();
    assert!(e.contains("B2") && e.contains("subgroup"), "{e}");
}

#[test]
fn exported_r1cs_round_trips_and_matches_the_circuit() {
    let blank = MulChain {
        start: None,
        steps: 9,
    };
    let r = r1cs_of(blank).unwrap();
    assert_eq!(r.n_public(), 1);
    assert_eq!(
        crate::r1cs::read(&crate::r1cs::write(&r).unwrap(), "c.r1cs").unwrap(),
        r
    );
    let w = witness_of(chain(9, 2)).unwrap();
    assert!(r.is_satisfied(&w));
    assert_eq!(w[1], MulChain::output(Fr::from(2u64), 9));
    // the witness round-trips through .wtns
    assert_eq!(
        crate::wtns::read(&crate::wtns::write(&w).unwrap(), "w").unwrap(),
        w
    );
}
