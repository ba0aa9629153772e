//! Health, readiness, OpenAPI, metrics and bad input.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::helpers::{Backend, TestApp, api_test, test_config};

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
    assert!(text.contains(r#"zkr_proof_jobs{circuit="range",state="queued"} 0"#));
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
                zkr_server::timeout,
            ));
        let original = std::mem::replace(&mut app.router, slow);
        let r = app.call(Method::GET, "/slow", None, None).await;
        assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(r.code(), "timeout");
        app.router = original;
    }
);

// Made-up methods and paths must not add metric series: labels are the
// route template (or `unmatched`) and a fixed set of methods.
api_test!(metrics_labels_stay_bounded, |app| {
    for path in ["/healthz", "/nothing", "/v1/policies"] {
        let _ = app.call(Method::GET, path, None, None).await;
    }
    let before = app.call(Method::GET, "/metrics", None, None).await.text;
    for i in 0..300 {
        let method = Method::from_bytes(format!("MADEUP{i}").as_bytes()).expect("method");
        for path in [
            format!("/made-up/{i}"),
            format!("/v1/made-up-{i}"),
            "/healthz".to_string(),
        ] {
            let r = app.call(method.clone(), &path, None, None).await;
            assert!(r.status.is_client_error(), "{path}: {}", r.status);
        }
    }
    let after = app.call(Method::GET, "/metrics", None, None).await.text;
    assert!(!after.contains("MADEUP"), "raw methods became labels");
    assert!(!after.contains("made-up"), "raw paths became labels");
    assert!(
        after.contains(
            r#"zkr_http_requests_total{method="other",route="unmatched",status="404"} 600"#
        ),
        "{after}"
    );
    assert!(
        after.contains(
            r#"zkr_http_requests_total{method="other",route="/healthz",status="405"} 300"#
        ),
        "{after}"
    );
    // 900 odd requests add a handful of series, not hundreds.
    assert!(
        after.len() < before.len() + 8 * 1024,
        "metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
});

api_test!(readiness_needs_a_writable_audit_table, |app| {
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let before: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("count");
    // Probing leaves nothing in the log.
    for _ in 0..3 {
        let r = app.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let after: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("count");
    assert_eq!(before, after);

    sqlx::query("ALTER TABLE audit_events RENAME TO audit_events_away")
        .execute(&app.state.db.pool)
        .await
        .expect("rename");
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.json["reason"], "audit_not_writable", "{}", r.text);
    assert_eq!(r.code(), "unavailable");
    // Every audited call fails meanwhile: that is what "not ready" reports.
    let r = app.get("/v1/policies", &app.admin).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    sqlx::query("ALTER TABLE audit_events_away RENAME TO audit_events")
        .execute(&app.state.db.pool)
        .await
        .expect("rename back");
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
});

api_test!(readiness_fails_while_the_audit_table_is_locked, |app| {
    let mut conn = app.state.db.pool.acquire().await.expect("connection");
    let lock = match app.state.db.backend {
        zkr_store::Backend::Sqlite => "BEGIN EXCLUSIVE",
        zkr_store::Backend::Postgres => {
            sqlx::query("BEGIN")
                .execute(&mut *conn)
                .await
                .expect("begin");
            "LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE"
        }
    };
    sqlx::query(lock).execute(&mut *conn).await.expect("lock");
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(r.json["reason"].is_string(), "{}", r.text);
    sqlx::query("ROLLBACK")
        .execute(&mut *conn)
        .await
        .expect("unlock");
    drop(conn);
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
});

/// SQLite: a read-only or deleted database file is not ready, although the
/// pool's open connections would still answer a `SELECT 1`.
#[tokio::test]
async fn readiness_fails_when_the_sqlite_file_is_read_only_or_gone() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn(Backend::Sqlite, test_config())
        .await
        .expect("sqlite");
    let path = app
        .database_url
        .strip_prefix("sqlite://")
        .and_then(|p| p.split('?').next())
        .map(std::path::PathBuf::from)
        .expect("sqlite path");
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("chmod");
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.json["reason"], "database_read_only", "{}", r.text);
    assert_eq!(r.code(), "unavailable");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    std::fs::remove_file(&path).expect("delete");
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.json["reason"], "database_missing", "{}", r.text);
    app.teardown().await;
}
