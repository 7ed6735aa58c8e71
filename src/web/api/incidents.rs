//! `/api/v1/incidents`: the breach register (GDPR Art. 33, 34) with its 72-hour clock, the
//! notice to the authority and the register's export.

use super::ApiError;
use super::auth::ApiKey;
use super::problem::Problem;
use crate::domain::apikey::Scope;
use crate::domain::incident::{IncidentInput, IncidentState};
use crate::domain::incident_notice::{NoticeEdits, NoticePhaseInput};
use crate::error::AppError;
use crate::services::incident_notice::{self, NoticeDraft};
use crate::services::incident_register::{self, RegisterExport};
use crate::services::incidents::{self, IncidentView};
use crate::web::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Registers an incident (scope `incidents:write`): its 72 hours run from `detected_at`; the
/// people and records of its categories (and of the categories its systems hold) are counted.
#[utoipa::path(
    post, path = "/api/v1/incidents", tag = "incidents", operation_id = "register_incident",
    security(("api_key" = ["incidents:write"])),
    request_body = IncidentInput,
    responses(
        (status = 201, description = "Registered; `Location` names it", body = IncidentView),
        (status = 422, description = "Invalid (every field at once): no title or awareness, a time in the future or that does not exist in the workspace's zone, an unknown category, system or handler; nothing was stored", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    key: ApiKey,
    body: super::JsonObject<IncidentInput>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::IncidentsWrite)?;
    let (scope, caller, input) = (key.workspace, key.caller.clone(), body.into_inner());
    let view = state
        .db
        .run(move |db| incidents::register(db, &scope, &caller, input, Utc::now()))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/incidents/{}", view.id)))
        .json(view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    /// The most recently detected first, without timelines.
    pub incidents: Vec<IncidentView>,
}

/// The breach register: every incident with its deadline and counts (scope `incidents:read`).
#[utoipa::path(
    get, path = "/api/v1/incidents", tag = "incidents", operation_id = "list_incidents",
    security(("api_key" = ["incidents:read"])),
    responses((status = 200, description = "Every incident", body = IncidentList))
)]
pub async fn list(state: web::Data<AppState>, key: ApiKey) -> Result<HttpResponse, ApiError> {
    key.require(Scope::IncidentsRead)?;
    let scope = key.workspace;
    let incidents = state
        .db
        .run(move |db| incidents::list(db, &scope, Utc::now()))
        .await?;
    Ok(HttpResponse::Ok().json(IncidentList { incidents }))
}

