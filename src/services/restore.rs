//! Restores: a verified backup's `lethe.db` and `keys.db` into a data directory (whose erasure
//! journal is kept), then the journal replayed, so that no one erased and no key destroyed since
//! the backup comes back.
//!
//! The copies are staged beside the live files (`*.restoring`) and a marker
//! (`restore-pending.json`) written; then the staged files replace the live ones and the journal
//! is replayed; then the marker goes. A restore cut short anywhere is finished by the next
//! `lethe restore` or `lethe serve` before anything is served ([`install_staged`], [`finish`]).

use super::Caller;
use super::backup::{self, DB_FILE_NAME};
use super::erasure;
use crate::domain::backup::{DestroyReason, JournalEntry, Manifest};
use crate::domain::time;
use crate::error::AppError;
use crate::store::journal::{self, JournalError};
use crate::store::{Db, StoreError, WorkspaceScope, audit, records, subjects, workspaces};
use crate::vault::{KEYS_FILE_NAME, Vault};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const MARKER_FILE_NAME: &str = "restore-pending.json";
pub const REPORT_FILE_NAME: &str = "restore-report.json";
const STAGED_SUFFIX: &str = ".restoring";

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0}")]
    Refused(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Backup(#[from] backup::BackupError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("replaying the erasure journal: {0}")]
    Replay(String),
}

impl From<AppError> for RestoreError {
    fn from(e: AppError) -> Self {
        RestoreError::Replay(e.to_string())
    }
}

impl From<StoreError> for RestoreError {
    fn from(e: StoreError) -> Self {
        RestoreError::Replay(e.to_string())
    }
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What the marker says: which backup, and from when the journal must be replayed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingRestore {
    pub backup: String,
    /// The backup's `created_at` (stored time form).
    pub since: String,
    pub started_at: String,
}

/// Stages a backup into `data_dir` (stopped: the caller holds the data directory's lock): it
/// must verify; its `keys.db` must still be there (without it every record would be
/// unreadable). `journal_from` is copied in when the directory has no journal of its own (a
/// restore into a new directory on another machine). Then the staged files are installed.
pub fn stage(
    from: &Path,
    data_dir: &Path,
    journal_from: Option<&Path>,
    now: DateTime<Utc>,
) -> Result<(Manifest, PendingRestore), RestoreError> {
    let report = backup::verify(from)?;
    if !report.is_sound() {
        return Err(RestoreError::Refused(format!(
            "the backup {} does not verify: {}",
            from.display(),
            report.problems.join("; ")
        )));
    }
    let manifest = backup::read_manifest(from)?;
    if manifest
        .file(KEYS_FILE_NAME)
        .is_none_or(|f| f.removed_at.is_some())
    {
        return Err(RestoreError::Refused(format!(
            "the backup {} holds no {KEYS_FILE_NAME} (the rotation removed it): its records \
             cannot be read any more; restore a newer backup",
            from.display()
        )));
    }
    crate::store::create_data_dir(data_dir).map_err(|e| RestoreError::Refused(e.to_string()))?;
    let journal_here = data_dir.join(journal::FILE_NAME);
    if let Some(source) = journal_from.filter(|p| *p != journal_here) {
        if journal_here.exists() {
            return Err(RestoreError::Refused(format!(
                "{} has an erasure journal of its own; --journal is for a data directory \
                 without one",
                data_dir.display()
            )));
        }
        // Read first: a journal that does not parse is refused before anything changes.
        journal::read(source)?;
        std::fs::copy(source, &journal_here).map_err(io_at(&journal_here))?;
        sync_file(&journal_here)?;
    }
    for name in [DB_FILE_NAME, KEYS_FILE_NAME] {
        let staged = data_dir.join(format!("{name}{STAGED_SUFFIX}"));
        std::fs::copy(from.join(name), &staged).map_err(io_at(&staged))?;
        sync_file(&staged)?;
    }
    let pending = PendingRestore {
        backup: from.display().to_string(),
        since: manifest.created_at.clone(),
        started_at: time::format(now),
    };
    let marker = data_dir.join(MARKER_FILE_NAME);
    let text = serde_json::to_string_pretty(&pending)
        .map_err(|e| io_at(&marker)(std::io::Error::other(e)))?;
    std::fs::write(&marker, text).map_err(io_at(&marker))?;
    sync_file(&marker)?;
    sync_dir(data_dir)?;
    install_staged(data_dir)?;
    Ok((manifest, pending))
}

/// Marks the databases a `litestream restore` put into `data_dir` as a restore to finish: the
/// whole journal is replayed (from the earliest time), since Lethe cannot know how far the
/// replica got. `journal_from` is copied in as [`stage`] does.
pub fn mark_replica(
    data_dir: &Path,
    journal_from: Option<&Path>,
    now: DateTime<Utc>,
) -> Result<PendingRestore, RestoreError> {
    for name in [DB_FILE_NAME, KEYS_FILE_NAME] {
        if !data_dir.join(name).is_file() {
            return Err(RestoreError::Refused(format!(
                "{} holds no {name}: restore it from the replica first (`litestream restore -o \
                 {}`)",
                data_dir.display(),
                data_dir.join(name).display()
            )));
        }
    }
    let journal_here = data_dir.join(journal::FILE_NAME);
    if let Some(source) = journal_from.filter(|p| *p != journal_here) {
        if journal_here.exists() {
            return Err(RestoreError::Refused(format!(
                "{} has an erasure journal of its own; --journal is for a data directory \
                 without one",
                data_dir.display()
            )));
        }
        journal::read(source)?;
        std::fs::copy(source, &journal_here).map_err(io_at(&journal_here))?;
        sync_file(&journal_here)?;
    }
    let pending = PendingRestore {
        backup: "a Litestream replica, restored in place".into(),
        since: time::format(time::earliest()),
        started_at: time::format(now),
    };
    let marker = data_dir.join(MARKER_FILE_NAME);
    let text = serde_json::to_string_pretty(&pending)
        .map_err(|e| io_at(&marker)(std::io::Error::other(e)))?;
    std::fs::write(&marker, text).map_err(io_at(&marker))?;
    sync_file(&marker)?;
    sync_dir(data_dir)?;
    Ok(pending)
}

/// If a restore is pending, puts its staged copies in place of the live files (their old
/// write-ahead logs removed first: replayed onto the restored file they would corrupt it) and
/// returns the marker. Idempotent; run before the databases are opened.
pub fn install_staged(data_dir: &Path) -> Result<Option<PendingRestore>, RestoreError> {
    let marker = data_dir.join(MARKER_FILE_NAME);
    let text = match std::fs::read_to_string(&marker) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_at(&marker)(e)),
    };
    let pending: PendingRestore = serde_json::from_str(&text).map_err(|e| {
        RestoreError::Refused(format!(
            "{}: not a restore marker ({e}); run `lethe restore` again",
            marker.display()
        ))
    })?;
    for name in [DB_FILE_NAME, KEYS_FILE_NAME] {
        let staged = data_dir.join(format!("{name}{STAGED_SUFFIX}"));
        if !staged.exists() {
            continue;
        }
        for companion in ["-wal", "-shm", "-journal"] {
            let path = data_dir.join(format!("{name}{companion}"));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_at(&path)(e)),
            }
        }
        let live = data_dir.join(name);
        std::fs::rename(&staged, &live).map_err(io_at(&live))?;
    }
    sync_dir(data_dir)?;
    Ok(Some(pending))
}

