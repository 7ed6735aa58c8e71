//! `/api/v1/policies`: privacy policy versions (scopes `inventory:read` / `inventory:write`), and
//! the public status of the policy in force at `/api/v1/public/{workspace}/policy`.

use super::ApiError;
use super::auth::ApiKey;
use super::problem::Problem;
use crate::domain::apikey::Scope;
use crate::domain::policy_timeline::VersionState;
use crate::error::AppError;
use crate::services::policies::PolicyVersion;
use crate::services::policies::{self as service, DraftInput, PolicyDiff};
use crate::services::publication::{self, PublishRequest};
use crate::web::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/policies", web::get().to(list))
        .route("/policies", web::post().to(create))
        .route("/policies/{version}", web::get().to(get))
        .route("/policies/{version}", web::put().to(update))
        .route("/policies/{version}", web::delete().to(delete))
        .route("/policies/{version}/publish", web::post().to(publish))
        .route("/policies/{version}/review", web::get().to(review))
        .route("/policies/{version}/diff", web::get().to(diff))
        .route("/public/{workspace}/policy", web::get().to(public_status));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicySummary {
    pub version: i64,
    /// `draft` or `published`.
    pub status: String,
    /// Where it stands now: `draft`, `scheduled` (published, effective later), `in_force` or
    /// `superseded`.
    pub state: VersionState,
    pub material: bool,
    pub summary: String,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// When it takes (or took) effect; future dates are scheduled versions.
    pub effective_at: Option<DateTime<Utc>>,
}

impl PolicySummary {
    fn new(v: &PolicyVersion, state: VersionState) -> Self {
        PolicySummary {
            version: v.version,
            status: if v.published { "published" } else { "draft" }.into(),
            state,
            material: v.material,
            summary: v.summary.clone(),
            created_at: v.created_at,
            published_at: v.published_at,
            effective_at: v.effective_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyDetail {
    #[serde(flatten)]
    pub summary: PolicySummary,
    /// The template, with placeholders.
    pub markdown: String,
    /// The rendered Markdown: frozen at publication, live for a draft.
    pub rendered_markdown: String,
    /// Sanitized HTML of the rendered Markdown.
    pub rendered_html: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftBody {
    /// Markdown with placeholders such as `{{ categories_table() }}`.
    pub markdown: String,
    /// A material change: people are asked to review it when it takes effect.
    #[serde(default)]
    pub material: bool,
    /// What changed, for people (required when material).
    #[serde(default)]
    pub summary: String,
}

impl From<DraftBody> for DraftInput {
    fn from(b: DraftBody) -> Self {
        DraftInput {
            markdown: b.markdown,
            material: b.material,
            summary: b.summary,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// When it takes effect (RFC 3339); now when absent. Not in the past. A material change
    /// takes effect no sooner than the workspace's notice period after publication.
    pub effective_at: Option<DateTime<Utc>>,
    /// Publish despite the warnings of the check (`GET …/review` lists them).
    #[serde(default)]
    pub confirm_warnings: bool,
}

/// What publishing a draft now would meet: the check's findings (errors refuse publication,
/// warnings need `confirm_warnings`), the version in force and the earliest day a material
/// change may take effect.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishReview {
    pub version: i64,
    pub material: bool,
    pub findings: Vec<crate::domain::inventory_check::Finding>,
    /// The version the diff compares with, if one is in force.
    pub in_force: Option<i64>,
    pub diff: Vec<crate::domain::policy_diff::DiffLine>,
    pub notice_days: u16,
    pub earliest_material_effect: DateTime<Utc>,
}

fn version_of(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| AppError::NotFound(format!("policy version {raw}")).into())
}

async fn detail(state: &AppState, key: &ApiKey, version: i64) -> Result<PolicyDetail, ApiError> {
    let scope = key.workspace;
    Ok(state
        .db
        .run(move |db| {
            let (v, state) = service::get_with_state(db, &scope, version)?;
            let (md, html) = service::rendered(db, &scope, &v)?;
            Ok::<_, AppError>(PolicyDetail {
                summary: PolicySummary::new(&v, state),
                markdown: v.markdown,
                rendered_markdown: md,
                rendered_html: html,
            })
        })
        .await?)
}

/// Every version, newest first.
#[utoipa::path(get, path = "/api/v1/policies", tag = "policy", operation_id = "list_policies",
    security(("api_key" = ["inventory:read"])),
    responses((status = 200, description = "Versions, newest first", body = Vec<PolicySummary>)))]
pub async fn list(state: web::Data<AppState>, key: ApiKey) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryRead)?;
    let scope = key.workspace;
    let versions = state
        .db
        .run(move |db| service::list_with_states(db, &scope))
        .await?;
    Ok(HttpResponse::Ok().json(
        versions
            .iter()
            .map(|(v, s)| PolicySummary::new(v, *s))
            .collect::<Vec<_>>(),
    ))
}

