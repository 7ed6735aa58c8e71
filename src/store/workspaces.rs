//! Workspaces and the look-ups that turn a slug into a [`WorkspaceScope`].

use super::members::{ROLES_OF_M, roles_from};
use super::{StoreError, WorkspaceScope, time_at, ts, unique_violation};
use crate::domain::Email;
use crate::domain::staff::Roles;
use crate::domain::workspace::{Slug, Workspace, WorkspaceSettings};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

const COLUMNS: &str = "id, slug, legal_name, contact_email, dpo_name, dpo_email, min_age, \
                       require_totp, created_at, notice_days, request_law, review_requests, \
                       consent_origins, consent_cookie_domain, time_zone";
/// The same columns, qualified for joins.
const W_COLUMNS: &str = "w.id, w.slug, w.legal_name, w.contact_email, w.dpo_name, w.dpo_email, \
                         w.min_age, w.require_totp, w.created_at, w.notice_days, w.request_law, \
                         w.review_requests, w.consent_origins, w.consent_cookie_domain, w.time_zone";

/// Where a membership's roles follow the workspace's columns.
const ROLE_AT: usize = 15;

fn from_row(row: &Row<'_>) -> rusqlite::Result<(WorkspaceScope, Workspace)> {
    let contact: String = row.get(3)?;
    let dpo_email: Option<String> = row.get(5)?;
    let created = time_at(row, 8)?;
    let law: String = row.get(10)?;
    let request_law = crate::domain::request_clock::Law::parse(&law).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            10,
            rusqlite::types::Type::Text,
            format!("'{law}' is not a law").into(),
        )
    })?;
    let origins: String = row.get(12)?;
    let consent_origins: Vec<String> = serde_json::from_str(&origins).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(12, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let zone: String = row.get(14)?;
    let time_zone = crate::domain::workspace::parse_time_zone(&zone).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(14, rusqlite::types::Type::Text, e.into())
    })?;
    Ok((
        WorkspaceScope::new(row.get(0)?),
        Workspace {
            slug: row.get(1)?,
            settings: WorkspaceSettings {
                legal_name: row.get(2)?,
                contact_email: Email::from_stored(contact),
                dpo_name: row.get(4)?,
                dpo_email: dpo_email.map(Email::from_stored),
                min_age: row.get(6)?,
                request_law,
                notice_days: row.get(9)?,
                require_totp: row.get(7)?,
                review_requests: row.get(11)?,
                consent_origins,
                consent_cookie_domain: row.get(13)?,
                time_zone,
            },
            created_at: created,
        },
    ))
}

pub fn create(
    conn: &Connection,
    slug: &Slug,
    settings: &WorkspaceSettings,
    now: DateTime<Utc>,
) -> Result<WorkspaceScope, StoreError> {
    conn.execute(
        "INSERT INTO workspaces (slug, legal_name, contact_email, dpo_name, dpo_email, min_age, \
         require_totp, created_at, updated_at, notice_days, request_law, review_requests, \
         consent_origins, consent_cookie_domain, time_zone) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            slug.as_str(),
            settings.legal_name,
            settings.contact_email.as_str(),
            settings.dpo_name,
            settings.dpo_email.as_ref().map(|e| e.as_str()),
            settings.min_age,
            settings.require_totp,
            ts(now),
            settings.notice_days,
            settings.request_law.as_str(),
            settings.review_requests,
            origins_json(settings),
            settings.consent_cookie_domain,
            settings.time_zone.name(),
        ],
    )
    .map_err(|e| {
        unique_violation(
            e,
            format!("a workspace named '{}' already exists", slug.as_str()),
        )
    })?;
    Ok(WorkspaceScope::new(conn.last_insert_rowid()))
}

pub fn get(conn: &Connection, scope: &WorkspaceScope) -> Result<Workspace, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM workspaces WHERE id = ?1"))?
        .query_row([scope.id()], from_row)
        .optional()?
        .map(|(_, w)| w)
        .ok_or_else(|| StoreError::NotFound("workspace".into()))
}

