//! The notice to the supervisory authority (GDPR Art. 33(3)): the draft pre-filled from the
//! incident, the inventory, the vault's counts and the contact the published policy gives;
//! staff's edits per section; and each phase as sent (Art. 33(4)), frozen as it was, with the
//! reasons for a delay when it went out after the 72 hours.

use super::Caller;
use super::incidents::{IncidentView, ensure_open, get, load, timeline, zone_of};
use crate::domain::ValidationErrors;
use crate::domain::incident::{self, AuthorityDecision, IncidentEventKind};
use crate::domain::incident_notice::{
    AffectedCounts, NoticeEdits, NoticeFacts, NoticePhaseInput, NoticeSection, is_section, sections,
};
use crate::domain::request::{MAX_TEXT, multiline_text};
use crate::error::AppError;
use crate::store::incidents::{self, IncidentRow, NewPhase};
use crate::store::{Connection, Db, WorkspaceScope, audit, inventory, workspaces};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The notice as it stands: each section's pre-fill, edit and text, with the facts a reader of
/// the printed notice needs around it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoticeDraft {
    pub incident_id: String,
    /// The controller: the workspace's legal name.
    pub organisation: String,
    pub title: String,
    pub detected_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    /// The deadline in the workspace's time zone.
    pub deadline_local: String,
    pub time_zone: String,
    /// Phases already sent; the next one recorded is this plus one.
    pub phases_sent: usize,
    pub sections: Vec<NoticeSection>,
    pub prepared_at: DateTime<Utc>,
}

fn edits_of(row: &IncidentRow) -> Result<BTreeMap<String, String>, AppError> {
    serde_json::from_str(&row.notice_edits)
        .map_err(|e| AppError::internal(anyhow::anyhow!("incident {}: notice edits: {e}", row.id)))
}

fn draft_in(
    conn: &Connection,
    scope: &WorkspaceScope,
    row: &IncidentRow,
    now: DateTime<Utc>,
) -> Result<NoticeDraft, AppError> {
    let workspace = workspaces::get(conn, scope)?;
    let zone = workspace.settings.time_zone;
    let counts: Option<AffectedCounts> = row
        .counts
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| AppError::internal(anyhow::anyhow!("incident {}: counts: {e}", row.id)))?;
    let mut names: BTreeMap<String, String> = inventory::load(conn, scope)?
        .categories
        .into_iter()
        .map(|c| (c.key, c.name))
        .collect();
    let counted: Vec<String> = counts
        .as_ref()
        .map(|c| c.categories.clone())
        .unwrap_or_default();
    names.retain(|k, _| counted.contains(k));
    let contact = crate::domain::policy::contact(&workspace);
    let f = &row.fields;
    let facts = NoticeFacts {
        organisation: &workspace.settings.legal_name,
        title: &f.title,
        description: &f.description,
        detected_at: f.detected_at,
        started_at: f.started_at,
        ended_at: f.ended_at,
        zone,
        risk: f.risk,
        risk_reasoning: &f.risk_reasoning,
        category_names: &names,
        systems: &f.systems,
        counts: counts.as_ref(),
        contact: &contact,
        consequences: &f.consequences,
        measures: &f.measures,
        late_reason: row.late_reason.as_deref(),
    };
    let deadline = incident::authority_deadline(f.detected_at);
    Ok(NoticeDraft {
        incident_id: row.id.clone(),
        organisation: workspace.settings.legal_name.clone(),
        title: f.title.clone(),
        detected_at: f.detected_at,
        deadline,
        deadline_local: incident::in_zone(deadline, zone),
        time_zone: zone.name().to_owned(),
        phases_sent: incidents::phases(conn, scope, &row.id)?.len(),
        sections: sections(&facts, &edits_of(row)?),
        prepared_at: now,
    })
}

/// The notice as it stands now (JSON for the API, the data of the printable page).
pub fn draft(
    db: &Db,
    scope: &WorkspaceScope,
    id: &str,
    now: DateTime<Utc>,
) -> Result<NoticeDraft, AppError> {
    db.read_snapshot(|c| {
        let row = load(c, scope, id)?;
        draft_in(c, scope, &row, now)
    })
}

