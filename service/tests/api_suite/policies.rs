//! Stored, versioned policies and their effect on decisions.

use axum::http::{Method, StatusCode};
use serde_json::json;
use zkr_server::Role;

use crate::helpers::api_test;

api_test!(policies_are_versioned_and_retired, |app| {
    let grant = json!({
        "id": "auditor-export",
        "policy": {"effect": "allow", "actions": ["audit_read"], "principals": ["ops-1"],
                   "description": "ops may export the audit log"}
    });
    let r = app.post("/v1/policies", &app.admin, grant.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["version"], 1);
    assert_eq!(
        app.post("/v1/policies", &app.admin, grant).await.status,
        StatusCode::CONFLICT
    );

    // The grant takes effect at once.
    let ops = app.token("ops-1", &[Role::Client]).await;
    let r = app.get("/v1/audit/events", &ops).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // PUT adds version 2 (now time-bound and already expired): access ends.
    let r = app
        .call(
            Method::PUT,
            "/v1/policies/auditor-export",
            Some(&app.admin),
            Some(
                json!({"effect": "allow", "actions": ["audit_read"], "principals": ["ops-1"],
                        "not_before": 1, "not_after": 2}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["version"], 2);
    let r = app.get("/v1/audit/events", &ops).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // History keeps both versions; DELETE adds a retired third.
    let r = app.get("/v1/policies/auditor-export", &app.admin).await;
    assert_eq!(r.json.as_array().map(Vec::len), Some(2));
    let r = app
        .call(
            Method::DELETE,
            "/v1/policies/auditor-export",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["retired"], true);
    assert_eq!(r.json["version"], 3);
    let r = app
        .call(
            Method::DELETE,
            "/v1/policies/auditor-export",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.get("/v1/policies", &app.admin).await;
    assert_eq!(r.json[0]["retired"], true);

    // Every change was audited with the acting admin.
    let r = app
        .get(
            "/v1/audit/events?action=policy_write&format=jsonl",
            &app.admin,
        )
        .await;
    let lines: Vec<_> = r.text.lines().collect();
    // Five decisions: create, the refused duplicate, update, retire, the second retire.
    assert_eq!(lines.len(), 5, "{}", r.text);
    assert!(lines.iter().all(|l| l.contains("\"actor\":\"admin\"")));
});

api_test!(deny_policies_override_and_bad_policies_are_refused, |app| {
    let auditor = app.token("aud-1", &[Role::Auditor]).await;
    assert_eq!(
        app.get("/v1/audit/verify?purpose=audit", &auditor)
            .await
            .status,
        StatusCode::OK
    );
    let r = app
        .post(
            "/v1/policies",
            &app.admin,
            json!({"id": "freeze-aud", "policy":
            {"effect": "deny", "actions": ["audit_verify", "audit_read"], "roles": ["auditor"]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app.get("/v1/audit/verify?purpose=audit", &auditor).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text.contains("policy:freeze-aud@v1"), "{}", r.text);

    for bad in [
        json!({"id": "x", "policy": {"effect": "allow", "actions": []}}),
        json!({"id": "x", "policy": {"effect": "allow", "actions": ["audit_read"], "not_before": 5, "not_after": 5}}),
        json!({"id": "x", "policy": {"effect": "maybe", "actions": ["audit_read"]}}),
        json!({"id": "x", "policy": {"effect": "allow", "actions": ["fly"]}}),
        json!({"id": "x", "policy": {"effect": "allow", "actions": ["audit_read"], "extra": 1}}),
    ] {
        let r = app.post("/v1/policies", &app.admin, bad.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text
        );
    }
    let r = app
        .post(
            "/v1/policies",
            &app.admin,
            json!({"id": "no spaces", "policy": {"effect": "allow", "actions": ["audit_read"]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .call(
            Method::PUT,
            "/v1/policies/none",
            Some(&app.admin),
            Some(json!({"effect": "allow", "actions": ["verify"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
});
