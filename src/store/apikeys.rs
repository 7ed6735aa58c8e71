//! API keys, stored as SHA-256 digests. Authenticating a key is what yields its workspace scope.

use super::{StoreError, WorkspaceScope, opt_time_at, time_at, ts};
use crate::domain::apikey::{Scope, prefix_of};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

#[derive(Debug, Clone)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, name, prefix, scopes, created_by, created_at, last_used_at, revoked_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ApiKeyInfo> {
    let scopes: String = r.get(3)?;
    let created = time_at(r, 5)?;
    let used = opt_time_at(r, 6)?;
    let revoked = opt_time_at(r, 7)?;
    Ok(ApiKeyInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        prefix: r.get(2)?,
        // Stored scopes were parsed before storing; an unknown one (from a newer Lethe) is dropped.
        scopes: scopes
            .split(' ')
            .filter_map(|s| Scope::parse(s).ok())
            .collect(),
        created_by: r.get(4)?,
        created_at: created,
        last_used_at: used,
        revoked_at: revoked,
    })
}

pub struct NewKeyRow<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub secret_hash: &'a str,
    pub scopes: &'a [Scope],
    pub created_by: &'a str,
}

pub fn create(
    conn: &Connection,
    scope: &WorkspaceScope,
    key: &NewKeyRow<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let scopes: Vec<_> = key.scopes.iter().map(|s| s.as_str()).collect();
    conn.execute(
        "INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, scopes, created_by, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            key.id,
            scope.id(),
            key.name,
            key.prefix,
            key.secret_hash,
            scopes.join(" "),
            key.created_by,
            ts(now)
        ],
    )?;
    Ok(())
}

pub fn list(conn: &Connection, scope: &WorkspaceScope) -> Result<Vec<ApiKeyInfo>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE workspace_id = ?1 \
         ORDER BY revoked_at IS NOT NULL, created_at DESC"
    ))?;
    let rows = stmt.query_map([scope.id()], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, scope: &WorkspaceScope, id: &str) -> Result<ApiKeyInfo, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM api_keys WHERE workspace_id = ?1 AND id = ?2"),
        params![scope.id(), id],
        from_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound("API key".into()))
}

pub fn revoke(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let n = conn.execute(
        "UPDATE api_keys SET revoked_at = ?3 WHERE workspace_id = ?1 AND id = ?2 AND revoked_at IS NULL",
        params![scope.id(), id, ts(now)],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound("active API key".into()));
    }
    Ok(())
}

/// The workspace and key for a presented secret, if it is a live key.
pub fn authenticate(
    conn: &Connection,
    presented: &str,
) -> Result<Option<(WorkspaceScope, ApiKeyInfo)>, StoreError> {
    let Some(prefix) = prefix_of(presented) else {
        return Ok(None);
    };
    // Cached: every API request runs this statement.
    let row = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, workspace_id, secret_hash FROM api_keys WHERE prefix = ?1"
        ))?
        .query_row([prefix], |r| {
            Ok((from_row(r)?, r.get::<_, i64>(8)?, r.get::<_, String>(9)?))
        })
        .optional()?;
    let Some((info, workspace_id, stored_hash)) = row else {
        return Ok(None);
    };
    let presented_hash = crate::crypto::sha256_hex(presented);
    if info.revoked_at.is_some()
        || !crate::crypto::constant_time_eq(presented_hash.as_bytes(), stored_hash.as_bytes())
    {
        return Ok(None);
    }
    Ok(Some((WorkspaceScope::new(workspace_id), info)))
}

/// Records use, at most once a minute per key, so reads do not turn into writes.
pub fn touch(conn: &Connection, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let cutoff = now - chrono::Duration::seconds(60);
    conn.execute(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?3)",
        params![id, ts(now), ts(cutoff)],
    )?;
    Ok(())
}
