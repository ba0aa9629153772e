//! One log line per request: method, route template, status, time and
//! principal, never a token, a raw path or a body.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::{Method, StatusCode};
use serde_json::json;
use zkr_server::Role;

use crate::helpers::api_test;

/// Log lines written by the threads of this file's tests (libtest names a
/// test's thread after the test; the test's runtime runs on it).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

fn is_ours() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with("access_log::"))
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if is_ours() {
            self.0.lock().expect("log buffer").extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The process-wide subscriber: tracing caches per call site whether
/// anyone listens, which a subscriber set for one thread only does not
/// reliably update while other tests run.
fn captured() -> &'static Captured {
    static LOG: OnceLock<Captured> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .with_thread_names(true)
            .with_env_filter("zkr::server::access=info")
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        log
    })
}

impl Captured {
    /// The access lines of the calling test.
    fn access_lines(&self) -> Vec<String> {
        let bytes = self.0.lock().expect("log buffer").clone();
        let me = std::thread::current()
            .name()
            .unwrap_or_default()
            .to_string();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| l.contains("zkr::server::access") && l.contains(&format!(" {me} ")))
            .map(str::to_string)
            .collect()
    }
}

api_test!(one_line_per_request_without_secrets, |app| {
    let log = captured();

    let miner = app.token("miner-7", &[Role::Miner]).await;
    let r = app
        .post(
            "/v1/registries/miners/members",
            &app.admin,
            json!({"member": "31337"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = app.get("/v1/registries/miners/path/31337", &miner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let bogus = "zkr_not-a-real-token-0123456789";
    let r = app.get("/v1/registries/miners", bogus).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);

    let lines = log.access_lines();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let expect = [
        ("POST", "/v1/registries/{name}/members", 201, "admin"),
        ("GET", "/v1/registries/{name}/path/{member}", 200, "miner-7"),
        ("GET", "/v1/registries/{name}", 401, "-"),
        ("GET", "/healthz", 200, "-"),
    ];
    for (line, (method, route, status, principal)) in lines.iter().zip(expect) {
        for part in [
            format!("method={method}"),
            format!("route={route}"),
            format!("status={status}"),
            format!("principal={principal}"),
            "ms=".to_string(),
        ] {
            assert!(line.contains(&part), "{part} not in {line}");
        }
    }
    let all = lines.join("\n");
    for secret in [app.admin.as_str(), miner.as_str(), bogus, "31337"] {
        assert!(!all.contains(secret), "{secret} logged: {all}");
    }
});
