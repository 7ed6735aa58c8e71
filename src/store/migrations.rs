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
    let current = current_version(conn)?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
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
        for (i, (v, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i as i64 + 1, "migrations must be numbered 1, 2, 3…");
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
}
