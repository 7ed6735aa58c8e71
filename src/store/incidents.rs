//! The breach register: incidents, the inventory keys they touched, their notice phases, their
//! append-only timeline and the deadline warnings sent. Nothing here deletes an incident (a
//! trigger refuses it); the count of affected people is `incident_counts`'.

use super::{StoreError, WorkspaceScope, opt_time_at, time_at, ts};
use crate::domain::incident::{
    AuthorityDecision, DeadlineWarning, IncidentEventKind, IncidentFields, IncidentState, RiskLevel,
};
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// A stored incident, its links read beside it.
#[derive(Debug, Clone)]
pub struct IncidentRow {
    pub id: String,
    pub fields: IncidentFields,
    /// The handler's account id (their e-mail is in `fields.handler`).
    pub handler_staff_id: Option<i64>,
    pub state: IncidentState,
    pub decision: Option<AuthorityDecision>,
    pub not_notified_reason: Option<String>,
    pub late_reason: Option<String>,
    /// Staff's edits of the notice's sections (JSON object, as stored).
    pub notice_edits: String,
    /// The latest count (JSON, as stored) and when it was made.
    pub counts: Option<String>,
    pub counts_computed_at: Option<DateTime<Utc>>,
    /// When the first notice phase was sent, if one was.
    pub notified_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "i.id, i.title, i.description, i.detected_at, i.started_at, i.ended_at, \
     i.risk, i.risk_reasoning, i.handler_staff_id, s.email, i.state, i.authority_decision, \
     i.not_notified_reason, i.late_reason, i.consequences, i.measures, i.notice_edits, i.counts, \
     i.counts_computed_at, (SELECT min(p.sent_at) FROM incident_notice_phases p \
     WHERE p.incident_id = i.id), i.closed_at, i.created_at, i.updated_at";

const FROM: &str = "incidents i LEFT JOIN staff s ON s.id = i.handler_staff_id";

/// A stored code that is not one of the enum's: an error, like a malformed time.
fn code<T>(r: &rusqlite::Row<'_>, i: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let s: String = r.get(i)?;
    parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            Type::Text,
            format!("'{s}' is not a known code").into(),
        )
    })
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IncidentRow> {
    let decision: Option<String> = r.get(11)?;
    Ok(IncidentRow {
        id: r.get(0)?,
        fields: IncidentFields {
            title: r.get(1)?,
            description: r.get(2)?,
            detected_at: time_at(r, 3)?,
            started_at: opt_time_at(r, 4)?,
            ended_at: opt_time_at(r, 5)?,
            risk: code(r, 6, RiskLevel::parse)?,
            risk_reasoning: r.get(7)?,
            handler: r.get(9)?,
            consequences: r.get(14)?,
            measures: r.get(15)?,
            // Read by `with_links`.
            categories: Vec::new(),
            systems: Vec::new(),
        },
        handler_staff_id: r.get(8)?,
        state: code(r, 10, IncidentState::parse)?,
        decision: match decision {
            Some(_) => Some(code(r, 11, AuthorityDecision::parse)?),
            None => None,
        },
        not_notified_reason: r.get(12)?,
        late_reason: r.get(13)?,
        notice_edits: r.get(16)?,
        counts: r.get(17)?,
        counts_computed_at: opt_time_at(r, 18)?,
        notified_at: opt_time_at(r, 19)?,
        closed_at: opt_time_at(r, 20)?,
        created_at: time_at(r, 21)?,
        updated_at: time_at(r, 22)?,
    })
}

fn with_links(
    conn: &Connection,
    scope: &WorkspaceScope,
    mut row: IncidentRow,
) -> Result<IncidentRow, StoreError> {
    row.fields.categories = keys(conn, scope, &row.id, "incident_categories", "category_key")?;
    row.fields.systems = keys(conn, scope, &row.id, "incident_systems", "system_key")?;
    Ok(row)
}

fn keys(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: &str,
    table: &str,
    column: &str,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {column} FROM {table} WHERE incident_id = ?1 AND workspace_id = ?2 \
         ORDER BY {column}"
    ))?;
    let rows = stmt.query_map(params![id, scope.id()], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn insert(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    id: &str,
    fields: &IncidentFields,
    handler_staff_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO incidents (id, workspace_id, title, description, detected_at, started_at, \
         ended_at, risk, risk_reasoning, handler_staff_id, state, consequences, measures, \
         created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'open', ?11, ?12, ?13, ?13)",
        params![
            id,
            scope.id(),
            fields.title,
            fields.description,
            ts(fields.detected_at),
            fields.started_at.map(ts),
            fields.ended_at.map(ts),
            fields.risk.as_str(),
            fields.risk_reasoning,
            handler_staff_id,
            fields.consequences,
            fields.measures,
            ts(now),
        ],
    )?;
    set_links(tx, scope, id, fields)
}

