//! A circuit's R1CS matrices, built once: each proof then synthesises only
//! the witness (no constraint is recorded, no linear combination inlined)
//! and the QAP witness map reads the cached matrices.
//!
//! Groth16 circuits have a fixed shape (the constraints do not depend on the
//! witness; the proving key is made for that shape), so the matrices of any
//! instance, or of the blank circuit used for key generation, serve every
//! proof under that key.

use crate::observe::ProveObserver;
use crate::{Error, Proved, Result, prove_from_assignment, qap};
use ark_bn254::{Bn254, Fr};
use ark_ff::UniformRand;
use ark_groth16::ProvingKey;
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, Matrix, OptimizationGoal, R1CS_PREDICATE_LABEL,
    SynthesisError, SynthesisMode,
};
use ark_std::rand::{CryptoRng, RngCore};
use std::path::Path;
use zkr_gpu::Backend;

use crate::keycache::{FastForm, Loaded, Reader, load_or_check, put_len};

const ENTRY_BYTES: usize = 32 + 8;

impl FastForm for Prepared {
    const KIND: &'static [u8; 8] = b"r1csmat\0";

    fn encode(&self, out: &mut Vec<u8>) {
        put_len(out, self.num_instance);
        put_len(out, self.num_witness);
        put_len(out, self.num_constraints);
        put_len(out, self.matrices.len());
        for m in &self.matrices {
            put_len(out, m.len());
            for row in m {
                put_len(out, row.len());
                for (v, i) in row {
                    for l in v.0.0 {
                        out.extend_from_slice(&l.to_le_bytes());
                    }
                    put_len(out, *i);
                }
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        let mut n = || usize::try_from(r.u64()?).ok();
        let (num_instance, num_witness, num_constraints) = (n()?, n()?, n()?);
        let vars = num_instance.checked_add(num_witness)?;
        let mut matrices = Vec::new();
        for _ in 0..r.len(8)? {
            let rows = r.len(8)?;
            let mut m = Vec::with_capacity(rows);
            for _ in 0..rows {
                let k = r.len(ENTRY_BYTES)?;
                let bytes = r.take(k * ENTRY_BYTES)?;
                let row = bytes
                    .chunks_exact(ENTRY_BYTES)
                    .map(|e| {
                        let i =
                            usize::try_from(u64::from_le_bytes(e[32..].try_into().ok()?)).ok()?;
                        // The witness map indexes the assignment by these.
                        (i < vars).then(|| (Fr::new_unchecked(Reader::limbs(&e[..32])), i))
                    })
                    .collect::<Option<Vec<_>>>()?;
                m.push(row);
            }
            matrices.push(m);
        }
        let shaped = matrices.len() == 3 && matrices.iter().all(|m| m.len() == num_constraints);
        shaped.then_some(Self {
            matrices,
            num_instance,
            num_witness,
            num_constraints,
        })
    }
}

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

    /// The prepared matrices of `circuit` from the cache file `cache` when
    /// that was written for the same `id`, otherwise [`Prepared::new`]
    /// (and the cache is written for next time). `id` must name the
    /// circuit's shape and the key it is proved under, e.g. the circuit's
    /// name and parameters and the proving key's SHA-256: matrices of
    /// another shape would make proofs that do not verify. The result is
    /// checked against `pk`'s sizes.
    pub fn load_or_prepare<C: ConstraintSynthesizer<Fr>>(
        id: &[u8],
        cache: &Path,
        pk: &ProvingKey<Bn254>,
        circuit: C,
    ) -> Result<(Self, Loaded)> {
        let (p, how) = load_or_check(id, cache, |_| Self::new(circuit))?;
        p.fits(pk)?;
        Ok((p, how))
    }

    /// Whether `pk` was made for this shape (its query lengths).
    pub fn fits(&self, pk: &ProvingKey<Bn254>) -> Result<()> {
        let vars = self.num_instance + self.num_witness;
        let ok = pk.a_query.len() == vars
            && pk.b_g2_query.len() == vars
            && pk.l_query.len() == self.num_witness
            && pk.vk.gamma_abc_g1.len() == self.num_instance;
        if ok {
            Ok(())
        } else {
            Err(Error::Synthesis(format!(
                "the proving key is for another circuit ({} variables, this circuit {vars})",
                pk.a_query.len()
            )))
        }
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
        let cs = crate::synthesize(circuit, false, obs)?;
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
    fn cached_matrices_prove_the_same_and_are_bound_to_their_id() {
        let mut rng = StdRng::seed_from_u64(24);
        let blank = MulChain {
            start: None,
            steps: 30,
        };
        let pk =
            Groth16::<Bn254>::generate_random_parameters_with_reduction(blank.clone(), &mut rng)
                .unwrap();
        let dir = std::env::temp_dir().join(format!("zkr-prepared-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cache = dir.join("c.prepared");
        let (fresh, how) =
            Prepared::load_or_prepare(b"chain 30", &cache, &pk, blank.clone()).unwrap();
        assert!(matches!(how, Loaded::Checked { cache: Ok(_) }), "{how:?}");
        let (cached, how) =
            Prepared::load_or_prepare(b"chain 30", &cache, &pk, blank.clone()).unwrap();
        assert!(matches!(how, Loaded::Fast), "{how:?}");
        assert_eq!(cached.matrices, fresh.matrices);
        let circuit = MulChain {
            start: Some(Fr::from(3u64)),
            steps: 30,
        };
        let (r, s) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        let theirs =
            Groth16::<Bn254>::create_proof_with_reduction(circuit.clone(), &pk, r, s).unwrap();
        let ours = cached
            .prove_with_rs(&pk, circuit, r, s, Backend::Cpu)
            .unwrap();
        assert_eq!(ours.proof, theirs);
        // Another id is prepared afresh; a key of another shape is refused.
        let (_, how) = Prepared::load_or_prepare(b"chain 31", &cache, &pk, blank).unwrap();
        assert!(matches!(how, Loaded::Checked { .. }));
        let other = MulChain {
            start: None,
            steps: 31,
        };
        assert!(matches!(
            Prepared::load_or_prepare(b"chain 32", &cache, &pk, other),
            Err(Error::Synthesis(_))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Matrices far larger than their id (a few bytes) are cached and read
    /// back (a size bound relative to the source once refused them).
    #[test]
    fn large_matrices_load_from_the_cache() {
        let dir = std::env::temp_dir().join(format!("zkr-prepared-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cache = dir.join("big.prepared");
        let blank = MulChain {
            start: None,
            steps: 40_000,
        };
        let (fresh, how) = load_or_check(b"big", &cache, |_| Prepared::new(blank.clone())).unwrap();
        assert!(matches!(how, Loaded::Checked { cache: Ok(_) }), "{how:?}");
        assert!(std::fs::metadata(&cache).unwrap().len() > 2 << 20);
        let (cached, how) = load_or_check(b"big", &cache, |_| Prepared::new(blank)).unwrap();
        assert!(matches!(how, Loaded::Fast), "{how:?}");
        assert_eq!(cached.matrices, fresh.matrices);
        std::fs::remove_dir_all(dir).unwrap();
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
