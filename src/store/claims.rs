//! Claims checked against the data: each rule's latest result, every result kept dated for the
//! privacy center and `/metrics`.

use super::{StoreError, WorkspaceScope, time_at, ts};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

/// One claim checked against the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCheck {
    pub rule_key: String,
    pub claim: String,
    pub checked_at: DateTime<Utc>,
    pub violations: u64,
    pub held: u64,
    pub backlog: u64,
}

impl ClaimCheck {
    pub fn passed(&self) -> bool {
        self.violations == 0
    }
}

pub fn record_claim_check(
    conn: &Connection,
    scope: &WorkspaceScope,
    c: &ClaimCheck,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO retention_claim_checks (workspace_id, rule_key, claim, checked_at, \
         violations, held, backlog) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            scope.id(),
            c.rule_key,
            c.claim,
            ts(c.checked_at),
            c.violations as i64,
            c.held as i64,
            c.backlog as i64
        ],
    )?;
    Ok(())
}

fn claim_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, ClaimCheck)> {
    Ok((
        r.get(0)?,
        ClaimCheck {
            rule_key: r.get(1)?,
            claim: r.get(2)?,
            checked_at: time_at(r, 3)?,
            violations: r.get::<_, i64>(4)?.max(0) as u64,
            held: r.get::<_, i64>(5)?.max(0) as u64,
            backlog: r.get::<_, i64>(6)?.max(0) as u64,
        },
    ))
}

/// The latest check of each rule of the workspace.
pub fn latest_claim_checks(
    conn: &Connection,
    scope: &WorkspaceScope,
) -> Result<Vec<ClaimCheck>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT c.workspace_id, c.rule_key, c.claim, c.checked_at, c.violations, c.held, c.backlog \
         FROM retention_claim_checks c WHERE c.workspace_id = ?1 AND c.id = \
         (SELECT max(id) FROM retention_claim_checks WHERE workspace_id = ?1 AND rule_key = c.rule_key) \
         ORDER BY c.rule_key",
    )?;
    let rows = stmt
        .query_map([scope.id()], claim_row)?
        .map(|r| r.map(|(_, c)| c))
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The latest check of each rule of every workspace, with its workspace id (for /metrics).
pub fn latest_claim_checks_all(conn: &Connection) -> Result<Vec<(i64, ClaimCheck)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT c.workspace_id, c.rule_key, c.claim, c.checked_at, c.violations, c.held, c.backlog \
         FROM retention_claim_checks c WHERE c.id = (SELECT max(id) FROM retention_claim_checks \
         WHERE workspace_id = c.workspace_id AND rule_key = c.rule_key)",
    )?;
    let rows = stmt.query_map([], claim_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// One rule's checks of one day, for the privacy center's dated list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyClaim {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub rule_key: String,
    pub claim: String,
    /// The most records past the rule any check of the day found.
    pub worst: u64,
    pub checks: u64,
}

/// Each rule's checks per day from `since` on, newest day first.
pub fn daily_claims(
    conn: &Connection,
    scope: &WorkspaceScope,
    since: DateTime<Utc>,
) -> Result<Vec<DailyClaim>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT substr(checked_at, 1, 10) AS day, rule_key, \
         (SELECT c2.claim FROM retention_claim_checks c2 WHERE c2.workspace_id = ?1 \
          AND c2.rule_key = c.rule_key AND substr(c2.checked_at, 1, 10) = substr(c.checked_at, 1, 10) \
          ORDER BY c2.id DESC LIMIT 1), \
         max(violations), count(*) FROM retention_claim_checks c \
         WHERE workspace_id = ?1 AND checked_at >= ?2 GROUP BY day, rule_key \
         ORDER BY day DESC, rule_key",
    )?;
    let rows = stmt
        .query_map(params![scope.id(), ts(since)], |r| {
            Ok(DailyClaim {
                day: r.get(0)?,
                rule_key: r.get(1)?,
                claim: r.get(2)?,
                worst: r.get::<_, i64>(3)?.max(0) as u64,
                checks: r.get::<_, i64>(4)?.max(0) as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
