//! The documents a user starts from: the OpenAPI document (valid, complete,
//! and true of the real router), the Swagger UI page served from the binary,
//! and the index at `/` that links them.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;

use crate::helpers::{Reply, TestApp, api_test};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Routes that are not API operations: the docs page's own files.
const UNDOCUMENTED_ROUTES: [&str; 2] = ["/docs/", "/docs/{*file}"];

async fn document(app: &TestApp) -> Value {
    let r = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.json.is_object(), "{}", r.text);
    r.json
}

/// `{name}` segments of a path template.
fn template_params(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_string)
        .collect()
}

/// `(path, method)` of every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((path.clone(), m.to_string(), op.clone()));
            }
        }
    }
    out
}

/// The sources that build the router: `(file, text)`.
const ROUTER_SOURCES: [(&str, &str); 14] = [
    ("lib.rs", include_str!("../../../server/src/lib.rs")),
    ("metrics.rs", include_str!("../../../server/src/metrics.rs")),
    (
        "routes/mod.rs",
        include_str!("../../../server/src/routes/mod.rs"),
    ),
    (
        "routes/ops.rs",
        include_str!("../../../server/src/routes/ops.rs"),
    ),
    (
        "routes/tokens.rs",
        include_str!("../../../server/src/routes/tokens.rs"),
    ),
    (
        "routes/policies.rs",
        include_str!("../../../server/src/routes/policies.rs"),
    ),
    (
        "routes/audit.rs",
        include_str!("../../../server/src/routes/audit.rs"),
    ),
    (
        "routes/transactions.rs",
        include_str!("../../../server/src/routes/transactions.rs"),
    ),
    (
        "routes/keys.rs",
        include_str!("../../../server/src/routes/keys.rs"),
    ),
    (
        "routes/proofs.rs",
        include_str!("../../../server/src/routes/proofs.rs"),
    ),
    (
        "routes/verify.rs",
        include_str!("../../../server/src/routes/verify.rs"),
    ),
    (
        "routes/registries.rs",
        include_str!("../../../server/src/routes/registries.rs"),
    ),
    (
        "routes/circuits.rs",
        include_str!("../../../server/src/routes/circuits.rs"),
    ),
    (
        "routes/signing_keys.rs",
        include_str!("../../../server/src/routes/signing_keys.rs"),
    ),
];

/// The text of a call's arguments: `call` starts after the `(`.
fn call_args(call: &str) -> &str {
    let mut depth = 1;
    for (i, c) in call.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &call[..i];
                }
            }
            _ => {}
        }
    }
    call
}

