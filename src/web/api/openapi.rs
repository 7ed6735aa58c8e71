//! The OpenAPI 3.1 document, generated from the handlers' annotations. A route missing here is a
//! route the tenancy test does not walk, so every API route must be listed.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Lethe API", description = "Personal-data records, consent, requests and inventory of one workspace. \
        Authenticate with `Authorization: Bearer <key>`; the key decides the workspace. Errors are RFC 9457 problem details."),
    paths(
        super::workspace::get,
        super::workspace::patch,
        super::audit::list,
        super::audit::get,
    ),
    components(schemas(super::problem::Problem)),
    modifiers(&BearerKey),
    tags(
        (name = "workspace", description = "The key's workspace"),
        (name = "audit", description = "The tamper-evident audit log"),
    )
)]
pub struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("lethe_<prefix>_<secret>")
                    .build(),
            ),
        );
    }
}

pub async fn serve() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(ApiDoc::openapi().to_json().unwrap_or_default())
}
