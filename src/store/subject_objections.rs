//! Objections and withdrawals of consent recorded on a subject (migration 0018): codes, the
//! inventory purpose's key, a time and the request that made them; nothing personal.

use super::{StoreError, WorkspaceScope, time_at, ts};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, params};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectionRow {
    /// `objection` or `withdrawal`.
    pub kind: String,
    /// The purpose objected to; `None` for a withdrawal (every purpose based on consent).
    pub purpose_key: Option<String>,
    pub at: DateTime<Utc>,
    pub request_id: Option<String>,
}

/// Records one; a second of the same kind and purpose for the subject is kept too (each
/// request is its own fact).
pub fn insert(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    subject_id: i64,
    kind: &str,
    purpose_key: Option<&str>,
    request_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO subject_objections (workspace_id, subject_id, kind, purpose_key, at, request_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![scope.id(), subject_id, kind, purpose_key, ts(at), request_id],
    )?;
    Ok(())
}

/// A subject's objections and withdrawals, oldest first.
pub fn for_subject(
    conn: &Connection,
    scope: &WorkspaceScope,
    subject_id: i64,
) -> Result<Vec<ObjectionRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, purpose_key, at, request_id FROM subject_objections \
         WHERE workspace_id = ?1 AND subject_id = ?2 ORDER BY id",
    )?;
    let rows = stmt
        .query_map(params![scope.id(), subject_id], |r| {
            Ok(ObjectionRow {
                kind: r.get(0)?,
                purpose_key: r.get(1)?,
                at: time_at(r, 2)?,
                request_id: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
