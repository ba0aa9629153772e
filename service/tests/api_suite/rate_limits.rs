//! Token buckets per IP (before authentication) and per principal.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};

use crate::helpers::{TestApp, api_test, test_config};
use zkr::server::config::RateLimitConfig;

fn from_ip(app: &TestApp, ip: [u8; 4], token: &str) -> Request<Body> {
    let _ = app;
    let mut req = Request::builder()
        .method(Method::GET)
        .uri("/v1/policies")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    req
}

api_test!(
    per_principal_buckets,
    config = {
        let mut c = test_config();
        c.rate_limit = RateLimitConfig {
            ip_per_second: 0,
            ip_burst: 0,
            principal_per_second: 1,
            principal_burst: 3,
        };
        c
    },
    |app| {
        for _ in 0..3 {
            assert_eq!(
                app.get("/v1/policies", &app.admin).await.status,
                StatusCode::OK
            );
        }
        let r = app.get("/v1/policies", &app.admin).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.code(), "rate_limited");
        let retry: u64 = r.headers[header::RETRY_AFTER]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!((1..=2).contains(&retry), "{retry}");
        // Another principal has its own bucket.
        let other = app
            .token("admin-2", &[zkr::server::auth::Role::Admin])
            .await;
        assert_eq!(app.get("/v1/policies", &other).await.status, StatusCode::OK);
        // Public endpoints are not limited.
        assert_eq!(
            app.call(Method::GET, "/healthz", None, None).await.status,
            StatusCode::OK
        );
    }
);

api_test!(
    per_ip_buckets_apply_before_authentication,
    config = {
        let mut c = test_config();
        c.rate_limit = RateLimitConfig {
            ip_per_second: 1,
            ip_burst: 2,
            principal_per_second: 0,
            principal_burst: 0,
        };
        c
    },
    |app| {
        // Bad tokens still drain the IP's bucket: guessing is throttled.
        for _ in 0..2 {
            let r = app.send(from_ip(&app, [10, 0, 0, 1], "zkr_bad")).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
        let r = app.send(from_ip(&app, [10, 0, 0, 1], &app.admin)).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers.contains_key(header::RETRY_AFTER));
        let r = app.send(from_ip(&app, [10, 0, 0, 2], &app.admin)).await;
        assert_eq!(r.status, StatusCode::OK);
    }
);
