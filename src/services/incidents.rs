//! The breach register (GDPR Art. 33, 34): registering an incident, changing it, deciding not to
//! notify the authority, closing and reopening, reading and listing. Each change is validated by
//! `domain::incident`, written in one transaction with its timeline entry (what changed) and its
//! audit entry. The regulator's notice and its phases are `incident_notice`'s, the register's
//! export `incident_register`'s, the deadline warnings `incident_deadlines`'.
//!
//! Affected people and records are counted in the vault (`store::incident_counts`) whenever
//! what bounds them changes (categories, systems, the window): after the change commits, on a
//! read-only connection, then stored in a short transaction only if the incident is still as
//! the change left it, so a count over millions of records never holds the write lock.

use super::Caller;
use crate::domain::ValidationErrors;
use crate::domain::incident::{
    self, AuthorityDecision, IncidentEventKind, IncidentFields, IncidentInput, IncidentState,
    RiskLevel,
};
use crate::domain::incident_notice::AffectedCounts;
use crate::domain::inventory::InventoryKind;
use crate::error::AppError;
use crate::store::incidents::{self, EventRow, IncidentRow, PhaseRow};
use crate::store::{Connection, Db, Transaction, WorkspaceScope, audit, incident_counts};
use crate::store::{inventory, members, workspaces};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

pub use crate::domain::incident_notice::{CategoryCount, NoticeSection};

