//! Token buckets per IP (before authentication) and per principal.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};

use crate::helpers::{TestApp, api_test, test_config};
use zkr_server::RateLimitConfig;

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
        let other = app.token("admin-2", &[zkr_server::Role::Admin]).await;
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

fn public_from_ip(method: Method, path: &str, ip: [u8; 4]) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    req
}

api_test!(
    unauthenticated_routes_and_the_fallback_are_limited_per_ip,
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
        for (i, path) in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/no-such-route",
        ]
        .into_iter()
        .enumerate()
        {
            let ip = [10, 0, 1, u8::try_from(i).expect("small")];
            for _ in 0..2 {
                let r = app.send(public_from_ip(Method::GET, path, ip)).await;
                assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
            }
            let r = app.send(public_from_ip(Method::GET, path, ip)).await;
            assert_eq!(
                r.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{path}: {}",
                r.text
            );
            assert_eq!(r.code(), "rate_limited");
            assert!(r.headers.contains_key(header::RETRY_AFTER));
        }
        // Made-up methods on a known route drain the same bucket.
        let ip = [10, 0, 2, 1];
        let odd = Method::from_bytes(b"BREW").expect("method");
        for _ in 0..2 {
            let r = app.send(public_from_ip(odd.clone(), "/healthz", ip)).await;
            assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        }
        let r = app.send(public_from_ip(odd, "/healthz", ip)).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    }
);

fn batch(n: usize) -> serde_json::Value {
    let item = serde_json::json!({"circuit": "range", "proof": {}, "public_signals": []});
    serde_json::json!({"items": vec![item; n]})
}

api_test!(
    a_batch_takes_one_token_per_item,
    config = {
        let mut c = test_config();
        c.rate_limit = RateLimitConfig {
            ip_per_second: 0,
            ip_burst: 0,
            principal_per_second: 1,
            principal_burst: 10,
        };
        c
    },
    |app| {
        let verifier = app.token("market", &[zkr_server::Role::Client]).await;
        let r = app.post("/v1/verify/batch", &verifier, batch(8)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // Two tokens are left: an 8-item batch does not fit.
        let r = app.post("/v1/verify/batch", &verifier, batch(8)).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
        assert_eq!(r.code(), "rate_limited");
        assert!(r.headers.contains_key(header::RETRY_AFTER));
        // The refused batch cost one token, like any request; one item still fits.
        let r = app.post("/v1/verify/batch", &verifier, batch(1)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // A batch of the whole burst is charged in full: nothing is left.
        let other = app.token("market-2", &[zkr_server::Role::Client]).await;
        let r = app.post("/v1/verify/batch", &other, batch(10)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = app.get("/v1/policies", &other).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
        // A batch larger than the burst could never pass: refused, naming
        // the largest batch the limit allows.
        let third = app.token("market-3", &[zkr_server::Role::Client]).await;
        let r = app.post("/v1/verify/batch", &third, batch(11)).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
        assert_eq!(r.code(), "batch_too_large");
        assert!(
            r.json["error"]["message"]
                .as_str()
                .expect("message")
                .contains("at most 10"),
            "{}",
            r.text
        );
    }
);

api_test!(
    a_client_honouring_retry_after_gets_its_batch_through,
    config = {
        let mut c = test_config();
        c.rate_limit = RateLimitConfig {
            ip_per_second: 0,
            ip_burst: 0,
            principal_per_second: 1,
            principal_burst: 4,
        };
        c
    },
    |app| {
        let verifier = app.token("market", &[zkr_server::Role::Client]).await;
        let r = app.post("/v1/verify/batch", &verifier, batch(4)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // The bucket is empty; waiting as told must be enough, each try
        // paying its own token.
        let mut tries = Vec::new();
        loop {
            let r = app.post("/v1/verify/batch", &verifier, batch(4)).await;
            if r.status == StatusCode::OK {
                break;
            }
            assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
            let secs: u64 = r.headers[header::RETRY_AFTER]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("seconds");
            tries.push(secs);
            assert!(
                tries.len() <= 3,
                "still refused after waiting as told: {tries:?}"
            );
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
        }
    }
);

api_test!(
    one_principal_cannot_fill_the_proof_queue,
    config = {
        let mut c = test_config();
        c.proofs.workers = 0.into();
        c.proofs.queue = 8;
        c.proofs.per_principal_queue = Some(3);
        c
    },
    |app| {
        let input = serde_json::json!({"value": "50", "blind": "7", "min": "10", "max": "100"});
        let body = serde_json::json!({"circuit": "range", "input": input});
        let greedy = app
            .token("client-greedy", &[zkr_server::Role::Client])
            .await;
        let mut jobs = Vec::new();
        for _ in 0..3 {
            let r = app.post("/v1/proofs", &greedy, body.clone()).await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
            jobs.push(r.json["job_id"].as_str().expect("job").to_string());
        }
        let r = app.post("/v1/proofs", &greedy, body.clone()).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
        assert_eq!(r.code(), "rate_limited");
        assert!(r.headers.contains_key(header::RETRY_AFTER));
        // No job was stored for the refused request.
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM proof_jobs WHERE owner = $1")
            .bind("client-greedy")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("count");
        assert_eq!(n, 3);
        // Another principal still gets in.
        let modest = app
            .token("client-modest", &[zkr_server::Role::Client])
            .await;
        let r = app.post("/v1/proofs", &modest, body.clone()).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    }
);
