//! Schema migrations: numbered SQL files in `migrations/`, embedded in the binary, each applied in
//! its own transaction together with the bump of `PRAGMA user_version`. Shipped files are never
//! edited; a change is a new file.

use super::StoreError;
use rusqlite::Connection;
use std::path::Path;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_appliance.sql")),
    (2, include_str!("../../migrations/0002_inventory.sql")),
    (3, include_str!("../../migrations/0003_policies.sql")),
    (4, include_str!("../../migrations/0004_outbox.sql")),
    (5, include_str!("../../migrations/0005_vault.sql")),
    (6, include_str!("../../migrations/0006_retention.sql")),
    (7, include_str!("../../migrations/0007_sealed_outbox.sql")),
    (8, include_str!("../../migrations/0008_inventory_truth.sql")),
    (9, include_str!("../../migrations/0009_policy_drafts.sql")),
    (10, include_str!("../../migrations/0010_sealed_reasons.sql")),
    (
        11,
        include_str!("../../migrations/0011_purposes_awaiting_basis.sql"),
    ),
    (
        12,
        include_str!("../../migrations/0012_instance_mail_and_reset_links.sql"),
    ),
    (
        13,
        include_str!("../../migrations/0013_member_roles_held_records.sql"),
    ),
    (
        14,
        include_str!("../../migrations/0014_content_versions.sql"),
    ),
    (15, include_str!("../../migrations/0015_requests.sql")),
    (16, include_str!("../../migrations/0016_request_links.sql")),
    (17, include_str!("../../migrations/0017_request_desk.sql")),
    (
        18,
        include_str!("../../migrations/0018_subject_objections.sql"),
    ),
    (19, include_str!("../../migrations/0019_request_tasks.sql")),
    (
        20,
        include_str!("../../migrations/0020_answered_requests_retention.sql"),
    ),
    (
        21,
        include_str!("../../migrations/0021_consent_records.sql"),
    ),
    (22, include_str!("../../migrations/0022_consent_banner.sql")),
    (23, include_str!("../../migrations/0023_incidents.sql")),
    (
        24,
        include_str!("../../migrations/0024_incident_letters.sql"),
    ),
    (25, include_str!("../../migrations/0025_backup_runs.sql")),
    (
        26,
        include_str!("../../migrations/0026_consent_records_no_visitor_index.sql"),
    ),
];

pub const LATEST_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

pub fn current_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

pub fn refuse_newer(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let found = current_version(conn)?;
    if found > LATEST_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.display().to_string(),
            found,
            known: LATEST_VERSION,
        });
    }
    Ok(())
}

pub fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    apply_until(conn, i64::MAX)
}

