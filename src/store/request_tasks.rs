//! Tasks of data subject requests for the operator's other systems (migration 0019). The data a
//! system attaches arrives here already sealed (services::request_tasks).

use super::{StoreError, WorkspaceScope, opt_time_at, time_at, ts};
use crate::domain::request_task::TaskChannel;
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, Transaction, params};

/// A stored task; the attached data as stored (sealed).
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub id: i64,
    pub system_key: String,
    pub system_name: String,
    pub channel: TaskChannel,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub done_by: Option<String>,
    pub data_sealed: Option<Vec<u8>>,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRow> {
    let channel: String = r.get(3)?;
    Ok(TaskRow {
        id: r.get(0)?,
        system_key: r.get(1)?,
        system_name: r.get(2)?,
        channel: TaskChannel::parse(&channel).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                Type::Text,
                format!("'{channel}' is not a task channel").into(),
            )
        })?,
        created_at: time_at(r, 4)?,
        done_at: opt_time_at(r, 5)?,
        done_by: r.get(6)?,
        data_sealed: r.get(7)?,
    })
}

const COLUMNS: &str =
    "id, system_key, system_name, channel, created_at, done_at, done_by, data_sealed";

/// Opens a task; `Ok(false)` when the request already has one for this system.
pub fn insert(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    request_id: &str,
    system_key: &str,
    system_name: &str,
    channel: TaskChannel,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = tx.execute(
        "INSERT INTO request_tasks (workspace_id, request_id, system_key, system_name, channel, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (request_id, system_key) DO NOTHING",
        params![
            scope.id(),
            request_id,
            system_key,
            system_name,
            channel.as_str(),
            ts(now)
        ],
    )?;
    Ok(n == 1)
}

/// A request's tasks in the order they were opened.
pub fn for_request(
    conn: &Connection,
    scope: &WorkspaceScope,
    request_id: &str,
) -> Result<Vec<TaskRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM request_tasks WHERE workspace_id = ?1 AND request_id = ?2 ORDER BY id"
    ))?;
    let rows = stmt
        .query_map(params![scope.id(), request_id], row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Marks the task of `system_key` done, with the data it attached (sealed): `Ok(false)` when
/// there is no such open task.
pub fn mark_done(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    request_id: &str,
    system_key: &str,
    done_by: &str,
    data_sealed: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = tx.execute(
        "UPDATE request_tasks SET done_at = ?4, done_by = ?5, data_sealed = ?6 \
         WHERE workspace_id = ?1 AND request_id = ?2 AND system_key = ?3 AND done_at IS NULL",
        params![
            scope.id(),
            request_id,
            system_key,
            ts(now),
            done_by,
            data_sealed
        ],
    )?;
    Ok(n == 1)
}

/// How many of the request's tasks are still open.
pub fn open_count(
    conn: &Connection,
    scope: &WorkspaceScope,
    request_id: &str,
) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM request_tasks WHERE workspace_id = ?1 AND request_id = ?2 \
         AND done_at IS NULL",
        params![scope.id(), request_id],
        |r| r.get(0),
    )?)
}

/// Forgets the data systems attached to requests answered before `cutoff` (their package can no
/// longer be downloaded), across workspaces, at most `limit` tasks; returns how many.
pub fn drop_attached_data(
    tx: &Transaction<'_>,
    cutoff: DateTime<Utc>,
    limit: u32,
) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "UPDATE request_tasks SET data_sealed = NULL WHERE id IN ( \
           SELECT t.id FROM request_tasks t JOIN requests r ON r.id = t.request_id \
           WHERE t.data_sealed IS NOT NULL AND r.completed_at IS NOT NULL \
           AND r.completed_at < ?1 LIMIT ?2)",
        params![ts(cutoff), limit],
    )?)
}
