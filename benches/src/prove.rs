//! Groth16 proving: [`zkr_prover`] against `ark_groth16::Groth16::prove`,
//! same proving key, same circuit.

use crate::{CaseResult, Error, Result, mem, time_pair};
use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, ProvingKey};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use ark_snark::SNARK;
use ark_std::rand::{SeedableRng, rngs::StdRng};
use std::hint::black_box;
use zkr_prover::Backend;
use zkr_prover::circuit::MulChain;

/// Number of constraints of `circuit`.
pub fn count_constraints<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<usize> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    circuit
        .generate_constraints(cs.clone())
        .map_err(|e| Error::Arkworks(e.to_string()))?;
    cs.finalize();
    Ok(cs.num_constraints())
}

/// Measures proving `circuit` under `pk`, ours against stock ark-groth16.
/// Ours proves from the circuit's matrices prepared once before timing (as
/// the service keeps them per circuit), so each proof synthesises only the
/// witness; ark-groth16 rebuilds them per proof. Before timing, checks that
/// both give the same proof for the same `r, s`.
pub fn run<C>(
    case: &str,
    pk: &ProvingKey<Bn254>,
    circuit: C,
    backend: Backend,
    runs: usize,
) -> Result<CaseResult>
where
    C: ConstraintSynthesizer<Fr> + Clone,
{
    let n = count_constraints(circuit.clone())?;
    let (r, s) = (Fr::from(5u64), Fr::from(7u64));
    let prepared = zkr_prover::Prepared::new(circuit.clone())?;
    let ours = prepared.prove_with_rs(pk, circuit.clone(), r, s, backend)?;
    let theirs = Groth16::<Bn254>::create_proof_with_reduction(circuit.clone(), pk, r, s)
        .map_err(|e| Error::Arkworks(e.to_string()))?;
    if ours.proof != theirs {
        return Err(Error::Mismatch(format!("prove/{case}")));
    }
    let mut rng = StdRng::seed_from_u64(3);
    let mut rng2 = StdRng::seed_from_u64(4);
    let (ours_ms, arkworks_ms) = time_pair(
        runs,
        || {
            black_box(prepared.prove(pk, circuit.clone(), &mut rng, backend).ok());
        },
        || {
            black_box(Groth16::<Bn254>::prove(pk, circuit.clone(), &mut rng2).ok());
        },
    );
    let (_, ark_peak) =
        mem::with_peak(|| black_box(Groth16::<Bn254>::prove(pk, circuit.clone(), &mut rng2).ok()));
    let (_, ours_peak) =
        mem::with_peak(|| black_box(prepared.prove(pk, circuit.clone(), &mut rng, backend).ok()));
    Ok(CaseResult {
        case: format!("prove/{case}"),
        n,
        backend: ours.ran.to_string(),
        ours_ms,
        arkworks_ms,
        speedup: arkworks_ms / ours_ms,
        ours_peak_rss_kib: ours_peak,
        arkworks_peak_rss_kib: ark_peak,
    })
}

/// Key and witness of the synthetic [`MulChain`] circuit with about
/// `2^log_constraints` constraints.
pub fn mul_chain(log_constraints: u32) -> Result<(ProvingKey<Bn254>, MulChain)> {
    let steps = (1usize << log_constraints).saturating_sub(2).max(1);
    let mut rng = StdRng::seed_from_u64(9);
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
        MulChain { start: None, steps },
        &mut rng,
    )
    .map_err(|e| Error::Arkworks(e.to_string()))?;
    Ok((
        pk,
        MulChain {
            start: Some(Fr::from(3u64)),
            steps,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_prove_case_runs() {
        let (pk, c) = mul_chain(6).unwrap();
        let r = run("mul_chain", &pk, c, Backend::Cpu, 5).unwrap();
        assert_eq!(r.case, "prove/mul_chain");
        assert!(r.n >= 60 && r.speedup > 0.0);
    }

    #[test]
    fn small_msm_case_runs() {
        let r = crate::msm::run(&[4], Backend::Cpu, 5).unwrap();
        assert_eq!(r[0].n, 16);
        assert_eq!(r[0].backend, "cpu");
    }
}
