//! The prover pool as separate processes of the built `zkr` binary on
//! loopback: API nodes and `zkr worker`s sharing one PostgreSQL database, a
//! worker killed (`kill -9`) while it proves, the API killed with jobs
//! queued and running, two API nodes serving the same clients; and a single
//! `zkr serve` on SQLite killed and started again. Every job must succeed
//! exactly once and every proof verify.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, Row};

mod common;
use common::{PgDb, block_on, zkr_clean as zkr};

/// Registry depth of these tests: small, so set-up and proofs are quick.
const DEPTH: &str = "8";
const JOBS: usize = 20;

/// A running `zkr` process, killed when dropped.
struct Proc {
    child: Child,
    addr: Option<String>,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill {sig}");
    }

    fn kill9(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }

    fn addr(&self) -> &str {
        self.addr.as_deref().expect("an API process")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The environment every process of one cluster shares.
struct Cluster {
    dir: tempfile::TempDir,
    database: String,
    env: Vec<(String, String)>,
}

impl Cluster {
    fn new(database: String, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let circuits = dir.path().join("circuits");
        let kek = dir.path().join("kek.bin");
        let mut env = vec![
            (
                "ZKR_CIRCUITS_DIR".to_string(),
                circuits.display().to_string(),
            ),
            ("ZKR_REGISTRY_DEPTH".to_string(), DEPTH.to_string()),
            ("ZKR_PROOF_LEASE_SECS".to_string(), "2".to_string()),
            ("ZKR_PROOF_POLL_MS".to_string(), "100".to_string()),
            ("ZKR_RATE_IP_PER_SECOND".to_string(), "0".to_string()),
            ("ZKR_RATE_PRINCIPAL_PER_SECOND".to_string(), "0".to_string()),
            (
                "ZKR_LOG".to_string(),
                "warn,zkr_server=info,zkr::server=info".to_string(),
            ),
        ];
        // Every process reaches the same KEK: the HSM token when CI has
        // one (as on separate machines), else one development key file.
        if std::env::var_os("ZKR_PKCS11_MODULE").is_some() {
            for k in [
                "ZKR_PKCS11_MODULE",
                "ZKR_PKCS11_TOKEN_LABEL",
                "ZKR_PKCS11_PIN",
                "ZKR_PKCS11_KEY_LABEL",
            ] {
                if let Ok(v) = std::env::var(k) {
                    env.push((k.to_string(), v));
                }
            }
        } else {
            env.push(("ZKR_DEV_KEK_FILE".to_string(), kek.display().to_string()));
        }
        for (k, v) in extra {
            env.push(((*k).to_string(), (*v).to_string()));
        }
        Self { dir, database, env }
    }

    fn spawn(&self, name: &str, args: &[&str], ready: &str) -> Proc {
        self.spawn_with(name, args, &[], ready)
    }

    fn spawn_with(&self, name: &str, args: &[&str], env: &[(&str, &str)], ready: &str) -> Proc {
        let data = self.dir.path().join(name);
        let log = self.dir.path().join(format!("{name}.log"));
        let mut cmd = zkr();
        cmd.args(args)
            .arg("--data-dir")
            .arg(&data)
            .arg("--database")
            .arg(&self.database)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = cmd.spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let mut addr = None;
        loop {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let _ = child.kill();
                panic!(
                    "{name} stopped before it was ready: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if let Some(a) = line.trim().strip_prefix("listening on http://") {
                addr = Some(a.to_string());
            }
            if let Some(a) = line
                .trim()
                .strip_prefix("metrics on http://")
                .and_then(|a| a.strip_suffix("/metrics"))
            {
                addr = Some(a.to_string());
            }
            if line.contains(ready) {
                break;
            }
        }
        // Keep draining stdout so that the process never blocks on it.
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = stdout.read_to_string(&mut sink);
        });
        Proc { child, addr, log }
    }

    fn api(&self, name: &str) -> Proc {
        self.spawn(
            name,
            &["serve", "--listen", "127.0.0.1:0", "--workers", "0"],
            "listening on",
        )
    }

    fn worker(&self, name: &str) -> Proc {
        self.spawn(
            name,
            &["worker", "--workers", "1"],
            "prover workers running",
        )
    }

    fn admin_token(&self, api: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(api).join("admin-token"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn circuits(&self) -> PathBuf {
        self.dir.path().join("circuits")
    }
}

struct Reply {
    status: u16,
    headers: String,
    json: Value,
}

fn http(addr: &str, method: &str, path: &str, token: &str, body: Option<&Value>) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        headers: head.to_ascii_lowercase(),
        json: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

/// A receipt job's `input.json` (miner 3 among three registered miners);
/// `salt` makes each one distinct.
fn receipt_input(salt: usize) -> Value {
    json!({"circuit": "receipt", "input": {
        "receipt": {"job_id": "1", "client_id": "2", "miner_id": "3", "units": "40",
            "unit_price": "5", "amount": "200", "fee": "3", "timestamp": "1700000000",
            "salt": (1_000_000 + salt).to_string()},
        "amount_min": "100", "amount_max": "300", "miners": ["3", "77", "78"]}})
}

fn mint(addr: &str, admin: &str, principal: &str) -> String {
    let r = http(
        addr,
        "POST",
        "/v1/tokens",
        admin,
        Some(&json!({"principal": principal, "roles": ["miner"]})),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["token"].as_str().expect("token").to_string()
}

fn submit(addr: &str, token: &str, body: &Value) -> Reply {
    http(addr, "POST", "/v1/proofs", token, Some(body))
}

/// Waits (long-poll) until `job` ends; its final view.
fn wait_ended(addrs: &[&str], token: &str, job: &str) -> Value {
    let start = Instant::now();
    for i in 0.. {
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "job {job} never ended"
        );
        let r = http(
            addrs[i % addrs.len()],
            "GET",
            &format!("/v1/proofs/{job}?wait=10"),
            token,
            None,
        );
        assert_eq!(r.status, 200, "{}", r.json);
        let state = r.json["state"].as_str().unwrap_or("");
        if state != "queued" && state != "running" {
            return r.json;
        }
    }
    unreachable!()
}

/// Every proof verifies under the circuit's verifying key.
fn assert_verifies(circuits: &Path, job: &Value) {
    let dir = circuits.join(job["circuit"].as_str().unwrap());
    let vk_text = std::fs::read_to_string(dir.join("verification_key.json")).unwrap();
    let vk = zkr_verifier::snarkjs::parse_vk(&vk_text, "vk").unwrap();
    let proof = zkr_verifier::snarkjs::parse_proof(&job["proof"].to_string(), "proof").unwrap();
    let public =
        zkr_verifier::snarkjs::parse_public(&job["public_signals"].to_string(), "public").unwrap();
    assert!(
        zkr_verifier::verify(&vk, &proof, &public).unwrap(),
        "job {} does not verify",
        job["job_id"]
    );
}

async fn pg_query_i64(url: &str, sql: &str, bind: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let row = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(bind)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    row.try_get::<i64, _>(0).unwrap()
}

async fn pg_query_text(url: &str, sql: &str, bind: &str) -> Option<String> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let row = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(bind)
        .fetch_optional(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    row.and_then(|r| r.try_get::<Option<String>, _>(0).ok().flatten())
}

/// The job `worker` (a process) holds while proving, with the process
/// stopped (SIGSTOP) so that it can no longer finish it; `None` until then.
fn freeze_while_proving(db: &str, worker: &Proc) -> String {
    let prefix = format!("%-{}-%", worker.pid());
    // Any job it holds: the stage is recorded at the lease's next renewal,
    // and a small proof can end before that.
    let sql = "SELECT id FROM proof_jobs WHERE state = 'running' AND worker_id LIKE $1 LIMIT 1";
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the worker never proved: {}",
            worker.log()
        );
        if block_on(pg_query_text(db, sql, &prefix)).is_some() {
            worker.signal("-STOP");
            // A result already on its way lands within this pause.
            std::thread::sleep(Duration::from_millis(300));
            if let Some(job) = block_on(pg_query_text(db, sql, &prefix)) {
                return job;
            }
            worker.signal("-CONT");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn postgres_pool_loses_no_job_to_killed_workers_or_api_nodes() {
    let Some(db) = PgDb::create("zkr_pool") else {
        return;
    };
    let cluster = Cluster::new(
        db.url.clone(),
        &[
            ("ZKR_PROOF_QUEUE", "24"),
            ("ZKR_PROOF_PER_PRINCIPAL_QUEUE", "20"),
        ],
    );
    // The first API node sets up the circuit keys and records their hashes.
    let api1 = cluster.api("api1");
    let admin = cluster.admin_token("api1");
    let miner = mint(api1.addr(), &admin, "miner-1");
    let w1 = cluster.worker("w1");
    let w2 = cluster.worker("w2");

    let mut jobs = Vec::new();
    for i in 0..JOBS {
        let r = submit(api1.addr(), &miner, &receipt_input(i));
        assert_eq!(r.status, 202, "{}", r.json);
        jobs.push(r.json["job_id"].as_str().unwrap().to_string());
    }
    // kill -9 a worker in the middle of a proof.
    let held = freeze_while_proving(&db.url, &w1);
    w1.kill9();
    // Kill the API node too while jobs are still queued or running, and
    // serve the same clients from two new API nodes on the same database.
    let unfinished = block_on(pg_query_i64(
        &db.url,
        "SELECT COUNT(*) FROM proof_jobs WHERE state IN ('queued', 'running') AND $1 = $1",
        "-",
    ));
    assert!(
        unfinished > 0,
        "every job ended before the API node was killed"
    );
    api1.kill9();
    let api2 = cluster.api("api2");
    let api3 = cluster.api("api3");
    let w3 = cluster.worker("w3");
    let addrs = [api2.addr(), api3.addr()];

    let mut succeeded = 0;
    for job in &jobs {
        let view = wait_ended(&addrs, &miner, job);
        assert_eq!(
            view["state"],
            "succeeded",
            "{view}\nw2: {}\nw3: {}",
            w2.log(),
            w3.log()
        );
        assert_verifies(&cluster.circuits(), &view);
        // Exactly one result: one `succeeded` event per job (the worker
        // appends it right after it stored the result).
        let resource = format!("job/{job}");
        let count = || {
            block_on(pg_query_i64(
                &db.url,
                "SELECT COUNT(*) FROM audit_events WHERE action = 'proof_job' \
                 AND outcome = 'succeeded' AND resource = $1",
                &resource,
            ))
        };
        let start = Instant::now();
        while count() == 0 && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(count(), 1, "job {job}");
        succeeded += 1;
    }
    assert_eq!(succeeded, JOBS);
    // The frozen worker's job was taken over after its lease expired.
    let view = http(
        api2.addr(),
        "GET",
        &format!("/v1/proofs/{held}"),
        &miner,
        None,
    )
    .json;
    assert!(view["attempts"].as_i64().unwrap() >= 2, "{view}");
    assert!(
        !view["worker"]
            .as_str()
            .unwrap()
            .contains(&format!("-{}-", std::process::id()))
    );
    // The workers listing shows the live workers.
    let list = http(api3.addr(), "GET", "/v1/workers", &admin, None);
    assert_eq!(list.status, 200);
    let ids: Vec<String> = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_string())
        .collect();
    for w in [&w2, &w3] {
        assert!(
            ids.iter().any(|id| id.contains(&format!("-{}-", w.pid()))),
            "{ids:?}"
        );
    }
    // A policy changed on one API node governs the other's next decisions:
    // the change is announced to every node, which drops the policies it
    // kept (unannounced, it would keep them for up to 5 s).
    let ops = mint(api2.addr(), &admin, "ops-1");
    let audit_read =
        |addr: &str| http(addr, "GET", "/v1/audit/checkpoints?limit=1", &ops, None).status;
    assert_eq!(audit_read(api3.addr()), 403);
    let grant = json!({
        "id": "ops-audit",
        "policy": {"effect": "allow", "actions": ["audit_read"], "principals": ["ops-1"]}
    });
    let r = http(api2.addr(), "POST", "/v1/policies", &admin, Some(&grant));
    assert_eq!(r.status, 201, "{}", r.json);
    let within = |want: u16| {
        let start = Instant::now();
        while audit_read(api3.addr()) != want {
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "api3 still decides with the old policies"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    within(200);
    let r = http(
        api2.addr(),
        "DELETE",
        "/v1/policies/ops-audit",
        &admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    within(403);
    // A token revoked through one API node is refused by the other once
    // the revocation is announced: api3 keeps the tokens it has read
    // (unannounced, it would use them for up to 5 s).
    let r = http(
        api2.addr(),
        "POST",
        "/v1/tokens",
        &admin,
        Some(&json!({"principal": "miner-9", "roles": ["miner"]})),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let (id, nine) = (
        r.json["id"].as_str().unwrap().to_string(),
        r.json["token"].as_str().unwrap().to_string(),
    );
    let status = |addr: &str| http(addr, "GET", "/v1/workers", &nine, None).status;
    assert_eq!(status(api3.addr()), 403, "known, not an admin");
    let r = http(
        api2.addr(),
        "DELETE",
        &format!("/v1/tokens/{id}"),
        &admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(status(api2.addr()), 401, "at once on the node that revoked");
    let start = Instant::now();
    while status(api3.addr()) != 401 {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "api3 still accepts the revoked token"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Overload, with no worker running: a principal's flood beyond its
    // share gets 429, beyond the queue 503, both with Retry-After, on
    // either node; another principal still gets in; every accepted job
    // runs once workers are back.
    drop((w2, w3));
    let other = mint(api2.addr(), &admin, "miner-2");
    let third = mint(api2.addr(), &admin, "miner-3");
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    let mut send = |token: &str, salt: usize| {
        let r = submit(addrs[salt % 2], token, &receipt_input(salt));
        match r.status {
            202 => accepted.push((
                token.to_string(),
                r.json["job_id"].as_str().unwrap().to_string(),
            )),
            429 | 503 => {
                assert!(r.headers.contains("retry-after:"), "{}", r.headers);
                refused.push(r.status);
            }
            other => panic!("{other}: {}", r.json),
        }
    };
    for i in 0..25 {
        send(&miner, 100 + i);
    }
    for i in 0..2 {
        send(&other, 200 + i);
    }
    for i in 0..4 {
        send(&third, 300 + i);
    }
    assert_eq!(accepted.len(), 24, "{refused:?}");
    assert_eq!(
        refused.iter().filter(|s| **s == 429).count(),
        5,
        "{refused:?}"
    );
    assert_eq!(
        refused.iter().filter(|s| **s == 503).count(),
        2,
        "{refused:?}"
    );
    assert_eq!(accepted.iter().filter(|(t, _)| *t == other).count(), 2);
    let _w4 = cluster.worker("w4");
    let _w5 = cluster.worker("w5");
    for (token, job) in &accepted {
        let view = wait_ended(&addrs, token, job);
        assert_eq!(view["state"], "succeeded", "{view}");
    }
}

#[test]
fn sqlite_serve_killed_and_restarted_loses_no_job() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("zkr.db").display());
    let cluster = Cluster::new(database, &[]);
    let serve = |c: &Cluster| {
        c.spawn(
            "node",
            &["serve", "--listen", "127.0.0.1:0"],
            "listening on",
        )
    };
    let first = serve(&cluster);
    let admin = cluster.admin_token("node");
    let miner = mint(first.addr(), &admin, "miner-1");
    let mut jobs = Vec::new();
    for i in 0..10 {
        let r = submit(first.addr(), &miner, &receipt_input(i));
        assert_eq!(r.status, 202, "{}", r.json);
        jobs.push(r.json["job_id"].as_str().unwrap().to_string());
    }
    // Killed while it proves, with the rest still queued. Any job may be
    // the one running when it is looked at: the first may already be done.
    let start = Instant::now();
    'proving: loop {
        let mut states = Vec::new();
        for job in &jobs {
            let r = http(
                first.addr(),
                "GET",
                &format!("/v1/proofs/{job}"),
                &miner,
                None,
            );
            if r.json["state"] == "running" {
                break 'proving;
            }
            states.push(r.json["state"].to_string());
        }
        assert!(
            states.iter().any(|s| s == "\"queued\""),
            "all ended: {states:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(60), "{states:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill9();
    let second = serve(&cluster);
    // A worker beside it, with its own metrics listener (it serves no API).
    let worker = cluster.spawn_with(
        "worker",
        &["worker", "--workers", "1"],
        &[("ZKR_WORKER_METRICS_LISTEN", "127.0.0.1:0")],
        "prover workers running",
    );
    for job in &jobs {
        let view = wait_ended(&[second.addr()], &miner, job);
        assert_eq!(view["state"], "succeeded", "{view}");
        assert_verifies(&cluster.circuits(), &view);
    }
    let metrics = plain_get(worker.addr(), "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("zkr_proof_queue_depth 0"), "{metrics}");
    assert!(
        metrics.contains("zkr_webhook_deliveries_total"),
        "{metrics}"
    );
    // Only the metrics: no API on that address.
    let other = plain_get(worker.addr(), "/v1/workers");
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
}

/// A GET without a token; the whole response as text.
fn plain_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    response
}
