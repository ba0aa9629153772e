//! Webhooks of proof jobs: the signed notice (checked here with HMAC-SHA256
//! as a receiver would), URL checks, retries after the receiver was down,
//! no notice lost across a restart, and each notice delivered once by two
//! deliverers on one database.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use zkr_server::audit_log::AuditWriter;
use zkr_server::provers::{Deliverer, WebhookSecret};
use zkr_server::{AppState, Config, Role};
use zkr_store::Db;

use crate::helpers::{TestApp, api_test};
use crate::proofs::{config as proving_config, paused, range_input, wait_for};

const SECRET: &[u8] = b"webhook-signing-secret-of-this-test-suite";
const SECRET_BLIND: &str = "918273645546372819283746556473829100";

fn hooks(mut c: Config) -> Config {
    c.webhooks.allow_hosts = vec!["127.0.0.1".into()];
    c.webhooks.allow_private_addresses = true;
    c.webhooks.backoff_base_ms = 50;
    c.webhooks.backoff_max_secs = 1;
    c.webhooks.poll_ms = 50;
    c.webhooks.timeout_secs = 5;
    c
}

fn secret() -> WebhookSecret {
    WebhookSecret::new(SECRET.to_vec()).expect("secret")
}

/// What a receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
}

/// A webhook receiver on loopback that answers `status` (changeable).
struct Receiver {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    got: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(status: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self::on(listener, status)
    }

