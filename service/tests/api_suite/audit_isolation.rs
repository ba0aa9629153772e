//! One bad request must not take the audit log down: control characters are
//! refused at the edge (body, query, path) with 422, a failing audit event
//! fails only its own request, and a proof job exists only if its `queued`
//! event was appended.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;
use zkr_server::Role;
use zkr_server::audit_log::NewEvent;
use zkr_store::Backend;

use crate::helpers::{TestApp, api_test, test_config};

fn request(method: Method, path: &str, token: &str, body: Option<Value>) -> Request<Body> {
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    match body {
        Some(v) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("request")
}

/// Makes the database itself refuse audit rows matching `condition` (SQL
/// over `NEW`), as a stand-in for any row one backend cannot store.
pub(crate) async fn refuse_audit_rows(app: &TestApp, condition: &str) {
    let sql = match app.state.db.backend {
        Backend::Sqlite => format!(
            "CREATE TRIGGER refuse_some BEFORE INSERT ON audit_events WHEN {condition} \
             BEGIN SELECT RAISE(ABORT, 'refused'); END;"
        ),
        Backend::Postgres => format!(
            "CREATE FUNCTION refuse_some() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF {condition} THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END; $$; \
             CREATE TRIGGER refuse_some BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION refuse_some();"
        ),
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&app.state.db.pool)
        .await
        .expect("install trigger");
}

fn event(actor: &str, detail: &str) -> NewEvent {
    NewEvent {
        actor: actor.into(),
        roles: "client".into(),
        action: "test".into(),
        resource: "r".into(),
        purpose: "-".into(),
        outcome: "allow".into(),
        detail: detail.into(),
    }
}

api_test!(nul_and_control_characters_are_refused_at_the_edge, |app| {
    let miner = app.token("miner-1", &[Role::Miner]).await;
    // The reproductions of the report: a NUL in a body string, in a query
    // parameter, in a path parameter.
    let r = app
        .post(
            "/v1/verify",
            &miner,
            json!({"circuit": "range\u{0}", "proof": {}, "public_signals": []}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.code(), "unprocessable");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("body.circuit") && m.contains("control characters"))
    );
    let r = app.get("/v1/audit/events?actor=%00", &app.admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.contains("query parameter actor"), "{}", r.text);
    let r = app.get("/v1/registries/mi%00ners", &app.admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.contains("path parameter"), "{}", r.text);
    // Other control characters, nested strings, object keys.
    for body in [
        json!({"circuit": "range\u{1b}[2J", "proof": {}, "public_signals": []}),
        json!({"circuit": "range", "proof": {"pi_a": ["1\u{7f}"]}, "public_signals": []}),
        json!({"circuit": "range", "proof": {}, "public_signals": ["1\n"]}),
        json!({"circuit": "range", "proof": {"a\u{0}": 1}, "public_signals": []}),
    ] {
        let r = app.post("/v1/verify", &miner, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    }
    // None of this reached the audit log: only the admin's export earlier.
    let r = app.get("/v1/audit/verify", &app.admin).await;
    assert_eq!(r.json["valid"], true, "{}", r.text);
    assert_eq!(r.json["entries"], 1, "{}", r.text);
});

api_test!(nul_in_authorization_ref_is_refused, |app| {
    app.create_keys(&[
        ("escrow", "escrow"),
        ("coordinator", "signing"),
        ("client-1", "participant"),
        ("miner-7", "participant"),
    ])
    .await;
    let coordinator = app.token("coord", &[Role::Coordinator]).await;
    let receipt = json!({
        "job_id": "11", "client_id": "22", "miner_id": "33",
        "units": "10", "unit_price": "5", "amount": "50", "fee": "2",
        "timestamp": "1700000000", "salt": "123456789"
    });
    let r = app
        .post(
            "/v1/confidential/transactions",
            &coordinator,
            json!({"receipt": receipt, "client_key": "client-1", "miner_key": "miner-7",
                   "metadata": {"note": "line one\nline two\ttabbed"}}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "tab and newline are fine in metadata: {}",
        r.text
    );
    let tx_id = r.json["tx_id"].as_str().expect("tx id").to_string();
    let regulator = app.token("reg-1", &[Role::Regulator]).await;
    let r = app
        .post(
            "/v1/confidential/access",
            &regulator,
            json!({"tx_id": tx_id, "purpose": "compliance", "justification": "x",
                   "authorization_ref": "a\u{0}b"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.contains("body.authorization_ref"), "{}", r.text);
});

api_test!(bad_requests_do_not_fail_other_principals, |app| {
    let miner = app.token("miner-1", &[Role::Miner]).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..48 {
        let router = app.router.clone();
        let req = if i % 3 == 0 {
            request(
                Method::POST,
                "/v1/verify",
                &miner,
                Some(json!({"circuit": "range\u{0}", "proof": {}, "public_signals": []})),
            )
        } else {
            request(Method::GET, "/v1/policies", &app.admin, None)
        };
        set.spawn(async move {
            let status = router.oneshot(req).await.expect("infallible").status();
            (i % 3 == 0, status)
        });
    }
    let (mut bad, mut good) = (0, 0);
    while let Some(done) = set.join_next().await {
        let (is_bad, status) = done.expect("task");
        if is_bad {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            bad += 1;
        } else {
            assert_eq!(status, StatusCode::OK, "another principal's request failed");
            good += 1;
        }
    }
    assert_eq!((bad, good), (16, 32));
    let report = zkr_server::audit_log::verify(&app.state.db)
        .await
        .expect("verify");
    assert!(report.valid);
    assert_eq!(report.entries, 32);
});

api_test!(a_failing_event_fails_alone_in_its_batch, |app| {
    refuse_audit_rows(&app, "NEW.actor = 'poison'").await;
    // Queued together, so that the writer commits them as one batch: the
    // one the database refuses, and one it cannot even be asked to store.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..30 {
        let audit = app.state.audit.clone();
        let e = match i {
            10 => event("poison", ""),
            20 => event("p20", "nul \u{0} here"),
            _ => event(&format!("p{i}"), ""),
        };
        set.spawn(async move { (i, audit.append(e).await) });
    }
    let mut ok = Vec::new();
    while let Some(done) = set.join_next().await {
        let (i, result) = done.expect("task");
        match i {
            10 | 20 => assert!(result.is_err(), "event {i} must fail"),
            _ => ok.push(result.expect("the other events are appended")),
        }
    }
    ok.sort_unstable();
    assert_eq!(ok, (1..=28).collect::<Vec<i64>>());
    let report = zkr_server::audit_log::verify(&app.state.db)
        .await
        .expect("verify");
    assert!(report.valid);
    assert_eq!(report.entries, 28);
    // The writer keeps going.
    assert_eq!(
        app.state.audit.append(event("after", "")).await.ok(),
        Some(29)
    );
});

fn paused() -> zkr_server::Config {
    let mut c = test_config();
    c.proofs.workers = 0.into();
    c
}

api_test!(
    no_proof_job_without_its_queued_event,
    config = paused(),
    |app| {
        let client = app.token("client-a", &[Role::Client]).await;
        let body = json!({"circuit": "range",
        "input": {"value": "50", "blind": "4242", "min": "10", "max": "1000"}});
        refuse_audit_rows(&app, "NEW.action = 'proof_job' AND NEW.outcome = 'queued'").await;
        let r = app.post("/v1/proofs", &client, body.clone()).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
        assert_eq!(r.code(), "audit_unavailable");
        assert!(
            r.json["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("was not created")),
            "{}",
            r.text
        );
        let jobs: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM proof_jobs")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("count");
        assert_eq!(jobs.0, 0, "a job exists without its queued event");
        let m = app.call(Method::GET, "/metrics", None, None).await;
        assert!(m.text.contains("zkr_proof_queue_depth 0"), "{}", m.text);

        // Once the log takes the event, the job is accepted and logged.
        sqlx::raw_sql(match app.state.db.backend {
            Backend::Sqlite => "DROP TRIGGER refuse_some",
            Backend::Postgres => "DROP TRIGGER refuse_some ON audit_events",
        })
        .execute(&app.state.db.pool)
        .await
        .expect("drop trigger");
        let r = app.post("/v1/proofs", &client, body).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        let job = r.json["job_id"].as_str().expect("job id");
        let events = zkr_server::audit_log::query(
            &app.state.db,
            &zkr_server::audit_log::Filter {
                action: Some("proof_job".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("events");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].resource, format!("job/{job}"));
        assert_eq!(events[0].outcome, "queued");
    }
);
