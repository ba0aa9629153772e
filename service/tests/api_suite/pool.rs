//! The prover pool through the real router and the job queue's own
//! functions: sealed inputs, idempotency keys, leases (a lost worker's job
//! is claimed again, a result only from the lease holder), cancel,
//! deadlines, fair turns between principals, priorities, the verifying-key
//! check, long-poll and the workers listing.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use sqlx::Row;
use zkr_circuits::CircuitKind;
use zkr_server::Role;
use zkr_server::provers::{Failure, FailureCode, Outcome};

use crate::helpers::{Reply, TestApp, api_test};
use crate::proofs::{config, paused, range_input, stored_receipt, wait_for};

/// A blinding factor that appears nowhere but in the request.
const SECRET_BLIND: &str = "918273645546372819283746556473829100";

fn secret_range() -> Value {
    json!({"circuit": "range",
        "input": {"value": "777", "blind": SECRET_BLIND, "min": "10", "max": "1000"}})
}

async fn post_with_key(app: &TestApp, token: &str, key: &str, body: Value) -> Reply {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/proofs")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", key)
        .body(Body::from(body.to_string()))
        .expect("request");
    app.send(req).await
}

async fn submit(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post("/v1/proofs", token, body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    r.json["job_id"].as_str().expect("job id").to_string()
}

/// Submits a `range` job of value `value` and waits for it to succeed.
async fn proved_range(app: &TestApp, token: &str, value: u64) -> Reply {
    let job = submit(
        app,
        token,
        json!({"circuit": "range", "input": range_input(value)}),
    )
    .await;
    let done = wait_for(app, token, &job).await;
    assert_eq!(done.json["state"], "succeeded", "{}", done.text);
    done
}

/// The `range` circuit's device-fallback count, from `/metrics`.
async fn range_fallbacks(app: &TestApp) -> String {
    let metrics = app.call(Method::GET, "/metrics", None, None).await.text;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("zkr_proof_fallbacks_total{circuit=\"range\"} "))
        .unwrap_or_else(|| panic!("no range fallback count: {metrics}"))
        .to_string()
}

async fn column(app: &TestApp, job: &str, col: &str) -> Option<String> {
    let sql = format!("SELECT {col} FROM proof_jobs WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(job)
        .fetch_one(&app.state.db.pool)
        .await
        .expect("row")
        .try_get(0)
        .expect("text column")
}

const RANGE: &[CircuitKind] = &[CircuitKind::Range];

api_test!(
    inputs_are_stored_sealed_and_jobs_run_after_a_restart,
    config = paused(8),
    |app| {
        let client = app.token("client-a", &[Role::Client]).await;
        let job = submit(&app, &client, secret_range()).await;
        let sealed = column(&app, &job, "sealed_input")
            .await
            .expect("sealed input");
        assert!(!sealed.contains(SECRET_BLIND));
        assert!(
            !hex::decode(&sealed)
                .expect("hex")
                .windows(SECRET_BLIND.len())
                .any(|w| w == SECRET_BLIND.as_bytes())
        );
        // Nowhere in the database either (every table, as text).
        let tables = ["proof_jobs", "audit_events"];
        for t in tables {
            let sql = format!("SELECT * FROM {t}");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&app.state.db.pool)
                .await
                .expect("rows");
            for row in rows {
                for i in 0..sqlx::Row::len(&row) {
                    if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                        assert!(
                            !text.contains(SECRET_BLIND),
                            "{t} holds the blind in plaintext"
                        );
                    }
                }
            }
        }
        // The pool key is custodial under the KEK, like the escrow key.
        let key = app
            .get("/v1/confidential/keys/proof-pool", &app.admin)
            .await;
        assert_eq!(key.status, StatusCode::OK, "{}", key.text);

        // Workers started afterwards (a restarted service) prove it; the
        // sealed input is deleted with the result.
        app.start_workers(1).await;
        let done = wait_for(&app, &client, &job).await;
        assert_eq!(done.json["state"], "succeeded", "{}", done.text);
        assert_eq!(done.json["attempts"], 1);
        assert!(done.json["worker"].as_str().is_some_and(|w| !w.is_empty()));
        assert_eq!(column(&app, &job, "sealed_input").await, None);
        let v = app
            .post(
                "/v1/verify",
                &client,
                json!({"circuit": "range", "proof": done.json["proof"],
                "public_signals": done.json["public_signals"]}),
            )
            .await;
        assert_eq!(v.json["valid"], true, "{}", v.text);
    }
);