/// `(path, method)` of each handler with a `#[utoipa::path]` in `source`,
/// by handler name.
fn attributed_handlers(source: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for chunk in source.split("#[utoipa::path(").skip(1) {
        let method = chunk
            .split(',')
            .next()
            .expect("a method")
            .trim()
            .to_string();
        let path = chunk
            .split_once("path = \"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(p, _)| p.to_string())
            .expect("a path");
        let name = chunk
            .split_once("async fn ")
            .and_then(|(_, rest)| rest.split_once('('))
            .map(|(n, _)| n.trim().to_string())
            .expect("the handler");
        out.insert(name, (path, method));
    }
    out
}

/// The routes the router declares, read from its sources: `(path, method)`.
/// A handler enters it either through `routes!(...)`, which takes method
/// and path from the handler's `#[utoipa::path]` (so it is documented by
/// construction), or through a plain `.route("path", ...)`, which is not
/// documented: those must be the ones in `UNDOCUMENTED_ROUTES`.
fn router_routes() -> BTreeSet<(String, String)> {
    let handlers: BTreeMap<&str, BTreeMap<String, (String, String)>> = ROUTER_SOURCES
        .iter()
        .map(|(file, text)| (*file, attributed_handlers(text)))
        .collect();
    let mut routes = BTreeSet::new();
    for (file, text) in ROUTER_SOURCES {
        for call in text.split("routes!(").skip(1) {
            for handler in call_args(call).split(',') {
                let handler = handler.trim();
                if handler.is_empty() {
                    continue;
                }
                let (in_file, name) = match handler.rsplit_once("::") {
                    Some(("crate::metrics", name)) => ("metrics.rs", name),
                    Some((module, _)) => panic!("{file}: handler in {module}"),
                    None => (file, handler),
                };
                let route = handlers[in_file]
                    .get(name)
                    .unwrap_or_else(|| panic!("{file}: {name} has no #[utoipa::path]"));
                routes.insert((route.0.clone(), route.1.clone()));
            }
        }
        for call in text.split(".route(").skip(1) {
            let call = call_args(call);
            let path = call
                .trim_start()
                .strip_prefix('"')
                .and_then(|s| s.split_once('"'))
                .map(|(p, _)| p)
                .expect("a route path literal");
            assert!(
                UNDOCUMENTED_ROUTES.contains(&path),
                "{file}: {path} is routed with .route(), outside the OpenAPI document"
            );
            let handlers = call.split_once(',').map_or("", |(_, h)| h);
            for m in METHODS {
                let is_call = handlers.match_indices(&format!("{m}(")).any(|(i, _)| {
                    i == 0
                        || !handlers[..i]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if is_call {
                    routes.insert((path.to_string(), m.to_string()));
                }
            }
        }
    }
    routes
}

/// A value of the parameter's schema type that the service accepts.
fn sample(doc: &Value, param: &Value) -> String {
    if let Some(example) = param["example"].as_str() {
        return example.to_string();
    }
    let mut schema = &param["schema"];
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or_default();
        schema = &doc["components"]["schemas"][name];
    }
    // Option<T> is `oneOf: [null, T]` or `type: [T, "null"]`.
    if let Some(alts) = schema["oneOf"].as_array() {
        let inner = alts.iter().find(|a| a["type"] != "null").expect("a type");
        return sample(doc, &serde_json::json!({ "schema": inner }));
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.as_str().expect("string enum").to_string();
    }
    let ty = match &schema["type"] {
        Value::Array(t) => t.iter().find(|t| *t != "null").cloned().unwrap_or_default(),
        t => t.clone(),
    };
    match ty.as_str() {
        Some("integer" | "number") => "1".into(),
        Some("boolean") => "true".into(),
        _ => "1700000000".into(),
    }
}

/// The path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "x1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

api_test!(openapi_document_is_valid_and_complete, |app| {
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let ops = operations(&doc);
    assert!(ops.len() > 25, "only {} operations", ops.len());

    // Every reference resolves.
    let text = doc.to_string();
    for (i, _) in text.match_indices("\"$ref\":\"") {
        let rest = &text[i + 8..];
        let target = &rest[..rest.find('"').expect("end of $ref")];
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {target}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "$ref {target} does not resolve"
        );
    }

    let mut ids = BTreeMap::new();
    for (path, method, op) in &ops {
        let at = format!("{} {path}", method.to_uppercase());
        // Path parameters are exactly the template's; nothing else is `in: path`.
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let mut declared_path = BTreeSet::new();
        for p in &params {
            let name = p["name"].as_str().expect("parameter name").to_string();
            match p["in"].as_str() {
                Some("path") => {
                    assert_eq!(
                        p["required"], true,
                        "{at}: path parameter {name} not required"
                    );
                    assert!(declared_path.insert(name), "{at}: duplicate parameter");
                }
                Some("query" | "header" | "cookie") => {}
                other => panic!("{at}: parameter {name} in {other:?}"),
            }
        }
        assert_eq!(
            declared_path,
            template_params(path),
            "{at}: path parameters"
        );
        // Operation ids name client methods: present and unique.
        let id = op["operationId"].as_str().expect("operationId").to_string();
        if let Some(other) = ids.insert(id.clone(), at.clone()) {
            panic!("operationId {id} used by {other} and {at}");
        }
    }

    // The filters that generated clients got wrong are query parameters.
    let query_of = |path: &str| -> BTreeSet<String> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    for (path, names) in [
        (
            "/v1/audit/events",
            &[
                "since", "until", "actor", "action", "format", "limit", "purpose",
            ][..],
        ),
        ("/v1/audit/verify", &["purpose"][..]),
        ("/v1/registries/{name}", &["history"][..]),
    ] {
        let query = query_of(path);
        for n in names {
            assert!(query.contains(*n), "{path}: {n} is not a query parameter");
        }
    }

    // Every route of the router is documented, and every documented
    // operation is routed.
    let documented: BTreeSet<(String, String)> =
        ops.iter().map(|(p, m, _)| (p.clone(), m.clone())).collect();
    let routed = router_routes();
    assert!(routed.len() > 25, "parsed only {} routes", routed.len());
    for (path, method) in &routed {
        if UNDOCUMENTED_ROUTES.contains(&path.as_str()) {
            continue;
        }
        assert!(
            documented.contains(&(path.clone(), method.clone())),
            "{} {path} is routed but not in the OpenAPI document",
            method.to_uppercase()
        );
    }
    let unknown_route = app.get("/no/such/route", &app.admin).await;
    assert_eq!(unknown_route.status, StatusCode::NOT_FOUND);
    for (path, method) in &documented {
        assert!(
            routed.contains(&(path.clone(), method.clone())),
            "{} {path} is documented but not in router()",
            method.to_uppercase()
        );
        // And the real router answers it: not the unknown-route fallback,
        // not 405.
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let r = app.call(m, &concrete(path), Some(&app.admin), None).await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !(r.status == StatusCode::NOT_FOUND && r.text == unknown_route.text),
            "{method} {path} is not routed: {}",
            r.text
        );
    }
});

