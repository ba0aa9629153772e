//! Proof jobs and disclosures end to end: submit, poll, verify (with the
//! attestation for receipt proofs), cancel, a full queue, and jobs that
//! survive a restart.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use zkr_server::Config;
use zkr_server::Role;
use zkr_server::provers::CircuitKeys;

use crate::helpers::{Reply, TestApp, api_test, test_config};

/// Registry depth of the proof tests: small, so that set-up and proving
/// stay quick; the circuits are the same at any depth.
pub(crate) const DEPTH: usize = 8;

/// Keys of all four circuits at `DEPTH`, set up once per test run the way
/// `zkr serve` sets them up on first start.
pub(crate) fn circuits_dir() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("circuits");
        let infos = CircuitKeys::new(path.clone(), DEPTH)
            .ensure(true)
            .expect("circuit keys");
        assert_eq!(infos.len(), 4);
        (dir, path)
    })
    .1
}

pub(crate) fn config() -> Config {
    let mut c = test_config();
    c.registry_depth = DEPTH;
    c.circuits_dir = circuits_dir().clone();
    c
}

/// No workers: jobs stay queued.
pub(crate) fn paused(queue: usize) -> Config {
    let mut c = config();
    c.proofs.workers = 0.into();
    c.proofs.queue = queue;
    // One principal may fill it: these tests are about the whole queue.
    c.proofs.per_principal_queue = Some(queue);
    c
}

