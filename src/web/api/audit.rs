//! `/api/v1/audit`: the workspace's audit log, for export to a SIEM (scope `audit:read`).

use super::ApiError;
use super::auth::ApiKey;
use crate::domain::apikey::Scope;
use crate::error::AppError;
use crate::services::audit_log::{self, AuditEntry, AuditFilter, AuditRange};
use crate::web::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryBody {
    /// Position in the instance-wide chain.
    pub seq: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The client's network (/24 or /48), never the full address.
    pub ip: Option<String>,
}

impl From<AuditEntry> for AuditEntryBody {
    fn from(e: AuditEntry) -> Self {
        AuditEntryBody {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
            ip: e.ip,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryBody>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Substring of the actor, e.g. `staff:3` or `apikey:`.
    pub actor: Option<String>,
    /// Substring of the action, e.g. `apikey.`.
    pub action: Option<String>,
    /// Substring of the target.
    pub target: Option<String>,
    /// Entries at or after this time (RFC 3339).
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Entries before this time (RFC 3339).
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Entries with a sequence number below this.
    pub before: Option<i64>,
    /// Page size, 1 to 500 (default 100); a larger number is taken as 500.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295.0)]
    pub limit: Option<u32>,
}

/// Lists audit entries, newest first.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit", operation_id = "list_audit_entries",
    security(("api_key" = ["audit:read"])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 422, description = "A query parameter that does not parse, or one this operation does not take (field `query`)", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks audit:read", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    key: ApiKey,
    query: Result<web::Query<AuditQuery>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::AuditRead)?;
    let q = query
        .map_err(|e| {
            AppError::Validation(crate::domain::ValidationErrors::single(
                "query",
                e.to_string(),
            ))
        })?
        .into_inner();
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let filter = AuditFilter {
        actor: q.actor.unwrap_or_default(),
        action: q.action.unwrap_or_default(),
        target: q.target.unwrap_or_default(),
        since: q.since,
        until: q.until,
        before_seq: q.before,
        limit,
    };
    let scope = key.workspace;
    let entries = state
        .db
        .run(move |db| audit_log::list(db, AuditRange::Workspace(&scope), &filter))
        .await?;
    let next_before = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(HttpResponse::Ok().json(AuditPage {
        entries: entries.into_iter().map(Into::into).collect(),
        next_before,
    }))
}

/// One audit entry of the key's workspace.
#[utoipa::path(
    get, path = "/api/v1/audit/{seq}", tag = "audit", operation_id = "get_audit_entry",
    security(("api_key" = ["audit:read"])),
    params(("seq" = i64, Path, description = "Sequence number of the entry")),
    responses(
        (status = 200, description = "The entry", body = AuditEntryBody),
        (status = 404, description = "No such entry in this workspace", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    key: ApiKey,
    seq: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::AuditRead)?;
    let seq: i64 = seq
        .parse()
        .map_err(|_| AppError::NotFound("audit entry".into()))?;
    let scope = key.workspace;
    let entry = state
        .db
        .run(move |db| audit_log::get(db, &scope, seq))
        .await?;
    Ok(HttpResponse::Ok().json(AuditEntryBody::from(entry)))
}
