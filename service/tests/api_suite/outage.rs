//! The database failing under a running service: a PostgreSQL outage is
//! answered 503 with `Retry-After`, never 500.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::helpers::{Backend, TestApp, postgres_addr, skip, test_config};

/// A TCP relay in front of PostgreSQL that a test can cut: its port
/// closes and every relayed connection drops, as in an outage.
struct Proxy {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    relays: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let relays = Arc::new(Mutex::new(Vec::new()));
        let kept = relays.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                kept.lock().expect("relays").push(relay);
            }
        });
        Self {
            addr,
            accept,
            relays,
        }
    }

    fn cut(&self) {
        self.accept.abort();
        for relay in self.relays.lock().expect("relays").drain(..) {
            relay.abort();
        }
    }
}

#[tokio::test]
async fn a_postgres_outage_is_answered_503_with_retry_after() {
    let Some(upstream) = postgres_addr() else {
        if std::env::var("ZKR_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("ZKR_REQUIRE_POSTGRES=1 but ZKR_TEST_DATABASE_URL is not set");
        }
        skip("ZKR_TEST_DATABASE_URL is not set");
        return;
    };
    let proxy = Proxy::start(upstream).await;
    let app = TestApp::spawn_via(Backend::Postgres, test_config(), Some(proxy.addr))
        .await
        .expect("postgres");
    let r = app.get("/v1/tokens", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    proxy.cut();
    let mut asked = tokio::task::JoinSet::new();
    for path in [
        "/v1/tokens",
        "/v1/policies",
        "/v1/audit/events",
        "/v1/registries/miners",
        "/v1/workers",
        "/v1/circuits",
    ] {
        let request = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
            .body(Body::empty())
            .expect("request");
        let router = app.router.clone();
        asked.spawn(async move { (path, router.oneshot(request).await) });
    }
    while let Some(answer) = asked.join_next().await {
        let (path, response) = answer.expect("task");
        let response = response.expect("infallible");
        assert_ne!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path} answered 500 during the outage"
        );
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert!(
                response.headers().contains_key(header::RETRY_AFTER),
                "{path}: 503 without Retry-After"
            );
        }
    }
    // Authentication needs the database too (a token not seen before).
    let r = app.get("/v1/tokens", "zkr_not-a-token-anyone-has").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    app.teardown().await;
}

/// Makes files immutable (`chattr +i`) until dropped: a write to them
/// fails as on a full disk. Needs root; `None` when not permitted.
struct Immutable(Vec<std::path::PathBuf>);

impl Immutable {
    fn set(files: &[std::path::PathBuf]) -> Option<Self> {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .args(files)
            .status()
            .is_ok_and(|s| s.success());
        let guard = Self(files.to_vec());
        ok.then_some(guard)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .args(&self.0)
            .status();
    }
}

#[tokio::test]
async fn readiness_fails_while_sqlite_cannot_commit() {
    let app = TestApp::spawn(Backend::Sqlite, test_config())
        .await
        .expect("sqlite");
    let ready = || app.call(axum::http::Method::GET, "/readyz", None, None);
    let r = ready().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let file = app
        .database_url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .expect("path")
        .to_string();
    let files = [file.clone().into(), format!("{file}-wal").into()];
    let Some(guard) = Immutable::set(&files) else {
        skip("chattr +i is not permitted");
        app.teardown().await;
        return;
    };
    // The answer of the last write stands for a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = ready().await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.json["reason"], "database_not_writable", "{}", r.text);
    drop(guard);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = ready().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    app.teardown().await;
}