/// Creates a draft; the template must render against the current inventory.
#[utoipa::path(post, path = "/api/v1/policies", tag = "policy", operation_id = "create_policy_draft",
    security(("api_key" = ["inventory:write"])),
    request_body = DraftBody,
    responses(
        (status = 201, description = "The new draft", body = PolicyDetail),
        (status = 422, description = "Empty, too long, or a template error", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    key: ApiKey,
    body: super::JsonObject<DraftBody>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryWrite)?;
    let (scope, caller, input) = (
        key.workspace,
        key.caller.clone(),
        DraftInput::from(body.into_inner()),
    );
    let v = state
        .db
        .run(move |db| service::create_draft(db, &caller, &scope, &input))
        .await?;
    Ok(HttpResponse::Created().json(detail(&state, &key, v.version).await?))
}

/// One version with its template and rendered text.
#[utoipa::path(get, path = "/api/v1/policies/{version}", tag = "policy", operation_id = "get_policy",
    security(("api_key" = ["inventory:read"])),
    params(("version" = i64, Path, description = "Version number")),
    responses(
        (status = 200, description = "The version", body = PolicyDetail),
        (status = 404, description = "No such version in this workspace", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    key: ApiKey,
    version: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryRead)?;
    let version = version_of(&version)?;
    Ok(HttpResponse::Ok().json(detail(&state, &key, version).await?))
}

/// Replaces a draft's text; a published version cannot change (409).
#[utoipa::path(put, path = "/api/v1/policies/{version}", tag = "policy", operation_id = "update_policy_draft",
    security(("api_key" = ["inventory:write"])),
    params(("version" = i64, Path, description = "Version number")),
    request_body = DraftBody,
    responses(
        (status = 200, description = "The updated draft", body = PolicyDetail),
        (status = 404, description = "No such version in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version is published", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    state: web::Data<AppState>,
    key: ApiKey,
    version: web::Path<String>,
    body: super::JsonObject<DraftBody>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryWrite)?;
    let version = version_of(&version)?;
    let (scope, caller, input) = (
        key.workspace,
        key.caller.clone(),
        DraftInput::from(body.into_inner()),
    );
    state
        .db
        .run(move |db| service::update_draft(db, &caller, &scope, version, &input))
        .await?;
    Ok(HttpResponse::Ok().json(detail(&state, &key, version).await?))
}

