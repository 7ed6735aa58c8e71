//! The inventory out and in: records of processing (GDPR Art. 30) as JSON or CSV, and the
//! inventory as fideslang-style YAML, exported and imported.
//!
//! fideslang (<https://github.com/ethyca/fideslang>) is © Ethyca, Inc., licensed CC BY 4.0; see
//! `domain::fideslang` for the mapping.

use super::ApiError;
use super::auth::ApiKey;
use super::problem::Problem;
use crate::domain::apikey::Scope;
use crate::domain::import_plan::ImportPlan;
use crate::domain::{ValidationErrors, fideslang, ropa};
use crate::error::AppError;
use crate::services::inventory as inventory_service;
use crate::services::inventory::{self as service, ImportSummary};
use crate::web::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RopaFormat {
    #[default]
    Json,
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RopaQuery {
    /// `json` (default) or `csv` (one row per purpose, lists joined with "; ").
    pub format: Option<RopaFormat>,
}

/// Records of processing activities (GDPR Art. 30(1)): one record per purpose, with the
/// controller, legal basis, kinds of person, categories, recipients, transfers out of the EEA,
/// retention, legal holds and the security measures Lethe applies.
#[utoipa::path(
    get, path = "/api/v1/inventory/ropa", tag = "inventory", operation_id = "export_ropa",
    security(("api_key" = ["inventory:read"])),
    params(RopaQuery),
    responses(
        (status = 200, description = "The records, as JSON or as a CSV attachment", body = ropa::Ropa,
            content(
                (ropa::Ropa = "application/json"),
                (String = "text/csv"),
            )),
        (status = 403, description = "The key lacks inventory:read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown format", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn export_ropa(
    state: web::Data<AppState>,
    key: ApiKey,
    query: Result<web::Query<RopaQuery>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryRead)?;
    let format = query
        .map_err(|e| {
            AppError::Validation(ValidationErrors::single(
                "format",
                format!("use format=json or format=csv ({e})"),
            ))
        })?
        .into_inner()
        .format
        .unwrap_or_default();
    let scope = key.workspace;
    let (workspace, inventory) = state
        .db
        .run(move |db| inventory_service::load_with_workspace(db, &scope))
        .await?;
    let records = ropa::build(&workspace, &inventory, chrono::Utc::now());
    Ok(match format {
        RopaFormat::Json => HttpResponse::Ok().json(records),
        RopaFormat::Csv => {
            let csv = ropa::to_csv(&records).map_err(AppError::internal)?;
            HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"ropa-{}.csv\"", workspace.slug),
                ))
                .body(csv)
        }
    })
}

/// The data categories, kinds of person (as data subjects), purposes (as data uses) and systems
/// as fideslang YAML that fideslang's own models accept. Lethe's
/// facts that fideslang has no field for travel in a `lethe:` map on each item.
#[utoipa::path(
    get, path = "/api/v1/inventory/fideslang", tag = "inventory", operation_id = "export_fideslang",
    security(("api_key" = ["inventory:read"])),
    responses(
        (status = 200, description = "A YAML mapping of `data_category`, `data_subject`, `data_use` and `system` lists", body = Object, content_type = "application/yaml"),
        (status = 403, description = "The key lacks inventory:read", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn export_fideslang(
    state: web::Data<AppState>,
    key: ApiKey,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryRead)?;
    let scope = key.workspace;
    let inventory = state.db.run(move |db| service::load(db, &scope)).await?;
    let yaml = fideslang::to_yaml(&fideslang::export(&inventory)).map_err(AppError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/yaml; charset=utf-8")
        .body(yaml))
}

const YAML_TYPES: &[&str] = &[
    "application/yaml",
    "text/yaml",
    "application/x-yaml",
    "text/x-yaml",
];

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// `true`: check the document and say what the import would create, replace and leave,
    /// writing nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The answer to an import: what was written, or with `dry_run=true` what would be.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ImportOutcome {
    Imported(ImportSummary),
    DryRun(Box<ImportPlan>),
}

/// Imports `data_category`, `data_use` and `system` lists (creating or replacing by key), all or
/// nothing; `data_subject` names the kinds of person that declarations list. A data use takes its
/// `legal_basis`, or the `legal_basis_for_processing` its systems' declarations agree on; with
/// neither it is imported as a purpose awaiting a basis, which the inventory check reports as an
/// error until one is chosen. A legitimate interest also needs `lethe.balancing_note`. With `dry_run=true`, the same checks and errors, nothing written:
/// the answer lists per kind what would be created, replaced (with the fields that differ), left
/// unchanged and left untouched.
#[utoipa::path(
    post, path = "/api/v1/inventory/fideslang", tag = "inventory", operation_id = "import_fideslang",
    security(("api_key" = ["inventory:write"])),
    params(ImportQuery),
    request_body(content(
        (Object = "application/yaml"),
        (Object = "text/yaml"),
    ), description = "A fideslang document: a YAML mapping of `data_category`, `data_subject`, `data_use` and `system` lists"),
    responses(
        (status = 200, description = "Imported: how many items of each kind were created and replaced (`ImportSummary`); with dry_run=true, what the import would do (`ImportPlan`)", body = ImportOutcome),
        (status = 400, description = "Malformed YAML", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks inventory:write", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/yaml or text/yaml", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid items, each named by its place (e.g. `data_use[2].legal_basis`); nothing was written", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn import_fideslang(
    state: web::Data<AppState>,
    key: ApiKey,
    req: HttpRequest,
    query: Result<web::Query<ImportQuery>, actix_web::Error>,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryWrite)?;
    let dry_run = query
        .map_err(|e| {
            AppError::Validation(ValidationErrors::single(
                "dry_run",
                format!("use dry_run=true or dry_run=false ({e})"),
            ))
        })?
        .dry_run;
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !YAML_TYPES.contains(&mime.as_str()) {
        return Err(AppError::UnsupportedMediaType(
            "send the body as Content-Type: application/yaml (or text/yaml)".into(),
        )
        .into());
    }
    let limit = state.config.max_body_bytes;
    let body = body.map_err(|e| {
        if e.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge { limit }
        } else {
            AppError::BadRequest(format!("the body could not be read: {e}"))
        }
    })?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| AppError::BadRequest("the body is not UTF-8 text".into()))?
        .to_owned();
    let doc = fideslang::parse(&text)
        .map_err(|e| AppError::BadRequest(e.to_string()))?
        .map_err(AppError::from)?;
    let (scope, caller) = (key.workspace, key.caller.clone());
    let outcome = state
        .db
        .run(move |db| {
            let existing = service::load(db, &scope)?;
            let incoming = fideslang::to_inventory(doc, &existing)?;
            Ok::<_, AppError>(if dry_run {
                ImportOutcome::DryRun(Box::new(service::preview_import(db, &scope, incoming)?))
            } else {
                ImportOutcome::Imported(service::import(db, &caller, &scope, incoming)?)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(outcome))
}