/// Stores staff's edits of sections; an empty or `null` text puts the pre-fill back.
pub fn edit(
    db: &Db,
    scope: &WorkspaceScope,
    caller: &Caller,
    id: &str,
    given: NoticeEdits,
    now: DateTime<Utc>,
) -> Result<NoticeDraft, AppError> {
    let mut errors = ValidationErrors::default();
    let mut changes: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (key, text) in given.sections {
        if !is_section(&key) {
            errors.add(
                "sections",
                format!(
                    "'{key}' is not a section of the notice (nature, affected, contact, consequences, measures)"
                ),
            );
            continue;
        }
        let text = text.unwrap_or_default();
        let checked = errors.check(
            &format!("sections.{key}"),
            multiline_text(&text, MAX_TEXT, true),
        );
        if let Some(t) = checked {
            changes.insert(key, Some(t).filter(|t| !t.is_empty()));
        }
    }
    errors.into_result()?;
    db.write(|tx| {
        let row = load(tx, scope, id)?;
        ensure_open(&row)?;
        let mut edits = edits_of(&row)?;
        for (key, text) in &changes {
            match text {
                Some(t) => edits.insert(key.clone(), t.clone()),
                None => edits.remove(key),
            };
        }
        let stored = serde_json::to_string(&edits).map_err(AppError::internal)?;
        incidents::set_notice_edits(tx, scope, id, &stored, now)?;
        let names: Vec<&String> = changes.keys().collect();
        let detail = json!({"sections": changes});
        timeline(
            tx,
            scope,
            caller,
            id,
            IncidentEventKind::NoticeEdited,
            detail,
            now,
        )?;
        let event = caller
            .event("incident.notice_edited", id)
            .detail(json!({"sections": names}));
        audit::append(tx, Some(scope), &event, now)?;
        Ok::<_, AppError>(())
    })?;
    draft(db, scope, id, now)
}

/// Records a phase of the notice as sent: the notice as it stands is frozen into the phase.
/// Sent after the deadline, it needs the reasons for the delay (given now, or earlier); the
/// decision becomes `notify` (a decision not to notify is replaced: the timeline keeps it).
pub fn record_phase(
    db: &Db,
    scope: &WorkspaceScope,
    caller: &Caller,
    id: &str,
    input: NoticePhaseInput,
    now: DateTime<Utc>,
) -> Result<IncidentView, AppError> {
    let zone = db.read(|c| zone_of(c, scope))?;
    let sent_at = match input.sent_at.as_deref().map(str::trim) {
        None | Some("") => now,
        Some(raw) => {
            let t = incident::parse_instant(raw, zone)
                .map_err(|m| ValidationErrors::single("sent_at", m))?;
            if t > now {
                return Err(ValidationErrors::single("sent_at", "is in the future").into());
            }
            t
        }
    };
    let given_reason = match input.late_reason.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => Some(
            multiline_text(r, MAX_TEXT, false)
                .map_err(|m| ValidationErrors::single("late_reason", m))?,
        ),
    };
    db.write(|tx| {
        let row = load(tx, scope, id)?;
        ensure_open(&row)?;
        let detected = row.fields.detected_at;
        let late = incident::is_late(detected, sent_at);
        if late && given_reason.is_none() && row.late_reason.is_none() {
            let deadline = incident::authority_deadline(detected);
            let hours = (sent_at - deadline).num_minutes().div_euclid(60);
            return Err(ValidationErrors::single(
                "late_reason",
                format!(
                    "is required: this notice is sent {hours} h after the deadline ({}, {}); Art. 33(1) asks for the reasons for the delay",
                    incident::in_zone(deadline, zone),
                    crate::domain::time::format(deadline)
                ),
            )
            .into());
        }
        if let Some(reason) = &given_reason {
            incidents::set_late_reason(tx, scope, id, reason, now)?;
        }
        incidents::set_decision(tx, scope, id, AuthorityDecision::Notify, None, now)?;
        let row = load(tx, scope, id)?;
        let draft = draft_in(tx, scope, &row, now)?;
        let content = serde_json::to_string(&draft.sections).map_err(AppError::internal)?;
        let actor = caller.actor.label();
        let phase = incidents::insert_phase(
            tx,
            scope,
            &NewPhase {
                incident_id: id,
                sent_at,
                late,
                content_json: &content,
                recorded_by: &actor,
            },
            now,
        )?;
        let detail = json!({
            "phase": phase,
            "sent_at": crate::domain::time::format(sent_at),
            "late": late,
            "late_reason": given_reason,
        });
        timeline(tx, scope, caller, id, IncidentEventKind::NoticePhaseSent, detail, now)?;
        let event = caller.event("incident.notice_phase_recorded", id).detail(json!({
            "phase": phase,
            "sent_at": crate::domain::time::format(sent_at),
            "late": late,
            "late_reason_given": given_reason.is_some(),
        }));
        audit::append(tx, Some(scope), &event, now)?;
        Ok::<_, AppError>(())
    })?;
    get(db, scope, id, now)
}
