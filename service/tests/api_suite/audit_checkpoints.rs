//! Signed checkpoints and append-only tables: what someone with write
//! access to the database can no longer hide (a recomputed entry, a cut
//! tail, a forged or re-signed checkpoint), on both verifiers.

use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;
use sqlx::Row;
use zkr_server::Role;
use zkr_server::audit_log::{self, NewEvent};
use zkr_server::audit_log::{Checkpointer, Schedule};
use zkr_store::Backend;

use crate::helpers::{TestApp, api_test};

const KEY_ID: &str = "audit-checkpoint";

fn event(i: usize) -> NewEvent {
    NewEvent {
        actor: format!("p{i}"),
        roles: "client".into(),
        action: "test".into(),
        resource: format!("r/{i}"),
        purpose: "-".into(),
        outcome: "allow".into(),
        detail: String::new(),
    }
}

async fn append(app: &TestApp, n: usize) {
    for i in 0..n {
        app.state.audit.append(event(i)).await.expect("append");
    }
}

/// Signs the current head; the service's keys are created on first use.
async fn sign(app: &TestApp) -> i64 {
    app.state.ensure_service_keys().await.expect("service keys");
    audit_log::sign_head(&app.state.db, app.state.key_store().expect("keys"), KEY_ID)
        .await
        .expect("sign")
        .expect("a new head to sign")
        .seq
}

/// What an attacker with database rights does first: remove the guards.
pub(crate) async fn drop_append_only_guards(app: &TestApp) {
    let sql = match app.state.db.backend {
        Backend::Sqlite => {
            "DROP TRIGGER IF EXISTS audit_events_no_update; \
             DROP TRIGGER IF EXISTS audit_events_no_delete; \
             DROP TRIGGER IF EXISTS audit_checkpoints_no_update; \
             DROP TRIGGER IF EXISTS audit_checkpoints_no_delete;"
        }
        Backend::Postgres => {
            "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events; \
             DROP TRIGGER IF EXISTS audit_checkpoints_append_only ON audit_checkpoints;"
        }
    };
    sqlx::raw_sql(sql)
        .execute(&app.state.db.pool)
        .await
        .expect("drop triggers");
}

/// Recomputes `prev_hash` and `entry_hash` of every entry from `from` on,
/// as someone who edited entry `from` would, so that the chain is
/// consistent again.
pub(crate) async fn recompute_from(app: &TestApp, from: i64) {
    let rows = sqlx::query("SELECT * FROM audit_events ORDER BY seq")
        .fetch_all(&app.state.db.pool)
        .await
        .expect("rows");
    let mut prev = [0u8; 32];
    for row in rows {
        let seq: i64 = row.get("seq");
        let e = NewEvent {
            actor: row.get("actor"),
            roles: row.get("roles"),
            action: row.get("action"),
            resource: row.get("resource"),
            purpose: row.get("purpose"),
            outcome: row.get("outcome"),
            detail: row.get("detail"),
        };
        let ts: i64 = row.get("ts");
        let hash = audit_log::entry_hash(&prev, &audit_log::canonical(seq, ts, &e));
        if seq >= from {
            sqlx::query("UPDATE audit_events SET prev_hash = $1, entry_hash = $2 WHERE seq = $3")
                .bind(hex::encode(prev))
                .bind(hex::encode(hash))
                .bind(seq)
                .execute(&app.state.db.pool)
                .await
                .expect("recompute");
        }
        prev = hash;
    }
}

