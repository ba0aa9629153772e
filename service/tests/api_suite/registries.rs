//! Registries: members, roots and root history, paths, persistence.

use axum::http::StatusCode;
use serde_json::json;
use zkr_circuits::field::{fr_to_decimal, parse_fr};
use zkr_circuits::merkle::{MerklePath, MerkleTree};
use zkr_circuits::poseidon::h1;
use zkr_server::Role;

use crate::helpers::api_test;

fn identity(secret: u64) -> String {
    fr_to_decimal(&h1(ark_bn254::Fr::from(secret)))
}

api_test!(members_roots_and_paths, |app| {
    let miner = app.token("miner-1", &[Role::Miner]).await;
    let members: Vec<String> = (1..=3).map(identity).collect();
    let mut roots = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let r = app
            .post(
                "/v1/registries/miners/members",
                &app.admin,
                json!({"member": m}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.json["index"], i as u64);
        assert_eq!(r.json["version"], i as u64 + 1);
        roots.push(r.json["root"].as_str().expect("root").to_string());
    }

    // The service's root is the native tree's root over the same leaves.
    let leaves: Vec<_> = members.iter().map(|m| parse_fr(m).expect("fr")).collect();
    let tree = MerkleTree::from_leaves(20, &leaves).expect("tree");
    assert_eq!(roots[2], fr_to_decimal(&tree.root()));

    // Anyone authenticated reads root, history (newest first) and paths.
    let r = app.get("/v1/registries/miners", &miner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["size"], 3);
    assert_eq!(r.json["depth"], 20);
    assert_eq!(r.json["root"], roots[2].as_str());
    let history: Vec<_> = r.json["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["root"].as_str().expect("root").to_string())
        .collect();
    assert_eq!(history, roots.iter().rev().cloned().collect::<Vec<_>>());
    let r = app.get("/v1/registries/miners?history=1", &miner).await;
    assert_eq!(r.json["history"].as_array().map(Vec::len), Some(1));

    let r = app
        .get(
            &format!("/v1/registries/miners/path/{}", members[1]),
            &miner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["index"], 1);
    assert_eq!(r.json["path_indices"][0], 1);
    assert_eq!(r.json["path_indices"][1], 0);
    let path = MerklePath {
        elements: r.json["path_elements"]
            .as_array()
            .expect("elements")
            .iter()
            .map(|e| parse_fr(e.as_str().expect("str")).expect("fr"))
            .collect(),
        indices: r.json["path_indices"]
            .as_array()
            .expect("indices")
            .iter()
            .map(|b| b == 1)
            .collect(),
    };
    assert_eq!(path.elements.len(), 20);
    assert_eq!(fr_to_decimal(&path.root_from(leaves[1])), roots[2]);

    // A fresh cache (another node, or a restart) reads the same state from the database.
    app.state.registries = std::sync::Arc::new(zkr_server::Registries::new(20));
    app.rebuild();
    let r = app.get("/v1/registries/miners", &miner).await;
    assert_eq!(r.json["root"], roots[2].as_str());
    let r = app
        .post(
            "/v1/registries/miners/members",
            &app.admin,
            json!({"member": identity(4)}),
        )
        .await;
    assert_eq!(r.json["index"], 3);
});

api_test!(registry_errors, |app| {
    let miner = app.token("miner-1", &[Role::Miner]).await;
    let m = identity(1);
    let r = app
        .post(
            "/v1/registries/miners/members",
            &miner,
            json!({"member": m}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/v1/registries/miners", &miner).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .post(
            "/v1/registries/miners/members",
            &app.admin,
            json!({"member": m}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app
        .post(
            "/v1/registries/miners/members",
            &app.admin,
            json!({"member": m}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Not canonical: the field modulus itself, a sign, hex, leading zero.
    for bad in [
        "21888242871839275222246405745257275088548364400416034343698204186575808495617",
        "-1",
        "0x10",
        "01",
    ] {
        let r = app
            .post(
                "/v1/registries/miners/members",
                &app.admin,
                json!({"member": bad}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text
        );
    }
    let r = app
        .post(
            "/v1/registries/Bad%20Name/members",
            &app.admin,
            json!({"member": m}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .get(
            &format!("/v1/registries/miners/path/{}", identity(9)),
            &miner,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.get("/v1/registries/miners/path/abc", &miner).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
});

api_test!(member_zero_is_refused_and_leaves_the_root, |app| {
    let r = app
        .post(
            "/v1/registries/miners/members",
            &app.admin,
            json!({"member": identity(1)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let before = app.get("/v1/registries/miners", &app.admin).await;
    // 0 is the empty leaf: as a member it would leave the root unchanged
    // and prove membership on every empty slot.
    let r = app
        .post(
            "/v1/registries/miners/members",
            &app.admin,
            json!({"member": "0"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.code(), "unprocessable");
    assert!(r.text.contains("non-zero"), "{}", r.text);
    // r and above are not field elements.
    let r = app
        .post(
            "/v1/registries/miners/members",
            &app.admin,
            json!({"member": "21888242871839275222246405745257275088548364400416034343698204186575808495618"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let after = app.get("/v1/registries/miners", &app.admin).await;
    assert_eq!(after.json["size"], 1);
    assert_eq!(after.json["root"], before.json["root"]);
    assert_eq!(after.json["history"].as_array().map(Vec::len), Some(1));
});
