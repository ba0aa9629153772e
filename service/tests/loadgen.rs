//! `zkr loadgen` against a real `zkr serve` on loopback: both modes with
//! `--json`, counts and zero lost jobs; and the refusal of any address that
//! is not loopback.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::zkr_clean as zkr;

/// A `zkr serve` on a free loopback port, SQLite in `dir`, stopped (and
/// checked to stop cleanly) on drop.
struct Served {
    child: Child,
    addr: String,
}

impl Served {
    fn start(dir: &Path) -> Self {
        let mut child = zkr()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            // Small registries: the keys of receipt(4) are made in a second.
            .env("ZKR_REGISTRY_DEPTH", "4")
            .env("ZKR_RATE_IP_PER_SECOND", "0")
            .env("ZKR_RATE_PRINCIPAL_PER_SECOND", "0")
            .env("ZKR_PROOF_BACKEND", "cpu")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 {
            if let Some(a) = line.trim().strip_prefix("listening on http://") {
                let addr = a.to_string();
                // Keep reading stdout so that the service never blocks on it.
                std::thread::spawn(move || {
                    let mut rest = String::new();
                    let _ = stdout.read_to_string(&mut rest);
                });
                return Self { child, addr };
            }
            line.clear();
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("zkr serve did not start");
    }

    fn stop(mut self) {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "zkr serve exited {status:?}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("zkr serve did not stop");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json_of(o: &Output) -> Value {
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "loadgen failed: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn loadgen_runs_both_modes_against_a_served_sqlite_service() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path());
    let url = format!("http://{}", served.addr);
    let token = dir.path().join("admin-token");

    let o = zkr()
        .args([
            "loadgen", "--url", &url, "--mode", "verify", "--count", "24",
        ])
        .args(["--concurrency", "4", "--json", "--baseline", "--token-file"])
        .arg(&token)
        .output()
        .unwrap();
    let r = json_of(&o);
    assert_eq!(r["mode"], "verify");
    assert_eq!(r["circuit"], "range");
    assert_eq!(r["requests"], 24);
    assert_eq!(r["ok"], 24, "{r}");
    assert_eq!(r["errors"], serde_json::json!({}));
    assert!(r["latency_ms"]["p99"].as_f64().unwrap() >= r["latency_ms"]["p50"].as_f64().unwrap());
    assert!(r["baseline"]["per_s"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["api_over_raw"].as_f64().unwrap() > 0.0, "{r}");
    // Four rounds (the default), the raw verifier measured before each
    // and after the last.
    assert_eq!(
        r["rounds_proofs_per_s"].as_array().map(Vec::len),
        Some(4),
        "{r}"
    );
    assert_eq!(
        r["baseline"]["segments"].as_array().map(Vec::len),
        Some(5),
        "{r}"
    );

    let o = zkr()
        .args(["loadgen", "--url", &url, "--mode", "prove", "--count", "4"])
        .args([
            "--concurrency",
            "2",
            "--json",
            "--baseline",
            "--rounds",
            "2",
        ])
        .arg("--keys")
        .arg(dir.path().join("circuits/receipt"))
        .env("ZKR_TOKEN", std::fs::read_to_string(&token).unwrap().trim())
        .output()
        .unwrap();
    let r = json_of(&o);
    assert_eq!(
        (r["mode"].as_str(), r["circuit"].as_str()),
        (Some("prove"), Some("receipt"))
    );
    assert_eq!(r["requests"], 4);
    assert_eq!(r["ok"], 4, "{r}");
    let jobs = &r["jobs"];
    assert_eq!(jobs["accepted"], 4, "{r}");
    assert_eq!(jobs["succeeded"], 4, "{r}");
    for none in [
        "failed",
        "not_ended",
        "ended_twice",
        "end_not_audited",
        "lost",
    ] {
        assert_eq!(jobs[none], 0, "{none}: {r}");
    }
    assert!(r["proofs_per_s"].as_f64().unwrap() > 0.0);
    assert!(r["baseline"]["per_s"].as_f64().unwrap() > 0.0, "{r}");
    assert!(
        r["baseline"]["tried"]
            .as_object()
            .is_some_and(|t| !t.is_empty())
    );
    // Two rounds through the API, each with its rate; the raw prover
    // measured before each round and after the last, its rate the rate
    // over all three measurements.
    let rounds: Vec<f64> = r["rounds_proofs_per_s"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(rounds.len(), 2, "{r}");
    assert!(rounds.iter().all(|x| *x > 0.0), "{r}");
    let b = &r["baseline"];
    let segments: Vec<f64> = b["segments"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(segments.len(), 3, "{r}");
    assert!(b["measured_over"].as_u64().unwrap() >= 3, "{r}");
    let per_s = b["per_s"].as_f64().unwrap();
    let (lo, hi) = segments
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    assert!(lo > 0.0, "{r}");
    assert!(per_s >= lo * 0.999 && per_s <= hi * 1.001, "{r}");

    // Rounds out of bounds are refused before anything runs.
    let o = zkr()
        .args(["loadgen", "--url", &url, "--mode", "prove", "--rounds", "0"])
        .env("ZKR_TOKEN", std::fs::read_to_string(&token).unwrap().trim())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--rounds"));

    // A token that is not an admin's cannot run the load: a clear error.
    let o = zkr()
        .args(["loadgen", "--url", &url, "--count", "1"])
        .env("ZKR_TOKEN", "zkr_not-a-real-token")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("admin token") && err.contains("401"), "{err}");
    assert!(
        !err.contains("zkr_not-a-real-token"),
        "token printed: {err}"
    );

    served.stop();
}

#[test]
fn loadgen_refuses_addresses_that_are_not_loopback() {
    for url in [
        "http://10.0.0.1:8080",
        "http://192.0.2.1:80/",
        "http://0.0.0.0:8080",
        "http://example.com:8080",
        "http://[2001:db8::1]:8080",
        "https://127.0.0.1:8443",
    ] {
        let o = zkr()
            .args(["loadgen", "--url", url, "--count", "1"])
            .env("ZKR_TOKEN", "zkr_unused")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("error: --url"), "{url}: {err}");
        assert!(
            err.contains("loopback") || err.contains("http://"),
            "{url}: {err}"
        );
        assert!(o.stdout.is_empty(), "{url}");
    }
    // Bounds are checked too.
    for args in [
        ["--count", "0"],
        ["--count", "100001"],
        ["--duration", "0"],
        ["--concurrency", "257"],
    ] {
        let o = zkr()
            .args(["loadgen", "--url", "http://127.0.0.1:9"])
            .args(args)
            .env("ZKR_TOKEN", "zkr_unused")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
}
