//! The prover pool's identity, with the built `zkr` binary as separate
//! processes on PostgreSQL: the API node records the circuit keys (files
//! included) whatever its number of workers; a worker fetches the keys it
//! lacks, and refuses to start, in one line and with a non-zero exit, when
//! its KEK or its circuit keys are not the pool's or when it can prove
//! nothing; and the README's multi-machine sequence runs as written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, Row};

mod common;
use common::{PgDb, block_on};

/// The binary under test: this build's, or the one `ZKR_POOL_TEST_BIN`
/// names (to run these tests against another build, such as one from
/// before a change).
fn bin() -> PathBuf {
    std::env::var_os("ZKR_POOL_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_zkr")))
}

/// `zkr` with none of the caller's `ZKR_*` variables.
fn zkr() -> Command {
    let mut cmd = Command::new(bin());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ZKR_") || key == "NO_COLOR" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Registry depth of these tests (the README's sequence keeps its own).
const DEPTH: &str = "8";

impl PgDb {
    /// `(circuit, vk_sha256, proving key bytes)` of every recorded key
    /// (0 bytes on a schema without stored keys).
    fn recorded(&self) -> Vec<(String, String, usize)> {
        block_on(async {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            let rows =
                sqlx::query("SELECT circuit, vk_sha256 FROM proof_circuit_keys ORDER BY circuit")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            let mut out = Vec::new();
            for r in rows {
                let circuit: String = r.get("circuit");
                let n = sqlx::query_scalar::<_, i64>(
                    "SELECT COALESCE(LENGTH(proving_key), 0)::BIGINT FROM proof_circuit_keys \
                     WHERE circuit = $1",
                )
                .bind(&circuit)
                .fetch_one(&mut conn)
                .await
                .unwrap_or(0);
                out.push((circuit, r.get("vk_sha256"), n as usize));
            }
            let _ = conn.close().await;
            out
        })
    }
}

/// A running `zkr` process, killed when dropped.
struct Proc {
    child: Child,
    addr: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Nodes of one pool: one database, each node in its own data directory.
struct Pool {
    dir: tempfile::TempDir,
    db: PgDb,
}

impl Pool {
    fn new() -> Option<Self> {
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
            db: PgDb::create("zkr_ident")?,
        })
    }

    fn data(&self, node: &str) -> PathBuf {
        self.dir.path().join(node)
    }

    fn command(&self, node: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = zkr();
        cmd.args(args)
            .arg("--data-dir")
            .arg(self.data(node))
            .arg("--database")
            .arg(&self.db.url)
            .env("ZKR_REGISTRY_DEPTH", DEPTH)
            .env("ZKR_PROOF_POLL_MS", "100")
            .env("ZKR_LOG", "warn,zkr_server=info")
            .envs(env.iter().copied());
        cmd
    }

    /// An API-only node, once it listens.
    fn api(&self, node: &str, env: &[(&str, &str)]) -> Proc {
        let args = ["serve", "--listen", "127.0.0.1:0", "--workers", "0"];
        let mut child = self
            .command(node, &args, env)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.dir.path().join(format!("{node}.log"))).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let log = std::fs::read_to_string(self.dir.path().join(format!("{node}.log")));
                panic!("{node} stopped: {}", log.unwrap_or_default());
            }
            if let Some(a) = line.trim().strip_prefix("listening on http://") {
                break a.to_string();
            }
        };
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = stdout.read_to_string(&mut sink);
        });
        Proc { child, addr }
    }

    /// A `zkr worker`: `Ok(process)` once it runs, or `Err((status,
    /// stderr))` when it ends first.
    fn worker(&self, node: &str, env: &[(&str, &str)]) -> Result<Proc, (ExitStatus, String)> {
        let log = self.dir.path().join(format!("{node}.log"));
        let mut child = self
            .command(node, &["worker", "--workers", "1"], env)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let status = child.wait().unwrap();
                return Err((status, std::fs::read_to_string(&log).unwrap()));
            }
            if line.contains("prover workers running") {
                break;
            }
        }
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = stdout.read_to_string(&mut sink);
        });
        Ok(Proc {
            child,
            addr: String::new(),
        })
    }

    /// A copy (0600) of `node`'s development KEK, as an operator gives it
    /// to a worker machine.
    fn copy_kek(&self, node: &str, to: &str) -> PathBuf {
        let path = self.dir.path().join(to);
        std::fs::copy(self.data(node).join("dev-kek.bin"), &path).unwrap();
        set_mode(&path, 0o600);
        path
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The refusal: a non-zero exit whose last line names the cause.
fn refused(r: Result<Proc, (ExitStatus, String)>) -> String {
    let (status, log) = match r {
        Ok(_) => panic!("the worker started"),
        Err(e) => e,
    };
    assert!(!status.success(), "{log}");
    let last = log.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("error: "), "{log}");
    assert!(!log.contains("prover worker started"), "{log}");
    last
}