/// Finishes a pending restore on opened databases: replays the journal from the backup's
/// time, writes the report, adds a `backup.restored` audit entry, removes the marker.
pub fn finish(
    data_dir: &Path,
    db: &Db,
    vault: &Vault,
    pending: &PendingRestore,
) -> Result<ReplayReport, RestoreError> {
    let since = time::parse(&pending.since).map_err(|e| RestoreError::Refused(e.to_string()))?;
    let entries = journal::read(&data_dir.join(journal::FILE_NAME))?;
    let mut report = replay(db, vault, &entries, since)?;
    report.backup = pending.backup.clone();
    let event = Caller::system()
        .event("backup.restored", pending.backup.as_str())
        .detail(serde_json::to_value(&report).unwrap_or_default());
    db.write(|tx| audit::append(tx, None, &event, Utc::now()))?;
    let path = data_dir.join(REPORT_FILE_NAME);
    let text = serde_json::to_string_pretty(&report)
        .map_err(|e| io_at(&path)(std::io::Error::other(e)))?;
    std::fs::write(&path, text).map_err(io_at(&path))?;
    let marker = data_dir.join(MARKER_FILE_NAME);
    std::fs::remove_file(&marker).map_err(io_at(&marker))?;
    sync_dir(data_dir)?;
    Ok(report)
}

