//! Console sessions, stored server-side. The cookie holds a random id; the table holds its digest.

use super::{StoreError, time_at, ts};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Password accepted; the second factor is pending.
    Totp,
    Full,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub staff_id: i64,
    pub csrf_token: String,
    pub stage: Stage,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

pub fn create(
    conn: &Connection,
    id_hash: &str,
    staff_id: i64,
    csrf_token: &str,
    stage: Stage,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let stage = match stage {
        Stage::Totp => "totp",
        Stage::Full => "full",
    };
    conn.execute(
        "INSERT INTO sessions (id_hash, staff_id, csrf_token, stage, created_at, last_seen_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![id_hash, staff_id, csrf_token, stage, ts(now)],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id_hash: &str) -> Result<Option<Session>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT staff_id, csrf_token, stage, created_at, last_seen_at FROM sessions WHERE id_hash = ?1",
            [id_hash],
            |r| {
                let stage: String = r.get(2)?;
                let created = time_at(r, 3)?;
                let seen = time_at(r, 4)?;
                Ok(Session {
                    staff_id: r.get(0)?,
                    csrf_token: r.get(1)?,
                    stage: if stage == "full" { Stage::Full } else { Stage::Totp },
                    created_at: created,
                    last_seen_at: seen,
                })
            },
        )
        .optional()?)
}

pub fn touch(conn: &Connection, id_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sessions SET last_seen_at = ?2 WHERE id_hash = ?1",
        params![id_hash, ts(now)],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, id_hash: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])?;
    Ok(())
}

/// Ends every session of one person (password change or reset, TOTP change, lockout by an
/// owner). Returns how many ended.
pub fn delete_for_staff(conn: &Connection, staff_id: i64) -> Result<usize, StoreError> {
    Ok(conn.execute("DELETE FROM sessions WHERE staff_id = ?1", [staff_id])?)
}

/// Ends every session of one person but the one whose digest is `keep` (a password change
/// keeps the session that made it).
pub fn delete_others_for_staff(
    conn: &Connection,
    staff_id: i64,
    keep: &str,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM sessions WHERE staff_id = ?1 AND id_hash <> ?2",
        params![staff_id, keep],
    )?)
}

/// Removes sessions idle since `idle_cutoff` or created before `absolute_cutoff`.
pub fn delete_expired(
    conn: &Connection,
    idle_cutoff: DateTime<Utc>,
    absolute_cutoff: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM sessions WHERE last_seen_at < ?1 OR created_at < ?2",
        params![ts(idle_cutoff), ts(absolute_cutoff)],
    )?)
}

pub fn count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM sessions WHERE stage = 'full'",
        [],
        |r| r.get(0),
    )?)
}
