//! Every role against every endpoint and purpose, through the router: the
//! status says whether access control let the request through (anything but
//! 403) or denied it (403), and each decision is in the audit log.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use zkr_server::Purpose;
use zkr_server::Role;

use crate::helpers::api_test;

struct Endpoint {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    /// Whether `role` with `purpose` and an authorization reference (when
    /// `with_ref`) may pass.
    allowed: fn(Role, Option<Purpose>, bool) -> bool,
}

fn admin_only(role: Role, _: Option<Purpose>, _: bool) -> bool {
    role == Role::Admin
}

fn audit_read(role: Role, purpose: Option<Purpose>, with_ref: bool) -> bool {
    match role {
        Role::Admin => true,
        Role::Auditor => purpose == Some(Purpose::Audit),
        Role::Regulator => with_ref,
        _ => false,
    }
}

fn anyone(_: Role, _: Option<Purpose>, _: bool) -> bool {
    true
}

/// Everyone authenticated but a verifier, which reads only what checking
/// proofs needs.
fn not_verifier(role: Role, _: Option<Purpose>, _: bool) -> bool {
    role != Role::Verifier
}

fn coordinator_only(role: Role, _: Option<Purpose>, _: bool) -> bool {
    role == Role::Coordinator
}

fn admin_or_coordinator(role: Role, _: Option<Purpose>, _: bool) -> bool {
    matches!(role, Role::Admin | Role::Coordinator)
}

fn record_access(role: Role, purpose: Option<Purpose>, _: bool) -> bool {
    // The record belongs to client-1 and miner-1, the principals of those roles here.
    match role {
        Role::Client | Role::Miner => true,
        Role::Auditor => purpose == Some(Purpose::Audit),
        _ => false,
    }
}

fn escrow_open(role: Role, purpose: Option<Purpose>, with_ref: bool) -> bool {
    match role {
        Role::Regulator => with_ref,
        Role::Auditor => purpose == Some(Purpose::Audit) && with_ref,
        _ => false,
    }
}

fn prover_role(role: Role, _: Option<Purpose>, _: bool) -> bool {
    matches!(role, Role::Client | Role::Miner | Role::Coordinator)
}

/// Listing jobs: an admin everyone's, a principal that may own jobs its
/// own (the listing is owner-scoped, so it passes for them); the verifier
/// and the auditor own none.
fn job_owner_roles(role: Role, _: Option<Purpose>, _: bool) -> bool {
    matches!(
        role,
        Role::Admin | Role::Client | Role::Miner | Role::Coordinator | Role::Regulator
    )
}

fn disclose(role: Role, _: Option<Purpose>, with_ref: bool) -> bool {
    // client-1 and miner-1 are the record's participants.
    match role {
        Role::Client | Role::Miner => true,
        Role::Regulator => with_ref,
        _ => false,
    }
}

fn endpoints() -> Vec<Endpoint> {
    let policy = json!({"effect": "allow", "actions": ["verify"]});
    vec![
        Endpoint {
            method: Method::POST,
            path: "/v1/tokens",
            body: Some(json!({"principal": "new", "roles": ["client"]})),
            allowed: admin_only,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/policies",
            body: None,
            allowed: admin_only,
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/policies",
            body: Some(json!({"id": "p-new", "policy": policy.clone()})),
            allowed: admin_only,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/policies/p1",
            body: None,
            allowed: admin_only,
        },
        Endpoint {
            method: Method::PUT,
            path: "/v1/policies/p1",
            body: Some(policy),
            allowed: admin_only,
        },
        Endpoint {
            method: Method::DELETE,
            path: "/v1/policies/p2",
            body: None,
            allowed: admin_only,
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/registries/miners/members",
            body: Some(json!({"member": "7"})),
            allowed: admin_only,
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/confidential/transactions",
            body: Some(
                json!({"receipt": {"job_id": "1", "client_id": "2", "miner_id": "3",
                "units": "1", "unit_price": "1", "amount": "1", "fee": "0", "timestamp": "1",
                "salt": "5"}, "client_key": "c", "miner_key": "m"}),
            ),
            allowed: coordinator_only,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/confidential/transactions/5f1d1a4e-0000-4000-8000-000000000000",
            body: None,
            allowed: not_verifier,
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/confidential/access",
            body: None,
            allowed: record_access,
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/confidential/audit",
            body: None,
            allowed: escrow_open,
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/confidential/keys",
            body: Some(json!({"key_id": "k", "kind": "escrow"})),
            allowed: admin_only,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/confidential/keys/k",
            body: None,
            allowed: admin_or_coordinator,
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/confidential/keys/k/rotate",
            body: Some(json!({})),
            allowed: admin_only,
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/verify",
            body: Some(json!({"circuit": "range", "proof": {}, "public_signals": []})),
            allowed: anyone,
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/verify/batch",
            body: Some(json!({"items": [{"circuit": "range", "proof": {}, "public_signals": []}]})),
            allowed: anyone,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/registries/miners",
            body: None,
            allowed: anyone,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/registries/miners/path/7",
            body: None,
            allowed: anyone,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/circuits",
            body: None,
            allowed: anyone,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/circuits/range",
            body: None,
            allowed: anyone,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/circuits/range/verification_key",
            body: None,
            allowed: anyone,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/signing-keys",
            body: None,
            allowed: anyone,
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/proofs",
            // Out of range: refused with 422 after the access decision.
            body: Some(json!({"circuit": "range",
                "input": {"value": "5", "blind": "1", "min": "10", "max": "20"}})),
            allowed: prover_role,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/proofs/5f1d1a4e-0000-4000-8000-000000000000",
            body: None,
            allowed: admin_only,
        },
        Endpoint {
            method: Method::DELETE,
            path: "/v1/proofs/5f1d1a4e-0000-4000-8000-000000000000",
            body: None,
            allowed: admin_only,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/proofs",
            body: None,
            allowed: job_owner_roles,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/proofs?owner=admin",
            body: None,
            // Naming another principal's jobs is for admins.
            allowed: admin_only,
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/proofs/5f1d1a4e-0000-4000-8000-000000000000/retry",
            body: None,
            allowed: admin_only,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/workers",
            body: None,
            allowed: admin_only,
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/disclosures",
            body: None,
            allowed: disclose,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/audit/events",
            body: None,
            allowed: audit_read,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/audit/verify",
            body: None,
            allowed: audit_read,
        },
        Endpoint {
            method: Method::GET,
            path: "/v1/audit/checkpoints",
            body: None,
            allowed: audit_read,
        },
    ]
}

