//! snarkjs's JSON files: `proof.json`, `verification_key.json` and
//! `public.json`. Numbers are decimal strings; points are projective
//! coordinates with `z = 1` (or the point at infinity, `["0","1","0"]`).
//!
//! Reading validates everything: canonical field elements (< q for
//! coordinates, < r for public inputs), points on the curve and in the
//! prime-order subgroup, `protocol`/`curve` tags, and `nPublic` against `IC`.

use crate::error::{Error, Result, field_err};
use ark_bn254::{Bn254, Fq, Fq2, Fq12, Fr, G1Affine, G2Affine};
use ark_ec::{AffineRepr, pairing::Pairing};
use ark_ff::{PrimeField, Zero};
use ark_groth16::{Proof, VerifyingKey};
use num_bigint::BigUint;
use serde::{Deserialize, Serialize};

/// The most public inputs a verifying key may declare; far above any
/// circuit here, and a bound on what an untrusted key can make us allocate.
pub const MAX_PUBLIC_INPUTS: usize = 4096;

/// `proof.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProofJson {
    /// A, in G1.
    pub pi_a: Vec<String>,
    /// B, in G2.
    pub pi_b: Vec<Vec<String>>,
    /// C, in G1.
    pub pi_c: Vec<String>,
    /// Always `groth16`.
    pub protocol: String,
    /// `bn128` (snarkjs's name for BN254). rapidsnark leaves it out and
    /// snarkjs does not require it, so a missing tag is accepted; a present
    /// one must name BN254.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curve: Option<String>,
}

/// `verification_key.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VerificationKeyJson {
    /// Always `groth16`.
    pub protocol: String,
    /// Always `bn128`.
    pub curve: String,
    /// The number of public inputs.
    #[serde(rename = "nPublic")]
    pub n_public: usize,
    /// alpha, in G1.
    pub vk_alpha_1: Vec<String>,
    /// beta, in G2.
    pub vk_beta_2: Vec<Vec<String>>,
    /// gamma, in G2.
    pub vk_gamma_2: Vec<Vec<String>>,
    /// delta, in G2.
    pub vk_delta_2: Vec<Vec<String>>,
    /// e(alpha, beta), precomputed; written for snarkjs's tools, recomputed
    /// (not trusted) when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vk_alphabeta_12: Option<serde_json::Value>,
    /// The public-input bases, `nPublic + 1` points in G1.
    #[serde(rename = "IC")]
    pub ic: Vec<Vec<String>>,
}

fn dec<F: PrimeField>(x: &F) -> String {
    let n: BigUint = x.into_bigint().into();
    n.to_str_radix(10)
}

fn g1_json(p: &G1Affine) -> Vec<String> {
    match p.xy() {
        Some((x, y)) => vec![dec(&x), dec(&y), "1".into()],
        None => vec!["0".into(), "1".into(), "0".into()],
    }
}

fn fq2_json(x: &Fq2) -> Vec<String> {
    vec![dec(&x.c0), dec(&x.c1)]
}

fn g2_json(p: &G2Affine) -> Vec<Vec<String>> {
    match p.xy() {
        Some((x, y)) => vec![fq2_json(&x), fq2_json(&y), vec!["1".into(), "0".into()]],
        None => vec![
            vec!["0".into(), "0".into()],
            vec!["1".into(), "0".into()],
            vec!["0".into(), "0".into()],
        ],
    }
}

fn fq12_json(x: &Fq12) -> serde_json::Value {
    let f6 = |c: &ark_bn254::Fq6| vec![fq2_json(&c.c0), fq2_json(&c.c1), fq2_json(&c.c2)];
    serde_json::json!([f6(&x.c0), f6(&x.c1)])
}

