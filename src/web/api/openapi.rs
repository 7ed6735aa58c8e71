//! The OpenAPI 3.1 document, generated from the handlers' annotations. A route missing here is a
//! route the tenancy test does not walk, so every API route must be listed.
//!
//! The errors every operation of a kind can answer are added in one place, [`CommonResponses`]:
//! 401 and 403 to each operation with a key, and 400, 413, 415 (when the body is required) and
//! 422 to each with a body. The handlers' annotations name only their own errors, among them how
//! a query string that does not parse is answered: 400 where `query_config` answers it, 422 where
//! the handler names the parameter itself.
//! `tests/api/schemathesis.rs` holds the document to what the server answers.

use std::sync::OnceLock;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Lethe API", description = "Personal-data records, consent, requests, incidents and inventory of one workspace. \
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
        super::subjects::list,
        super::subjects::get,
        super::subjects::close,
        super::subjects::restrict,
        super::subjects::unrestrict,
        super::subjects::erase,
        super::subjects::records,
        super::subjects::held_records,
        super::consent::record,
        super::consent::get,
        super::requests::create,
        super::requests::list,
        super::requests::get,
        super::requests::start,
        super::requests::fulfil,
        super::requests::complete_task,
        super::requests::complete,
        super::requests::deny,
        super::requests::extend,
        super::requests::package,
        super::retention::rules,
        super::retention::runs,
        super::retention::run,
        super::retention::start,
        super::consent_receipts::verify,
        super::incidents::register,
        super::incidents::list,
        super::incidents::get,
        super::incidents::update,
        super::incidents::not_notified,
        super::incidents::close,
        super::incidents::reopen,
        super::incidents::record_phase,
        super::incidents::notice,
        super::incidents::edit_notice,
        super::incidents::notice_html,
        super::incidents::export,
        super::incident_letters::letter,
        super::incident_letters::send,
    ),
    components(schemas(
        super::problem::Problem,
        super::exchange::RopaFormat,
        super::incidents::RegisterFormat
    )),
    modifiers(&BearerKey, &CommonResponses),
    tags(
        (name = "workspace", description = "The key's workspace"),
        (name = "vault", description = "Subjects and their personal-data records, sealed per person"),
        (name = "audit", description = "The tamper-evident audit log"),
        (name = "policy", description = "Privacy policy versions rendered from the inventory"),
        (name = "inventory", description = "What personal data is collected, why, where it lives, who receives it and how long it is kept"),
        (name = "requests", description = "Data subject requests: access, export, correction, erasure, restriction, objection and withdrawal of consent, with their legal deadlines and timelines"),
        (name = "retention", description = "Retention rules at work: their runs, dry runs and claims checked against the data"),
        (name = "consent", description = "Consent decisions and the signed receipts people keep of them"),
        (name = "incidents", description = "The breach register: incidents with the 72-hour deadline to notify the authority, the people and records affected counted in the vault, the notice and its phases, and the register's export"),
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

/// The errors that follow from what an operation takes, whichever handler serves it.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for (_, operation) in operations_mut(item) {
                add_common_responses(operation);
            }
        }
    }
}

fn add_common_responses(operation: &mut Operation) {
    if let Some(scopes) = required_scopes(operation) {
        add_problem(
            operation,
            401,
            "No key, or a key that is unknown or revoked (`WWW-Authenticate: Bearer`)",
        );
        if !scopes.is_empty() {
            let wanted = scopes.join(", ");
            add_problem(operation, 403, &format!("The key lacks {wanted}"));
        }
    }
    let body = match &operation.request_body {
        Some(RefOr::T(body)) => Some(body_required(body)),
        _ => None,
    };
    if let Some(required) = body {
        add_problem(
            operation,
            400,
            "The body does not parse (malformed JSON, NDJSON or YAML)",
        );
        add_problem(operation, 413, "The body is larger than the server's limit");
        // Optional bodies are read as they come; only a required body has a media type to refuse.
        if required {
            add_problem(
                operation,
                415,
                "The body is not of a media type listed here",
            );
        }
        add_problem(
            operation,
            422,
            "The body is well-formed but not valid: each field and what is wrong with it",
        );
    }
}

/// The scopes an operation's key needs, or `None` for an operation without a key.
fn required_scopes(operation: &Operation) -> Option<Vec<String>> {
    let requirements = operation.security.as_ref()?;
    let mut scopes = Vec::new();
    let mut keyed = false;
    for requirement in requirements {
        let value = serde_json::to_value(requirement).unwrap_or_default();
        for (_, wanted) in value.as_object().into_iter().flatten() {
            keyed = true;
            scopes.extend(
                wanted
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().map(str::to_owned)),
            );
        }
    }
    keyed.then_some(scopes)
}

fn body_required(body: &RequestBody) -> bool {
    matches!(body.required, Some(Required::True))
}

/// Adds a problem+json response unless the operation describes this status itself.
fn add_problem(operation: &mut Operation, status: u16, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    Content::new(Some(Ref::from_schema_name("Problem"))),
                )
                .build()
                .into()
        });
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("PUT", item.put.as_mut()),
        ("POST", item.post.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("PATCH", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
}

pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(ApiDoc::openapi)
}

/// The methods the document lists for the path a request took, when a path of the document
/// matches it (`{name}` matches one segment). The API answers 405 with these in `Allow`.
pub fn methods_at(path: &str) -> Option<Vec<&'static str>> {
    let segments: Vec<&str> = path.split('/').collect();
    document().paths.paths.iter().find_map(|(template, item)| {
        let pattern: Vec<&str> = template.split('/').collect();
        let matches = pattern.len() == segments.len()
            && pattern.iter().zip(&segments).all(|(p, s)| {
                if p.starts_with('{') && p.ends_with('}') {
                    !s.is_empty()
                } else {
                    p == s
                }
            });
        matches.then(|| {
            let mut item = item.clone();
            operations_mut(&mut item)
                .map(|(method, _)| method)
                .collect()
        })
    })
}

pub async fn serve() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(document().to_json().unwrap_or_default())
}
