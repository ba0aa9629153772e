//! The exported Solidity verifier on a real EVM: compiled with the pinned
//! solc and run on @ethereumjs/vm (Prague) through `interop/evm`, it accepts
//! a valid proof of each of our four circuits and rejects tampered proofs,
//! tampered inputs, inputs >= r and coordinates >= q. Its gas is printed
//! beside snarkjs's verifier for the same key and must not exceed it.
//!
//! Needs `npm ci` in `interop/evm` (and in `interop/` for the snarkjs
//! comparison). Without them the test prints SKIPPED and passes, unless
//! `ZKR_REQUIRE_EVM=1` (as `.ci/evm.sh` sets), which turns that into a
//! failure.
#![allow(clippy::unwrap_used)]

use ark_bn254::{Bn254, Fq, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{Field, PrimeField};
use ark_groth16::Groth16;
use ark_std::rand::{SeedableRng, rngs::StdRng};
use num_bigint::BigUint;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use zkr_circuits::{CircuitKind, sample};
use zkr_verifier::snarkjs::{ProofJson, VerificationKeyJson, public_json};
use zkr_verifier::solidity::{calldata, verifier_contract};

const DEPTH: usize = 4;

fn require() -> bool {
    std::env::var("ZKR_REQUIRE_EVM").as_deref() == Ok("1")
}

/// `interop/`, when the EVM packages are installed and node runs.
fn interop() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop");
    let missing = ["evm/node_modules/solc", "evm/node_modules/@ethereumjs/vm"]
        .iter()
        .find(|p| !dir.join(p).exists());
    let node = Command::new("node").arg("--version").output();
    let why = match (missing, node) {
        (Some(p), _) => format!("interop/{p} is missing: run `npm ci` in interop/evm"),
        (None, Err(e)) => format!("node does not run: {e}"),
        (None, Ok(_)) => return Some(dir),
    };
    assert!(!require(), "ZKR_REQUIRE_EVM=1 but {why}");
    // straight to stderr, past the test harness's capture, so that the skip
    // shows in a plain `cargo test` run
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {why}; set ZKR_REQUIRE_EVM=1 to fail instead"
    );
    None
}

/// Calldata with one 32-byte word replaced: `path` indexes the four
/// argument arrays as `zkr export calldata` prints them.
fn with_word(args: &str, path: &[usize], f: impl Fn(BigUint) -> BigUint) -> String {
    let mut v: Value = serde_json::from_str(&format!("[{args}]")).unwrap();
    let mut w = &mut v;
    for &i in path {
        w = &mut w[i];
    }
    let old = BigUint::parse_bytes(&w.as_str().unwrap().as_bytes()[2..], 16).unwrap();
    *w = Value::String(format!("0x{:0>64}", f(old).to_str_radix(16)));
    let s = serde_json::to_string(&v).unwrap();
    s[1..s.len() - 1].to_string()
}

