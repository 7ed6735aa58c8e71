//! `/api/v1/incidents/{id}/letter`: telling the people a high-risk breach affected (GDPR
//! Art. 34), and what became of the messages.

use super::ApiError;
use super::auth::ApiKey;
use super::problem::Problem;
use crate::domain::apikey::Scope;
use crate::services::incident_letters::{self, LetterInput, LetterState, LetterView};
use crate::web::AppState;
use actix_web::{HttpResponse, web};
use chrono::Utc;

/// The incident's letter to affected people: sent, with its delivery report, or the draft to
/// start from (scope `incidents:read`).
#[utoipa::path(
    get, path = "/api/v1/incidents/{id}/letter", tag = "incidents", operation_id = "incident_letter",
    security(("api_key" = ["incidents:read"])),
    params(("id" = String, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "The letter and its report, or the draft", body = LetterState),
        (status = 404, description = "No such incident in this workspace", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn letter(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::IncidentsRead)?;
    let (scope, id) = (key.workspace, path.into_inner());
    let letter = state
        .db
        .run(move |db| incident_letters::state(db, &scope, &id))
        .await?;
    Ok(HttpResponse::Ok().json(letter))
}

/// Sends the letter to every person the high-risk incident affected who has an e-mail on
/// record, through the outbox in batches (the `incident-letters` job); people without one are
/// counted (scope `incidents:write`). Once per incident.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/letter", tag = "incidents", operation_id = "send_incident_letter",
    security(("api_key" = ["incidents:write"])),
    params(("id" = String, Path, description = "The incident's id")),
    request_body = LetterInput,
    responses(
        (status = 202, description = "On its way; the report fills as the job goes", body = LetterView),
        (status = 404, description = "No such incident in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not high risk, closed, naming no category or system, or sent before", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An empty or over-long subject or text", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn send(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
    body: super::JsonObject<LetterInput>,
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
        .run(move |db| incident_letters::send(db, &scope, &caller, &id, input, Utc::now()))
        .await?;
    Ok(HttpResponse::Accepted().json(view))
}
