//! The audit log: chain, export, verification, tamper detection, fail-closed
//! appends, retention and business hours.

use axum::http::StatusCode;
use serde_json::json;
use time::macros::datetime;
use zkr_server::Clock;
use zkr_server::Role;

use crate::helpers::{api_test, test_config};

api_test!(every_decision_is_chained_and_exported, |app| {
    let miner = app.token("miner-1", &[Role::Miner]).await;
    assert_eq!(
        app.get("/v1/policies", &app.admin).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/policies", &miner).await.status,
        StatusCode::FORBIDDEN
    );

    let r = app.get("/v1/audit/events?format=jsonl", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    let events: Vec<serde_json::Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(events.len(), 3, "{}", r.text);
    assert_eq!(events[0]["prev_hash"], "0".repeat(64));
    assert_eq!(events[1]["prev_hash"], events[0]["entry_hash"]);
    assert_eq!(events[0]["outcome"], "allow");
    assert_eq!(events[1]["actor"], "miner-1");
    assert_eq!(events[1]["outcome"], "deny");
    assert_eq!(events[1]["detail"], "rule=default-deny");
    assert_eq!(events[2]["action"], "audit_read");

    // Filters and CSV.
    let r = app
        .get("/v1/audit/events?actor=miner-1&format=csv", &app.admin)
        .await;
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    let lines: Vec<_> = r.text.lines().collect();
    assert_eq!(
        lines[0],
        "seq,ts,actor,roles,action,resource,purpose,outcome,detail,prev_hash,entry_hash"
    );
    assert_eq!(lines.len(), 2);
    assert!(lines[1].starts_with("2,") && lines[1].contains(",miner-1,miner,policy_read,"));
    let r = app
        .get(
            "/v1/audit/events?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z",
            &app.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text, "");
    let r = app
        .get("/v1/audit/events?since=yesterday", &app.admin)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = app.get("/v1/audit/verify", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["valid"], true);
    assert_eq!(r.json["entries"], 6);
    assert!(r.json["first_broken"].is_null());
});

api_test!(tampering_is_named_by_verify, |app| {
    let miner = app.token("miner-1", &[Role::Miner]).await;
    for _ in 0..3 {
        let _ = app.get("/v1/policies", &miner).await;
    }
    // Turn a denial into an allow behind the service's back (the
    // append-only triggers dropped first, as someone with database rights would).
    crate::audit_checkpoints::drop_append_only_guards(&app).await;
    sqlx::query("UPDATE audit_events SET outcome = 'allow' WHERE seq = 2")
        .execute(&app.state.db.pool)
        .await
        .expect("tamper");
    let r = app.get("/v1/audit/verify", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["valid"], false);
    assert_eq!(r.json["entries"], 1);
    assert_eq!(r.json["first_broken"]["seq"], 2);
    assert_eq!(
        r.json["first_broken"]["reason"],
        "entry_hash does not match the content"
    );

    // The same, offline, on the database alone.
    let report = zkr_server::audit_log::verify_database(&app.database_url)
        .await
        .expect("verify");
    assert!(!report.valid);
    assert_eq!(report.first_broken.map(|b| b.seq), Some(2));

    // Recomputing the hash of the edited row only moves the break to the next one.
    sqlx::query("UPDATE audit_events SET entry_hash = $1 WHERE seq = 2")
        .bind("00".repeat(32))
        .execute(&app.state.db.pool)
        .await
        .expect("tamper");
    let report = zkr_server::audit_log::verify_database(&app.database_url)
        .await
        .expect("verify");
    assert_eq!(report.first_broken.map(|b| b.seq), Some(2));

    // A deleted entry is named too.
    sqlx::query("DELETE FROM audit_events WHERE seq = 2")
        .execute(&app.state.db.pool)
        .await
        .expect("delete");
    let report = zkr_server::audit_log::verify_database(&app.database_url)
        .await
        .expect("verify");
    let broken = report.first_broken.expect("broken");
    assert_eq!(broken.seq, 2);
    assert!(broken.reason.contains("missing"), "{}", broken.reason);
});

api_test!(fail_closed_when_the_log_cannot_be_written, |app| {
    let r = app
        .post(
            "/v1/tokens",
            &app.admin,
            json!({"principal": "m1", "roles": ["miner"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // The audit table becomes unwritable: nothing that must be audited succeeds.
    sqlx::raw_sql("DROP TABLE audit_events")
        .execute(&app.state.db.pool)
        .await
        .expect("drop");
    let r = app
        .post(
            "/v1/tokens",
            &app.admin,
            json!({"principal": "m2", "roles": ["miner"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.code(), "audit_unavailable");
    assert!(r.json.get("token").is_none());
    let minted: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_tokens WHERE principal = 'm2'")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("count");
    assert_eq!(
        minted.0, 0,
        "no token may be minted without its audit event"
    );
    let r = app.get("/v1/policies", &app.admin).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let metrics = app
        .call(axum::http::Method::GET, "/metrics", None, None)
        .await
        .text;
    assert!(
        metrics.contains(r#"zkr_audit_appends_total{result="error"} 2"#),
        "{metrics}"
    );
});

api_test!(fail_closed_when_the_writer_is_stopped, |app| {
    app.state.audit.close().await;
    let r = app.get("/v1/policies", &app.admin).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.code(), "audit_unavailable");
    assert_eq!(r.json["error"]["message"], "audit log unavailable");
    let r = app
        .call(axum::http::Method::GET, "/readyz", None, None)
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
});

api_test!(
    retention_hides_old_events_from_auditors,
    config = {
        let mut c = test_config();
        c.access.retention_days.insert("auditor".into(), 1);
        c
    },
    |app| {
        let auditor = app.token("aud-1", &[Role::Auditor]).await;
        let _ = app.get("/v1/policies", &app.admin).await;
        let r = app.get("/v1/audit/events?purpose=audit", &auditor).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text.lines().count(), 2);
        // Three days later the same events are outside the auditor's retention,
        // but not the admin's.
        app.state.clock = Clock::Fixed(time::OffsetDateTime::now_utc() + time::Duration::days(3));
        app.rebuild();
        let r = app.get("/v1/audit/events?purpose=audit", &auditor).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text, "");
        let r = app.get("/v1/audit/events", &app.admin).await;
        assert_eq!(r.text.lines().count(), 4);
    }
);

api_test!(
    auditors_only_for_audit_in_business_hours,
    config = {
        let mut c = test_config();
        c.access.business_hours_start = 8;
        c.access.business_hours_end = 18;
        c.access.weekends = false;
        c
    },
    |app| {
        let auditor = app.token("aud-1", &[Role::Auditor]).await;
        app.state.clock = Clock::Fixed(datetime!(2026-11-23 10:00 UTC));
        app.rebuild();
        assert_eq!(
            app.get("/v1/audit/verify?purpose=audit", &auditor)
                .await
                .status,
            StatusCode::OK
        );
        let r = app.get("/v1/audit/verify?purpose=support", &auditor).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.text.contains("auditor-purpose-must-be-audit"));
        app.state.clock = Clock::Fixed(datetime!(2026-11-23 20:00 UTC));
        app.rebuild();
        let r = app.get("/v1/audit/verify?purpose=audit", &auditor).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(
            r.text.contains("auditor-outside-business-hours"),
            "{}",
            r.text
        );
        app.state.clock = Clock::Fixed(datetime!(2026-11-22 10:00 UTC));
        app.rebuild();
        assert_eq!(
            app.get("/v1/audit/verify?purpose=audit", &auditor)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    }
);

api_test!(
    concurrent_appends_are_batched_chained_and_flushed_on_close,
    |app| {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..50 {
            let audit = app.state.audit.clone();
            set.spawn(async move {
                audit
                    .append(zkr_server::audit_log::NewEvent {
                        actor: format!("p{i}"),
                        roles: "client".into(),
                        action: "test".into(),
                        resource: "r".into(),
                        purpose: "-".into(),
                        outcome: "allow".into(),
                        detail: String::new(),
                    })
                    .await
            });
        }
        let mut seqs = Vec::new();
        while let Some(done) = set.join_next().await {
            seqs.push(done.expect("task").expect("appended"));
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=50).collect::<Vec<i64>>());
        // Closing waits for the writer; later appends are refused.
        app.state.audit.close().await;
        let report = zkr_server::audit_log::verify(&app.state.db)
            .await
            .expect("verify");
        assert!(report.valid);
        assert_eq!(report.entries, 50);
        let refused = app
            .state
            .audit
            .append(zkr_server::audit_log::NewEvent {
                actor: "late".into(),
                roles: "client".into(),
                action: "test".into(),
                resource: "r".into(),
                purpose: "-".into(),
                outcome: "allow".into(),
                detail: String::new(),
            })
            .await;
        assert!(refused.is_err());
    }
);

api_test!(writers_that_race_keep_one_chain, |app| {
    use zkr_server::audit_log::{AuditLog, NewEvent, append_direct, verify};
    let event = |actor: String| NewEvent {
        actor,
        roles: "system".into(),
        action: "test".into(),
        resource: "r".into(),
        purpose: "-".into(),
        outcome: "ok".into(),
        detail: String::new(),
    };
    // This node's writer, a second node's on the same database and the
    // command line's direct appends, all at once: a writer whose events
    // another one overtook chains them again on the new head.
    let db = app.state.db.clone();
    let (other, other_writer) = AuditLog::start(db.clone(), app.state.metrics.clone(), 64, 4);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..30 {
        for (name, log) in [("here", app.state.audit.clone()), ("other", other.clone())] {
            let e = event(format!("{name}-{i}"));
            set.spawn(async move { log.append(e).await.map_err(|e| e.to_string()) });
        }
        let (db, e) = (db.clone(), event(format!("cli-{i}")));
        set.spawn(async move { append_direct(&db, &e).await.map_err(|e| e.to_string()) });
    }
    let mut seqs = Vec::new();
    while let Some(done) = set.join_next().await {
        seqs.push(done.expect("task").expect("appended"));
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=90).collect::<Vec<i64>>());
    other.close().await;
    other_writer.join().await;
    let report = verify(&db).await.expect("verify");
    assert!(report.valid, "{report:?}");
    assert_eq!(report.entries, 90);
});

api_test!(
    audit_appends_and_other_writes_do_not_lock_each_other_out,
    |app| {
        // Registry additions read then write, like the audit writer: on SQLite
        // both must take the write lock up front or one fails with "database
        // is locked" (a 503 for the request whose event it was).
        let mut tasks = Vec::new();
        for i in 1..=24u64 {
            let state = app.state.clone();
            tasks.push(tokio::spawn(async move {
                state
                    .registries
                    .add(&state.db, "miners", ark_bn254::Fr::from(i), "admin")
                    .await
                    .map(|_| ())
            }));
            let audit = app.state.audit.clone();
            tasks.push(tokio::spawn(async move {
                audit
                    .append(zkr_server::audit_log::NewEvent {
                        actor: "admin".into(),
                        roles: "admin".into(),
                        action: "test".into(),
                        resource: format!("event/{i}"),
                        purpose: "-".into(),
                        outcome: "ok".into(),
                        detail: String::new(),
                    })
                    .await
                    .map(|_| ())
            }));
        }
        for t in tasks {
            t.await.expect("join").expect("every write lands");
        }
        let r = app.get("/v1/audit/verify", &app.admin).await;
        assert_eq!(r.json["valid"], true, "{}", r.text);
    }
);

api_test!(regulators_verify_with_an_authorization_reference, |app| {
    let regulator = app.token("reg-1", &[Role::Regulator]).await;
    let r = app
        .get(
            "/v1/audit/verify?authorization_ref=court-order-17",
            &regulator,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["valid"], true);
    let r = app.get("/v1/audit/verify", &regulator).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(
        r.text.contains("regulator-needs-authorization-ref"),
        "{}",
        r.text
    );
    // The reference is in the log, as for every regulator read.
    let r = app.get("/v1/audit/events?actor=reg-1", &app.admin).await;
    assert!(
        r.text.contains("authorization_ref=court-order-17"),
        "{}",
        r.text
    );
});
