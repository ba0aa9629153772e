//! A snarkjs-form setup from a known trapdoor (what `snarkjs groth16 setup`
//! and its contributions compute, with gamma = 1), and the tests that hold
//! the zkey prover and the key conversion to arkworks against it.
#![allow(clippy::unwrap_used)]

use crate::r1cs::R1cs;
use crate::{Error, Matrix, Zkey, ZkeyProvingKey, r1cs_of, to_arkworks, witness_of, zkey};
use ark_bn254::{Bn254, Fr, G1Affine, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{Field, UniformRand, Zero};
use ark_groth16::Groth16;
use ark_snark::SNARK;
use ark_std::rand::{SeedableRng, rngs::StdRng};
use zkr_prover::{Backend, circuit::MulChain, zkey::prove_zkey_with_rs};

pub(crate) use crate::devsetup::Trapdoor;

fn g1(x: Fr) -> G1Affine {
    (G1Affine::generator() * x).into_affine()
}

pub(crate) fn setup(r: &R1cs, t: &Trapdoor) -> ZkeyProvingKey {
    crate::devsetup::setup(r, t).unwrap()
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

/// The checked key is cached beside the `.zkey` and read back equal; a
/// `.zkey` changed after that (here: a G2 point moved out of the subgroup)
/// is checked again, and refused, even though a cache is there.
#[test]
fn cached_zkey_is_bound_to_the_checked_bytes() {
    use zkr_prover::keycache::Loaded;
    let mut rng = StdRng::seed_from_u64(5);
    let r = r1cs_of(MulChain {
        start: None,
        steps: 12,
    })
    .unwrap();
    let mut z = Zkey {
        key: setup(&r, &Trapdoor::random(&mut rng)),
        contributions: Some(vec![1; 9]),
    };
    let good = zkey::write(&z).unwrap();
    let dir = std::env::temp_dir().join(format!("zkr-zkey-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cache = zkey::cache_path(&dir.join("c.zkey"));
    assert_eq!(cache, dir.join("c.zkey.checked"));
    let _ = std::fs::remove_file(&cache);

    let (k1, how) = zkey::read_key_cached(&good, "c.zkey", &cache).unwrap();
    assert!(matches!(how, Loaded::Checked { cache: Ok(_) }), "{how:?}");
    let (k2, how) = zkey::read_key_cached(&good, "c.zkey", &cache).unwrap();
    assert!(matches!(how, Loaded::Fast), "{how:?}");
    assert_eq!(k1, z.key);
    assert_eq!(k2, z.key);

    let p = loop {
        let x = ark_bn254::Fq2::rand(&mut rng);
        if let Some(p) = G2Affine::get_point_from_x_unchecked(x, false)
            && !p.is_in_correct_subgroup_assuming_on_curve()
        {
            break p;
        }
    };
    z.key.b2[1] = p;
    let bad = zkey::write(&z).unwrap();
    let e = zkey::read_key_cached(&bad, "c.zkey", &cache)
        .unwrap_err()
        .to_string();
    assert!(e.contains("B2") && e.contains("subgroup"), "{e}");
    // The cache still holds the good key, and only for the good bytes.
    let (_, how) = zkey::read_key_cached(&good, "c.zkey", &cache).unwrap();
    assert!(matches!(how, Loaded::Fast), "{how:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The zkey prover stops before the phase its observer refuses, and with a
/// flag that is never set proves exactly what it proves without one.
#[test]
fn zkey_prover_aborts_between_phases() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use zkr_prover::{Phase, ProveObserver, zkey::prove_zkey_observed};
    struct StopAt(Phase, AtomicBool);
    impl ProveObserver for StopAt {
        fn begin(&self, phase: Phase) -> std::ops::ControlFlow<()> {
            // The G2 MSM runs beside the G1 MSMs: only the G1 sequence is
            // ordered.
            let g2 = |p: Phase| p == Phase::MsmB2;
            if self.1.load(Ordering::Relaxed) && !g2(phase) && !g2(self.0) {
                panic!("{phase} began after the proof was stopped");
            }
            if phase == self.0 {
                self.1.store(true, Ordering::Relaxed);
                return std::ops::ControlFlow::Break(());
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut rng = StdRng::seed_from_u64(6);
    let r = r1cs_of(MulChain {
        start: None,
        steps: 30,
    })
    .unwrap();
    let k = setup(&r, &Trapdoor::random(&mut rng));
    let w = witness_of(chain(30, 3)).unwrap();
    let (rr, ss) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
    for phase in Phase::ALL {
        if matches!(phase, Phase::Synthesis | Phase::CosetIfft) {
            continue; // no synthesis for a given witness; H takes coset values
        }
        let got = prove_zkey_observed(
            &k,
            &w,
            rr,
            ss,
            Backend::Cpu,
            &StopAt(phase, AtomicBool::new(false)),
        );
        assert!(
            matches!(got, Err(zkr_prover::Error::Aborted { phase: p }) if p == phase),
            "{phase}: {got:?}"
        );
    }
    let flag = AtomicBool::new(false);
    let observed = prove_zkey_observed(&k, &w, rr, ss, Backend::Cpu, &flag).unwrap();
    assert_eq!(
        observed.proof,
        prove_zkey_with_rs(&k, &w, rr, ss, Backend::Cpu)
            .unwrap()
            .proof
    );
}
