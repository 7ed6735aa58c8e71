//! `/api/v1/consent`: the operator's backend records decisions taken in its own interface (or
//! imports earlier ones) and asks a person's consent before it processes their data on that basis.

use super::ApiError;
use super::auth::ApiKey;
use crate::domain::apikey::Scope;
use crate::domain::consent::ConsentSource;
use crate::services::consent::{self, Client, DecisionInput, Place, Recorded, SubjectConsent, Who};
use crate::web::AppState;
use crate::web::client_ip::client_ip;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

type Problem = super::problem::Problem;

/// Where a decision the API records came from.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ApiSource {
    /// Taken now in the operator's own interface.
    #[default]
    Api,
    /// Taken earlier, brought in (`decided_at` says when).
    Import,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// The person: the operator's external id of a subject.
    pub subject: String,
    /// Consent purpose key → granted (`true`) or refused (`false`). A withdrawal is a `false`.
    pub choices: BTreeMap<String, bool>,
    #[serde(default)]
    pub source: ApiSource,
    /// For an import: when the person decided.
    #[serde(default)]
    pub decided_at: Option<DateTime<Utc>>,
    /// The person's browser sent Global Privacy Control.
    #[serde(default)]
    pub gpc: bool,
}

/// Records a consent decision taken in the operator's own interface, or imports an earlier one
/// (scope `consent:write`). 201 means it is durable. Granting and withdrawing are the same call.
#[utoipa::path(
    post, path = "/api/v1/consent", tag = "consent", operation_id = "record_consent",
    security(("api_key" = ["consent:write"])),
    request_body = ConsentBody,
    responses(
        (status = 201, description = "Recorded; the person's consent after it", body = Recorded),
        (status = 409, description = "The person was erased meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The person was erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown subject or purpose, no choices, or a decided_at that is not an import's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record(
    state: web::Data<AppState>,
    key: ApiKey,
    req: HttpRequest,
    body: super::JsonObject<ConsentBody>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::ConsentWrite)?;
    let body = body.into_inner();
    let input = DecisionInput {
        who: Who::Subject(body.subject),
        choices: body.choices,
        source: match body.source {
            ApiSource::Api => ConsentSource::Api,
            ApiSource::Import => ConsentSource::Import,
        },
        gpc: body.gpc,
        banner_version: None,
        decided_at: body.decided_at,
    };
    let client = Client {
        ip: client_ip(&req),
        user_agent: None,
    };
    let recorded = consent::record(
        &state.vault,
        &state.writer,
        &state.consent_rules,
        &state.receipt_signer,
        Place::Workspace(key.workspace),
        input,
        client,
        &state.base_url,
        Utc::now(),
    )
    .await?;
    Ok(HttpResponse::Created().json(recorded))
}

/// A person's consent now, per consent purpose, with the decision each state comes from (scope
/// `consent:read`). A restriction, a withdrawal or an objection the person made through a request
/// shows as a refusal; a grant under a policy older than the material version in force as
/// `needs_renewal`.
#[utoipa::path(
    get, path = "/api/v1/consent/{subject}", tag = "consent", operation_id = "get_consent",
    security(("api_key" = ["consent:read"])),
    params(("subject" = String, Path, description = "The subject's external id")),
    responses(
        (status = 200, description = "The person's consent", body = SubjectConsent),
        (status = 404, description = "No such subject in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The person was erased", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::ConsentRead)?;
    let scope = key.workspace;
    let subject = path.into_inner();
    let answer = state
        .db
        .run(move |db| consent::current_for_subject(db, &scope, &subject, Utc::now()))
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
