//! Online copies of the two database files, the checks `lethe backup verify` runs on a copy,
//! and the record of the last scheduled backups (`backup_runs`, migration 0025).
//!
//! The copy uses SQLite's online backup API in steps of [`PAGES_PER_STEP`] pages with a short
//! rest between them, inside one read transaction on the source. In WAL mode a reader never
//! blocks a writer, so a serving Lethe keeps committing; the read transaction pins one snapshot,
//! so the copy is of one instant even while writes go on (without it, every commit by another
//! connection would restart the copy, and under steady ingestion it might never end). The rests
//! keep the copy's reads from crowding out live requests on a small machine. `VACUUM INTO` was
//! the alternative: one statement, but it rebuilds every table and index (CPU the live server
//! needs) for a smaller file we do not need (`secure_delete` already zeroes freed pages).

use super::{StoreError, audit, opt_time_at, time_at, ts};
use crate::domain::backup::ChainHead;
use crate::domain::time;
use chrono::{DateTime, Utc};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::Path;
use std::time::Duration;

pub const PAGES_PER_STEP: i32 = 1000;
pub const PAUSE_BETWEEN_STEPS: Duration = Duration::from_millis(5);
/// Every so many steps (about 8 MB of 4 KiB pages) what the copy wrote so far is pushed to
/// disk: a copy of hundreds of megabytes flushed only at its end fills the disk's queue at once,
/// and the live writer's next fsync waits behind all of it (a 350 ms stall of every ingestion
/// request was measured with one flush at the end, `cargo bench --bench backup`).
const STEPS_PER_FLUSH: u32 = 2;

/// Copies the database at `source` into a new file `target`, consistent as of one instant,
/// while other processes go on writing to it. The copy is left in rollback-journal mode, a single
/// self-contained file, and is on disk when this returns.
pub fn copy_online(source: &Path, target: &Path) -> Result<(), StoreError> {
    // Read-write without create: a read-only connection cannot always open a WAL database
    // whose `-shm` it may not write; nothing is written through it.
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    src.busy_timeout(Duration::from_secs(5))?;
    super::create_private(target)?;
    let mut dst = Connection::open(target)?;
    // One snapshot for the whole copy (see the module's comment).
    src.execute_batch("BEGIN DEFERRED; SELECT count(*) FROM sqlite_master;")?;
    let flush = std::fs::File::open(target).map_err(|source| StoreError::DataDir {
        path: target.display().to_string(),
        source,
    })?;
    let copied = (|| {
        let backup = Backup::new(&src, &mut dst)?;
        let mut steps = 0u32;
        loop {
            match backup.step(PAGES_PER_STEP)? {
                StepResult::Done => return Ok::<_, rusqlite::Error>(()),
                _ => {
                    steps += 1;
                    if steps.is_multiple_of(STEPS_PER_FLUSH) {
                        // Best effort: the final sync below is the one that counts.
                        let _ = flush.sync_data();
                    }
                    std::thread::sleep(PAUSE_BETWEEN_STEPS)
                }
            }
        }
    })();
    src.execute_batch("COMMIT")?;
    copied?;
    // While the copy's snapshot was held, no checkpoint could move the live writer's log past
    // it; the first commit after would copy all of it back on the writer's own thread, and
    // every request waiting on that commit with it. Checkpoint here instead, on this thread:
    // a PASSIVE checkpoint takes no write lock, and the writer's own attempt then finds little
    // left to do.
    let _: (i64, i64, i64) = src.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    // The copy's header says WAL, as the source's does: make it one plain file, so that it
    // can be hashed, opened read-only and moved without companions.
    dst.pragma_update(None, "journal_mode", "DELETE")?;
    drop(dst);
    std::fs::File::open(target)
        .and_then(|f| f.sync_all())
        .map_err(|source| StoreError::DataDir {
            path: target.display().to_string(),
            source,
        })?;
    Ok(())
}

/// A copy opened read-only and never changed (`immutable`: no lock, no journal, no `-shm`).
fn open_copy(path: &Path) -> Result<Connection, StoreError> {
    let uri = format!("file:{}?mode=ro&immutable=1", uri_path(path));
    Ok(Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?)
}

