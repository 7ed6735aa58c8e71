//! The audit log pages: one per workspace, and the instance-wide one for administrators.

use super::error::PageError;
use super::session::SignedIn;
use super::{Shell, ok};
use crate::domain::evidence::Period;
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::audit_log::{self, AuditEntry, AuditFilter, AuditRange};
use crate::services::evidence;
use crate::web::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

const PAGE_SIZE: u32 = 50;

#[derive(Deserialize, Default)]
pub struct FilterQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    /// A date (YYYY-MM-DD), inclusive.
    #[serde(default)]
    since: String,
    /// A date (YYYY-MM-DD), inclusive.
    #[serde(default)]
    until: String,
    before: Option<i64>,
}

impl FilterQuery {
    fn filter(&self) -> Result<AuditFilter, PageError> {
        let date = |field: &str, s: &str, days: i64| -> Result<Option<DateTime<Utc>>, PageError> {
            if s.trim().is_empty() {
                return Ok(None);
            }
            let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                AppError::Validation(crate::domain::ValidationErrors::single(
                    field,
                    "use a date like 2026-11-22",
                ))
            })?;
            Ok(d.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc() + chrono::Duration::days(days)))
        };
        Ok(AuditFilter {
            actor: self.actor.trim().to_owned(),
            action: self.action.trim().to_owned(),
            target: self.target.trim().to_owned(),
            since: date("since", &self.since, 0)?,
            until: date("until", &self.until, 1)?,
            before_seq: self.before,
            limit: PAGE_SIZE,
        })
    }

    /// The query string for the next page, keeping the filters.
    fn older(&self, entries: &[AuditEntry]) -> Option<String> {
        if entries.len() < PAGE_SIZE as usize {
            return None;
        }
        let last = entries.last()?.seq;
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        Some(format!(
            "?actor={}&action={}&target={}&since={}&until={}&before={last}",
            enc(&self.actor),
            enc(&self.action),
            enc(&self.target),
            enc(&self.since),
            enc(&self.until)
        ))
    }
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    shell: Shell,
    heading: String,
    entries: Vec<AuditEntry>,
    query: FilterQuery,
    older: Option<String>,
    /// The workspace whose evidence pack the page offers; none on the instance's log.
    evidence_of: Option<String>,
}

impl AuditPage {
    /// An entry's details as `key: value` pairs, one per line: reads better than JSON, and
    /// `subject.read` entries (the most frequent) say at a glance what was read.
    fn details(&self, detail: &serde_json::Value) -> Vec<String> {
        match detail {
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| format!("{k}: {}", plain(v)))
                .collect(),
            serde_json::Value::Null => Vec::new(),
            other => vec![plain(other)],
        }
    }
}

/// A value without JSON's quotes where they add nothing.
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "none".into(),
        serde_json::Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
            items.iter().map(plain).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}

pub async fn workspace(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    query: web::Query<FilterQuery>,
) -> Result<HttpResponse, PageError> {
    let member = who.workspace(&state, &slug, Permission::ReadAudit).await?;
    let query = query.into_inner();
    let filter = query.filter()?;
    let scope = member.scope;
    let entries = state
        .db
        .run(move |db| audit_log::list(db, AuditRange::Workspace(&scope), &filter))
        .await?;
    ok(&AuditPage {
        heading: format!("Audit log of {}", member.workspace.settings.legal_name),
        shell: Shell::in_workspace(&who, &member, "audit"),
        older: query.older(&entries),
        entries,
        query,
        evidence_of: Some(member.workspace.slug.clone()),
    })
}

#[derive(Deserialize, Default)]
pub struct PeriodQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// The evidence pack as a download, for those who read the audit log (owners, privacy officers,
/// auditors). Making it is audited (`evidence.exported`) by the service.
pub async fn evidence(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    query: web::Query<PeriodQuery>,
) -> Result<HttpResponse, PageError> {
    let member = who.workspace(&state, &slug, Permission::ReadAudit).await?;
    let period = Period::parse(Some(&query.from), Some(&query.to)).map_err(|(field, m)| {
        AppError::Validation(crate::domain::ValidationErrors::single(field, m))
    })?;
    let (scope, vault, caller) = (member.scope, state.vault.clone(), who.caller.clone());
    let pack = state
        .db
        .run(move |db| evidence::make(db, &vault, &scope, &caller, &period, Utc::now()))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", pack.file_name),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(pack.bytes))
}

/// Events that belong to no workspace: logins, lockouts, set-up, TOTP changes.
pub async fn instance(
    state: web::Data<AppState>,
    who: SignedIn,
    query: web::Query<FilterQuery>,
) -> Result<HttpResponse, PageError> {
    if !who.account.is_admin {
        return Err(
            AppError::Forbidden("Only administrators read the instance audit log.".into()).into(),
        );
    }
    let query = query.into_inner();
    let filter = query.filter()?;
    let entries = state
        .db
        .run(move |db| audit_log::list(db, AuditRange::Instance, &filter))
        .await?;
    ok(&AuditPage {
        heading: "Instance audit log".into(),
        shell: Shell::new(&who, "instance-audit"),
        older: query.older(&entries),
        entries,
        query,
        evidence_of: None,
    })
}
