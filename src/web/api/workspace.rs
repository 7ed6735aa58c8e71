//! `/api/v1/workspace`: the key's own workspace.

use super::ApiError;
use super::auth::ApiKey;
use crate::domain::apikey::Scope;
use crate::domain::workspace::{Workspace, WorkspaceSettingsInput};
use crate::services::workspaces;
use crate::web::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceBody {
    pub slug: String,
    pub legal_name: String,
    pub contact_email: String,
    pub dpo_name: String,
    pub dpo_email: Option<String>,
    /// People younger than this are refused.
    pub min_age: u8,
    /// The law data subject requests fall under when they do not name one.
    pub request_law: crate::domain::request_clock::Law,
    /// Days between the publication of a material policy change and the day it applies.
    pub notice_days: u16,
    pub require_totp: bool,
    /// Staff review each verified data subject request before Lethe carries it out.
    pub review_requests: bool,
    /// The origins of the sites whose pages may post consent decisions from the banner, e.g.
    /// `https://shop.example`.
    pub consent_origins: Vec<String>,
    /// The parent domain the sites' cookies are set on (`shop.example`): the banner deletes a
    /// refused purpose's cookies there as well as on the page's own host.
    pub consent_cookie_domain: Option<String>,
    /// The IANA time zone staff's times are read in and deadlines shown in, e.g.
    /// `Europe/Berlin` (default `UTC`).
    pub time_zone: String,
    /// The scopes of the key that made this request.
    pub key_scopes: Vec<String>,
}

impl WorkspaceBody {
    fn new(w: Workspace, key: &ApiKey) -> Self {
        WorkspaceBody {
            slug: w.slug,
            legal_name: w.settings.legal_name,
            contact_email: w.settings.contact_email.to_string(),
            dpo_name: w.settings.dpo_name,
            dpo_email: w.settings.dpo_email.map(|e| e.to_string()),
            min_age: w.settings.min_age,
            request_law: w.settings.request_law,
            notice_days: w.settings.notice_days,
            require_totp: w.settings.require_totp,
            review_requests: w.settings.review_requests,
            consent_origins: w.settings.consent_origins,
            consent_cookie_domain: w.settings.consent_cookie_domain,
            time_zone: w.settings.time_zone.name().to_owned(),
            key_scopes: key
                .key
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
        }
    }
}

/// The workspace of the API key (any scope).
#[utoipa::path(
    get, path = "/api/v1/workspace", tag = "workspace", operation_id = "get_workspace",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The key's workspace", body = WorkspaceBody),
        (status = 401, description = "Missing, unknown or revoked key", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(state: web::Data<AppState>, key: ApiKey) -> Result<HttpResponse, ApiError> {
    let scope = key.workspace;
    let ws = state.db.run(move |db| workspaces::get(db, &scope)).await?;
    Ok(HttpResponse::Ok().json(WorkspaceBody::new(ws, &key)))
}

/// Fields to change; absent fields keep their value. Security settings (mandatory TOTP) are
/// changed in the console only. An unknown field is refused (422), among them the former
/// `request_deadline_days`: deadlines follow `request_law`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspacePatch {
    pub legal_name: Option<String>,
    pub contact_email: Option<String>,
    pub dpo_name: Option<String>,
    /// An empty string removes the DPO address.
    pub dpo_email: Option<String>,
    pub min_age: Option<u8>,
    /// The law requests fall under when they do not name one: `gdpr` or `ccpa`.
    #[schema(value_type = Option<crate::domain::request_clock::Law>)]
    pub request_law: Option<String>,
    /// Days of notice before a material policy change applies (0 to 365).
    pub notice_days: Option<u16>,
    /// Whether staff review each verified data subject request before Lethe carries it out
    /// (off by default: Lethe carries it out as soon as it is verified).
    pub review_requests: Option<bool>,
    /// The origins (scheme, host and port if not the usual one; no path) of the sites whose
    /// pages may post consent decisions; replaces the list.
    pub consent_origins: Option<Vec<String>>,
    /// The parent domain of the sites' cookies, e.g. `shop.example`; an empty string removes it.
    pub consent_cookie_domain: Option<String>,
    /// The IANA time zone (e.g. `Europe/Berlin`; `UTC`) staff's times without an offset are
    /// read in and deadlines are shown in.
    pub time_zone: Option<String>,
}

/// Updates the workspace's contact details and defaults (scope `workspace:write`).
#[utoipa::path(
    patch, path = "/api/v1/workspace", tag = "workspace", operation_id = "update_workspace",
    security(("api_key" = ["workspace:write"])),
    request_body = WorkspacePatch,
    responses(
        (status = 200, description = "The updated workspace", body = WorkspaceBody),
        (status = 400, description = "Malformed JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks workspace:write", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values; nothing was changed", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn patch(
    state: web::Data<AppState>,
    key: ApiKey,
    body: super::JsonObject<WorkspacePatch>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::WorkspaceWrite)?;
    let scope = key.workspace;
    let caller = key.caller.clone();
    let patch = body.into_inner();
    let ws = state
        .db
        .run(move |db| {
            crate::services::workspaces::update_from(db, &caller, &scope, |s| {
                WorkspaceSettingsInput {
                    legal_name: patch.legal_name.unwrap_or_else(|| s.legal_name.clone()),
                    contact_email: patch
                        .contact_email
                        .unwrap_or_else(|| s.contact_email.to_string()),
                    dpo_name: patch.dpo_name.unwrap_or_else(|| s.dpo_name.clone()),
                    dpo_email: patch.dpo_email.unwrap_or_else(|| {
                        s.dpo_email
                            .as_ref()
                            .map(|e| e.to_string())
                            .unwrap_or_default()
                    }),
                    min_age: patch.min_age.unwrap_or(s.min_age).to_string(),
                    request_law: patch
                        .request_law
                        .unwrap_or_else(|| s.request_law.as_str().to_owned()),
                    notice_days: patch.notice_days.unwrap_or(s.notice_days).to_string(),
                    require_totp: s.require_totp,
                    review_requests: patch.review_requests.unwrap_or(s.review_requests),
                    consent_origins: patch
                        .consent_origins
                        .unwrap_or_else(|| s.consent_origins.clone()),
                    consent_cookie_domain: patch
                        .consent_cookie_domain
                        .unwrap_or_else(|| s.consent_cookie_domain.clone().unwrap_or_default()),
                    time_zone: patch
                        .time_zone
                        .unwrap_or_else(|| s.time_zone.name().to_owned()),
                }
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(WorkspaceBody::new(ws, &key)))
}