pub fn update(
    conn: &Connection,
    scope: &WorkspaceScope,
    settings: &WorkspaceSettings,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE workspaces SET legal_name = ?2, contact_email = ?3, dpo_name = ?4, dpo_email = ?5, \
         min_age = ?6, require_totp = ?7, updated_at = ?8, notice_days = ?9, request_law = ?10, \
         review_requests = ?11, consent_origins = ?12, consent_cookie_domain = ?13, \
         time_zone = ?14 WHERE id = ?1",
        params![
            scope.id(),
            settings.legal_name,
            settings.contact_email.as_str(),
            settings.dpo_name,
            settings.dpo_email.as_ref().map(|e| e.as_str()),
            settings.min_age,
            settings.require_totp,
            ts(now),
            settings.notice_days,
            settings.request_law.as_str(),
            settings.review_requests,
            origins_json(settings),
            settings.consent_cookie_domain,
            settings.time_zone.name(),
        ],
    )?;
    Ok(())
}

fn origins_json(settings: &WorkspaceSettings) -> String {
    serde_json::to_string(&settings.consent_origins).unwrap_or_else(|_| "[]".into())
}

/// By slug, for the operator at the shell and for public pages that show published facts only.
pub fn find_by_slug(
    conn: &Connection,
    slug: &str,
) -> Result<Option<(WorkspaceScope, Workspace)>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM workspaces WHERE slug = ?1"))?
        .query_row([slug], from_row)
        .optional()?)
}

/// The workspace named `slug` if `staff_id` is a member, with their roles.
pub fn find_for_member(
    conn: &Connection,
    staff_id: i64,
    slug: &str,
) -> Result<Option<(WorkspaceScope, Workspace, Roles)>, StoreError> {
    let row = conn
        .query_row(
            &format!(
                "SELECT {W_COLUMNS}, {ROLES_OF_M} FROM workspaces w \
                 JOIN memberships m ON m.workspace_id = w.id AND m.staff_id = ?1 WHERE w.slug = ?2"
            ),
            params![staff_id, slug],
            |r| Ok((from_row(r)?, r.get::<_, Option<String>>(ROLE_AT)?)),
        )
        .optional()?;
    Ok(row.map(|((scope, ws), roles)| (scope, ws, roles_from(roles))))
}

/// A member's workspaces with their roles, by slug. Membership is the proof of access, so each
/// comes with its scope.
pub fn list_for_member(
    conn: &Connection,
    staff_id: i64,
) -> Result<Vec<(WorkspaceScope, Workspace, Roles)>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {W_COLUMNS}, {ROLES_OF_M} FROM workspaces w \
         JOIN memberships m ON m.workspace_id = w.id WHERE m.staff_id = ?1 ORDER BY w.slug"
    ))?;
    let rows = stmt.query_map([staff_id], |r| {
        Ok((from_row(r)?, r.get::<_, Option<String>>(ROLE_AT)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let ((scope, ws), roles) = row?;
        out.push((scope, ws, roles_from(roles)));
    }
    Ok(out)
}

pub fn count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT count(*) FROM workspaces", [], |r| r.get(0))?)
}

/// Every workspace with its slug, for Lethe's own jobs (retention, key lifetimes), which act on
/// each workspace as the system and are not anyone's request.
pub fn all(conn: &Connection) -> Result<Vec<(WorkspaceScope, String)>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, slug FROM workspaces ORDER BY id")?;
    let rows = stmt
        .query_map([], |r| Ok((WorkspaceScope::new(r.get(0)?), r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Every workspace's scope (see [`all`]).
pub fn all_scopes(conn: &Connection) -> Result<Vec<WorkspaceScope>, StoreError> {
    Ok(all(conn)?.into_iter().map(|(s, _)| s).collect())
}
