//! Data subject requests and their timelines. Personal values arrive here already sealed
//! (services::requests); this module stores, filters and moves states, each move guarded by the
//! state it expects, so two staff acting at once cannot both move one request.

use super::{StoreError, WorkspaceScope, opt_time_at, time_at, ts};
use crate::domain::request::{DenialReason, EventKind, RequestState, RequestType};
use crate::domain::request_clock::Law;
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, ToSql, Transaction, params};

/// A stored request; sealed columns as stored.
#[derive(Debug, Clone)]
pub struct RequestRow {
    pub id: String,
    pub kind: RequestType,
    pub state: RequestState,
    pub law: Law,
    pub received_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
    pub acknowledge_by: Option<DateTime<Utc>>,
    pub due_at: DateTime<Utc>,
    pub extended_due_at: Option<DateTime<Utc>>,
    pub extension_reason_sealed: Option<Vec<u8>>,
    /// The matched subject's external id (joined), when matched.
    pub subject_external_id: Option<String>,
    pub email_sealed: Option<Vec<u8>>,
    pub details_sealed: Option<Vec<u8>>,
    pub purpose_key: Option<String>,
    pub denial_reason: Option<DenialReason>,
    pub denial_text_sealed: Option<Vec<u8>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "r.id, r.kind, r.state, r.law, r.received_at, r.verified_at, \
     r.acknowledge_by, r.due_at, r.extended_due_at, r.extension_reason_sealed, s.external_id, \
     r.email_sealed, r.details_sealed, r.purpose_key, r.denial_reason, r.denial_text_sealed, \
     r.started_at, r.completed_at, r.updated_at";

const FROM: &str = "requests r LEFT JOIN subjects s ON s.id = r.subject_id";

/// A stored code that is not one of the enum's: an error, like a malformed time.
fn code<T>(r: &rusqlite::Row<'_>, i: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let s: String = r.get(i)?;
    parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            Type::Text,
            format!("'{s}' is not a known code").into(),
        )
    })
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RequestRow> {
    let denial: Option<String> = r.get(14)?;
    Ok(RequestRow {
        id: r.get(0)?,
        kind: code(r, 1, RequestType::parse)?,
        state: code(r, 2, RequestState::parse)?,
        law: code(r, 3, Law::parse)?,
        received_at: time_at(r, 4)?,
        verified_at: opt_time_at(r, 5)?,
        acknowledge_by: opt_time_at(r, 6)?,
        due_at: time_at(r, 7)?,
        extended_due_at: opt_time_at(r, 8)?,
        extension_reason_sealed: r.get(9)?,
        subject_external_id: r.get(10)?,
        email_sealed: r.get(11)?,
        details_sealed: r.get(12)?,
        purpose_key: r.get(13)?,
        denial_reason: match denial {
            Some(_) => Some(code(r, 14, DenialReason::parse)?),
            None => None,
        },
        denial_text_sealed: r.get(15)?,
        started_at: opt_time_at(r, 16)?,
        completed_at: opt_time_at(r, 17)?,
        updated_at: time_at(r, 18)?,
    })
}

/// What a new request stores (sealed values sealed by the caller, bound to `id`).
pub struct NewRequestRow<'a> {
    pub id: &'a str,
    pub kind: RequestType,
    pub state: RequestState,
    pub law: Law,
    pub received_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
    pub acknowledge_by: Option<DateTime<Utc>>,
    pub due_at: DateTime<Utc>,
    pub subject_id: Option<i64>,
    pub email_index: Option<&'a [u8]>,
    pub email_sealed: Option<&'a [u8]>,
    pub details_sealed: Option<&'a [u8]>,
    pub purpose_key: Option<&'a str>,
}

pub fn insert(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    new: &NewRequestRow<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO requests (id, workspace_id, kind, state, law, received_at, verified_at, \
         acknowledge_by, due_at, subject_id, email_index, email_sealed, details_sealed, \
         purpose_key, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            new.id,
            scope.id(),
            new.kind.as_str(),
            new.state.as_str(),
            new.law.as_str(),
            ts(new.received_at),
            new.verified_at.map(ts),
            new.acknowledge_by.map(ts),
            ts(new.due_at),
            new.subject_id,
            new.email_index,
            new.email_sealed,
            new.details_sealed,
            new.purpose_key,
            ts(now),
        ],
    )?;
    Ok(())
}

/// Whom a request is about: the matched subject's row id and the address's blind index.
pub type RequestPerson = (Option<i64>, Option<Vec<u8>>);

