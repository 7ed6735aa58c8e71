//! Stored records (sealed) and the subject access log. New records arrive through the
//! group-commit [`super::writer`]; this module reads them and changes them on erasure.

use super::{StoreError, WorkspaceScope, time_at, ts};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub id: String,
    pub category: String,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub key_id: String,
    /// With `key_id`, makes the record's key (see `domain::keys`); None: `key_id` alone.
    pub period_key_id: Option<String>,
    pub sealed_fields: Vec<u8>,
    pub flagged_restricted: bool,
    pub hold_key: Option<String>,
    pub held_until: Option<String>,
    pub subject_id: Option<i64>,
    /// Anonymize rules already applied, comma-separated.
    pub anonymized_by: Option<String>,
}

const COLUMNS: &str = "id, category, occurred_at, received_at, key_id, sealed_fields, \
     flagged_restricted, hold_key, held_until, period_key_id, subject_id, anonymized_by";

/// [`COLUMNS`] of the table aliased `r`, for joins.
pub(super) const COLUMNS_R: &str = "r.id, r.category, r.occurred_at, r.received_at, r.key_id, \
     r.sealed_fields, r.flagged_restricted, r.hold_key, r.held_until, r.period_key_id, \
     r.subject_id, r.anonymized_by";

pub(super) fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRecord> {
    Ok(StoredRecord {
        id: r.get(0)?,
        category: r.get(1)?,
        occurred_at: time_at(r, 2)?,
        received_at: time_at(r, 3)?,
        key_id: r.get(4)?,
        sealed_fields: r.get(5)?,
        flagged_restricted: r.get(6)?,
        hold_key: r.get(7)?,
        held_until: r.get(8)?,
        period_key_id: r.get(9)?,
        subject_id: r.get(10)?,
        anonymized_by: r.get(11)?,
    })
}

/// The key ids (owner and period) that records need, each once.
pub fn key_ids<'a>(records: impl IntoIterator<Item = &'a StoredRecord>) -> Vec<&'a str> {
    let mut ids: Vec<&str> = records
        .into_iter()
        .flat_map(|r| std::iter::once(r.key_id.as_str()).chain(r.period_key_id.as_deref()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A subject's records, newest first.
pub fn for_subject(
    conn: &Connection,
    scope: &WorkspaceScope,
    subject_id: i64,
    limit: u32,
    offset: u32,
) -> Result<Vec<StoredRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM records WHERE workspace_id = ?1 AND subject_id = ?2 \
         ORDER BY occurred_at DESC, id DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = stmt
        .query_map(params![scope.id(), subject_id, limit, offset], row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A subject's records in id order after `after` (keyset: a package reads them page by page
/// without offsets that shift while records arrive).
pub fn for_subject_after(
    conn: &Connection,
    scope: &WorkspaceScope,
    subject_id: i64,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<StoredRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM records WHERE workspace_id = ?1 AND subject_id = ?2 \
         AND id > ?3 ORDER BY id LIMIT ?4"
    ))?;
    let rows = stmt
        .query_map(
            params![scope.id(), subject_id, after.unwrap_or(""), limit],
            row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn count_for_subject(
    conn: &Connection,
    scope: &WorkspaceScope,
    subject_id: i64,
) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM records WHERE workspace_id = ?1 AND subject_id = ?2",
        params![scope.id(), subject_id],
        |r| r.get(0),
    )?)
}

/// Every record still sealed under `key_id` (a subject's own key), for erasure.
pub fn sealed_under(
    conn: &Connection,
    scope: &WorkspaceScope,
    subject_id: i64,
    key_id: &str,
) -> Result<Vec<StoredRecord>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM records WHERE workspace_id = ?1 AND subject_id = ?2 AND key_id = ?3"
    ))?;
    let rows = stmt
        .query_map(params![scope.id(), subject_id, key_id], row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Moves a record under a legal hold's key (which it needs alone).
pub fn reseal_under_hold(
    conn: &Connection,
    scope: &WorkspaceScope,
    record_id: &str,
    key_id: &str,
    sealed_fields: &[u8],
    hold_key: &str,
    held_until: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE records SET key_id = ?3, period_key_id = NULL, sealed_fields = ?4, hold_key = ?5, \
         held_until = ?6 WHERE workspace_id = ?1 AND id = ?2",
        params![
            scope.id(),
            record_id,
            key_id,
            sealed_fields,
            hold_key,
            held_until
        ],
    )?;
    Ok(())
}

