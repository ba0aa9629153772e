//! Groth16 proving over BN254 with the multi-scalar multiplications routed
//! through the `zkr-gpu` backends.
//!
//! The witness map (R1CS to QAP) is ark-groth16's `LibsnarkReduction`; the
//! five MSMs (A, B in G1, B in G2, the `l` and `h` terms of C) go through a
//! [`zkr_gpu::MsmBackend`]. With the same `r, s` the proof is bit for bit
//! the one `ark_groth16::Groth16::create_proof_with_reduction` makes.
#![forbid(unsafe_code)]

pub mod circuit;
pub mod keycache;
pub mod observe;
mod prepared;
mod qap;
pub mod throughput;

pub mod zkey;

pub use observe::{Phase, ProveObserver};
pub use prepared::Prepared;

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{PrimeField, UniformRand, Zero};
use ark_groth16::{Proof, ProvingKey};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, OptimizationGoal,
    R1CS_PREDICATE_LABEL, SynthesisError, SynthesisMode,
};
use ark_std::rand::{CryptoRng, RngCore};
use rayon::prelude::*;
use zkr_gpu::{FallbackMsm, Scalar};

pub use zkr_gpu::{Backend, Device, Ran, device_slots, devices};

/// Errors of the prover.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The circuit could not be synthesized or was not satisfied.
    #[error("synthesis failed: {0}")]
    Synthesis(String),
    /// The requested MSM backend is not available.
    #[error("MSM backend: {0}")]
    Backend(#[from] zkr_gpu::Error),
    /// A throughput measurement could not run (thread pool, panic).
    #[error("throughput measurement: {0}")]
    Throughput(String),
    /// The observer stopped the proof before `phase`.
    #[error("proof aborted before {phase}")]
    Aborted {
        /// The phase that did not start.
        phase: Phase,
    },
}

