//! `/api/v1/subjects`: the operator's users, their records, restriction and erasure.

use super::ApiError;
use super::auth::ApiKey;
use crate::domain::apikey::Scope;
use crate::domain::subject::SubjectInput;
use crate::services::erasure::{self, ErasureReport};
use crate::services::holds::{self, HeldRecords};
use crate::services::subjects::{self, Reader, SubjectPage, SubjectRecords, SubjectView};
use crate::web::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Header an API client may send to say why it reads a person's data; it is written to the
/// subject's access log.
pub const ACCESS_REASON_HEADER: &str = "Lethe-Access-Reason";

/// The `Lethe-Access-Reason` header, when it holds a usable reason.
fn access_reason(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(ACCESS_REASON_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| crate::domain::text(r, 500, false).ok())
}

fn reader(req: &HttpRequest, key: &ApiKey) -> Reader {
    let reason =
        access_reason(req).unwrap_or_else(|| "read through the API (no reason given)".to_owned());
    Reader::new(&key.caller, false, reason)
}

fn today() -> chrono::NaiveDate {
    Utc::now().date_naive()
}

/// Creates a subject, or updates it when `external_id` exists (scope `records:write`).
#[utoipa::path(
    post, path = "/api/v1/subjects", tag = "vault", operation_id = "put_subject",
    security(("api_key" = ["records:write"])),
    request_body = SubjectInput,
    responses(
        (status = 201, description = "Created", body = SubjectView),
        (status = 200, description = "Updated", body = SubjectView),
        (status = 403, description = "The key lacks records:write", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The subject was erased", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid, or younger than the workspace's minimum age; nothing was stored", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put(
    state: web::Data<AppState>,
    key: ApiKey,
    body: super::JsonObject<SubjectInput>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RecordsWrite)?;
    let (scope, caller, vault) = (key.workspace, key.caller.clone(), state.vault.clone());
    let input = body.into_inner();
    let (created, view) = state
        .db
        .run(move |db| subjects::put(db, &vault, &scope, &caller, input, today()))
        .await?;
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubjectsQuery {
    /// Finds the subjects with this e-mail address (through the keyed blind index); the answer
    /// is then a list of subjects with their profiles, and the read is logged. Without it, the
    /// answer is a page of all subjects, without personal values.
    pub email: Option<String>,
    /// Subjects per page without `email` (1–1000, default 100); a larger number is taken as 1000.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295.0)]
    pub limit: Option<u32>,
    /// The page after this external id: the previous page's `next_after`.
    pub after: Option<String>,
}

/// What `GET /api/v1/subjects` answers: the subjects found by e-mail, or a page of all.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(untagged)]
pub enum SubjectsAnswer {
    /// With `email`: the matching subjects and their profiles (none is an empty list).
    Found(Vec<SubjectView>),
    /// Without `email`: a page of the workspace's subjects in the order of their external ids.
    Page(SubjectPage),
}

/// Without `email`: the workspace's subjects, a page at a time in the order of their external
/// ids, with their states and record counts and no personal values (not a read of anyone's data,
/// so not logged). With `email`: the subjects with that address, profiles included (the read is
/// logged). Scope `records:read`.
#[utoipa::path(
    get, path = "/api/v1/subjects", tag = "vault", operation_id = "list_subjects",
    security(("api_key" = ["records:read"])),
    params(SubjectsQuery),
    responses(
        (status = 200, description = "With `email`, the matching subjects (a list, none is empty); without, a page of subjects (an object) whose `next_after` is the next page's `after`", body = SubjectsAnswer),
        (status = 400, description = "A query parameter that does not parse, or one this operation does not take (named)", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an e-mail address, or `limit`/`after` given with `email` (which finds, and does not page)", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: ApiKey,
    query: super::ApiQuery<SubjectsQuery>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RecordsRead)?;
    let (scope, vault) = (key.workspace, state.vault.clone());
    let SubjectsQuery {
        email,
        limit,
        after,
    } = query.into_inner()?;
    let answer = match email {
        Some(email) => {
            let mut errors = crate::domain::ValidationErrors::default();
            for (name, given) in [("limit", limit.is_some()), ("after", after.is_some())] {
                if given {
                    errors.add(
                        name,
                        "lists all subjects a page at a time: leave out `email`, which finds",
                    );
                }
            }
            errors.into_result()?;
            let reader = reader(&req, &key);
            let found = state
                .db
                .run(move |db| subjects::find_by_email(db, &vault, &scope, &reader, &email))
                .await?;
            SubjectsAnswer::Found(found)
        }
        None => {
            let limit = limit.unwrap_or(100).clamp(1, 1000);
            let page = state
                .db
                .run(move |db| subjects::list_after(db, &scope, after.as_deref(), limit))
                .await?;
            SubjectsAnswer::Page(page)
        }
    };
    Ok(HttpResponse::Ok().json(answer))
}

/// One subject (scope `records:read`; the read is logged).
#[utoipa::path(
    get, path = "/api/v1/subjects/{external_id}", tag = "vault", operation_id = "get_subject",
    security(("api_key" = ["records:read"])),
    params(("external_id" = String, Path, description = "The operator's id for the person")),
    responses(
        (status = 200, description = "The subject", body = SubjectView),
        (status = 404, description = "No such subject in this workspace", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The subject was erased", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RecordsRead)?;
    let (scope, vault, reader) = (key.workspace, state.vault.clone(), reader(&req, &key));
    let external_id = path.into_inner();
    let view = state
        .db
        .run(move |db| subjects::get(db, &vault, &scope, &reader, &external_id))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    /// When the account ended; now when left out.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
}

/// Records that the person's account ended (scope `records:write`).
#[utoipa::path(
    post, path = "/api/v1/subjects/{external_id}/close", tag = "vault", operation_id = "close_subject",
    security(("api_key" = ["records:write"])),
    params(("external_id" = String, Path, description = "The operator's id for the person")),
    request_body(content = Option<CloseBody>, description = "Optional; an empty body means now"),
    responses(
        (status = 200, description = "The subject", body = SubjectView),
        (status = 404, description = "No such subject in this workspace", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The subject was erased", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn close(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: ApiKey,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RecordsWrite)?;
    let body: CloseBody = super::optional_json(&body)?;
    let (scope, caller, vault) = (key.workspace, key.caller.clone(), state.vault.clone());
    let reader = reader(&req, &key);
    let external_id = path.into_inner();
    let view = state
        .db
        .run(move |db| {
            subjects::close(db, &scope, &caller, &external_id, body.closed_at)?;
            subjects::get(db, &vault, &scope, &reader, &external_id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictBody {
    /// Why processing is restricted, e.g. "accuracy contested (ticket 4411)".
    pub reason: String,
}

/// Restricts processing: records stay, reads are refused to all but the privacy officer, and
/// new records are flagged (scope `records:write`).
#[utoipa::path(
    post, path = "/api/v1/subjects/{external_id}/restrict", tag = "vault", operation_id = "restrict_subject",
    security(("api_key" = ["records:write"])),
    params(("external_id" = String, Path, description = "The operator's id for the person")),
    request_body = RestrictBody,
    responses(
        (status = 204, description = "Restricted"),
        (status = 404, description = "No such subject in this workspace", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The subject was erased", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn restrict(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
    body: super::JsonObject<RestrictBody>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RecordsWrite)?;
    let (scope, caller) = (key.workspace, key.caller.clone());
    let (external_id, reason) = (path.into_inner(), body.into_inner().reason);
    let vault = state.vault.clone();
    state
        .db
        .run(move |db| {
            subjects::set_restriction(db, &vault, &scope, &caller, &external_id, Some(&reason))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Lifts a restriction (scope `records:write`).
#[utoipa::path(
    post, path = "/api/v1/subjects/{external_id}/unrestrict", tag = "vault", operation_id = "unrestrict_subject",
    security(("api_key" = ["records:write"])),
    params(("external_id" = String, Path, description = "The operator's id for the person")),
    responses(
        (status = 204, description = "Restriction lifted"),
        (status = 404, description = "No such subject in this workspace", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The subject was erased", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn unrestrict(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RecordsWrite)?;
    let (scope, caller) = (key.workspace, key.caller.clone());
    let external_id = path.into_inner();
    let vault = state.vault.clone();
    state
        .db
        .run(move |db| subjects::set_restriction(db, &vault, &scope, &caller, &external_id, None))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Erases the person: deletes their records and destroys their data key; records under a
/// legal hold are kept, re-sealed under the hold's key (scope `records:write`).
#[utoipa::path(
    post, path = "/api/v1/subjects/{external_id}/erase", tag = "vault", operation_id = "erase_subject",
    security(("api_key" = ["records:write"])),
    params(("external_id" = String, Path, description = "The operator's id for the person")),
    responses(
        (status = 200, description = "What was deleted and what a legal hold keeps", body = ErasureReport),
        (status = 404, description = "No such subject in this workspace", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already erased", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn erase(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RecordsWrite)?;
    let (scope, caller, vault) = (key.workspace, key.caller.clone(), state.vault.clone());
    let external_id = path.into_inner();
    let report = state
        .db
        .run(move |db| erasure::erase_subject(db, &vault, &scope, &caller, &external_id, today()))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many records (1–1000, default 100), newest first; a larger number is taken
    /// as 1000.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295.0)]
    pub limit: Option<u32>,
    /// Records to skip.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295.0)]
    pub offset: Option<u32>,
}

/// The person's records, decrypted (scope `records:read`; the read is logged with the
/// `Lethe-Access-Reason` header). Refused while their processing is restricted, and once they
/// were erased: the records a legal hold keeps are no longer theirs, and are read by hold at
/// `/api/v1/legal-holds/{key}/records`.
#[utoipa::path(
    get, path = "/api/v1/subjects/{external_id}/records", tag = "vault", operation_id = "list_subject_records",
    security(("api_key" = ["records:read"])),
    params(("external_id" = String, Path, description = "The operator's id for the person"), PageQuery),
    responses(
        (status = 200, description = "The subject and a page of their records", body = SubjectRecords),
        (status = 400, description = "A query parameter that does not parse, or one this operation does not take (named)", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Processing is restricted, or the key lacks records:read", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subject in this workspace", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 410, description = "The subject was erased: no records are theirs any more (a legal hold's are read by hold)", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn records(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: ApiKey,
    path: web::Path<String>,
    query: super::ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RecordsRead)?;
    let (scope, vault, reader) = (key.workspace, state.vault.clone(), reader(&req, &key));
    let external_id = path.into_inner();
    let query = query.into_inner()?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let offset = query.offset.unwrap_or(0);
    let page = state
        .db
        .run(move |db| {
            subjects::read_records(db, &vault, &scope, &reader, &external_id, limit, offset)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The records a legal hold keeps of people who were erased, decrypted, newest first. They are
/// no one's any more, so they are not listed under a person; reading them is audited as
/// `legal_hold.read` (scope `records:read`). A hold the inventory no longer has was lifted: what
/// it kept is being deleted, and is not read.
#[utoipa::path(
    get, path = "/api/v1/legal-holds/{key}/records", tag = "vault", operation_id = "list_held_records",
    security(("api_key" = ["records:read"])),
    params(("key" = String, Path, description = "The legal hold's key in the inventory"), PageQuery),
    responses(
        (status = 200, description = "How many records the hold keeps and a page of them", body = HeldRecords),
        (status = 400, description = "A query parameter that does not parse, or one this operation does not take (named)", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such legal hold in this workspace's inventory", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn held_records(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: ApiKey,
    path: web::Path<String>,
    query: super::ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RecordsRead)?;
    let (scope, vault, caller) = (key.workspace, state.vault.clone(), key.caller.clone());
    let hold = path.into_inner();
    let query = query.into_inner()?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let offset = query.offset.unwrap_or(0);
    let reason_given = access_reason(&req).is_some();
    let page: HeldRecords = state
        .db
        .run(move |db| {
            holds::read(
                db,
                &vault,
                &scope,
                &caller,
                &hold,
                reason_given,
                limit,
                offset,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
