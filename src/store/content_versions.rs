//! Each workspace's content version: a counter that triggers (migration 0014) bump on every
//! change to a row the cached reads are built from (the workspace, its inventory, its policy
//! versions). A cached copy is good while the version it was built at is the one stored.

use super::{StoreError, WorkspaceScope};
use rusqlite::{Connection, OptionalExtension};

/// The tables whose rows feed the cached reads; each has an insert, update and delete trigger
/// that bumps the version (the workspaces table: insert and update).
pub const FED_BY: &[&str] = &[
    "workspaces",
    "data_categories",
    "purposes",
    "purpose_categories",
    "systems",
    "system_categories",
    "recipients",
    "recipient_categories",
    "retention_rules",
    "legal_holds",
    "policy_versions",
];

/// The workspace's content version; `None` if it has none (a row removed by hand), in which
/// case nothing may be cached for it.
pub fn of(conn: &Connection, scope: &WorkspaceScope) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT version FROM content_versions WHERE workspace_id = ?1")?
        .query_row([scope.id()], |r| r.get(0))
        .optional()?)
}

/// The workspace a privacy center's slug names, with its content version, in one look-up.
/// Like `workspaces::find_by_slug`, for public pages, which anyone may read.
pub fn by_slug(
    conn: &Connection,
    slug: &str,
) -> Result<Option<(WorkspaceScope, Option<i64>)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT w.id, cv.version FROM workspaces w \
             LEFT JOIN content_versions cv ON cv.workspace_id = w.id WHERE w.slug = ?1",
        )?
        .query_row([slug], |r| Ok((WorkspaceScope::new(r.get(0)?), r.get(1)?)))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    fn fixture() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("lethe.db")).unwrap();
        let t = "'2026-01-01T00:00:00.000000Z'";
        db.read(|c| {
            c.execute_batch(&format!(
                "INSERT INTO workspaces (id, slug, legal_name, contact_email, created_at, updated_at) \
                 VALUES (1, 'a', 'A', 'privacy@a.example', {t}, {t}), \
                        (2, 'b', 'B', 'privacy@b.example', {t}, {t});"
            ))
            .map_err(StoreError::from)
        })
        .unwrap();
        (dir, db)
    }

    fn versions(db: &Db) -> (Option<i64>, Option<i64>) {
        db.read(|c| {
            let a = by_slug(c, "a")?.and_then(|(_, v)| v);
            let b = by_slug(c, "b")?.and_then(|(_, v)| v);
            Ok::<_, StoreError>((a, b))
        })
        .unwrap()
    }

    #[test]
    fn every_table_that_feeds_the_cache_keeps_its_triggers() {
        // A migration that rebuilds one of these tables (as 0011 did) drops its triggers with it.
        let (_dir, db) = fixture();
        let triggers: Vec<(String, String)> = db
            .read(|c| {
                let mut stmt =
                    c.prepare("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok::<_, StoreError>(rows.collect::<Result<_, _>>()?)
            })
            .unwrap();
        for table in FED_BY {
            let events: &[&str] = if *table == "workspaces" {
                &["INSERT", "UPDATE"]
            } else {
                &["INSERT", "UPDATE", "DELETE"]
            };
            for event in events {
                assert!(
                    triggers.iter().any(|(t, sql)| t == table
                        && sql.contains(&format!("AFTER {event}"))
                        && sql.contains("content_versions")),
                    "{table} has no AFTER {event} trigger bumping content_versions"
                );
            }
        }
    }

    #[test]
    fn a_change_bumps_its_own_workspace_only() {
        let (_dir, db) = fixture();
        let (a0, b0) = versions(&db);
        assert!(a0.is_some() && b0.is_some(), "new workspaces get a version");
        let t = "'2026-01-01T00:00:00.000000Z'";
        let steps = [
            format!(
                "INSERT INTO data_categories (id, workspace_id, key, name, description, subject_kinds, source, sensitivity, fields, updated_at) \
                 VALUES (10, 1, 'user.contact.email', 'E-mail', '', '[]', '', 'normal', '[]', {t})"
            ),
            format!(
                "INSERT INTO purposes (id, workspace_id, key, name, description, legal_basis, updated_at) \
                 VALUES (20, 1, 'news', 'News', '', 'consent', {t})"
            ),
            "INSERT INTO purpose_categories (purpose_id, category_id) VALUES (20, 10)".to_owned(),
            "DELETE FROM purpose_categories WHERE purpose_id = 20".to_owned(),
            "UPDATE data_categories SET name = 'Mail' WHERE id = 10".to_owned(),
            "UPDATE workspaces SET legal_name = 'A GmbH' WHERE id = 1".to_owned(),
            format!(
                "INSERT INTO policy_versions (workspace_id, version, status, markdown, material, summary, created_by, created_at) \
                 VALUES (1, 1, 'draft', '# P', 0, '', 'x', {t})"
            ),
            "DELETE FROM purposes WHERE id = 20".to_owned(),
        ];
        let mut last = a0;
        for sql in &steps {
            db.read(|c| c.execute_batch(sql).map_err(StoreError::from))
                .unwrap();
            let (a, b) = versions(&db);
            assert!(a > last, "{sql} did not bump workspace a");
            assert_eq!(b, b0, "{sql} bumped workspace b");
            last = a;
        }
    }
}