/// Deletes a subject's records still sealed under `key_id`; returns how many.
pub fn delete_sealed_under(
    conn: &Connection,
    scope: &WorkspaceScope,
    subject_id: i64,
    key_id: &str,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM records WHERE workspace_id = ?1 AND subject_id = ?2 AND key_id = ?3",
        params![scope.id(), subject_id, key_id],
    )?)
}

#[derive(Debug, Clone)]
pub struct AccessEntry {
    pub actor: String,
    /// Filled by the service once the sealed reason is opened with the person's key.
    pub reason: String,
    pub reason_sealed: Option<Vec<u8>>,
    pub at: DateTime<Utc>,
}

pub fn log_access(
    conn: &Connection,
    scope: &WorkspaceScope,
    subject_id: i64,
    staff_id: Option<i64>,
    actor: &str,
    reason_sealed: Option<&[u8]>,
    at: DateTime<Utc>,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO subject_access_log (workspace_id, subject_id, staff_id, actor, reason, \
         reason_sealed, at) VALUES (?1, ?2, ?3, ?4, '', ?5, ?6)",
        params![
            scope.id(),
            subject_id,
            staff_id,
            actor,
            reason_sealed,
            ts(at)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Who looked at this person, newest first.
pub fn access_log(
    conn: &Connection,
    scope: &WorkspaceScope,
    subject_id: i64,
    limit: u32,
) -> Result<Vec<AccessEntry>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT actor, reason, at, reason_sealed FROM subject_access_log \
         WHERE workspace_id = ?1 AND subject_id = ?2 ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![scope.id(), subject_id, limit], |r| {
            Ok(AccessEntry {
                actor: r.get(0)?,
                reason: r.get(1)?,
                at: time_at(r, 2)?,
                reason_sealed: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The digest and receipt stored for an `Idempotency-Key`, if it was used.
pub fn idempotent_receipt(
    conn: &Connection,
    scope: &WorkspaceScope,
    key: &str,
) -> Result<Option<(String, String)>, StoreError> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row(
            "SELECT request_digest, receipt FROM idempotency_keys WHERE workspace_id = ?1 AND key = ?2",
            params![scope.id(), key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Deletes every record sealed under `key_id`; returns how many.
pub fn delete_sealed_by(
    conn: &Connection,
    scope: &WorkspaceScope,
    key_id: &str,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM records WHERE workspace_id = ?1 AND key_id = ?2",
        params![scope.id(), key_id],
    )?)
}

/// Deletes every record sealed under `key_id`, as owner key or as period key: what a restore's
/// replay does before it destroys a key again, so no row outlives the key that sealed it.
pub fn delete_under_key(
    conn: &Connection,
    scope: &WorkspaceScope,
    key_id: &str,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM records WHERE workspace_id = ?1 AND (key_id = ?2 OR period_key_id = ?2)",
        params![scope.id(), key_id],
    )?)
}

/// How many records of erased people a legal hold keeps.
pub fn held_by(
    conn: &Connection,
    scope: &WorkspaceScope,
    hold_key: &str,
) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM records WHERE workspace_id = ?1 AND hold_key = ?2",
        params![scope.id(), hold_key],
        |r| r.get(0),
    )?)
}

