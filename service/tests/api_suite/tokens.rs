//! Bearer tokens: minting, authentication, roles.

use axum::http::{Method, StatusCode, header};
use serde_json::json;
use zkr::server::auth::Role;

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

    let expired = zkr::server::auth::mint(&app.state.db, "old", &[Role::Admin], Some(1))
        .await
        .expect("mint");
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
    let db = zkr::server::store::Db::connect_and_migrate(&url)
        .await
        .expect("db");
    let path = zkr::server::auth::bootstrap_admin(&db, dir.path())
        .await
        .expect("bootstrap")
        .expect("first start writes a token");
    let token = std::fs::read_to_string(&path).expect("read");
    let principal = zkr::server::auth::authenticate(&db, token.trim())
        .await
        .expect("valid");
    assert_eq!(principal.roles, vec![Role::Admin]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        zkr::server::auth::bootstrap_admin(&db, dir.path())
            .await
            .expect("second")
            .is_none()
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), token);

    // The CLI path mints directly in the database.
    let t = zkr::server::auth::create_token_in(&url, "coord", &[Role::Coordinator], None)
        .await
        .expect("create");
    let p = zkr::server::auth::authenticate(&db, &t.secret)
        .await
        .expect("valid");
    assert_eq!(p.id, "coord");
}
