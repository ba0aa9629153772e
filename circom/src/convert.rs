//! Between arkworks and snarkjs: the constraint system and witness of an
//! arkworks circuit in circom's terms, and a `.zkey` proving key as an
//! arkworks [`ProvingKey`].

use crate::error::{Error, Result};
use crate::r1cs::R1cs;
use ark_bn254::{Bn254, Fr, G1Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::Field;
use ark_groth16::ProvingKey;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, OptimizationGoal, SynthesisMode,
};
use rayon::prelude::*;
use zkr_prover::zkey::ZkeyProvingKey;

fn synthesize<C: ConstraintSynthesizer<Fr>>(
    circuit: C,
    mode: SynthesisMode,
) -> Result<ConstraintSystemRef<Fr>> {
    let cs = ConstraintSystem::new_ref();
    // The same goal as ark-groth16's key generator and our prover, so that
    // the exported matrices are the ones their keys are made of.
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(mode);
    circuit
        .generate_constraints(cs.clone())
        .map_err(|e| Error::Mismatch(format!("synthesis: {e}")))?;
    cs.finalize();
    Ok(cs)
}

/// The constraint system of an arkworks circuit (synthesized as for key
/// generation) in circom's terms.
pub fn r1cs_of<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<R1cs> {
    R1cs::from_constraint_system(&synthesize(circuit, SynthesisMode::Setup)?)
}

/// The full assignment of an arkworks circuit in circom's wire order: the
/// constant one, the instance, then the witness; refused if the circuit is
/// not satisfied.
pub fn witness_of<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<Vec<Fr>> {
    let cs = synthesize(
        circuit,
        SynthesisMode::Prove {
            construct_matrices: false,
            generate_lc_assignments: false,
        },
    )?;
    if !cs
        .is_satisfied()
        .map_err(|e| Error::Mismatch(format!("synthesis: {e}")))?
    {
        return Err(Error::Mismatch(
            "the witness does not satisfy the circuit".into(),
        ));
    }
    let inner = cs
        .borrow()
        .ok_or_else(|| Error::Mismatch("synthesis: no constraint system".into()))?;
    let mut w = inner
        .instance_assignment()
        .map_err(|e| Error::Mismatch(format!("synthesis: {e}")))?
        .to_vec();
    w.extend_from_slice(
        inner
            .witness_assignment()
            .map_err(|e| Error::Mismatch(format!("synthesis: {e}")))?,
    );
    Ok(w)
}

/// The arkworks form of a `.zkey` proving key, for ark-groth16's reduction
/// (and so for `zkr prove`).
///
/// Everything but H carries over point for point (snarkjs's gamma is folded
/// into IC, as in arkworks' `gamma_abc_g1`). snarkjs's H points are
/// `L_{2i+1}(tau) / delta` for the Lagrange basis `L` of the domain of size
/// `2n`; arkworks wants `tau^j Z(tau) / delta`. For `j < n` the polynomial
/// `x^j Z(x)` has degree below `2n`, vanishes on the even points and equals
/// `-2 c_i^j` at the odd point `c_i = g w^i`, so
/// `tau^j Z(tau) / delta = -2 g^j sum_i w^(ij) H_i`: one FFT over G1.
pub fn to_arkworks(k: &ZkeyProvingKey) -> Result<ProvingKey<Bn254>> {
    k.check().map_err(|e| Error::Mismatch(e.to_string()))?;
    let n = k.domain_size;
    let domain = Radix2EvaluationDomain::<Fr>::new(n)
        .filter(|d| d.size() == n)
        .ok_or_else(|| Error::Mismatch(format!("no evaluation domain of size {n}")))?;
    let g = Radix2EvaluationDomain::<Fr>::new(2 * n)
        .filter(|d| d.size() == 2 * n)
        .ok_or_else(|| Error::Mismatch(format!("domain size {n} is too large")))?
        .group_gen();
    let mut h: Vec<G1Projective> = k.h.par_iter().map(|p| p.into_group()).collect();
    domain.fft_in_place(&mut h);
    h.truncate(n - 1);
    let minus_two = -Fr::from(2u64);
    h.par_iter_mut()
        .enumerate()
        .for_each(|(j, p)| *p *= minus_two * g.pow([j as u64]));
    Ok(ProvingKey {
        vk: k.verifying_key(),
        beta_g1: k.beta_g1,
        delta_g1: k.delta_g1,
        a_query: k.a.clone(),
        b_g1_query: k.b1.clone(),
        b_g2_query: k.b2.clone(),
        h_query: G1Projective::normalize_batch(&h),
        l_query: k.c.clone(),
    })
}

/// A circom constraint system with its witness as an arkworks circuit: the
/// public signals become instance variables and the rest witness variables,
/// in circom's wire order, so the matrices are the `.r1cs`'s own. With no
/// witness it synthesizes the shape only (for key generation).
#[derive(Clone, Debug)]
pub struct R1csCircuit<'a> {
    /// The constraint system.
    pub r1cs: &'a R1cs,
    /// The full witness in wire order, or `None` for setup.
    pub witness: Option<&'a [Fr]>,
}

impl ConstraintSynthesizer<Fr> for R1csCircuit<'_> {
    fn generate_constraints(
        self,
        cs: ConstraintSystemRef<Fr>,
    ) -> Result<(), ark_relations::gr1cs::SynthesisError> {
        use ark_relations::gr1cs::{LinearCombination, SynthesisError, Variable};
        let value = |i: usize| -> Result<Fr, SynthesisError> {
            match self.witness {
                Some(w) => w.get(i).copied().ok_or(SynthesisError::AssignmentMissing),
                None => Ok(Fr::from(0u64)),
            }
        };
        let mut vars = vec![Variable::One];
        for i in 1..self.r1cs.n_wires {
            vars.push(if i <= self.r1cs.n_public() {
                cs.new_input_variable(|| value(i))?
            } else {
                cs.new_witness_variable(|| value(i))?
            });
        }
        let lc = |t: &crate::r1cs::Lc| -> Result<LinearCombination<Fr>, SynthesisError> {
            let mut lc = LinearCombination::zero();
            for (w, v) in t {
                let var = *vars
                    .get(*w as usize)
                    .ok_or(SynthesisError::AssignmentMissing)?;
                lc += (*v, var);
            }
            Ok(lc)
        };
        for k in &self.r1cs.constraints {
            let (a, b, c) = (lc(&k.a)?, lc(&k.b)?, lc(&k.c)?);
            cs.enforce_r1cs_constraint(|| a, || b, || c)?;
        }
        Ok(())
    }
}
