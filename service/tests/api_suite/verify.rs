//! Proof verification with the service's verifying keys.

use std::path::PathBuf;
use std::sync::OnceLock;

use ark_bn254::{Bn254, Fr};
use ark_groth16::Groth16;
use axum::http::StatusCode;
use serde_json::{Value, json};
use zkr::server::auth::Role;
use zkr_circuits::circuits::range::RangeCircuit;
use zkr_verifier::snarkjs::{ProofJson, VerificationKeyJson, public_json};

use crate::helpers::{api_test, test_config};

struct RangeFixture {
    _dir: tempfile::TempDir,
    circuits_dir: PathBuf,
    proof: Value,
    public: Vec<String>,
}

/// Range-circuit keys (set up once per test run) and one valid proof.
fn fixture() -> &'static RangeFixture {
    static FIXTURE: OnceLock<RangeFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut rng = ark_std::test_rng();
        let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
            RangeCircuit::blank(),
            &mut rng,
        )
        .expect("setup");
        let dir = tempfile::tempdir().expect("tempdir");
        let circuits_dir = dir.path().join("circuits");
        std::fs::create_dir_all(circuits_dir.join("range")).expect("mkdir");
        let vk = serde_json::to_string(&VerificationKeyJson::from_vk(&pk.vk)).expect("vk json");
        std::fs::write(circuits_dir.join("range/verification_key.json"), vk).expect("write vk");
        let circuit = RangeCircuit::new(5, Fr::from(99u64), 1, 10).expect("witness");
        let public = public_json(&circuit.public_inputs());
        let proof = Groth16::<Bn254>::create_random_proof_with_reduction(circuit, &pk, &mut rng)
            .expect("prove");
        RangeFixture {
            _dir: dir,
            circuits_dir,
            proof: serde_json::to_value(ProofJson::from_proof(&proof)).expect("proof json"),
            public,
        }
    })
}

fn config() -> zkr::server::config::Config {
    let mut c = test_config();
    c.circuits_dir = fixture().circuits_dir.clone();
    c
}

api_test!(verify_single_and_batch, config = config(), |app| {
    let f = fixture();
    let miner = app.token("verifier-1", &[Role::Client]).await;
    let good = json!({"circuit": "range", "proof": f.proof, "public_signals": f.public});
    let r = app.post("/v1/verify", &miner, good.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["valid"], true);
    assert!(r.json["reason"].is_null());

    // Another bound: well formed, false.
    let mut tampered = f.public.clone();
    tampered[2] = "11".into();
    let false_one = json!({"circuit": "range", "proof": f.proof, "public_signals": tampered});
    let r = app.post("/v1/verify", &miner, false_one.clone()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["valid"], false);
    assert!(r.json["reason"].as_str().is_some());

    // Malformed: a point not on the curve, too few inputs, unknown circuit.
    let mut bad_proof = f.proof.clone();
    bad_proof["pi_a"][0] = json!("1");
    let malformed = json!({"circuit": "range", "proof": bad_proof, "public_signals": f.public});
    assert_eq!(
        app.post("/v1/verify", &miner, malformed.clone())
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let short = json!({"circuit": "range", "proof": f.proof, "public_signals": ["1"]});
    assert_eq!(
        app.post("/v1/verify", &miner, short).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let unknown = json!({"circuit": "sudoku", "proof": f.proof, "public_signals": f.public});
    assert_eq!(
        app.post("/v1/verify", &miner, unknown).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let no_keys = json!({"circuit": "membership", "proof": f.proof, "public_signals": f.public});
    assert_eq!(
        app.post("/v1/verify", &miner, no_keys).await.status,
        StatusCode::NOT_FOUND
    );
    let receipt = json!({"circuit": "receipt", "proof": f.proof, "public_signals": f.public});
    let r = app.post("/v1/verify", &miner, receipt).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("attestation"), "{}", r.text);
    let attested_range = json!({"circuit": "range", "proof": f.proof, "public_signals": f.public,
        "attestation": {"key_id": "coordinator", "key_version": 1, "signature": "00"}});
    assert_eq!(
        app.post("/v1/verify", &miner, attested_range).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let r = app
        .post(
            "/v1/verify/batch",
            &miner,
            json!({"items": [good, false_one, malformed]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let valid: Vec<_> = r.json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|v| v["valid"].clone())
        .collect();
    assert_eq!(valid, vec![json!(true), json!(false), json!(false)]);
    assert_eq!(
        app.post("/v1/verify/batch", &miner, json!({"items": []}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Every verdict is in the audit log.
    let r = app
        .get("/v1/audit/events?action=verification", &app.admin)
        .await;
    let outcomes: Vec<Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        vec![
            json!("valid"),
            json!("invalid"),
            json!("valid"),
            json!("invalid"),
            json!("invalid")
        ]
    );
});
