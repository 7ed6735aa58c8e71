//! Retention's SQL: the records a rule is due for (walked in a fixed order from a saved
//! position), the changes of one batch, run history, claim checks, and Lethe's own rules.

use super::records::{COLUMNS_R, StoredRecord, row as record_row};
use super::{StoreError, WorkspaceScope, opt_time_at, time_at, ts};
use crate::domain::inventory::{RetentionAction, RetentionTrigger};
use crate::domain::retention::{Cursor, RunCounts};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, ToSql, params};

/// Which records a rule is due for.
#[derive(Debug, Clone)]
pub struct Due<'a> {
    pub category: &'a str,
    pub trigger: RetentionTrigger,
    pub cutoff: DateTime<Utc>,
    /// For anonymize rules: the rule's key, so records it already changed are not due again.
    pub anonymize_rule: Option<&'a str>,
}

impl Due<'_> {
    /// The WHERE clause (on `r`, records, and `s`, subjects) and its arguments after the
    /// workspace (`?1`). Records kept by a hold after an erasure are never due.
    fn clause(&self) -> (String, Vec<Box<dyn ToSql>>) {
        let mut args: Vec<Box<dyn ToSql>> = vec![
            Box::new(self.category.to_owned()),
            Box::new(ts(self.cutoff)),
        ];
        let mut sql = match self.trigger {
            RetentionTrigger::Collected => {
                "r.workspace_id = ?1 AND r.category = ?2 AND r.occurred_at < ?3".to_owned()
            }
            RetentionTrigger::AccountClosed => "r.workspace_id = ?1 AND r.category = ?2 \
                 AND s.workspace_id = ?1 AND s.closed_at IS NOT NULL AND s.closed_at < ?3 \
                 AND s.erased_at IS NULL"
                .to_owned(),
        };
        sql.push_str(" AND r.hold_key IS NULL");
        if let Some(rule) = self.anonymize_rule {
            sql.push_str(
                " AND (r.anonymized_by IS NULL OR instr(',' || r.anonymized_by || ',', ?4) = 0)",
            );
            args.push(Box::new(format!(",{rule},")));
        }
        (sql, args)
    }

    fn from(&self) -> &'static str {
        match self.trigger {
            RetentionTrigger::Collected => "records r",
            RetentionTrigger::AccountClosed => "records r JOIN subjects s ON s.id = r.subject_id",
        }
    }

    /// The ordering key of the walk: (occurred_at, id), led by the subject for rules counted
    /// from an account's closure (one person's records together).
    fn order(&self) -> &'static str {
        match self.trigger {
            RetentionTrigger::Collected => "r.occurred_at, r.id",
            RetentionTrigger::AccountClosed => "r.subject_id, r.occurred_at, r.id",
        }
    }
}

/// A due record, or why it cannot be read (a stored time that does not parse), with the
/// position it takes in the walk either way, so one bad row cannot stop a run.
pub struct DueRow {
    pub cursor: Cursor,
    pub record: Result<StoredRecord, String>,
}

