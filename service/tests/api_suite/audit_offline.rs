//! `zkr audit verify` as an auditor uses it: an export checked against
//! kept checkpoints with no database, and reports that say each problem
//! once and count the intact entries right.

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::http::StatusCode;
use zkr_server::audit_log;

use crate::audit_checkpoints::{drop_append_only_guards, zkr_audit_verify};
use crate::helpers::{TestApp, api_test};

/// Signs the current head with the service's checkpoint key.
async fn sign(app: &TestApp) {
    app.state.ensure_service_keys().await.expect("service keys");
    let keys = app.state.key_store().expect("keys");
    audit_log::sign_head(&app.state.db, keys, "audit-checkpoint")
        .await
        .expect("sign");
}

/// `zkr audit verify ARGS` with no database: exit code and stderr.
fn zkr_offline(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zkr"))
        .args(["audit", "verify"])
        .args(args)
        .env_remove("ZKR_CONFIG")
        .env_remove("ZKR_DATABASE_URL")
        .output()
        .expect("run zkr");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

api_test!(an_export_is_verified_against_kept_checkpoints, |app| {
    for _ in 0..5 {
        let r = app.get("/v1/policies", &app.admin).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    sign(&app).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kept = app.get("/v1/audit/checkpoints", &app.admin).await;
    let key = kept.json["public_key"].as_str().expect("key").to_string();
    let checkpoints = write(dir.path(), "checkpoints.json", &kept.text);
    let export = app.get("/v1/audit/events", &app.admin).await;
    assert_eq!(export.status, StatusCode::OK);
    let lines: Vec<&str> = export.text.lines().collect();
    assert!(lines.len() >= 6, "{}", export.text);
    let good = write(dir.path(), "export.ndjson", &export.text);
    let offline = |file: &Path| {
        zkr_offline(&[
            "--file",
            arg(file),
            "--checkpoints",
            arg(&checkpoints),
            "--public-key",
            &key,
        ])
    };

    let (code, stderr) = offline(&good);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("OK: {} audit entries", lines.len())),
        "{stderr}"
    );

    // Cut: the last lines, the checkpoint's entry among them.
    let cut = write(dir.path(), "cut.ndjson", &(lines[..3].join("\n") + "\n"));
    let (code, stderr) = offline(&cut);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("truncated: the chain ends at entry 3"),
        "{stderr}"
    );

    // Edited: an entry's outcome changed, hashes left alone.
    let edited_text = export
        .text
        .replacen("\"outcome\":\"allow\"", "\"outcome\":\"deny\"", 1);
    assert_ne!(edited_text, export.text);
    let edited = write(dir.path(), "edited.ndjson", &edited_text);
    let (code, stderr) = offline(&edited);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("BROKEN: audit entry 1 (entry_hash does not match the content)"),
        "{stderr}"
    );

    // Not an export at all: bad input.
    let junk = write(dir.path(), "junk.ndjson", "{\"seq\": 1}\n");
    let (code, stderr) = offline(&junk);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");
    // Without checkpoints the chain alone is checked, and the report warns.
    let (code, stderr) = zkr_offline(&["--file", arg(&cut)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("WARNING: without checkpoints"), "{stderr}");
});

api_test!(each_problem_is_printed_once_with_the_intact_count, |app| {
    for _ in 0..3 {
        for _ in 0..2 {
            let r = app.get("/v1/policies", &app.admin).await;
            assert_eq!(r.status, StatusCode::OK);
        }
        sign(&app).await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let kept = app.get("/v1/audit/checkpoints", &app.admin).await;
    let checkpoints = write(dir.path(), "checkpoints.json", &kept.text);
    // Three checkpoints: the later two are contradicted once an entry after
    // the first is rewritten.
    let seqs: Vec<i64> = kept.json["checkpoints"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["seq"].as_i64())
        .collect();
    assert_eq!(seqs.len(), 3, "{}", kept.text);

    // The entry after the first checkpoint.
    let edited = seqs[0] + 1;
    drop_append_only_guards(&app).await;
    sqlx::query("UPDATE audit_events SET outcome = 'deny' WHERE seq = $1")
        .bind(edited)
        .execute(&app.state.db.pool)
        .await
        .expect("tamper");
    crate::audit_checkpoints::recompute_from(&app, edited).await;

    let (code, stderr) = zkr_audit_verify(&app, &["--checkpoints", arg(&checkpoints)]);
    assert_eq!(code, 1, "{stderr}");
    // The second checkpoint is the first contradicted; the entries up to
    // the first one are intact, and so many are counted.
    let first_bad = seqs[1];
    assert!(
        stderr.contains(&format!(
            "BROKEN: audit entry {first_bad} (recomputed: entry {first_bad} has a hash"
        )),
        "{stderr}"
    );
    let intact = if first_bad == edited {
        format!("the {} entries before it are intact", seqs[0])
    } else {
        format!("only entries 1..={} are known intact", seqs[0])
    };
    assert!(stderr.contains(&intact), "{intact}: {stderr}");
    // The same checkpoint, stored and kept, is one checkpoint, one problem.
    for seq in &seqs[1..] {
        let needle = format!("recomputed: entry {seq} has a hash");
        assert_eq!(stderr.matches(&needle).count(), 1, "{needle}: {stderr}");
    }
    assert!(stderr.contains("checkpoints: 3 checked"), "{stderr}");
});

api_test!(a_broken_chain_counts_the_entries_before_the_break, |app| {
    for _ in 0..6 {
        let r = app.get("/v1/policies", &app.admin).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    drop_append_only_guards(&app).await;
    sqlx::query("UPDATE audit_events SET outcome = 'deny' WHERE seq = 4")
        .execute(&app.state.db.pool)
        .await
        .expect("tamper");
    let (code, stderr) = zkr_audit_verify(&app, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("BROKEN: audit entry 4 (entry_hash does not match the content); the 3 entries before it are intact"),
        "{stderr}"
    );
});