/// What a replay did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplayReport {
    pub backup: String,
    /// The backup's time: journal lines from then on were replayed.
    pub since: String,
    pub entries_replayed: usize,
    /// Lines older than the backup: what they record is in it already.
    pub entries_older: usize,
    pub subjects_erased: usize,
    /// Named by a line but already erased in the backup, or not in it (made after it).
    pub subjects_already_gone: usize,
    pub keys_destroyed: usize,
    pub keys_already_gone: usize,
    /// Records sealed under a replayed key, deleted before the key went.
    pub records_deleted: usize,
    /// Lines of workspaces the backup does not have.
    pub unknown_workspaces: usize,
}

/// Replays the journal's lines from `since` on: people erased again (by the key their line
/// names, through [`erasure::erase_subject`]), then keys destroyed again, each after the
/// records sealed under it are durably deleted. Every line is idempotent.
pub fn replay(
    db: &Db,
    vault: &Vault,
    entries: &[JournalEntry],
    since: DateTime<Utc>,
) -> Result<ReplayReport, RestoreError> {
    let mut report = ReplayReport {
        since: time::format(since),
        ..ReplayReport::default()
    };
    let scopes: HashMap<i64, WorkspaceScope> = db
        .read(workspaces::all_scopes)?
        .into_iter()
        .map(|s| (s.id(), s))
        .collect();
    let mut due = Vec::new();
    for e in entries {
        let at = time::parse(e.at()).map_err(|err| RestoreError::Replay(err.to_string()))?;
        if at < since {
            report.entries_older += 1;
        } else {
            due.push(e);
        }
    }
    report.entries_replayed = due.len();
    // People first: an erasure may need the person's key (records a legal hold keeps are
    // re-sealed under the hold's key), which the key lines then destroy.
    for e in &due {
        let (workspace, key_id, digest) = match e {
            JournalEntry::SubjectErased {
                workspace,
                key_id,
                subject_digest,
                ..
            } => (*workspace, key_id, Some(subject_digest)),
            JournalEntry::KeyDestroyed {
                workspace,
                key_id,
                reason: DestroyReason::SubjectErased,
                ..
            } => (*workspace, key_id, None),
            JournalEntry::KeyDestroyed { .. } => continue,
        };
        let Some(scope) = scopes.get(&workspace) else {
            report.unknown_workspaces += 1;
            continue;
        };
        erase_again(
            db,
            vault,
            scope,
            key_id,
            digest.map(String::as_str),
            &mut report,
        )?;
    }
    for e in &due {
        let JournalEntry::KeyDestroyed {
            workspace, key_id, ..
        } = e
        else {
            continue;
        };
        let Some(scope) = scopes.get(workspace) else {
            report.unknown_workspaces += 1;
            continue;
        };
        // Durable before the key goes, as everywhere (ARCHITECTURE.md).
        report.records_deleted += db.write_durable(|tx| {
            records::delete_under_key(tx, scope, key_id).map_err(AppError::from)
        })?;
        if vault
            .destroy_key_again(scope, key_id)
            .map_err(AppError::from)?
        {
            report.keys_destroyed += 1;
        } else {
            report.keys_already_gone += 1;
        }
    }
    Ok(report)
}

fn erase_again(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    key_id: &str,
    digest: Option<&str>,
    report: &mut ReplayReport,
) -> Result<(), RestoreError> {
    let row = db.read(|c| subjects::by_key_id(c, scope, key_id))?;
    let Some(row) = row.filter(|r| r.erased_at.is_none()) else {
        report.subjects_already_gone += 1;
        return Ok(());
    };
    // The key id names the person exactly; the digest, where this key store can compute it,
    // confirms it.
    if let Some(expected) = digest
        && let Some(found) = vault
            .existing_subject_digest(scope, &row.external_id)
            .map_err(AppError::from)?
        && found != expected
    {
        return Err(RestoreError::Replay(format!(
            "the journal's line for key {key_id} names another person than the one holding \
             that key in the backup; nothing was erased for it"
        )));
    }
    let today = Utc::now().date_naive();
    match erasure::erase_subject(db, vault, scope, &Caller::system(), &row.external_id, today) {
        Ok(_) => report.subjects_erased += 1,
        Err(AppError::Conflict(_)) => report.subjects_already_gone += 1,
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn sync_file(path: &Path) -> Result<(), RestoreError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_at(path))
}

fn sync_dir(dir: &Path) -> Result<(), RestoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}

/// The journal a restore into `data_dir` replays by default.
pub fn journal_path(data_dir: &Path) -> PathBuf {
    data_dir.join(journal::FILE_NAME)
}
