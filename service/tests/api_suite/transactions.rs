//! Confidential transactions: sealing, attestation, and a participant
//! opening its own copy outside the service.

use axum::http::StatusCode;
use serde_json::{Value, json};
use zkr_circuits::Receipt;
use zkr_circuits::field::fr_to_decimal;
use zkr_circuits::receipt::ReceiptJson;
use zkr_keys::{Envelope, X25519PrivateKey};
use zkr_server::Role;

use crate::helpers::{TestApp, api_test};

fn receipt_json(fee: &str) -> Value {
    json!({
        "job_id": "11", "client_id": "22", "miner_id": "33",
        "units": "10", "unit_price": "5", "amount": "50", "fee": fee,
        "timestamp": "1700000000", "salt": "123456789"
    })
}

/// Escrow and signing keys, a custodial client key, and a miner that keeps
/// its own private key.
async fn keys(app: &TestApp) -> X25519PrivateKey {
    app.create_keys(&[
        ("escrow", "escrow"),
        ("coordinator", "signing"),
        ("client-1", "participant"),
    ])
    .await;
    let miner_sk = X25519PrivateKey::generate().expect("key");
    let r = app
        .post(
            "/v1/confidential/keys",
            &app.admin,
            json!({"key_id": "miner-7", "kind": "participant",
            "public_key": hex::encode(miner_sk.public_key().as_bytes())}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    miner_sk
}

api_test!(store_read_and_open_own_copy, |app| {
    let miner_sk = keys(&app).await;
    let coordinator = app.token("coord", &[Role::Coordinator]).await;
    let miner = app.token("miner-7", &[Role::Miner]).await;
    let client = app.token("client-1", &[Role::Client]).await;
    let stranger = app.token("client-2", &[Role::Client]).await;

    let body = json!({"receipt": receipt_json("2"), "client_key": "client-1", "miner_key": "miner-7",
                      "metadata": {"gpu": "a100"}});
    let r = app
        .post("/v1/confidential/transactions", &coordinator, body.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let tx_id = r.json["tx_id"].as_str().expect("tx id").to_string();
    let parsed: ReceiptJson = serde_json::from_value(receipt_json("2")).expect("receipt");
    let receipt = Receipt::try_from(&parsed).expect("receipt");
    assert_eq!(
        r.json["receipt_hash"],
        fr_to_decimal(&receipt.hash()).as_str()
    );
    assert_eq!(r.json["attestation"]["key_id"], "coordinator");
    assert_eq!(
        r.json["attestation"]["signature"].as_str().map(str::len),
        Some(128)
    );

    // Anyone authenticated sees the commitment; only participants get a copy.
    let path = format!("/v1/confidential/transactions/{tx_id}");
    let r = app.get(&path, &stranger).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.json["envelope"].is_null());
    assert_eq!(
        r.json["receipt_hash"],
        fr_to_decimal(&receipt.hash()).as_str()
    );
    let r = app.get(&path, &client).await;
    assert_eq!(r.json["envelope"]["key_id"], "client-1");

    // The miner opens its copy with its own key, without the service.
    let r = app.get(&path, &miner).await;
    let copy = &r.json["envelope"];
    assert_eq!(copy["key_id"], "miner-7");
    let bytes = hex::decode(copy["envelope"].as_str().expect("hex")).expect("hex");
    let envelope = Envelope::from_bytes(&bytes).expect("envelope");
    assert_eq!(
        envelope.wraps.len(),
        1,
        "a participant's copy holds only its own wrap"
    );
    let plaintext = envelope.open("miner-7", 1, &miner_sk).expect("open");
    let record: Value = serde_json::from_slice(plaintext.expose()).expect("json");
    assert_eq!(record["receipt"]["amount"], "50");
    assert_eq!(record["metadata"]["gpu"], "a100");
    let reopened: ReceiptJson = serde_json::from_value(record["receipt"].clone()).expect("receipt");
    assert_eq!(
        Receipt::try_from(&reopened).expect("receipt").hash(),
        receipt.hash()
    );
    // No plaintext in the database.
    let stored: (String,) = sqlx::query_as("SELECT ciphertext FROM confidential_txs")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("row");
    assert!(!stored.0.contains(&hex::encode("a100")));

    // Refusals.
    let r = app
        .post("/v1/confidential/transactions", &miner, body)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let bad =
        json!({"receipt": receipt_json("51"), "client_key": "client-1", "miner_key": "miner-7"});
    let r = app
        .post("/v1/confidential/transactions", &coordinator, bad)
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "fee > amount: {}",
        r.text
    );
    let unknown =
        json!({"receipt": receipt_json("2"), "client_key": "nobody", "miner_key": "miner-7"});
    let r = app
        .post("/v1/confidential/transactions", &coordinator, unknown)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let r = app
        .get(
            &format!("/v1/confidential/transactions/{}", uuid::Uuid::new_v4()),
            &miner,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/v1/confidential/transactions/42", &miner)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
});

api_test!(access_and_escrow_paths, |app| {
    let _miner_sk = keys(&app).await;
    let coordinator = app.token("coord", &[Role::Coordinator]).await;
    let body =
        json!({"receipt": receipt_json("2"), "client_key": "client-1", "miner_key": "miner-7"});
    let r = app
        .post("/v1/confidential/transactions", &coordinator, body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let tx_id = r.json["tx_id"].as_str().expect("tx id").to_string();
    let ask = |purpose: &str, reference: Option<&str>| {
        let mut v = json!({"tx_id": tx_id, "purpose": purpose, "justification": "monthly close"});
        if let Some(r) = reference {
            v["authorization_ref"] = json!(r);
        }
        v
    };

    // A participant with a custodial key reads its record.
    let client = app.token("client-1", &[Role::Client]).await;
    let r = app
        .post("/v1/confidential/access", &client, ask("settlement", None))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["hash_matches"], true);
    assert_eq!(r.json["record"]["receipt"]["fee"], "2");
    // A participant that keeps its own key decrypts client-side instead.
    let miner = app.token("miner-7", &[Role::Miner]).await;
    let r = app
        .post("/v1/confidential/access", &miner, ask("dispute", None))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    // Others are denied with the rule.
    let stranger = app.token("client-2", &[Role::Client]).await;
    let r = app
        .post("/v1/confidential/access", &stranger, ask("dispute", None))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text.contains("default-deny"));
    assert!(r.json.get("record").is_none());

    // A purpose that is not one, or none, is refused naming the allowed ones.
    for purpose in [json!("Audit"), json!("court"), json!(7), Value::Null] {
        let mut body = ask("audit", None);
        body["purpose"] = purpose.clone();
        let r = app.post("/v1/confidential/access", &client, body).await;
        assert!(r.status.is_client_error(), "{purpose}: {}", r.text);
        let message = r.json["error"]["message"].as_str().unwrap_or_default();
        for allowed in ["settlement", "audit", "compliance", "dispute", "support"] {
            assert!(message.contains(allowed), "{purpose}: {message}");
        }
    }
    let r = app.get("/v1/audit/events?purpose=court", &app.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("settlement"), "{}", r.text);

    // Auditors: purpose audit only, then through the escrow key.
    let auditor = app.token("aud-1", &[Role::Auditor]).await;
    let r = app
        .post("/v1/confidential/access", &auditor, ask("support", None))
        .await;
    assert!(
        r.text.contains("auditor-purpose-must-be-audit"),
        "{}",
        r.text
    );
    let r = app
        .post("/v1/confidential/access", &auditor, ask("audit", None))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Regulators: only the escrow path, only with an authorization reference.
    let regulator = app.token("reg-1", &[Role::Regulator]).await;
    let r = app
        .post(
            "/v1/confidential/access",
            &regulator,
            ask("compliance", Some("court-1")),
        )
        .await;
    assert!(r.text.contains("regulator-escrow-only"), "{}", r.text);
    let r = app
        .post(
            "/v1/confidential/audit",
            &regulator,
            ask("compliance", None),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.text.contains("regulator-needs-authorization-ref"),
        "{}",
        r.text
    );
    let r = app
        .post(
            "/v1/confidential/audit",
            &regulator,
            ask("compliance", Some("court-1")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["hash_matches"], true);
    assert_eq!(r.json["record"]["receipt"]["amount"], "50");

    // Each decision is in the audit log with purpose and justification.
    let r = app
        .get("/v1/audit/events?action=escrow_open", &app.admin)
        .await;
    let lines: Vec<Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["outcome"], "deny");
    assert_eq!(lines[1]["outcome"], "allow");
    assert_eq!(lines[1]["purpose"], "compliance");
    assert!(
        lines[1]["detail"]
            .as_str()
            .expect("detail")
            .contains("authorization_ref=court-1")
    );
    assert!(
        lines[1]["detail"]
            .as_str()
            .expect("detail")
            .contains("monthly close")
    );
});

api_test!(service_keys_cannot_stand_for_a_participant, |app| {
    let _miner_sk = keys(&app).await;
    app.create_keys(&[("escrow-old", "escrow"), ("coordinator-2", "signing")])
        .await;
    let coordinator = app.token("coord", &[Role::Coordinator]).await;
    // The escrow key, another escrow key, the signing key or any signing
    // key named for a participant: refused before anything is sealed.
    for (client, miner) in [
        ("escrow", "miner-7"),
        ("client-1", "escrow"),
        ("escrow-old", "miner-7"),
        ("coordinator", "miner-7"),
        ("client-1", "coordinator-2"),
    ] {
        let body = json!({"receipt": receipt_json("2"), "client_key": client, "miner_key": miner});
        let r = app
            .post("/v1/confidential/transactions", &coordinator, body)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{client}/{miner}: {}",
            r.text
        );
        assert!(r.text.contains("not a participant's key"), "{}", r.text);
    }
    let stored: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM confidential_txs")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("count");
    assert_eq!(stored.0, 0);

    // A record that names the escrow key as its client (stored before the
    // check existed): a principal called `escrow` is no participant of it.
    let body =
        json!({"receipt": receipt_json("2"), "client_key": "client-1", "miner_key": "miner-7"});
    let r = app
        .post("/v1/confidential/transactions", &coordinator, body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let tx_id = r.json["tx_id"].as_str().expect("tx id").to_string();
    sqlx::query("UPDATE confidential_txs SET client_key = 'escrow' WHERE id = $1")
        .bind(&tx_id)
        .execute(&app.state.db.pool)
        .await
        .expect("update");
    for roles in [vec![Role::Client], vec![Role::Miner]] {
        let escrow = app.token("escrow", &roles).await;
        let r = app
            .post(
                "/v1/confidential/access",
                &escrow,
                json!({"tx_id": tx_id, "purpose": "settlement", "justification": "mine"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert!(r.json.get("record").is_none());
        let r = app
            .get(&format!("/v1/confidential/transactions/{tx_id}"), &escrow)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(r.json["envelope"].is_null(), "{}", r.text);
        let r = app
            .post(
                "/v1/proofs",
                &escrow,
                json!({"circuit": "disclosure", "tx_id": tx_id, "disclose": ["amount"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    }
    // The real participant still reads it.
    let miner = app.token("miner-7", &[Role::Miner]).await;
    let r = app
        .get(&format!("/v1/confidential/transactions/{tx_id}"), &miner)
        .await;
    assert_eq!(r.json["envelope"]["key_id"], "miner-7", "{}", r.text);
});