/// Up to `limit` due records after `cursor`, in walk order.
pub fn due(
    conn: &Connection,
    scope: &WorkspaceScope,
    q: &Due<'_>,
    cursor: &Cursor,
    limit: u32,
) -> Result<Vec<DueRow>, StoreError> {
    let (clause, mut args) = q.clause();
    // Parameters are numbered in the order they are pushed; ?1 is the workspace.
    fn push(args: &mut Vec<Box<dyn ToSql>>, value: Box<dyn ToSql>) -> String {
        args.push(value);
        format!("?{}", args.len() + 1)
    }
    let mut after = Vec::new();
    if q.trigger == RetentionTrigger::AccountClosed {
        after.push(push(&mut args, Box::new(cursor.subject)));
    }
    after.push(push(&mut args, Box::new(cursor.occurred_at.clone())));
    after.push(push(&mut args, Box::new(cursor.id.clone())));
    let limit_at = push(&mut args, Box::new(limit));
    // The walk's position is read raw, beside the record, so that a row whose time does not
    // parse still has one.
    let sql = format!(
        "SELECT {COLUMNS_R}, r.id, r.occurred_at, r.subject_id FROM {} WHERE {clause} \
         AND ({}) > ({}) ORDER BY {} LIMIT {limit_at}",
        q.from(),
        q.order(),
        after.join(", "),
        q.order(),
    );
    let id = scope.id();
    let mut all: Vec<&dyn ToSql> = vec![&id];
    all.extend(args.iter().map(|b| b.as_ref()));
    let walked_by_subject = q.trigger == RetentionTrigger::AccountClosed;
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(all.as_slice(), |r| {
            let subject: Option<i64> = r.get(14)?;
            Ok(DueRow {
                cursor: Cursor {
                    subject: if walked_by_subject {
                        subject.unwrap_or(0)
                    } else {
                        0
                    },
                    occurred_at: r.get(13)?,
                    id: r.get(12)?,
                },
                record: record_row(r).map_err(|e| e.to_string()),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// How many records are due.
pub fn count_due(
    conn: &Connection,
    scope: &WorkspaceScope,
    q: &Due<'_>,
) -> Result<u64, StoreError> {
    let (clause, args) = q.clause();
    let sql = format!("SELECT count(*) FROM {} WHERE {clause}", q.from());
    let id = scope.id();
    let mut all: Vec<&dyn ToSql> = vec![&id];
    all.extend(args.iter().map(|b| b.as_ref()));
    Ok(conn.query_row(&sql, all.as_slice(), |r| r.get::<_, i64>(0))? as u64)
}

/// Records past the rule that a hold keeps since their person was erased.
pub fn count_held_after_erasure(
    conn: &Connection,
    scope: &WorkspaceScope,
    category: &str,
    cutoff: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM records WHERE workspace_id = ?1 AND category = ?2 \
         AND hold_key IS NOT NULL AND occurred_at < ?3",
        params![scope.id(), category, ts(cutoff)],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// Deletes a record unless a hold took it meanwhile; true if it went.
pub fn delete_record(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: &str,
) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(
        "DELETE FROM records WHERE workspace_id = ?1 AND id = ?2 AND hold_key IS NULL",
    )?;
    Ok(stmt.execute(params![scope.id(), id])? > 0)
}

/// A record's anonymized form, written only if the record is still as it was read.
pub struct Anonymized<'a> {
    pub id: &'a str,
    /// The key and period it was read under (the guard).
    pub was_key_id: &'a str,
    pub was_period_key_id: Option<&'a str>,
    pub key_id: &'a str,
    pub subject_id: Option<i64>,
    pub sealed_fields: &'a [u8],
    pub anonymized_by: &'a str,
}

pub fn write_anonymized(
    conn: &Connection,
    scope: &WorkspaceScope,
    a: &Anonymized<'_>,
) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE records SET key_id = ?3, period_key_id = NULL, subject_id = ?4, \
         sealed_fields = ?5, anonymized_by = ?6 WHERE workspace_id = ?1 AND id = ?2 \
         AND key_id = ?7 AND period_key_id IS ?8 AND hold_key IS NULL",
    )?;
    Ok(stmt.execute(params![
        scope.id(),
        a.id,
        a.key_id,
        a.subject_id,
        a.sealed_fields,
        a.anonymized_by,
        a.was_key_id,
        a.was_period_key_id
    ])? > 0)
}

/// A run as stored.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: i64,
    pub rule_key: String,
    pub category: String,
    pub action: RetentionAction,
    pub started_by: String,
    pub dry_run: bool,
    pub status: String,
    pub cutoff: DateTime<Utc>,
    pub cursor: Cursor,
    pub counts: RunCounts,
    pub last_error: Option<String>,
    pub batches: u64,
    pub report: Option<serde_json::Value>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Set by [`list_runs_all`] only.
    pub workspace_id: i64,
}

const RUN_COLUMNS: &str = "id, rule_key, category, action, started_by, dry_run, status, cutoff, \
    cursor, scanned, changed, deleted, held, errors, last_error, batches, report, started_at, \
    finished_at, workspace_id";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    let action: String = r.get(3)?;
    let cursor: Option<String> = r.get(8)?;
    let report: Option<String> = r.get(16)?;
    let count = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok(RunRow {
        id: r.get(0)?,
        rule_key: r.get(1)?,
        category: r.get(2)?,
        action: if action == "anonymize" {
            RetentionAction::Anonymize
        } else {
            RetentionAction::Delete
        },
        started_by: r.get(4)?,
        dry_run: r.get(5)?,
        status: r.get(6)?,
        cutoff: time_at(r, 7)?,
        cursor: cursor
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    8,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?
            .unwrap_or_default(),
        counts: RunCounts {
            scanned: count(9)?,
            changed: count(10)?,
            deleted: count(11)?,
            held: count(12)?,
            errors: count(13)?,
        },
        last_error: r.get(14)?,
        batches: count(15)?,
        report: report.and_then(|s| serde_json::from_str(&s).ok()),
        started_at: time_at(r, 17)?,
        finished_at: opt_time_at(r, 18)?,
        workspace_id: r.get(19)?,
    })
}

pub struct NewRun<'a> {
    pub rule_key: &'a str,
    pub category: &'a str,
    pub action: RetentionAction,
    pub started_by: &'a str,
    pub dry_run: bool,
    pub cutoff: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

