//! Groth16 proving from a key in snarkjs's form (a `.zkey`) and a full
//! witness in circom's wire order.
//!
//! snarkjs's key differs from arkworks' in two places: it carries the A and B
//! matrices themselves (as a list of coefficients) instead of a circuit to
//! synthesize, and its H points are not powers of tau times `Z(tau)/delta`
//! but the Lagrange basis of the domain of size `2n` at its odd points,
//! divided by delta. So the quotient is never computed as a polynomial:
//! `A(x)B(x) - C(x)` is evaluated on the odd coset `g * w^i` (`g` a
//! primitive `2n`-th root of unity) and those `n` values are the H scalars
//! (on that coset `Z = x^n - 1 = -2`, which the key's points absorb).
//!
//! C is never read from the key: at each constraint `C = A * B` for a
//! satisfying witness, and the rows that bind the public inputs have `B = 0`.
//! A witness that does not satisfy the constraints gives a proof that does not
//! verify; callers check every proof before they hand it out.

use crate::observe::{self, Phase, ProveObserver};
use crate::{Error, Proved, Result};
use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::CurveGroup;
use ark_ff::{PrimeField, UniformRand, Zero};
use ark_groth16::{Proof, VerifyingKey};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use ark_std::rand::{CryptoRng, RngCore};
use rayon::prelude::*;
use zkr_gpu::{Backend, FallbackMsm, Ran, Scalar};

/// Which matrix a coefficient belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Matrix {
    /// The A matrix (left factor).
    A,
    /// The B matrix (right factor).
    B,
}

/// One non-zero entry of A or B: `value` at row `constraint`, column `signal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coeff {
    /// A or B.
    pub matrix: Matrix,
    /// The row: a constraint, or `constraints + i` for the row that binds
    /// public signal `i`.
    pub constraint: u32,
    /// The column: a wire (0 is the constant one).
    pub signal: u32,
    /// The coefficient.
    pub value: Fr,
}

/// A Groth16 proving key in snarkjs's form. Built by a `.zkey` reader that
/// has validated every point and index; [`ZkeyProvingKey::check`] re-checks
/// the shape so that a key assembled elsewhere cannot make the prover index
/// out of bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct ZkeyProvingKey {
    /// Public signals, not counting the constant one.
    pub n_public: usize,
    /// The evaluation domain's size, a power of two.
    pub domain_size: usize,
    /// alpha in G1.
    pub alpha_g1: G1Affine,
    /// beta in G1.
    pub beta_g1: G1Affine,
    /// beta in G2.
    pub beta_g2: G2Affine,
    /// gamma in G2.
    pub gamma_g2: G2Affine,
    /// delta in G1.
    pub delta_g1: G1Affine,
    /// delta in G2.
    pub delta_g2: G2Affine,
    /// The verifying key's public-input bases, `n_public + 1` points.
    pub ic: Vec<G1Affine>,
    /// The A and B matrices.
    pub coeffs: Vec<Coeff>,
    /// `A_i(tau)` in G1, one per wire.
    pub a: Vec<G1Affine>,
    /// `B_i(tau)` in G1, one per wire.
    pub b1: Vec<G1Affine>,
    /// `B_i(tau)` in G2, one per wire.
    pub b2: Vec<G2Affine>,
    /// The private wires' `(beta A_i + alpha B_i + C_i)(tau) / delta`.
    pub c: Vec<G1Affine>,
    /// The odd-coset Lagrange basis over delta, `domain_size` points.
    pub h: Vec<G1Affine>,
}

impl ZkeyProvingKey {
    /// The number of wires (witness length), the constant one included.
    pub fn n_vars(&self) -> usize {
        self.a.len()
    }

    /// The verifying key.
    pub fn verifying_key(&self) -> VerifyingKey<Bn254> {
        VerifyingKey {
            alpha_g1: self.alpha_g1,
            beta_g2: self.beta_g2,
            gamma_g2: self.gamma_g2,
            delta_g2: self.delta_g2,
            gamma_abc_g1: self.ic.clone(),
        }
    }

