//! The audit log table: append inside the caller's transaction (so the entry and the change it
//! records commit together), list with filters, and verify the chain.

use super::{StoreError, WorkspaceScope, time_at, ts};
use crate::domain::anchor::Head;
use crate::domain::audit::{
    AuditEvent, ChainBreak, ChainVerifier, ChainedFields, GENESIS_HASH, chain_hash, truncate_ip,
};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
    pub ip: Option<String>,
    #[serde(skip)]
    pub workspace_slug: Option<String>,
}

/// Appends one event. It takes the write transaction, so the previous hash is read and the new
/// entry written under the same lock, and the entry commits with the change it records.
pub fn append(
    conn: &rusqlite::Transaction<'_>,
    scope: Option<&WorkspaceScope>,
    event: &AuditEvent,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let (last_seq, prev_hash): (i64, String) = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, GENESIS_HASH.to_owned()));
    let seq = last_seq + 1;
    let at = ts(now);
    let actor = event.actor.label();
    let detail = event.detail.to_string();
    let ip = event.ip.map(truncate_ip);
    let fields = ChainedFields {
        seq,
        workspace_id: scope.map(|s| s.id()),
        at: &at,
        actor: &actor,
        action: event.action,
        target: &event.target,
        detail: &detail,
        ip: ip.as_deref(),
    };
    let hash = chain_hash(&prev_hash, &fields);
    conn.execute(
        "INSERT INTO audit_log (seq, workspace_id, at, actor, action, target, detail, ip, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            seq,
            fields.workspace_id,
            at,
            actor,
            event.action,
            event.target,
            detail,
            ip,
            prev_hash,
            hash
        ],
    )?;
    Ok(seq)
}

/// Filters of the audit page and API; empty strings mean "any".
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: String,
    pub action: String,
    pub target: String,
    /// Inclusive lower bound, RFC 3339 or a date.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Entries with a smaller sequence number than this (paging backwards).
    pub before_seq: Option<i64>,
    pub limit: u32,
}

fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    let at = time_at(r, 1)?;
    let detail: String = r.get(5)?;
    Ok(AuditEntry {
        seq: r.get(0)?,
        at,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
        ip: r.get(6)?,
        workspace_slug: r.get(7)?,
    })
}

/// Which part of the log a listing covers.
pub enum AuditRange<'a> {
    /// One workspace's entries.
    Workspace(&'a WorkspaceScope),
    /// Instance-wide entries (no workspace): logins, set-up, workspace creation. For admins.
    Instance,
}

pub fn list(
    conn: &Connection,
    range: AuditRange<'_>,
    f: &AuditFilter,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut sql = String::from(
        "SELECT a.seq, a.at, a.actor, a.action, a.target, a.detail, a.ip, w.slug \
         FROM audit_log a LEFT JOIN workspaces w ON w.id = a.workspace_id WHERE ",
    );
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    match range {
        AuditRange::Workspace(scope) => {
            sql.push_str("a.workspace_id = ?");
            args.push(Box::new(scope.id()));
        }
        AuditRange::Instance => sql.push_str("a.workspace_id IS NULL"),
    }
    for (column, value) in [
        ("a.actor", &f.actor),
        ("a.action", &f.action),
        ("a.target", &f.target),
    ] {
        if !value.is_empty() {
            sql.push_str(&format!(" AND instr({column}, ?) > 0"));
            args.push(Box::new(value.clone()));
        }
    }
    if let Some(since) = f.since {
        sql.push_str(" AND a.at >= ?");
        args.push(Box::new(ts(since)));
    }
    if let Some(until) = f.until {
        sql.push_str(" AND a.at < ?");
        args.push(Box::new(ts(until)));
    }
    if let Some(before) = f.before_seq {
        sql.push_str(" AND a.seq < ?");
        args.push(Box::new(before));
    }
    sql.push_str(" ORDER BY a.seq DESC LIMIT ?");
    args.push(Box::new(f.limit.clamp(1, 500)));
    let mut stmt = conn.prepare(&sql)?;
    let params: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
    let rows = stmt.query_map(params.as_slice(), entry_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, scope: &WorkspaceScope, seq: i64) -> Result<AuditEntry, StoreError> {
    conn.query_row(
        "SELECT a.seq, a.at, a.actor, a.action, a.target, a.detail, a.ip, w.slug \
         FROM audit_log a LEFT JOIN workspaces w ON w.id = a.workspace_id \
         WHERE a.workspace_id = ?1 AND a.seq = ?2",
        params![scope.id(), seq],
        entry_from_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound("audit entry".into()))
}

/// The newest checkpoint: entries up to `seq` may be gone; the next one points at `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    /// Entries this checkpoint let go.
    pub removed: i64,
    pub at: DateTime<Utc>,
}

