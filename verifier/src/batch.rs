//! Batch verification: many Groth16 proofs, under one or several verifying
//! keys, checked together with one random linear combination.
//!
//! Each proof `i` under key `k` satisfies
//! `e(A_i, B_i) = e(alpha_k, beta_k) · e(L_i, gamma_k) · e(C_i, delta_k)`,
//! where `L_i = IC_0 + Σ_j x_ij IC_j`. With random non-zero `ρ_i` the batch
//! checks the product of those equations raised to `ρ_i`:
//!
//! ```text
//! Π_i e(ρ_i A_i, B_i) · Π_k e(Σ_{i∈k} ρ_i L_i, -gamma_k) · e(Σ_{i∈k} ρ_i C_i, -delta_k)
//!     = Π_k e(alpha_k, beta_k)^(Σ_{i∈k} ρ_i)
//! ```
//!
//! so `n` proofs under one key cost one multi-Miller loop over `n + 2` pairs,
//! one final exponentiation and some G1 arithmetic, instead of `3n` Miller
//! loops and `n` final exponentiations. A false proof passes only if the
//! coefficients hit one value out of about 2^128: they come from the
//! operating system's CSPRNG, so whoever made the proofs cannot choose errors
//! that cancel (with equal weights, `C_1 + D` and `C_2 - D` would).
//!
//! When the combined check fails, the batch is split in halves and each half
//! is checked again with fresh coefficients, down to single proofs, to name
//! the false ones.

use crate::error::{Error, Result};
use ark_bn254::{Bn254, Fr, G1Projective};
use ark_ec::pairing::{Pairing, PairingOutput};
use ark_ec::{CurveGroup, VariableBaseMSM};
use ark_ff::{PrimeField, Zero};
use ark_groth16::{PreparedVerifyingKey, Proof};

/// Bytes of randomness per coefficient: 128-bit coefficients bound the
/// chance that a batch holding a false proof passes by about 2^-128.
const COEFFICIENT_BYTES: usize = 16;

/// One proof to check, with its key and public inputs.
#[derive(Clone, Copy, Debug)]
pub struct BatchItem<'a> {
    /// The verifying key, prepared. Items whose keys are equal share the
    /// gamma and delta pairings whether or not they point to the same value.
    pub pvk: &'a PreparedVerifyingKey<Bn254>,
    /// The proof.
    pub proof: &'a Proof<Bn254>,
    /// The public inputs, as many as the key takes.
    pub public_inputs: &'a [Fr],
}

/// Checks what [`crate::verify_prepared`] checks before the pairing: the
/// number of public inputs; and the proof's points on the curve. Membership
/// of the prime-order subgroups, which the random combination needs as much
/// as a single verification does, is checked where a proof is read: every
/// reader in this crate does (for G2 it costs more than the batch saves, so
/// it is not repeated here).
pub fn check_item(item: &BatchItem<'_>) -> Result<()> {
    let expected = item.pvk.vk.gamma_abc_g1.len().saturating_sub(1);
    if item.public_inputs.len() != expected {
        return Err(Error::Mismatch(format!(
            "{} public inputs given, the verifying key takes {expected}",
            item.public_inputs.len()
        )));
    }
    let p = item.proof;
    if !p.a.is_on_curve() || !p.b.is_on_curve() || !p.c.is_on_curve() {
        return Err(Error::Mismatch(
            "the proof has a point off the curve".into(),
        ));
    }
    Ok(())
}