pub fn start_run(
    conn: &Connection,
    scope: &WorkspaceScope,
    run: &NewRun<'_>,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO retention_runs (workspace_id, rule_key, category, action, started_by, \
         dry_run, status, cutoff, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?8)",
        params![
            scope.id(),
            run.rule_key,
            run.category,
            match run.action {
                RetentionAction::Delete => "delete",
                RetentionAction::Anonymize => "anonymize",
            },
            run.started_by,
            run.dry_run,
            ts(run.cutoff),
            ts(run.now)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Saves a batch's position and counts, in the batch's own transaction.
pub fn save_progress(
    conn: &Connection,
    scope: &WorkspaceScope,
    run_id: i64,
    cursor: &Cursor,
    counts: &RunCounts,
    last_error: Option<&str>,
) -> Result<(), StoreError> {
    let cursor = serde_json::to_string(cursor).map_err(|e| StoreError::Write(e.to_string()))?;
    conn.execute(
        "UPDATE retention_runs SET cursor = ?3, scanned = ?4, changed = ?5, deleted = ?6, \
         held = ?7, errors = ?8, last_error = coalesce(?9, last_error), batches = batches + 1, \
         status = 'running' WHERE workspace_id = ?1 AND id = ?2",
        params![
            scope.id(),
            run_id,
            cursor,
            counts.scanned as i64,
            counts.changed as i64,
            counts.deleted as i64,
            counts.held as i64,
            counts.errors as i64,
            last_error
        ],
    )?;
    Ok(())
}

/// How a run ends: `completed`, `failed` or `interrupted` (to resume), with its last counts.
pub struct RunEnd<'a> {
    pub status: &'a str,
    pub counts: &'a RunCounts,
    pub last_error: Option<&'a str>,
    pub report: Option<&'a serde_json::Value>,
    pub now: DateTime<Utc>,
}

pub fn end_run(
    conn: &Connection,
    scope: &WorkspaceScope,
    run_id: i64,
    end: &RunEnd<'_>,
) -> Result<(), StoreError> {
    let RunEnd {
        status,
        counts,
        last_error,
        report,
        now,
    } = *end;
    let finished = (status != "interrupted").then(|| ts(now));
    conn.execute(
        "UPDATE retention_runs SET status = ?3, scanned = ?4, changed = ?5, deleted = ?6, \
         held = ?7, errors = ?8, last_error = coalesce(?9, last_error), report = ?10, \
         finished_at = ?11 WHERE workspace_id = ?1 AND id = ?2",
        params![
            scope.id(),
            run_id,
            status,
            counts.scanned as i64,
            counts.changed as i64,
            counts.deleted as i64,
            counts.held as i64,
            counts.errors as i64,
            last_error,
            report.map(|r| r.to_string()),
            finished
        ],
    )?;
    Ok(())
}

/// Ends a run that could not go on: `failed`, with why; its counts stay those of its committed
/// batches.
pub fn fail_run(
    conn: &Connection,
    scope: &WorkspaceScope,
    run_id: i64,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE retention_runs SET status = 'failed', last_error = ?3, finished_at = ?4 \
         WHERE workspace_id = ?1 AND id = ?2",
        params![scope.id(), run_id, error, ts(now)],
    )?;
    Ok(())
}

/// A rule's unfinished run (cut short by a crash or a shutdown), to resume.
pub fn open_run(
    conn: &Connection,
    scope: &WorkspaceScope,
    rule_key: &str,
) -> Result<Option<RunRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {RUN_COLUMNS} FROM retention_runs WHERE workspace_id = ?1 AND rule_key = ?2 \
                 AND dry_run = 0 AND status IN ('running', 'interrupted') ORDER BY id DESC LIMIT 1"
            ),
            params![scope.id(), rule_key],
            run_row,
        )
        .optional()?)
}

/// Rules (workspace id, rule key) with an unfinished run.
pub fn rules_with_open_runs(conn: &Connection) -> Result<Vec<(i64, String)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT workspace_id, rule_key FROM retention_runs \
         WHERE status IN ('running', 'interrupted') AND dry_run = 0",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn get_run(conn: &Connection, scope: &WorkspaceScope, id: i64) -> Result<RunRow, StoreError> {
    conn.query_row(
        &format!("SELECT {RUN_COLUMNS} FROM retention_runs WHERE workspace_id = ?1 AND id = ?2"),
        params![scope.id(), id],
        run_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("retention run {id}")))
}

/// A workspace's runs, newest first, optionally of one rule.
pub fn list_runs(
    conn: &Connection,
    scope: &WorkspaceScope,
    rule_key: Option<&str>,
    limit: u32,
) -> Result<Vec<RunRow>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {RUN_COLUMNS} FROM retention_runs WHERE workspace_id = ?1 \
         AND (?2 IS NULL OR rule_key = ?2) ORDER BY id DESC LIMIT ?3"
    ))?;
    let rows = stmt
        .query_map(params![scope.id(), rule_key, limit], run_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The last completed real run of each rule of every workspace: (workspace id, rule, finished).
pub fn last_successes(conn: &Connection) -> Result<Vec<(i64, String, DateTime<Utc>)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT workspace_id, rule_key, max(finished_at) FROM retention_runs \
         WHERE status = 'completed' AND dry_run = 0 GROUP BY workspace_id, rule_key",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, time_at(r, 2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
