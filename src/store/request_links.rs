//! The links a person follows for a request made on the privacy center: the verification link
//! (single use, expiring) and status links. Only token digests are stored (services hash the
//! token); this module finds, uses and ends them, and walks the unverified requests whose
//! verification link has ended.

use super::{StoreError, WorkspaceScope, opt_time_at, ts};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    Verify,
    Status,
}

impl LinkPurpose {
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Verify => "verify",
            LinkPurpose::Status => "status",
        }
    }
}

/// A stored link, found by its digest.
#[derive(Debug, Clone)]
pub struct LinkRow {
    pub request_id: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub used_at: Option<DateTime<Utc>>,
}

pub fn insert(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    request_id: &str,
    purpose: LinkPurpose,
    digest: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO request_links (workspace_id, request_id, purpose, digest, created_at, \
         expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            scope.id(),
            request_id,
            purpose.as_str(),
            digest,
            ts(now),
            expires_at.map(ts)
        ],
    )?;
    Ok(())
}

/// The link with this digest in this workspace (another workspace's link is not found).
pub fn find(
    conn: &Connection,
    scope: &WorkspaceScope,
    purpose: LinkPurpose,
    digest: &str,
) -> Result<Option<LinkRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT request_id, expires_at, used_at FROM request_links \
         WHERE workspace_id = ?1 AND purpose = ?2 AND digest = ?3",
    )?;
    Ok(stmt
        .query_row(params![scope.id(), purpose.as_str(), digest], |r| {
            Ok(LinkRow {
                request_id: r.get(0)?,
                expires_at: opt_time_at(r, 1)?,
                used_at: opt_time_at(r, 2)?,
            })
        })
        .optional()?)
}

/// Uses a verification link once: false when it was used or ended meanwhile.
pub fn use_verify_link(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    digest: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = tx.execute(
        "UPDATE request_links SET used_at = ?3 WHERE workspace_id = ?1 AND digest = ?2 \
         AND purpose = 'verify' AND used_at IS NULL AND expires_at >= ?3",
        params![scope.id(), digest, ts(now)],
    )?;
    Ok(n == 1)
}

/// Moves a request from `received` to `verified`: false when it was no longer received.
pub fn mark_verified(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = tx.execute(
        "UPDATE requests SET state = 'verified', verified_at = ?3, updated_at = ?3 \
         WHERE workspace_id = ?1 AND id = ?2 AND state = 'received'",
        params![scope.id(), request_id, ts(now)],
    )?;
    Ok(n == 1)
}

/// Up to `limit` requests, of any workspace, still `received` and without a verification link
/// that works at `now`: their time to be verified is over.
pub fn unverified_past(
    conn: &Connection,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<(WorkspaceScope, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT r.workspace_id, r.id FROM request_links l \
         JOIN requests r ON r.id = l.request_id \
         WHERE l.purpose = 'verify' AND l.expires_at < ?1 AND r.state = 'received' \
         AND NOT EXISTS (SELECT 1 FROM request_links k WHERE k.request_id = r.id \
                         AND k.purpose = 'verify' AND k.expires_at >= ?1) \
         ORDER BY r.id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![ts(now), limit], |r| {
            Ok((WorkspaceScope::new(r.get(0)?), r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Deletes an unverified request with its timeline and links: false when it was verified
/// meanwhile (it is then kept).
pub fn delete_unverified(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    request_id: &str,
) -> Result<bool, StoreError> {
    let received = tx
        .query_row(
            "SELECT 1 FROM requests WHERE workspace_id = ?1 AND id = ?2 AND state = 'received'",
            params![scope.id(), request_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !received {
        return Ok(false);
    }
    // Explicit rather than through the cascade alone: the rows go whatever the connection's
    // foreign-key setting.
    for sql in [
        "DELETE FROM request_links WHERE workspace_id = ?1 AND request_id = ?2",
        "DELETE FROM request_events WHERE workspace_id = ?1 AND request_id = ?2",
        "DELETE FROM requests WHERE workspace_id = ?1 AND id = ?2 AND state = 'received'",
    ] {
        tx.execute(sql, params![scope.id(), request_id])?;
    }
    Ok(true)
}
