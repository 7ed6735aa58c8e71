//! What the console shows of people without opening their data: a person's states, counts,
//! access log and what retention will do to them; the recent under-age refusals; and finding a
//! person by e-mail address through the blind index (logged: it ties an address to a person).

use super::Caller;
use super::retention::SubjectFate;
use super::subjects::{Reader, find, log_access, restriction_reason, subject_key};
use crate::domain::{Email, ValidationErrors};
use crate::error::AppError;
use crate::store::audit::{self as audit_store, AuditFilter, AuditRange};
use crate::store::{Db, WorkspaceScope, audit, records, subjects};
use crate::vault::Vault;
use chrono::{DateTime, Utc};
use serde_json::json;

pub use crate::store::audit::AuditEntry;
pub use crate::store::records::AccessEntry;

/// A subject's states as the console shows them: no personal values, so no read to log. The
/// restriction's reason is the staff's own words, opened with the person's key.
pub struct SubjectStatus {
    pub external_id: String,
    pub kind: String,
    pub records: i64,
    pub closed_at: Option<DateTime<Utc>>,
    pub restricted_at: Option<DateTime<Utc>>,
    pub restricted_reason: String,
    /// Objections and withdrawals of consent the person made through requests.
    pub objections: Vec<super::request_fulfilment::ObjectionView>,
    pub erased_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Everything a person's console page shows.
pub struct SubjectOverview {
    pub status: SubjectStatus,
    /// Who has looked at this person, and why.
    pub access_log: Vec<AccessEntry>,
    /// Per category, what retention will do to this person's records, and when.
    pub fates: Vec<SubjectFate>,
}

pub fn overview(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    external_id: &str,
) -> Result<SubjectOverview, AppError> {
    let (mut status, row_id) = db.read(|c| {
        let row = find(c, scope, external_id)?;
        let records = records::count_for_subject(c, scope, row.id)?;
        let key = subject_key(vault, scope, &row)?;
        let restricted_reason = restriction_reason(&row, key.as_ref(), scope);
        Ok::<_, AppError>((
            SubjectStatus {
                external_id: row.external_id,
                kind: row.kind,
                records,
                closed_at: row.closed_at,
                restricted_at: row.restricted_at,
                restricted_reason,
                objections: Vec::new(),
                erased_at: row.erased_at,
                created_at: row.created_at,
            },
            row.id,
        ))
    })?;
    status.objections = super::request_fulfilment::objections(db, scope, external_id)?;
    let fates = super::retention::subject_fates(db, scope, row_id, status.closed_at)?;
    let access_log = super::subjects::access_log(db, vault, scope, external_id)?;
    Ok(SubjectOverview {
        status,
        access_log,
        fates,
    })
}

/// The most recent refusals of people under the workspace's minimum age (from the audit log,
/// which is all Lethe keeps of them).
pub fn recent_refusals(
    db: &Db,
    scope: &WorkspaceScope,
    limit: u32,
) -> Result<Vec<AuditEntry>, AppError> {
    let filter = AuditFilter {
        action: "subject.refused_under_age".into(),
        limit,
        ..AuditFilter::default()
    };
    Ok(db.read(|c| audit_store::list(c, AuditRange::Workspace(scope), &filter))?)
}

/// The reason written to a found person's access log.
pub const LOOKUP_REASON: &str = "Looked up by e-mail address";

/// The external ids of the people of this workspace with this e-mail address, normalised as at
/// ingestion and found through the blind index; erased people have none. Each person found gets
/// an entry in their access log (and `subject.read` in the audit chain, `read: lookup`); a search
/// that finds no one is audited as `subject.looked_up` with `found: 0`. The address itself is
/// written nowhere.
pub fn lookup_by_email(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    email: &str,
) -> Result<Vec<String>, AppError> {
    let email = Email::parse(email).map_err(|m| ValidationErrors::single("email", m))?;
    let index = vault.email_index(scope, email.as_str())?;
    let rows = db.read(|c| subjects::by_email_index(c, scope, &index))?;
    if rows.is_empty() {
        let event = caller
            .event("subject.looked_up", "")
            .detail(json!({"by": "email", "found": 0}));
        let now = Utc::now();
        db.write(|tx| audit::append(tx, Some(scope), &event, now).map_err(AppError::from))?;
        return Ok(Vec::new());
    }
    let reader = Reader::new(caller, false, LOOKUP_REASON.to_owned());
    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        let key = subject_key(vault, scope, row)?;
        let what = json!({"read": "lookup", "found_by": "email"});
        log_access(db, scope, row, key.as_ref(), &reader, what)?;
        found.push(row.external_id.clone());
    }
    Ok(found)
}
