//! Keys on their way out. A key is listed here, in a durable `lethe.db` transaction that also
//! proves nothing sealed under it is left, before the key store forgets it; the row goes once
//! the key is gone. The record writer refuses to seal under a listed key, so no record can
//! slip in between the proof and the destruction.

use super::{StoreError, WorkspaceScope, ts};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

pub fn retire(
    conn: &Connection,
    scope: &WorkspaceScope,
    key_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO key_retirements (key_id, workspace_id, reason, retired_at) \
         VALUES (?1, ?2, ?3, ?4)",
        params![key_id, scope.id(), reason, ts(now)],
    )?;
    Ok(())
}

/// Whether any of these keys is on its way out.
pub fn any_retired(conn: &Connection, key_ids: &[&str]) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM key_retirements WHERE key_id = ?1")?;
    for id in key_ids {
        if stmt.query_row([id], |_| Ok(())).optional()?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The key is gone from the key store: forget the retirement.
pub fn done(conn: &Connection, key_id: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM key_retirements WHERE key_id = ?1", [key_id])?;
    Ok(())
}

/// Retirements a crash cut short, to finish at start.
pub fn pending(conn: &Connection) -> Result<Vec<(WorkspaceScope, String)>, StoreError> {
    let mut stmt = conn.prepare("SELECT workspace_id, key_id FROM key_retirements")?;
    let rows = stmt
        .query_map([], |r| Ok((WorkspaceScope::new(r.get(0)?), r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