pub fn latest_checkpoint(conn: &Connection) -> Result<Option<Checkpoint>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT seq, hash, removed, at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
            [],
            |r| {
                Ok(Checkpoint {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                    removed: r.get(2)?,
                    at: time_at(r, 3)?,
                })
            },
        )
        .optional()?)
}

/// Lets the entries older than `before` go: writes a checkpoint at the newest of them (its
/// sequence number and hash, which the next entry points at) and records the pruning as an
/// entry of the chain. Returns the checkpoint, or None when nothing is that old. The entries
/// themselves are deleted afterwards in batches ([`prune_before_checkpoint`]).
pub fn checkpoint_before(
    conn: &rusqlite::Transaction<'_>,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Checkpoint>, StoreError> {
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM audit_log WHERE at < ?1 ORDER BY seq DESC LIMIT 1",
            [ts(before)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((seq, hash)) = last else {
        return Ok(None);
    };
    let previous = latest_checkpoint(conn)?.map_or(0, |c| c.seq);
    if seq <= previous {
        return Ok(None);
    }
    let removed: i64 = conn.query_row(
        "SELECT count(*) FROM audit_log WHERE seq > ?1 AND seq <= ?2",
        params![previous, seq],
        |r| r.get(0),
    )?;
    conn.execute(
        "INSERT INTO audit_checkpoints (seq, hash, removed, at) VALUES (?1, ?2, ?3, ?4)",
        params![seq, hash, removed, ts(now)],
    )?;
    let event = AuditEvent::new(
        crate::domain::audit::Actor::System,
        "audit.pruned",
        "audit_log",
    )
    .detail(serde_json::json!({
        "through_seq": seq,
        "through_hash": hash,
        "removed": removed,
        "older_than": ts(before),
    }));
    append(conn, None, &event, now)?;
    Ok(Some(Checkpoint {
        seq,
        hash,
        removed,
        at: now,
    }))
}

/// Deletes up to `limit` entries behind the newest checkpoint; returns how many went.
pub fn prune_before_checkpoint(conn: &Connection, limit: u32) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log WHERE seq <= \
         (SELECT coalesce(max(seq), 0) FROM audit_checkpoints) ORDER BY seq LIMIT ?1)",
        [limit],
    )?)
}

/// The newest entry; None for an empty log.
pub fn head(conn: &Connection) -> Result<Option<Head>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| {
                Ok(Head {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                })
            },
        )
        .optional()?)
}

/// The stored hash of entry `seq`, if it is there.
pub fn hash_at(conn: &Connection, seq: i64) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT hash FROM audit_log WHERE seq = ?1", [seq], |r| {
            r.get(0)
        })
        .optional()?)
}

/// The triggers that refuse edits and deletions of entries.
const GUARDS: [&str; 2] = ["audit_log_no_update", "audit_log_no_delete"];

/// Those of the guarding triggers that are not there (someone dropped them).
pub fn missing_guards(conn: &Connection) -> Result<Vec<&'static str>, StoreError> {
    let mut missing = Vec::new();
    for name in GUARDS {
        let present: bool = conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
            [name],
            |r| r.get(0),
        )?;
        if !present {
            missing.push(name);
        }
    }
    Ok(missing)
}

/// Checks every entry after the newest checkpoint in order (the first must point at the
/// checkpoint's hash). Ok(number checked) or the first break.
pub fn verify(conn: &Connection) -> Result<Result<u64, ChainBreak>, StoreError> {
    let checkpoint = latest_checkpoint(conn)?;
    let mut stmt = conn.prepare(
        "SELECT seq, workspace_id, at, actor, action, target, detail, ip, prev_hash, hash \
         FROM audit_log WHERE seq > ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query([checkpoint.as_ref().map_or(0, |c| c.seq)])?;
    let mut verifier = match &checkpoint {
        Some(c) => ChainVerifier::from_checkpoint(c.seq, &c.hash),
        None => ChainVerifier::default(),
    };
    while let Some(r) = rows.next()? {
        let (at, actor, action, target, detail): (String, String, String, String, String) =
            (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?);
        let ip: Option<String> = r.get(7)?;
        let (prev, hash): (String, String) = (r.get(8)?, r.get(9)?);
        let fields = ChainedFields {
            seq: r.get(0)?,
            workspace_id: r.get(1)?,
            at: &at,
            actor: &actor,
            action: &action,
            target: &target,
            detail: &detail,
            ip: ip.as_deref(),
        };
        if let Err(e) = verifier.check(&fields, &prev, &hash) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(verifier.checked))
}
