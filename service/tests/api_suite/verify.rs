//! Proof verification with the service's verifying keys.

use std::path::PathBuf;
use std::sync::OnceLock;

use ark_bn254::{Bn254, Fr};
use ark_groth16::Groth16;
use axum::http::StatusCode;
use serde_json::{Value, json};
use zkr_artifacts::CircuitInfo;
use zkr_circuits::circuits::{MembershipCircuit, RangeCircuit, ReceiptCircuit};
use zkr_circuits::field::fr_to_decimal;
use zkr_circuits::merkle::MerkleTree;
use zkr_circuits::poseidon::h1;
use zkr_circuits::receipt::ReceiptJson;
use zkr_circuits::{CircuitKind, Receipt};
use zkr_server::Clock;
use zkr_server::Role;
use zkr_verifier::snarkjs::{ProofJson, public_json};

use crate::helpers::{TestApp, api_test, test_config};

/// Registry depth of these tests' keys and registries.
const DEPTH: usize = 4;

struct Fixture {
    _dir: tempfile::TempDir,
    circuits_dir: PathBuf,
    proof: Value,
    public: Vec<String>,
    /// A receipt proof for `RECEIPT` with the miner registry `MINERS`.
    receipt: (Value, Vec<String>),
    /// The same receipt proved against a one-member registry of the
    /// prover's own (`"miners":["77"]`).
    receipt_own_registry: (Value, Vec<String>),
    /// A membership proof of `H1(22)` in the registry of `members()`.
    membership: (Value, Vec<String>),
}

/// The miner registry of the receipt proof; 77 is the miner.
const MINERS: [u64; 3] = [3, 77, 78];

fn receipt() -> Receipt {
    Receipt {
        job_id: Fr::from(1u64),
        client_id: Fr::from(2u64),
        miner_id: Fr::from(77u64),
        units: 40,
        unit_price: 5,
        amount: 200,
        fee: 3,
        timestamp: 1_700_000_000,
        salt: Fr::from(987_654_321u64),
    }
}

/// Identities of the membership registry.
fn members() -> Vec<Fr> {
    [11u64, 22, 33].iter().map(|s| h1(Fr::from(*s))).collect()
}

fn setup_keys<C: ark_relations::gr1cs::ConstraintSynthesizer<Fr> + Clone>(
    dir: &std::path::Path,
    name: &str,
    blank: C,
    depth: Option<usize>,
    public_inputs: Vec<&str>,
    rng: &mut impl ark_std::rand::RngCore,
) -> ark_groth16::ProvingKey<Bn254> {
    let pk =
        Groth16::<Bn254>::generate_random_parameters_with_reduction(blank, rng).expect("setup");
    zkr_artifacts::write_keys(&dir.join(name), &pk, |sha| CircuitInfo {
        name: name.into(),
        depth,
        constraints: 1,
        public_inputs: public_inputs.iter().map(|s| s.to_string()).collect(),
        verifying_key_sha256: sha,
    })
    .expect("write keys");
    pk
}

fn prove<C: ark_relations::gr1cs::ConstraintSynthesizer<Fr>>(
    c: C,
    public: &[Fr],
    pk: &ark_groth16::ProvingKey<Bn254>,
    rng: &mut impl ark_std::rand::RngCore,
) -> (Value, Vec<String>) {
    let proof = Groth16::<Bn254>::create_random_proof_with_reduction(c, pk, rng).expect("prove");
    (
        serde_json::to_value(ProofJson::from_proof(&proof)).expect("proof json"),
        public_json(public),
    )
}

