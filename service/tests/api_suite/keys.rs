//! Key registration, custodial keys, rotation and status.

use axum::http::StatusCode;
use serde_json::json;
use zkr_keys::X25519PrivateKey;
use zkr_server::Role;

use crate::helpers::api_test;

api_test!(create_register_rotate_and_read_keys, |app| {
    let coordinator = app.token("coord", &[Role::Coordinator]).await;
    let miner = app.token("miner-7", &[Role::Miner]).await;

    // A participant that keeps its private key registers only the public one.
    let own = X25519PrivateKey::generate().expect("key");
    let public_hex = hex::encode(own.public_key().as_bytes());
    let r = app
        .post(
            "/v1/confidential/keys",
            &app.admin,
            json!({"key_id": "miner-7", "kind": "participant", "public_key": public_hex}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["custody"], "registered");
    assert_eq!(r.json["public_key"], public_hex.as_str());
    assert_eq!(r.json["version"], 1);

    for (id, kind, custody) in [
        ("client-1", "participant", "custodial"),
        ("escrow", "escrow", "custodial"),
        ("coord-sign", "signing", "custodial"),
    ] {
        let r = app
            .post(
                "/v1/confidential/keys",
                &app.admin,
                json!({"key_id": id, "kind": kind}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.json["kind"], kind);
        assert_eq!(r.json["custody"], custody);
        assert!(r.json.get("private_key").is_none());
    }
    let r = app
        .post(
            "/v1/confidential/keys",
            &app.admin,
            json!({"key_id": "escrow", "kind": "escrow"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Rotation: a custodial key gets a fresh pair; the old version decrypts only.
    let r = app
        .post(
            "/v1/confidential/keys/client-1/rotate",
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["to_version"], 2);
    assert_eq!(r.json["done"], true);
    let r = app
        .get("/v1/confidential/keys/client-1", &coordinator)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let statuses: Vec<_> = r
        .json
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!("decrypt_only"), json!("active")]);

    // A registered key needs the participant's new public key.
    let r = app
        .post(
            "/v1/confidential/keys/miner-7/rotate",
            &app.admin,
            json!({}),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.text);
    let next = X25519PrivateKey::generate().expect("key");
    let r = app
        .post(
            "/v1/confidential/keys/miner-7/rotate",
            &app.admin,
            json!({"public_key": hex::encode(next.public_key().as_bytes())}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Access and bad input.
    let r = app
        .post(
            "/v1/confidential/keys",
            &miner,
            json!({"key_id": "x", "kind": "escrow"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/v1/confidential/keys/client-1", &miner)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/v1/confidential/keys/nobody", &app.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .post(
            "/v1/confidential/keys",
            &app.admin,
            json!({"key_id": "y", "kind": "participant", "public_key": "zz"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            "/v1/confidential/keys",
            &app.admin,
            json!({"key_id": "y", "kind": "escrow", "public_key": public_hex}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            "/v1/confidential/keys",
            &app.admin,
            json!({"key_id": "y", "kind": "participant", "public_key": "00".repeat(32)}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "low-order key: {}",
        r.text
    );

    // Key operations are audited.
    let r = app
        .get("/v1/audit/events?action=key_write", &app.admin)
        .await;
    assert!(r.text.lines().count() >= 7, "{}", r.text);
});

api_test!(admins_list_keys_with_public_parts_only, |app| {
    app.create_keys(&[("client-1", "participant"), ("escrow-2", "escrow")])
        .await;
    let r = app
        .post(
            "/v1/confidential/keys/client-1/rotate",
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let r = app.get("/v1/confidential/keys", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let keys = r.json.as_array().expect("a list");
    let listed: Vec<(String, u64)> = keys
        .iter()
        .map(|k| {
            (
                k["key_id"].as_str().unwrap_or_default().to_string(),
                k["version"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    for want in [("client-1", 1), ("client-1", 2), ("escrow-2", 1)] {
        assert!(
            listed.contains(&(want.0.to_string(), want.1)),
            "{want:?} missing from {listed:?}"
        );
    }
    let field_names: std::collections::BTreeSet<&str> = keys
        .iter()
        .flat_map(|k| k.as_object().expect("object").keys().map(String::as_str))
        .collect();
    let expected = [
        "created_at",
        "custody",
        "key_id",
        "kind",
        "public_key",
        "rotated_at",
        "status",
        "version",
    ];
    assert_eq!(field_names, expected.into_iter().collect());
    let c1 = &keys[listed
        .iter()
        .position(|k| k.0 == "client-1")
        .expect("client-1")];
    assert_eq!(c1["kind"], "participant");
    assert_eq!(c1["status"], "decrypt_only");
    assert_eq!(c1["public_key"].as_str().map(str::len), Some(64));

    for role in Role::ALL {
        if role == Role::Admin {
            continue;
        }
        let token = app.token(&format!("{role}-1"), &[role]).await;
        let r = app.get("/v1/confidential/keys", &token).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{role}: {}", r.text);
    }

    // Every answer, allow or deny, is an audit event.
    let r = app
        .get("/v1/audit/events?action=key_list", &app.admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let outcomes: Vec<serde_json::Value> = r
        .text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json line")["outcome"].clone()
        })
        .collect();
    assert_eq!(outcomes.iter().filter(|o| *o == "allow").count(), 1);
    assert_eq!(
        outcomes.iter().filter(|o| *o == "deny").count(),
        Role::ALL.len() - 1
    );
});