/// Parses a canonical decimal element of a prime field `F`.
fn parse_canonical<F: PrimeField>(s: &str, file: &str, field: &str) -> Result<F> {
    if s.is_empty()
        || s.len() > 78
        || !s.bytes().all(|b| b.is_ascii_digit())
        || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(field_err(
            file,
            field,
            "expected a canonical decimal string",
        ));
    }
    let n = BigUint::parse_bytes(s.as_bytes(), 10)
        .ok_or_else(|| field_err(file, field, "not a decimal number"))?;
    let modulus: BigUint = F::MODULUS.into();
    if n >= modulus {
        return Err(field_err(
            file,
            field,
            "not a canonical field element (>= modulus)",
        ));
    }
    Ok(F::from(n))
}

fn parse_g1(v: &[String], file: &str, field: &str) -> Result<G1Affine> {
    if v.len() != 3 {
        return Err(field_err(file, field, "a G1 point has 3 coordinates"));
    }
    let x: Fq = parse_canonical(&v[0], file, &format!("{field}[0]"))?;
    let y: Fq = parse_canonical(&v[1], file, &format!("{field}[1]"))?;
    match v[2].as_str() {
        "1" => {}
        "0" if x.is_zero() && y == Fq::from(1u64) => return Ok(G1Affine::zero()),
        _ => {
            return Err(field_err(
                file,
                field,
                "z must be 1 (or the point at infinity 0,1,0)",
            ));
        }
    }
    let p = G1Affine::new_unchecked(x, y);
    if !p.is_on_curve() {
        return Err(field_err(file, field, "point is not on the BN254 G1 curve"));
    }
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(field_err(file, field, "point is not in the G1 subgroup"));
    }
    Ok(p)
}

fn parse_fq2(v: &[String], file: &str, field: &str) -> Result<Fq2> {
    if v.len() != 2 {
        return Err(field_err(file, field, "an Fq2 element has 2 coefficients"));
    }
    Ok(Fq2::new(
        parse_canonical(&v[0], file, &format!("{field}[0]"))?,
        parse_canonical(&v[1], file, &format!("{field}[1]"))?,
    ))
}

fn parse_g2(v: &[Vec<String>], file: &str, field: &str) -> Result<G2Affine> {
    if v.len() != 3 {
        return Err(field_err(file, field, "a G2 point has 3 coordinates"));
    }
    let x = parse_fq2(&v[0], file, &format!("{field}[0]"))?;
    let y = parse_fq2(&v[1], file, &format!("{field}[1]"))?;
    let z = parse_fq2(&v[2], file, &format!("{field}[2]"))?;
    if z.is_zero() && x.is_zero() && y == Fq2::from(1u64) {
        return Ok(G2Affine::zero());
    }
    if z != Fq2::from(1u64) {
        return Err(field_err(
            file,
            field,
            "z must be [1, 0] (or the point at infinity)",
        ));
    }
    let p = G2Affine::new_unchecked(x, y);
    if !p.is_on_curve() {
        return Err(field_err(file, field, "point is not on the BN254 G2 curve"));
    }
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(field_err(file, field, "point is not in the G2 subgroup"));
    }
    Ok(p)
}

/// `curve` is `None` when the file has no tag (rapidsnark's proofs).
fn check_tags(protocol: &str, curve: Option<&str>, file: &str) -> Result<()> {
    if protocol != "groth16" {
        return Err(field_err(
            file,
            "protocol",
            format!("expected \"groth16\", got {protocol:?}"),
        ));
    }
    let Some(curve) = curve else {
        return Ok(());
    };
    if curve != "bn128" && curve != "bn254" {
        return Err(field_err(
            file,
            "curve",
            format!("expected \"bn128\", got {curve:?}"),
        ));
    }
    Ok(())
}

fn from_json<T: for<'a> Deserialize<'a>>(json: &str, file: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::Json {
        file: file.to_string(),
        reason: e.to_string(),
    })
}

impl ProofJson {
    /// The snarkjs form of a proof.
    pub fn from_proof(p: &Proof<Bn254>) -> Self {
        Self {
            pi_a: g1_json(&p.a),
            pi_b: g2_json(&p.b),
            pi_c: g1_json(&p.c),
            protocol: "groth16".into(),
            curve: Some("bn128".into()),
        }
    }

