//! Facts about the instance itself, for probes and well-known files.

use crate::error::AppError;
use crate::store::{Db, sessions, staff, workspaces};

/// Whether the database answers and its schema is the one this binary expects.
pub fn is_ready(db: &Db) -> bool {
    db.is_ready()
}

/// The gauges `/metrics` shows about the instance.
pub struct InstanceGauges {
    pub workspaces: i64,
    pub console_sessions: i64,
}

pub fn gauges(db: &Db) -> Result<InstanceGauges, AppError> {
    db.read(|c| {
        Ok(InstanceGauges {
            workspaces: workspaces::count(c)?,
            console_sessions: sessions::count(c)?,
        })
    })
}

/// Whom security reports go to: the first administrator, the person who runs this Lethe.
pub fn security_contact(db: &Db) -> Result<Option<String>, AppError> {
    db.read(|c| Ok(staff::first_admin_email(c)?))
}
