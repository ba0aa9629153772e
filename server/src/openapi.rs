//! The OpenAPI document served at `/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

/// What the document says beside its paths: title, shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(title = "zk-receipts", description = "Confidential receipts and their zero-knowledge proofs"),
    components(schemas(
        crate::error::ErrorBody,
        crate::error::ErrorDetail,
        // Referenced from query parameters, which utoipa does not collect.
        routes::audit::Format,
        crate::job_list::CircuitName,
    ))
)]
struct ApiDoc;

/// The OpenAPI document of every route [`crate::router`] serves, generated
/// from the same route list.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(routes::public().merge(routes::v1()).into_openapi());
    Bearer.modify(&mut doc);
    OperationIds.modify(&mut doc);
    doc
}

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
