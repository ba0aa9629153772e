//! Health, readiness, OpenAPI, metrics and bad input.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::helpers::{api_test, test_config};

api_test!(health_and_readiness, |app| {
    let r = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["status"], "ok");
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
});

api_test!(readiness_fails_when_the_database_is_gone, |app| {
    app.state.db.pool.close().await;
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.code(), "unavailable");
    assert!(
        !r.text.contains("closed"),
        "no internals in the body: {}",
        r.text
    );
});

api_test!(openapi_lists_every_endpoint, |app| {
    let r = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let paths = r.json["paths"].as_object().expect("paths");
    for p in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/v1/tokens",
        "/v1/policies",
        "/v1/policies/{id}",
        "/v1/audit/events",
        "/v1/audit/verify",
        "/v1/audit/checkpoints",
        "/v1/registries/{name}",
        "/v1/verify",
        "/v1/confidential/keys",
        "/v1/confidential/transactions",
        "/v1/confidential/access",
        "/v1/confidential/audit",
        "/v1/confidential/transactions/{id}",
        "/v1/confidential/keys/{id}",
        "/v1/confidential/keys/{id}/rotate",
        "/v1/verify/batch",
        "/v1/registries/{name}/members",
        "/v1/registries/{name}/path/{member}",
        "/v1/proofs",
        "/v1/proofs/{id}",
        "/v1/disclosures",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    assert!(r.json["components"]["securitySchemes"]["bearer"].is_object());
});

api_test!(unknown_route_and_method_are_json_errors, |app| {
    let r = app
        .call(Method::GET, "/v1/nothing-here", Some(&app.admin), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not_found");
    let r = app.call(Method::PATCH, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.code(), "method_not_allowed");
});

api_test!(json_rejections_have_json_bodies, |app| {
    // Syntax error: 400.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/tokens")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"principal\": "))
        .expect("request");
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.code(), "bad_request");

    // Not declared as JSON: 415.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/tokens")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
        .body(Body::from("{}"))
        .expect("request");
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.code(), "unsupported_media_type");

    // Unknown field: 422.
    let r = app
        .post(
            "/v1/tokens",
            &app.admin,
            json!({"principal": "m", "roles": ["miner"], "is_admin": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.code(), "unprocessable");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("is_admin")
    );

    // Wrong type: 422.
    let r = app
        .post(
            "/v1/tokens",
            &app.admin,
            json!({"principal": 7, "roles": []}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Bad query parameter: 400.
    let r = app.get("/v1/audit/events?format=xml", &app.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "bad_request");
});

api_test!(
    body_limit,
    config = {
        let mut c = test_config();
        c.http.body_limit_bytes = 256;
        c
    },
    |app| {
        let r = app
            .post(
                "/v1/tokens",
                &app.admin,
                json!({"principal": "x".repeat(1000), "roles": ["miner"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
        assert_eq!(r.code(), "payload_too_large");
    }
);

api_test!(metrics_count_requests_by_route_and_status, |app| {
    let _ = app.call(Method::GET, "/healthz", None, None).await;
    let _ = app.call(Method::GET, "/v1/policies", None, None).await;
    let _ = app.get("/v1/policies", &app.admin).await;
    let r = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let text = &r.text;
    assert!(
        text.contains(r#"zkr_http_requests_total{method="GET",route="/healthz",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"zkr_http_requests_total{method="GET",route="/v1/policies",status="401"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"zkr_http_errors_total{code="unauthorized",route="/v1/policies"} 1"#),
        "{text}"
    );
    assert!(text.contains("zkr_http_request_duration_seconds_bucket"));
    assert!(
        text.contains(r#"zkr_audit_appends_total{result="ok"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"zkr_proof_jobs{backend="auto",state="queued"} 0"#));
    assert!(text.contains("zkr_proof_queue_depth 0"));
});

api_test!(
    slow_requests_time_out_with_a_json_408,
    config = {
        let mut c = test_config();
        c.http.request_timeout_secs = 1;
        c
    },
    |app| {
        // The service's own timeout layer around a handler slower than the limit.
        let slow = axum::Router::new()
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                app.state.clone(),
                zkr::server::http::timeout,
            ));
        let original = std::mem::replace(&mut app.router, slow);
        let r = app.call(Method::GET, "/slow", None, None).await;
        assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(r.code(), "timeout");
        app.router = original;
    }
);
