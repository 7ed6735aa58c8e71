//! The key store: data keys, each wrapped (sealed) by the master key, in their own SQLite file
//! (`keys.db`) so that keys and records can be backed up, and expire from backups, separately.
//! Destroying a row here is what makes a person's records unreadable for good. It also keeps
//! the audit chain's anchors: heads of the chain in `lethe.db`, kept where rewriting `lethe.db`
//! does not reach them.

use super::{StoreError, WorkspaceScope, time_at, ts};
use crate::domain::anchor::StoredAnchor;
use chrono::{DateTime, Utc};
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::time::Duration;

const SCHEMA_VERSION: i64 = 2;

/// The workspace id of keys that belong to the instance, not to a workspace.
const INSTANCE: i64 = 0;

const SCHEMA: &str = "
CREATE TABLE data_keys (
    -- A UUID, bound into the wrapping as associated data together with owner and purpose.
    id           TEXT PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    -- 'subject', 'hold', 'unlinked' (records without a person) or 'index' (blind indexes).
    purpose      TEXT NOT NULL,
    label        TEXT NOT NULL,
    wrapped      BLOB NOT NULL,
    -- The key check value of the master key that wrapped it.
    master_id    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    UNIQUE (workspace_id, purpose, label)
) WITHOUT ROWID;
";

/// Version 2: heads of the audit chain (`lethe.db`'s `audit_log`), written by the anchor job.
const ANCHORS: &str = "
CREATE TABLE audit_anchors (
    seq  INTEGER PRIMARY KEY,
    -- The entry's hash, 64 hex characters.
    hash TEXT NOT NULL,
    at   TEXT NOT NULL
);
";

/// One wrapped data key as stored.
#[derive(Debug, Clone)]
pub struct WrappedKey {
    pub id: String,
    pub workspace_id: i64,
    pub purpose: String,
    pub label: String,
    pub wrapped: Vec<u8>,
    pub master_id: String,
}

#[derive(Clone)]
pub struct KeyStore {
    pool: Pool<SqliteConnectionManager>,
}

/// How long a connection to the key store waits for SQLite's locks.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    super::stable_plans(conn)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Key creation and destruction must survive power loss as well as a crash.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(())
}

