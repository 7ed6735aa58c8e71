//! The store: the only module that holds SQL. One SQLite file in WAL mode behind an r2d2 pool.
//!
//! Every function on a tenant table takes a [`WorkspaceScope`], and a scope can only be made here,
//! by a look-up that proved the caller may act in that workspace (a membership, an API key, a slug
//! the operator typed in the shell). Handlers cannot forget the `workspace_id = ?`.

pub mod apikeys;
pub mod audit;
pub mod backup;
pub mod claims;
pub mod consent;
pub mod content_versions;
pub mod doctor;
pub mod incident_counts;
pub mod incident_letters;
pub mod incidents;
pub mod inventory;
pub mod jobs;
pub mod journal;
pub mod key_retirements;
pub mod keystore;
pub mod members;
mod migrations;
pub mod outbox;
pub mod own_data;
pub mod policies;
pub mod records;
pub mod request_links;
pub mod request_tasks;
pub mod requests;
pub mod retention;
pub mod sessions;
pub mod staff;
pub mod subject_objections;
pub mod subjects;
pub mod workspaces;
pub mod writer;

use crate::domain::time;
use chrono::{DateTime, Utc};
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
/// What a `Db::read` / `Db::write` closure receives. Services hand it on to store functions to
/// compose several in one transaction; only the store runs SQL on it, and only the store names
/// `rusqlite` (both checked by tests/api/layers.rs).
pub use rusqlite::{Connection, Transaction};
use rusqlite::{Row, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

pub use migrations::LATEST_VERSION;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error(
        "the database at {path} has schema version {found}, newer than the {known} this Lethe knows; \
         it was left untouched (run the newer Lethe, or restore a backup)"
    )]
    NewerSchema {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("migration {version} failed: {source}")]
    Migration {
        version: i64,
        source: rusqlite::Error,
    },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("background task failed: {0}")]
    Join(String),
    /// A group commit failed; every batch in it gets this.
    #[error("storing failed: {0}")]
    Write(String),
}

/// Proof that the caller may act in one workspace. Only the store can make one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkspaceScope {
    id: i64,
}

impl WorkspaceScope {
    fn new(id: i64) -> Self {
        WorkspaceScope { id }
    }

    pub fn id(&self) -> i64 {
        self.id
    }

    /// A scope for unit tests of code above the store; never compiled into the binary.
    #[cfg(test)]
    pub fn for_tests(id: i64) -> Self {
        WorkspaceScope { id }
    }
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool<SqliteConnectionManager>,
}

impl Db {
    /// Opens (creating if needed) the database, refuses one from a newer Lethe without writing to
    /// it, switches it to WAL and applies pending migrations.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_data_dir(dir)?;
        }
        create_private(path)?;
        let mut conn = Connection::open(path)?;
        migrations::refuse_newer(&conn, path)?;
        // WAL is a property of the file: set it once here, not in every pooled connection, where
        // concurrent switches race for the exclusive lock.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        configure(&conn)?;
        migrations::apply(&mut conn)?;
        drop(conn);

        let manager = SqliteConnectionManager::file(path).with_init(|c| configure(c));
        let pool = Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .build(manager)?;
        Ok(Db { pool })
    }

    /// Opens an existing database for reading only: no file is created, nothing migrated, no
    /// mode switched, so that `lethe doctor` can look at a directory a running `lethe serve`
    /// owns (WAL lets readers in beside its writer).
    pub fn open_read_only(path: &Path) -> Result<Db, StoreError> {
        if !path.is_file() {
            return Err(StoreError::NotFound(path.display().to_string()));
        }
        let manager = SqliteConnectionManager::file(path)
            .with_flags(
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .with_init(|c| c.busy_timeout(BUSY_TIMEOUT));
        let pool = Pool::builder()
            .max_size(2)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(5))
            .build(manager)?;
        Ok(Db { pool })
    }

    /// Runs `f` on a pooled connection (reads, or writes that need no transaction).
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let conn = self.pool.get().map_err(StoreError::from)?;
        f(&conn)
    }

    /// Like [`Db::read`], but every statement of `f` sees the same snapshot of the database (a
    /// read-only transaction, rolled back at the end): for a check and the reads it guards.
    pub fn read_snapshot<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.pool.get().map_err(StoreError::from)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(StoreError::from)?;
        f(&tx)
    }

    /// Runs `f` in an IMMEDIATE transaction: it takes the write lock up front (so it waits on the
    /// busy timeout instead of failing on upgrade), commits if `f` succeeds and rolls back
    /// otherwise, so nothing is half-written.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.pool.get().map_err(StoreError::from)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let value = f(&tx)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }

    /// Like [`Db::write`], but the commit is on disk before it returns, not only in the log
    /// (`synchronous = FULL` for this transaction). For changes that a key destruction follows:
    /// the key store forgets at once, so the rows the key protected must be gone for good first.
    pub fn write_durable<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.pool.get().map_err(StoreError::from)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(StoreError::from)?;
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::from)?;
            let value = f(&tx)?;
            tx.commit().map_err(StoreError::from)?;
            Ok(value)
        })();
        // The pooled connection goes back as every other: fast commits, durable at checkpoint.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(StoreError::from)?;
        result
    }

    /// Runs blocking database work off the async workers.
    pub async fn run<T, E>(
        &self,
        f: impl FnOnce(&Db) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Join(e.to_string()))?
    }

    /// Copies the write-ahead log into the database file and truncates it, so that what it held
    /// (plaintext just sealed over, deleted rows) does not linger in `lethe.db-wal` until the
    /// log is reused. False when a reader kept it from finishing.
    pub fn checkpoint_truncate(&self) -> Result<bool, StoreError> {
        self.read(|c| truncate_wal(c, BUSY_TIMEOUT))
    }

    /// Ready means: a connection answers and the schema is the one this binary expects.
    pub fn is_ready(&self) -> bool {
        self.read(|c| migrations::current_version(c).map_err(StoreError::from))
            .is_ok_and(|v| v == LATEST_VERSION)
    }
}

