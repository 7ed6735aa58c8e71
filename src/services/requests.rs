//! Data subject requests: intake for a person the operator already authenticated, reading and
//! listing, and the workflow's moves (start, complete, deny, extend). Each move is checked by
//! `domain::request` and `domain::request_clock`, written with its timeline entry and its audit
//! entry in one transaction.
//!
//! At rest: the person's address, what they wrote, denial and extension texts and timeline
//! details are sealed under the workspace's `requests` key, each bound to its request and field
//! (`vault::request_aad`); the address is found through the vault's blind index. The audit chain,
//! which outlives the request, records only codes, dates and that a text was given.
//!
//! The person is e-mailed (`request_mail`) on verification, extension, completion and denial,
//! in the step's transaction, whoever takes the step (API, console). The privacy center's form,
//! verification links and the status page are `request_intake`'s.
//!
//! Carrying a request out in the vault is `request_fulfilment`'s, the tasks of the operator's
//! other systems `request_tasks`', the access and export package `request_package`'s.

use super::Caller;
use super::outbox::OutboxKey;
use super::request_mail::{Letters, Notice};
use super::request_tasks::{TaskView, views};
use crate::domain::ValidationErrors;
use crate::domain::inventory::InventoryKind;
use crate::domain::request::{DenialReason, EventKind, RequestInput, RequestState, RequestType};
use crate::domain::request_clock::{self, Law};
use crate::error::AppError;
use crate::store::request_tasks::{self, TaskRow};
use crate::store::requests::{self, EventRow, NewRequestRow, RequestRow};
use crate::store::{Db, WorkspaceScope, audit, inventory, subjects, workspaces};
use crate::vault::{self, SecretKey, Vault};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

pub use super::request_steps::{Action, Step, act, take_step};
pub use crate::store::requests::RequestFilter;

/// A request as the API shows it, its personal values opened.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: RequestType,
    /// What the request type means, in plain words.
    pub description: &'static str,
    pub state: RequestState,
    pub law: Law,
    pub received_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
    /// CCPA: when receipt must have been confirmed to the person.
    pub acknowledge_by: Option<DateTime<Utc>>,
    /// The deadline the law gives from receipt.
    pub due_at: DateTime<Utc>,
    /// The deadline after an extension, if one was decided.
    pub extended_due_at: Option<DateTime<Utc>>,
    /// Why the deadline was extended (the person is told).
    pub extension_reason: Option<String>,
    /// Open and past its deadline in force.
    pub overdue: bool,
    /// The matched subject's external id.
    pub subject: Option<String>,
    pub email: Option<String>,
    pub details: Option<String>,
    /// For an objection: the purpose's key in the inventory.
    pub purpose: Option<String>,
    pub denial: Option<Denial>,
    /// What the person was answered when the request was completed: what was done, what a legal
    /// hold keeps (its reason and end date), or that no data is held about them.
    pub answer: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    /// When it was completed or denied.
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Every step so far, oldest first (only when one request is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineEntry>>,
    /// The tasks of the operator's other systems (only when one request is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<TaskView>>,
}

/// Everything of one request besides its row: its timeline and its systems' tasks.
pub(super) struct Whole {
    pub(super) events: Vec<EventRow>,
    pub(super) tasks: Vec<TaskRow>,
}