/// Stores the edited fields and replaces the links.
pub fn update(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    id: &str,
    fields: &IncidentFields,
    handler_staff_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let n = tx.execute(
        "UPDATE incidents SET title = ?3, description = ?4, detected_at = ?5, started_at = ?6, \
         ended_at = ?7, risk = ?8, risk_reasoning = ?9, handler_staff_id = ?10, \
         consequences = ?11, measures = ?12, updated_at = ?13 \
         WHERE workspace_id = ?1 AND id = ?2",
        params![
            scope.id(),
            id,
            fields.title,
            fields.description,
            ts(fields.detected_at),
            fields.started_at.map(ts),
            fields.ended_at.map(ts),
            fields.risk.as_str(),
            fields.risk_reasoning,
            handler_staff_id,
            fields.consequences,
            fields.measures,
            ts(now),
        ],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("incident '{id}'")));
    }
    tx.execute(
        "DELETE FROM incident_categories WHERE workspace_id = ?1 AND incident_id = ?2",
        params![scope.id(), id],
    )?;
    tx.execute(
        "DELETE FROM incident_systems WHERE workspace_id = ?1 AND incident_id = ?2",
        params![scope.id(), id],
    )?;
    set_links(tx, scope, id, fields)
}

fn set_links(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    id: &str,
    fields: &IncidentFields,
) -> Result<(), StoreError> {
    let mut cat = tx.prepare_cached(
        "INSERT INTO incident_categories (incident_id, workspace_id, category_key) \
         VALUES (?1, ?2, ?3)",
    )?;
    for key in &fields.categories {
        cat.execute(params![id, scope.id(), key])?;
    }
    let mut sys = tx.prepare_cached(
        "INSERT INTO incident_systems (incident_id, workspace_id, system_key) VALUES (?1, ?2, ?3)",
    )?;
    for key in &fields.systems {
        sys.execute(params![id, scope.id(), key])?;
    }
    Ok(())
}

pub fn get(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: &str,
) -> Result<Option<IncidentRow>, StoreError> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE i.workspace_id = ?1 AND i.id = ?2"
        ))?
        .query_row(params![scope.id(), id], row)
        .optional()?;
    found.map(|r| with_links(conn, scope, r)).transpose()
}

/// Every incident of the workspace, the most recently detected first.
pub fn list(conn: &Connection, scope: &WorkspaceScope) -> Result<Vec<IncidentRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE i.workspace_id = ?1 \
         ORDER BY i.detected_at DESC, i.id DESC"
    ))?;
    let rows: Vec<IncidentRow> = stmt
        .query_map([scope.id()], row)?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|r| with_links(conn, scope, r))
        .collect()
}

/// Open incidents detected at or before `detected_before` that still wait for a notice: no
/// phase sent and no decision not to notify. The deadline job reads these.
pub fn awaiting_notice(
    conn: &Connection,
    scope: &WorkspaceScope,
    detected_before: DateTime<Utc>,
) -> Result<Vec<IncidentRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE i.workspace_id = ?1 AND i.state = 'open' \
         AND i.detected_at <= ?2 AND coalesce(i.authority_decision, '') <> 'not_notified' \
         AND NOT EXISTS (SELECT 1 FROM incident_notice_phases p WHERE p.incident_id = i.id) \
         ORDER BY i.detected_at"
    ))?;
    let rows = stmt.query_map(params![scope.id(), ts(detected_before)], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records the decision (and its reason when not notifying).
pub fn set_decision(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    id: &str,
    decision: AuthorityDecision,
    not_notified_reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE incidents SET authority_decision = ?3, not_notified_reason = ?4, updated_at = ?5 \
         WHERE workspace_id = ?1 AND id = ?2",
        params![
            scope.id(),
            id,
            decision.as_str(),
            not_notified_reason,
            ts(now)
        ],
    )?;
    Ok(())
}

pub fn set_late_reason(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE incidents SET late_reason = ?3, updated_at = ?4 WHERE workspace_id = ?1 AND id = ?2",
        params![scope.id(), id, reason, ts(now)],
    )?;
    Ok(())
}

pub fn set_notice_edits(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    id: &str,
    edits_json: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE incidents SET notice_edits = ?3, updated_at = ?4 WHERE workspace_id = ?1 AND id = ?2",
        params![scope.id(), id, edits_json, ts(now)],
    )?;
    Ok(())
}