api_test!(
    a_job_from_a_stored_transaction_keeps_only_its_reference,
    config = paused(8),
    |app| {
        let (tx_id, _) = stored_receipt(&app).await;
        let miner = app.token("miner-1", &[Role::Miner]).await;
        let job = submit(
            &app,
            &miner,
            json!({"circuit": "receipt", "tx_id": tx_id, "amount_min": "100", "amount_max": "300"}),
        )
        .await;
        assert_eq!(column(&app, &job, "sealed_input").await, None);
        let source: Value =
            serde_json::from_str(&column(&app, &job, "source").await.expect("source"))
                .expect("json");
        assert_eq!(
            source,
            json!({"key_id": "miner-1", "amount_min": "100", "amount_max": "300", "registry": "miners"})
        );
        assert_eq!(
            column(&app, &job, "tx_id").await.as_deref(),
            Some(tx_id.as_str())
        );
        app.start_workers(1).await;
        let done = wait_for(&app, &miner, &job).await;
        assert_eq!(done.json["state"], "succeeded", "{}", done.text);
    }
);

api_test!(
    idempotency_keys_give_the_same_job,
    config = paused(8),
    |app| {
        let client = app.token("client-a", &[Role::Client]).await;
        let body = json!({"circuit": "range", "input": range_input(50)});
        let first = post_with_key(&app, &client, "order-17", body.clone()).await;
        assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
        assert!(first.headers.get("idempotent-replayed").is_none());
        let again = post_with_key(&app, &client, "order-17", body.clone()).await;
        assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.text);
        assert_eq!(again.json["job_id"], first.json["job_id"]);
        assert_eq!(
            again
                .headers
                .get("idempotent-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
        // The same key with another request is refused, not answered with the
        // first job.
        let other = json!({"circuit": "range", "input": range_input(51)});
        let r = post_with_key(&app, &client, "order-17", other).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(r.text.contains("different request"), "{}", r.text);
        // Keys are per principal; no key, no deduplication.
        let someone = app.token("client-b", &[Role::Client]).await;
        let theirs = post_with_key(&app, &someone, "order-17", body.clone()).await;
        assert_eq!(theirs.status, StatusCode::ACCEPTED);
        assert_ne!(theirs.json["job_id"], first.json["job_id"]);
        let plain = app.post("/v1/proofs", &client, body.clone()).await;
        assert_ne!(plain.json["job_id"], first.json["job_id"]);
        let bad = post_with_key(&app, &client, "no spaces allowed", body).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM proof_jobs")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("count");
        assert_eq!(n, 3);
    }
);

api_test!(
    a_lost_workers_job_is_claimed_again_and_finished_once,
    config = paused(8),
    |app| {
        let client = app.token("client-a", &[Role::Client]).await;
        let job = submit(
            &app,
            &client,
            json!({"circuit": "range", "input": range_input(60)}),
        )
        .await;
        let jobs = app.state.jobs.clone();
        jobs.set_lease(Duration::from_millis(300));
        let a = jobs
            .claim("worker-a", RANGE)
            .await
            .expect("claim")
            .expect("a job");
        assert_eq!(a.id.to_string(), job);
        assert_eq!(a.attempts, 1);
        // While worker-a holds the lease, nobody else gets the job.
        assert!(
            jobs.claim("worker-b", RANGE)
                .await
                .expect("claim")
                .is_none()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        // worker-a is gone (its lease expired): worker-b takes the job over.
        let b = jobs
            .claim("worker-b", RANGE)
            .await
            .expect("claim")
            .expect("the job again");
        assert_eq!(b.id, a.id);
        assert_eq!(b.attempts, 2);
        let proved = |by: &str| Outcome::Proved {
            proof: "{}".into(),
            public: format!("[\"{by}\"]"),
            backend: "cpu".into(),
            proving_ms: 1,
        };
        // worker-a comes back with a result: discarded; worker-b's stands,
        // and a second result of worker-b's is refused too.
        assert!(
            !jobs
                .renew_token(&a.id, a.lease_token(), "prove", None)
                .await
                .expect("renew")
        );
        assert!(
            !jobs
                .finish(&a, "worker-a", &proved("a"))
                .await
                .expect("finish")
        );
        assert!(
            jobs.finish(&b, "worker-b", &proved("b"))
                .await
                .expect("finish")
        );
        assert!(
            !jobs
                .finish(&b, "worker-b", &proved("b2"))
                .await
                .expect("finish")
        );
        let r = app.get(&format!("/v1/proofs/{job}"), &client).await;
        assert_eq!(r.json["state"], "succeeded");
        assert_eq!(r.json["public_signals"], json!(["b"]));
        assert_eq!(r.json["worker"], "worker-b");
        let m = app.call(Method::GET, "/metrics", None, None).await;
        assert!(
            m.text.contains("zkr_proof_lease_expiries_total 1"),
            "{}",
            m.text
        );
        assert!(
            m.text
                .contains("zkr_proof_retries_total{circuit=\"range\"} 1"),
            "{}",
            m.text
        );

        // A job whose every attempt's worker is lost ends dead, saying why.
        let lost = submit(
            &app,
            &client,
            json!({"circuit": "range", "input": range_input(61)}),
        )
        .await;
        for attempt in 1..=3 {
            let c = jobs
                .claim("worker-c", RANGE)
                .await
                .expect("claim")
                .expect("job");
            assert_eq!(c.attempts, attempt);
            tokio::time::sleep(Duration::from_millis(350)).await;
        }
        assert!(
            jobs.claim("worker-c", RANGE)
                .await
                .expect("claim")
                .is_none()
        );
        let reaped = jobs.reap().await.expect("reap");
        assert_eq!(reaped.exhausted, 1);
        let r = app.get(&format!("/v1/proofs/{lost}"), &client).await;
        assert_eq!(r.json["state"], "dead", "{}", r.text);
        assert_eq!(
            r.json["failure"]["code"], "lease_lost_too_often",
            "{}",
            r.text
        );
        assert!(r.json["error"].as_str().is_some_and(|e| e.contains("lost")));
    }
);

api_test!(cancel_and_deadline, config = paused(8), |app| {
    let client = app.token("client-a", &[Role::Client]).await;
    let jobs = app.state.jobs.clone();
    // A running job is cancelled at once; its worker's result is discarded
    // and it learns at its next renewal.
    let running = submit(
        &app,
        &client,
        json!({"circuit": "range", "input": range_input(70)}),
    )
    .await;
    let claim = jobs
        .claim("worker-a", RANGE)
        .await
        .expect("claim")
        .expect("job");
    let path = format!("/v1/proofs/{running}");
    assert_eq!(app.get(&path, &client).await.json["state"], "running");
    let r = app.call(Method::DELETE, &path, Some(&client), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "cancelled");
    assert!(
        !jobs
            .renew_token(&claim.id, claim.lease_token(), "prove", None)
            .await
            .expect("renew")
    );
    let proved = Outcome::Proved {
        proof: "{}".into(),
        public: "[]".into(),
        backend: "cpu".into(),
        proving_ms: 1,
    };
    assert!(
        !jobs
            .finish(&claim, "worker-a", &proved)
            .await
            .expect("finish")
    );
    assert_eq!(app.get(&path, &client).await.json["state"], "cancelled");
    assert_eq!(column(&app, &running, "sealed_input").await, None);

    // A deadline that passes before a worker proves the job expires it.
    let r = app
        .post(
            "/v1/proofs",
            &client,
            json!({"circuit": "range", "input": range_input(71), "deadline_secs": 60}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let late = r.json["job_id"].as_str().expect("job").to_string();
    let d = app.get(&format!("/v1/proofs/{late}"), &client).await;
    let deadline = d.json["deadline"].as_i64().expect("deadline");
    assert!((deadline - zkr_store::now_unix() - 60).abs() <= 2);
    // Time passes (the deadline is moved into the past rather than waited for).
    sqlx::query("UPDATE proof_jobs SET deadline = $1 WHERE id = $2")
        .bind(zkr_store::now_unix() - 1)
        .bind(&late)
        .execute(&app.state.db.pool)
        .await
        .expect("move deadline");
    assert!(
        jobs.claim("worker-a", RANGE)
            .await
            .expect("claim")
            .is_none()
    );
    assert_eq!(jobs.reap().await.expect("reap").expired, 1);
    let r = app.get(&format!("/v1/proofs/{late}"), &client).await;
    assert_eq!(r.json["state"], "expired", "{}", r.text);
    assert_eq!(r.json["failure"]["code"], "deadline", "{}", r.text);
    let r = app.get(&path, &client).await;
    assert_eq!(r.json["failure"]["code"], "cancelled", "{}", r.text);
    for bad in [json!(0), json!(8 * 86_400)] {
        let r = app
            .post(
                "/v1/proofs",
                &client,
                json!({"circuit": "range", "input": range_input(72), "deadline_secs": bad}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    }
});

api_test!(
    principals_take_turns_and_priorities_order_their_own_jobs,
    config = paused(32),
    |app| {
        let greedy = app.token("client-greedy", &[Role::Client]).await;
        let modest = app.token("client-modest", &[Role::Client]).await;
        let mut flood = Vec::new();
        for v in 0..6 {
            flood.push(
                submit(
                    &app,
                    &greedy,
                    json!({"circuit": "range", "input": range_input(100 + v)}),
                )
                .await,
            );
        }
        let urgent = submit(
            &app,
            &greedy,
            json!({"circuit": "range", "input": range_input(200), "priority": 10}),
        )
        .await;
        let late_comer = submit(
            &app,
            &modest,
            json!({"circuit": "range", "input": range_input(300)}),
        )
        .await;
        let jobs = app.state.jobs.clone();
        let mut order = Vec::new();
        for _ in 0..4 {
            let c = jobs
                .claim("worker", RANGE)
                .await
                .expect("claim")
                .expect("job");
            order.push(c.id.to_string());
        }
        // The flood's urgent job first (its owner's priority), then the other
        // principal's only job although it came last, then the flood in order.
        assert_eq!(
            order,
            vec![urgent, late_comer, flood[0].clone(), flood[1].clone()]
        );
        let r = app
            .post(
                "/v1/proofs",
                &greedy,
                json!({"circuit": "range", "input": range_input(1), "priority": 101}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    }
);

api_test!(
    workers_refuse_circuits_whose_keys_differ_from_the_recorded_ones,
    config = paused(8),
    |app| {
        sqlx::query(
            "INSERT INTO proof_circuit_keys (circuit, vk_sha256, recorded_at, recorded_by) \
         VALUES ('range', 'aaaa', 0, 'another-node')",
        )
        .execute(&app.state.db.pool)
        .await
        .expect("record");
        let usable = zkr_server::provers::usable_circuits(&app.state, "this-node")
            .await
            .expect("check");
        assert!(!usable.contains(&CircuitKind::Range));
        assert!(usable.contains(&CircuitKind::Receipt));
        // The others were recorded as this node's keys.
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM proof_circuit_keys WHERE recorded_by = 'this-node'",
        )
        .fetch_one(&app.state.db.pool)
        .await
        .expect("count");
        assert_eq!(n, 3);
        // A range job then waits for a worker with the right keys.
        let client = app.token("client-a", &[Role::Client]).await;
        let job = submit(
            &app,
            &client,
            json!({"circuit": "range", "input": range_input(80)}),
        )
        .await;
        app.start_workers(1).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(
            app.get(&format!("/v1/proofs/{job}"), &client).await.json["state"],
            "queued"
        );
    }
);

api_test!(
    long_poll_answers_when_the_job_ends_with_one_audit_event,
    config = config(),
    |app| {
        let client = app.token("client-a", &[Role::Client]).await;
        let job = submit(
            &app,
            &client,
            json!({"circuit": "range", "input": range_input(90)}),
        )
        .await;
        let r = app.get(&format!("/v1/proofs/{job}?wait=20"), &client).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json["state"], "succeeded", "{}", r.text);
        let events = app
            .get("/v1/audit/events?action=proof_read", &app.admin)
            .await;
        let reads = events.text.lines().filter(|l| l.contains(&job)).count();
        assert_eq!(reads, 1, "{}", events.text);
        // A bounded wait on a job that does not end answers with its state.
        app.stop_workers().await;
        let queued = submit(
            &app,
            &client,
            json!({"circuit": "range", "input": range_input(91)}),
        )
        .await;
        let start = std::time::Instant::now();
        let r = app
            .get(&format!("/v1/proofs/{queued}?wait=1"), &client)
            .await;
        assert_eq!(r.json["state"], "queued");
        assert!(start.elapsed() >= Duration::from_millis(900));
        let r = app
            .get(&format!("/v1/proofs/{queued}?wait=x"), &client)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    }
);

api_test!(workers_are_listed_for_admins, config = config(), |app| {
    let r = app.get("/v1/workers", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let workers = r.json.as_array().expect("array");
    assert_eq!(workers.len(), 1, "{}", r.text);
    // The default backend (`auto`) gives no worker to a CPU OpenCL device
    // (POCL), the only kind a test machine has.
    assert_eq!(workers[0]["backend"], "cpu");
    assert_eq!(
        workers[0]["circuits"],
        json!(["range", "membership", "receipt", "disclosure"])
    );
    assert!(workers[0]["heartbeat_at"].as_i64().is_some_and(|t| t > 0));
    assert_eq!(workers[0]["jobs_succeeded"], 0);
    let client = app.token("client-a", &[Role::Client]).await;
    assert_eq!(
        app.get("/v1/workers", &client).await.status,
        StatusCode::FORBIDDEN
    );
    // A job's end and its worker's count are stored together.
    proved_range(&app, &client, 50).await;
    let r = app.get("/v1/workers", &app.admin).await;
    assert_eq!(r.json[0]["jobs_succeeded"], 1, "{}", r.text);
    assert_eq!(r.json[0]["jobs_failed"], 0, "{}", r.text);
});

api_test!(
    a_job_whose_device_fails_is_proved_on_the_cpu,
    config = {
        let mut c = config();
        // A device that no machine has: the worker for it proves its
        // MSMs on the CPU, each fallback counted. The range circuit is
        // small: no size cutoff here.
        c.proofs.backend = zkr_prover::Backend::OpenClDevice(999);
        c.proofs.device_min_constraints = 0;
        c
    },
    |app| {
        let r = app.get("/v1/workers", &app.admin).await;
        assert_eq!(r.json[0]["backend"], "opencl:999", "{}", r.text);
        let client = app.token("client-a", &[Role::Client]).await;
        let done = proved_range(&app, &client, 70).await;
        assert_eq!(done.json["backend"], "cpu", "{}", done.text);
        assert_eq!(range_fallbacks(&app).await, "1");
    }
);

api_test!(
    each_opencl_device_gets_a_worker,
    config = {
        let mut c = config();
        // Every device, CPU ones (POCL in CI) included; two workers in
        // all: one per device first, then the CPU.
        c.proofs.backend = zkr_prover::Backend::OpenCl;
        c.proofs.device_min_constraints = 0;
        c.proofs.workers = 2.into();
        c
    },
    |app| {
        let devices = zkr_prover::devices();
        if devices.is_empty() {
            if std::env::var("ZKR_REQUIRE_OPENCL").is_ok_and(|v| v == "1") {
                panic!("ZKR_REQUIRE_OPENCL=1 but no OpenCL device");
            }
            crate::helpers::skip("no OpenCL device; set ZKR_REQUIRE_OPENCL=1 to fail instead");
        }
        let r = app.get("/v1/workers", &app.admin).await;
        let mut listed: Vec<String> = r
            .json
            .as_array()
            .expect("array")
            .iter()
            .map(|w| w["backend"].as_str().expect("backend").to_string())
            .collect();
        listed.sort();
        let mut want: Vec<String> = devices
            .iter()
            .take(2)
            .map(|d| d.backend.to_string())
            .chain(std::iter::repeat_n(
                "cpu".to_string(),
                2 - devices.len().min(2),
            ))
            .collect();
        want.sort();
        assert_eq!(listed, want, "{}", r.text);
        // Jobs run on whichever worker claims them, and each says where
        // it ran: a device worker's on its device (no fallback).
        let client = app.token("client-a", &[Role::Client]).await;
        for i in 0..4 {
            let done = proved_range(&app, &client, 72 + i).await;
            let worker = done.json["worker"].as_str().expect("worker");
            let on = r
                .json
                .as_array()
                .expect("array")
                .iter()
                .find(|w| w["id"] == worker)
                .map(|w| w["backend"].as_str().expect("backend").to_string())
                .expect("a listed worker");
            let want = if on == "cpu" { "cpu" } else { "opencl" };
            assert_eq!(done.json["backend"], want, "worker {on}: {}", done.text);
        }
        assert_eq!(range_fallbacks(&app).await, "0");
    }
);

api_test!(
    jobs_of_small_circuits_stay_on_the_cpu,
    config = {
        let mut c = config();
        // A device is asked for, but the range circuit is below the default
        // size cutoff: the job proves on the CPU, device or not, and no
        // fallback is counted.
        c.proofs.backend = zkr_prover::Backend::OpenCl;
        assert!(c.proofs.device_min_constraints > 1000);
        c
    },
    |app| {
        let client = app.token("client-a", &[Role::Client]).await;
        let done = proved_range(&app, &client, 71).await;
        assert_eq!(done.json["backend"], "cpu", "{}", done.text);
        assert_eq!(range_fallbacks(&app).await, "0");
    }
);

/// The audit events of job `job` with `outcome`.
async fn events(app: &TestApp, job: &str, outcome: &str) -> usize {
    let r = app
        .get("/v1/audit/events?action=proof_job", &app.admin)
        .await;
    r.text
        .lines()
        .filter(|l| l.contains(&format!("job/{job}")) && l.contains(&format!("\"{outcome}\"")))
        .count()
}

api_test!(
    an_admin_retries_dead_and_failed_jobs_once,
    config = paused(8),
    |app| {
        let client = app.token("client-a", &[Role::Client]).await;
        let jobs = app.state.jobs.clone();
        jobs.set_lease(Duration::from_millis(300));
        let dead = submit(
            &app,
            &client,
            json!({"circuit": "range", "input": range_input(62)}),
        )
        .await;
        for _ in 1..=3 {
            jobs.claim("worker-c", RANGE)
                .await
                .expect("claim")
                .expect("job");
            tokio::time::sleep(Duration::from_millis(350)).await;
        }
        assert_eq!(jobs.reap().await.expect("reap").exhausted, 1);
        let path = format!("/v1/proofs/{dead}");
        let r = app.get(&path, &client).await;
        assert_eq!(r.json["state"], "dead", "{}", r.text);
        assert_eq!(r.json["failure"]["code"], "lease_lost_too_often");
        // Dead jobs are listed for admins.
        let r = app.get("/v1/proofs?state=dead", &app.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json["jobs"][0]["job_id"], dead.as_str(), "{}", r.text);

        // Only an admin retries; twice is once.
        let retry = format!("{path}/retry");
        let r = app.call(Method::POST, &retry, Some(&client), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        for _ in 0..2 {
            let r = app.call(Method::POST, &retry, Some(&app.admin), None).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            assert_eq!(r.json["state"], "queued", "{}", r.text);
            assert_eq!(r.json["retries"], 1, "{}", r.text);
            assert_eq!(r.json["attempts"], 0, "{}", r.text);
            assert_eq!(r.json["failure"], Value::Null, "{}", r.text);
        }
        assert_eq!(events(&app, &dead, "retried").await, 1);
        // It is proved from the input it kept.
        jobs.set_lease(Duration::from_secs(30));
        let claim = jobs
            .claim("worker-d", RANGE)
            .await
            .expect("claim")
            .expect("the retried job");
        assert_eq!(claim.id.to_string(), dead);
        let input = jobs
            .open_input(&claim, app.state.key_store().expect("keys"))
            .await
            .expect("sealed input kept");
        assert!(input.contains("\"62\""));
        let proved = Outcome::Proved {
            proof: "{}".into(),
            public: "[]".into(),
            backend: "cpu".into(),
            proving_ms: 1,
        };
        assert!(
            jobs.finish(&claim, "worker-d", &proved)
                .await
                .expect("finish")
        );
        assert_eq!(column(&app, &dead, "sealed_input").await, None);
        let r = app.call(Method::POST, &retry, Some(&app.admin), None).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert_eq!(r.code(), "conflict");

        // A failed job says why, keeps its input and may be retried.
        let failed = submit(
            &app,
            &client,
            json!({"circuit": "range", "input": range_input(63)}),
        )
        .await;
        let claim = jobs
            .claim("worker-d", RANGE)
            .await
            .expect("claim")
            .expect("job");
        let why = Outcome::Failed(Failure::new(
            FailureCode::KeyMismatch,
            "the proof did not verify under the circuit's verifying key on this worker",
        ));
        assert!(jobs.finish(&claim, "worker-d", &why).await.expect("finish"));
        let r = app.get(&format!("/v1/proofs/{failed}"), &client).await;
        assert_eq!(r.json["state"], "failed", "{}", r.text);
        assert_eq!(r.json["failure"]["code"], "key_mismatch", "{}", r.text);
        assert!(column(&app, &failed, "sealed_input").await.is_some());
        let r = app
            .call(
                Method::POST,
                &format!("/v1/proofs/{failed}/retry"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(r.json["state"], "queued", "{}", r.text);

        // Not for jobs that ended otherwise, nor for unknown ones.
        let gone = submit(
            &app,
            &client,
            json!({"circuit": "range", "input": range_input(64)}),
        )
        .await;
        let r = app
            .call(
                Method::DELETE,
                &format!("/v1/proofs/{gone}"),
                Some(&client),
                None,
            )
            .await;
        assert_eq!(r.json["failure"]["code"], "cancelled", "{}", r.text);
        let r = app
            .call(
                Method::POST,
                &format!("/v1/proofs/{gone}/retry"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        let r = app
            .call(
                Method::POST,
                "/v1/proofs/5f1d1a4e-0000-4000-8000-000000000000/retry",
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        let r = app
            .call(
                Method::POST,
                "/v1/proofs/nope/retry",
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    }
);

api_test!(
    stopped_and_lost_workers_are_not_live,
    config = config(),
    |app| {
        // Two restarts of the node's one worker.
        app.start_workers(1).await;
        app.start_workers(1).await;
        // A worker whose process died: no stop, no heartbeat for minutes.
        let old = zkr_store::now_unix() - 120;
        sqlx::query(
            "INSERT INTO proof_workers (id, host, backend, circuits, started_at, heartbeat_at) \
         VALUES ('gone-1', 'elsewhere', 'cpu', 'range', $1, $1)",
        )
        .bind(old)
        .execute(&app.state.db.pool)
        .await
        .expect("worker row");
        let r = app.get("/v1/workers", &app.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let mut states: Vec<String> = r
            .json
            .as_array()
            .expect("array")
            .iter()
            .map(|w| w["state"].as_str().unwrap_or("none").to_string())
            .collect();
        states.sort();
        assert_eq!(states, ["live", "lost", "stopped", "stopped"], "{}", r.text);
        let r = app.get("/v1/workers?state=live", &app.admin).await;
        let live = r.json.as_array().expect("array");
        assert_eq!(live.len(), 1, "{}", r.text);
        assert_eq!(live[0]["stopped_at"], Value::Null);
        let r = app.get("/v1/workers?state=lost", &app.admin).await;
        assert_eq!(r.json[0]["id"], "gone-1", "{}", r.text);
        let r = app.get("/v1/workers?state=dead", &app.admin).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    }
);