api_test!(declared_query_parameters_are_accepted, |app| {
    let r = app
        .post(
            "/v1/registries/miners/members",
            &app.admin,
            serde_json::json!({"member": "3"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // A job for the job routes' parameters (it stays queued: no keys).
    let client = app.token("client-a", &[zkr_server::Role::Client]).await;
    let r = app
        .post(
            "/v1/proofs",
            &client,
            serde_json::json!({"circuit": "range",
                "input": {"value": "50", "blind": "7", "min": "10", "max": "100"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let job = r.json["job_id"].as_str().expect("job id").to_string();
    let doc = document(&app).await;
    let mut checked = 0;
    for (path, method, op) in operations(&doc) {
        let query: Vec<String> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .map(|p| {
                let name = p["name"].as_str().expect("name");
                format!("{name}={}", sample(&doc, p))
            })
            .collect();
        if query.is_empty() {
            continue;
        }
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let base = if path == "/v1/proofs/{id}" {
            format!("/v1/proofs/{job}")
        } else {
            concrete(&path).replace("x1", "miners")
        };
        // Each parameter alone, then all together (the admin is allowed
        // everything these read, so nothing but the parameters can fail).
        for q in query.iter().cloned().chain([query.join("&")]) {
            let url = format!("{base}?{q}");
            let r = app.call(m.clone(), &url, Some(&app.admin), None).await;
            assert_ne!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{method} {url}: {}",
                r.text
            );
            assert!(
                r.status.is_success(),
                "{method} {url}: {} {}",
                r.status,
                r.text
            );
            checked += 1;
        }
        // The check can fail: an undeclared parameter is refused.
        let url = format!("{base}?not_a_parameter=1");
        let r = app.call(m, &url, Some(&app.admin), None).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{method} {url}: {}",
            r.text
        );
    }
    assert!(checked >= 10, "only {checked} parameter requests");
});

async fn get_plain(app: &TestApp, path: &str, accept: Option<&str>) -> Reply {
    let mut req = Request::builder().method(Method::GET).uri(path);
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    app.send(req.body(Body::empty()).expect("request")).await
}

/// `src="..."` and `href="..."` values of an HTML page.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_string());
            }
        }
    }
    out
}

api_test!(docs_page_is_served_from_the_binary, |app| {
    // The router is driven in-process: no network, so everything the page
    // needs must come out of the binary.
    let r = get_plain(&app, "/docs", None).await;
    assert!(r.status.is_redirection(), "{}", r.status);
    assert_eq!(r.headers[header::LOCATION], "/docs/");

    let page = get_plain(&app, "/docs/", Some("text/html")).await;
    assert_eq!(page.status, StatusCode::OK);
    let ct = page.headers[header::CONTENT_TYPE].to_str().expect("ascii");
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(page.text.contains("swagger-ui"), "{}", page.text);
    let assets = links(&page.text);
    assert!(assets.len() >= 3, "{assets:?}");
    for asset in &assets {
        assert!(
            !asset.contains("://") && !asset.starts_with("//"),
            "the page loads {asset} from elsewhere"
        );
        let path = format!("/docs/{}", asset.trim_start_matches("./"));
        let r = get_plain(&app, &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(!r.text.is_empty(), "{path}");
    }
    // The page reads this service's own document.
    let init = get_plain(&app, "/docs/swagger-initializer.js", None).await;
    assert_eq!(init.status, StatusCode::OK);
    assert!(init.text.contains("/openapi.json"), "{}", init.text);

    let missing = get_plain(&app, "/docs/no-such-file.js", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "not_found");
});

api_test!(index_links_docs_openapi_and_health, |app| {
    let r = get_plain(&app, "/", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["docs"], "/docs/");
    assert_eq!(r.json["openapi"], "/openapi.json");
    assert_eq!(r.json["health"], "/healthz");
    for key in ["docs", "openapi", "health", "ready", "metrics"] {
        let link = r.json[key].as_str().expect(key);
        let target = get_plain(&app, link, None).await;
        assert_eq!(target.status, StatusCode::OK, "{key}: {link}");
    }

    let html = get_plain(&app, "/", Some("text/html,application/xhtml+xml")).await;
    assert_eq!(html.status, StatusCode::OK);
    let ct = html.headers[header::CONTENT_TYPE].to_str().expect("ascii");
    assert!(ct.starts_with("text/html"), "{ct}");
    let hrefs = links(&html.text);
    for want in ["/docs/", "/openapi.json", "/healthz"] {
        assert!(
            hrefs.iter().any(|h| h == want),
            "{want} not linked: {hrefs:?}"
        );
    }
});