/// Applies pending migrations up to and including `last`.
fn apply_until(conn: &mut Connection, last: i64) -> Result<(), StoreError> {
    let current = current_version(conn)?;
    for (version, sql) in MIGRATIONS
        .iter()
        .filter(|(v, _)| *v > current && *v <= last)
    {
        let wrap = |source| StoreError::Migration {
            version: *version,
            source,
        };
        let tx = conn.transaction().map_err(wrap)?;
        tx.execute_batch(sql).map_err(wrap)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_apply_to_an_empty_database() {
        for ((v, _), want) in MIGRATIONS.iter().zip(1..) {
            assert_eq!(*v, want, "migrations must be numbered 1, 2, 3…");
        }
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        assert_eq!(current_version(&conn).unwrap(), LATEST_VERSION);
        // Applying again is a no-op.
        apply(&mut conn).unwrap();
        let violations: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(violations, 0);
    }

    #[test]
    fn each_membership_keeps_its_role_as_its_first_of_several() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        apply_until(&mut conn, 11).unwrap();
        let t = "'2026-01-01T00:00:00.000000Z'";
        conn.execute_batch(&format!(
            "INSERT INTO workspaces (id, slug, legal_name, contact_email, created_at, updated_at) \
             VALUES (1, 'w', 'W', 'privacy@w.example', {t}, {t});
             INSERT INTO staff (id, email, created_at) VALUES (2, 'a@w.example', {t}), (3, 'b@w.example', {t});
             INSERT INTO memberships (workspace_id, staff_id, role, created_at) \
             VALUES (1, 2, 'owner', {t}), (1, 3, 'auditor', {t});"
        ))
        .unwrap();
        apply(&mut conn).unwrap();
        let roles: Vec<(i64, String)> = conn
            .prepare("SELECT staff_id, role FROM membership_roles ORDER BY staff_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(roles, [(2, "owner".to_owned()), (3, "auditor".to_owned())]);
        conn.execute(
            "INSERT INTO membership_roles (workspace_id, staff_id, role) VALUES (1, 2, 'privacy_officer')",
            [],
        )
        .unwrap();
        // Leaving the workspace takes the roles along.
        conn.execute("DELETE FROM memberships WHERE staff_id = 2", [])
            .unwrap();
        let left: i64 = conn
            .query_row("SELECT count(*) FROM membership_roles", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 1);
    }

    #[test]
    fn purposes_may_await_a_basis_and_keep_their_categories() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        apply_until(&mut conn, 10).unwrap();
        let t = "'2026-01-01T00:00:00.000000Z'";
        conn.execute_batch(&format!(
            "INSERT INTO workspaces (id, slug, legal_name, contact_email, created_at, updated_at) \
             VALUES (1, 'w', 'W', 'privacy@w.example', {t}, {t});
             INSERT INTO data_categories (id, workspace_id, key, name, description, subject_kinds, source, sensitivity, fields, updated_at) \
             VALUES (2, 1, 'user.contact.email', 'E-mail', '', '[]', '', 'normal', '[]', {t});
             INSERT INTO purposes (id, workspace_id, key, name, description, legal_basis, balancing_note, updated_at, consent_prompt) \
             VALUES (3, 1, 'news', 'News', '', 'consent', NULL, {t}, 'May we?');
             INSERT INTO purpose_categories (purpose_id, category_id) VALUES (3, 2);"
        ))
        .unwrap();
        let awaiting = "INSERT INTO purposes (workspace_id, key, name, description, legal_basis, updated_at) \
                        VALUES (1, 'later', 'Later', '', 'awaiting', '2026-01-01T00:00:00.000000Z')";
        assert!(conn.execute(awaiting, []).is_err(), "refused before");
        apply(&mut conn).unwrap();
        conn.execute(awaiting, []).unwrap();
        let kept: (String, String, i64) = conn
            .query_row(
                "SELECT p.key, p.consent_prompt, pc.category_id FROM purposes p \
                 JOIN purpose_categories pc ON pc.purpose_id = p.id WHERE p.id = 3",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(kept, ("news".into(), "May we?".into(), 2));
        // The links still belong to purposes: deleting one still takes its links along.
        conn.execute("DELETE FROM purposes WHERE id = 3", [])
            .unwrap();
        let links: i64 = conn
            .query_row("SELECT count(*) FROM purpose_categories", [], |r| r.get(0))
            .unwrap();
        assert_eq!(links, 0);
    }

    #[test]
    fn drafts_get_lf_line_ends_and_published_versions_keep_theirs() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        apply_until(&mut conn, 7).unwrap();
        conn.execute_batch(
            "INSERT INTO workspaces (id, slug, legal_name, contact_email, created_at, updated_at) \
             VALUES (1, 'w', 'W', 'privacy@w.example', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
             INSERT INTO policy_versions (workspace_id, version, status, markdown, material, summary, created_by, created_at) \
             VALUES (1, 1, 'published', 'a' || char(13) || char(10) || 'b', 0, '', 'x', '2026-01-01T00:00:00.000000Z'),
                    (1, 2, 'draft', 'a' || char(13) || char(10) || 'b' || char(13) || 'c', 0, '', 'x', '2026-01-01T00:00:00.000000Z');",
        )
        .unwrap();
        apply(&mut conn).unwrap();
        let texts: Vec<String> = conn
            .prepare("SELECT markdown FROM policy_versions ORDER BY version")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(texts, ["a\r\nb", "a\nb\nc"]);
        let last: i64 = conn
            .query_row(
                "SELECT last_issued FROM policy_version_numbers WHERE workspace_id = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(last, 2, "numbers already used are not given out again");
    }

    #[test]
    fn sealing_the_outbox_stages_plain_values_and_leaves_no_plain_column() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        apply_until(&mut conn, 5).unwrap();
        conn.execute_batch(
            "INSERT INTO workspaces (id, slug, legal_name, contact_email, created_at, updated_at) \
             VALUES (1, 'w', 'W', 'privacy@w.example', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
             INSERT INTO policy_subscribers (id, workspace_id, email, unsubscribe_digest, created_at) \
             VALUES (3, 1, 'old@example.org', 'd', '2026-01-01T00:00:00.000000Z');
             INSERT INTO outbox_messages (id, workspace_id, kind, recipient, subject, body, status, next_attempt_at, created_at) \
             VALUES (5, 1, 'email', 'old@example.org', 'Confirm', 'link', 'queued', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
                    (6, 1, 'webhook', 'https://hooks.example/x', 'policy.published', '{}', 'sent', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
             INSERT INTO delivery_attempts (message_id, at, status, latency_ms) VALUES (6, '2026-01-01T00:00:00.000000Z', 'ok', 1);",
        )
        .unwrap();
        apply(&mut conn).unwrap();

        let columns = |table: &str| -> Vec<String> {
            let mut stmt = conn
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        for (table, plain) in [
            ("policy_subscribers", "email"),
            ("outbox_messages", "recipient"),
            ("outbox_messages", "body"),
        ] {
            assert!(
                !columns(table).contains(&plain.to_owned()),
                "{table}.{plain}"
            );
        }
        let staged: (i64, String) = conn
            .query_row(
                "SELECT subscriber_id, email FROM unsealed_policy_subscribers",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(staged, (3, "old@example.org".to_owned()));
        let staged: i64 = conn
            .query_row("SELECT count(*) FROM unsealed_outbox_messages", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(staged, 2);
        // The queued confirmation is linked to its subscriber, so unsubscribing purges it.
        let linked: Vec<Option<i64>> = conn
            .prepare("SELECT subscriber_id FROM outbox_messages ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(linked, [Some(3), None]);
        // Deleting a subscriber takes their queued mail (and its staged plain copy) with it;
        // their sent mail stays, unlinked.
        conn.execute(
            "INSERT INTO outbox_messages (workspace_id, kind, subject, status, next_attempt_at, created_at, subscriber_id) \
             VALUES (1, 'email', 'Sent', 'sent', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', 3)",
            [],
        )
        .unwrap();
        conn.execute("DELETE FROM policy_subscribers WHERE id = 3", [])
            .unwrap();
        let left: Vec<(i64, Option<i64>)> = conn
            .prepare("SELECT id, subscriber_id FROM outbox_messages ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(left, [(6, None), (7, None)]);
        let staged: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM unsealed_policy_subscribers) \
                 + (SELECT count(*) FROM unsealed_outbox_messages)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(staged, 1, "only the webhook's");
    }

    #[test]
    fn outbox_messages_may_belong_to_the_instance_and_keep_their_attempts() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        apply_until(&mut conn, 11).unwrap();
        let t = "'2026-01-01T00:00:00.000000Z'";
        conn.execute_batch(&format!(
            "INSERT INTO workspaces (id, slug, legal_name, contact_email, created_at, updated_at) \
             VALUES (1, 'w', 'W', 'privacy@w.example', {t}, {t});
             INSERT INTO outbox_messages (id, workspace_id, kind, subject, status, next_attempt_at, created_at, sealed) \
             VALUES (5, 1, 'email', 's', 'sent', {t}, {t}, x'00');
             INSERT INTO delivery_attempts (message_id, at, status, latency_ms) VALUES (5, {t}, 'ok', 3);
             INSERT INTO one_time_tokens (token_hash, purpose, created_at, expires_at) VALUES ('h', 'setup', {t}, {t});"
        ))
        .unwrap();
        apply(&mut conn).unwrap();
        let kept: (i64, i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM outbox_messages WHERE id = 5 AND workspace_id = 1), \
                 (SELECT count(*) FROM delivery_attempts WHERE message_id = 5), \
                 (SELECT count(*) FROM one_time_tokens)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(kept, (1, 1, 1));
        conn.execute(
            &format!(
                "INSERT INTO outbox_messages (kind, subject, status, next_attempt_at, created_at) \
                 VALUES ('email', 'reset', 'queued', {t}, {t})"
            ),
            [],
        )
        .unwrap();
        assert!(
            conn.execute(
                &format!(
                    "INSERT INTO outbox_messages (kind, subject, status, next_attempt_at, created_at) \
                     VALUES ('webhook', 'x', 'queued', {t}, {t})"
                ),
                [],
            )
            .is_err(),
            "only e-mail may be an instance message"
        );
        conn.execute(
            &format!(
                "INSERT INTO one_time_tokens (token_hash, purpose, created_at, expires_at) \
                 VALUES ('r', 'reset', {t}, {t})"
            ),
            [],
        )
        .unwrap();
        let violations: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(violations, 0);
    }

    #[test]
    fn answered_requests_get_a_rule_and_workspaces_lose_the_old_deadline_setting() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        apply_until(&mut conn, 18).unwrap();
        let t = "'2026-01-01T00:00:00.000000Z'";
        conn.execute_batch(&format!(
            "INSERT INTO workspaces (id, slug, legal_name, contact_email, request_deadline_days, created_at, updated_at) \
             VALUES (1, 'w', 'W', 'privacy@w.example', 45, {t}, {t});"
        ))
        .unwrap();
        apply(&mut conn).unwrap();
        let days: i64 = conn
            .query_row(
                "SELECT days FROM own_data_rules WHERE target = 'answered_requests' AND enabled = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(days, 1095);
        let updated_at: String = conn
            .query_row(
                "SELECT updated_at FROM own_data_rules WHERE target = 'answered_requests'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            crate::domain::time::parse(&updated_at).is_ok(),
            "{updated_at}"
        );
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('workspaces')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!columns.contains(&"request_deadline_days".to_owned()));
        assert!(
            columns.contains(&"request_law".to_owned()),
            "the rest is kept"
        );
        // The triggers on workspaces survive: an update still bumps the content version.
        conn.execute("UPDATE workspaces SET legal_name = 'W2' WHERE id = 1", [])
            .unwrap();
        let version: i64 = conn
            .query_row(
                "SELECT version FROM content_versions WHERE workspace_id = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, 2);
    }
}
