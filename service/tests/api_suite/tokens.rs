//! Bearer tokens: minting, authentication, roles.

use axum::http::{Method, StatusCode, header};
use serde_json::json;
use zkr_server::Role;

use crate::helpers::api_test;

api_test!(admin_mints_tokens_that_authenticate, |app| {
    let r = app
        .post(
            "/v1/tokens",
            &app.admin,
            json!({"principal": "miner-7", "roles": ["miner"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let token = r.json["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("zkr_") && token.len() == 68);
    assert_eq!(r.json["roles"], json!(["miner"]));

    // The new token works, and a miner cannot mint.
    let r = app
        .post(
            "/v1/tokens",
            &token,
            json!({"principal": "evil", "roles": ["admin"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "forbidden");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("default-deny")
    );

    // Only the hash is stored.
    let stored: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM api_tokens")
        .fetch_all(&app.state.db.pool)
        .await
        .expect("query");
    assert!(
        stored
            .iter()
            .all(|(h,)| h.len() == 64 && !h.starts_with("zkr_"))
    );
    assert!(!stored.iter().any(|(h,)| token.contains(h.as_str())));
});

api_test!(missing_bad_and_expired_tokens_are_401, |app| {
    let r = app.call(Method::GET, "/v1/policies", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(r.code(), "unauthorized");
    let r = app.get("/v1/policies", "zkr_0000").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let mut forged = app.admin.clone();
    forged.pop();
    forged.push('x');
    assert_eq!(
        app.get("/v1/policies", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Minting an expired token is refused, so this one expires in the database.
    let expired = zkr_server::tokens::mint(
        &app.state.db,
        "old",
        &[Role::Admin],
        Some(zkr_store::now_unix() + 3600),
    )
    .await
    .expect("mint");
    sqlx::query("UPDATE api_tokens SET expires_at = 1 WHERE id = $1")
        .bind(&expired.id)
        .execute(&app.state.db.pool)
        .await
        .expect("expire");
    let r = app.get("/v1/policies", &expired.secret).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .post(
            "/v1/tokens",
            &app.admin,
            json!({"principal": "x", "roles": ["superuser"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            "/v1/tokens",
            &app.admin,
            json!({"principal": "x", "roles": []}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            "/v1/tokens",
            &app.admin,
            json!({"principal": "a b", "roles": ["miner"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
});

/// The first-start admin token: written once, mode 0600, never overwritten.
#[tokio::test]
async fn bootstrap_writes_the_admin_token_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("zkr.db").display());
    let db = zkr_store::Db::connect_and_migrate(&url).await.expect("db");
    let path = zkr_server::tokens::bootstrap_admin(&db, dir.path(), 30)
        .await
        .expect("bootstrap")
        .expect("first start writes a token");
    let token = std::fs::read_to_string(&path).expect("read");
    let principal = zkr_server::tokens::authenticate(&db, token.trim())
        .await
        .expect("valid");
    assert_eq!(principal.roles, vec![Role::Admin]);
    // It expires in 30 days.
    let listed = zkr_server::tokens::list(&db).await.expect("list");
    let expires = listed[0].expires_at.expect("an expiry");
    let in_30_days = zkr_store::now_unix() + 30 * 86_400;
    assert!(
        (in_30_days - 60..=in_30_days).contains(&expires),
        "{expires}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        zkr_server::tokens::bootstrap_admin(&db, dir.path(), 30)
            .await
            .expect("second")
            .is_none()
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), token);

    // The CLI path mints directly in the database.
    let t = zkr_server::tokens::create_token_in(&url, "coord", &[Role::Coordinator], None)
        .await
        .expect("create");
    let p = zkr_server::tokens::authenticate(&db, &t.secret)
        .await
        .expect("valid");
    assert_eq!(p.id, "coord");
}

api_test!(admins_list_and_revoke_tokens, |app| {
    let miner = app.token("miner-7", &[Role::Miner]).await;
    assert_ne!(
        app.get("/v1/policies", &miner).await.status,
        StatusCode::UNAUTHORIZED
    );

    let r = app.get("/v1/tokens", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let list = r.json.as_array().expect("a list");
    assert_eq!(list.len(), 2, "{}", r.text);
    let entry = list
        .iter()
        .find(|t| t["principal"] == "miner-7")
        .expect("the miner's token");
    assert_eq!(entry["roles"], json!(["miner"]));
    assert_eq!(entry["revoked"], false);
    assert!(entry["created_at"].is_i64() && entry["expires_at"].is_null());
    // Never the token, never its hash.
    let hashes: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM api_tokens")
        .fetch_all(&app.state.db.pool)
        .await
        .expect("hashes");
    for secret in [&miner, &app.admin] {
        assert!(!r.text.contains(secret.as_str()));
    }
    for (h,) in &hashes {
        assert!(!r.text.contains(h.as_str()));
    }
    let mut keys: Vec<&String> = entry.as_object().expect("object").keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "expires_at",
            "id",
            "principal",
            "revoked",
            "roles"
        ]
    );

    // Only admins list and revoke.
    let id = entry["id"].as_str().expect("id").to_string();
    assert_eq!(
        app.get("/v1/tokens", &miner).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/tokens/{id}"),
            Some(&miner),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/tokens/{id}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["revoked"], true);
    // Refused from the very next request on.
    let r = app.get("/v1/policies", &miner).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = app.get("/v1/tokens", &app.admin).await;
    let listed = r.json.as_array().expect("list");
    assert!(
        listed
            .iter()
            .any(|t| t["id"] == id.as_str() && t["revoked"] == true)
    );

    let r = app
        .call(
            Method::DELETE,
            "/v1/tokens/no-such-token",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not_found");

    // Both are audited, allowed and denied alike.
    for (action, outcomes) in [
        ("token_read", &["allow", "deny"]),
        ("token_revoke", &["allow", "deny"]),
    ] {
        let r = app
            .get(&format!("/v1/audit/events?action={action}"), &app.admin)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let text = r.text.clone();
        for outcome in outcomes {
            assert!(
                text.contains(&format!("\"outcome\":\"{outcome}\"")),
                "{action} {outcome}: {text}"
            );
        }
    }
});

api_test!(minting_an_expired_token_is_refused, |app| {
    let now = zkr_store::now_unix();
    for expires_at in [now - 10, now, 0, -5] {
        let r = app
            .post(
                "/v1/tokens",
                &app.admin,
                json!({"principal": "late", "roles": ["miner"], "expires_at": expires_at}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{expires_at}: {}",
            r.text
        );
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("not in the future"),
            "{}",
            r.text
        );
    }
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_tokens WHERE principal = 'late'")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("count");
    assert_eq!(n, 0);
    let r = app
        .post(
            "/v1/tokens",
            &app.admin,
            json!({"principal": "late", "roles": ["miner"], "expires_at": now + 60}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
});

api_test!(rotating_the_admin_token_revokes_the_old_one, |app| {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = zkr_server::tokens::bootstrap_admin(&app.state.db, dir.path(), 30)
        .await
        .expect("bootstrap");
    // The app's own admin token exists already, so nothing is written.
    assert!(path.is_none());
    let first = zkr_server::tokens::rotate_admin(&app.state.db, dir.path(), 7)
        .await
        .expect("rotate");
    assert!(first.revoked_id.is_none(), "no file, nothing to revoke");
    let old = std::fs::read_to_string(&first.path).expect("read");
    assert_eq!(
        app.get("/v1/tokens", old.trim()).await.status,
        StatusCode::OK
    );

    let second = zkr_server::tokens::rotate_admin(&app.state.db, dir.path(), 7)
        .await
        .expect("rotate again");
    assert_eq!(second.path, first.path);
    assert_eq!(second.revoked_id.as_deref(), Some(first.new_id.as_str()));
    let new = std::fs::read_to_string(&second.path).expect("read");
    assert_ne!(new, old);
    assert_eq!(
        app.get("/v1/tokens", old.trim()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app.get("/v1/tokens", new.trim()).await;
    assert_eq!(r.status, StatusCode::OK);
    let listed = r.json.as_array().expect("list");
    let entry = listed
        .iter()
        .find(|t| t["id"] == second.new_id.as_str())
        .expect("new token listed");
    let in_7_days = zkr_store::now_unix() + 7 * 86_400;
    let expires = entry["expires_at"].as_i64().expect("expiry");
    assert!((in_7_days - 60..=in_7_days).contains(&expires));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&second.path)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
});
