//! The 72-hour clock's warnings (job `incident-deadlines`): for each open incident still
//! waiting for its notice (no phase sent, no decision not to notify), one e-mail when 48 hours
//! or less are left and one when 12 hours or less are left, each once (`incident_warnings`,
//! written in the transaction that queues the mails; only the most urgent threshold reached is
//! sent). They go through the workspace's outbox to its active privacy officers, or its owners
//! when it has none, and say the title, the deadline in the workspace's zone and in UTC, and
//! the console link. Each warning is also a timeline entry of the incident.

use super::Caller;
use super::emails;
use super::incidents::timeline;
use super::outbox::{OutboxKey, Outgoing, queue};
use crate::domain::incident::{self, DeadlineWarning, IncidentEventKind};
use crate::domain::staff::Role;
use crate::error::AppError;
use crate::store::incidents::{self as store, IncidentRow};
use crate::store::outbox::Kind;
use crate::store::{Db, WorkspaceScope, members, workspaces};
use crate::vault::Vault;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::json;

/// Sends the warnings due at `now` in every workspace; returns how many incidents were warned
/// about. `stop` is checked between workspaces.
pub fn send_deadline_warnings(
    db: &Db,
    vault: &Vault,
    base_url: &str,
    now: DateTime<Utc>,
    stop: &dyn Fn() -> bool,
) -> Result<usize, AppError> {
    let scopes = db.read(|c| Ok::<_, AppError>(workspaces::all_scopes(c)?))?;
    let mut warned = 0;
    for scope in scopes {
        if stop() {
            break;
        }
        warned += warn_workspace(db, vault, &scope, base_url, now)?;
    }
    Ok(warned)
}

struct Due {
    row: IncidentRow,
    warning: DeadlineWarning,
}

/// Who is warned: the active privacy officers, else the active owners.
fn recipients(members: Vec<members::Member>) -> Vec<String> {
    let active: Vec<members::Member> = members.into_iter().filter(|m| m.active).collect();
    let with = |role| -> Vec<String> {
        active
            .iter()
            .filter(|m| m.roles.contains(role))
            .map(|m| m.email.clone())
            .collect()
    };
    let officers = with(Role::PrivacyOfficer);
    if officers.is_empty() {
        with(Role::Owner)
    } else {
        officers
    }
}

fn warn_workspace(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    // Warnings begin with 48 hours left, 24 hours after awareness.
    let detected_before = now - (incident::NOTIFY_WITHIN - DeadlineWarning::Hours48.threshold());
    let (pending, to, ws) = db.read_snapshot(|c| {
        let mut pending = Vec::new();
        for row in store::awaiting_notice(c, scope, detected_before)? {
            let sent = store::warnings_sent(c, scope, &row.id)?;
            if let Some(warning) = incident::warning_to_send(row.fields.detected_at, now, &sent) {
                pending.push(Due { row, warning });
            }
        }
        let to = recipients(members::list(c, scope)?);
        Ok::<_, AppError>((pending, to, workspaces::get(c, scope)?))
    })?;
    // Nobody to tell: nothing is recorded, so a member added later is still warned.
    if pending.is_empty() || to.is_empty() {
        return Ok(0);
    }
    let key = OutboxKey::load(vault, scope)?;
    let zone = ws.settings.time_zone;
    let caller = Caller::system();
    let mut warned = 0;
    for due in &pending {
        let mail = render(due, &ws.settings.legal_name, &ws.slug, zone, base_url, now)?;
        db.write(|tx| {
            // The row is the once-only guard: a concurrent run that recorded it first wins.
            if !store::record_warning(tx, scope, &due.row.id, due.warning, now)? {
                return Ok::<_, AppError>(());
            }
            for recipient in &to {
                let message = Outgoing {
                    kind: Kind::Email,
                    recipient,
                    endpoint_id: None,
                    subscriber_id: None,
                    subject: &mail.subject,
                    body: &mail.body,
                };
                queue(tx, &key, &message, now)?;
            }
            let detail = json!({"threshold": due.warning.as_str(), "recipients": to.len()});
            timeline(
                tx,
                scope,
                &caller,
                &due.row.id,
                IncidentEventKind::DeadlineWarning,
                detail,
                now,
            )?;
            warned += 1;
            Ok(())
        })?;
    }
    Ok(warned)
}

fn render(
    due: &Due,
    organisation: &str,
    slug: &str,
    zone: Tz,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<emails::Email, AppError> {
    let detected = due.row.fields.detected_at;
    let deadline = incident::authority_deadline(detected);
    let left = incident::time_left(detected, now);
    let hours = |d: Duration| d.num_minutes().div_euclid(60);
    emails::render(&emails::IncidentDeadline {
        workspace: organisation,
        title: &due.row.fields.title,
        id: &due.row.id,
        threshold: due.warning.as_str(),
        passed: left < Duration::zero(),
        hours_left: hours(left).max(0),
        hours_over: hours(-left).max(0),
        detected_local: incident::in_zone(detected, zone),
        deadline_local: incident::in_zone(deadline, zone),
        deadline_utc: incident::in_zone(deadline, Tz::UTC),
        link: &format!("{base_url}/console/w/{slug}/incidents/{}", due.row.id),
    })
}