/// Whom a request is about (`RequestPerson`), `None` when there is no such request.
pub fn person_of(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: &str,
) -> Result<Option<RequestPerson>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT subject_id, email_index FROM requests WHERE workspace_id = ?1 AND id = ?2",
            params![scope.id(), id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

pub fn get(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: &str,
) -> Result<Option<RequestRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE r.workspace_id = ?1 AND r.id = ?2"
    ))?;
    Ok(stmt.query_row(params![scope.id(), id], row).optional()?)
}

/// Which requests a list shows; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub state: Option<RequestState>,
    pub kind: Option<RequestType>,
    /// Only open requests whose deadline in force has passed at this instant.
    pub overdue_at: Option<DateTime<Utc>>,
}

const OPEN: &str = "r.state IN ('received', 'verified', 'in_progress')";

/// Up to `limit` requests after the id `after`, in id order (UUIDv7: the order they came in).
/// Keyset paging: a request added meanwhile cannot make another appear twice or not at all.
pub fn list_after(
    conn: &Connection,
    scope: &WorkspaceScope,
    filter: &RequestFilter,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<RequestRow>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE r.workspace_id = ?");
    let workspace = scope.id();
    let state = filter.state.map(RequestState::as_str);
    let kind = filter.kind.map(RequestType::as_str);
    let overdue = filter.overdue_at.map(ts);
    let mut args: Vec<&dyn ToSql> = vec![&workspace];
    if let Some(s) = &state {
        sql.push_str(" AND r.state = ?");
        args.push(s);
    }
    if let Some(k) = &kind {
        sql.push_str(" AND r.kind = ?");
        args.push(k);
    }
    if let Some(now) = &overdue {
        sql.push_str(&format!(" AND {OPEN} AND r.effective_due_at < ?"));
        args.push(now);
    }
    if let Some(a) = &after {
        sql.push_str(" AND r.id > ?");
        args.push(a);
    }
    sql.push_str(" ORDER BY r.id LIMIT ?");
    args.push(&limit);
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(args.as_slice(), row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// One page of the console's desk: open requests past their deadline first, then by the
/// deadline in force (the next to fall due on top), answered ones last; with how many pass the
/// filter. Offset paging: the desk's order moves as time passes, so a keyset would not hold.
pub fn desk_page(
    conn: &Connection,
    scope: &WorkspaceScope,
    filter: &RequestFilter,
    now: DateTime<Utc>,
    limit: u32,
    offset: u32,
) -> Result<(Vec<RequestRow>, i64), StoreError> {
    let mut filters = String::new();
    let workspace = scope.id();
    let state = filter.state.map(RequestState::as_str);
    let kind = filter.kind.map(RequestType::as_str);
    let at = ts(now);
    let overdue = filter.overdue_at.map(ts);
    let mut args: Vec<&dyn ToSql> = vec![&workspace];
    if let Some(s) = &state {
        filters.push_str(" AND r.state = ?");
        args.push(s);
    }
    if let Some(k) = &kind {
        filters.push_str(" AND r.kind = ?");
        args.push(k);
    }
    if let Some(o) = &overdue {
        filters.push_str(&format!(" AND {OPEN} AND r.effective_due_at < ?"));
        args.push(o);
    }
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM requests r WHERE r.workspace_id = ?{filters}"),
        args.as_slice(),
        |r| r.get(0),
    )?;
    args.push(&at);
    args.push(&limit);
    args.push(&offset);
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE r.workspace_id = ?{filters} \
         ORDER BY CASE WHEN {OPEN} AND r.effective_due_at < ? THEN 0 WHEN {OPEN} THEN 1 ELSE 2 END, \
         r.effective_due_at, r.id LIMIT ? OFFSET ?"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(args.as_slice(), row)?
        .collect::<Result<_, _>>()?;
    Ok((rows, total))
}

/// Open requests whose deadline in force falls before `until` (past ones included), the
/// soonest first: what the deadline warnings look at.
pub fn open_due_before(
    conn: &Connection,
    scope: &WorkspaceScope,
    until: DateTime<Utc>,
) -> Result<Vec<RequestRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE r.workspace_id = ?1 AND {OPEN} \
         AND r.effective_due_at < ?2 ORDER BY r.effective_due_at, r.id"
    ))?;
    let rows = stmt
        .query_map(params![scope.id(), ts(until)], row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Whether the warning `threshold` about the deadline `due_at` was already sent for a request.
pub fn warning_sent(
    conn: &Connection,
    scope: &WorkspaceScope,
    request_id: &str,
    threshold: &str,
    due_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT 1 FROM request_warnings WHERE workspace_id = ?1 AND request_id = ?2 \
         AND threshold = ?3 AND due_at = ?4",
    )?;
    Ok(stmt
        .query_row(
            params![scope.id(), request_id, threshold, ts(due_at)],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Records a warning as sent; false when it already was (a concurrent run), so the caller
/// queues nothing.
pub fn record_warning(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    request_id: &str,
    threshold: &str,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = tx.execute(
        "INSERT OR IGNORE INTO request_warnings (workspace_id, request_id, threshold, due_at, \
         sent_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![scope.id(), request_id, threshold, ts(due_at), ts(now)],
    )?;
    Ok(n == 1)
}

/// Open requests, and those of them past their deadline in force at `now`.
pub fn open_counts(
    conn: &Connection,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<(i64, i64), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT count(*), count(*) FILTER (WHERE r.effective_due_at < ?2) \
         FROM requests r WHERE r.workspace_id = ?1 AND {OPEN}"
    ))?;
    Ok(stmt.query_row(params![scope.id(), ts(now)], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// A move between states, with what it sets. The update is guarded by `from`: `Ok(false)` when
/// the request was no longer in that state (someone else moved it first).
pub enum Move<'a> {
    Start,
    Complete,
    Deny {
        reason: DenialReason,
        text_sealed: Option<&'a [u8]>,
    },
}

pub fn move_state(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    id: &str,
    from: RequestState,
    to: RequestState,
    change: &Move<'_>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let at = ts(now);
    let (reason, text) = match change {
        Move::Deny {
            reason,
            text_sealed,
        } => (Some(reason.as_str()), *text_sealed),
        _ => (None, None),
    };
    let started = matches!(change, Move::Start).then_some(at.as_str());
    let finished = matches!(change, Move::Complete | Move::Deny { .. }).then_some(at.as_str());
    let n = tx.execute(
        "UPDATE requests SET state = ?4, updated_at = ?5, \
         started_at = coalesce(?6, started_at), completed_at = coalesce(?7, completed_at), \
         denial_reason = coalesce(?8, denial_reason), \
         denial_text_sealed = coalesce(?9, denial_text_sealed) \
         WHERE workspace_id = ?1 AND id = ?2 AND state = ?3",
        params![
            scope.id(),
            id,
            from.as_str(),
            to.as_str(),
            at,
            started,
            finished,
            reason,
            text
        ],
    )?;
    Ok(n == 1)
}

/// Sets the extended deadline, once: `Ok(false)` when it was extended meanwhile or is closed.
pub fn extend(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    id: &str,
    extended_due_at: DateTime<Utc>,
    reason_sealed: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = tx.execute(
        "UPDATE requests SET extended_due_at = ?3, extension_reason_sealed = ?4, updated_at = ?5 \
         WHERE workspace_id = ?1 AND id = ?2 AND extended_due_at IS NULL \
         AND state IN ('received', 'verified', 'in_progress')",
        params![scope.id(), id, ts(extended_due_at), reason_sealed, ts(now)],
    )?;
    Ok(n == 1)
}

/// One step of a request's timeline.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub what: EventKind,
    pub detail_sealed: Option<Vec<u8>>,
}

pub fn append_event(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    request_id: &str,
    what: EventKind,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO request_events (workspace_id, request_id, at, actor, what) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![scope.id(), request_id, ts(now), actor, what.as_str()],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Sets an event's sealed detail: sealed after the insert, since it is bound to the event's id.
pub fn seal_event_detail(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    event_id: i64,
    sealed: &[u8],
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE request_events SET detail_sealed = ?3 WHERE workspace_id = ?1 AND id = ?2",
        params![scope.id(), event_id, sealed],
    )?;
    Ok(())
}

pub fn events(
    conn: &Connection,
    scope: &WorkspaceScope,
    request_id: &str,
) -> Result<Vec<EventRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, actor, what, detail_sealed FROM request_events \
         WHERE workspace_id = ?1 AND request_id = ?2 ORDER BY id",
    )?;
    let rows = stmt
        .query_map(params![scope.id(), request_id], |r| {
            Ok(EventRow {
                id: r.get(0)?,
                at: time_at(r, 1)?,
                actor: r.get(2)?,
                what: code(r, 3, EventKind::parse)?,
                detail_sealed: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Verified requests, oldest first, across the workspaces whose staff do not review requests
/// first: what Lethe carries out on its own (`services::request_fulfilment`).
pub fn verified_to_carry_out(
    conn: &Connection,
    limit: u32,
) -> Result<Vec<(WorkspaceScope, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.workspace_id, r.id FROM requests r JOIN workspaces w ON w.id = r.workspace_id \
         WHERE r.state = 'verified' AND w.review_requests = 0 ORDER BY r.id LIMIT ?1",
    )?;
    let rows = stmt
        .query_map(params![limit], |r| {
            Ok((WorkspaceScope::new(r.get(0)?), r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A request deleted by Lethe's own rule for answered requests (`OwnData::AnsweredRequests`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunedRequest {
    pub scope: WorkspaceScope,
    pub id: String,
    pub kind: RequestType,
    pub state: RequestState,
    pub completed_at: DateTime<Utc>,
}

/// Deletes up to `limit` requests, of any workspace, answered (completed, denied or expired)
/// before `before`, oldest answer first, and returns them. Open requests are never touched,
/// however old. Their timelines, links and deadline warnings go by their `ON DELETE CASCADE`
/// (the pool's connections enforce foreign keys); an objection or withdrawal a request recorded
/// on its subject stays, its `request_id` set to NULL (`ON DELETE SET NULL`).
pub fn prune_answered(
    conn: &Connection,
    before: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<PrunedRequest>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT workspace_id, id, kind, state, completed_at FROM requests \
         WHERE completed_at IS NOT NULL AND completed_at < ?1 \
         AND state IN ('completed', 'denied', 'expired') \
         ORDER BY completed_at, id LIMIT ?2",
    )?;
    let due: Vec<PrunedRequest> = stmt
        .query_map(params![ts(before), limit], |r| {
            Ok(PrunedRequest {
                scope: WorkspaceScope::new(r.get(0)?),
                id: r.get(1)?,
                kind: code(r, 2, RequestType::parse)?,
                state: code(r, 3, RequestState::parse)?,
                completed_at: time_at(r, 4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut delete = conn.prepare_cached(
        "DELETE FROM requests WHERE workspace_id = ?1 AND id = ?2 \
         AND state IN ('completed', 'denied', 'expired')",
    )?;
    for r in &due {
        delete.execute(params![r.scope.id(), r.id])?;
    }
    Ok(due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    fn fixture() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("lethe.db")).unwrap();
        let t = "'2026-01-01T00:00:00.000000Z'";
        db.read(|c| {
            c.execute_batch(&format!(
                "INSERT INTO workspaces (id, slug, legal_name, contact_email, created_at, updated_at) \
                 VALUES (1, 'a', 'A', 'privacy@a.example', {t}, {t});"
            ))
            .map_err(StoreError::from)
        })
        .unwrap();
        (dir, db)
    }

    /// Inserts a row with `column` set to `value` (SQL), the rest valid.
    fn insert_with(db: &Db, column: &str, value: &str) -> Result<usize, StoreError> {
        let t = "'2026-01-01T00:00:00.000000Z'";
        let mut values = vec![
            ("id", "'r1'".to_owned()),
            ("workspace_id", "1".to_owned()),
            ("kind", "'access'".to_owned()),
            ("state", "'verified'".to_owned()),
            ("law", "'gdpr'".to_owned()),
            ("received_at", t.to_owned()),
            ("due_at", t.to_owned()),
            ("updated_at", t.to_owned()),
        ];
        match values.iter_mut().find(|(c, _)| *c == column) {
            Some(v) => v.1 = value.to_owned(),
            None => values.push((column, value.to_owned())),
        }
        let columns: Vec<&str> = values.iter().map(|(c, _)| *c).collect();
        let vals: Vec<&str> = values.iter().map(|(_, v)| v.as_str()).collect();
        db.read(|c| {
            c.execute(
                &format!(
                    "INSERT INTO requests ({}) VALUES ({})",
                    columns.join(", "),
                    vals.join(", ")
                ),
                [],
            )
            .map_err(StoreError::from)
        })
    }

    #[test]
    fn the_table_refuses_unknown_codes_other_time_forms_and_inconsistent_rows() {
        let (_dir, db) = fixture();
        for (column, value) in [
            ("kind", "'forget'"),
            ("state", "'lost'"),
            ("law", "'lgpd'"),
            ("received_at", "'2026-01-01T00:00:00Z'"),
            ("due_at", "'2026-01-01 00:00:00'"),
            ("extended_due_at", "'tomorrow'"),
            // A denial needs its ground, an objection its purpose, an extension its reason.
            ("state", "'denied'"),
            ("kind", "'objection'"),
            ("extended_due_at", "'2026-03-01T00:00:00.000000Z'"),
            ("purpose_key", "'marketing'"),
            ("denial_reason", "'because'"),
            ("email_index", "x'00'"),
            ("completed_at", "'2026-01-01T00:00:00.000000Z'"),
        ] {
            assert!(
                insert_with(&db, column, value).is_err(),
                "{column} = {value} was stored"
            );
        }
        assert_eq!(insert_with(&db, "kind", "'export'").unwrap(), 1);
        let scope = WorkspaceScope::for_tests(1);
        let row = db.read(|c| get(c, &scope, "r1")).unwrap().unwrap();
        assert_eq!(row.kind, RequestType::Export);
        assert_eq!(
            db.read(|c| get(c, &WorkspaceScope::for_tests(2), "r1"))
                .unwrap()
                .map(|r| r.id),
            None
        );
    }
}