/// A page of the records a legal hold keeps of erased people, newest first.
pub fn held_page(
    conn: &Connection,
    scope: &WorkspaceScope,
    hold_key: &str,
    limit: u32,
    offset: u32,
) -> Result<Vec<StoredRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM records WHERE workspace_id = ?1 AND hold_key = ?2 \
         ORDER BY occurred_at DESC, id DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = stmt
        .query_map(params![scope.id(), hold_key, limit, offset], row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Whether any record is still sealed under this period key.
pub fn period_key_in_use(conn: &Connection, key_id: &str) -> Result<bool, StoreError> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row(
            "SELECT 1 FROM records WHERE period_key_id = ?1 LIMIT 1",
            [key_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Up to `limit` records of the workspace still sealed the old way (owner key alone, no period
/// key), for the start-up upgrade.
pub fn without_period(
    conn: &Connection,
    scope: &WorkspaceScope,
    limit: u32,
) -> Result<Vec<StoredRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM records WHERE workspace_id = ?1 AND period_key_id IS NULL \
         AND anonymized_by IS NULL AND hold_key IS NULL LIMIT ?2"
    ))?;
    let rows = stmt
        .query_map(params![scope.id(), limit], row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Re-seals a record under its owner key and a period key, if it is still as it was read;
/// true if it changed.
pub fn set_period_key(
    conn: &Connection,
    scope: &WorkspaceScope,
    record_id: &str,
    key_id: &str,
    period_key_id: &str,
    sealed_fields: &[u8],
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE records SET period_key_id = ?4, sealed_fields = ?5 WHERE workspace_id = ?1 \
         AND id = ?2 AND key_id = ?3 AND period_key_id IS NULL AND anonymized_by IS NULL \
         AND hold_key IS NULL",
        params![scope.id(), record_id, key_id, period_key_id, sealed_fields],
    )? > 0)
}

/// A subject's records per category, by category key: (category, how many, the oldest's time).
/// Left to itself SQLite walks `records_category` to save the GROUP BY's sort, which reads every
/// record of the workspace (0.9 s at a million records, `benches/requests.rs`); the person's own
/// index reads only theirs.
pub fn categories_of_subject(
    conn: &Connection,
    scope: &WorkspaceScope,
    subject_id: i64,
) -> Result<Vec<(String, u64, DateTime<Utc>)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT category, count(*), min(occurred_at) FROM records INDEXED BY records_subject \
         WHERE workspace_id = ?1 AND subject_id = ?2 GROUP BY category ORDER BY category",
    )?;
    let rows = stmt
        .query_map(params![scope.id(), subject_id], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64, time_at(r, 2)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The categories the vault holds records of in this workspace. Walks the category index one
/// distinct key at a time, so it costs a few look-ups however many records there are.
pub fn categories_held(
    conn: &Connection,
    scope: &WorkspaceScope,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(
        "WITH RECURSIVE held(category) AS ( \
             SELECT min(category) FROM records WHERE workspace_id = ?1 \
             UNION ALL \
             SELECT (SELECT min(category) FROM records WHERE workspace_id = ?1 AND category > held.category) \
             FROM held WHERE held.category IS NOT NULL) \
         SELECT category FROM held WHERE category IS NOT NULL",
    )?;
    let rows = stmt.query_map([scope.id()], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A reason an older Lethe stored in the clear: (log row id, workspace, subject id, reason).
pub type PlainReason = (i64, WorkspaceScope, i64, String);

/// Access-log rows whose reason is still in the clear (from before reasons were sealed).
pub fn plain_access_reasons(conn: &Connection, limit: u32) -> Result<Vec<PlainReason>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, workspace_id, subject_id, reason FROM subject_access_log \
         WHERE reason != '' LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        Ok((
            r.get(0)?,
            WorkspaceScope::new(r.get(1)?),
            r.get(2)?,
            r.get(3)?,
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replaces a plain reason by its sealed form (None when it cannot be sealed: the person's key
/// is gone, so the reason goes too).
pub fn seal_access_reason(
    conn: &Connection,
    id: i64,
    sealed: Option<&[u8]>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE subject_access_log SET reason = '', reason_sealed = ?2 WHERE id = ?1",
        params![id, sealed],
    )?;
    Ok(())
}

/// One row of the access log's summary: who read people's data in a month, how often, and how
/// many different people (never which).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessCount {
    /// `YYYY-MM`, UTC.
    pub month: String,
    /// The staff e-mail or the API key, as the log keeps it.
    pub actor: String,
    pub reads: i64,
    pub people: i64,
}

/// The subject access log counted per month and reader, between `from` (inclusive) and `to`
/// (exclusive) when given; for an auditor, who sees no person.
pub fn access_summary(
    conn: &Connection,
    scope: &WorkspaceScope,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<AccessCount>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT substr(at, 1, 7) AS month, actor, count(*), count(DISTINCT subject_id) \
         FROM subject_access_log WHERE workspace_id = ?1 \
         AND (?2 IS NULL OR at >= ?2) AND (?3 IS NULL OR at < ?3) \
         GROUP BY month, actor ORDER BY month, actor",
    )?;
    let rows = stmt
        .query_map(params![scope.id(), from.map(ts), to.map(ts)], |r| {
            Ok(AccessCount {
                month: r.get(0)?,
                actor: r.get(1)?,
                reads: r.get(2)?,
                people: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
