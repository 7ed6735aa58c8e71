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
        super::inventory::whole,
        super::inventory::check,
        super::inventory::taxonomy,
        super::inventory::get_category,
        super::inventory::put_category,
        super::inventory::delete_category,
        super::inventory::get_purpose,
        super::inventory::put_purpose,
        super::inventory::delete_purpose,
        super::inventory::get_system,
        super::inventory::put_system,
        super::inventory::delete_system,
        super::inventory::get_recipient,
        super::inventory::put_recipient,
        super::inventory::delete_recipient,
        super::inventory::get_retention_rule,
        super::inventory::put_retention_rule,
        super::inventory::delete_retention_rule,
        super::inventory::get_legal_hold,
        super::inventory::put_legal_hold,
        super::inventory::delete_legal_hold,
        super::exchange::export_ropa,
        super::exchange::export_fideslang,
        super::exchange::import_fideslang,
        super::policies::list,
        super::policies::create,
        super::policies::get,
        super::policies::update,
        super::policies::delete,
        super::policies::publish,
        super::policies::review,
        super::policies::diff,
        super::policies::public_status,
        super::records::post,
        super::subjects::put,
        super::subjects::find,
        super::subjects::get,
        super::subjects::close,
        super::subjects::restrict,
        super::subjects::unrestrict,
        super::subjects::erase,
        super::subjects::records,
        super::retention::rules,
        super::retention::runs,
        super::retention::run,
        super::retention::start,
    ),
    components(schemas(super::problem::Problem, super::exchange::RopaFormat)),
    modifiers(&BearerKey),
    tags(
        (name = "workspace", description = "The key's workspace"),
        (name = "vault", description = "Subjects and their personal-data records, sealed per person"),
        (name = "audit", description = "The tamper-evident audit log"),
        (name = "policy", description = "Privacy policy versions rendered from the inventory"),
        (name = "inventory", description = "What personal data is collected, why, where it lives, who receives it and how long it is kept"),
        (name = "retention", description = "Retention rules at work: their runs, dry runs and claims checked against the data"),
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