/// One incident with its timeline and the notice phases sent (scope `incidents:read`).
#[utoipa::path(
    get, path = "/api/v1/incidents/{id}", tag = "incidents", operation_id = "get_incident",
    security(("api_key" = ["incidents:read"])),
    params(("id" = String, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "The incident", body = IncidentView),
        (status = 404, description = "No such incident in this workspace", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::IncidentsRead)?;
    let (scope, id) = (key.workspace, path.into_inner());
    let view = state
        .db
        .run(move |db| incidents::get(db, &scope, &id, Utc::now()))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Changes an open incident (scope `incidents:write`): the fields given replace the stored
/// ones; an empty string clears `started_at`, `ended_at` or `handler`. Every change is in the
/// timeline (old and new values) and the audit log; the counts follow the categories, systems
/// and window.
#[utoipa::path(
    patch, path = "/api/v1/incidents/{id}", tag = "incidents", operation_id = "update_incident",
    security(("api_key" = ["incidents:write"])),
    params(("id" = String, Path, description = "The incident's id")),
    request_body = IncidentInput,
    responses(
        (status = 200, description = "The incident as changed", body = IncidentView),
        (status = 404, description = "No such incident in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The incident is closed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
    body: super::JsonObject<IncidentInput>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::IncidentsWrite)?;
    let (scope, caller, id, patch) = (
        key.workspace,
        key.caller.clone(),
        path.into_inner(),
        body.into_inner(),
    );
    let view = state
        .db
        .run(move |db| incidents::update(db, &scope, &caller, &id, patch, Utc::now()))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotNotifiedBody {
    /// Why the breach is unlikely to result in a risk to people's rights and freedoms (required).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Records that the authority is not notified, with the reason Art. 33(5) asks to document
/// (scope `incidents:write`). The deadline warnings stop.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/not-notified", tag = "incidents", operation_id = "decide_not_to_notify",
    security(("api_key" = ["incidents:write"])),
    params(("id" = String, Path, description = "The incident's id")),
    request_body = NotNotifiedBody,
    responses(
        (status = 200, description = "Recorded", body = IncidentView),
        (status = 404, description = "No such incident in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Closed, or the authority was already notified", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn not_notified(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
    body: super::JsonObject<NotNotifiedBody>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::IncidentsWrite)?;
    let (scope, caller, id) = (key.workspace, key.caller.clone(), path.into_inner());
    let reason = body.into_inner().reason;
    let view = state
        .db
        .run(move |db| {
            incidents::decide_not_to_notify(db, &scope, &caller, &id, reason.as_deref(), Utc::now())
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn set_state(
    state: web::Data<AppState>,
    key: ApiKey,
    id: String,
    to: IncidentState,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::IncidentsWrite)?;
    let (scope, caller) = (key.workspace, key.caller.clone());
    let view = state
        .db
        .run(move |db| incidents::set_state(db, &scope, &caller, &id, to, Utc::now()))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Closes an open incident (scope `incidents:write`); a closed incident is not changed.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/close", tag = "incidents", operation_id = "close_incident",
    security(("api_key" = ["incidents:write"])),
    params(("id" = String, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "Closed", body = IncidentView),
        (status = 404, description = "No such incident in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already closed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn close(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_state(state, key, path.into_inner(), IncidentState::Closed).await
}

/// Reopens a closed incident (scope `incidents:write`).
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/reopen", tag = "incidents", operation_id = "reopen_incident",
    security(("api_key" = ["incidents:write"])),
    params(("id" = String, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "Open again", body = IncidentView),
        (status = 404, description = "No such incident in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not closed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reopen(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_state(state, key, path.into_inner(), IncidentState::Open).await
}

/// Records a phase of the notice as sent to the authority (scope `incidents:write`): the
/// notice as it stands is kept as sent. After the 72 hours, `late_reason` is required unless
/// one was recorded before.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/notice/phases", tag = "incidents", operation_id = "record_notice_phase",
    security(("api_key" = ["incidents:write"])),
    params(("id" = String, Path, description = "The incident's id")),
    request_body = NoticePhaseInput,
    responses(
        (status = 201, description = "Recorded; the incident with its phases", body = IncidentView),
        (status = 404, description = "No such incident in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The incident is closed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record_phase(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
    body: super::JsonObject<NoticePhaseInput>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::IncidentsWrite)?;
    let (scope, caller, id, input) = (
        key.workspace,
        key.caller.clone(),
        path.into_inner(),
        body.into_inner(),
    );
    let view = state
        .db
        .run(move |db| incident_notice::record_phase(db, &scope, &caller, &id, input, Utc::now()))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// The notice to the authority as it stands (Art. 33(3)): each section pre-filled from the
/// incident, the inventory and the counts, or as staff edited it (scope `incidents:read`).
#[utoipa::path(
    get, path = "/api/v1/incidents/{id}/notice", tag = "incidents", operation_id = "get_incident_notice",
    security(("api_key" = ["incidents:read"])),
    params(("id" = String, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "The notice", body = NoticeDraft),
        (status = 404, description = "No such incident in this workspace", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn notice(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::IncidentsRead)?;
    let (scope, id) = (key.workspace, path.into_inner());
    let draft = state
        .db
        .run(move |db| incident_notice::draft(db, &scope, &id, Utc::now()))
        .await?;
    Ok(HttpResponse::Ok().json(draft))
}

/// Edits sections of the notice (scope `incidents:write`); `null` or an empty text puts a
/// section's pre-fill back.
#[utoipa::path(
    put, path = "/api/v1/incidents/{id}/notice", tag = "incidents", operation_id = "edit_incident_notice",
    security(("api_key" = ["incidents:write"])),
    params(("id" = String, Path, description = "The incident's id")),
    request_body = NoticeEdits,
    responses(
        (status = 200, description = "The notice as edited", body = NoticeDraft),
        (status = 404, description = "No such incident in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The incident is closed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn edit_notice(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
    body: super::JsonObject<NoticeEdits>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::IncidentsWrite)?;
    let (scope, caller, id, edits) = (
        key.workspace,
        key.caller.clone(),
        path.into_inner(),
        body.into_inner(),
    );
    let draft = state
        .db
        .run(move |db| incident_notice::edit(db, &scope, &caller, &id, edits, Utc::now()))
        .await?;
    Ok(HttpResponse::Ok().json(draft))
}

#[derive(Template)]
#[template(path = "print/incident_notice.html")]
struct NoticePage<'a> {
    draft: &'a NoticeDraft,
    deadline_utc: String,
    prepared_utc: String,
}

/// The notice as a plain page to print or save as PDF (scope `incidents:read`).
#[utoipa::path(
    get, path = "/api/v1/incidents/{id}/notice.html", tag = "incidents", operation_id = "print_incident_notice",
    security(("api_key" = ["incidents:read"])),
    params(("id" = String, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "The notice as HTML", body = String, content_type = "text/html"),
        (status = 404, description = "No such incident in this workspace", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn notice_html(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::IncidentsRead)?;
    let (scope, id) = (key.workspace, path.into_inner());
    let draft = state
        .db
        .run(move |db| incident_notice::draft(db, &scope, &id, Utc::now()))
        .await?;
    let utc = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let page = NoticePage {
        deadline_utc: utc(draft.deadline),
        prepared_utc: utc(draft.prepared_at),
        draft: &draft,
    };
    let html = page
        .render()
        .map_err(|e| AppError::internal(anyhow::anyhow!("notice page: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegisterFormat {
    #[default]
    Json,
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `json` (default: every incident with its timeline and phases) or `csv` (one row per
    /// incident).
    pub format: Option<RegisterFormat>,
}

/// The whole register for an authority or an auditor (scope `incidents:read`).
#[utoipa::path(
    get, path = "/api/v1/incidents/export", tag = "incidents", operation_id = "export_incidents",
    security(("api_key" = ["incidents:read"])),
    params(ExportQuery),
    responses(
        (status = 200, description = "The register, as JSON or as a CSV attachment", body = RegisterExport,
            content(
                (RegisterExport = "application/json"),
                (String = "text/csv"),
            )),
        (status = 400, description = "A query parameter that does not parse, or one this operation does not take (named)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn export(
    state: web::Data<AppState>,
    key: ApiKey,
    query: super::ApiQuery<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::IncidentsRead)?;
    let format = query.into_inner()?.format.unwrap_or_default();
    let scope = key.workspace;
    Ok(match format {
        RegisterFormat::Json => {
            let register = state
                .db
                .run(move |db| incident_register::export(db, &scope, Utc::now()))
                .await?;
            HttpResponse::Ok().json(register)
        }
        RegisterFormat::Csv => {
            let csv = state
                .db
                .run(move |db| incident_register::export_csv(db, &scope, Utc::now()))
                .await?;
            HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"incidents.csv\"",
                ))
                .body(csv)
        }
    })
}
