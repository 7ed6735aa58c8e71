//! Subjects: the operator's users, by the operator's own id. Personal values (e-mail, birth
//! date) are only here sealed; the e-mail is findable through its keyed blind index.

use super::{StoreError, WorkspaceScope, opt_time_at, time_at, ts};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, Clone)]
pub struct SubjectRow {
    pub id: i64,
    pub external_id: String,
    pub kind: String,
    pub sealed_profile: Option<Vec<u8>>,
    /// None once the key was destroyed.
    pub key_id: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub restricted_at: Option<DateTime<Utc>>,
    /// Empty unless an older Lethe stored it in the clear (sealed at start).
    pub restricted_reason: String,
    /// Why processing is restricted, sealed under the person's key.
    pub restricted_reason_sealed: Option<Vec<u8>>,
    pub erased_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, external_id, kind, sealed_profile, key_id, closed_at, restricted_at, \
     restricted_reason, erased_at, created_at, updated_at, restricted_reason_sealed";

/// How many columns `COLUMNS` names: what a query adds after them starts here.
const COLUMN_COUNT: usize = 12;

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SubjectRow> {
    Ok(SubjectRow {
        id: r.get(0)?,
        external_id: r.get(1)?,
        kind: r.get(2)?,
        sealed_profile: r.get(3)?,
        key_id: r.get(4)?,
        closed_at: opt_time_at(r, 5)?,
        restricted_at: opt_time_at(r, 6)?,
        restricted_reason: r.get(7)?,
        restricted_reason_sealed: r.get(11)?,
        erased_at: opt_time_at(r, 8)?,
        created_at: time_at(r, 9)?,
        updated_at: time_at(r, 10)?,
    })
}

pub fn by_external_id(
    conn: &Connection,
    scope: &WorkspaceScope,
    external_id: &str,
) -> Result<Option<SubjectRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM subjects WHERE workspace_id = ?1 AND external_id = ?2"
    ))?;
    Ok(stmt
        .query_row(params![scope.id(), external_id], row)
        .optional()?)
}

/// The subject whose data key is `key_id` (a key is one person's), erased or not: how a
/// restore's replay finds the person an erasure journal line names.
pub fn by_key_id(
    conn: &Connection,
    scope: &WorkspaceScope,
    key_id: &str,
) -> Result<Option<SubjectRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM subjects WHERE workspace_id = ?1 AND key_id = ?2"),
            params![scope.id(), key_id],
            row,
        )
        .optional()?)
}

pub fn by_id(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: i64,
) -> Result<Option<SubjectRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM subjects WHERE workspace_id = ?1 AND id = ?2"
    ))?;
    Ok(stmt.query_row(params![scope.id(), id], row).optional()?)
}

pub fn by_email_index(
    conn: &Connection,
    scope: &WorkspaceScope,
    index: &[u8],
) -> Result<Vec<SubjectRow>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM subjects WHERE workspace_id = ?1 AND email_index = ?2 ORDER BY id"
    ))?;
    let rows = stmt
        .query_map(params![scope.id(), index], row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A page of subjects, newest first, with how many records each has.
pub fn list(
    conn: &Connection,
    scope: &WorkspaceScope,
    limit: u32,
    offset: u32,
) -> Result<Vec<(SubjectRow, i64)>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS}, {OWN_RECORDS} FROM subjects s WHERE workspace_id = ?1 \
         ORDER BY id DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = stmt
        .query_map(params![scope.id(), limit, offset], |r| {
            Ok((row(r)?, r.get(COLUMN_COUNT)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// How many records are the subject's own: those a legal hold keeps after erasure are not.
const OWN_RECORDS: &str = "(SELECT count(*) FROM records r WHERE r.workspace_id = s.workspace_id \
     AND r.subject_id = s.id AND r.hold_key IS NULL)";

/// Up to `limit` subjects whose external id sorts after `after`, in that order (keyset paging:
/// a subject added meanwhile cannot make another appear twice or not at all).
pub fn list_after(
    conn: &Connection,
    scope: &WorkspaceScope,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<(SubjectRow, i64)>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS}, {OWN_RECORDS} FROM subjects s WHERE workspace_id = ?1 \
         AND (?2 IS NULL OR external_id > ?2) ORDER BY external_id LIMIT ?3"
    ))?;
    let rows = stmt
        .query_map(params![scope.id(), after, limit], |r| {
            Ok((row(r)?, r.get(COLUMN_COUNT)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn count(conn: &Connection, scope: &WorkspaceScope) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM subjects WHERE workspace_id = ?1",
        [scope.id()],
        |r| r.get(0),
    )?)
}

pub struct NewSubject<'a> {
    pub external_id: &'a str,
    pub kind: &'a str,
    pub email_index: Option<&'a [u8]>,
    pub sealed_profile: &'a [u8],
    pub key_id: &'a str,
}

pub fn insert(
    conn: &Connection,
    scope: &WorkspaceScope,
    s: &NewSubject<'_>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO subjects (workspace_id, external_id, kind, email_index, sealed_profile, key_id, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            scope.id(),
            s.external_id,
            s.kind,
            s.email_index,
            s.sealed_profile,
            s.key_id,
            ts(now)
        ],
    )
    .map_err(|e| super::unique_violation(e, format!("subject '{}' exists", s.external_id)))?;
    Ok(conn.last_insert_rowid())
}

