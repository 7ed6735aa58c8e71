//! Policy versions. Published rows are immutable (a trigger refuses updates and deletes).

use super::{StoreError, WorkspaceScope, opt_time_at, time_at, ts};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    pub version: i64,
    pub published: bool,
    pub markdown: String,
    pub material: bool,
    pub summary: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub effective_at: Option<DateTime<Utc>>,
    pub rendered_markdown: Option<String>,
    pub rendered_html: Option<String>,
    /// The inventory (JSON) the published text was rendered from.
    pub inventory_snapshot: Option<String>,
    /// Why a material version takes effect inside the notice period, as an owner recorded it.
    pub notice_waiver: Option<String>,
}

const COLUMNS: &str = "version, status, markdown, material, summary, created_by, created_at, \
    published_at, effective_at, rendered_markdown, rendered_html, inventory_snapshot, notice_waiver";

fn from_row(r: &Row<'_>) -> rusqlite::Result<PolicyVersion> {
    let status: String = r.get(1)?;
    let created = time_at(r, 6)?;
    let published = opt_time_at(r, 7)?;
    let effective = opt_time_at(r, 8)?;
    Ok(PolicyVersion {
        version: r.get(0)?,
        published: status == "published",
        markdown: r.get(2)?,
        material: r.get(3)?,
        summary: r.get(4)?,
        created_by: r.get(5)?,
        created_at: created,
        published_at: published,
        effective_at: effective,
        rendered_markdown: r.get(9)?,
        rendered_html: r.get(10)?,
        inventory_snapshot: r.get(11)?,
        notice_waiver: r.get(12)?,
    })
}

pub struct NewDraft<'a> {
    pub markdown: &'a str,
    pub material: bool,
    pub summary: &'a str,
    pub created_by: &'a str,
}

/// A new draft with the next version number.
pub fn create_draft(
    conn: &Connection,
    scope: &WorkspaceScope,
    d: &NewDraft<'_>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    // After every number issued, including those of deleted drafts.
    let version: i64 = conn.query_row(
        "SELECT max(coalesce((SELECT max(version) FROM policy_versions WHERE workspace_id = ?1), 0), \
                    coalesce((SELECT last_issued FROM policy_version_numbers WHERE workspace_id = ?1), 0)) + 1",
        [scope.id()],
        |r| r.get(0),
    )?;
    conn.execute(
        "INSERT INTO policy_version_numbers (workspace_id, last_issued) VALUES (?1, ?2) \
         ON CONFLICT (workspace_id) DO UPDATE SET last_issued = excluded.last_issued",
        params![scope.id(), version],
    )?;
    conn.execute(
        "INSERT INTO policy_versions (workspace_id, version, status, markdown, material, summary, created_by, created_at) \
         VALUES (?1, ?2, 'draft', ?3, ?4, ?5, ?6, ?7)",
        params![scope.id(), version, d.markdown, d.material, d.summary, d.created_by, ts(now)],
    )?;
    Ok(version)
}

pub fn update_draft(
    conn: &Connection,
    scope: &WorkspaceScope,
    version: i64,
    d: &NewDraft<'_>,
) -> Result<(), StoreError> {
    let current = get(conn, scope, version)?;
    if current.published {
        return Err(StoreError::Conflict(format!(
            "version {version} is published and can no longer change"
        )));
    }
    conn.execute(
        "UPDATE policy_versions SET markdown = ?3, material = ?4, summary = ?5 WHERE workspace_id = ?1 AND version = ?2",
        params![scope.id(), version, d.markdown, d.material, d.summary],
    )?;
    Ok(())
}

/// Deletes a draft; a published version is a conflict (and the trigger would refuse it too).
pub fn delete_draft(
    conn: &Connection,
    scope: &WorkspaceScope,
    version: i64,
) -> Result<(), StoreError> {
    if get(conn, scope, version)?.published {
        return Err(StoreError::Conflict(format!(
            "version {version} is published and stays for good; only drafts can be deleted"
        )));
    }
    conn.execute(
        "DELETE FROM policy_versions WHERE workspace_id = ?1 AND version = ?2 AND status = 'draft'",
        params![scope.id(), version],
    )?;
    Ok(())
}