/// Creates the data directory (and its parents) if needed. It holds password hashes and keys:
/// only the owner may enter it.
pub fn create_data_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| StoreError::DataDir {
        path: dir.display().to_string(),
        source,
    })
}

/// Creates an empty database file readable by its owner only (SQLite gives its `-wal` and
/// `-shm` files the same mode); an existing file is left as it is.
pub(crate) fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::DataDir {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// How long a connection waits for SQLite's locks.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Copies the write-ahead log into the database file and truncates it, without ever waiting on
/// a reader: a reader that holds the log (a long read, or Litestream, which keeps one open on
/// purpose while it replicates) makes this give up after a few short tries and return false,
/// instead of blocking the caller (and every writer behind the checkpoint) for the busy timeout
/// on each try. Whatever was not truncated goes at a later checkpoint (SQLite's own, or
/// Litestream's). `busy_timeout` is what the connection goes back to.
pub(crate) fn truncate_wal(conn: &Connection, busy_timeout: Duration) -> Result<bool, StoreError> {
    conn.busy_timeout(Duration::ZERO)?;
    let mut done = false;
    for attempt in 0..10 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        let busy = match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(busy) => busy != 0,
            // Another checkpointer holds its lock: the same as a reader in the way.
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                true
            }
            Err(e) => {
                conn.busy_timeout(busy_timeout)?;
                return Err(e.into());
            }
        };
        if !busy {
            done = true;
            break;
        }
    }
    conn.busy_timeout(busy_timeout)?;
    Ok(done)
}

/// Query plans that do not depend on the values bound. Without this SQLite reads a bound
/// `LIMIT ?` while planning, and so prepares a statement with one again at every run: the
/// statement cache saved nothing for the store's thirty such queries (re-preparing was about 12%
/// of the CPU of `POST /api/v1/consent` for subjects, profiled). Every connection Lethe opens
/// to write or to serve requests sets it.
pub(crate) fn stable_plans(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(|_| ())
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    stable_plans(conn)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Freed pages are zeroed, so deleted personal data does not linger in the file.
    conn.pragma_update(None, "secure_delete", "ON")?;
    // After a checkpoint the write-ahead log is cut back to this size: a long retention run
    // beside live writes otherwise leaves it as large as everything it ever held (34 GB seen).
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    Ok(())
}

/// The stored form of an instant (`domain::time`): fixed-width UTC text, so text order is time
/// order.
pub fn ts(t: DateTime<Utc>) -> String {
    time::format(t)
}

/// An instant read from a column: anything but the stored form is an error, never a default.
pub struct StoredTime(pub DateTime<Utc>);

impl FromSql for StoredTime {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        time::parse(value.as_str()?)
            .map(StoredTime)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// The instant in column `i`.
pub fn time_at(r: &Row<'_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    Ok(r.get::<_, StoredTime>(i)?.0)
}

/// The instant in column `i`, which may be NULL.
pub fn opt_time_at(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(r.get::<_, Option<StoredTime>>(i)?.map(|t| t.0))
}

/// Maps a UNIQUE violation to a readable conflict; other errors pass through.
fn unique_violation(e: rusqlite::Error, message: impl Into<String>) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict(message.into())
        }
        _ => StoreError::Sqlite(e),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// Runs a statement with a bound `LIMIT` three times, each with other values, through the
    /// statement cache; how often SQLite had to prepare it again.
    pub(crate) fn reprepares(c: &Connection) -> i32 {
        let sql = "SELECT id FROM workspaces WHERE id > ?1 ORDER BY id LIMIT ?2";
        for n in 1..=3 {
            let mut stmt = c.prepare_cached(sql).unwrap();
            let mut rows = stmt.query(rusqlite::params![n, n]).unwrap();
            while rows.next().unwrap().is_some() {}
        }
        c.prepare_cached(sql)
            .unwrap()
            .get_status(StatementStatus::RePrepare)
    }

    #[test]
    fn a_statement_with_a_bound_limit_is_prepared_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("lethe.db")).unwrap();
        assert_eq!(db.read(|c| Ok::<_, StoreError>(reprepares(c))).unwrap(), 0);
        // What SQLite does by itself: this is what `stable_plans` is for.
        let plain = Connection::open(dir.path().join("lethe.db")).unwrap();
        assert!(reprepares(&plain) > 0);
    }
}