pub fn update_profile(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: i64,
    kind: &str,
    email_index: Option<&[u8]>,
    sealed_profile: &[u8],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE subjects SET kind = ?3, email_index = ?4, sealed_profile = ?5, updated_at = ?6 \
         WHERE workspace_id = ?1 AND id = ?2",
        params![scope.id(), id, kind, email_index, sealed_profile, ts(now)],
    )?;
    Ok(())
}

pub fn close(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE subjects SET closed_at = ?3, updated_at = ?3 WHERE workspace_id = ?1 AND id = ?2",
        params![scope.id(), id, ts(at)],
    )?;
    Ok(())
}

/// Restricts (with its sealed reason) or lifts the restriction (None).
pub fn set_restricted(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: i64,
    restriction: Option<(&[u8], DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (sealed, at) = match restriction {
        Some((sealed, at)) => (Some(sealed), Some(ts(at))),
        None => (None, None),
    };
    conn.execute(
        "UPDATE subjects SET restricted_at = ?3, restricted_reason = '', \
         restricted_reason_sealed = ?4, updated_at = ?5 WHERE workspace_id = ?1 AND id = ?2",
        params![scope.id(), id, at, sealed, ts(now)],
    )?;
    Ok(())
}

/// Subjects whose restriction reason is still in the clear: (workspace, subject id).
pub fn plain_restriction_reasons(
    conn: &Connection,
) -> Result<Vec<(WorkspaceScope, i64)>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT workspace_id, id FROM subjects WHERE restricted_reason != ''")?;
    let rows = stmt.query_map([], |r| Ok((WorkspaceScope::new(r.get(0)?), r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replaces a plain restriction reason by its sealed form (None: the key is gone, so is it).
pub fn seal_restriction_reason(
    conn: &Connection,
    id: i64,
    sealed: Option<&[u8]>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE subjects SET restricted_reason = '', restricted_reason_sealed = ?2 WHERE id = ?1",
        params![id, sealed],
    )?;
    Ok(())
}

/// Drops the profile and blind index; the key id stays until the key is destroyed, so an
/// interrupted erasure can be finished (see [`keys_to_destroy`]).
pub fn mark_erased(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE subjects SET erased_at = ?3, updated_at = ?3, email_index = NULL, \
         sealed_profile = NULL, kind = '', restricted_reason = '', restricted_reason_sealed = NULL \
         WHERE workspace_id = ?1 AND id = ?2",
        params![scope.id(), id, ts(at)],
    )?;
    Ok(())
}

pub fn forget_key(conn: &Connection, scope: &WorkspaceScope, id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE subjects SET key_id = NULL WHERE workspace_id = ?1 AND id = ?2",
        params![scope.id(), id],
    )?;
    Ok(())
}

/// Erased subjects whose key was not yet destroyed (the erasure stopped between the two
/// files), across all workspaces: for the start-up sweep.
/// As (workspace, subject id, external id, key id).
pub fn keys_to_destroy(
    conn: &Connection,
) -> Result<Vec<(WorkspaceScope, i64, String, String)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT workspace_id, id, external_id, key_id FROM subjects \
         WHERE erased_at IS NOT NULL AND key_id IS NOT NULL",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                WorkspaceScope::new(r.get(0)?),
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// People whose account closed before `closed_before`, who are not erased and of whom no record
/// is left: retention has run its course and only their key and profile remain.
pub fn closed_and_spent(
    conn: &Connection,
    scope: &WorkspaceScope,
    closed_before: DateTime<Utc>,
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT s.id, s.external_id FROM subjects s WHERE s.workspace_id = ?1 \
         AND s.closed_at IS NOT NULL AND s.closed_at < ?2 AND s.erased_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM records r WHERE r.workspace_id = ?1 AND r.subject_id = s.id)",
    )?;
    let rows = stmt
        .query_map(params![scope.id(), ts(closed_before)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
