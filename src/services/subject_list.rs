//! Lists of the vault's subjects: states and counts, never a personal value, so listing is not a
//! read of anyone's data and is not logged.

use crate::error::AppError;
use crate::store::subjects::{self, SubjectRow};
use crate::store::{Db, WorkspaceScope};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// A subject in a list: states and counts only, no personal values (no read to log).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubjectSummary {
    pub external_id: String,
    pub kind: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub restricted: bool,
    pub erased_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The person's own records; those a legal hold keeps after erasure are not counted.
    pub records: i64,
}

impl SubjectSummary {
    fn from_row((s, records): (SubjectRow, i64)) -> SubjectSummary {
        SubjectSummary {
            external_id: s.external_id,
            kind: s.kind,
            closed_at: s.closed_at,
            restricted: s.restricted_at.is_some(),
            erased_at: s.erased_at,
            created_at: s.created_at,
            records,
        }
    }
}

/// A page of subjects, newest first, and how many there are in all (the console's list).
pub fn list(
    db: &Db,
    scope: &WorkspaceScope,
    limit: u32,
    offset: u32,
) -> Result<(Vec<SubjectSummary>, i64), AppError> {
    db.read(|c| {
        let rows = subjects::list(c, scope, limit, offset)?;
        let total = subjects::count(c, scope)?;
        Ok((
            rows.into_iter().map(SubjectSummary::from_row).collect(),
            total,
        ))
    })
}

/// One page of the workspace's subjects in the order of their external ids.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubjectPage {
    pub subjects: Vec<SubjectSummary>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

/// Up to `limit` subjects whose external id sorts after `after`. One more is read to know
/// whether another page follows, so the last page says so rather than leaving an empty one.
pub fn list_after(
    db: &Db,
    scope: &WorkspaceScope,
    after: Option<&str>,
    limit: u32,
) -> Result<SubjectPage, AppError> {
    let mut rows = db.read(|c| subjects::list_after(c, scope, after, limit.saturating_add(1)))?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let subjects: Vec<SubjectSummary> = rows.into_iter().map(SubjectSummary::from_row).collect();
    let next_after = more
        .then(|| subjects.last().map(|s| s.external_id.clone()))
        .flatten();
    Ok(SubjectPage {
        subjects,
        next_after,
    })
}
