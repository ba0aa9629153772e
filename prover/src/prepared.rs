//! A circuit's R1CS matrices, built once: each proof then synthesises only
//! the witness (no constraint is recorded, no linear combination inlined)
//! and the QAP witness map reads the cached matrices.
//!
//! Groth16 circuits have a fixed shape (the constraints do not depend on the
//! witness; the proving key is made for that shape), so the matrices of any
//! instance, or of the blank circuit used for key generation, serve every
//! proof under that key.

use crate::observe::{self, Phase, ProveObserver};
use crate::{Error, Proved, Result, prove_from_assignment, qap};
use ark_bn254::{Bn254, Fr};
use ark_ff::UniformRand;
use ark_groth16::ProvingKey;
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, Matrix, OptimizationGoal, R1CS_PREDICATE_LABEL,
    SynthesisError, SynthesisMode,
};
use ark_std::rand::{CryptoRng, RngCore};
use zkr_gpu::Backend;

/// The matrices and sizes of one circuit shape.
#[derive(Clone, Debug)]
pub struct Prepared {
    matrices: Vec<Matrix<Fr>>,
    num_instance: usize,
    num_witness: usize,
    num_constraints: usize,
}

impl Prepared {
    /// Synthesises `circuit` (a blank one is enough: values are not read)
    /// the way key generation does and keeps its matrices.
    pub fn new<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<Self> {
        let _span = tracing::debug_span!("prepare").entered();
        let cs = ConstraintSystem::new_ref();
        cs.set_optimization_goal(OptimizationGoal::Constraints);
        cs.set_mode(SynthesisMode::Setup);
        circuit.generate_constraints(cs.clone())?;
        cs.finalize();
        let matrices = cs
            .to_matrices()?
            .remove(R1CS_PREDICATE_LABEL)
            .ok_or_else(|| Error::Synthesis("the circuit has no R1CS constraints".into()))?;
        Ok(Self {
            matrices,
            num_instance: cs.num_instance_variables(),
            num_witness: cs.num_witness_variables(),
            num_constraints: cs.num_constraints(),
        })
    }

    /// Number of constraints.
    pub fn num_constraints(&self) -> usize {
        self.num_constraints
    }

    /// Proves `circuit`, which must have the shape this was prepared from
    /// (an `Err` when its variable counts differ).
    pub fn prove<C, R>(
        &self,
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
        self.prove_with_rs(pk, circuit, r, s, backend)
    }

    /// As [`crate::prove_with_rs`]: the same proof for the same `r, s`.
    pub fn prove_with_rs<C>(
        &self,
        pk: &ProvingKey<Bn254>,
        circuit: C,
        r: Fr,
        s: Fr,
        backend: Backend,
    ) -> Result<Proved>
    where
        C: ConstraintSynthesizer<Fr>,
    {
        self.prove_observed(pk, circuit, r, s, backend, &())
    }

    /// As [`Prepared::prove_with_rs`], telling `obs` each phase; `obs` may
    /// stop the proof between phases ([`Error::Aborted`]).
    pub fn prove_observed<C, O>(
        &self,
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
        let cs = observe::run(obs, Phase::Synthesis, || {
            let cs = ConstraintSystem::new_ref();
            cs.set_optimization_goal(OptimizationGoal::Constraints);
            cs.set_mode(SynthesisMode::Prove {
                construct_matrices: false,
                generate_lc_assignments: false,
            });
            circuit.generate_constraints(cs.clone())?;
            cs.finalize();
            Ok(cs)
        })?;
        let inner = cs.borrow().ok_or(SynthesisError::MissingCS)?;
        let input = inner.instance_assignment()?;
        let aux = inner.witness_assignment()?;
        if input.len() != self.num_instance || aux.len() != self.num_witness {
            return Err(Error::Synthesis(format!(
                "circuit has {} instance and {} witness variables, the prepared shape {} and {}",
                input.len(),
                aux.len(),
                self.num_instance,
                self.num_witness
            )));
        }
        let full = [input, aux].concat();
        let h = qap::witness_map(
            &self.matrices,
            self.num_instance,
            self.num_constraints,
            &full,
            obs,
        )?;
        drop(full);
        prove_from_assignment(pk, h, input, aux, r, s, &msm, obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::MulChain;
    use ark_groth16::Groth16;
    use ark_std::rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn proofs_equal_ark_groth16_with_same_r_s() {
        let mut rng = StdRng::seed_from_u64(21);
        for steps in [1usize, 9, 700] {
            let blank = MulChain { start: None, steps };
            let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
                blank.clone(),
                &mut rng,
            )
            .unwrap();
            let prepared = Prepared::new(blank).unwrap();
            for start in [2u64, 3] {
                let circuit = MulChain {
                    start: Some(Fr::from(start)),
                    steps,
                };
                let (r, s) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
                let ours = prepared
                    .prove_with_rs(&pk, circuit.clone(), r, s, Backend::Cpu)
                    .unwrap();
                let theirs =
                    Groth16::<Bn254>::create_proof_with_reduction(circuit, &pk, r, s).unwrap();
                assert_eq!(ours.proof, theirs, "steps = {steps}");
            }
        }
    }

    #[test]
    fn receipt_proofs_equal_ark_groth16() {
        use zkr_circuits::circuits::CircuitKind;
        let mut rng = StdRng::seed_from_u64(22);
        let depth = 8;
        let blank = CircuitKind::Receipt.blank(depth).unwrap();
        let pk =
            Groth16::<Bn254>::generate_random_parameters_with_reduction(blank, &mut rng).unwrap();
        let prepared = Prepared::new(CircuitKind::Receipt.blank(depth).unwrap()).unwrap();
        for _ in 0..2 {
            let circuit =
                zkr_circuits::sample::instance(CircuitKind::Receipt, depth, &mut rng).unwrap();
            let (r, s) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
            let ours = prepared
                .prove_with_rs(&pk, circuit.clone(), r, s, Backend::Cpu)
                .unwrap();
            let theirs = Groth16::<Bn254>::create_proof_with_reduction(circuit, &pk, r, s).unwrap();
            assert_eq!(ours.proof, theirs);
        }
    }

    #[test]
    fn another_shape_is_an_error() {
        let mut rng = StdRng::seed_from_u64(23);
        let blank = MulChain {
            start: None,
            steps: 8,
        };
        let pk =
            Groth16::<Bn254>::generate_random_parameters_with_reduction(blank.clone(), &mut rng)
                .unwrap();
        let prepared = Prepared::new(blank).unwrap();
        let other = MulChain {
            start: Some(Fr::from(2u64)),
            steps: 16,
        };
        assert!(matches!(
            prepared.prove(&pk, other, &mut rng, Backend::Cpu),
            Err(Error::Synthesis(_))
        ));
    }
}