    /// Checks that every length and index agrees with the header.
    pub fn check(&self) -> Result<()> {
        let n = self.n_vars();
        let bad = |m: String| Err(Error::Synthesis(format!("zkey: {m}")));
        if !self.domain_size.is_power_of_two() || self.domain_size < 2 {
            return bad(format!(
                "domain size {} is not a power of two",
                self.domain_size
            ));
        }
        if self.n_public + 1 > n {
            return bad(format!("{} public signals but {n} wires", self.n_public));
        }
        if self.ic.len() != self.n_public + 1
            || self.b1.len() != n
            || self.b2.len() != n
            || self.c.len() != n - self.n_public - 1
            || self.h.len() != self.domain_size
        {
            return bad("section lengths disagree with the header".into());
        }
        if let Some(c) = self
            .coeffs
            .iter()
            .find(|c| c.constraint as usize >= self.domain_size || c.signal as usize >= n)
        {
            return bad(format!(
                "coefficient at constraint {} signal {} is out of range",
                c.constraint, c.signal
            ));
        }
        Ok(())
    }

    /// The H scalars: `A(x)B(x) - C(x)` on the odd coset of the domain, for
    /// the witness `w` (circom's wire order).
    pub fn h_scalars(&self, w: &[Fr]) -> Result<Vec<Fr>> {
        self.h_scalars_observed(w, &())
    }

    fn h_scalars_observed<O: ProveObserver + ?Sized>(&self, w: &[Fr], obs: &O) -> Result<Vec<Fr>> {
        let n = self.domain_size;
        let domain = Radix2EvaluationDomain::<Fr>::new(n)
            .filter(|d| d.size() == n)
            .ok_or_else(|| Error::Synthesis(format!("no evaluation domain of size {n}")))?;
        // A primitive 2n-th root of unity: w_n = g^2, and g * w_n^i are the odd
        // points of the domain of size 2n.
        let g = Radix2EvaluationDomain::<Fr>::new(2 * n)
            .filter(|d| d.size() == 2 * n)
            .ok_or_else(|| Error::Synthesis(format!("domain size {n} is too large for BN254")))?
            .group_gen();
        let coset = domain
            .get_coset(g)
            .ok_or_else(|| Error::Synthesis("no odd coset".into()))?;
        let (mut a, mut b, mut c) = observe::run(obs, Phase::Constraints, || {
            let mut a = vec![Fr::zero(); n];
            let mut b = vec![Fr::zero(); n];
            for c in &self.coeffs {
                let (row, col) = (c.constraint as usize, c.signal as usize);
                let t = c.value * w[col];
                match c.matrix {
                    Matrix::A => a[row] += t,
                    Matrix::B => b[row] += t,
                }
            }
            let c: Vec<Fr> = a.par_iter().zip(&b).map(|(x, y)| *x * y).collect();
            Ok((a, b, c))
        })?;
        observe::run(obs, Phase::Ifft, || {
            crate::qap::each3(&mut a, &mut b, &mut c, |v| domain.ifft_in_place(v));
            Ok(())
        })?;
        observe::run(obs, Phase::CosetFft, || {
            crate::qap::each3(&mut a, &mut b, &mut c, |v| coset.fft_in_place(v));
            a.par_iter_mut()
                .zip(&b)
                .zip(&c)
                .for_each(|((x, y), z)| *x = *x * y - z);
            Ok(())
        })?;
        Ok(a)
    }
}

/// Proves with fresh blinding factors from `rng`.
pub fn prove_zkey<R: RngCore + CryptoRng>(
    pk: &ZkeyProvingKey,
    witness: &[Fr],
    rng: &mut R,
    backend: Backend,
) -> Result<Proved> {
    let r = Fr::rand(rng);
    let s = Fr::rand(rng);
    prove_zkey_with_rs(pk, witness, r, s, backend)
}

