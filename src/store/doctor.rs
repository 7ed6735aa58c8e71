//! The few facts `lethe doctor` needs that no other store function gives: SQLite's quick check
//! of a live file, the master keys a key store was wrapped under (read-only), and the counts of
//! what is overdue or piling up.

use super::{StoreError, ts};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OpenFlags, params};
use std::path::Path;

/// A read-only connection to a live database file (a running server may be writing to it).
fn open_live(path: &Path) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(StoreError::NotFound(path.display().to_string()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// `PRAGMA quick_check` of a database file: empty when sound, else SQLite's complaints. Quick,
/// not integrity: it skips the index-to-table cross-check, so it stays cheap on a large file.
pub fn quick_check(path: &Path) -> Result<Vec<String>, StoreError> {
    let conn = open_live(path)?;
    let mut stmt = conn.prepare("PRAGMA quick_check")?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}

/// The master keys (by check value) that wrapped the data keys of the key store at `path`,
/// read without creating or migrating anything.
pub fn key_store_master_ids(path: &Path) -> Result<Vec<String>, StoreError> {
    let conn = open_live(path)?;
    let mut stmt = conn.prepare("SELECT DISTINCT master_id FROM data_keys")?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// One workspace's overdue work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    pub workspace: String,
    /// Requests still open past the deadline in force.
    pub requests: u64,
    /// Open incidents detected more than 72 hours ago that still wait for a notice: none sent
    /// and no decision not to notify (the deadline job's rule, `incidents::awaiting_notice`).
    pub incidents: u64,
}

/// The workspaces with anything overdue at `now`.
pub fn overdue(conn: &Connection, now: DateTime<Utc>) -> Result<Vec<Overdue>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT w.slug, \
           (SELECT count(*) FROM requests r WHERE r.workspace_id = w.id \
              AND r.state NOT IN ('completed', 'denied', 'expired') AND r.effective_due_at < ?1), \
           (SELECT count(*) FROM incidents i WHERE i.workspace_id = w.id \
              AND i.state = 'open' AND i.detected_at < ?2 \
              AND coalesce(i.authority_decision, '') <> 'not_notified' \
              AND NOT EXISTS (SELECT 1 FROM incident_notice_phases p \
                              WHERE p.incident_id = i.id)) \
         FROM workspaces w ORDER BY w.slug",
    )?;
    let rows: Vec<Overdue> = stmt
        .query_map(params![ts(now), ts(now - Duration::hours(72))], |r| {
            Ok(Overdue {
                workspace: r.get(0)?,
                requests: r.get::<_, i64>(1)?.max(0) as u64,
                incidents: r.get::<_, i64>(2)?.max(0) as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .filter(|o| o.requests > 0 || o.incidents > 0)
        .collect())
}

/// Messages still queued that were made before `before`.
pub fn queued_before(conn: &Connection, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM outbox_messages WHERE status = 'queued' AND created_at < ?1",
        params![ts(before)],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
}

/// Webhook endpoints switched off after repeated failures.
pub fn disabled_endpoints(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM webhook_endpoints WHERE disabled_at IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
}
