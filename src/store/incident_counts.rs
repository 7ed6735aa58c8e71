//! Who and what a breach affected, counted in the vault.
//!
//! Records carry a category and when they occurred, but no system: a system's share is the
//! categories the inventory says it holds (`system_categories`), so an incident over a system
//! counts every record of those categories. The window is on `occurred_at` (when the record was
//! collected, as the operator's system stated): records that occurred from the breach's start
//! (or from the first record, when the start is unknown) to its end (or the time of counting,
//! while it has not ended or is not known). An unknown start counts more, never fewer, people:
//! for Art. 33(3)'s approximate numbers an over-count is the safer error. Only records the
//! vault still holds are counted (erasure and retention have removed the rest), which is why
//! each count is stored with the time it was made.
//!
//! Every query runs on the `records_category` index (workspace, category, occurred_at): a range
//! per category, never a scan of the workspace's records. `INDEXED BY` holds the planner to it
//! (without statistics it preferred `records_subject`, a walk over all the workspace's records),
//! and makes a missing index an error rather than a slow count (see the test below).

use super::{StoreError, WorkspaceScope, ts};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

/// Counts per category and over all of them; the domain shapes them (`AffectedCounts`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counted {
    /// (category, distinct people, records), in the order the categories were given.
    pub by_category: Vec<(String, i64, i64)>,
    pub subjects: i64,
    pub subjects_with_email: i64,
    pub records: i64,
}

/// The categories the inventory's `systems` hold (keys of systems not in the inventory hold
/// none).
pub fn categories_of_systems(
    conn: &Connection,
    scope: &WorkspaceScope,
    systems: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT c.key FROM systems s \
         JOIN system_categories sc ON sc.system_id = s.id \
         JOIN data_categories c ON c.id = sc.category_id \
         WHERE s.workspace_id = ?1 AND s.key IN (SELECT value FROM json_each(?2)) ORDER BY c.key",
    )?;
    let keys = serde_json::to_string(systems).unwrap_or_else(|_| "[]".into());
    let rows = stmt.query_map(params![scope.id(), keys], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Counts the records of `categories` that occurred in `from ..= to` (`from` None: from the
/// first) and their distinct people, and how many of those have an e-mail on record.
pub fn count(
    conn: &Connection,
    scope: &WorkspaceScope,
    categories: &[String],
    from: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
) -> Result<Counted, StoreError> {
    let from = ts(from.unwrap_or_else(crate::domain::time::earliest));
    let to = ts(to);
    let mut out = Counted::default();
    let mut per = conn.prepare_cached(
        "SELECT count(*), count(DISTINCT subject_id) FROM records INDEXED BY records_category \
         WHERE workspace_id = ?1 AND category = ?2 AND occurred_at >= ?3 AND occurred_at <= ?4",
    )?;
    for category in categories {
        let (records, subjects): (i64, i64) = per
            .query_row(params![scope.id(), category, from, to], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        out.by_category.push((category.clone(), subjects, records));
        out.records += records;
    }
    if categories.is_empty() {
        return Ok(out);
    }
    let keys = serde_json::to_string(categories).unwrap_or_else(|_| "[]".into());
    // A person in two categories is one person: counted once over the union.
    let (subjects, with_email): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), count(s.email_index) FROM subjects s WHERE s.workspace_id = ?1 \
             AND s.id IN (SELECT r.subject_id FROM records r INDEXED BY records_category \
               WHERE r.workspace_id = ?1 AND r.category IN (SELECT value FROM json_each(?2)) \
               AND r.occurred_at >= ?3 AND r.occurred_at <= ?4)",
        )?
        .query_row(params![scope.id(), keys, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    out.subjects = subjects;
    out.subjects_with_email = with_email;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    fn plan(db: &Db, sql: &str) -> String {
        db.read(|c| {
            let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let rows = stmt.query_map(
                params![1, "a.b", "[\"a.b\",\"c.d\"]", "2026", "2027"],
                |r| r.get::<_, String>(3),
            )?;
            Ok::<_, StoreError>(rows.collect::<Result<Vec<_>, _>>()?.join("\n"))
        })
        .unwrap()
    }

    #[test]
    fn the_counts_search_the_category_index_and_never_scan_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("lethe.db")).unwrap();
        let per = plan(
            &db,
            "SELECT count(*), count(DISTINCT subject_id) FROM records INDEXED BY records_category \
             WHERE workspace_id = ?1 AND category = ?2 AND occurred_at >= ?4 AND occurred_at <= ?5",
        );
        assert!(per.contains("USING INDEX records_category"), "{per}");
        let union = plan(
            &db,
            "SELECT count(*), count(s.email_index) FROM subjects s WHERE s.workspace_id = ?1 \
             AND s.id IN (SELECT r.subject_id FROM records r INDEXED BY records_category \
               WHERE r.workspace_id = ?1 AND r.category IN (SELECT value FROM json_each(?3)) \
               AND r.occurred_at >= ?4 AND r.occurred_at <= ?5) AND ?2 = ?2",
        );
        assert!(union.contains("USING INDEX records_category"), "{union}");
        assert!(!union.contains("SCAN r"), "{union}");
        assert!(!union.contains("SCAN records"), "{union}");
    }
}