/// Keys of range, membership(4) and receipt(4) (set up once per test
/// run) and one valid proof of each.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut rng = ark_std::test_rng();
        let dir = tempfile::tempdir().expect("tempdir");
        let circuits_dir = dir.path().join("circuits");
        let kinds = |k: CircuitKind| k.public_input_names();

        let pk = setup_keys(
            &circuits_dir,
            "range",
            RangeCircuit::blank(),
            None,
            kinds(CircuitKind::Range),
            &mut rng,
        );
        let circuit = RangeCircuit::new(5, Fr::from(99u64), 1, 10).expect("witness");
        let (proof, public) = prove(circuit.clone(), &circuit.public_inputs(), &pk, &mut rng);

        let pk = setup_keys(
            &circuits_dir,
            "receipt",
            ReceiptCircuit::blank(DEPTH),
            Some(DEPTH),
            kinds(CircuitKind::Receipt),
            &mut rng,
        );
        let miners: Vec<Fr> = MINERS.iter().map(|m| Fr::from(*m)).collect();
        let tree = MerkleTree::from_leaves(DEPTH, &miners).expect("tree");
        let c = ReceiptCircuit::new(&receipt(), 100, 300, &tree.path(1).expect("path"))
            .expect("witness");
        let receipt_proof = prove(c.clone(), &c.public_inputs(), &pk, &mut rng);
        let own = MerkleTree::from_leaves(DEPTH, &[Fr::from(77u64)]).expect("tree");
        let c = ReceiptCircuit::new(&receipt(), 100, 300, &own.path(0).expect("path"))
            .expect("witness");
        let receipt_own_registry = prove(c.clone(), &c.public_inputs(), &pk, &mut rng);

        let pk = setup_keys(
            &circuits_dir,
            "membership",
            MembershipCircuit::blank(DEPTH),
            Some(DEPTH),
            kinds(CircuitKind::Membership),
            &mut rng,
        );
        let tree = MerkleTree::from_leaves(DEPTH, &members()).expect("tree");
        let c = MembershipCircuit::new(
            Fr::from(22u64),
            Fr::from(5u64),
            &tree.path(1).expect("path"),
        )
        .expect("witness");
        let membership = prove(c.clone(), &c.public_inputs(), &pk, &mut rng);
        Fixture {
            _dir: dir,
            circuits_dir,
            proof,
            public,
            receipt: receipt_proof,
            receipt_own_registry,
            membership,
        }
    })
}

fn config() -> zkr_server::Config {
    let mut c = test_config();
    c.circuits_dir = fixture().circuits_dir.clone();
    c.registry_depth = DEPTH;
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
    let no_keys = json!({"circuit": "disclosure", "proof": f.proof, "public_signals": f.public});
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
    // One randomised check for the whole batch, bisected to name the false
    // proofs wherever they stand.
    let r = app
        .post(
            "/v1/verify/batch",
            &miner,
            json!({"items": [false_one, good, good, false_one, good]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let valid: Vec<_> = r.json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|v| v["valid"].clone())
        .collect();
    assert_eq!(
        valid,
        vec![
            json!(false),
            json!(true),
            json!(true),
            json!(false),
            json!(true)
        ]
    );
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
            json!("invalid"),
            json!("invalid"),
            json!("valid"),
            json!("valid"),
            json!("invalid"),
            json!("valid")
        ]
    );
});