pub(super) fn whole(
    conn: &crate::store::Connection,
    scope: &WorkspaceScope,
    id: &str,
) -> Result<Whole, AppError> {
    Ok(Whole {
        events: requests::events(conn, scope, id)?,
        tasks: request_tasks::for_request(conn, scope, id)?,
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Denial {
    pub reason: DenialReason,
    /// The reason as the person reads it.
    pub description: &'static str,
    /// What staff added.
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub what: EventKind,
    pub detail: Option<String>,
}

/// A request in a list: codes and dates, no personal values.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestSummary {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: RequestType,
    pub state: RequestState,
    pub law: Law,
    pub received_at: DateTime<Utc>,
    /// The deadline in force (extended or not).
    pub due: DateTime<Utc>,
    pub extended: bool,
    pub overdue: bool,
    pub subject: Option<String>,
    pub purpose: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// One page of requests in the order they came in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestPage {
    pub requests: Vec<RequestSummary>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

fn due_in_force(row: &RequestRow) -> DateTime<Utc> {
    row.extended_due_at.unwrap_or(row.due_at)
}

pub(super) fn overdue(row: &RequestRow, now: DateTime<Utc>) -> bool {
    row.state.is_open() && request_clock::is_overdue(due_in_force(row), now)
}

pub(super) fn not_found(id: &str) -> AppError {
    AppError::NotFound(format!(
        "request '{}'",
        id.chars().take(40).collect::<String>()
    ))
}

pub(super) fn seal(
    key: &SecretKey,
    scope: &WorkspaceScope,
    id: &str,
    field: &str,
    text: &str,
) -> Result<Vec<u8>, AppError> {
    Ok(key.seal(&vault::request_aad(scope, id, field), text.as_bytes())?)
}

/// A sealed text in words; one that does not open says so rather than failing the answer.
pub(super) fn open(
    key: &SecretKey,
    scope: &WorkspaceScope,
    id: &str,
    field: &str,
    sealed: &[u8],
) -> String {
    key.open(&vault::request_aad(scope, id, field), sealed)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| "(this text cannot be read)".to_owned())
}

pub(super) fn view(
    row: &RequestRow,
    key: &SecretKey,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
    whole: Option<&Whole>,
) -> RequestView {
    let events = whole.map(|w| w.events.as_slice());
    let opened = |field: &str, sealed: &Option<Vec<u8>>| {
        sealed
            .as_deref()
            .map(|s| open(key, scope, &row.id, field, s))
    };
    RequestView {
        id: row.id.clone(),
        kind: row.kind,
        description: row.kind.description(),
        state: row.state,
        law: row.law,
        received_at: row.received_at,
        verified_at: row.verified_at,
        acknowledge_by: row.acknowledge_by,
        due_at: row.due_at,
        extended_due_at: row.extended_due_at,
        extension_reason: opened("extension", &row.extension_reason_sealed),
        overdue: overdue(row, now),
        subject: row.subject_external_id.clone(),
        email: opened("email", &row.email_sealed),
        details: opened("details", &row.details_sealed),
        purpose: row.purpose_key.clone(),
        denial: row.denial_reason.map(|reason| Denial {
            reason,
            description: reason.description(),
            text: opened("denial", &row.denial_text_sealed),
        }),
        answer: events.and_then(|events| {
            events
                .iter()
                .rev()
                .find(|e| e.what == EventKind::Completed)
                .and_then(|e| e.detail_sealed.as_deref().map(|s| (e.id, s)))
                .map(|(event, s)| open(key, scope, &row.id, &format!("event/{event}"), s))
        }),
        started_at: row.started_at,
        completed_at: row.completed_at,
        updated_at: row.updated_at,
        timeline: events.map(|events| {
            events
                .iter()
                .map(|e| TimelineEntry {
                    at: e.at,
                    actor: e.actor.clone(),
                    what: e.what,
                    detail: e
                        .detail_sealed
                        .as_deref()
                        .map(|s| open(key, scope, &row.id, &format!("event/{}", e.id), s)),
                })
                .collect()
        }),
        tasks: whole.map(|w| views(&w.tasks)),
    }
}

/// Lethe's own part of the answer, when it was kept for later (`carried_out`: while other
/// systems' tasks were open, or a correction staff applied): the latest one, opened.
pub(super) fn carried_out_answer(
    conn: &crate::store::Connection,
    scope: &WorkspaceScope,
    key: &SecretKey,
    id: &str,
) -> Result<Option<String>, AppError> {
    Ok(requests::events(conn, scope, id)?
        .iter()
        .rev()
        .find(|e| e.what == EventKind::CarriedOut)
        .and_then(|e| e.detail_sealed.as_deref().map(|s| (e.id, s)))
        .map(|(event, s)| open(key, scope, id, &format!("event/{event}"), s)))
}

pub(super) fn summary(row: RequestRow, now: DateTime<Utc>) -> RequestSummary {
    RequestSummary {
        overdue: overdue(&row, now),
        due: due_in_force(&row),
        extended: row.extended_due_at.is_some(),
        id: row.id,
        kind: row.kind,
        state: row.state,
        law: row.law,
        received_at: row.received_at,
        subject: row.subject_external_id,
        purpose: row.purpose_key,
        completed_at: row.completed_at,
    }
}

/// Where a use case writes a request's timeline: its transaction, the workspace's requests key
/// and who acts.
pub(super) struct Timeline<'a, 't> {
    pub(super) tx: &'a crate::store::Transaction<'t>,
    pub(super) scope: &'a WorkspaceScope,
    pub(super) key: &'a SecretKey,
    pub(super) caller: &'a Caller,
}

impl Timeline<'_, '_> {
    /// Appends an entry, its detail sealed under the entry's id.
    pub(super) fn add(
        &self,
        request_id: &str,
        what: EventKind,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let (tx, scope) = (self.tx, self.scope);
        let actor = self.caller.actor.label();
        let id = requests::append_event(tx, scope, request_id, what, &actor, at)?;
        if let Some(detail) = detail {
            let field = format!("event/{id}");
            let sealed = seal(self.key, scope, request_id, &field, detail)?;
            requests::seal_event_detail(tx, scope, id, &sealed)?;
        }
        Ok(())
    }
}

/// Opens a request for a person the operator has already authenticated: it is `verified` at
/// once and its clock runs from `received_at` (default now), under the law it names or else
/// the workspace's (`WorkspaceSettings::request_law`). The person is matched to a subject
/// by `external_id` (which must exist) or, failing that, by e-mail through the blind index when
/// exactly one subject has it; an unknown address is accepted like any other.
pub fn create_verified(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    input: RequestInput,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<RequestView, AppError> {
    let default_law = db
        .read(|c| Ok::<_, AppError>(workspaces::get(c, scope)?))?
        .settings
        .request_law;
    let new = input.validate_under(now, default_law)?;
    let email_index = new
        .email
        .as_ref()
        .map(|e| vault.email_index(scope, e.as_str()))
        .transpose()?;
    let key = vault.requests_key(scope)?;
    let id = uuid::Uuid::now_v7().to_string();
    let email_sealed = new
        .email
        .as_ref()
        .map(|e| seal(&key, scope, &id, "email", e.as_str()))
        .transpose()?;
    let details_sealed = new
        .details
        .as_deref()
        .map(|d| seal(&key, scope, &id, "details", d))
        .transpose()?;
    let deadlines = request_clock::deadlines(new.law, new.received_at);
    let outbox = OutboxKey::load(vault, scope)?;
    db.write(|tx| {
        let mut errors = ValidationErrors::default();
        if let Some(p) = &new.purpose
            && !inventory::contains(tx, scope, InventoryKind::Purposes, p)?
        {
            errors.add(
                "purpose",
                format!("'{p}' is not a purpose in this workspace's inventory"),
            );
        }
        let by_id = match &new.external_id {
            Some(ext) => {
                let found = subjects::by_external_id(tx, scope, ext)?;
                if found.is_none() {
                    errors.add(
                        "external_id",
                        format!("there is no subject '{ext}' in this workspace"),
                    );
                }
                found
            }
            None => None,
        };
        errors.into_result()?;
        let subject_id = match (by_id, &email_index) {
            (Some(s), _) => Some(s.id),
            (None, Some(index)) => match subjects::by_email_index(tx, scope, index)?.as_slice() {
                [only] => Some(only.id),
                // None, or several people with one address: staff match it by hand.
                _ => None,
            },
            (None, None) => None,
        };
        requests::insert(
            tx,
            scope,
            &NewRequestRow {
                id: &id,
                kind: new.kind,
                state: RequestState::Verified,
                law: new.law,
                received_at: new.received_at,
                verified_at: Some(now),
                acknowledge_by: deadlines.acknowledge_by,
                due_at: deadlines.due_at,
                subject_id,
                email_index: email_index.as_deref(),
                email_sealed: email_sealed.as_deref(),
                details_sealed: details_sealed.as_deref(),
                purpose_key: new.purpose.as_deref(),
            },
            now,
        )?;
        let timeline = Timeline {
            tx,
            scope,
            key: &key,
            caller,
        };
        timeline.add(&id, EventKind::Received, None, new.received_at)?;
        let how = "the operator authenticated the person";
        timeline.add(&id, EventKind::Verified, Some(how), now)?;
        if let Some(email) = &new.email {
            let letters = Letters {
                tx,
                scope,
                outbox: &outbox,
                base_url,
            };
            let notice = Notice::Verified {
                due: deadlines.due_at,
            };
            letters.send(&id, new.kind, email.as_str(), notice, now)?;
        }
        let event = caller.event("request.created", &id).detail(json!({
            "type": new.kind.as_str(),
            "law": new.law.as_str(),
            "state": RequestState::Verified.as_str(),
            "due_at": crate::domain::time::format(deadlines.due_at),
            "matched": subject_id.is_some(),
            "purpose": new.purpose,
        }));
        audit::append(tx, Some(scope), &event, now)?;
        Ok::<_, AppError>(())
    })?;
    get(db, vault, scope, caller, &id, now)
}

/// One request with its timeline; reading its personal values is audited (`request.read`).
pub fn get(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    id: &str,
    now: DateTime<Utc>,
) -> Result<RequestView, AppError> {
    let key = vault.requests_key(scope)?;
    db.write(|tx| {
        let row = requests::get(tx, scope, id)?.ok_or_else(|| not_found(id))?;
        let whole = whole(tx, scope, id)?;
        audit::append(tx, Some(scope), &caller.event("request.read", id), now)?;
        Ok(view(&row, &key, scope, now, Some(&whole)))
    })
}

/// One request with its timeline but without the person's address, what they wrote or staff's
/// texts: for members who may see requests but not read people's data. It shows none of them,
/// so it is not audited as a read.
pub fn get_facts(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    id: &str,
    now: DateTime<Utc>,
) -> Result<RequestView, AppError> {
    let key = vault.requests_key(scope)?;
    let (row, whole) = db.read(|c| {
        let row = requests::get(c, scope, id)?.ok_or_else(|| not_found(id))?;
        Ok::<_, AppError>((row, whole(c, scope, id)?))
    })?;
    let mut facts = view(&row, &key, scope, now, Some(&whole));
    facts.email = None;
    facts.details = None;
    facts.extension_reason = None;
    facts.answer = None;
    if let Some(d) = facts.denial.as_mut() {
        d.text = None;
    }
    for entry in facts.timeline.iter_mut().flatten() {
        entry.detail = None;
    }
    Ok(facts)
}

/// Up to `limit` requests after `after` that pass `filter`, without personal values (so not
/// audited as a read). One more is read to know whether another page follows.
pub fn list(
    db: &Db,
    scope: &WorkspaceScope,
    filter: &RequestFilter,
    after: Option<&str>,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<RequestPage, AppError> {
    let mut rows =
        db.read(|c| requests::list_after(c, scope, filter, after, limit.saturating_add(1)))?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let requests: Vec<RequestSummary> = rows.into_iter().map(|r| summary(r, now)).collect();
    let next_after = more
        .then(|| requests.last().map(|r| r.id.clone()))
        .flatten();
    Ok(RequestPage {
        requests,
        next_after,
    })
}

/// Open and overdue requests of one workspace, for `/metrics`.
#[derive(Debug, Clone)]
pub struct RequestCounts {
    pub workspace: String,
    pub open: i64,
    pub overdue: i64,
}

pub fn metrics(db: &Db, now: DateTime<Utc>) -> Result<Vec<RequestCounts>, AppError> {
    db.read(|c| {
        let mut out = Vec::new();
        for (scope, slug) in workspaces::all(c)? {
            let (open, overdue) = requests::open_counts(c, &scope, now)?;
            out.push(RequestCounts {
                workspace: slug,
                open,
                overdue,
            });
        }
        Ok(out)
    })
}