/// Polls a job until it leaves queued/running.
pub(crate) async fn wait_for(app: &TestApp, token: &str, job: &str) -> Reply {
    for _ in 0..1200 {
        let r = app.get(&format!("/v1/proofs/{job}"), token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let state = r.json["state"].as_str().unwrap_or("");
        if state != "queued" && state != "running" {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {job} did not finish in 120 s");
}

pub(crate) fn range_input(value: u64) -> Value {
    json!({"value": value.to_string(), "blind": "4242", "min": "10", "max": "1000"})
}

api_test!(range_job_is_proved_and_verifies, config = config(), |app| {
    let client = app.token("client-a", &[Role::Client]).await;
    let r = app
        .post(
            "/v1/proofs",
            &client,
            json!({"circuit": "range", "input": range_input(500)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let job = r.json["job_id"].as_str().expect("job id").to_string();
    assert_eq!(r.json["state"], "queued");
    assert_eq!(
        r.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some(format!("/v1/proofs/{job}").as_str())
    );

    let done = wait_for(&app, &client, &job).await;
    assert_eq!(done.json["state"], "succeeded", "{}", done.text);
    assert_eq!(done.json["backend"], "cpu");
    assert_eq!(done.json["owner"], "client-a");
    let public = done.json["public_signals"].clone();
    assert_eq!(public[1], "10");
    assert_eq!(public[2], "1000");

    // The proof verifies through the API; with another bound it does not.
    let v = app
        .post(
            "/v1/verify",
            &client,
            json!({"circuit": "range", "proof": done.json["proof"], "public_signals": public}),
        )
        .await;
    assert_eq!(v.json["valid"], true, "{}", v.text);
    let mut other = public.clone();
    other[2] = json!("999");
    let v = app
        .post(
            "/v1/verify",
            &client,
            json!({"circuit": "range", "proof": done.json["proof"], "public_signals": other}),
        )
        .await;
    assert_eq!(v.json["valid"], false, "{}", v.text);

    // Another client may not read it; the admin may.
    let stranger = app.token("client-b", &[Role::Client]).await;
    let r = app.get(&format!("/v1/proofs/{job}"), &stranger).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.get(&format!("/v1/proofs/{job}"), &app.admin).await;
    assert_eq!(r.status, StatusCode::OK);

    // The job's life is in the audit log and the metrics.
    let events = app
        .get("/v1/audit/events?action=proof_job", &app.admin)
        .await;
    let outcomes: Vec<String> = events
        .text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| e["outcome"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(outcomes, vec!["queued", "succeeded"], "{}", events.text);
    let m = app.call(Method::GET, "/metrics", None, None).await;
    assert!(
        m.text.contains(
            "zkr_proof_jobs_finished_total{backend=\"cpu\",circuit=\"range\",state=\"succeeded\"} 1"
        ),
        "{}",
        m.text
    );
    assert!(
        m.text
            .contains("zkr_proof_queue_wait_seconds_count{circuit=\"range\"} 1"),
        "{}",
        m.text
    );
    assert!(
        m.text
            .contains("zkr_proof_proving_seconds_count{backend=\"cpu\",circuit=\"range\"} 1"),
        "{}",
        m.text
    );
});

api_test!(
    bad_proof_requests_are_refused_before_queueing,
    config = paused(4),
    |app| {
        let miner = app.token("miner-a", &[Role::Miner]).await;
        let cases = [
            // Out of range: the failed condition is named.
            (json!({"circuit": "range", "input": range_input(5)}), "min"),
            (json!({"circuit": "sudoku", "input": {}}), "unknown circuit"),
            (json!({"circuit": "range"}), "exactly one"),
            (
                json!({"circuit": "range", "input": range_input(50), "tx_id": "x"}),
                "exactly one",
            ),
            (
                json!({"circuit": "range", "input": range_input(50), "disclose": ["amount"]}),
                "go with tx_id",
            ),
            (
                json!({"circuit": "range", "input": {"value": "50"}}),
                "missing field",
            ),
            (json!({"circuit": "range", "inputs": {}}), "unknown field"),
        ];
        for (body, needle) in cases {
            let r = app.post("/v1/proofs", &miner, body.clone()).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{body}: {}",
                r.text
            );
            assert!(
                r.json["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(needle)),
                "{body}: {}",
                r.text
            );
        }
        let r = app.get("/v1/proofs/not-a-uuid", &miner).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        // An unknown job: only an admin learns that it does not exist.
        let unknown = "/v1/proofs/5f1d1a4e-0000-4000-8000-000000000000";
        assert_eq!(app.get(unknown, &miner).await.status, StatusCode::FORBIDDEN);
        assert_eq!(
            app.get(unknown, &app.admin).await.status,
            StatusCode::NOT_FOUND
        );
        // Nothing was queued.
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM proof_jobs")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("count");
        assert_eq!(n, 0);
    }
);

api_test!(full_queue_cancel_and_restart, config = paused(2), |app| {
    let client = app.token("client-a", &[Role::Client]).await;
    let body = json!({"circuit": "range", "input": range_input(50)});
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let r = app.post("/v1/proofs", &client, body.clone()).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        jobs.push(r.json["job_id"].as_str().expect("id").to_string());
    }
    let r = app.post("/v1/proofs", &client, body.clone()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.code(), "queue_full");
    assert!(r.headers.get(header::RETRY_AFTER).is_some());
    let m = app.call(Method::GET, "/metrics", None, None).await;
    assert!(m.text.contains("zkr_proof_queue_depth 2"), "{}", m.text);

    // Another principal cannot cancel; the owner can, once.
    let other = app.token("client-b", &[Role::Client]).await;
    let path = format!("/v1/proofs/{}", jobs[0]);
    let r = app.call(Method::DELETE, &path, Some(&other), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.call(Method::DELETE, &path, Some(&client), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "cancelled");
    let r = app.call(Method::DELETE, &path, Some(&client), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

    // What was still queued survives a restart: workers started later
    // (as after a restart) prove it from its sealed input.
    app.start_workers(1).await;
    let done = wait_for(&app, &client, &jobs[1]).await;
    assert_eq!(done.json["state"], "succeeded", "{}", done.text);
    let r = app.get(&path, &client).await;
    assert_eq!(
        r.json["state"], "cancelled",
        "a cancelled job stays cancelled"
    );
});

/// Keys, a miner registry and one stored receipt of client-1 and miner-1.
pub(crate) async fn stored_receipt(app: &TestApp) -> (String, Value) {
    stored_receipt_in(app, "miners").await
}

/// As [`stored_receipt`], with the miner in registry `registry`.
pub(crate) async fn stored_receipt_in(app: &TestApp, registry: &str) -> (String, Value) {
    app.state.ensure_service_keys().await.expect("service keys");
    app.create_keys(&[("client-1", "participant"), ("miner-1", "participant")])
        .await;
    for member in ["3", "77", "78"] {
        let r = app
            .post(
                &format!("/v1/registries/{registry}/members"),
                &app.admin,
                json!({"member": member}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let coordinator = app.token("coordinator-1", &[Role::Coordinator]).await;
    let r = app
        .post(
            "/v1/confidential/transactions",
            &coordinator,
            json!({"receipt": {"job_id": "1", "client_id": "2", "miner_id": "3", "units": "40",
                "unit_price": "5", "amount": "200", "fee": "3", "timestamp": "1700000000",
                "salt": "987654321"}, "client_key": "client-1", "miner_key": "miner-1",
                "metadata": {"gpu": "a100"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    (
        r.json["tx_id"].as_str().expect("tx").to_string(),
        r.json["attestation"].clone(),
    )
}

api_test!(
    receipt_proof_of_a_stored_receipt_with_attestation,
    config = config(),
    |app| {
        let (tx_id, attestation) = stored_receipt(&app).await;
        let miner = app.token("miner-1", &[Role::Miner]).await;
        let ask =
            json!({"circuit": "receipt", "tx_id": tx_id, "amount_min": "100", "amount_max": "300"});

        // Not a participant: refused. Bounds the amount does not meet: 422.
        let coordinator = app.token("coordinator-2", &[Role::Coordinator]).await;
        let r = app.post("/v1/proofs", &coordinator, ask.clone()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let mut tight = ask.clone();
        tight["amount_max"] = json!("199");
        let r = app.post("/v1/proofs", &miner, tight).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        let mut elsewhere = ask.clone();
        elsewhere["registry"] = json!("other-miners");
        let r = app.post("/v1/proofs", &miner, elsewhere).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

        let r = app.post("/v1/proofs", &miner, ask).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        let job = r.json["job_id"].as_str().expect("job").to_string();
        let done = wait_for(&app, &miner, &job).await;
        assert_eq!(done.json["state"], "succeeded", "{}", done.text);
        assert_eq!(done.json["tx_id"], tx_id.as_str());
        let public = done.json["public_signals"].clone();
        let tx = app
            .get(&format!("/v1/confidential/transactions/{tx_id}"), &miner)
            .await;
        assert_eq!(public[0], tx.json["receipt_hash"]);
        let registry = app.get("/v1/registries/miners", &miner).await;
        assert_eq!(public[1], registry.json["root"]);

        // Verified with the attestation; a wrong or untrusted attestation is not accepted.
        let verify = |attestation: Value| {
            json!({"circuit": "receipt", "proof": done.json["proof"], "public_signals": public,
            "attestation": attestation})
        };
        let marketplace = app.token("marketplace", &[Role::Client]).await;
        let r = app
            .post("/v1/verify", &marketplace, verify(attestation.clone()))
            .await;
        assert_eq!(r.json["valid"], true, "{}", r.text);

        let mut forged = attestation.clone();
        let sig = forged["signature"].as_str().expect("sig").to_string();
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        forged["signature"] = json!(format!("{flipped}{}", &sig[1..]));
        let r = app.post("/v1/verify", &marketplace, verify(forged)).await;
        assert_eq!(r.json["valid"], false, "{}", r.text);
        assert!(
            r.json["reason"]
                .as_str()
                .is_some_and(|m| m.contains("does not sign"))
        );

        app.create_keys(&[("rogue", "signing")]).await;
        let mut untrusted = attestation.clone();
        untrusted["key_id"] = json!("rogue");
        let r = app
            .post("/v1/verify", &marketplace, verify(untrusted))
            .await;
        assert_eq!(r.json["valid"], false);
        assert!(
            r.json["reason"]
                .as_str()
                .is_some_and(|m| m.contains("not a trusted"))
        );

        // The attestation is over the receipt hash: another hash fails it
        // (and the proof), an attestation alone proves nothing.
        let mut other_public = public.clone();
        other_public[0] = json!("12345");
        let r = app
            .post(
                "/v1/verify",
                &marketplace,
                json!({"circuit": "receipt", "proof": done.json["proof"],
                "public_signals": other_public, "attestation": attestation}),
            )
            .await;
        assert_eq!(r.json["valid"], false, "{}", r.text);
    }
);

api_test!(
    regulator_disclosure_of_chosen_fields,
    config = config(),
    |app| {
        let (tx_id, _) = stored_receipt(&app).await;
        let regulator = app.token("regulator-1", &[Role::Regulator]).await;
        let ask = json!({"tx_id": tx_id, "disclose": ["amount", "miner_id"], "purpose": "compliance",
        "authorization_ref": "court-order-17", "justification": "inquiry 4"});

        let mut no_ref = ask.clone();
        no_ref
            .as_object_mut()
            .expect("object")
            .remove("authorization_ref");
        let r = app.post("/v1/disclosures", &regulator, no_ref).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let mut salt = ask.clone();
        salt["disclose"] = json!(["salt"]);
        let r = app.post("/v1/disclosures", &regulator, salt).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        let stranger = app.token("client-9", &[Role::Client]).await;
        let r = app.post("/v1/disclosures", &stranger, ask.clone()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

        let r = app.post("/v1/disclosures", &regulator, ask).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        let job = r.json["job_id"].as_str().expect("job").to_string();
        let done = wait_for(&app, &regulator, &job).await;
        assert_eq!(done.json["state"], "succeeded", "{}", done.text);
        assert_eq!(done.json["kind"], "disclosure");
        // receipt_hash, mask = bits 2 (miner_id) and 5 (amount), d_0..d_7.
        let public: Vec<String> =
            serde_json::from_value(done.json["public_signals"].clone()).expect("signals");
        assert_eq!(public.len(), 10);
        assert_eq!(public[1], "36");
        assert_eq!(public[2 + 2], "3");
        assert_eq!(public[2 + 5], "200");
        for i in [0, 1, 3, 4, 6, 7] {
            assert_eq!(public[2 + i], "0", "field {i} is not disclosed");
        }
        let r = app
        .post(
            "/v1/verify",
            &regulator,
            json!({"circuit": "disclosure", "proof": done.json["proof"], "public_signals": public}),
        )
        .await;
        assert_eq!(r.json["valid"], true, "{}", r.text);
        let events = app
            .get("/v1/audit/events?action=disclose", &app.admin)
            .await;
        assert!(events.text.contains("court-order-17"), "{}", events.text);
    }
);

// The configured miner registry is the default of receipt proofs, as it is
// of their verification, not a fixed name.
api_test!(
    receipt_proofs_default_to_the_configured_miner_registry,
    config = {
        let mut c = config();
        c.registries.miners = "gpu-miners".into();
        c
    },
    |app| {
        let (tx_id, attestation) = stored_receipt_in(&app, "gpu-miners").await;
        let miner = app.token("miner-1", &[Role::Miner]).await;
        let r = app
            .post(
                "/v1/proofs",
                &miner,
                json!({"circuit": "receipt", "tx_id": tx_id, "amount_min": "100", "amount_max": "300"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        let job = r.json["job_id"].as_str().expect("job").to_string();
        let done = wait_for(&app, &miner, &job).await;
        assert_eq!(done.json["state"], "succeeded", "{}", done.text);
        let registry = app.get("/v1/registries/gpu-miners", &miner).await;
        assert_eq!(done.json["public_signals"][1], registry.json["root"]);
        let v = app
            .post(
                "/v1/verify",
                &miner,
                json!({"circuit": "receipt", "proof": done.json["proof"],
                    "public_signals": done.json["public_signals"], "attestation": attestation}),
            )
            .await;
        assert_eq!(v.json["valid"], true, "{}", v.text);
    }
);

/// Job ids of a listing page, and its cursor.
fn page(r: &Reply) -> (Vec<String>, Option<String>) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ids = r.json["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {}", r.text))
        .iter()
        .map(|j| j["job_id"].as_str().expect("id").to_string())
        .collect();
    (ids, r.json["next_cursor"].as_str().map(str::to_string))
}

api_test!(
    jobs_are_listed_owner_scoped_with_filters_and_pages,
    config = paused(16),
    |app| {
        let a = app.token("client-a", &[Role::Client]).await;
        let b = app.token("miner-b", &[Role::Miner]).await;
        let mut mine = Vec::new();
        for i in 0..3 {
            let r = app
                .post(
                    "/v1/proofs",
                    &a,
                    json!({"circuit": "range", "input": range_input(50 + i)}),
                )
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
            mine.push(r.json["job_id"].as_str().expect("id").to_string());
        }
        for i in 0..2 {
            let r = app
                .post(
                    "/v1/proofs",
                    &b,
                    json!({"circuit": "range", "input": range_input(60 + i)}),
                )
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        }
        let cancelled = format!("/v1/proofs/{}", mine[0]);
        let r = app.call(Method::DELETE, &cancelled, Some(&a), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);

        // An owner sees its own jobs, without proofs or inputs.
        let r = app.get("/v1/proofs", &a).await;
        let (ids, next) = page(&r);
        assert_eq!(ids.len(), 3, "{}", r.text);
        assert!(ids.iter().all(|id| mine.contains(id)), "{}", r.text);
        assert_eq!(next, None);
        assert!(
            !r.text.contains("4242") && !r.text.contains("sealed"),
            "{}",
            r.text
        );
        let r = app.get("/v1/proofs?owner=client-a", &a).await;
        assert_eq!(page(&r).0.len(), 3);
        // ... and nobody else's.
        let r = app.get("/v1/proofs?owner=miner-b", &a).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(r.code(), "forbidden");
        for role in [Role::Verifier, Role::Auditor] {
            let t = app.token(&format!("{role}-x"), &[role]).await;
            assert_eq!(
                app.get("/v1/proofs", &t).await.status,
                StatusCode::FORBIDDEN
            );
        }

        // An admin sees everyone's, filtered.
        let admin = app.admin.clone();
        assert_eq!(page(&app.get("/v1/proofs", &admin).await).0.len(), 5);
        assert_eq!(
            page(&app.get("/v1/proofs?owner=miner-b", &admin).await)
                .0
                .len(),
            2
        );
        let r = app.get("/v1/proofs?state=cancelled", &admin).await;
        assert_eq!(page(&r).0, vec![mine[0].clone()]);
        assert_eq!(
            r.json["jobs"][0]["failure"]["code"], "cancelled",
            "{}",
            r.text
        );
        assert_eq!(
            page(
                &app.get("/v1/proofs?state=queued&circuit=range", &admin)
                    .await
            )
            .0
            .len(),
            4
        );
        assert!(
            page(&app.get("/v1/proofs?circuit=membership", &admin).await)
                .0
                .is_empty()
        );
        let now = zkr_store::now_unix();
        let after = format!("/v1/proofs?created_after={}", now + 60);
        assert!(page(&app.get(&after, &admin).await).0.is_empty());
        let window = format!(
            "/v1/proofs?created_after={}&created_before={}",
            now - 600,
            now + 60
        );
        assert_eq!(page(&app.get(&window, &admin).await).0.len(), 5);

        // Pages of two, newest first, each job once.
        let mut seen = Vec::new();
        let mut path = "/v1/proofs?limit=2".to_string();
        let mut pages = 0;
        loop {
            let (ids, next) = page(&app.get(&path, &admin).await);
            assert!(ids.len() <= 2);
            seen.extend(ids);
            pages += 1;
            match next {
                Some(c) => path = format!("/v1/proofs?limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        let all = page(&app.get("/v1/proofs", &admin).await).0;
        assert_eq!(seen, all, "pages in the listing's order, none twice");
        let r = app.get("/v1/proofs", &admin).await;
        let times: Vec<i64> = r.json["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .map(|j| j["created_at"].as_i64().expect("time"))
            .collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

        // Bad filters are 400 with a JSON error.
        for bad in [
            "/v1/proofs?state=done",
            "/v1/proofs?circuit=sha256",
            "/v1/proofs?limit=0",
            "/v1/proofs?limit=501",
            "/v1/proofs?limit=x",
            "/v1/proofs?cursor=zz",
            "/v1/proofs?cursor=31",
            "/v1/proofs?created_after=yesterday",
            "/v1/proofs?colour=red",
        ] {
            let r = app.get(bad, &admin).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
            assert!(!r.code().is_empty(), "{bad}: {}", r.text);
        }
        let r = app
            .get("/v1/proofs?created_after=10&created_before=5", &admin)
            .await;
        assert!(page(&r).0.is_empty(), "an empty range is an empty page");
        let r = app.get("/v1/proofs?limit=500", &admin).await;
        assert_eq!(page(&r).0.len(), 5);
    }
);