fn http(addr: &str, method: &str, path: &str, token: &str, body: Option<&Value>) -> Value {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
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
    let (_, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// A miner's range job on `api`; its id and the miner's token.
fn submit_range(pool: &Pool, api: &Proc) -> (String, String) {
    let admin = std::fs::read_to_string(pool.data("api").join("admin-token")).unwrap();
    let minted = http(
        &api.addr,
        "POST",
        "/v1/tokens",
        admin.trim(),
        Some(&json!({"principal": "miner-1", "roles": ["miner"]})),
    );
    let miner = minted["token"].as_str().expect("token").to_string();
    let input = json!({"value": "500", "blind": "4242", "min": "10", "max": "1000"});
    let job = http(
        &api.addr,
        "POST",
        "/v1/proofs",
        &miner,
        Some(&json!({"circuit": "range", "input": input})),
    );
    (job["job_id"].as_str().expect("job").to_string(), miner)
}

fn job_state(api: &Proc, miner: &str, job: &str, wait: u32) -> Value {
    http(
        &api.addr,
        "GET",
        &format!("/v1/proofs/{job}?wait={wait}"),
        miner,
        None,
    )
}

#[test]
fn an_api_only_node_records_the_pool_keys() {
    let Some(pool) = Pool::new() else { return };
    let _api = pool.api("api", &[]);
    let recorded = pool.db.recorded();
    let names: Vec<&str> = recorded.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(names, ["disclosure", "membership", "range", "receipt"]);
    for (circuit, sha, bytes) in &recorded {
        let dir = pool.data("api").join("circuits").join(circuit);
        let info: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("circuit.json")).unwrap())
                .unwrap();
        assert_eq!(info["verifying_key_sha256"], sha.as_str());
        let on_disk = std::fs::metadata(dir.join("proving_key.bin"))
            .unwrap()
            .len();
        assert_eq!(
            *bytes as u64, on_disk,
            "{circuit}: the proving key is stored"
        );
    }
}

#[test]
fn a_worker_fetches_the_pool_keys_and_proves() {
    let Some(pool) = Pool::new() else { return };
    let api = pool.api("api", &[]);
    let kek = pool.copy_kek("api", "worker-kek.bin");
    let kek = kek.to_str().unwrap();
    let _worker = pool
        .worker("worker", &[("ZKR_DEV_KEK_FILE", kek)])
        .map_err(|(_, log)| log)
        .expect("the worker starts");
    let circuits = pool.data("worker").join("circuits");
    assert_eq!(mode(&circuits), 0o700);
    for (circuit, sha, _) in pool.db.recorded() {
        let dir = circuits.join(&circuit);
        assert_eq!(mode(&dir), 0o700, "{circuit}");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        let api_keys = pool.data("api").join("circuits").join(&circuit);
        for file in [
            "proving_key.bin",
            "verifying_key.bin",
            "verification_key.json",
        ] {
            assert_eq!(
                std::fs::read(dir.join(file)).unwrap(),
                std::fs::read(api_keys.join(file)).unwrap(),
                "{circuit}/{file}"
            );
        }
        let info: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("circuit.json")).unwrap())
                .unwrap();
        assert_eq!(info["verifying_key_sha256"], sha.as_str());
    }
    assert!(
        !pool.data("worker").join("dev-kek.bin").exists(),
        "no KEK of its own"
    );
    let (job, miner) = submit_range(&pool, &api);
    let start = Instant::now();
    let view = loop {
        let view = job_state(&api, &miner, &job, 10);
        if view["state"] != "queued" && view["state"] != "running" {
            break view;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{view}");
    };
    assert_eq!(view["state"], "succeeded", "{view}");
    // The API node verifies the worker's proof with its own keys.
    let verdict = http(
        &api.addr,
        "POST",
        "/v1/verify",
        &miner,
        Some(&json!({"circuit": "range", "proof": view["proof"],
            "public_signals": view["public_signals"]})),
    );
    assert_eq!(verdict["valid"], true, "{verdict}");
}

#[test]
fn a_worker_without_the_pools_kek_refuses_to_start() {
    let Some(pool) = Pool::new() else { return };
    let api = pool.api("api", &[]);
    let (job, miner) = submit_range(&pool, &api);
    // Another development KEK than the API node's.
    let other = pool.dir.path().join("other-kek.bin");
    let mut bytes = b"ZKRKEK01".to_vec();
    bytes.extend((0..32u8).map(|i| i.wrapping_mul(37).wrapping_add(11)));
    std::fs::write(&other, bytes).unwrap();
    set_mode(&other, 0o600);
    let line = refused(pool.worker("w1", &[("ZKR_DEV_KEK_FILE", other.to_str().unwrap())]));
    assert!(line.contains("KEK (file:"), "{line}");
    assert!(line.contains("is not the pool's"), "{line}");
    assert!(line.contains("ZKR_DEV_KEK_FILE"), "{line}");
    // No KEK at all: the worker makes none.
    let line = refused(pool.worker("w2", &[]));
    assert!(line.contains("a worker never makes its own KEK"), "{line}");
    assert!(!pool.data("w2").join("dev-kek.bin").exists());
    // A named file that is not there is not created either.
    let missing = pool.dir.path().join("missing-kek.bin");
    let line = refused(pool.worker("w3", &[("ZKR_DEV_KEK_FILE", missing.to_str().unwrap())]));
    assert!(line.contains("does not exist"), "{line}");
    assert!(!missing.exists());
    // The refused workers claimed nothing: the job still waits.
    assert_eq!(job_state(&api, &miner, &job, 0)["state"], "queued");
}