/// `zkr audit verify --database ... ARGS`: exit code and stderr.
pub(crate) fn zkr_audit_verify(app: &TestApp, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zkr"))
        .args(["audit", "verify", "--database", &app.database_url])
        .args(args)
        .env_remove("ZKR_CONFIG")
        .output()
        .expect("run zkr");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

api_test!(append_only_tables_refuse_update_and_delete, |app| {
    append(&app, 3).await;
    sign(&app).await;
    for sql in [
        "UPDATE audit_events SET outcome = 'deny' WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 3",
        "DELETE FROM audit_events",
        "UPDATE audit_checkpoints SET ts = 0",
        "DELETE FROM audit_checkpoints",
    ] {
        let e = sqlx::query(sql)
            .execute(&app.state.db.pool)
            .await
            .expect_err(sql);
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    if app.state.db.backend == Backend::Postgres {
        let e = sqlx::raw_sql("TRUNCATE audit_events")
            .execute(&app.state.db.pool)
            .await
            .expect_err("truncate");
        assert!(e.to_string().contains("append-only"), "{e}");
    }
    // Appending is what the tables are for.
    append(&app, 1).await;
    let report = audit_log::verify(&app.state.db).await.expect("verify");
    assert!(report.valid, "{report:?}");
    assert_eq!((report.entries, report.checkpoints), (4, 1));
});

api_test!(a_recomputed_entry_is_named, |app| {
    for _ in 0..6 {
        let r = app.get("/v1/policies", &app.admin).await;
        assert_eq!(r.status, StatusCode::OK);
        sign(&app).await;
    }
    let (code, _) = zkr_audit_verify(&app, &[]);
    assert_eq!(code, 0);

    // Turn entry 3 into something else and make the chain consistent again.
    drop_append_only_guards(&app).await;
    sqlx::query("UPDATE audit_events SET outcome = 'deny' WHERE seq = 3")
        .execute(&app.state.db.pool)
        .await
        .expect("tamper");
    recompute_from(&app, 3).await;

    let r = app.get("/v1/audit/verify", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["valid"], false, "{}", r.text);
    assert_eq!(r.json["entries"], 7, "the chain itself is consistent");
    assert_eq!(r.json["first_broken"]["seq"], 3, "{}", r.text);
    let reason = r.json["first_broken"]["reason"].as_str().unwrap_or("");
    assert!(
        reason.starts_with("recomputed") && reason.contains("3..=3"),
        "{reason}"
    );
    assert_eq!(r.json["key_pinned"], true);
    // Every later checkpoint is contradicted too.
    assert_eq!(
        r.json["checkpoint_errors"].as_array().map(Vec::len),
        Some(4)
    );

    let report = audit_log::verify_database(&app.database_url)
        .await
        .expect("verify");
    assert!(!report.valid);
    assert_eq!(report.first_broken.map(|b| b.seq), Some(3));
    assert!(!report.key_pinned);
    let (code, stderr) = zkr_audit_verify(&app, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("audit entry 3 (recomputed"), "{stderr}");
    assert!(stderr.contains("not pinned"), "{stderr}");
});

api_test!(a_cut_tail_is_named, |app| {
    append(&app, 10).await;
    sign(&app).await;
    append(&app, 100).await;
    assert_eq!(sign(&app).await, 110);
    drop_append_only_guards(&app).await;
    sqlx::query("DELETE FROM audit_events WHERE seq > 10")
        .execute(&app.state.db.pool)
        .await
        .expect("delete the last 100");

    let report = audit_log::verify(&app.state.db).await.expect("verify");
    assert!(!report.valid);
    assert_eq!(report.entries, 10);
    assert_eq!(report.last_checkpoint, Some(110));
    let broken = report.first_broken.expect("broken");
    assert_eq!(broken.seq, 110);
    assert!(broken.reason.starts_with("truncated"), "{}", broken.reason);
    assert!(
        broken.reason.contains("ends at entry 10"),
        "{}",
        broken.reason
    );
    let (code, stderr) = zkr_audit_verify(&app, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("truncated"), "{stderr}");
    // The running writer wrote those entries: it appends nothing behind
    // the cut, so the API's verification, itself audited, fails closed.
    let r = app.get("/v1/audit/verify", &app.admin).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "audit_unavailable", "{}", r.text);
});

api_test!(forged_and_re_signed_checkpoints_are_caught, |app| {
    append(&app, 4).await;
    sign(&app).await;
    append(&app, 4).await;
    sign(&app).await;
    // An auditor keeps a copy and the key, outside the service.
    let kept = app.get("/v1/audit/checkpoints", &app.admin).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.text);
    let real_key = kept.json["public_key"].as_str().expect("key").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let kept_file = dir.path().join("checkpoints.json");
    std::fs::write(&kept_file, &kept.text).expect("write");
    let kept_arg = kept_file.to_str().expect("utf8 path");

    drop_append_only_guards(&app).await;
    // A forged signature.
    let sig: String = sqlx::query("SELECT signature FROM audit_checkpoints WHERE seq = 4")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("row")
        .get("signature");
    let forged = format!(
        "{}{}",
        if &sig[..2] == "00" { "01" } else { "00" },
        &sig[2..]
    );
    sqlx::query("UPDATE audit_checkpoints SET signature = $1 WHERE seq = 4")
        .bind(&forged)
        .execute(&app.state.db.pool)
        .await
        .expect("forge");
    let report = audit_log::verify(&app.state.db).await.expect("verify");
    assert!(!report.valid);
    let broken = report.first_broken.expect("broken");
    assert_eq!(broken.seq, 4);
    assert!(
        broken.reason.contains("does not verify"),
        "{}",
        broken.reason
    );
    let (code, stderr) = zkr_audit_verify(&app, &[]);
    assert_eq!(code, 1, "{stderr}");

    // The thorough attacker: edit entry 2, recompute the chain, and re-sign
    // every checkpoint with a key of its own, stored beside them.
    sqlx::query("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 2")
        .execute(&app.state.db.pool)
        .await
        .expect("tamper");
    recompute_from(&app, 2).await;
    sqlx::raw_sql("DELETE FROM audit_checkpoints")
        .execute(&app.state.db.pool)
        .await
        .expect("delete checkpoints");
    let keys = app.state.key_store().expect("keys");
    keys.create_signing_key("mallory").await.expect("key");
    audit_log::sign_head(&app.state.db, keys, "mallory")
        .await
        .expect("re-sign")
        .expect("signed");
    // Unpinned, the database vouches for itself, and the report says so.
    let report = audit_log::verify(&app.state.db).await.expect("verify");
    assert!(report.valid, "{report:?}");
    assert!(!report.key_pinned);
    assert!(
        report.key_source.contains("not pinned"),
        "{}",
        report.key_source
    );
    let (code, stderr) = zkr_audit_verify(&app, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("WARNING") && stderr.contains("not pinned"),
        "{stderr}"
    );
    // Pinned, it does not: by the key under the KEK (the API), by the key
    // given on the command line, by the checkpoints the auditor kept.
    let r = app.get("/v1/audit/verify", &app.admin).await;
    assert_eq!(r.json["valid"], false, "{}", r.text);
    assert!(
        r.text.contains("not signed by the pinned key"),
        "{}",
        r.text
    );
    let (code, stderr) = zkr_audit_verify(&app, &["--public-key", &real_key]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not signed by the pinned key"), "{stderr}");
    let (code, stderr) = zkr_audit_verify(&app, &["--checkpoints", kept_arg]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("recomputed"), "{stderr}");
    assert!(stderr.contains("1..=4"), "{stderr}");
    // Malformed pins are input errors.
    let (code, _) = zkr_audit_verify(&app, &["--public-key", "xyz"]);
    assert_eq!(code, 2);
});

api_test!(checkpoints_are_served_like_the_log, |app| {
    append(&app, 3).await;
    sign(&app).await;
    let r = app.get("/v1/audit/checkpoints", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["key_id"], KEY_ID);
    let cps = r.json["checkpoints"].as_array().expect("list").clone();
    assert_eq!(cps.len(), 1);
    let c: &Value = &cps[0];
    assert_eq!(c["seq"], 3);
    assert_eq!(c["public_key"], r.json["public_key"]);
    // Anyone can check a kept checkpoint from the documented message alone.
    let bytes = |v: &Value| hex::decode(v.as_str().expect("hex")).expect("hex");
    let ok = zkr_keys::store::verify_audit_checkpoint_signature(
        &bytes(&r.json["public_key"]).try_into().expect("32"),
        3,
        &bytes(&c["entry_hash"]).try_into().expect("32"),
        c["ts"].as_u64().expect("ts"),
        &bytes(&c["signature"]).try_into().expect("64"),
    );
    assert!(ok);
    let r = app.get("/v1/audit/checkpoints?after=3", &app.admin).await;
    assert_eq!(r.json["checkpoints"].as_array().map(Vec::len), Some(0));

    let miner = app.token("miner-1", &[Role::Miner]).await;
    let auditor = app.token("aud-1", &[Role::Auditor]).await;
    let regulator = app.token("reg-1", &[Role::Regulator]).await;
    let status = |path: &'static str, token: String| {
        let app = &app;
        async move { app.get(path, &token).await.status }
    };
    assert_eq!(
        status("/v1/audit/checkpoints", miner).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status("/v1/audit/checkpoints?purpose=audit", auditor.clone()).await,
        StatusCode::OK
    );
    assert_eq!(
        status("/v1/audit/checkpoints", auditor).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status("/v1/audit/checkpoints", regulator.clone()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status("/v1/audit/checkpoints?authorization_ref=order-9", regulator).await,
        StatusCode::OK
    );
});

/// Every `events` events or `secs` seconds, with no floor between
/// signatures and no file.
fn schedule(events: u64, secs: u64) -> Schedule {
    Schedule {
        every_events: events,
        every: Duration::from_secs(secs),
        min_interval: Duration::ZERO,
        kept: Vec::new(),
    }
}

pub(crate) async fn last_checkpoint(app: &TestApp) -> Option<i64> {
    audit_log::checkpoints(&app.state.db, 0, i64::MAX)
        .await
        .expect("list")
        .last()
        .map(|c| c.seq)
}

/// Waits (up to 20 s) for a checkpoint at `seq` or later; returns its seq.
async fn wait_for_checkpoint(app: &TestApp, seq: i64) -> i64 {
    for _ in 0..200 {
        if let Some(last) = last_checkpoint(app).await.filter(|l| *l >= seq) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no checkpoint at entry {seq} or later");
}

api_test!(
    checkpoints_every_n_events_every_t_seconds_and_at_stop,
    |app| {
        app.state.ensure_service_keys().await.expect("service keys");
        let keys = app.state.keys.clone().expect("keys");
        let task = Checkpointer::start(
            app.state.db.clone(),
            keys.clone(),
            KEY_ID.into(),
            schedule(5, 3600),
            app.state.audit.head(),
        );
        // Four events: not yet.
        append(&app, 4).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(last_checkpoint(&app).await, None);
        // The fifth: the head is signed.
        append(&app, 1).await;
        assert_eq!(wait_for_checkpoint(&app, 5).await, 5);
        append(&app, 7).await;
        assert!(wait_for_checkpoint(&app, 10).await >= 10);
        append(&app, 1).await;
        task.finish().await;
        assert_eq!(
            last_checkpoint(&app).await,
            Some(13),
            "the head at stop is signed"
        );

        // By time: few events, a short interval.
        let task = Checkpointer::start(
            app.state.db.clone(),
            keys,
            KEY_ID.into(),
            schedule(1000, 1),
            app.state.audit.head(),
        );
        append(&app, 2).await;
        assert_eq!(wait_for_checkpoint(&app, 15).await, 15);
        task.finish().await;
        let report = audit_log::verify(&app.state.db).await.expect("verify");
        assert!(report.valid, "{report:?}");
    }
);