/// Proves with the given blinding factors `r, s` (uniformly random and
/// secret for a zero-knowledge proof). The public inputs are
/// `witness[1..=n_public]`.
pub fn prove_zkey_with_rs(
    pk: &ZkeyProvingKey,
    witness: &[Fr],
    r: Fr,
    s: Fr,
    backend: Backend,
) -> Result<Proved> {
    prove_zkey_observed(pk, witness, r, s, backend, &())
}

/// As [`prove_zkey_with_rs`], telling `obs` each phase; `obs` may stop the
/// proof between phases ([`Error::Aborted`]). There is no synthesis (the
/// witness is given) and no inverse coset FFT (the key's H points take the
/// coset evaluations).
pub fn prove_zkey_observed<O: ProveObserver + ?Sized>(
    pk: &ZkeyProvingKey,
    witness: &[Fr],
    r: Fr,
    s: Fr,
    backend: Backend,
    obs: &O,
) -> Result<Proved> {
    pk.check()?;
    if witness.len() != pk.n_vars() {
        return Err(Error::Synthesis(format!(
            "the witness has {} values, the key {} wires",
            witness.len(),
            pk.n_vars()
        )));
    }
    if witness.first() != Some(&Fr::from(1u64)) {
        return Err(Error::Synthesis(
            "the witness's first value (the constant wire) is not 1".into(),
        ));
    }
    let msm = zkr_gpu::select(backend)?;
    let h = pk.h_scalars_observed(witness, obs)?;
    let bigints = |v: &[Fr]| {
        v.par_iter()
            .map(|x| x.into_bigint())
            .collect::<Vec<Scalar>>()
    };
    let h = bigints(&h);
    let w = bigints(witness);

    // The G2 MSM runs beside the G1 MSMs, as in the arkworks-form prover.
    let (g1_sums, b2_acc) = rayon::join(
        || -> Result<_> {
            let mut ran = msm.preferred();
            let mut note = |x: (G1Projective, Ran)| {
                if x.1 == Ran::Cpu {
                    ran = Ran::Cpu;
                }
                x.0
            };
            let h_acc = note(observe::run(obs, Phase::MsmH, || g1(&msm, &pk.h, &h))?);
            let a_acc = note(observe::run(obs, Phase::MsmA, || g1(&msm, &pk.a, &w))?);
            let b1_acc = note(observe::run(obs, Phase::MsmB1, || g1(&msm, &pk.b1, &w))?);
            let c_acc = note(observe::run(obs, Phase::MsmL, || {
                g1(&msm, &pk.c, &w[pk.n_public + 1..])
            })?);
            Ok((h_acc, a_acc, b1_acc, c_acc, ran))
        },
        || -> Result<G2Projective> {
            observe::run(obs, Phase::MsmB2, || Ok(msm.msm_g2_ran(&pk.b2, &w)?.0))
        },
    );
    let (h_acc, a_acc, b1_acc, c_acc, ran) = g1_sums?;
    let b2_acc = b2_acc?;
    drop((h, w));

    let pi_a = a_acc + pk.alpha_g1 + pk.delta_g1 * r;
    let pi_b = b2_acc + pk.beta_g2 + pk.delta_g2 * s;
    let b1 = b1_acc + pk.beta_g1 + pk.delta_g1 * s;
    let pi_c = c_acc + h_acc + pi_a * s + b1 * r - pk.delta_g1 * (r * s);
    Ok(Proved {
        proof: Proof {
            a: pi_a.into_affine(),
            b: pi_b.into_affine(),
            c: pi_c.into_affine(),
        },
        ran,
    })
}

fn g1(msm: &FallbackMsm, bases: &[G1Affine], scalars: &[Scalar]) -> Result<(G1Projective, Ran)> {
    Ok(msm.msm_g1_ran(bases, scalars)?)
}