fn with_query(path: &str, purpose: Option<Purpose>, with_ref: bool) -> String {
    let mut q = Vec::new();
    if let Some(p) = purpose {
        q.push(format!("purpose={}", p.as_str()));
    }
    if with_ref {
        q.push("authorization_ref=court-order-9".to_string());
    }
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", q.join("&"))
    }
}

fn paused() -> zkr_server::Config {
    let mut c = crate::helpers::test_config();
    c.proofs.workers = 0.into();
    c
}

api_test!(
    every_role_every_endpoint_every_purpose,
    config = paused(),
    |app| {
        for id in ["p1", "p2"] {
            let r = app
                .post(
                    "/v1/policies",
                    &app.admin,
                    json!({"id": id, "policy": {"effect": "allow", "actions": ["verify"]}}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED);
        }
        // A record of client-1 and miner-1 (custodial keys), with escrow and signing keys.
        app.create_keys(&[
            ("escrow", "escrow"),
            ("coordinator", "signing"),
            ("client-1", "participant"),
            ("miner-1", "participant"),
        ])
        .await;
        let coordinator = app.token("coord-setup", &[Role::Coordinator]).await;
        let r = app
            .post(
                "/v1/confidential/transactions",
                &coordinator,
                json!({"receipt": {"job_id": "1", "client_id": "2", "miner_id": "3", "units": "4",
                "unit_price": "5", "amount": "20", "fee": "1", "timestamp": "6", "salt": "7"},
                "client_key": "client-1", "miner_key": "miner-1"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let tx_id = r.json["tx_id"].as_str().expect("tx id").to_string();
        let before: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("count");

        let mut purposes: Vec<Option<Purpose>> = vec![None];
        purposes.extend(Purpose::ALL.into_iter().map(Some));
        let mut decisions = 0;
        let mut queued = 0;
        for role in Role::ALL {
            let token = app.token(&format!("{role}-1"), &[role]).await;
            for e in endpoints() {
                // Only the audit endpoints take a purpose or a reference; the
                // others are asked once.
                let audit = e.path.starts_with("/v1/audit");
                let record = e.body.is_none()
                    && (e.path.starts_with("/v1/confidential/") || e.path == "/v1/disclosures");
                let cases: Vec<(Option<Purpose>, bool)> = if record {
                    // Purpose is required in these bodies.
                    Purpose::ALL
                        .iter()
                        .flat_map(|p| [(Some(*p), false), (Some(*p), true)])
                        .collect()
                } else if audit {
                    purposes
                        .iter()
                        .flat_map(|p| [(*p, false), (*p, true)])
                        .collect()
                } else {
                    vec![(None, false)]
                };
                for (purpose, with_ref) in cases {
                    let path = if audit {
                        with_query(e.path, purpose, with_ref)
                    } else {
                        e.path.to_string()
                    };
                    let body = if record {
                        let mut b = json!({"tx_id": tx_id, "justification": "matrix",
                        "purpose": purpose.map(Purpose::as_str)});
                        if with_ref {
                            b["authorization_ref"] = json!("order-7");
                        }
                        if e.path == "/v1/disclosures" {
                            b["disclose"] = json!(["amount"]);
                        }
                        Some(b)
                    } else {
                        e.body.clone()
                    };
                    let r = app.call(e.method.clone(), &path, Some(&token), body).await;
                    decisions += 1;
                    if r.status == StatusCode::ACCEPTED {
                        // A queued job is one more event.
                        queued += 1;
                    }
                    let expected = (e.allowed)(role, purpose, with_ref);
                    if expected {
                        assert!(
                            r.status != StatusCode::FORBIDDEN
                                && r.status != StatusCode::UNAUTHORIZED,
                            "{role} {} {path} should pass: {} {}",
                            e.method,
                            r.status,
                            r.text
                        );
                    } else {
                        assert_eq!(
                            r.status,
                            StatusCode::FORBIDDEN,
                            "{role} {} {path}: {}",
                            e.method,
                            r.text
                        );
                        assert_eq!(r.code(), "forbidden");
                    }
                }
            }
        }
        // Each decision, allowed or denied, is one audit event (+1 for this
        // export, + the verdict of each role's one-item batch, + each queued
        // disclosure job; the pool is paused, so no job ends meanwhile).
        assert_eq!(queued, 2 * 10 + 5, "participants x 10 cases, regulator x 5");
        let r = app.get("/v1/audit/events", &app.admin).await;
        let expected = before.0 as usize + decisions + 1 + Role::ALL.len() + queued;
        assert_eq!(r.text.lines().count(), expected);
        let r = app.get("/v1/audit/verify", &app.admin).await;
        assert_eq!(r.json["valid"], true, "{}", r.text);
    }
);
