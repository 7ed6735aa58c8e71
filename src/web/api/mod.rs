//! The JSON API under `/api/v1`, authenticated with `Authorization: Bearer <key>`.
//! Every route is listed in `openapi.rs`; the tenancy test walks that list.

pub mod audit;
pub mod auth;
pub mod consent;
pub mod consent_receipts;
pub mod docs;
pub mod exchange;
pub mod incident_letters;
pub mod incidents;
pub mod inventory;
pub mod openapi;
pub mod policies;
pub mod problem;
pub mod query;
pub mod records;
pub mod requests;
pub mod retention;
pub mod subjects;
pub mod workspace;

use crate::error::AppError;
use actix_web::error::JsonPayloadError;
use actix_web::{HttpRequest, web};
pub use problem::ApiError;
pub use query::ApiQuery;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/openapi.json", web::get().to(openapi::serve))
        .route("/api/docs", web::get().to(docs::page))
        .service(
            web::scope("/api/v1")
                .app_data(query::config())
                .route("/workspace", web::get().to(workspace::get))
                .route("/workspace", web::patch().to(workspace::patch))
                .route("/audit", web::get().to(audit::list))
                .route("/audit/{seq}", web::get().to(audit::get))
                .route("/inventory/ropa", web::get().to(exchange::export_ropa))
                .route(
                    "/inventory/fideslang",
                    web::get().to(exchange::export_fideslang),
                )
                .route(
                    "/inventory/fideslang",
                    web::post().to(exchange::import_fideslang),
                )
                .route(
                    "/consent/receipts/verify",
                    web::post().to(consent_receipts::verify),
                )
                .route("/records", web::post().to(records::post))
                .route(
                    "/legal-holds/{key}/records",
                    web::get().to(subjects::held_records),
                )
                .route("/consent", web::post().to(consent::record))
                .route("/consent/{subject}", web::get().to(consent::get))
                .route("/requests", web::post().to(requests::create))
                .route("/requests", web::get().to(requests::list))
                .route("/requests/{id}", web::get().to(requests::get))
                .route("/requests/{id}/start", web::post().to(requests::start))
                .route("/requests/{id}/fulfil", web::post().to(requests::fulfil))
                .route(
                    "/requests/{id}/tasks/{system}/complete",
                    web::post().to(requests::complete_task),
                )
                .route(
                    "/requests/{id}/complete",
                    web::post().to(requests::complete),
                )
                .route("/requests/{id}/package", web::get().to(requests::package))
                .route("/requests/{id}/deny", web::post().to(requests::deny))
                .route("/requests/{id}/extend", web::post().to(requests::extend))
                .route("/incidents", web::post().to(incidents::register))
                .route("/incidents", web::get().to(incidents::list))
                // Before `{id}`, which would take "export" for an id.
                .route("/incidents/export", web::get().to(incidents::export))
                .route("/incidents/{id}", web::get().to(incidents::get))
                .route("/incidents/{id}", web::patch().to(incidents::update))
                .route(
                    "/incidents/{id}/not-notified",
                    web::post().to(incidents::not_notified),
                )
                .route("/incidents/{id}/close", web::post().to(incidents::close))
                .route("/incidents/{id}/reopen", web::post().to(incidents::reopen))
                .route(
                    "/incidents/{id}/notice/phases",
                    web::post().to(incidents::record_phase),
                )
                .route("/incidents/{id}/notice", web::get().to(incidents::notice))
                .route(
                    "/incidents/{id}/notice",
                    web::put().to(incidents::edit_notice),
                )
                .route(
                    "/incidents/{id}/notice.html",
                    web::get().to(incidents::notice_html),
                )
                .route(
                    "/incidents/{id}/letter",
                    web::get().to(incident_letters::letter),
                )
                .route(
                    "/incidents/{id}/letter",
                    web::post().to(incident_letters::send),
                )
                .route("/retention/rules", web::get().to(retention::rules))
                .route("/retention/runs", web::get().to(retention::runs))
                .route("/retention/runs", web::post().to(retention::start))
                .route("/retention/runs/{id}", web::get().to(retention::run))
                .route("/subjects", web::post().to(subjects::put))
                .route("/subjects", web::get().to(subjects::list))
                .route("/subjects/{external_id}", web::get().to(subjects::get))
                .route(
                    "/subjects/{external_id}/close",
                    web::post().to(subjects::close),
                )
                .route(
                    "/subjects/{external_id}/restrict",
                    web::post().to(subjects::restrict),
                )
                .route(
                    "/subjects/{external_id}/unrestrict",
                    web::post().to(subjects::unrestrict),
                )
                .route(
                    "/subjects/{external_id}/erase",
                    web::post().to(subjects::erase),
                )
                .route(
                    "/subjects/{external_id}/records",
                    web::get().to(subjects::records),
                )
                .configure(inventory::routes)
                .configure(policies::routes)
                .default_service(web::to(no_route)),
        );
}

/// A request no route took: 405 with `Allow` for a path the OpenAPI document lists under other
/// methods, else 404.
async fn no_route(req: HttpRequest) -> actix_web::HttpResponse {
    match openapi::methods_at(req.path()) {
        Some(allow) if !allow.is_empty() => problem::response(&AppError::MethodNotAllowed {
            path: req.path().to_owned(),
            allow,
        }),
        _ => super::not_found(req).await,
    }
}

/// A JSON body that does not parse: syntax errors are 400, well-formed JSON of the wrong shape
/// is 422. For handlers that parse bodies themselves (NDJSON, optional bodies).
pub fn json_body_error(e: &serde_json::Error) -> AppError {
    if e.is_data() {
        AppError::Validation(crate::domain::ValidationErrors::single(
            "body",
            e.to_string(),
        ))
    } else {
        AppError::BadRequest(format!("the body is not valid JSON: {e}"))
    }
}

/// An empty body, or `null`, is the default; anything else must be a JSON object of `T` (a body
/// that does not parse is an error, never taken for "no body").
pub fn optional_json<T: Default + serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError(json_body_error(&e)))?;
    if value.is_null() {
        return Ok(T::default());
    }
    from_object(value)
}

/// A body that must be a JSON object of `T`, read from bytes.
pub fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError(json_body_error(&e)))?;
    from_object(value)
}

/// Only an object: serde would also read a struct from an array of its fields in order
/// (`["cus_9"]` created a subject), which the OpenAPI document does not describe.
fn from_object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError(AppError::Validation(
            crate::domain::ValidationErrors::single("body", "expected a JSON object"),
        )));
    }
    serde_json::from_value(value).map_err(|e| ApiError(json_body_error(&e)))
}

/// A JSON body that must be an object of `T`, for every API handler that takes one. It reads
/// through [`json_config`] (size, media type, syntax), then refuses anything but an object (see
/// [`from_object`]). `tests/api/layers.rs` keeps `web::Json` out of the API's handlers.
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = value.await?.into_inner();
            Ok(JsonObject(from_object(value)?))
        })
    }
}

/// JSON bodies: the size limit is enforced by `body_limit` (declared lengths) and here (streamed
/// bodies); syntax errors are 400, well-formed JSON of the wrong shape is 422.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req: &HttpRequest| {
            let app_error = match &err {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => AppError::PayloadTooLarge { limit },
                JsonPayloadError::ContentType => AppError::UnsupportedMediaType(
                    "send the body as Content-Type: application/json".into(),
                ),
                JsonPayloadError::Deserialize(e) => json_body_error(e),
                other => AppError::BadRequest(format!("the body could not be read: {other}")),
            };
            ApiError(app_error).into()
        })
}
