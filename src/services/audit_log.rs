//! Reading the audit log: a workspace's entries (console, API) and the instance's (admins).
//! Appending is not here: `store::audit::append` takes the transaction of the change it records.

use crate::error::AppError;
use crate::store::{Db, WorkspaceScope, audit};

pub use crate::store::audit::{AuditEntry, AuditFilter, AuditRange};

/// Entries of `range` matching `filter`, newest first.
pub fn list(
    db: &Db,
    range: AuditRange<'_>,
    filter: &AuditFilter,
) -> Result<Vec<AuditEntry>, AppError> {
    db.read(|c| Ok(audit::list(c, range, filter)?))
}

/// Entry `seq` if it belongs to the workspace.
pub fn get(db: &Db, scope: &WorkspaceScope, seq: i64) -> Result<AuditEntry, AppError> {
    db.read(|c| Ok(audit::get(c, scope, seq)?))
}
