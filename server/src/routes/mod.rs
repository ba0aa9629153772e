//! HTTP handlers, one module per resource, each with its own router. The
//! routers are the one list of routes: the OpenAPI document is generated
//! from them (`utoipa_axum::routes!` takes each handler's method and path
//! from its `#[utoipa::path]`), so a route cannot be missing from it.

pub mod audit;
pub mod circuits;
pub mod keys;
pub mod ops;
pub mod policies;
pub mod proofs;
pub mod registries;
pub mod signing_keys;
pub mod tokens;
pub mod transactions;
pub mod verify;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// The routes anyone may call.
pub(crate) fn public() -> OpenApiRouter<AppState> {
    ops::router()
}

/// The `/v1` routes, which require a bearer token.
pub(crate) fn v1() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(tokens::router())
        .merge(policies::router())
        .merge(audit::router())
        .merge(transactions::router())
        .merge(keys::router())
        .merge(proofs::router())
        .merge(verify::router())
        .merge(registries::router())
        .merge(circuits::router())
        .merge(signing_keys::router())
}
