//! Memberships: who works in a workspace, with which role.

use super::{StoreError, WorkspaceScope, ts, unique_violation};
use crate::domain::staff::Role;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

#[derive(Debug, Clone)]
pub struct Member {
    pub staff_id: i64,
    pub email: String,
    pub role: Role,
    pub totp_enabled: bool,
    /// False while an invitation is not yet accepted.
    pub active: bool,
}

pub fn add(
    conn: &Connection,
    scope: &WorkspaceScope,
    staff_id: i64,
    role: Role,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO memberships (workspace_id, staff_id, role, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![scope.id(), staff_id, role.as_str(), ts(now)],
    )
    .map_err(|e| unique_violation(e, "that person is already a member of this workspace"))?;
    Ok(())
}

pub fn set_role(
    conn: &Connection,
    scope: &WorkspaceScope,
    staff_id: i64,
    role: Role,
) -> Result<(), StoreError> {
    let n = conn.execute(
        "UPDATE memberships SET role = ?3 WHERE workspace_id = ?1 AND staff_id = ?2",
        params![scope.id(), staff_id, role.as_str()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound("member".into()));
    }
    Ok(())
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
    let mut stmt = conn.prepare(
        "SELECT s.id, s.email, m.role, s.totp_enabled, s.password_hash IS NOT NULL \
         FROM memberships m JOIN staff s ON s.id = m.staff_id \
         WHERE m.workspace_id = ?1 ORDER BY s.email",
    )?;
    let rows = stmt.query_map([scope.id()], |r| {
        let role: String = r.get(2)?;
        Ok(Member {
            staff_id: r.get(0)?,
            email: r.get(1)?,
            role: Role::parse(&role).unwrap_or(Role::Auditor),
            totp_enabled: r.get(3)?,
            active: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn count_owners(conn: &Connection, scope: &WorkspaceScope) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM memberships WHERE workspace_id = ?1 AND role = 'owner'",
        [scope.id()],
        |r| r.get(0),
    )?)
}
