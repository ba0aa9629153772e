//! One log line per request: method, route template, status, duration and
//! the authenticated principal. Never the raw path or query (ids, filters),
//! a header (the token) or a body.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// Who made a request, put in the response's extensions by authentication
/// so that the outermost layer can log it.
#[derive(Debug, Clone)]
pub(crate) struct PrincipalId(pub String);

/// The method as logged: a fixed set, anything else `other`, so that a
/// client cannot write what it likes into the log.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: logs the request once its response is ready.
pub(crate) async fn log(req: Request, next: Next) -> Response {
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    let response = next.run(req).await;
    let principal = response
        .extensions()
        .get::<PrincipalId>()
        .map_or("-", |p| p.0.as_str());
    tracing::info!(
        target: "zkr::server::access",
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        ms = (start.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
        principal = %principal,
        "request"
    );
    response
}
