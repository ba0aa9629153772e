//! HTTP handlers, one module per resource, each with its own router. The
//! routers are the one list of routes: the OpenAPI document is generated
//! from them (`utoipa_axum::routes!` takes each handler's method and path
//! from its `#[utoipa::path]`), so a route cannot be missing from it.

pub(crate) mod audit;
pub(crate) mod circuits;
pub(crate) mod keys;
pub(crate) mod ops;
pub(crate) mod policies;
pub(crate) mod proofs;
pub(crate) mod registries;
pub(crate) mod signing_keys;
pub(crate) mod tokens;
pub(crate) mod transactions;
pub(crate) mod verify;

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