    fn on(listener: tokio::net::TcpListener, status: u16) -> Self {
        let addr = listener.local_addr().expect("addr");
        let status = Arc::new(AtomicU16::new(status));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (s, g) = (status.clone(), got.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (s, g) = (s.clone(), g.clone());
                async move {
                    g.lock().expect("lock").push(Received { headers, body });
                    StatusCode::from_u16(s.load(Ordering::SeqCst)).expect("status")
                }
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            status,
            got,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The receiver's check: HMAC-SHA256 of `timestamp.body` under `secret`.
fn verifies(secret: &[u8], r: &Received) -> bool {
    let header = |n: &str| {
        r.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let timestamp = header("zkr-webhook-timestamp");
    let Some(signature) = header("zkr-webhook-signature")
        .strip_prefix("v1=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret).expect("key");
    mac.update(format!("{timestamp}.{}", r.body).as_bytes());
    mac.verify_slice(&signature).is_ok()
}

async fn submit(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post("/v1/proofs", token, body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    r.json["job_id"].as_str().expect("job id").to_string()
}

async fn cancel(app: &TestApp, token: &str, job: &str) {
    let r = app
        .call(
            axum::http::Method::DELETE,
            &format!("/v1/proofs/{job}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Polls the job until its webhook is in `state` (60 s at most); the job.
async fn webhook_reaches(app: &TestApp, token: &str, job: &str, state: &str) -> Value {
    for _ in 0..600 {
        let r = app.get(&format!("/v1/proofs/{job}"), token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        if r.json["webhook"]["state"] == state {
            return r.json;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the webhook of job {job} never reached {state}");
}

/// Another node on the same database, as a restarted or second process.
async fn node(app: &TestApp) -> (AppState, AuditWriter) {
    let db = Db::connect(&app.database_url).await.expect("connect");
    let (state, writer) = AppState::with_db((*app.state.config).clone(), db).expect("state");
    state.webhooks.set_secret(secret());
    (state, writer)
}

async fn close(state: AppState, writer: AuditWriter) {
    state.audit.close().await;
    writer.join().await;
    state.db.pool.close().await;
}

api_test!(
    notices_are_signed_and_carry_no_inputs,
    config = hooks(proving_config()),
    |app| {
        let receiver = Receiver::start(200).await;
        app.state.webhooks.set_secret(secret());
        let client = app.token("client-a", &[Role::Client]).await;
        // Checked at submission: allowed host, http, a URL.
        for bad in [
            "http://example.com/hook",
            "https://127.0.0.1/hook",
            "file:///etc/passwd",
            "not a url",
        ] {
            let r = app
                .post(
                    "/v1/proofs",
                    &client,
                    json!({"circuit": "range", "input": range_input(50), "webhook_url": bad}),
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{bad}: {}",
                r.text
            );
        }
        let deliverer = Deliverer::start(&app.state).expect("webhooks are on");
        let job = submit(
            &app,
            &client,
            json!({"circuit": "range", "webhook_url": receiver.url(),
                "input": {"value": "777", "blind": SECRET_BLIND, "min": "10", "max": "1000"}}),
        )
        .await;
        let done = wait_for(&app, &client, &job).await;
        assert_eq!(done.json["state"], "succeeded", "{}", done.text);
        let seen = webhook_reaches(&app, &client, &job, "delivered").await;
        assert_eq!(seen["webhook"]["attempts"], 1);
        let got = receiver.got();
        assert_eq!(got.len(), 1);
        let notice = &got[0];
        assert!(verifies(SECRET, notice), "the signature verifies");
        assert!(!verifies(b"another-secret-another-secret-another", notice));
        let mut tampered = notice.clone();
        tampered.body = tampered.body.replace("succeeded", "failed");
        assert!(!verifies(SECRET, &tampered));
        let body: Value = serde_json::from_str(&notice.body).expect("json");
        assert_eq!(body["job_id"], job);
        assert_eq!(body["state"], "succeeded");
        assert_eq!(body["circuit"], "range");
        assert_eq!(body["finished_at"], seen["finished_at"]);
        assert_eq!(
            notice
                .headers
                .get("zkr-webhook-id")
                .and_then(|v| v.to_str().ok()),
            Some(job.as_str())
        );
        // The result is read through the API, not pushed.
        assert!(!notice.body.contains(SECRET_BLIND));
        assert!(!notice.body.contains("pi_a"));
        let metrics = app
            .call(axum::http::Method::GET, "/metrics", None, None)
            .await;
        assert!(
            metrics
                .text
                .contains("zkr_webhook_deliveries_total{result=\"delivered\"} 1"),
            "{}",
            metrics.text
        );
        assert!(metrics.text.contains("zkr_webhooks{state=\"delivered\"} 1"));
        // A job without a webhook shows none.
        let plain = submit(
            &app,
            &client,
            json!({"circuit": "range", "input": range_input(60)}),
        )
        .await;
        let r = app.get(&format!("/v1/proofs/{plain}"), &client).await;
        assert_eq!(r.json["webhook"], Value::Null, "{}", r.text);
        deliverer.stop().await;
    }
);

api_test!(
    webhooks_are_refused_when_not_configured,
    config = paused(4),
    |app| {
        let client = app.token("client-a", &[Role::Client]).await;
        let r = app
            .post(
                "/v1/proofs",
                &client,
                json!({"circuit": "range", "input": range_input(50),
                    "webhook_url": "http://127.0.0.1:9/hook"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(r.text.contains("not enabled"), "{}", r.text);
    }
);

api_test!(
    a_receiver_that_was_down_gets_the_notice_on_a_retry,
    config = hooks(paused(4)),
    |app| {
        app.state.webhooks.set_secret(secret());
        let client = app.token("client-a", &[Role::Client]).await;
        // Nothing listens on the port at first.
        let spare = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = spare.local_addr().expect("addr");
        drop(spare);
        let job = submit(
            &app,
            &client,
            json!({"circuit": "range", "input": range_input(50),
                "webhook_url": format!("http://{addr}/hook")}),
        )
        .await;
        let deliverer = Deliverer::start(&app.state).expect("webhooks are on");
        cancel(&app, &client, &job).await;
        let mut refused = Value::Null;
        for _ in 0..600 {
            let r = app.get(&format!("/v1/proofs/{job}"), &client).await;
            if r.json["webhook"]["last_error"] == "connection refused" {
                refused = r.json;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(refused["webhook"]["state"], "pending", "{refused}");
        // Then up, but failing; then well.
        let receiver = Receiver::on(
            tokio::net::TcpListener::bind(addr).await.expect("rebind"),
            500,
        );
        for _ in 0..600 {
            let r = app.get(&format!("/v1/proofs/{job}"), &client).await;
            if r.json["webhook"]["last_error"] == "HTTP 500" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!receiver.got().is_empty());
        receiver.status.store(200, Ordering::SeqCst);
        let seen = webhook_reaches(&app, &client, &job, "delivered").await;
        let got = receiver.got();
        let attempts = seen["webhook"]["attempts"].as_i64().expect("attempts");
        assert!(attempts >= 3, "{seen}");
        assert_eq!(seen["webhook"]["last_error"], Value::Null);
        assert!(got.iter().all(|r| verifies(SECRET, r)));
        let body: Value = serde_json::from_str(&got[got.len() - 1].body).expect("json");
        assert_eq!(body["state"], "cancelled");
        deliverer.stop().await;
    }
);

api_test!(
    undelivered_notices_survive_a_restart,
    config = hooks(paused(4)),
    |app| {
        let receiver = Receiver::start(200).await;
        let client = app.token("client-a", &[Role::Client]).await;
        app.state.webhooks.set_secret(secret());
        let cancelled = submit(
            &app,
            &client,
            json!({"circuit": "range", "input": range_input(50), "webhook_url": receiver.url()}),
        )
        .await;
        let expiring = submit(
            &app,
            &client,
            json!({"circuit": "range", "input": range_input(51), "webhook_url": receiver.url(),
                "deadline_secs": 1}),
        )
        .await;
        // No deliverer runs: the jobs end, their notices wait in the outbox.
        cancel(&app, &client, &cancelled).await;
        let mut reaped = 0;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            reaped += app.state.jobs.reap().await.expect("reap").expired;
            if reaped > 0 {
                break;
            }
        }
        assert_eq!(reaped, 1);
        for job in [&cancelled, &expiring] {
            let r = app.get(&format!("/v1/proofs/{job}"), &client).await;
            assert_eq!(r.json["webhook"]["state"], "pending", "{}", r.text);
        }
        assert!(receiver.got().is_empty());
        // A new process on the same database delivers them.
        let (restarted, writer) = node(&app).await;
        let deliverer = Deliverer::start(&restarted).expect("webhooks are on");
        webhook_reaches(&app, &client, &cancelled, "delivered").await;
        webhook_reaches(&app, &client, &expiring, "delivered").await;
        let mut states: Vec<String> = receiver
            .got()
            .iter()
            .map(|r| {
                assert!(verifies(SECRET, r));
                let body: Value = serde_json::from_str(&r.body).expect("json");
                body["state"].as_str().unwrap_or("").to_string()
            })
            .collect();
        states.sort();
        assert_eq!(states, ["cancelled", "expired"]);
        deliverer.stop().await;
        close(restarted, writer).await;
    }
);

api_test!(
    two_deliverers_deliver_each_notice_once,
    config = hooks(paused(8)),
    |app| {
        let receiver = Receiver::start(200).await;
        let client = app.token("client-a", &[Role::Client]).await;
        app.state.webhooks.set_secret(secret());
        let (other, writer) = node(&app).await;
        let first = Deliverer::start(&app.state).expect("webhooks are on");
        let second = Deliverer::start(&other).expect("webhooks are on");
        let mut jobs = Vec::new();
        for i in 0..8 {
            jobs.push(
                submit(
                    &app,
                    &client,
                    json!({"circuit": "range", "input": range_input(50 + i),
                        "webhook_url": receiver.url()}),
                )
                .await,
            );
        }
        for job in &jobs {
            cancel(&app, &client, job).await;
        }
        for job in &jobs {
            let seen = webhook_reaches(&app, &client, job, "delivered").await;
            assert_eq!(seen["webhook"]["attempts"], 1, "{seen}");
        }
        let mut per_job: HashMap<String, usize> = HashMap::new();
        for r in receiver.got() {
            let body: Value = serde_json::from_str(&r.body).expect("json");
            *per_job
                .entry(body["job_id"].as_str().unwrap_or("").to_string())
                .or_default() += 1;
        }
        assert_eq!(per_job.len(), jobs.len());
        assert!(per_job.values().all(|n| *n == 1), "{per_job:?}");
        first.stop().await;
        second.stop().await;
        close(other, writer).await;
    }
);

/// A receiver that takes connections and never answers: each is held open.
struct Silent {
    addr: SocketAddr,
    accepted: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl Silent {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicU16::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        Self {
            addr,
            accepted,
            task,
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

api_test!(
    a_receiver_that_never_answers_holds_up_only_its_own_notices,
    config = {
        let mut c = hooks(paused(16));
        // Far longer than the wait for the other receiver's notice below.
        c.webhooks.timeout_secs = 60;
        c
    },
    |app| {
        app.state.webhooks.set_secret(secret());
        let silent = Silent::start().await;
        let good = Receiver::start(200).await;
        let a = app.token("client-a", &[Role::Client]).await;
        let b = app.token("miner-b", &[Role::Miner]).await;
        let deliverer = Deliverer::start(&app.state).expect("webhooks are on");
        let mut stuck = Vec::new();
        for i in 0..6 {
            let job = submit(
                &app,
                &a,
                json!({"circuit": "range", "input": range_input(50 + i),
                    "webhook_url": format!("http://{}/hook", silent.addr)}),
            )
            .await;
            cancel(&app, &a, &job).await;
            stuck.push(job);
        }
        // The silent receiver holds a delivery before the other job ends.
        for _ in 0..300 {
            if silent.accepted.load(Ordering::SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(silent.accepted.load(Ordering::SeqCst) > 0);
        let job = submit(
            &app,
            &b,
            json!({"circuit": "range", "input": range_input(70), "webhook_url": good.url()}),
        )
        .await;
        cancel(&app, &b, &job).await;
        // Delivered while every attempt to the silent receiver is still
        // waiting for an answer (each may take 60 s).
        let mut delivered = false;
        for _ in 0..300 {
            let r = app.get(&format!("/v1/proofs/{job}"), &b).await;
            if r.json["webhook"]["state"] == "delivered" {
                delivered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(delivered, "the answering receiver's notice waited");
        assert_eq!(good.got().len(), 1);
        for job in &stuck {
            let r = app.get(&format!("/v1/proofs/{job}"), &a).await;
            assert_eq!(r.json["webhook"]["state"], "pending", "{}", r.text);
            assert_eq!(r.json["webhook"]["last_error"], Value::Null, "{}", r.text);
        }
        // At most `per_destination` (2) at once to the silent one.
        assert!(silent.accepted.load(Ordering::SeqCst) <= 2);
        deliverer.stop().await;
    }
);
