//! The register's export (Art. 33(5): the documentation an authority may ask to see): every
//! incident with its full timeline and notice phases as JSON, or one row per incident as CSV
//! through the one CSV writer (`domain::csv_export`, which neutralises formula cells).

use super::incidents::{IncidentView, view, zone_of};
use crate::domain::csv_export::CsvExport;
use crate::error::AppError;
use crate::store::incidents;
use crate::store::{Db, WorkspaceScope, workspaces};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegisterExport {
    /// The workspace's slug and legal name.
    pub workspace: String,
    pub organisation: String,
    pub time_zone: String,
    pub exported_at: DateTime<Utc>,
    /// Every incident, the most recently detected first, each with its timeline and phases.
    pub incidents: Vec<IncidentView>,
}

/// Every incident with its timeline and notice phases, read in one snapshot.
pub fn export(
    db: &Db,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<RegisterExport, AppError> {
    db.read_snapshot(|c| {
        let workspace = workspaces::get(c, scope)?;
        let zone = zone_of(c, scope)?;
        let mut out = Vec::new();
        for row in incidents::list(c, scope)? {
            let events = incidents::events(c, scope, &row.id)?;
            let phases = incidents::phases(c, scope, &row.id)?;
            out.push(view(&row, zone, now, Some((&events, &phases)))?);
        }
        Ok(RegisterExport {
            workspace: workspace.slug,
            organisation: workspace.settings.legal_name,
            time_zone: zone.name().to_owned(),
            exported_at: now,
            incidents: out,
        })
    })
}

const HEADER: [&str; 24] = [
    "id",
    "title",
    "state",
    "detected_at",
    "started_at",
    "ended_at",
    "deadline",
    "deadline_local",
    "risk",
    "risk_reasoning",
    "authority_decision",
    "not_notified_reason",
    "notified_at",
    "notified_late",
    "late_reason",
    "notice_phases",
    "categories",
    "systems",
    "people_affected",
    "people_without_email",
    "records_affected",
    "handler",
    "consequences",
    "measures",
];

fn t(t: Option<DateTime<Utc>>) -> String {
    t.map(crate::domain::time::format).unwrap_or_default()
}

/// One row per incident; the timeline is in the JSON export.
pub fn export_csv(
    db: &Db,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, AppError> {
    let register = export(db, scope, now)?;
    let mut csv = CsvExport::default();
    let failed = |e: csv::Error| AppError::internal(anyhow::anyhow!("CSV: {e}"));
    csv.row(HEADER).map_err(failed)?;
    for i in &register.incidents {
        let a = i.affected.as_ref();
        let n = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
        csv.row([
            i.id.clone(),
            i.title.clone(),
            i.state.as_str().to_owned(),
            t(Some(i.detected_at)),
            t(i.started_at),
            t(i.ended_at),
            t(Some(i.deadline)),
            i.deadline_local.clone(),
            i.risk.as_str().to_owned(),
            i.risk_reasoning.clone(),
            i.authority_decision
                .map(|d| d.as_str().to_owned())
                .unwrap_or_default(),
            i.not_notified_reason.clone().unwrap_or_default(),
            t(i.notified_at),
            i.notified_late.map(|l| l.to_string()).unwrap_or_default(),
            i.late_reason.clone().unwrap_or_default(),
            i.notice_phases.as_ref().map_or(0, |p| p.len()).to_string(),
            i.categories.join(" "),
            i.systems.join(" "),
            n(a.map(|a| a.subjects)),
            n(a.map(|a| a.subjects_without_email)),
            n(a.map(|a| a.records)),
            i.handler.clone().unwrap_or_default(),
            i.consequences.clone(),
            i.measures.clone(),
        ])
        .map_err(failed)?;
    }
    csv.finish().map_err(failed)
}