/// Adds `members` to registry `name` and returns the new root.
async fn add_members(app: &TestApp, name: &str, members: &[Fr]) -> String {
    let mut root = String::new();
    for m in members {
        let r = app
            .post(
                &format!("/v1/registries/{name}/members"),
                &app.admin,
                json!({"member": fr_to_decimal(m)}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        root = r.json["root"].as_str().expect("root").to_string();
    }
    root
}

/// Service keys, participants and the stored receipt: its attestation.
async fn attested_receipt(app: &TestApp) -> Value {
    app.state.ensure_service_keys().await.expect("service keys");
    app.create_keys(&[("client-1", "participant"), ("miner-1", "participant")])
        .await;
    let coordinator = app.token("coordinator-1", &[Role::Coordinator]).await;
    let r = app
        .post(
            "/v1/confidential/transactions",
            &coordinator,
            json!({"receipt": ReceiptJson::from(&receipt()), "client_key": "client-1",
                "miner_key": "miner-1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json["attestation"].clone()
}

fn verdict(r: &crate::helpers::Reply) -> (bool, String) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    (
        r.json["valid"].as_bool().expect("valid"),
        r.json["reason"].as_str().unwrap_or("").to_string(),
    )
}

api_test!(
    receipt_root_must_be_a_root_of_the_miner_registry,
    config = config(),
    |app| {
        let f = fixture();
        let attestation = attested_receipt(&app).await;
        let marketplace = app.token("marketplace", &[Role::Verifier]).await;
        let miners: Vec<Fr> = MINERS.iter().map(|m| Fr::from(*m)).collect();
        add_members(&app, "miners", &miners).await;
        let item = |(proof, public): &(Value, Vec<String>)| {
            json!({"circuit": "receipt", "proof": proof, "public_signals": public,
                "attestation": attestation})
        };

        // The issue's attack: a proof against `"miners":["77"]`, a registry
        // of the prover's own, attestation and all. The proof itself is sound.
        let attack = item(&f.receipt_own_registry);
        let r = app.post("/v1/verify", &marketplace, attack.clone()).await;
        assert_eq!(verdict(&r), (false, "unknown_registry_root".to_string()));

        // The same receipt proved against the miner registry: valid.
        let honest = item(&f.receipt);
        let r = app.post("/v1/verify", &marketplace, honest.clone()).await;
        assert_eq!(verdict(&r), (true, String::new()));
        let r = app
            .post(
                "/v1/verify/batch",
                &marketplace,
                json!({"items": [honest, attack]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json["results"][0]["valid"], true, "{}", r.text);
        assert_eq!(r.json["results"][1]["valid"], false);
        assert_eq!(r.json["results"][1]["reason"], "unknown_registry_root");

        // A root that was the miners' root a moment ago is still accepted.
        add_members(&app, "miners", &[Fr::from(79u64)]).await;
        let r = app.post("/v1/verify", &marketplace, honest.clone()).await;
        assert_eq!(verdict(&r), (true, String::new()));

        // A receipt proof is checked against the miner registry, whatever
        // registry the request names; another one is refused.
        let mut elsewhere = honest.clone();
        elsewhere["registry"] = json!("clients");
        let r = app.post("/v1/verify", &marketplace, elsewhere).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        let mut named = honest.clone();
        named["registry"] = json!("miners");
        let r = app.post("/v1/verify", &marketplace, named).await;
        assert_eq!(verdict(&r), (true, String::new()));
    }
);

fn window_of_two() -> zkr_server::Config {
    let mut c = config();
    c.registries.root_window = 2;
    c
}

api_test!(
    membership_names_its_registry_and_old_roots_fall_out,
    config = window_of_two(),
    |app| {
        let f = fixture();
        let verifier = app.token("marketplace", &[Role::Verifier]).await;
        let root = add_members(&app, "members", &members()).await;
        assert_eq!(f.membership.1[0], root);
        let (proof, public) = &f.membership;
        let ask = |registry: Option<&str>| {
            let mut v = json!({"circuit": "membership", "proof": proof, "public_signals": public});
            if let Some(name) = registry {
                v["registry"] = json!(name);
            }
            v
        };
        let r = app
            .post("/v1/verify", &verifier, ask(Some("members")))
            .await;
        assert_eq!(verdict(&r), (true, String::new()));
        // The registry must be named; one without this root does not do.
        let r = app.post("/v1/verify", &verifier, ask(None)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        let r = app.post("/v1/verify", &verifier, ask(Some("nobody"))).await;
        assert_eq!(verdict(&r), (false, "unknown_registry_root".to_string()));
        add_members(&app, "other", &members()[..2]).await;
        let r = app.post("/v1/verify", &verifier, ask(Some("other"))).await;
        assert_eq!(verdict(&r), (false, "unknown_registry_root".to_string()));
        let r = app
            .post("/v1/verify", &verifier, ask(Some("Bad Name")))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

        // root_window = 2: the previous root still counts, the one before not.
        add_members(&app, "members", &[h1(Fr::from(44u64))]).await;
        let r = app
            .post("/v1/verify", &verifier, ask(Some("members")))
            .await;
        assert_eq!(verdict(&r), (true, String::new()));
        add_members(&app, "members", &[h1(Fr::from(55u64))]).await;
        let r = app
            .post("/v1/verify", &verifier, ask(Some("members")))
            .await;
        assert_eq!(verdict(&r), (false, "unknown_registry_root".to_string()));
        let r = app
            .post(
                "/v1/verify/batch",
                &verifier,
                json!({"items": [ask(Some("members"))]}),
            )
            .await;
        assert_eq!(r.json["results"][0]["valid"], false, "{}", r.text);
        assert_eq!(r.json["results"][0]["reason"], "unknown_registry_root");
    }
);

fn one_minute() -> zkr_server::Config {
    let mut c = config();
    c.registries.root_max_age_secs = 60;
    c
}

api_test!(
    roots_replaced_longer_ago_than_the_window_are_refused,
    config = one_minute(),
    |app| {
        let f = fixture();
        let verifier = app.token("marketplace", &[Role::Verifier]).await;
        add_members(&app, "members", &members()).await;
        add_members(&app, "current", &members()).await;
        add_members(&app, "members", &[h1(Fr::from(44u64))]).await;
        let (proof, public) = &f.membership;
        let ask = |registry: &str| {
            json!({"circuit": "membership", "proof": proof, "public_signals": public,
                "registry": registry})
        };
        let at = |app: &mut TestApp, secs: i64| {
            app.state.clock =
                Clock::Fixed(time::OffsetDateTime::now_utc() + time::Duration::seconds(secs));
            app.rebuild();
        };
        at(&mut app, 30);
        let r = app.post("/v1/verify", &verifier, ask("members")).await;
        assert_eq!(verdict(&r), (true, String::new()));
        at(&mut app, 120);
        let r = app.post("/v1/verify", &verifier, ask("members")).await;
        assert_eq!(verdict(&r), (false, "unknown_registry_root".to_string()));
        // The current root never ages out.
        at(&mut app, 86_400 * 30);
        let r = app.post("/v1/verify", &verifier, ask("current")).await;
        assert_eq!(verdict(&r), (true, String::new()));
    }
);

api_test!(
    a_verifier_reads_circuits_verifying_keys_and_signing_keys,
    config = config(),
    |app| {
        let attestation = attested_receipt(&app).await;
        let verifier = app.token("marketplace", &[Role::Verifier]).await;
        let r = app.get("/v1/circuits", &verifier).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let circuits = r.json["circuits"].as_array().expect("circuits");
        let names: Vec<&str> = circuits
            .iter()
            .map(|c| c["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, ["range", "membership", "receipt"]);
        assert_eq!(circuits[1]["registry_root_input"], 0);
        assert_eq!(circuits[2]["registry_root_input"], 1);
        assert_eq!(circuits[2]["registry"], "miners");
        assert_eq!(circuits[2]["public_inputs"][1], "registry_root");
        assert!(circuits[0]["registry_root_input"].is_null());

        // The circuit's description is circuit.json as written beside its
        // keys, so it can be saved there for `zkr verify`.
        let r = app.get("/v1/circuits/receipt", &verifier).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let served: zkr_artifacts::CircuitInfo =
            serde_json::from_str(&r.text).expect("a valid circuit.json");
        let file = zkr_artifacts::read_info(&fixture().circuits_dir.join("receipt"))
            .expect("circuit.json");
        assert_eq!(
            serde_json::to_value(&served).expect("json"),
            serde_json::to_value(&file).expect("json")
        );
        for missing in ["disclosure", "sudoku"] {
            let r = app.get(&format!("/v1/circuits/{missing}"), &verifier).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}: {}", r.text);
            assert_eq!(r.json["error"]["code"], "not_found", "{}", r.text);
        }
        let r = app.get("/v1/circuits/receipt%00", &verifier).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

        // The key as snarkjs writes it, the one the files hold.
        let r = app
            .get("/v1/circuits/receipt/verification_key", &verifier)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let served = zkr_verifier::snarkjs::parse_vk(&r.text, "served").expect("snarkjs vk");
        let file =
            std::fs::read_to_string(fixture().circuits_dir.join("receipt/verification_key.json"))
                .expect("vk file");
        assert_eq!(
            served,
            zkr_verifier::snarkjs::parse_vk(&file, "file").expect("vk")
        );
        assert_eq!(r.json["nPublic"], 4, "{}", r.text);
        let r = app
            .get("/v1/circuits/disclosure/verification_key", &verifier)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = app
            .get("/v1/circuits/sudoku/verification_key", &verifier)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);

        // The coordinator's public key checks its attestation offline.
        let r = app.get("/v1/signing-keys", &verifier).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let keys = r.json["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 1, "{}", r.text);
        assert_eq!(keys[0]["key_id"], attestation["key_id"]);
        assert_eq!(keys[0]["key_version"], attestation["key_version"]);
        let public_key: [u8; 32] = hex::decode(keys[0]["public_key"].as_str().expect("hex"))
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let signature: [u8; 64] = hex::decode(attestation["signature"].as_str().expect("hex"))
            .expect("hex")
            .try_into()
            .expect("64 bytes");
        let hash = zkr_circuits::field::fr_to_be_bytes(&receipt().hash());
        assert!(zkr_keys::store::verify_receipt_signature(
            &public_key,
            &hash,
            &signature
        ));
        // Non-signing keys are not listed, nor untrusted signing keys.
        app.create_keys(&[("rogue", "signing")]).await;
        let r = app.get("/v1/signing-keys", &verifier).await;
        assert_eq!(r.json["keys"].as_array().map(Vec::len), Some(1));

        // Nothing else: no transaction, no token, no proof job.
        let r = app
            .get(
                &format!("/v1/confidential/transactions/{}", uuid::Uuid::new_v4()),
                &verifier,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let r = app
            .post(
                "/v1/proofs",
                &verifier,
                json!({"circuit": "range", "input": {"value": "5", "blind": "1", "min": "1", "max": "9"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    }
);

api_test!(
    proofs_roots_and_attestations_check_offline_with_zkr_verify,
    config = config(),
    |app| {
        let f = fixture();
        let verifier = app.token("marketplace", &[Role::Verifier]).await;
        let root = add_members(
            &app,
            "miners",
            &MINERS.iter().map(|m| Fr::from(*m)).collect::<Vec<_>>(),
        )
        .await;
        let attestation = attested_receipt(&app).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            path.to_str().expect("utf-8").to_string()
        };
        let vk = file(
            "vk.json",
            app.get("/v1/circuits/receipt/verification_key", &verifier)
                .await
                .text,
        );
        let keys = file(
            "keys.json",
            app.get("/v1/signing-keys", &verifier).await.text,
        );
        let att = file("att.json", attestation.to_string());
        let proof = file("proof.json", f.receipt.0.to_string());
        let public = file("public.json", json!(f.receipt.1).to_string());
        let own_proof = file("own-proof.json", f.receipt_own_registry.0.to_string());
        let own_public = file(
            "own-public.json",
            json!(f.receipt_own_registry.1).to_string(),
        );
        let zkr = |proof: &str, public: &str, extra: &[&str]| {
            let mut args: Vec<&str> = vec![
                "verify",
                "--vk",
                vk.as_str(),
                "--proof",
                proof,
                "--public",
                public,
                "--circuit",
                "receipt",
            ];
            args.extend_from_slice(extra);
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_zkr"))
                .args(&args)
                .output()
                .expect("run zkr");
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stderr).to_string(),
            )
        };
        let all = [
            "--registry-root",
            root.as_str(),
            "--attestation",
            att.as_str(),
            "--signing-key",
            keys.as_str(),
        ];
        let (code, err) = zkr(&proof, &public, &all);
        assert_eq!(code, Some(0), "{err}");
        assert!(
            err.contains("registry root") && err.contains("attestation"),
            "{err}"
        );
        assert!(!err.contains("NOT CHECKED"), "{err}");
        // A check not asked for is named, never passed over in silence.
        let (code, err) = zkr(&proof, &public, &["--registry-root", root.as_str()]);
        assert_eq!(code, Some(0), "{err}");
        let unchecked: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("NOT CHECKED"))
            .collect();
        assert_eq!(unchecked.len(), 1, "{err}");
        assert!(unchecked[0].contains("attestation"), "{err}");
        let (code, err) = zkr(&proof, &public, &[]);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(err.matches("NOT CHECKED").count(), 2, "{err}");
        assert!(
            err.contains("--registry-root") && err.contains("--attestation"),
            "{err}"
        );
        // circuit.json as the service describes the circuit, saved beside
        // the key, names the circuit: no --circuit needed.
        let beside = dir.path().join("beside");
        std::fs::create_dir(&beside).expect("mkdir");
        std::fs::copy(&vk, beside.join("verification_key.json")).expect("copy");
        std::fs::write(
            beside.join("circuit.json"),
            app.get("/v1/circuits/receipt", &verifier).await.text,
        )
        .expect("write");
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_zkr"))
            .args(["verify", "--vk"])
            .arg(beside.join("verification_key.json"))
            .args(["--proof", proof.as_str(), "--public", public.as_str()])
            .args(["--registry-root", root.as_str()])
            .output()
            .expect("run zkr");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{err}");
        assert_eq!(err.matches("NOT CHECKED").count(), 1, "{err}");
        // Repeatable: any one of the roots does.
        let (code, err) = zkr(
            &proof,
            &public,
            &["--registry-root", "12345", "--registry-root", root.as_str()],
        );
        assert_eq!(code, Some(0), "{err}");
        // The attack: a valid proof, but its root is not the miners' root.
        let (code, err) = zkr(&own_proof, &own_public, &all);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("none of the --registry-root"), "{err}");
        // A forged signature, and a key file without the attesting key.
        let mut forged = attestation.clone();
        let sig = forged["signature"].as_str().expect("sig").to_string();
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        forged["signature"] = json!(format!("{flipped}{}", &sig[1..]));
        let forged = file("forged.json", forged.to_string());
        let (code, err) = zkr(
            &proof,
            &public,
            &[
                "--attestation",
                forged.as_str(),
                "--signing-key",
                keys.as_str(),
            ],
        );
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("does not sign"), "{err}");
        let other = file("other-keys.json", r#"{"keys":[]}"#.to_string());
        let (code, err) = zkr(
            &proof,
            &public,
            &[
                "--attestation",
                att.as_str(),
                "--signing-key",
                other.as_str(),
            ],
        );
        assert_eq!(code, Some(1), "{err}");
        // Malformed: a signing key file that is not one, a root that is no
        // field element, an attestation without a key.
        let (code, err) = zkr(
            &proof,
            &public,
            &["--attestation", att.as_str(), "--signing-key", att.as_str()],
        );
        assert_eq!(code, Some(2), "{err}");
        let (code, err) = zkr(&proof, &public, &["--registry-root", "0x12"]);
        assert_eq!(code, Some(2), "{err}");
        let (code, err) = zkr(&proof, &public, &["--attestation", att.as_str()]);
        assert_eq!(code, Some(2), "{err}");
    }
);
