//! `zkr serve` as an operator meets it: its environment variables, and
//! what it writes to a log file (plain text, one line per request, warnings
//! naming the circuit, a line at shutdown).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::zkr_clean as zkr;

#[test]
fn serve_help_lists_the_environment_variables() {
    let o = zkr().args(["serve", "--help"]).output().unwrap();
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for var in [
        "ZKR_LISTEN",
        "ZKR_DATABASE_URL",
        "ZKR_PROOF_BACKEND",
        "ZKR_RETENTION_DAYS_<ROLE>",
        "ZKR_PKCS11_MODULE",
        "ZKR_LOG",
    ] {
        assert!(help.contains(var), "{var} missing from:\n{help}");
    }
}

#[test]
fn unknown_zkr_variable_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = zkr()
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("ZKR_LISTN", "127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("ZKR_LISTN"), "{err}");
    // Refused before anything was created.
    assert!(!dir.path().join("zkr.db").exists());
}

/// Sends one HTTP/1.1 request and returns the status line.
fn request(addr: &str, path: &str, token: Option<&str>) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    response.lines().next().unwrap_or_default().to_string()
}

fn wait(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn log_is_plain_text_with_a_line_per_request_and_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = zkr()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        // No keys and no single-party setup: starts in a second, and says
        // which circuits cannot be proved.
        .env("ZKR_SETUP_MISSING_KEYS", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut addr = None;
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        if let Some(a) = line.trim().strip_prefix("listening on http://") {
            addr = Some(a.to_string());
            break;
        }
        line.clear();
    }
    let Some(addr) = addr else {
        let _ = child.kill();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        panic!("zkr serve did not start: {err}");
    };

    assert!(request(&addr, "/healthz", None).contains(" 200 "));
    let bogus = "zkr_bogus-token-never-logged";
    assert!(request(&addr, "/v1/confidential/keys", Some(bogus)).contains(" 401 "));

    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = wait(&mut child, Duration::from_secs(60));
    if status.is_none() {
        let _ = child.kill();
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.is_some_and(|s| s.success()), "{status:?}: {err}");

    assert!(!err.contains('\u{1b}'), "colour codes in a pipe: {err:?}");
    for circuit in ["range", "membership", "receipt", "disclosure"] {
        assert!(
            err.lines()
                .any(|l| l.contains("WARN") && l.contains(&format!("circuit=\"{circuit}\""))),
            "no warning naming {circuit}: {err}"
        );
    }
    let access: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("zkr::server::access"))
        .collect();
    assert_eq!(access.len(), 2, "{err}");
    assert!(access[0].contains("method=GET") && access[0].contains("route=/healthz"));
    assert!(access[0].contains("status=200"), "{}", access[0]);
    assert!(access[1].contains("route=/v1/confidential/keys") && access[1].contains("status=401"));
    assert!(!err.contains(bogus), "token logged: {err}");
    assert!(err.contains("audit log flushed"), "no shutdown line: {err}");
}

#[test]
fn a_taken_port_is_named_before_anything_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = zkr()
        .args(["serve", "--listen", &addr, "--data-dir"])
        .arg(&data)
        .env("ZKR_SETUP_MISSING_KEYS", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait(&mut child, Duration::from_secs(60));
    if status.is_none() {
        let _ = child.kill();
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = status.expect("zkr serve exits when its port is taken");
    assert!(!status.success(), "{err}");
    assert!(err.contains(&addr), "the address is not named: {err}");
    assert!(err.contains("in use"), "{err}");
    // Nothing of a first start was done: no data directory, no key, no token.
    assert!(!data.exists(), "created {}", data.display());
    drop(taken);
}
