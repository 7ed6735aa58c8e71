//! `/api/v1/requests`: data subject requests opened by the operator's systems for people they
//! authenticated, their deadlines and timelines, and the workflow's steps.

use super::ApiError;
use super::auth::ApiKey;
use crate::domain::apikey::Scope;
use crate::domain::request::{DenialReason, RequestInput, RequestState, RequestType};
use crate::services::request_fulfilment;
use crate::services::request_package::{self, Answer, Proof};
use crate::services::requests::{self, Action, RequestFilter, RequestPage, RequestView, Step};
use crate::services::subjects::Reader;
use crate::web::AppState;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

type Problem = super::problem::Problem;

/// Opens a request for a person your system has already authenticated: it is verified at once
/// and its deadline runs from `received_at` (scope `requests:write`). Lethe then carries it out
/// at once (see `POST /api/v1/requests/{id}/fulfil`), unless the workspace's staff review
/// requests first (`review_requests`): the answer is the request as it then stands, completed,
/// or in progress while other systems' tasks or staff (a correction) are still at work.
#[utoipa::path(
    post, path = "/api/v1/requests", tag = "requests", operation_id = "create_request",
    security(("api_key" = ["requests:write"])),
    request_body = RequestInput,
    responses(
        (status = 201, description = "Opened; `Location` names it", body = RequestView),
        (status = 422, description = "Invalid (every field at once): unknown type, no person, an unknown external_id or purpose; nothing was stored", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    key: ApiKey,
    body: super::JsonObject<RequestInput>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RequestsWrite)?;
    let (scope, caller, vault) = (key.workspace, key.caller.clone(), state.vault.clone());
    let (input, base) = (body.into_inner(), state.base_url.clone());
    let view = state
        .db
        .run(move |db| {
            let view =
                requests::create_verified(db, &vault, &scope, &caller, input, &base, Utc::now())?;
            // Carried out at once, unless the workspace's staff review requests first.
            let id = view.id.clone();
            Ok::<_, crate::error::AppError>(
                request_fulfilment::after_verification(db, &vault, &scope, &id, &base, Utc::now())
                    .unwrap_or(view),
            )
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/requests/{}", view.id)))
        .json(view))
}

/// One request with its timeline, the person's address and what they wrote (scope
/// `requests:read`; the read is audited).
#[utoipa::path(
    get, path = "/api/v1/requests/{id}", tag = "requests", operation_id = "get_request",
    security(("api_key" = ["requests:read"])),
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = RequestView),
        (status = 404, description = "No such request in this workspace", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RequestsRead)?;
    let (scope, caller, vault) = (key.workspace, key.caller.clone(), state.vault.clone());
    let id = path.into_inner();
    let view = state
        .db
        .run(move |db| requests::get(db, &vault, &scope, &caller, &id, Utc::now()))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RequestsQuery {
    /// Only requests in this state.
    pub state: Option<RequestState>,
    /// Only requests of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<RequestType>,
    /// `true`: only open requests past their deadline in force. `false` or absent: no filter.
    pub overdue: Option<bool>,
    /// Requests per page (1–1000, default 100); a larger number is taken as 1000.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295.0)]
    pub limit: Option<u32>,
    /// The page after this request id: the previous page's `next_after`.
    pub after: Option<String>,
}

/// The workspace's requests in the order they came in, with states and deadlines and no
/// personal values (scope `requests:read`).
#[utoipa::path(
    get, path = "/api/v1/requests", tag = "requests", operation_id = "list_requests",
    security(("api_key" = ["requests:read"])),
    params(RequestsQuery),
    responses(
        (status = 200, description = "A page of requests; `next_after` is the next page's `after`", body = RequestPage),
        (status = 400, description = "A query parameter that does not parse, or one this operation does not take (named)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    key: ApiKey,
    query: super::ApiQuery<RequestsQuery>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RequestsRead)?;
    let scope = key.workspace;
    let q = query.into_inner()?;
    let now = Utc::now();
    let filter = RequestFilter {
        state: q.state,
        kind: q.kind,
        overdue_at: (q.overdue == Some(true)).then_some(now),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let page = state
        .db
        .run(move |db| requests::list(db, &scope, &filter, q.after.as_deref(), limit, now))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn step(
    state: web::Data<AppState>,
    key: ApiKey,
    id: String,
    action: Action,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RequestsWrite)?;
    let (scope, caller, vault) = (key.workspace, key.caller.clone(), state.vault.clone());
    let base = state.base_url.clone();
    let view = state
        .db
        .run(move |db| requests::act(db, &vault, &scope, &caller, &id, action, &base, Utc::now()))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Starts work on a verified request (scope `requests:write`).
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/start", tag = "requests", operation_id = "start_request",
    security(("api_key" = ["requests:write"])),
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, description = "In progress", body = RequestView),
        (status = 404, description = "No such request in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not verified, or already started or closed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn start(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    step(state, key, path.into_inner(), Action::Take(Step::Start)).await
}

/// Records that a request in progress was answered (scope `requests:write`).
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/complete", tag = "requests", operation_id = "complete_request",
    security(("api_key" = ["requests:write"])),
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, description = "Completed", body = RequestView),
        (status = 404, description = "No such request in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not in progress (start it first), or already closed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn complete(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    step(state, key, path.into_inner(), Action::Take(Step::Complete)).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyBody {
    /// The ground, from the fixed list.
    pub reason: DenialReason,
    /// What you add for the person (stored sealed).
    #[serde(default)]
    pub text: Option<String>,
}

