//! `zkr serve` after its audit log was cut: it refuses to start, names the
//! kept checkpoint and the entry, and appends nothing; `zkr audit verify`
//! with the data directory reports the cut.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::zkr_clean as zkr;

/// Starts `zkr serve` on `dir` (no circuit keys, no workers): the child and
/// its address, or its stderr when it exited.
fn serve(dir: &Path) -> Result<(Child, String), String> {
    let mut child = zkr()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "0",
            "--data-dir",
        ])
        .arg(dir)
        .env("ZKR_SETUP_MISSING_KEYS", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        if let Some(a) = line.trim().strip_prefix("listening on http://") {
            return Ok((child, a.to_string()));
        }
        line.clear();
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    Err(format!("{status}: {err}"))
}

fn stop(mut child: Child) {
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("zkr serve did not stop");
}

/// The status line and body of `GET path`.
fn get(addr: &str, path: &str, token: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    response
}

/// Runs SQL on the SQLite database in `dir`.
fn sql(dir: &Path, statements: &str) {
    let url = format!("sqlite://{}", dir.join("zkr.db").display());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(statements.to_string()))
                .execute(&mut conn)
                .await
                .unwrap();
        });
}

fn head(dir: &Path) -> i64 {
    let url = format!("sqlite://{}", dir.join("zkr.db").display());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_scalar::<_, i64>("SELECT MAX(seq) FROM audit_events")
                .fetch_one(&mut conn)
                .await
                .unwrap()
        })
}

#[test]
fn serve_refuses_to_start_on_a_cut_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) = serve(dir.path()).unwrap();
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let token = token.trim();
    for _ in 0..12 {
        assert!(get(&addr, "/v1/policies", token).starts_with("HTTP/1.1 200"));
    }
    let list = get(&addr, "/v1/audit/checkpoints", token);
    let key = list
        .split("\"public_key\":\"")
        .nth(1)
        .and_then(|r| r.get(..64))
        .unwrap()
        .to_string();
    stop(child);
    let end = head(dir.path());
    assert!(end > 12, "{end}");

    sql(
        dir.path(),
        "DROP TRIGGER audit_events_no_delete; DROP TRIGGER audit_checkpoints_no_delete; \
         DELETE FROM audit_events WHERE seq > 5; DELETE FROM audit_checkpoints WHERE seq > 5;",
    );

    let Err(err) = serve(dir.path()) else {
        panic!("zkr serve started on a cut audit log");
    };
    assert!(err.contains("exit status: 1"), "{err}");
    assert!(
        err.contains("audit log cut") && err.contains("ends at entry 5"),
        "{err}"
    );
    assert!(err.contains(&format!("signed for entry {end}")), "{err}");
    assert_eq!(head(dir.path()), 5, "nothing was appended behind the cut");

    let url = format!("sqlite://{}", dir.path().join("zkr.db").display());
    let o = zkr()
        .args(["audit", "verify", "--database", &url, "--public-key", &key])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("BROKEN: audit entry {end} (truncated")),
        "{stderr}"
    );
}
