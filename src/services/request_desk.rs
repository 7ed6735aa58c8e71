//! The staff side of data subject requests: the console's desk (overdue first, then by
//! deadline), the dashboard's counts, and the deadline warnings e-mailed to the members who
//! handle requests.
//!
//! Warnings go to every active member whose roles allow `HandleRequests` (owners and privacy
//! officers), through the workspace's outbox (so their address and the body are sealed), a week
//! and two days before the deadline in force and once it has passed: each threshold once per
//! request and deadline (`request_warnings`), so an extended request is warned again before its
//! new deadline. The e-mails name the request by id, type and deadline, never the person.

use super::emails;
use super::outbox::{OutboxKey, Outgoing, queue};
use super::requests::{RequestFilter, RequestSummary, summary};
use crate::domain::request::RequestType;
use crate::domain::request_clock::{self, Standing, Warning};
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::store::outbox::Kind;
use crate::store::requests::{self, RequestRow};
use crate::store::{Db, WorkspaceScope, members, workspaces};
use crate::vault::Vault;
use chrono::{DateTime, Utc};

/// A request on the desk, with where it stands against its deadline.
#[derive(Debug, Clone)]
pub struct DeskRow {
    pub request: RequestSummary,
    /// None once answered (completed, denied or expired): no deadline runs.
    pub standing: Option<Standing>,
}

#[derive(Debug, Clone)]
pub struct DeskPage {
    pub rows: Vec<DeskRow>,
    /// How many requests pass the filter, on every page.
    pub total: i64,
}

/// One page of the desk: open requests past their deadline first, then the others by the
/// deadline in force, answered ones last.
pub fn desk(
    db: &Db,
    scope: &WorkspaceScope,
    filter: &RequestFilter,
    limit: u32,
    offset: u32,
    now: DateTime<Utc>,
) -> Result<DeskPage, AppError> {
    let (rows, total) =
        db.read(|c| Ok::<_, AppError>(requests::desk_page(c, scope, filter, now, limit, offset)?))?;
    Ok(DeskPage {
        rows: rows
            .into_iter()
            .map(|r| {
                let request = summary(r, now);
                let standing = request
                    .state
                    .is_open()
                    .then(|| request_clock::standing(request.due, now));
                DeskRow { request, standing }
            })
            .collect(),
        total,
    })
}

/// Open and overdue requests of one workspace.
pub fn counts(db: &Db, scope: &WorkspaceScope, now: DateTime<Utc>) -> Result<(i64, i64), AppError> {
    db.read(|c| Ok(requests::open_counts(c, scope, now)?))
}

/// Requests warned about per write transaction: short, so live writes get through.
pub const WARNING_BATCH: usize = 25;

/// Sends the deadline warnings due at `now` in every workspace; returns how many requests were
/// warned about. `stop` is checked between batches.
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
        warned += warn_workspace(db, vault, &scope, base_url, now, stop)?;
    }
    Ok(warned)
}

/// A warning to send: the request and the threshold it reached.
struct Due {
    row: RequestRow,
    due: DateTime<Utc>,
    warning: Warning,
}

fn warn_workspace(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    base_url: &str,
    now: DateTime<Utc>,
    stop: &dyn Fn() -> bool,
) -> Result<usize, AppError> {
    let (pending, recipients, name, slug) = db.read(|c| {
        let mut pending = Vec::new();
        for row in requests::open_due_before(c, scope, request_clock::warn_until(now))? {
            let due = row.extended_due_at.unwrap_or(row.due_at);
            let Some(warning) = request_clock::warning(due, now) else {
                continue;
            };
            if !requests::warning_sent(c, scope, &row.id, warning.as_str(), due)? {
                pending.push(Due { row, due, warning });
            }
        }
        let recipients: Vec<String> = members::list(c, scope)?
            .into_iter()
            .filter(|m| m.active && m.roles.allows(Permission::HandleRequests))
            .map(|m| m.email)
            .collect();
        let ws = workspaces::get(c, scope)?;
        Ok::<_, AppError>((pending, recipients, ws.settings.legal_name, ws.slug))
    })?;
    // Nobody to tell: nothing is recorded, so a member added later is still warned.
    if pending.is_empty() || recipients.is_empty() {
        return Ok(0);
    }
    let key = OutboxKey::load(vault, scope)?;
    let mut warned = 0;
    for batch in pending.chunks(WARNING_BATCH) {
        if stop() {
            break;
        }
        let mails = batch
            .iter()
            .map(|d| render(d, &name, &slug, base_url, now))
            .collect::<Result<Vec<_>, _>>()?;
        warned += db.write(|tx| {
            let mut n = 0;
            for (d, mail) in batch.iter().zip(&mails) {
                // The row is the once-only guard: a concurrent run that recorded it first wins.
                if !requests::record_warning(tx, scope, &d.row.id, d.warning.as_str(), d.due, now)?
                {
                    continue;
                }
                for to in &recipients {
                    let message = Outgoing {
                        kind: Kind::Email,
                        recipient: to,
                        endpoint_id: None,
                        subscriber_id: None,
                        subject: &mail.subject,
                        body: &mail.body,
                    };
                    queue(tx, &key, &message, now)?;
                }
                n += 1;
            }
            Ok::<_, AppError>(n)
        })?;
    }
    Ok(warned)
}

fn render(
    d: &Due,
    name: &str,
    slug: &str,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<emails::Email, AppError> {
    let (overdue_days, days_left) = match request_clock::standing(d.due, now) {
        Standing::OverdueBy(n) => (n, 0),
        Standing::DueIn(n) => (0, n),
    };
    emails::render(&emails::RequestDeadline {
        workspace: name,
        kind: d.row.kind.label(),
        id: &d.row.id,
        law: d.row.law.as_str().to_uppercase(),
        received: d.row.received_at.format("%Y-%m-%d").to_string(),
        due: d.due.format("%Y-%m-%d").to_string(),
        overdue: d.warning == Warning::Overdue,
        overdue_days,
        days_left,
        extended: d.row.extended_due_at.is_some(),
        link: &format!("{base_url}/console/w/{slug}/requests/{}", d.row.id),
    })
}

/// Every request type's words for staff, for filters.
pub fn types() -> impl Iterator<Item = RequestType> {
    RequestType::ALL.into_iter()
}
