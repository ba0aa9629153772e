//! The OpenAPI document served at `/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::routes;

/// Every endpoint of the service.
#[derive(OpenApi)]
#[openapi(
    info(title = "zk-receipts", description = "Confidential receipts and their zero-knowledge proofs"),
    paths(
        routes::ops::healthz,
        routes::ops::readyz,
        routes::ops::openapi,
        super::metrics::metrics,
        routes::tokens::create,
        routes::tokens::list,
        routes::tokens::revoke,
        routes::policies::list,
        routes::policies::get,
        routes::policies::create,
        routes::policies::update,
        routes::policies::retire,
        routes::audit::events,
        routes::audit::verify,
        routes::audit::checkpoints,
        routes::transactions::create,
        routes::transactions::get,
        routes::transactions::access,
        routes::transactions::escrow,
        routes::keys::create,
        routes::keys::get,
        routes::keys::rotate,
        routes::proofs::create,
        routes::proofs::get,
        routes::proofs::cancel,
        routes::proofs::disclose,
        routes::verify::verify,
        routes::verify::verify_batch,
        routes::registries::add_member,
        routes::registries::info,
        routes::registries::path,
        routes::circuits::list,
        routes::circuits::verification_key,
        routes::signing_keys::list,
    ),
    components(schemas(super::error::ErrorBody, super::error::ErrorDetail)),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