/// Verifies every item; `Ok(v)` with `v[i]` whether item `i` is a valid
/// proof, in input order. `Err` (naming the item) when an item does not fit
/// its key, as [`crate::verify_prepared`] would answer for it alone.
pub fn verify_batch(items: &[BatchItem<'_>]) -> Result<Vec<bool>> {
    verify_batch_with(items, &mut os_coefficients)
}

/// [`verify_batch`] with the source of coefficients as a parameter, so that
/// tests can show what fixed coefficients would let through.
pub(crate) fn verify_batch_with(
    items: &[BatchItem<'_>],
    coefficients: &mut dyn FnMut(usize) -> Result<Vec<Fr>>,
) -> Result<Vec<bool>> {
    for (i, item) in items.iter().enumerate() {
        check_item(item).map_err(|e| Error::Mismatch(format!("batch item {i}: {e}")))?;
    }
    let key_of = group_by_key(items);
    let mut valid = vec![true; items.len()];
    let all: Vec<usize> = (0..items.len()).collect();
    if !all.is_empty() && !combined_check(items, &key_of, &all, coefficients)? {
        bisect(items, &key_of, &all, coefficients, &mut valid)?;
    }
    Ok(valid)
}

/// Marks the false items of `idx`, a set known to hold at least one.
fn bisect(
    items: &[BatchItem<'_>],
    key_of: &[usize],
    idx: &[usize],
    coefficients: &mut dyn FnMut(usize) -> Result<Vec<Fr>>,
    valid: &mut [bool],
) -> Result<()> {
    if let [i] = idx {
        valid[*i] = false;
        return Ok(());
    }
    let (left, right) = idx.split_at(idx.len() / 2);
    if combined_check(items, key_of, left, coefficients)? {
        // The whole set failed and a set of valid proofs always passes, so
        // the false ones are all on the right: no need to check it whole.
        bisect(items, key_of, right, coefficients, valid)
    } else {
        bisect(items, key_of, left, coefficients, valid)?;
        if combined_check(items, key_of, right, coefficients)? {
            Ok(())
        } else {
            bisect(items, key_of, right, coefficients, valid)
        }
    }
}

/// For each item, the index of the first item with an equal key.
fn group_by_key(items: &[BatchItem<'_>]) -> Vec<usize> {
    let mut firsts: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let same = firsts
            .iter()
            .copied()
            .find(|&f| std::ptr::eq(items[f].pvk, item.pvk) || items[f].pvk.vk == item.pvk.vk);
        out.push(same.unwrap_or_else(|| {
            firsts.push(i);
            i
        }));
    }
    out
}

/// The random linear combination of the items `idx`: true when it holds.
fn combined_check(
    items: &[BatchItem<'_>],
    key_of: &[usize],
    idx: &[usize],
    coefficients: &mut dyn FnMut(usize) -> Result<Vec<Fr>>,
) -> Result<bool> {
    let rho = coefficients(idx.len())?;
    if rho.len() != idx.len() {
        return Err(Error::Random("wrong number of coefficients".into()));
    }
    let mut g1: Vec<G1Projective> = Vec::with_capacity(idx.len() + 4);
    let mut g2: Vec<<Bn254 as Pairing>::G2Prepared> = Vec::with_capacity(idx.len() + 4);
    let mut target = PairingOutput::<Bn254>::zero();

    // ρ_i A_i against B_i, one pair per proof.
    for (&i, r) in idx.iter().zip(&rho) {
        g1.push(items[i].proof.a * r);
        g2.push(items[i].proof.b.into());
    }

    // Per key: Σ ρ_i L_i against -gamma, Σ ρ_i C_i against -delta, and
    // e(alpha, beta)^(Σ ρ_i) on the other side.
    let mut keys: Vec<usize> = idx.iter().map(|&i| key_of[i]).collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        let pvk = items[k].pvk;
        let ic = &pvk.vk.gamma_abc_g1;
        let mut ic_scalars = vec![Fr::zero(); ic.len()];
        let mut cs = Vec::new();
        let mut c_scalars = Vec::new();
        for (&i, r) in idx.iter().zip(&rho) {
            if key_of[i] != k {
                continue;
            }
            ic_scalars[0] += r;
            for (s, x) in ic_scalars[1..].iter_mut().zip(items[i].public_inputs) {
                *s += *r * x;
            }
            cs.push(items[i].proof.c);
            c_scalars.push(*r);
        }
        let l = G1Projective::msm(ic, &ic_scalars)
            .map_err(|_| Error::Mismatch("public inputs do not fit the key".into()))?;
        let c = G1Projective::msm(&cs, &c_scalars)
            .map_err(|_| Error::Mismatch("proof count mismatch".into()))?;
        g1.push(l);
        g2.push(pvk.gamma_g2_neg_pc.clone());
        g1.push(c);
        g2.push(pvk.delta_g2_neg_pc.clone());
        target += PairingOutput(pvk.alpha_g1_beta_g2) * c_scalars.iter().sum::<Fr>();
    }

    let g1 = G1Projective::normalize_batch(&g1);
    let ml = Bn254::multi_miller_loop(g1, g2);
    Ok(Bn254::final_exponentiation(ml).is_some_and(|lhs| lhs == target))
}

/// `n` non-zero coefficients below 2^128 from the operating system's CSPRNG.
fn os_coefficients(n: usize) -> Result<Vec<Fr>> {
    let mut out = Vec::with_capacity(n);
    let mut buf = vec![0u8; n * COEFFICIENT_BYTES];
    while out.len() < n {
        getrandom::fill(&mut buf).map_err(|e| Error::Random(e.to_string()))?;
        out.extend(
            buf.chunks_exact(COEFFICIENT_BYTES)
                .map(Fr::from_le_bytes_mod_order)
                .filter(|r| !r.is_zero())
                .take(n - out.len()),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ark_bn254::G1Affine;
    use ark_ec::AffineRepr;
    use ark_ff::Field;
    use ark_groth16::{Groth16, prepare_verifying_key};
    use ark_std::rand::{SeedableRng, rngs::StdRng};
    use zkr_circuits::{CircuitKind, sample};

    /// Two false proofs whose errors cancel when the equations are summed
    /// with equal weights: `C_1 + D` and `C_2 - D`. Coefficients all one
    /// accept both; the random ones must name both.
    #[test]
    fn errors_that_cancel_under_equal_weights_are_caught() {
        let mut rng = StdRng::seed_from_u64(5);
        let kind = CircuitKind::Range;
        let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
            kind.blank(0).unwrap(),
            &mut rng,
        )
        .unwrap();
        let pvk = prepare_verifying_key(&pk.vk);
        let mut parts = Vec::new();
        for _ in 0..2 {
            let c = sample::instance(kind, 0, &mut rng).unwrap();
            let public = c.public_inputs();
            let proof =
                Groth16::<Bn254>::create_random_proof_with_reduction(c, &pk, &mut rng).unwrap();
            parts.push((proof, public));
        }
        let d = G1Affine::generator() * Fr::from(12345u64);
        parts[0].0.c = (parts[0].0.c + d).into();
        parts[1].0.c = (parts[1].0.c - d).into();
        for (proof, public) in &parts {
            assert!(!crate::verify_prepared(&pvk, proof, public).unwrap());
        }
        let items: Vec<BatchItem<'_>> = parts
            .iter()
            .map(|(proof, public)| BatchItem {
                pvk: &pvk,
                proof,
                public_inputs: public,
            })
            .collect();
        let equal_weights = verify_batch_with(&items, &mut |n| Ok(vec![Fr::ONE; n])).unwrap();
        assert_eq!(equal_weights, vec![true, true], "the pair must cancel");
        assert_eq!(verify_batch(&items).unwrap(), vec![false, false]);
    }

    #[test]
    fn coefficients_are_nonzero_distinct_and_128_bit() {
        let c = os_coefficients(64).unwrap();
        assert_eq!(c.len(), 64);
        let bound = Fr::from(2u64).pow([128u64]);
        for (i, r) in c.iter().enumerate() {
            assert!(!r.is_zero());
            assert!(r.into_bigint() < bound.into_bigint());
            assert!(c[i + 1..].iter().all(|s| s != r));
        }
    }
}
