//! A service instance per test, each with its own database: a temporary
//! SQLite file, or a freshly created PostgreSQL database when
//! `ZKR_TEST_DATABASE_URL` is set.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::Connection;
use tower::ServiceExt;
use zkr_server::{AppState, router};
use zkr_server::{Config, RateLimitConfig};
use zkr_server::{Role, tokens};
use zkr_store::Db;

/// The two storage backends every test runs against.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A response, with the body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub admin: String,
    pub database_url: String,
    writer: Option<zkr_server::audit_log::AuditWriter>,
    provers: Option<zkr_server::provers::Pool>,
    postgres: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

/// Configuration for tests: no rate limits and business hours all day, so
/// that results do not depend on when the suite runs; tests of those
/// features set them explicitly.
pub fn test_config() -> Config {
    let mut config = Config {
        rate_limit: RateLimitConfig {
            ip_per_second: 0,
            ip_burst: 0,
            principal_per_second: 0,
            principal_burst: 0,
        },
        ..Config::default()
    };
    config.access.business_hours_start = 0;
    config.access.business_hours_end = 24;
    config.access.weekends = true;
    // One worker, not measured at start: tests that need more say so.
    config.proofs.workers = 1.into();
    config
}

/// Tells that the running test did not run, and why, in a line that
/// `cargo test` shows: libtest captures `eprintln!` of a passing test, but
/// not writes to the stderr handle itself. libtest names each test's
/// thread after the test.
pub fn skip(reason: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {reason}");
}

fn postgres_admin_url() -> Option<String> {
    std::env::var("ZKR_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// `postgres://user@host:port` with `addr` as its host and port.
fn with_host(prefix: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = prefix.split_once("://").expect("URL with a scheme");
    match rest.rsplit_once('@') {
        Some((user, _)) => format!("{scheme}://{user}@{addr}"),
        None => format!("{scheme}://{addr}"),
    }
}

/// Where `ZKR_TEST_DATABASE_URL`'s PostgreSQL listens, when it is set.
pub fn postgres_addr() -> Option<String> {
    let url = postgres_admin_url()?;
    let (_, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    Some(if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    })
}

impl TestApp {
    /// A service on `backend`, or `None` (after a visible skip message) when
    /// PostgreSQL is asked for but not configured.
    pub async fn spawn(backend: Backend, config: Config) -> Option<Self> {
        Self::spawn_via(backend, config, None).await
    }

    /// [`spawn`](Self::spawn), with the service reaching PostgreSQL at
    /// `via` (a proxy a test can cut) instead of the configured address.
    pub async fn spawn_via(
        backend: Backend,
        config: Config,
        via: Option<std::net::SocketAddr>,
    ) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (database_url, postgres) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}?mode=rwc", dir.path().join("zkr.db").display()),
                None,
            ),
            Backend::Postgres => {
                let Some(admin_url) = postgres_admin_url() else {
                    if std::env::var("ZKR_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                        panic!("ZKR_REQUIRE_POSTGRES=1 but ZKR_TEST_DATABASE_URL is not set");
                    }
                    skip("ZKR_TEST_DATABASE_URL is not set");
                    return None;
                };
                let name = format!("zkr_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connect to ZKR_TEST_DATABASE_URL");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                let base = admin_url.split('?').next().unwrap_or(&admin_url);
                let (prefix, _) = base.rsplit_once('/').expect("database URL with a path");
                let prefix = match via {
                    Some(addr) => with_host(prefix, addr),
                    None => prefix.to_string(),
                };
                (format!("{prefix}/{name}"), Some((admin_url, name)))
            }
        };
        let db = Db::connect_and_migrate(&database_url)
            .await
            .expect("migrate");
        let (mut state, writer) = AppState::with_db(config, db).expect("state");
        let kek = zkr_keys::FileKek::create(&dir.path().join("dev-kek.bin")).expect("kek");
        state
            .attach_keys(std::sync::Arc::new(kek))
            .await
            .expect("key store");
        let admin = tokens::mint(&state.db, "admin", &[Role::Admin], None)
            .await
            .expect("admin token")
            .secret
            .to_string();
        let provers = Some(state.start_provers().await.expect("workers"));
        let router = router(state.clone());
        Some(Self {
            state,
            router,
            admin,
            database_url,
            writer: Some(writer),
            provers,
            postgres,
            _dir: dir,
        })
    }

    /// Stops this instance's workers (handing their jobs back), as a
    /// stopping service does.
    pub async fn stop_workers(&mut self) {
        if let Some(p) = self.provers.take() {
            p.stop().await;
        }
    }

    /// Starts `n` workers on this instance's state, as a restarted service does.
    pub async fn start_workers(&mut self, n: usize) {
        self.stop_workers().await;
        let mut state = self.state.clone();
        let mut config = (*state.config).clone();
        config.proofs.workers = n.into();
        state.config = std::sync::Arc::new(config);
        self.provers = Some(state.start_provers().await.expect("workers"));
    }

    /// Rebuilds the router after a test changed the state (e.g. its clock).
    pub fn rebuild(&mut self) {
        self.router = router(self.state.clone());
    }

    /// Mints a token for `principal` with `roles`.
    pub async fn token(&self, principal: &str, roles: &[Role]) -> String {
        tokens::mint(&self.state.db, principal, roles, None)
            .await
            .expect("mint")
            .secret
            .to_string()
    }

    /// Creates service-held keys through the API: `(key_id, kind)` with
    /// kind `participant` (custodial), `escrow` or `signing`.
    pub async fn create_keys(&self, keys: &[(&str, &str)]) {
        for (id, kind) in keys {
            let r = self
                .post(
                    "/v1/confidential/keys",
                    &self.admin,
                    serde_json::json!({"key_id": id, "kind": kind}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        }
    }

    /// Sends a request through the real router.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(req).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    /// A request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).expect("request")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Stops the audit writer, closes the pool and drops a PostgreSQL
    /// test database.
    pub async fn teardown(mut self) {
        if let Some(p) = self.provers.take() {
            p.stop().await;
        }
        self.state.audit.close().await;
        if let Some(w) = self.writer.take() {
            w.join().await;
        }
        self.state.db.pool.close().await;
        if let Some((admin_url, name)) = self.postgres.take()
            && let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await
        {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

/// Defines a test that runs once against SQLite and once against
/// PostgreSQL: `api_test!(name, |app| { ... })`, optionally with
/// `config = expr` to change the test configuration.
macro_rules! api_test {
    ($name:ident, |$app:ident| $body:block) => {
        api_test!($name, config = $crate::helpers::test_config(), |$app| $body);
    };
    ($name:ident, config = $config:expr, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_mut)]
            async fn case(mut $app: $crate::helpers::TestApp) -> $crate::helpers::TestApp {
                $body
                $app
            }

            #[tokio::test]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite, $config)
                    .await
                    .expect("sqlite is always available");
                case(app).await.teardown().await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(app) =
                    $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres, $config).await
                {
                    case(app).await.teardown().await;
                }
            }
        }
    };
}
pub(crate) use api_test;