/// An incident as the API and the console show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentView {
    pub id: String,
    pub title: String,
    pub description: String,
    /// Awareness: the 72 hours run from here.
    pub detected_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub risk: RiskLevel,
    /// What the risk level obliges, in plain words.
    pub risk_meaning: &'static str,
    pub risk_reasoning: String,
    /// The e-mail of the member who handles it.
    pub handler: Option<String>,
    pub state: IncidentState,
    /// `notify`, `not_notified`, or absent while undecided.
    pub authority_decision: Option<AuthorityDecision>,
    pub not_notified_reason: Option<String>,
    /// Why the authority was notified after the deadline.
    pub late_reason: Option<String>,
    pub consequences: String,
    pub measures: String,
    pub categories: Vec<String>,
    pub systems: Vec<String>,
    /// When the authority must have been notified: exactly 72 hours after `detected_at`.
    pub deadline: DateTime<Utc>,
    /// The deadline on the wall in the workspace's time zone, e.g. `2026-10-26 09:00 CET`.
    pub deadline_local: String,
    /// The workspace's time zone (IANA).
    pub time_zone: String,
    /// When the first notice phase was sent to the authority.
    pub notified_at: Option<DateTime<Utc>>,
    /// Whether that first phase was sent after the deadline.
    pub notified_late: Option<bool>,
    /// Still waiting for a notice (open, not notified, not decided against) and past the
    /// deadline.
    pub overdue: bool,
    /// The latest count of who and what was affected; absent while no category or system is
    /// named.
    pub affected: Option<AffectedCounts>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Every change, oldest first (when one incident is read, and in the register's export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<IncidentEvent>>,
    /// The notice phases sent (when one incident is read, and in the export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice_phases: Option<Vec<NoticePhase>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentEvent {
    pub at: DateTime<Utc>,
    /// Who: a staff login, an API key's name, the shell or Lethe.
    pub actor: String,
    pub what: IncidentEventKind,
    /// What changed: for `updated`, `changed` names the fields and `from`/`to` hold their values.
    #[schema(value_type = Object)]
    pub detail: Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoticePhase {
    /// 1 for the first notice, then 2, 3… (Art. 33(4): information in phases).
    pub phase: i64,
    pub sent_at: DateTime<Utc>,
    /// Sent after the 72 hours.
    pub late: bool,
    /// The notice's sections as they were sent.
    pub sections: Vec<NoticeSection>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

pub(super) fn not_found(id: &str) -> AppError {
    AppError::NotFound(format!(
        "incident '{}'",
        id.chars().take(40).collect::<String>()
    ))
}

pub(super) fn load(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: &str,
) -> Result<IncidentRow, AppError> {
    incidents::get(conn, scope, id)?.ok_or_else(|| not_found(id))
}

pub(super) fn ensure_open(row: &IncidentRow) -> Result<(), AppError> {
    match row.state {
        IncidentState::Open => Ok(()),
        IncidentState::Closed => Err(AppError::Conflict(format!(
            "incident '{}' is closed: reopen it before changing it",
            row.id
        ))),
    }
}

pub(super) fn zone_of(conn: &Connection, scope: &WorkspaceScope) -> Result<Tz, AppError> {
    Ok(workspaces::get(conn, scope)?.settings.time_zone)
}

/// The stored count, read strictly: a count that does not parse is an error, like a bad time.
fn affected(row: &IncidentRow) -> Result<Option<AffectedCounts>, AppError> {
    row.counts
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| AppError::internal(anyhow::anyhow!("incident {}: counts: {e}", row.id)))
}

pub(super) fn view(
    row: &IncidentRow,
    zone: Tz,
    now: DateTime<Utc>,
    whole: Option<(&[EventRow], &[PhaseRow])>,
) -> Result<IncidentView, AppError> {
    let f = &row.fields;
    let deadline = incident::authority_deadline(f.detected_at);
    let awaiting = row.state == IncidentState::Open
        && row.notified_at.is_none()
        && row.decision != Some(AuthorityDecision::NotNotified);
    Ok(IncidentView {
        id: row.id.clone(),
        title: f.title.clone(),
        description: f.description.clone(),
        detected_at: f.detected_at,
        started_at: f.started_at,
        ended_at: f.ended_at,
        risk: f.risk,
        risk_meaning: f.risk.meaning(),
        risk_reasoning: f.risk_reasoning.clone(),
        handler: f.handler.clone(),
        state: row.state,
        authority_decision: row.decision,
        not_notified_reason: row.not_notified_reason.clone(),
        late_reason: row.late_reason.clone(),
        consequences: f.consequences.clone(),
        measures: f.measures.clone(),
        categories: f.categories.clone(),
        systems: f.systems.clone(),
        deadline,
        deadline_local: incident::in_zone(deadline, zone),
        time_zone: zone.name().to_owned(),
        notified_at: row.notified_at,
        notified_late: row.notified_at.map(|t| incident::is_late(f.detected_at, t)),
        overdue: awaiting && now > deadline,
        affected: affected(row)?,
        closed_at: row.closed_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
        timeline: whole.map(|(events, _)| events.iter().map(event_view).collect()),
        notice_phases: whole
            .map(|(_, phases)| phases.iter().map(phase_view).collect::<Result<_, _>>())
            .transpose()?,
    })
}

fn event_view(e: &EventRow) -> IncidentEvent {
    IncidentEvent {
        at: e.at,
        actor: e.actor.clone(),
        what: e.what,
        detail: serde_json::from_str(&e.detail).unwrap_or(Value::String(e.detail.clone())),
    }
}

fn phase_view(p: &PhaseRow) -> Result<NoticePhase, AppError> {
    Ok(NoticePhase {
        phase: p.phase,
        sent_at: p.sent_at,
        late: p.late,
        sections: serde_json::from_str(&p.content)
            .map_err(|e| AppError::internal(anyhow::anyhow!("notice phase {}: {e}", p.phase)))?,
        recorded_by: p.recorded_by.clone(),
        recorded_at: p.recorded_at,
    })
}

/// Appends a timeline entry: what happened, who did it, what changed.
pub(super) fn timeline(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    caller: &Caller,
    id: &str,
    what: IncidentEventKind,
    detail: Value,
    at: DateTime<Utc>,
) -> Result<(), AppError> {
    let actor = caller.actor.label();
    incidents::append_event(tx, scope, id, what, &actor, &detail.to_string(), at)?;
    Ok(())
}

/// Checks what only the store can: the handler is a member, and keys newly linked are in the
/// inventory (a key linked earlier stays, even if the inventory has lost it since).
fn check_references(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    fields: &IncidentFields,
    before: Option<&IncidentFields>,
) -> Result<Option<i64>, AppError> {
    let mut errors = ValidationErrors::default();
    for (field, kind, keys, old) in [
        (
            "categories",
            InventoryKind::Categories,
            &fields.categories,
            before.map(|b| &b.categories),
        ),
        (
            "systems",
            InventoryKind::Systems,
            &fields.systems,
            before.map(|b| &b.systems),
        ),
    ] {
        for key in keys {
            let known = old.is_some_and(|o| o.contains(key));
            if !known && !inventory::contains(tx, scope, kind, key)? {
                errors.add(
                    field,
                    format!("'{key}' is not in this workspace's inventory"),
                );
            }
        }
    }
    let handler = match &fields.handler {
        None => None,
        Some(email) => {
            let member = members::list(tx, scope)?
                .into_iter()
                .find(|m| m.email == *email);
            if member.is_none() {
                errors.add(
                    "handler",
                    format!("{email} is not a member of this workspace"),
                );
            }
            member.map(|m| m.staff_id)
        }
    };
    errors.into_result()?;
    Ok(handler)
}

/// Registers an incident: open, its clock running from `detected_at`, its affected people
/// counted when categories or systems are named.
pub fn register(
    db: &Db,
    scope: &WorkspaceScope,
    caller: &Caller,
    input: IncidentInput,
    now: DateTime<Utc>,
) -> Result<IncidentView, AppError> {
    let zone = db.read(|c| zone_of(c, scope))?;
    let fields = input.validate(zone, now)?;
    let id = uuid::Uuid::now_v7().to_string();
    db.write(|tx| {
        let handler = check_references(tx, scope, &fields, None)?;
        incidents::insert(tx, scope, &id, &fields, handler, now)?;
        let deadline = incident::authority_deadline(fields.detected_at);
        let detail = json!({
            "title": fields.title,
            "detected_at": crate::domain::time::format(fields.detected_at),
            "deadline": crate::domain::time::format(deadline),
            "risk": fields.risk.as_str(),
            "categories": fields.categories,
            "systems": fields.systems,
        });
        timeline(
            tx,
            scope,
            caller,
            &id,
            IncidentEventKind::Registered,
            detail.clone(),
            now,
        )?;
        audit::append(
            tx,
            Some(scope),
            &caller.event("incident.registered", &id).detail(detail),
            now,
        )?;
        Ok::<_, AppError>(())
    })?;
    recount(db, scope, &id, now)?;
    get(db, scope, &id, now)
}

/// Changes an incident: the fields given replace the stored ones (an empty string clears an
/// optional time or the handler; `categories`/`systems` replace the lists). The timeline and
/// the audit log name every field changed, the timeline with old and new values.
pub fn update(
    db: &Db,
    scope: &WorkspaceScope,
    caller: &Caller,
    id: &str,
    patch: IncidentInput,
    now: DateTime<Utc>,
) -> Result<IncidentView, AppError> {
    let (zone, before) =
        db.read(|c| Ok::<_, AppError>((zone_of(c, scope)?, load(c, scope, id)?)))?;
    ensure_open(&before)?;
    let fields = merged(before.fields.to_input(), patch).validate(zone, now)?;
    let changed = fields.changed_since(&before.fields);
    if changed.is_empty() {
        return get(db, scope, id, now);
    }
    db.write(|tx| {
        let row = load(tx, scope, id)?;
        ensure_open(&row)?;
        let handler = check_references(tx, scope, &fields, Some(&row.fields))?;
        incidents::update(tx, scope, id, &fields, handler, now)?;
        let (old, new) = (values(&row.fields), values(&fields));
        let pick = |v: &Value| {
            Value::Object(
                changed
                    .iter()
                    .map(|f| ((*f).to_owned(), v[*f].clone()))
                    .collect(),
            )
        };
        let detail = json!({"changed": changed, "from": pick(&old), "to": pick(&new)});
        timeline(
            tx,
            scope,
            caller,
            id,
            IncidentEventKind::Updated,
            detail,
            now,
        )?;
        // The audit chain outlives nothing here, but stays lean: the fields' names only.
        let event = caller
            .event("incident.updated", id)
            .detail(json!({"changed": changed}));
        audit::append(tx, Some(scope), &event, now)?;
        Ok::<_, AppError>(())
    })?;
    if IncidentFields::scope_changed(&changed) {
        recount(db, scope, id, now)?;
    }
    get(db, scope, id, now)
}

/// `patch` over `base`: what the patch gives wins.
fn merged(base: IncidentInput, patch: IncidentInput) -> IncidentInput {
    IncidentInput {
        title: patch.title.or(base.title),
        description: patch.description.or(base.description),
        detected_at: patch.detected_at.or(base.detected_at),
        started_at: patch.started_at.or(base.started_at),
        ended_at: patch.ended_at.or(base.ended_at),
        risk: patch.risk.or(base.risk),
        risk_reasoning: patch.risk_reasoning.or(base.risk_reasoning),
        handler: patch.handler.or(base.handler),
        consequences: patch.consequences.or(base.consequences),
        measures: patch.measures.or(base.measures),
        categories: patch.categories.or(base.categories),
        systems: patch.systems.or(base.systems),
    }
}

/// The fields as JSON, keyed by their API names.
fn values(f: &IncidentFields) -> Value {
    let t = |t: Option<DateTime<Utc>>| t.map(crate::domain::time::format);
    json!({
        "title": f.title, "description": f.description,
        "detected_at": crate::domain::time::format(f.detected_at),
        "started_at": t(f.started_at), "ended_at": t(f.ended_at),
        "risk": f.risk.as_str(), "risk_reasoning": f.risk_reasoning, "handler": f.handler,
        "consequences": f.consequences, "measures": f.measures,
        "categories": f.categories, "systems": f.systems,
    })
}

/// Counts who and what the incident affected now and stores it, unless the incident changed
/// while it was counted (that change's own use case counts again). Public for the console's
/// "count again": while the breach has no end, the window runs up to now.
pub fn recount(
    db: &Db,
    scope: &WorkspaceScope,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<AffectedCounts>, AppError> {
    let (row, counts) = db.read_snapshot(|c| {
        let row = load(c, scope, id)?;
        let counts = count_affected(c, scope, &row.fields, now)?;
        Ok::<_, AppError>((row, counts))
    })?;
    let json = counts
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(AppError::internal)?;
    db.write(|tx| {
        let current = load(tx, scope, id)?;
        if current.updated_at == row.updated_at {
            incidents::set_counts(tx, scope, id, json.as_deref(), counts.as_ref().map(|_| now))?;
        }
        Ok::<_, AppError>(())
    })?;
    Ok(counts)
}

/// What bounds the people an incident affected: its categories with those its systems hold,
/// and the window on when records occurred (from the start, or from the first record; to the
/// end, or `now`).
pub(super) struct Affected {
    pub categories: Vec<String>,
    pub window_from: Option<DateTime<Utc>>,
    pub window_to: DateTime<Utc>,
}

/// The incident's [`Affected`] bounds; `None` when it names no category or system.
pub(super) fn affected_bounds(
    conn: &Connection,
    scope: &WorkspaceScope,
    f: &IncidentFields,
    now: DateTime<Utc>,
) -> Result<Option<Affected>, AppError> {
    let mut categories = f.categories.clone();
    categories.extend(incident_counts::categories_of_systems(
        conn, scope, &f.systems,
    )?);
    categories.sort();
    categories.dedup();
    if categories.is_empty() {
        return Ok(None);
    }
    Ok(Some(Affected {
        categories,
        window_from: f.started_at,
        window_to: f.ended_at.unwrap_or(now),
    }))
}

fn count_affected(
    conn: &Connection,
    scope: &WorkspaceScope,
    f: &IncidentFields,
    now: DateTime<Utc>,
) -> Result<Option<AffectedCounts>, AppError> {
    let Some(Affected {
        categories,
        window_from: _,
        window_to,
    }) = affected_bounds(conn, scope, f, now)?
    else {
        return Ok(None);
    };
    let c = incident_counts::count(conn, scope, &categories, f.started_at, window_to)?;
    Ok(Some(AffectedCounts {
        subjects: c.subjects,
        subjects_with_email: c.subjects_with_email,
        subjects_without_email: c.subjects - c.subjects_with_email,
        records: c.records,
        by_category: c
            .by_category
            .into_iter()
            .map(|(category, subjects, records)| CategoryCount {
                category,
                subjects,
                records,
            })
            .collect(),
        categories,
        window_from: f.started_at,
        window_to,
        computed_at: now,
    }))
}

/// Records that the authority is not notified, with the reason (Art. 33(5): why the breach is
/// unlikely to result in a risk). Refused once a notice phase was sent.
pub fn decide_not_to_notify(
    db: &Db,
    scope: &WorkspaceScope,
    caller: &Caller,
    id: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IncidentView, AppError> {
    let reason = incident::reason(
        reason,
        "why the breach is unlikely to result in a risk to people",
    )
    .map_err(|m| ValidationErrors::single("reason", m))?;
    db.write(|tx| {
        let row = load(tx, scope, id)?;
        ensure_open(&row)?;
        if let Some(sent) = row.notified_at {
            return Err(AppError::Conflict(format!(
                "the authority was already notified on {}: that cannot be undone",
                crate::domain::time::format(sent)
            )));
        }
        incidents::set_decision(
            tx,
            scope,
            id,
            AuthorityDecision::NotNotified,
            Some(&reason),
            now,
        )?;
        let detail = json!({"reason": reason});
        timeline(
            tx,
            scope,
            caller,
            id,
            IncidentEventKind::NotNotified,
            detail,
            now,
        )?;
        let event = caller
            .event("incident.not_notified", id)
            .detail(json!({"reason_given": true}));
        audit::append(tx, Some(scope), &event, now)?;
        Ok::<_, AppError>(())
    })?;
    get(db, scope, id, now)
}

/// Closes an open incident, or reopens a closed one.
pub fn set_state(
    db: &Db,
    scope: &WorkspaceScope,
    caller: &Caller,
    id: &str,
    to: IncidentState,
    now: DateTime<Utc>,
) -> Result<IncidentView, AppError> {
    let (from, what, action) = match to {
        IncidentState::Closed => (
            IncidentState::Open,
            IncidentEventKind::Closed,
            "incident.closed",
        ),
        IncidentState::Open => (
            IncidentState::Closed,
            IncidentEventKind::Reopened,
            "incident.reopened",
        ),
    };
    db.write(|tx| {
        load(tx, scope, id)?;
        if !incidents::move_state(tx, scope, id, from, to, now)? {
            return Err(AppError::Conflict(format!(
                "incident '{id}' is not {}",
                from.as_str()
            )));
        }
        timeline(tx, scope, caller, id, what, json!({}), now)?;
        audit::append(tx, Some(scope), &caller.event(action, id), now)?;
        Ok::<_, AppError>(())
    })?;
    get(db, scope, id, now)
}

/// One incident with its timeline and notice phases.
pub fn get(
    db: &Db,
    scope: &WorkspaceScope,
    id: &str,
    now: DateTime<Utc>,
) -> Result<IncidentView, AppError> {
    db.read_snapshot(|c| {
        let row = load(c, scope, id)?;
        let events = incidents::events(c, scope, id)?;
        let phases = incidents::phases(c, scope, id)?;
        view(&row, zone_of(c, scope)?, now, Some((&events, &phases)))
    })
}

/// Every incident of the workspace, the most recently detected first, without timelines.
pub fn list(
    db: &Db,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<Vec<IncidentView>, AppError> {
    db.read_snapshot(|c| {
        let zone = zone_of(c, scope)?;
        incidents::list(c, scope)?
            .iter()
            .map(|r| view(r, zone, now, None))
            .collect()
    })
}
