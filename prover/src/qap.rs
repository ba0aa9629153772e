//! The QAP witness map (libsnark's reduction, as ark-groth16's
//! `LibsnarkReduction::witness_map_from_matrices` computes it), split into
//! phases so that a proof can be observed and stopped between its FFT
//! groups. The three polynomials go through each FFT group side by side.
//!
//! H is unique for given matrices and assignment, so the result is the
//! vector ark-groth16 computes, and the proofs stay bit-equal.

use crate::observe::{self, Phase, ProveObserver};
use crate::{Error, Result};
use ark_bn254::Fr;
use ark_ff::{FftField, Field, Zero};
use ark_groth16::r1cs_to_qap::evaluate_constraint;
use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
use ark_relations::gr1cs::Matrix;
use rayon::prelude::*;

/// `h` for the R1CS `matrices` (A, B, C) and `full` (instance assignment,
/// starting with the constant one, then the witness).
pub(crate) fn witness_map<O: ProveObserver + ?Sized>(
    matrices: &[Matrix<Fr>],
    num_inputs: usize,
    num_constraints: usize,
    full: &[Fr],
    obs: &O,
) -> Result<Vec<Fr>> {
    let [ma, mb, mc] = matrices else {
        return Err(Error::Synthesis(format!(
            "{} constraint matrices, expected A, B and C",
            matrices.len()
        )));
    };
    if ma.len() != num_constraints || mb.len() != num_constraints || mc.len() != num_constraints {
        return Err(Error::Synthesis(
            "matrix rows disagree with the constraint count".into(),
        ));
    }
    if full.len() < num_inputs {
        return Err(Error::Synthesis(
            "assignment shorter than the instance".into(),
        ));
    }
    let domain = GeneralEvaluationDomain::<Fr>::new(num_constraints + num_inputs)
        .ok_or_else(|| Error::Synthesis("circuit too large for an FFT domain".into()))?;
    let n = domain.size();
    let coset = domain
        .get_coset(Fr::GENERATOR)
        .ok_or_else(|| Error::Synthesis("no coset of the evaluation domain".into()))?;

    let (mut a, mut b, mut c) = observe::run(obs, Phase::Constraints, || {
        let mut a = vec![Fr::zero(); n];
        let mut b = vec![Fr::zero(); n];
        let mut c = vec![Fr::zero(); n];
        a[..num_constraints]
            .par_iter_mut()
            .zip(&mut b[..num_constraints])
            .zip(&mut c[..num_constraints])
            .zip(ma.par_iter().zip(mb).zip(mc))
            .for_each(|(((a, b), c), ((ra, rb), rc))| {
                *a = evaluate_constraint(ra, full);
                *b = evaluate_constraint(rb, full);
                *c = evaluate_constraint(rc, full);
            });
        // The rows that make the public inputs independent: A = x_i, B = C = 0.
        a[num_constraints..num_constraints + num_inputs].copy_from_slice(&full[..num_inputs]);
        Ok((a, b, c))
    })?;

    observe::run(obs, Phase::Ifft, || {
        each3(&mut a, &mut b, &mut c, |v| domain.ifft_in_place(v));
        Ok(())
    })?;

    observe::run(obs, Phase::CosetFft, || {
        each3(&mut a, &mut b, &mut c, |v| coset.fft_in_place(v));
        let z_inv = domain
            .evaluate_vanishing_polynomial(Fr::GENERATOR)
            .inverse()
            .ok_or_else(|| Error::Synthesis("vanishing polynomial is zero on the coset".into()))?;
        a.par_iter_mut()
            .zip(&b)
            .zip(&c)
            .for_each(|((x, y), z)| *x = (*x * y - z) * z_inv);
        Ok(())
    })?;
    drop((b, c));

    observe::run(obs, Phase::CosetIfft, || {
        coset.ifft_in_place(&mut a);
        Ok(())
    })?;
    Ok(a)
}

/// Runs `f` on three vectors at once.
pub(crate) fn each3(
    a: &mut Vec<Fr>,
    b: &mut Vec<Fr>,
    c: &mut Vec<Fr>,
    f: impl Fn(&mut Vec<Fr>) + Sync,
) {
    rayon::join(|| f(a), || rayon::join(|| f(b), || f(c)));
}