/// A path as the path part of a `file:` URI (`?` and `#` would end it early).
fn uri_path(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23")
}

/// What the manifest records of a copy of `lethe.db`: its migration number and chain head.
pub fn lethe_db_facts(path: &Path) -> Result<(i64, Option<ChainHead>), StoreError> {
    let conn = open_copy(path)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let head = audit::head(&conn)?.map(|h| ChainHead {
        seq: h.seq,
        hash: h.hash,
    });
    Ok((version, head))
}

/// SQLite's own check of a copy: empty when it is sound, else its complaints.
pub fn integrity_problems(path: &Path) -> Result<Vec<String>, StoreError> {
    let conn = open_copy(path)?;
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}

/// Walks the audit chain of a copy of `lethe.db` as `lethe audit verify` does: the number of
/// entries checked or the first break, and the copy's head.
pub fn verify_chain(
    path: &Path,
) -> Result<
    (
        Result<u64, crate::domain::audit::ChainBreak>,
        Option<ChainHead>,
    ),
    StoreError,
> {
    let conn = open_copy(path)?;
    let chain = audit::verify(&conn)?;
    let head = audit::head(&conn)?.map(|h| ChainHead {
        seq: h.seq,
        hash: h.hash,
    });
    Ok((chain, head))
}

/// Whether a copy of `keys.db` holds a key store's table (a sanity check beyond the hash).
pub fn is_key_store(path: &Path) -> Result<bool, StoreError> {
    let conn = open_copy(path)?;
    Ok(conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'data_keys'",
        [],
        |r| r.get(0),
    )?)
}

/// One scheduled backup as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRun {
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The backup's folder (empty when it failed before one was made).
    pub folder: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// Records a finished backup (or its failure); only the newest 100 are kept.
pub fn record_run(conn: &Connection, run: &BackupRun) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO backup_runs (started_at, finished_at, folder, ok, error) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            ts(run.started_at),
            run.finished_at.map(ts),
            run.folder,
            run.ok,
            run.error
        ],
    )?;
    conn.execute(
        "DELETE FROM backup_runs WHERE id NOT IN \
         (SELECT id FROM backup_runs ORDER BY id DESC LIMIT 100)",
        [],
    )?;
    Ok(())
}

/// The newest backup run, if any.
pub fn last_run(conn: &Connection) -> Result<Option<BackupRun>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT started_at, finished_at, folder, ok, error FROM backup_runs \
             ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                Ok(BackupRun {
                    started_at: time_at(r, 0)?,
                    finished_at: opt_time_at(r, 1)?,
                    folder: r.get(2)?,
                    ok: r.get(3)?,
                    error: r.get(4)?,
                })
            },
        )
        .optional()?)
}

/// The newest successful backup's start, if any.
pub fn last_success(conn: &Connection) -> Result<Option<DateTime<Utc>>, StoreError> {
    let at: Option<String> = conn
        .query_row(
            "SELECT started_at FROM backup_runs WHERE ok = 1 ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    at.map(|t| time::parse(&t))
        .transpose()
        .map_err(|e| StoreError::Sqlite(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_one_plain_file_with_the_rows_and_passes_the_checks() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::Db::open(&dir.path().join("lethe.db")).unwrap();
        db.write(|tx| {
            let event = crate::domain::audit::AuditEvent::new(
                crate::domain::audit::Actor::System,
                "test.event",
                "t",
            );
            audit::append(tx, None, &event, Utc::now())
        })
        .unwrap();
        let copy = dir.path().join("copy.db");
        copy_online(&dir.path().join("lethe.db"), &copy).unwrap();
        assert!(!dir.path().join("copy.db-wal").exists());
        let (version, head) = lethe_db_facts(&copy).unwrap();
        assert_eq!(version, super::super::LATEST_VERSION);
        assert_eq!(head.unwrap().seq, 1);
        assert!(integrity_problems(&copy).unwrap().is_empty());
        assert_eq!(verify_chain(&copy).unwrap().0.unwrap(), 1);
        // Checking leaves nothing behind: the copy stays one file.
        assert!(!dir.path().join("copy.db-shm").exists());
    }
}
