//! The staff side of the breach register as the console shows it: the register in the order
//! staff work through it (open first), the incidents still waiting for the authority's notice
//! (most urgent first, for the dashboard), and what the incident form offers to choose from.
//! Reads only; the changes are `incidents`' and `incident_notice`'s.

use super::incidents::{self, IncidentView};
use crate::domain::incident::{AuthorityDecision, IncidentState};
use crate::error::AppError;
use crate::store::{Db, WorkspaceScope, inventory, members, workspaces};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Whether the 72-hour clock still runs for the incident: open, no notice phase sent, and no
/// decision not to notify. What the deadline warnings and the dashboard count.
pub fn awaits_notice(incident: &IncidentView) -> bool {
    incident.state == IncidentState::Open
        && incident.notified_at.is_none()
        && incident.authority_decision != Some(AuthorityDecision::NotNotified)
}

/// Every incident: open ones first, then closed ones; within each, the most recently detected
/// first (the store's order).
pub fn register(
    db: &Db,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<Vec<IncidentView>, AppError> {
    let mut all = incidents::list(db, scope, now)?;
    // A stable sort keeps the store's order inside each state.
    all.sort_by_key(|i| i.state == IncidentState::Closed);
    Ok(all)
}

/// The incidents whose authority notice is still due, the nearest deadline first (overdue ones
/// lead, the longest overdue first).
pub fn awaiting_notice(
    db: &Db,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<Vec<IncidentView>, AppError> {
    let mut waiting: Vec<IncidentView> = incidents::list(db, scope, now)?
        .into_iter()
        .filter(awaits_notice)
        .collect();
    waiting.sort_by_key(|i| i.deadline);
    Ok(waiting)
}

/// What the incident form offers: the inventory's categories and systems as (key, name), the
/// members who may be named as handler (their e-mail), and the zone local times are read in.
#[derive(Debug, Clone)]
pub struct FormChoices {
    pub categories: Vec<(String, String)>,
    pub systems: Vec<(String, String)>,
    pub members: Vec<String>,
    pub time_zone: Tz,
}

pub fn form_choices(db: &Db, scope: &WorkspaceScope) -> Result<FormChoices, AppError> {
    db.read_snapshot(|c| {
        let inv = inventory::load(c, scope)?;
        let mut members: Vec<String> = members::list(c, scope)?
            .into_iter()
            .filter(|m| m.active)
            .map(|m| m.email)
            .collect();
        members.sort();
        let zone = workspaces::get(c, scope)?.settings.time_zone;
        Ok::<_, AppError>(FormChoices {
            categories: inv
                .categories
                .into_iter()
                .map(|c| (c.key, c.name))
                .collect(),
            systems: inv.systems.into_iter().map(|s| (s.key, s.name)).collect(),
            members,
            time_zone: zone,
        })
    })
}
