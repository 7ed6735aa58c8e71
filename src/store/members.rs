//! Memberships: who works in a workspace, with which roles (`membership_roles`, one row a role).

use super::{StoreError, WorkspaceScope, ts, unique_violation};
use crate::domain::staff::{Role, Roles};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

#[derive(Debug, Clone)]
pub struct Member {
    pub staff_id: i64,
    pub email: String,
    pub roles: Roles,
    pub totp_enabled: bool,
    /// False while an invitation is not yet accepted.
    pub active: bool,
}

/// The roles of a membership as one column: `group_concat` of its `membership_roles`, to be read
/// with [`roles_from`]. `m` is the memberships table's alias.
pub(crate) const ROLES_OF_M: &str = "(SELECT group_concat(mr.role, ',') FROM membership_roles mr \
     WHERE mr.workspace_id = m.workspace_id AND mr.staff_id = m.staff_id)";

/// Reads [`ROLES_OF_M`]. A name the CHECK constraint let in but this binary does not know grants
/// nothing, rather than failing every page of the workspace.
pub(crate) fn roles_from(column: Option<String>) -> Roles {
    column
        .unwrap_or_default()
        .split(',')
        .filter_map(|name| Role::parse(name).ok())
        .collect()
}

pub fn add(
    conn: &Connection,
    scope: &WorkspaceScope,
    staff_id: i64,
    roles: Roles,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO memberships (workspace_id, staff_id, created_at) VALUES (?1, ?2, ?3)",
        params![scope.id(), staff_id, ts(now)],
    )
    .map_err(|e| unique_violation(e, "that person is already a member of this workspace"))?;
    insert_roles(conn, scope, staff_id, roles)
}

fn insert_roles(
    conn: &Connection,
    scope: &WorkspaceScope,
    staff_id: i64,
    roles: Roles,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO membership_roles (workspace_id, staff_id, role) VALUES (?1, ?2, ?3)",
    )?;
    for role in roles.iter() {
        stmt.execute(params![scope.id(), staff_id, role.as_str()])?;
    }
    Ok(())
}

/// Replaces the member's roles with `roles`.
pub fn set_roles(
    conn: &Connection,
    scope: &WorkspaceScope,
    staff_id: i64,
    roles: Roles,
) -> Result<(), StoreError> {
    let exists: i64 = conn.query_row(
        "SELECT count(*) FROM memberships WHERE workspace_id = ?1 AND staff_id = ?2",
        params![scope.id(), staff_id],
        |r| r.get(0),
    )?;
    if exists == 0 {
        return Err(StoreError::NotFound("member".into()));
    }
    conn.execute(
        "DELETE FROM membership_roles WHERE workspace_id = ?1 AND staff_id = ?2",
        params![scope.id(), staff_id],
    )?;
    insert_roles(conn, scope, staff_id, roles)
}

pub fn remove(conn: &Connection, scope: &WorkspaceScope, staff_id: i64) -> Result<(), StoreError> {
    let n = conn.execute(
        "DELETE FROM memberships WHERE workspace_id = ?1 AND staff_id = ?2",
        params![scope.id(), staff_id],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound("member".into()));
    }
    Ok(())
}

pub fn list(conn: &Connection, scope: &WorkspaceScope) -> Result<Vec<Member>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT s.id, s.email, {ROLES_OF_M}, s.totp_enabled, s.password_hash IS NOT NULL \
         FROM memberships m JOIN staff s ON s.id = m.staff_id \
         WHERE m.workspace_id = ?1 ORDER BY s.email"
    ))?;
    let rows = stmt.query_map([scope.id()], |r| {
        Ok(Member {
            staff_id: r.get(0)?,
            email: r.get(1)?,
            roles: roles_from(r.get(2)?),
            totp_enabled: r.get(3)?,
            active: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn count_owners(conn: &Connection, scope: &WorkspaceScope) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM membership_roles WHERE workspace_id = ?1 AND role = 'owner'",
        [scope.id()],
        |r| r.get(0),
    )?)
}
