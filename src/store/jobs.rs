//! The scheduler's state: each job's next run (so a run missed while Lethe was down happens at
//! the next start), its last outcome, and leases that keep one run at a time per workspace
//! across processes (`lethe serve` and `lethe retention run` share the database).

use super::{StoreError, opt_time_at, time_at, ts};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct JobState {
    pub name: String,
    /// The schedule `next_run_at` was computed from.
    pub schedule: String,
    pub next_run_at: DateTime<Utc>,
    pub last_started_at: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_outcome: String,
}

fn state(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobState> {
    Ok(JobState {
        name: r.get(0)?,
        schedule: r.get(1)?,
        next_run_at: time_at(r, 2)?,
        last_started_at: opt_time_at(r, 3)?,
        last_finished_at: opt_time_at(r, 4)?,
        last_success_at: opt_time_at(r, 5)?,
        last_outcome: r.get(6)?,
    })
}

const COLUMNS: &str = "name, schedule, next_run_at, last_started_at, last_finished_at, \
    last_success_at, last_outcome";

pub fn all(conn: &Connection) -> Result<HashMap<String, JobState>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM job_schedule"))?;
    let rows = stmt
        .query_map([], state)?
        .map(|r| r.map(|s| (s.name.clone(), s)))
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Jobs whose names start with `prefix` (e.g. one workspace's retention rules).
pub fn with_prefix(conn: &Connection, prefix: &str) -> Result<Vec<JobState>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM job_schedule WHERE substr(name, 1, length(?1)) = ?1 ORDER BY name"
    ))?;
    let rows = stmt.query_map([prefix], state)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Sets when a job runs next (a new job, or one whose schedule changed).
pub fn plan(
    conn: &Connection,
    name: &str,
    schedule: &str,
    next_run_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO job_schedule (name, schedule, next_run_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET schedule = excluded.schedule, \
         next_run_at = excluded.next_run_at",
        params![name, schedule, ts(next_run_at)],
    )?;
    Ok(())
}

/// A run starts: the next one is planned now, so a run missed while down happens only once.
pub fn started(
    conn: &Connection,
    name: &str,
    now: DateTime<Utc>,
    next_run_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE job_schedule SET last_started_at = ?2, next_run_at = coalesce(?3, next_run_at) \
         WHERE name = ?1",
        params![name, ts(now), next_run_at.map(ts)],
    )?;
    Ok(())
}

pub fn finished(
    conn: &Connection,
    name: &str,
    now: DateTime<Utc>,
    success: bool,
    outcome: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE job_schedule SET last_finished_at = ?2, last_outcome = ?3, \
         last_success_at = CASE WHEN ?4 THEN ?2 ELSE last_success_at END WHERE name = ?1",
        params![name, ts(now), outcome, success],
    )?;
    Ok(())
}

/// Forgets jobs that no longer exist (a deleted rule).
pub fn forget(conn: &Connection, name: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM job_schedule WHERE name = ?1", [name])?;
    Ok(())
}

/// Takes (or renews) the lease `name` for `holder` until `until`; false if someone else holds
/// an unexpired lease.
pub fn take_lease(
    conn: &Connection,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE leases.holder = excluded.holder OR leases.expires_at < ?4",
        params![name, holder, ts(until), ts(now)],
    )?;
    Ok(n > 0)
}

pub fn release_lease(conn: &Connection, name: &str, holder: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
        params![name, holder],
    )?;
    Ok(())
}

/// Who holds a lease, if it has not expired.
pub fn lease_holder(
    conn: &Connection,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT holder FROM leases WHERE name = ?1 AND expires_at >= ?2",
            params![name, ts(now)],
            |r| r.get(0),
        )
        .optional()?)
}