pub fn set_counts(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    id: &str,
    counts_json: Option<&str>,
    computed_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE incidents SET counts = ?3, counts_computed_at = ?4 \
         WHERE workspace_id = ?1 AND id = ?2",
        params![scope.id(), id, counts_json, computed_at.map(ts)],
    )?;
    Ok(())
}

/// Moves the incident from `from` to `to`; false when it was not in `from` (someone else moved
/// it first).
pub fn move_state(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    id: &str,
    from: IncidentState,
    to: IncidentState,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let closed_at = (to == IncidentState::Closed).then(|| ts(now));
    let n = tx.execute(
        "UPDATE incidents SET state = ?4, closed_at = ?5, updated_at = ?6 \
         WHERE workspace_id = ?1 AND id = ?2 AND state = ?3",
        params![
            scope.id(),
            id,
            from.as_str(),
            to.as_str(),
            closed_at,
            ts(now)
        ],
    )?;
    Ok(n == 1)
}

// ---- the timeline ----------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub what: IncidentEventKind,
    /// JSON, as stored.
    pub detail: String,
}

pub fn append_event(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    incident_id: &str,
    what: IncidentEventKind,
    actor: &str,
    detail_json: &str,
    at: DateTime<Utc>,
) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO incident_events (workspace_id, incident_id, at, actor, what, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        scope.id(),
        incident_id,
        ts(at),
        actor,
        what.as_str(),
        detail_json
    ])?;
    Ok(tx.last_insert_rowid())
}

/// An incident's timeline, oldest first.
pub fn events(
    conn: &Connection,
    scope: &WorkspaceScope,
    incident_id: &str,
) -> Result<Vec<EventRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, actor, what, detail FROM incident_events \
         WHERE incident_id = ?1 AND workspace_id = ?2 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![incident_id, scope.id()], |r| {
        Ok(EventRow {
            id: r.get(0)?,
            at: time_at(r, 1)?,
            actor: r.get(2)?,
            what: code(r, 3, IncidentEventKind::parse)?,
            detail: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- notice phases -------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct PhaseRow {
    pub phase: i64,
    pub sent_at: DateTime<Utc>,
    pub late: bool,
    /// The notice as sent (JSON, as stored).
    pub content: String,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// A notice phase to record.
pub struct NewPhase<'a> {
    pub incident_id: &'a str,
    pub sent_at: DateTime<Utc>,
    pub late: bool,
    /// The notice as sent (JSON).
    pub content_json: &'a str,
    /// The audit log's actor label of who recorded it.
    pub recorded_by: &'a str,
}

/// Appends the next phase (numbered from 1) and returns its number.
pub fn insert_phase(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    new: &NewPhase<'_>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let phase: i64 = tx.query_row(
        "SELECT coalesce(max(phase), 0) + 1 FROM incident_notice_phases \
         WHERE incident_id = ?1 AND workspace_id = ?2",
        params![new.incident_id, scope.id()],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO incident_notice_phases (workspace_id, incident_id, phase, sent_at, late, \
         content, recorded_by, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            scope.id(),
            new.incident_id,
            phase,
            ts(new.sent_at),
            new.late,
            new.content_json,
            new.recorded_by,
            ts(now)
        ],
    )?;
    Ok(phase)
}

pub fn phases(
    conn: &Connection,
    scope: &WorkspaceScope,
    incident_id: &str,
) -> Result<Vec<PhaseRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT phase, sent_at, late, content, recorded_by, recorded_at \
         FROM incident_notice_phases WHERE incident_id = ?1 AND workspace_id = ?2 ORDER BY phase",
    )?;
    let rows = stmt.query_map(params![incident_id, scope.id()], |r| {
        Ok(PhaseRow {
            phase: r.get(0)?,
            sent_at: time_at(r, 1)?,
            late: r.get(2)?,
            content: r.get(3)?,
            recorded_by: r.get(4)?,
            recorded_at: time_at(r, 5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- deadline warnings -------------------------------------------------------------------------

pub fn warnings_sent(
    conn: &Connection,
    scope: &WorkspaceScope,
    incident_id: &str,
) -> Result<Vec<DeadlineWarning>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT threshold FROM incident_warnings WHERE incident_id = ?1 AND workspace_id = ?2",
    )?;
    let rows = stmt.query_map(params![incident_id, scope.id()], |r| {
        code(r, 0, DeadlineWarning::parse)
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records a warning as sent; false when it already was (the once-only guard).
pub fn record_warning(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    incident_id: &str,
    warning: DeadlineWarning,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = tx.execute(
        "INSERT INTO incident_warnings (workspace_id, incident_id, threshold, sent_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (incident_id, threshold) DO NOTHING",
        params![scope.id(), incident_id, warning.as_str(), ts(now)],
    )?;
    Ok(n == 1)
}