pub fn get(
    conn: &Connection,
    scope: &WorkspaceScope,
    version: i64,
) -> Result<PolicyVersion, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM policy_versions WHERE workspace_id = ?1 AND version = ?2"),
        params![scope.id(), version],
        from_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("policy version {version}")))
}

/// Every version, newest first.
pub fn list(conn: &Connection, scope: &WorkspaceScope) -> Result<Vec<PolicyVersion>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM policy_versions WHERE workspace_id = ?1 ORDER BY version DESC"
    ))?;
    let rows = stmt.query_map([scope.id()], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub struct Publication<'a> {
    pub rendered_markdown: &'a str,
    pub rendered_html: &'a str,
    pub inventory_snapshot: &'a str,
    pub notice_waiver: Option<&'a str>,
    pub effective_at: DateTime<Utc>,
}

pub fn publish(
    conn: &Connection,
    scope: &WorkspaceScope,
    version: i64,
    p: &Publication<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if get(conn, scope, version)?.published {
        return Err(StoreError::Conflict(format!(
            "version {version} is already published"
        )));
    }
    conn.execute(
        "UPDATE policy_versions SET status = 'published', published_at = ?3, effective_at = ?4, \
         rendered_markdown = ?5, rendered_html = ?6, inventory_snapshot = ?7, notice_waiver = ?8 \
         WHERE workspace_id = ?1 AND version = ?2",
        params![
            scope.id(),
            version,
            ts(now),
            ts(p.effective_at),
            p.rendered_markdown,
            p.rendered_html,
            p.inventory_snapshot,
            p.notice_waiver,
        ],
    )?;
    Ok(())
}

/// The next version to take effect after `now`, if one is scheduled.
pub fn upcoming(
    conn: &Connection,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<Option<PolicyVersion>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM policy_versions WHERE workspace_id = ?1 AND status = 'published' \
                 AND effective_at > ?2 ORDER BY effective_at, version LIMIT 1"
            ),
            params![scope.id(), ts(now)],
            from_row,
        )
        .optional()?)
}

/// The version in force at `now`: the published one with the latest effective date not after now.
pub fn current(
    conn: &Connection,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<Option<PolicyVersion>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM policy_versions WHERE workspace_id = ?1 AND status = 'published' \
                 AND effective_at <= ?2 ORDER BY effective_at DESC, version DESC LIMIT 1"
            ),
            params![scope.id(), ts(now)],
            from_row,
        )
        .optional()?)
}

/// At `now`: the version in force, and the newest MATERIAL version in force (consent given
/// under an older one needs renewal). Two numbers, without the versions' texts.
pub fn versions_in_force(
    conn: &Connection,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<(Option<i64>, Option<i64>), StoreError> {
    let at = ts(now);
    let newest = |material_only: bool| -> Result<Option<i64>, StoreError> {
        Ok(conn
            .prepare_cached(&format!(
                "SELECT version FROM policy_versions WHERE workspace_id = ?1 AND status = 'published' \
                 AND effective_at <= ?2 {} ORDER BY effective_at DESC, version DESC LIMIT 1",
                if material_only { "AND material = 1" } else { "" }
            ))?
            .query_row(params![scope.id(), at], |r| r.get::<_, i64>(0))
            .optional()?)
    };
    Ok((newest(false)?, newest(true)?))
}

/// When the next published version comes into force after `now`, if one is scheduled.
pub fn next_start_after(
    conn: &Connection,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT min(effective_at) FROM policy_versions WHERE workspace_id = ?1 \
             AND status = 'published' AND effective_at > ?2",
        )?
        .query_row(params![scope.id(), ts(now)], |r| opt_time_at(r, 0))?)
}
