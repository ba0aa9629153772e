//! A cut tail: someone with database rights drops the guards and deletes
//! the last entries together with their checkpoints. The checkpoint each
//! node keeps outside the database still tells: the node refuses to start
//! (or, running, to append) behind it, and both verifiers report the cut.

use std::sync::Arc;

use axum::http::StatusCode;
use zkr_server::audit_log::{self, Checkpointer, NewEvent};

use crate::audit_checkpoints::{drop_append_only_guards, zkr_audit_verify};
use crate::helpers::{TestApp, api_test};

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

/// Points the node's data directory (where it keeps its checkpoint) at `dir`.
fn use_data_dir(app: &mut TestApp, dir: &std::path::Path) {
    let mut config = (*app.state.config).clone();
    config.data_dir = dir.to_path_buf();
    app.state.config = Arc::new(config);
    app.rebuild();
}

/// Runs the checkpoint task while `n` events are appended; it signs the
/// head at its stop.
async fn append_signed(app: &TestApp, n: usize) {
    let task = Checkpointer::for_state(&app.state)
        .await
        .expect("the database reaches the kept checkpoint");
    append(app, n).await;
    task.finish().await;
}

async fn head(app: &TestApp) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT MAX(seq) FROM audit_events")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("head")
}

/// Deletes every entry and checkpoint after `seq`, guards dropped first.
pub(crate) async fn cut_after(app: &TestApp, seq: i64) {
    drop_append_only_guards(app).await;
    for sql in [
        "DELETE FROM audit_events WHERE seq > $1",
        "DELETE FROM audit_checkpoints WHERE seq > $1",
    ] {
        sqlx::query(sql)
            .bind(seq)
            .execute(&app.state.db.pool)
            .await
            .expect("cut");
    }
}

api_test!(a_tail_cut_with_its_checkpoints_is_caught, |app| {
    let dir = tempfile::tempdir().expect("tempdir");
    use_data_dir(&mut app, dir.path());
    app.state.ensure_service_keys().await.expect("service keys");
    append_signed(&app, 20).await;
    append_signed(&app, 10).await;
    assert_eq!(head(&app).await, 30);
    let kept = audit_log::read_kept_checkpoint(&dir.path().join("audit-checkpoint.ndjson"))
        .expect("readable")
        .expect("kept");
    assert_eq!(kept.seq, 30);
    let r = app.get("/v1/audit/checkpoints", &app.admin).await;
    let key = r.json["public_key"].as_str().expect("key").to_string();

    cut_after(&app, 20).await;

    // The command line, key pinned, with the node's data directory.
    let data_dir = dir.path().to_str().expect("utf8");
    let (code, stderr) = zkr_audit_verify(&app, &["--public-key", &key, "--data-dir", data_dir]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("BROKEN: audit entry 30 (truncated"),
        "{stderr}"
    );

    // A node does not start behind its kept checkpoint.
    let Err(e) = Checkpointer::for_state(&app.state).await else {
        panic!("started behind the kept checkpoint");
    };
    let message = e.to_string();
    assert!(
        message.contains("audit log cut") && message.contains("ends at entry 20"),
        "{message}"
    );
    // The running writer saw entry 30 written: it refuses to append behind
    // it (so every audited request fails closed, verification too), and
    // stops, so readiness says so.
    let r = app.get("/v1/audit/verify", &app.admin).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "audit_unavailable", "{}", r.text);
    assert!(app.state.audit.append(event(99)).await.is_err());
    assert_eq!(head(&app).await, 20, "sequence numbers 21.. are not reused");
    assert!(!app.state.audit.is_running());
    let r = app
        .call(axum::http::Method::GET, "/readyz", None, None)
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
});

api_test!(
    a_rewritten_entry_at_the_kept_checkpoint_refuses_start,
    |app| {
        let dir = tempfile::tempdir().expect("tempdir");
        use_data_dir(&mut app, dir.path());
        app.state.ensure_service_keys().await.expect("service keys");
        append_signed(&app, 5).await;
        drop_append_only_guards(&app).await;
        sqlx::query("UPDATE audit_events SET entry_hash = $1 WHERE seq = 5")
            .bind("00".repeat(32))
            .execute(&app.state.db.pool)
            .await
            .expect("rewrite");
        let e = zkr_server::audit_log::guard_start(&app.state)
            .await
            .expect_err("refused");
        assert!(e.to_string().contains("entry 5"), "{e}");
    }
);

api_test!(a_node_without_a_kept_checkpoint_starts_one, |app| {
    let dir = tempfile::tempdir().expect("tempdir");
    use_data_dir(&mut app, dir.path());
    app.state.ensure_service_keys().await.expect("service keys");
    // The database has a longer chain than the file knows: starts, and
    // keeps the new head at its stop.
    append(&app, 3).await;
    append_signed(&app, 2).await;
    let kept = audit_log::read_kept_checkpoint(&dir.path().join("audit-checkpoint.ndjson"))
        .expect("readable")
        .expect("kept");
    assert_eq!(kept.seq, 5);
    let stored = audit_log::checkpoints(&app.state.db, 0, i64::MAX)
        .await
        .expect("list");
    assert_eq!(stored.last(), Some(&kept));
    let r = app.get("/v1/audit/verify", &app.admin).await;
    assert_eq!(r.json["valid"], true, "{}", r.text);
    assert_eq!(
        r.json["checkpoints"],
        stored.len(),
        "kept and stored, it counts once"
    );
});

api_test!(the_api_verifier_checks_the_kept_checkpoint, |app| {
    let dir = tempfile::tempdir().expect("tempdir");
    use_data_dir(&mut app, dir.path());
    app.state.ensure_service_keys().await.expect("service keys");
    append(&app, 4).await;
    // A checkpoint, signed by the service's key, of an entry the database
    // does not have: kept (say, by the copy on other storage) for a chain
    // that was longer than this one.
    let keys = app.state.key_store().expect("keys");
    let signed = keys
        .sign_audit_checkpoint("audit-checkpoint", 40, &[7; 32], 1_700_000_000)
        .await
        .expect("sign");
    let kept = audit_log::Checkpoint {
        seq: 40,
        entry_hash: hex::encode([7; 32]),
        ts: 1_700_000_000,
        key_id: signed.key_id,
        key_version: i64::from(signed.key_version),
        public_key: hex::encode(signed.public_key),
        signature: hex::encode(signed.signature),
    };
    let line = serde_json::to_string(&kept).expect("json");
    std::fs::write(dir.path().join("audit-checkpoint.ndjson"), line).expect("write");

    let r = app.get("/v1/audit/verify", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["valid"], false, "{}", r.text);
    assert_eq!(r.json["key_pinned"], true);
    assert_eq!(r.json["first_broken"]["seq"], 40, "{}", r.text);
    let reason = r.json["first_broken"]["reason"].as_str().unwrap_or("");
    // Four events and this verification's own decision.
    assert!(
        reason.starts_with("truncated: the chain ends at entry 5"),
        "{reason}"
    );
});