#[test]
fn a_worker_with_other_circuit_keys_refuses_to_start() {
    let Some(pool) = Pool::new() else { return };
    let _api = pool.api("api", &[]);
    let kek = pool.copy_kek("api", "worker-kek.bin");
    let own = pool.data("worker").join("circuits").join("range");
    let made = zkr()
        .args(["setup", "--circuit", "range", "--out"])
        .arg(&own)
        .output()
        .unwrap();
    assert!(made.status.success());
    let line = refused(pool.worker("worker", &[("ZKR_DEV_KEK_FILE", kek.to_str().unwrap())]));
    let ours: Value =
        serde_json::from_str(&std::fs::read_to_string(own.join("circuit.json")).unwrap()).unwrap();
    let recorded = pool.db.recorded();
    let (_, theirs, _) = recorded.iter().find(|(c, _, _)| c == "range").unwrap();
    assert!(line.contains("the range circuit keys in"), "{line}");
    assert!(
        line.contains(ours["verifying_key_sha256"].as_str().unwrap()),
        "{line}"
    );
    assert!(line.contains(theirs.as_str()), "{line}");
    assert!(line.contains("move"), "{line}");
    // Nothing of the pool changed.
    assert_eq!(pool.db.recorded(), recorded);
}

#[test]
fn a_worker_that_can_prove_nothing_exits() {
    let Some(pool) = Pool::new() else { return };
    // An API node without keys and not allowed to set any up records none.
    let _api = pool.api("api", &[("ZKR_SETUP_MISSING_KEYS", "false")]);
    assert!(pool.db.recorded().is_empty());
    let kek = pool.copy_kek("api", "worker-kek.bin");
    let line = refused(pool.worker("worker", &[("ZKR_DEV_KEK_FILE", kek.to_str().unwrap())]));
    assert!(line.contains("can prove no circuit"), "{line}");
    assert!(line.contains("zkr serve"), "{line}");
}

/// The README's multi-machine sequence, between its marker comments.
fn readme_sequence() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let begin = "<!-- pool-sequence:begin -->";
    let end = "<!-- pool-sequence:end -->";
    let start = readme.find(begin).expect("begin marker") + begin.len();
    let stop = readme.find(end).expect("end marker");
    let block = readme[start..stop].trim();
    let block = block.strip_prefix("```sh").expect("a sh block");
    block.strip_suffix("```").expect("closed").to_string()
}

#[test]
fn the_readme_pool_sequence_runs_as_written() {
    let Some(db) = PgDb::create("zkr_ident") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // `zkr` on the PATH, as after `cargo install`.
    let on_path = dir.path().join("bin");
    std::fs::create_dir(&on_path).unwrap();
    std::os::unix::fs::symlink(bin(), on_path.join("zkr")).unwrap();
    let path = format!(
        "{}:{}",
        on_path.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ZKR_") {
            cmd.env_remove(key);
        }
    }
    // Its own process group, so that the nodes it leaves running stop
    // with it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .arg("-c")
        .arg(readme_sequence())
        .current_dir(dir.path())
        .env("PATH", path)
        .env("ZKR_DATABASE_URL", &db.url)
        .env("ZKR_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let group = child.id().to_string();
    let stop = |sig: &str| {
        let _ = Command::new("kill")
            .args([sig, "--", &format!("-{group}")])
            .status();
    };
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(600) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // The nodes it started may hold its output open: stopped first.
    stop("-TERM");
    std::thread::sleep(Duration::from_millis(1500));
    stop("-KILL");
    let _ = child.wait();
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let logs = ["api-node.log", "worker.log"]
        .map(|f| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default());
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\nstdout: {out}\nstderr: {err}\n{}\n{}",
        logs[0],
        logs[1]
    );
    assert!(out.contains(": succeeded"), "{out}\n{err}");
    // The pool's keys are the API node's, and the worker proved with them.
    let recorded = db.recorded();
    assert_eq!(recorded.len(), 4);
    for (circuit, sha, _) in &recorded {
        for node in ["api-node", "worker"] {
            let json = dir.path().join(node).join("circuits").join(circuit);
            let json = std::fs::read_to_string(json.join("circuit.json")).unwrap();
            let info: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(info["verifying_key_sha256"], sha.as_str(), "{node}");
        }
    }
}