/// Denies an open request with a reason the person is told (scope `requests:write`).
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/deny", tag = "requests", operation_id = "deny_request",
    security(("api_key" = ["requests:write"])),
    params(("id" = String, Path, description = "The request's id")),
    request_body = DenyBody,
    responses(
        (status = 200, description = "Denied", body = RequestView),
        (status = 404, description = "No such request in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already completed, denied or expired", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn deny(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
    body: super::JsonObject<DenyBody>,
) -> Result<HttpResponse, ApiError> {
    let DenyBody { reason, text } = body.into_inner();
    step(
        state,
        key,
        path.into_inner(),
        Action::Take(Step::Deny { reason, text }),
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    /// Why more time is needed; the person is told (stored sealed).
    pub reason: String,
}

/// Extends an open request's deadline once: GDPR by two months from the original deadline,
/// CCPA by 45 days, decided before the original deadline passes (scope `requests:write`).
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/extend", tag = "requests", operation_id = "extend_request",
    security(("api_key" = ["requests:write"])),
    params(("id" = String, Path, description = "The request's id")),
    request_body = ExtendBody,
    responses(
        (status = 200, description = "Extended", body = RequestView),
        (status = 404, description = "No such request in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already extended, past the original deadline, or closed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn extend(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
    body: super::JsonObject<ExtendBody>,
) -> Result<HttpResponse, ApiError> {
    let reason = body.into_inner().reason;
    step(
        state,
        key,
        path.into_inner(),
        Action::Take(Step::Extend { reason }),
    )
    .await
}

/// Carries a verified request out in the vault (scope `requests:write`): an access or export
/// request gets its package, an erasure crypto-shreds the person's data (the answer names what
/// each legal hold keeps, why and until when), a restriction restricts them, an objection or a
/// withdrawal of consent is recorded on them; a person Lethe holds nothing about is answered
/// "we hold no data about you". Each other system that holds the person's kinds of data gets a
/// task (a `request.task.created` webhook, or a manual task); the request completes, and the
/// person is told, when all tasks are done. A correction is started and left for staff. Lethe
/// does this on its own once a request is verified, unless staff review requests first.
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/fulfil", tag = "requests", operation_id = "fulfil_request",
    security(("api_key" = ["requests:write"])),
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, description = "Completed, or in progress while other systems' tasks (or staff, for a correction) are at work", body = RequestView),
        (status = 404, description = "No such request in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not verified, already answered, or waiting for other systems' tasks", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn fulfil(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    step(state, key, path.into_inner(), Action::CarryOut).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskReport {
    /// For an access or export request only: the data the system holds about the person, any
    /// JSON up to 512 KiB. It joins the person's package as `systems/{system}.json` (stored
    /// sealed, forgotten when the package expires).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Option<serde_json::Value>,
}

/// Reports that the system `system` did its task for this request (scope `requests:write`):
/// the report the `request.task.created` webhook asks for. Send `{}`, or for an access or
/// export request `{"data": ...}` with what the system holds. When it was the last open task,
/// the request completes and the person is told.
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/tasks/{system}/complete", tag = "requests",
    operation_id = "complete_request_task",
    security(("api_key" = ["requests:write"])),
    params(
        ("id" = String, Path, description = "The request's id"),
        ("system" = String, Path, description = "The system's key in the inventory"),
    ),
    request_body = TaskReport,
    responses(
        (status = 200, description = "Recorded; the request as it now stands (completed when this was its last task)", body = RequestView),
        (status = 404, description = "No such request in this workspace, or no task for this system on it", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Reported already, or the request is no longer in progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Data on a request that takes none, or too much of it", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn complete_task(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<(String, String)>,
    body: super::JsonObject<TaskReport>,
) -> Result<HttpResponse, ApiError> {
    let (id, system) = path.into_inner();
    let data = body.into_inner().data;
    step(state, key, id, Action::ReportTask { system, data }).await
}

/// The answer when the request matched nobody: there is no package to send.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct NoData {
    pub request: String,
    /// Always `false`: Lethe holds no data about this person.
    pub package: bool,
    pub message: &'static str,
}

/// The access or export package of a completed request, as a zip: `records.json`,
/// `records.csv`, `profile.json`, `inventory.json` and `summary.html` (scope `requests:read`).
/// Available for seven days after completion; each download is one entry in the person's
/// access log.
#[utoipa::path(
    get, path = "/api/v1/requests/{id}/package", tag = "requests", operation_id = "get_request_package",
    security(("api_key" = ["requests:read"])),
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The package as a zip, or (JSON) that Lethe holds no data about the person", content(
            (Vec<u8> = "application/zip"),
            (NoData = "application/json"),
        )),
        (status = 404, description = "No such request in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an access or export request, or not completed yet", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The package expired", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn package(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RequestsRead)?;
    let (scope, caller, vault) = (key.workspace, key.caller.clone(), state.vault.clone());
    let id = path.into_inner();
    let reader = Reader::new(&caller, true, format!("access package for request {id}"));
    let answer = state
        .db
        .run(move |db| {
            request_package::open(db, &vault, &scope, &reader, &id, Proof::ApiKey, Utc::now())
        })
        .await?;
    Ok(match answer {
        Answer::Package(p) => crate::web::package::download(&state, *p),
        Answer::NoData { request_id } => HttpResponse::Ok().json(NoData {
            request: request_id,
            package: false,
            message: "We hold no data about this person.",
        }),
    })
}