/// Deletes a draft; a published version stays for good (409).
#[utoipa::path(delete, path = "/api/v1/policies/{version}", tag = "policy", operation_id = "delete_policy_draft",
    security(("api_key" = ["inventory:write"])),
    params(("version" = i64, Path, description = "Version number")),
    responses(
        (status = 204, description = "The draft is deleted; its number is not given out again"),
        (status = 404, description = "No such version in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version is published", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    key: ApiKey,
    version: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryWrite)?;
    let version = version_of(&version)?;
    let (scope, caller) = (key.workspace, key.caller.clone());
    state
        .db
        .run(move |db| service::delete_draft(db, &caller, &scope, version))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Publishes a draft with an effective date (now by default; a future date schedules it).
#[utoipa::path(post, path = "/api/v1/policies/{version}/publish", tag = "policy", operation_id = "publish_policy",
    security(("api_key" = ["inventory:write"])),
    params(("version" = i64, Path, description = "Version number")),
    request_body(content = Option<PublishBody>, description = "Optional; an empty body publishes now, confirming no warnings"),
    responses(
        (status = 200, description = "The published version", body = PolicyDetail),
        (status = 404, description = "No such version in this workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already published", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The check found errors (field `inventory`) or unconfirmed warnings (`confirm_warnings`), the date is in the past or inside the notice period of a material change (`effective_at`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn publish(
    state: web::Data<AppState>,
    key: ApiKey,
    version: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryWrite)?;
    let version = version_of(&version)?;
    // No body means "now, no confirmation"; a body that does not parse is refused, not ignored
    // (an `Option<Json<_>>` would quietly publish now instead).
    let body: PublishBody = super::optional_json(&body)?;
    // A reason to skip the notice period is an owner's decision, taken in the console.
    let request = PublishRequest {
        effective_at: body.effective_at,
        confirm_warnings: body.confirm_warnings,
        notice_waiver: None,
    };
    let (scope, caller) = (key.workspace, key.caller.clone());
    state
        .db
        .run(move |db| publication::publish(db, &caller, &scope, version, &request))
        .await?;
    Ok(HttpResponse::Ok().json(detail(&state, &key, version).await?))
}

/// What publishing the draft now would meet, without publishing it.
#[utoipa::path(get, path = "/api/v1/policies/{version}/review", tag = "policy", operation_id = "review_policy",
    security(("api_key" = ["inventory:read"])),
    params(("version" = i64, Path, description = "Version number")),
    responses(
        (status = 200, description = "The check, the diff against the version in force and the notice period", body = PublishReview),
        (status = 404, description = "No such version in this workspace", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn review(
    state: web::Data<AppState>,
    key: ApiKey,
    version: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryRead)?;
    let version = version_of(&version)?;
    let scope = key.workspace;
    let r = state
        .db
        .run(move |db| publication::review(db, &scope, version))
        .await?;
    Ok(HttpResponse::Ok().json(PublishReview {
        version: r.draft.version,
        material: r.draft.material,
        findings: r.findings,
        in_force: r.in_force.map(|v| v.version),
        diff: r.diff,
        notice_days: r.notice_days,
        earliest_material_effect: r.earliest_material_effect,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// The older version to compare with. By default the version in force (for the version in
    /// force, the one it replaced).
    pub against: Option<i64>,
}

/// What changed between two versions, as a reader sees the text: headings, paragraphs, list
/// items and table rows (as cells) compared line by line, changed lines word by word.
#[utoipa::path(get, path = "/api/v1/policies/{version}/diff", tag = "policy", operation_id = "diff_policies",
    security(("api_key" = ["inventory:read"])),
    params(("version" = i64, Path, description = "The newer version"), DiffQuery),
    responses(
        (status = 200, description = "Lines marked =, -, + or ~ (words changed)", body = PolicyDiff),
        (status = 400, description = "A query parameter that does not parse, or one this operation does not take (named)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version in this workspace", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn diff(
    state: web::Data<AppState>,
    key: ApiKey,
    version: web::Path<String>,
    query: super::ApiQuery<DiffQuery>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryRead)?;
    let newer = version_of(&version)?;
    let against = query.into_inner()?.against;
    let scope = key.workspace;
    let diff = state
        .db
        .run(move |db| service::diff(db, &scope, newer, against))
        .await?;
    Ok(HttpResponse::Ok().json(diff))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicPolicyStatus {
    pub version: i64,
    pub effective_at: DateTime<Utc>,
    /// Whether the change that made this version was material: apps may ask people to review it.
    pub material: bool,
    pub summary: String,
    /// Where people read it.
    pub url: String,
}

/// The policy in force, for apps that prompt people to review changes. No key needed.
#[utoipa::path(get, path = "/api/v1/public/{workspace}/policy", tag = "policy", operation_id = "public_policy_status",
    security(()),
    params(("workspace" = String, Path, description = "Workspace slug")),
    responses(
        (status = 200, description = "The version in force", body = PublicPolicyStatus),
        (status = 404, description = "No such workspace, or nothing published yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn public_status(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug.into_inner();
    let s = slug.clone();
    let current = state
        .db
        .run(move |db| {
            let Some((scope, _)) = crate::services::workspaces::find_public(db, &s)? else {
                return Ok::<_, AppError>(None);
            };
            service::current(db, &scope)
        })
        .await?
        .ok_or_else(|| AppError::NotFound("published policy".into()))?;
    Ok(HttpResponse::Ok().json(PublicPolicyStatus {
        version: current.version,
        effective_at: current.effective_at.unwrap_or(current.created_at),
        material: current.material,
        summary: current.summary,
        url: format!("{}/p/{slug}/privacy", state.base_url),
    }))
}