impl KeyStore {
    pub fn open(path: &Path) -> Result<KeyStore, StoreError> {
        super::create_private(path)?;
        let conn = Connection::open(path)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.display().to_string(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        configure(&conn)?;
        if version < 1 {
            conn.execute_batch(&format!("BEGIN; {SCHEMA} PRAGMA user_version = 1; COMMIT;"))?;
        }
        if version < 2 {
            conn.execute_batch(&format!(
                "BEGIN; {ANCHORS} PRAGMA user_version = 2; COMMIT;"
            ))?;
        }
        drop(conn);
        let manager = SqliteConnectionManager::file(path).with_init(|c| configure(c));
        let pool = Pool::builder()
            .max_size(4)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .build(manager)?;
        Ok(KeyStore { pool })
    }

    /// The master keys (by check value) that wrapped the stored keys.
    pub fn master_ids(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare("SELECT DISTINCT master_id FROM data_keys")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    pub fn insert(&self, scope: &WorkspaceScope, key: &WrappedKey) -> Result<(), StoreError> {
        self.insert_for(scope.id(), key)
    }

    /// Instance keys (not a workspace's) use workspace id 0, which no workspace has.
    pub fn insert_instance(&self, key: &WrappedKey) -> Result<(), StoreError> {
        self.insert_for(INSTANCE, key)
    }

    fn insert_for(&self, workspace_id: i64, key: &WrappedKey) -> Result<(), StoreError> {
        let conn = self.pool.get()?;
        conn.execute(
            "INSERT INTO data_keys (id, workspace_id, purpose, label, wrapped, master_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                key.id,
                workspace_id,
                key.purpose,
                key.label,
                key.wrapped,
                key.master_id,
                ts(Utc::now())
            ],
        )
        .map_err(|e| super::unique_violation(e, "that key exists already"))?;
        Ok(())
    }

    pub fn by_label(
        &self,
        scope: &WorkspaceScope,
        purpose: &str,
        label: &str,
    ) -> Result<Option<WrappedKey>, StoreError> {
        self.by_label_for(scope.id(), purpose, label)
    }

    pub fn instance_by_label(
        &self,
        purpose: &str,
        label: &str,
    ) -> Result<Option<WrappedKey>, StoreError> {
        self.by_label_for(INSTANCE, purpose, label)
    }

    fn by_label_for(
        &self,
        workspace_id: i64,
        purpose: &str,
        label: &str,
    ) -> Result<Option<WrappedKey>, StoreError> {
        let conn = self.pool.get()?;
        Ok(conn
            .query_row(
                "SELECT id, workspace_id, purpose, label, wrapped, master_id FROM data_keys \
                 WHERE workspace_id = ?1 AND purpose = ?2 AND label = ?3",
                params![workspace_id, purpose, label],
                row,
            )
            .optional()?)
    }

    /// The keys with these ids in the workspace; missing (destroyed) ids are simply absent.
    pub fn by_ids(
        &self,
        scope: &WorkspaceScope,
        ids: &[&str],
    ) -> Result<Vec<WrappedKey>, StoreError> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, workspace_id, purpose, label, wrapped, master_id FROM data_keys \
             WHERE workspace_id = ?1 AND id = ?2",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(k) = stmt.query_row(params![scope.id(), id], row).optional()? {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// Every key of one purpose across workspaces (the job that ends legal holds walks them),
    /// as (workspace, key id, label).
    pub fn all_of_purpose(
        &self,
        purpose: &str,
    ) -> Result<Vec<(WorkspaceScope, String, String)>, StoreError> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(
            "SELECT workspace_id, id, label FROM data_keys WHERE purpose = ?1 AND workspace_id > ?2",
        )?;
        let rows = stmt
            .query_map(params![purpose, INSTANCE], |r| {
                Ok((WorkspaceScope::new(r.get(0)?), r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// A workspace's keys of one purpose, as (id, label).
    pub fn labels_of(
        &self,
        scope: &WorkspaceScope,
        purpose: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(
            "SELECT id, label FROM data_keys WHERE workspace_id = ?1 AND purpose = ?2 ORDER BY label",
        )?;
        let rows = stmt
            .query_map(params![scope.id(), purpose], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Destroys a key; true if it existed. `secure_delete` zeroes the freed page.
    pub fn destroy(&self, scope: &WorkspaceScope, id: &str) -> Result<bool, StoreError> {
        let conn = self.pool.get()?;
        let n = conn.execute(
            "DELETE FROM data_keys WHERE workspace_id = ?1 AND id = ?2",
            params![scope.id(), id],
        )?;
        // Push the deletion out of the WAL into the main file, so no copy of the key stays in
        // the log until the next automatic checkpoint.
        if !checkpoint_truncate(&conn)? {
            tracing::warn!(
                "keys.db: a reader kept the log from being truncated after a key was destroyed; \
                 the next checkpoint clears it"
            );
        }
        Ok(n > 0)
    }

    /// Re-wraps every key in one transaction: `rewrap` gets each stored key and returns its new
    /// wrapping and master id. All or nothing.
    pub fn rewrap_all<E: From<StoreError>>(
        &self,
        mut rewrap: impl FnMut(&WrappedKey) -> Result<(Vec<u8>, String), E>,
    ) -> Result<usize, E> {
        let mut conn = self.pool.get().map_err(StoreError::from)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let keys: Vec<WrappedKey> = {
            let mut stmt = tx
                .prepare(
                    "SELECT id, workspace_id, purpose, label, wrapped, master_id FROM data_keys",
                )
                .map_err(StoreError::from)?;
            stmt.query_map([], row)
                .map_err(StoreError::from)?
                .collect::<Result<_, _>>()
                .map_err(StoreError::from)?
        };
        for k in &keys {
            let (wrapped, master_id) = rewrap(k)?;
            tx.execute(
                "UPDATE data_keys SET wrapped = ?1, master_id = ?2 WHERE id = ?3",
                params![wrapped, master_id, k.id],
            )
            .map_err(StoreError::from)?;
        }
        tx.commit().map_err(StoreError::from)?;
        let conn = self.pool.get().map_err(StoreError::from)?;
        if !checkpoint_truncate(&conn)? {
            tracing::warn!("keys.db: a reader kept the log from being truncated after a rotation");
        }
        Ok(keys.len())
    }
}

/// Copies the log into `keys.db` and truncates it, never waiting on a reader (see
/// [`super::truncate_wal`]: Litestream keeps one open). False when it did not finish.
fn checkpoint_truncate(conn: &Connection) -> Result<bool, StoreError> {
    super::truncate_wal(conn, BUSY_TIMEOUT)
}

impl KeyStore {
    /// Keeps a head of the audit chain; `synchronous = FULL` makes it survive a power loss.
    pub fn record_anchor(&self, seq: i64, hash: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let conn = self.pool.get()?;
        conn.execute(
            "INSERT INTO audit_anchors (seq, hash, at) VALUES (?1, ?2, ?3)",
            params![seq, hash, ts(at)],
        )
        .map_err(|e| super::unique_violation(e, format!("an anchor at entry {seq} exists")))?;
        Ok(())
    }

    pub fn latest_anchor(&self) -> Result<Option<StoredAnchor>, StoreError> {
        let conn = self.pool.get()?;
        Ok(conn
            .query_row(
                "SELECT seq, hash, at FROM audit_anchors ORDER BY seq DESC LIMIT 1",
                [],
                anchor_row,
            )
            .optional()?)
    }

    /// Every kept anchor, oldest first.
    pub fn anchors(&self) -> Result<Vec<StoredAnchor>, StoreError> {
        let conn = self.pool.get()?;
        all_anchors(&conn)
    }

    pub fn forget_anchors(&self, seqs: &[i64]) -> Result<usize, StoreError> {
        let mut conn = self.pool.get()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = 0;
        for seq in seqs {
            n += tx.execute("DELETE FROM audit_anchors WHERE seq = ?1", [seq])?;
        }
        tx.commit()?;
        Ok(n)
    }
}

/// The anchors in the key store at `path`, for `lethe audit verify`: opened as it is, never
/// created, upgraded or otherwise written. None when there is no such file; empty for a key
/// store from before anchors.
pub fn read_anchors(path: &Path) -> Result<Option<Vec<StoredAnchor>>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let has_table: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'audit_anchors'",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(Some(Vec::new()));
    }
    Ok(Some(all_anchors(&conn)?))
}

fn all_anchors(conn: &Connection) -> Result<Vec<StoredAnchor>, StoreError> {
    let mut stmt = conn.prepare("SELECT seq, hash, at FROM audit_anchors ORDER BY seq")?;
    let rows = stmt.query_map([], anchor_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

fn anchor_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredAnchor> {
    Ok(StoredAnchor {
        seq: r.get(0)?,
        hash: r.get(1)?,
        at: time_at(r, 2)?,
    })
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WrappedKey> {
    Ok(WrappedKey {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        purpose: r.get(2)?,
        label: r.get(3)?,
        wrapped: r.get(4)?,
        master_id: r.get(5)?,
    })
}