#[test]
fn exported_verifiers_accept_valid_proofs_and_reject_the_rest_on_an_evm() {
    let Some(interop) = interop() else { return };
    let r: BigUint = Fr::MODULUS.into();
    let q: BigUint = Fq::MODULUS.into();
    let mut rng = StdRng::seed_from_u64(197);
    let mut verifiers = Vec::new();
    // label -> expected verdict, per circuit
    let mut expected: Vec<Vec<(String, bool)>> = Vec::new();
    for kind in CircuitKind::ALL {
        let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
            kind.blank(DEPTH).unwrap(),
            &mut rng,
        )
        .unwrap();
        let c = sample::instance(kind, DEPTH, &mut rng).unwrap();
        let public = c.public_inputs();
        let proof = Groth16::<Bn254>::create_random_proof_with_reduction(c, &pk, &mut rng).unwrap();
        assert!(zkr_verifier::verify(&pk.vk, &proof, &public).unwrap());
        let good = calldata(&proof, &public);

        let mut calls: Vec<(String, String, bool)> = vec![("valid".into(), good.clone(), true)];
        let mut p = proof.clone();
        p.a = (p.a + G1Affine::generator()).into();
        calls.push(("A moved".into(), calldata(&p, &public), false));
        let mut p = proof.clone();
        p.b = (p.b + G2Affine::generator()).into();
        calls.push(("B moved".into(), calldata(&p, &public), false));
        let mut p = proof.clone();
        p.c = (p.c + G1Affine::generator()).into();
        calls.push(("C moved".into(), calldata(&p, &public), false));
        let mut p = proof.clone();
        std::mem::swap(&mut p.a, &mut p.c);
        calls.push(("A and C swapped".into(), calldata(&p, &public), false));
        for i in [0, public.len() - 1] {
            let mut x = public.clone();
            x[i] += Fr::ONE;
            calls.push((format!("input {i} + 1"), calldata(&proof, &x), false));
            // the same field element, not reduced: the precompile would
            // accept it, the verifier must not
            calls.push((
                format!("input {i} + r"),
                with_word(&good, &[3, i], |w| w + &r),
                false,
            ));
        }
        calls.push((
            "A.x + q".into(),
            with_word(&good, &[0, 0], |w| w + &q),
            false,
        ));
        calls.push((
            "B.x_im + q".into(),
            with_word(&good, &[1, 0, 0], |w| w + &q),
            false,
        ));
        calls.push((
            "C.y + q".into(),
            with_word(&good, &[2, 1], |w| w + &q),
            false,
        ));

        verifiers.push(json!({
            "name": kind.name(),
            "source": verifier_contract(&pk.vk).unwrap(),
            "snarkjs_vk": serde_json::to_string(&VerificationKeyJson::from_vk(&pk.vk)).unwrap(),
            "proof": ProofJson::from_proof(&proof),
            "public": public_json(&public),
            "calls": calls.iter().map(|(l, a, _)| json!({"label": l, "args": a})).collect::<Vec<_>>(),
        }));
        expected.push(calls.into_iter().map(|(l, _, e)| (l, e)).collect());
    }

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("verifiers.json");
    std::fs::write(&input, json!({ "verifiers": verifiers }).to_string()).unwrap();
    let out = Command::new("node")
        .arg(interop.join("evm/run-verifiers.mjs"))
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "run-verifiers.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("solc {}", report["solc"].as_str().unwrap());

    let snarkjs_there = interop.join("node_modules/snarkjs").exists();
    assert!(
        snarkjs_there || !require(),
        "ZKR_REQUIRE_EVM=1 but snarkjs is missing: run `npm ci` in interop/"
    );
    for (v, exp) in report["verifiers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&expected)
    {
        let name = v["name"].as_str().unwrap();
        let calls = v["calls"].as_array().unwrap();
        assert_eq!(calls.len(), exp.len());
        for (call, (label, want)) in calls.iter().zip(exp) {
            assert_eq!(
                call["result"],
                Value::Bool(*want),
                "{name}: {label}: {}",
                call["result"]
            );
        }
        if let Some(theirs) = v["snarkjs_calldata"].as_str() {
            // `zkr export calldata` prints exactly what snarkjs prints
            assert_eq!(
                Some(theirs),
                verifiers
                    .iter()
                    .find(|x| x["name"] == name)
                    .and_then(|x| x["calls"][0]["args"].as_str()),
                "{name}: calldata"
            );
        } else {
            assert!(
                !require(),
                "ZKR_REQUIRE_EVM=1 but no snarkjs calldata to compare"
            );
        }
        let ours = calls[0]["gas"].as_u64().unwrap();
        match v["snarkjs"]["calls"].as_array() {
            Some(theirs) => {
                // snarkjs's verifier gives the same verdicts (it leaves
                // the coordinate checks to the precompiles, which fail)
                for (call, (label, want)) in theirs.iter().zip(exp) {
                    assert_eq!(
                        call["result"],
                        Value::Bool(*want),
                        "snarkjs {name}: {label}"
                    );
                }
                let snarkjs = theirs[0]["gas"].as_u64().unwrap();
                eprintln!(
                    "gas {name}: {ours} (snarkjs's verifier: {snarkjs}; {} fewer), deploy {}",
                    snarkjs as i64 - ours as i64,
                    v["deploy_gas"]
                );
                assert!(
                    ours <= snarkjs,
                    "{name}: {ours} gas, more than snarkjs's {snarkjs}"
                );
            }
            None => eprintln!(
                "gas {name}: {ours} (snarkjs not installed in interop/: no comparison), deploy {}",
                v["deploy_gas"]
            ),
        }
    }
}