impl From<SynthesisError> for Error {
    fn from(e: SynthesisError) -> Self {
        Self::Synthesis(e.to_string())
    }
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A proof and the backend that did its G1 MSMs (G2 is always on the CPU).
#[derive(Clone, Debug, PartialEq)]
pub struct Proved {
    /// The proof.
    pub proof: Proof<Bn254>,
    /// Where the G1 MSMs ran: `OpenCl` only if all of them ran there.
    pub ran: Ran,
}

/// Proves `circuit` under `pk`.
pub fn prove<C, R>(
    pk: &ProvingKey<Bn254>,
    circuit: C,
    rng: &mut R,
    backend: Backend,
) -> Result<Proof<Bn254>>
where
    C: ConstraintSynthesizer<Fr>,
    R: RngCore + CryptoRng,
{
    prove_reporting(pk, circuit, rng, backend).map(|p| p.proof)
}

/// Like [`prove`], and says which backend ran.
pub fn prove_reporting<C, R>(
    pk: &ProvingKey<Bn254>,
    circuit: C,
    rng: &mut R,
    backend: Backend,
) -> Result<Proved>
where
    C: ConstraintSynthesizer<Fr>,
    R: RngCore + CryptoRng,
{
    let r = Fr::rand(rng);
    let s = Fr::rand(rng);
    prove_with_rs(pk, circuit, r, s, backend)
}

/// Proves with the given blinding factors `r, s` (which must be uniformly
/// random and secret for the proof to be zero-knowledge); the result equals
/// `Groth16::<Bn254>::create_proof_with_reduction(circuit, pk, r, s)`.
pub fn prove_with_rs<C>(
    pk: &ProvingKey<Bn254>,
    circuit: C,
    r: Fr,
    s: Fr,
    backend: Backend,
) -> Result<Proved>
where
    C: ConstraintSynthesizer<Fr>,
{
    prove_observed(pk, circuit, r, s, backend, &())
}

/// As [`prove_with_rs`], telling `obs` each phase; `obs` may stop the proof
/// between phases ([`Error::Aborted`]). Synthesis builds the matrices here;
/// [`Prepared`] builds them once per circuit.
pub fn prove_observed<C, O>(
    pk: &ProvingKey<Bn254>,
    circuit: C,
    r: Fr,
    s: Fr,
    backend: Backend,
    obs: &O,
) -> Result<Proved>
where
    C: ConstraintSynthesizer<Fr>,
    O: ProveObserver + ?Sized,
{
    let msm = zkr_gpu::select(backend)?;
    let cs = synthesize(circuit, true, obs)?;
    let matrices = cs
        .to_matrices()?
        .remove(R1CS_PREDICATE_LABEL)
        .ok_or_else(|| Error::Synthesis("the circuit has no R1CS constraints".into()))?;
    let num_inputs = cs.num_instance_variables();
    let num_constraints = cs.num_constraints();
    let inner = cs.borrow().ok_or(SynthesisError::MissingCS)?;
    let input = inner.instance_assignment()?;
    let aux = inner.witness_assignment()?;
    let full = [input, aux].concat();
    let h = qap::witness_map(&matrices, num_inputs, num_constraints, &full, obs)?;
    drop((matrices, full));
    prove_from_assignment(pk, h, input, aux, r, s, &msm, obs)
}

/// The synthesis phase (reported to `obs`): `circuit` in a fresh
/// constraint system in prove mode, finalized; with its R1CS matrices only
/// when `construct_matrices` (a prover with prepared matrices needs the
/// assignment alone).
pub(crate) fn synthesize<C, O>(
    circuit: C,
    construct_matrices: bool,
    obs: &O,
) -> Result<ConstraintSystemRef<Fr>>
where
    C: ConstraintSynthesizer<Fr>,
    O: ProveObserver + ?Sized,
{
    observe::run(obs, Phase::Synthesis, || {
        let cs = ConstraintSystem::new_ref();
        cs.set_optimization_goal(OptimizationGoal::Constraints);
        cs.set_mode(SynthesisMode::Prove {
            construct_matrices,
            generate_lc_assignments: false,
        });
        circuit.generate_constraints(cs.clone())?;
        cs.finalize();
        Ok(cs)
    })
}

/// The MSM phase: the proof from the QAP witness `h` and the R1CS
/// assignment (`input` starts with the constant one).
#[allow(clippy::too_many_arguments)]
pub(crate) fn prove_from_assignment<O: ProveObserver + ?Sized>(
    pk: &ProvingKey<Bn254>,
    h: Vec<Fr>,
    input: &[Fr],
    aux: &[Fr],
    r: Fr,
    s: Fr,
    msm: &FallbackMsm,
    obs: &O,
) -> Result<Proved> {
    let to_bigints = |v: &[Fr]| {
        v.par_iter()
            .map(|x| x.into_bigint())
            .collect::<Vec<Scalar>>()
    };

    let h = to_bigints(&h);
    let input = to_bigints(input.get(1..).unwrap_or_default());
    let aux = to_bigints(aux);
    let assignment = [&input[..], &aux[..]].concat();
    drop(input);

    // The G2 MSM (CPU, scalar arithmetic) runs beside the G1 MSMs, so that
    // a core that finishes its G1 windows early takes G2 work.
    let (g1_sums, g2_acc) = rayon::join(
        || -> Result<_> {
            let (h_acc, r1) = observe::run(obs, Phase::MsmH, || g1(msm, &pk.h_query, &h))?;
            let (l_acc, r2) = observe::run(obs, Phase::MsmL, || g1(msm, &pk.l_query, &aux))?;
            let (a_acc, r3) = observe::run(obs, Phase::MsmA, || {
                g1(msm, pk.a_query.get(1..).unwrap_or_default(), &assignment)
            })?;
            let b = if r.is_zero() {
                None
            } else {
                Some(observe::run(obs, Phase::MsmB1, || {
                    g1(msm, pk.b_g1_query.get(1..).unwrap_or_default(), &assignment)
                })?)
            };
            let on_device = [r1, r2, r3]
                .into_iter()
                .chain(b.map(|(_, r)| r))
                .all(|r| r == Ran::OpenCl);
            Ok((h_acc, l_acc, a_acc, b.map(|(b, _)| b), on_device))
        },
        || {
            observe::run(obs, Phase::MsmB2, || {
                g2(msm, &pk.b_g2_query[..], &assignment)
            })
        },
    );
    let (h_acc, l_acc, a_acc, b_acc, on_device) = g1_sums?;
    let g2_acc = g2_acc?;
    drop((h, aux, assignment));
    let ran = if on_device && msm.preferred() == Ran::OpenCl {
        Ran::OpenCl
    } else {
        Ran::Cpu
    };

    let g_a = pk.delta_g1 * r + first(&pk.a_query) + a_acc + pk.vk.alpha_g1;
    let g1_b = match b_acc {
        None => G1Projective::zero(),
        Some(b_acc) => pk.delta_g1 * s + first(&pk.b_g1_query) + b_acc + pk.beta_g1,
    };
    let g2_b = pk.vk.delta_g2 * s + first(&pk.b_g2_query) + g2_acc + pk.vk.beta_g2;

    let g_c = g_a * s + g1_b * r - pk.delta_g1 * (r * s) + l_acc + h_acc;
    Ok(Proved {
        proof: Proof {
            a: g_a.into_affine(),
            b: g2_b.into_affine(),
            c: g_c.into_affine(),
        },
        ran,
    })
}

fn first<A: AffineRepr>(query: &[A]) -> A {
    query.first().copied().unwrap_or_else(A::zero)
}

/// A G1 MSM over the common length (as arkworks does: `h` has one more
/// entry than `h_query`).
fn g1(msm: &FallbackMsm, bases: &[G1Affine], scalars: &[Scalar]) -> Result<(G1Projective, Ran)> {
    let n = bases.len().min(scalars.len());
    Ok(msm.msm_g1_ran(&bases[..n], &scalars[..n])?)
}

/// The B term in G2 over `b_g2_query[1..]`.
fn g2(msm: &FallbackMsm, query: &[G2Affine], scalars: &[Scalar]) -> Result<G2Projective> {
    let bases = query.get(1..).unwrap_or_default();
    let n = bases.len().min(scalars.len());
    Ok(msm.msm_g2_ran(&bases[..n], &scalars[..n])?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::MulChain;
    use ark_groth16::Groth16;
    use ark_snark::SNARK;
    use ark_std::rand::{SeedableRng, rngs::StdRng};

    fn setup(steps: usize, rng: &mut StdRng) -> ProvingKey<Bn254> {
        let blank = MulChain { start: None, steps };
        Groth16::<Bn254>::generate_random_parameters_with_reduction(blank, rng).unwrap()
    }

    #[test]
    fn equals_ark_groth16_with_same_r_s() {
        let mut rng = StdRng::seed_from_u64(11);
        for steps in [1usize, 7, 64, 1000] {
            let pk = setup(steps, &mut rng);
            let start = Fr::from(3u64);
            let circuit = MulChain {
                start: Some(start),
                steps,
            };
            for (r, s) in [
                (Fr::rand(&mut rng), Fr::rand(&mut rng)),
                (Fr::zero(), Fr::zero()),
                (Fr::zero(), Fr::rand(&mut rng)),
            ] {
                let ours = prove_with_rs(&pk, circuit.clone(), r, s, Backend::Cpu).unwrap();
                let theirs =
                    Groth16::<Bn254>::create_proof_with_reduction(circuit.clone(), &pk, r, s)
                        .unwrap();
                assert_eq!(ours.proof, theirs, "steps = {steps}");
                assert_eq!(ours.ran, Ran::Cpu);
            }
            let proof = prove(&pk, circuit, &mut rng, Backend::Auto).unwrap();
            let pvk = Groth16::<Bn254>::process_vk(&pk.vk).unwrap();
            let public = [MulChain::output(start, steps)];
            assert!(Groth16::<Bn254>::verify_with_processed_vk(&pvk, &public, &proof).unwrap());
        }
    }

    #[test]
    fn key_has_identity_points() {
        let mut rng = StdRng::seed_from_u64(12);
        let pk = setup(16, &mut rng);
        assert!(pk.a_query.iter().any(|p| p.is_zero()));
        assert!(pk.b_g2_query.iter().any(|p| p.is_zero()));
    }

    #[test]
    fn opencl_proof_equals_ark_groth16() {
        let mut rng = StdRng::seed_from_u64(14);
        let pk = setup(200, &mut rng);
        let circuit = MulChain {
            start: Some(Fr::from(5u64)),
            steps: 200,
        };
        let (r, s) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        let ours = match prove_with_rs(&pk, circuit.clone(), r, s, Backend::OpenCl) {
            Ok(p) => p,
            Err(e) if std::env::var("ZKR_REQUIRE_OPENCL").as_deref() != Ok("1") => {
                use std::io::Write;
                // Straight to the stderr handle: libtest captures eprintln!.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIP opencl_proof_equals_ark_groth16: no OpenCL device ({e}); set ZKR_REQUIRE_OPENCL=1 to fail instead"
                );
                return;
            }
            Err(e) => panic!("ZKR_REQUIRE_OPENCL=1 but: {e}"),
        };
        assert_eq!(ours.ran, Ran::OpenCl);
        let theirs = Groth16::<Bn254>::create_proof_with_reduction(circuit, &pk, r, s).unwrap();
        assert_eq!(ours.proof, theirs);
    }

    #[test]
    fn receipt_circuit_proof_equals_ark_groth16() {
        use zkr_circuits::circuits::CircuitKind;
        let mut rng = StdRng::seed_from_u64(15);
        let depth = 8;
        let blank = CircuitKind::Receipt.blank(depth).unwrap();
        let pk =
            Groth16::<Bn254>::generate_random_parameters_with_reduction(blank, &mut rng).unwrap();
        let circuit =
            zkr_circuits::sample::instance(CircuitKind::Receipt, depth, &mut rng).unwrap();
        let (r, s) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        let ours = prove_with_rs(&pk, circuit.clone(), r, s, Backend::Cpu).unwrap();
        let theirs = Groth16::<Bn254>::create_proof_with_reduction(circuit, &pk, r, s).unwrap();
        assert_eq!(ours.proof, theirs);
    }

    /// Asking for OpenCL without a device (or without the feature, which
    /// features of other crates may turn on for zkr-gpu) is an error, never
    /// a silent CPU proof.
    #[test]
    fn opencl_request_without_device_is_an_error() {
        let mut rng = StdRng::seed_from_u64(13);
        let pk = setup(4, &mut rng);
        let circuit = MulChain {
            start: Some(Fr::from(2u64)),
            steps: 4,
        };
        let got = prove_reporting(&pk, circuit, &mut rng, Backend::OpenCl);
        if zkr_gpu::select(Backend::OpenCl).is_err() {
            assert!(matches!(got, Err(Error::Backend(_))));
        } else {
            assert_eq!(got.unwrap().ran, Ran::OpenCl);
        }
    }
}
