//! The OpenAPI document served at `/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::routes;

/// Every endpoint of the service.
#[derive(OpenApi)]
#[openapi(
    info(title = "zk-receipts", description = "Confidential receipts and their zero-knowledge proofs"),
    paths(
        routes::ops::index,
        routes::ops::docs,
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
        routes::keys::list,
        routes::keys::create,
        routes::keys::get,
        routes::keys::rotate,
        routes::proofs::create,
        routes::proofs::get,
        routes::proofs::cancel,
        routes::proofs::disclose,
        routes::proofs::workers,
        routes::verify::verify,
        routes::verify::verify_batch,
        routes::registries::add_member,
        routes::registries::info,
        routes::registries::path,
        routes::circuits::list,
        routes::circuits::verification_key,
        routes::signing_keys::list,
    ),
    components(schemas(
        super::error::ErrorBody,
        super::error::ErrorDetail,
        // Referenced from query parameters, which utoipa does not collect.
        routes::audit::Format,
    )),
    modifiers(&Bearer, &OperationIds)
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

/// Handlers in different modules share names (`create`, `get`), which
/// utoipa uses as operation ids; OpenAPI wants them unique, and client
/// generators name their methods after them. Each becomes `{tag}_{name}`.
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for op in operations.into_iter().flatten() {
                let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
                if let (Some(tag), Some(id)) = (tag, op.operation_id.as_mut())
                    && !id.starts_with(&format!("{tag}_"))
                {
                    *id = format!("{tag}_{id}");
                }
            }
        }
    }
}
