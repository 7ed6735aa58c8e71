//! Lethe's own data under rules: the instance-wide rules, and pruning one table a batch at a time.

use super::requests::PrunedRequest;
use super::{StoreError, ts};
use crate::domain::retention::{OwnData, OwnDataRule};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

pub fn own_data_rules(conn: &Connection) -> Result<Vec<OwnDataRule>, StoreError> {
    let mut stmt = conn.prepare("SELECT target, days, enabled FROM own_data_rules")?;
    let rows: Vec<(String, u32, bool)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    // A target this Lethe does not know (from a newer one) is left alone.
    let mut rules: Vec<OwnDataRule> = rows
        .into_iter()
        .filter_map(|(t, days, enabled)| {
            OwnData::parse(&t).map(|target| OwnDataRule {
                target,
                days,
                enabled,
            })
        })
        .collect();
    rules.sort_by_key(|r| OwnData::ALL.iter().position(|t| *t == r.target));
    Ok(rules)
}

pub fn set_own_data_rule(
    conn: &Connection,
    rule: &OwnDataRule,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO own_data_rules (target, days, enabled, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (target) DO UPDATE SET days = excluded.days, enabled = excluded.enabled, \
         updated_at = excluded.updated_at",
        params![rule.target.key(), rule.days, rule.enabled, ts(now)],
    )?;
    Ok(())
}

/// What one batch of pruning removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Rows of the target's table (for answered requests: requests, whatever went with them).
    pub rows: usize,
    /// The requests removed, for the caller to audit in their workspaces.
    pub requests: Vec<PrunedRequest>,
}

/// Deletes up to `limit` rows of one of Lethe's own tables older than `before`; returns what
/// went. Each call is one short transaction's worth.
pub fn prune_own(
    conn: &Connection,
    target: OwnData,
    before: DateTime<Utc>,
    limit: u32,
) -> Result<Pruned, StoreError> {
    let cutoff = before;
    let before = ts(before);
    let mut requests = Vec::new();
    let n = match target {
        OwnData::SubjectAccessLog => conn.execute(
            "DELETE FROM subject_access_log WHERE id IN \
             (SELECT id FROM subject_access_log WHERE at < ?1 LIMIT ?2)",
            params![before, limit],
        )?,
        OwnData::OutboxMessages => {
            let ids = "SELECT id FROM outbox_messages WHERE status <> 'queued' \
                       AND created_at < ?1 ORDER BY id LIMIT ?2";
            conn.execute(
                &format!("DELETE FROM delivery_attempts WHERE message_id IN ({ids})"),
                params![before, limit],
            )?;
            conn.execute(
                &format!("DELETE FROM outbox_messages WHERE id IN ({ids})"),
                params![before, limit],
            )?
        }
        OwnData::UnconfirmedSubscribers => conn.execute(
            "DELETE FROM policy_subscribers WHERE id IN (SELECT id FROM policy_subscribers \
             WHERE confirmed_at IS NULL AND created_at < ?1 LIMIT ?2)",
            params![before, limit],
        )?,
        OwnData::IdempotencyKeys => conn.execute(
            "DELETE FROM idempotency_keys WHERE (workspace_id, key) IN \
             (SELECT workspace_id, key FROM idempotency_keys WHERE created_at < ?1 LIMIT ?2)",
            params![before, limit],
        )?,
        OwnData::RetentionHistory => {
            let claims = conn.execute(
                "DELETE FROM retention_claim_checks WHERE id IN (SELECT id FROM \
                 retention_claim_checks WHERE checked_at < ?1 LIMIT ?2)",
                params![before, limit],
            )?;
            claims
                + conn.execute(
                    "DELETE FROM retention_runs WHERE id IN (SELECT id FROM retention_runs \
                     WHERE finished_at IS NOT NULL AND finished_at < ?1 LIMIT ?2)",
                    params![before, limit],
                )?
        }
        OwnData::AuditLog => super::audit::prune_before_checkpoint(conn, limit)?,
        OwnData::AnsweredRequests => {
            requests = super::requests::prune_answered(conn, cutoff, limit)?;
            requests.len()
        }
        OwnData::ConsentRecords => super::consent::prune(conn, cutoff, limit)?,
    };
    Ok(Pruned { rows: n, requests })
}