    /// Validates and converts to an arkworks proof; `file` names the source
    /// in errors.
    pub fn to_proof(&self, file: &str) -> Result<Proof<Bn254>> {
        check_tags(&self.protocol, self.curve.as_deref(), file)?;
        Ok(Proof {
            a: parse_g1(&self.pi_a, file, "pi_a")?,
            b: parse_g2(&self.pi_b, file, "pi_b")?,
            c: parse_g1(&self.pi_c, file, "pi_c")?,
        })
    }
}

/// Reads and validates `proof.json`.
pub fn parse_proof(json: &str, file: &str) -> Result<Proof<Bn254>> {
    from_json::<ProofJson>(json, file)?.to_proof(file)
}

impl VerificationKeyJson {
    /// The snarkjs form of a verifying key.
    pub fn from_vk(vk: &VerifyingKey<Bn254>) -> Self {
        let alphabeta = Bn254::pairing(vk.alpha_g1, vk.beta_g2).0;
        Self {
            protocol: "groth16".into(),
            curve: "bn128".into(),
            n_public: vk.gamma_abc_g1.len().saturating_sub(1),
            vk_alpha_1: g1_json(&vk.alpha_g1),
            vk_beta_2: g2_json(&vk.beta_g2),
            vk_gamma_2: g2_json(&vk.gamma_g2),
            vk_delta_2: g2_json(&vk.delta_g2),
            vk_alphabeta_12: Some(fq12_json(&alphabeta)),
            ic: vk.gamma_abc_g1.iter().map(g1_json).collect(),
        }
    }

    /// Validates and converts to an arkworks verifying key.
    pub fn to_vk(&self, file: &str) -> Result<VerifyingKey<Bn254>> {
        check_tags(&self.protocol, Some(&self.curve), file)?;
        if self.ic.is_empty() || self.ic.len() > MAX_PUBLIC_INPUTS + 1 {
            return Err(field_err(
                file,
                "IC",
                format!("must hold 1 to {} points", MAX_PUBLIC_INPUTS + 1),
            ));
        }
        if self.n_public + 1 != self.ic.len() {
            return Err(field_err(
                file,
                "nPublic",
                format!(
                    "{} but IC has {} points (expected nPublic + 1)",
                    self.n_public,
                    self.ic.len()
                ),
            ));
        }
        let gamma_abc_g1 = self
            .ic
            .iter()
            .enumerate()
            .map(|(i, p)| parse_g1(p, file, &format!("IC[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        Ok(VerifyingKey {
            alpha_g1: parse_g1(&self.vk_alpha_1, file, "vk_alpha_1")?,
            beta_g2: parse_g2(&self.vk_beta_2, file, "vk_beta_2")?,
            gamma_g2: parse_g2(&self.vk_gamma_2, file, "vk_gamma_2")?,
            delta_g2: parse_g2(&self.vk_delta_2, file, "vk_delta_2")?,
            gamma_abc_g1,
        })
    }
}

/// Reads and validates `verification_key.json`.
pub fn parse_vk(json: &str, file: &str) -> Result<VerifyingKey<Bn254>> {
    from_json::<VerificationKeyJson>(json, file)?.to_vk(file)
}

/// `public.json`: the public inputs as decimal strings.
pub fn public_json(inputs: &[Fr]) -> Vec<String> {
    inputs.iter().map(dec).collect()
}

/// Reads and validates `public.json` (each entry canonical, < r).
pub fn parse_public(json: &str, file: &str) -> Result<Vec<Fr>> {
    let v: Vec<String> = from_json(json, file)?;
    if v.len() > MAX_PUBLIC_INPUTS {
        return Err(field_err(
            file,
            "",
            format!("more than {MAX_PUBLIC_INPUTS} public inputs"),
        ));
    }
    v.iter()
        .enumerate()
        .map(|(i, s)| parse_canonical::<Fr>(s, file, &format!("[{i}]")))
        .collect()
}
