//! Backups: a consistent copy of `lethe.db` and, apart, of `keys.db` into a dated folder with a
//! manifest, while `lethe serve` runs; their verification; the scheduled job's run with its
//! rotation; and what the console shows of the last one.
//!
//! The master key is never copied: only the two database files are, and neither holds it
//! (`keys.db` holds data keys wrapped by it). Whoever holds a backup still needs the master key,
//! kept elsewhere, to read anything in it.

use crate::domain::backup::{
    self, BackupEntry, BackupHealth, MANIFEST_FILE_NAME, MANIFEST_FORMAT, Manifest, ManifestFile,
    RotationPlan, RotationPolicy,
};
use crate::domain::schedule::CronSchedule;
use crate::domain::time;
use crate::error::AppError;
use crate::store::backup::{self as copies, BackupRun};
use crate::store::{Db, StoreError};
use crate::vault::KEYS_FILE_NAME;
use chrono::{DateTime, Utc};
use sha2::Digest;
use std::io::Read;
use std::path::{Path, PathBuf};

pub const DB_FILE_NAME: &str = "lethe.db";
/// A folder being written; renamed to its final name once its manifest is on disk, so a folder
/// without this suffix is always complete.
const PARTIAL_SUFFIX: &str = ".partial";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<BackupError> for AppError {
    fn from(e: BackupError) -> Self {
        AppError::internal(e)
    }
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A backup just made.
#[derive(Debug)]
pub struct Created {
    pub folder: PathBuf,
    pub manifest: Manifest,
}

/// Copies `lethe.db`, then `keys.db`, of `data_dir` into a new folder of `to` named after `now`,
/// and writes the manifest. `lethe.db` goes first: a key made after its copy is in `keys.db`
/// too (harmless), and a key destroyed between the two copies leaves rows that were on their
/// way out unreadable, as they should be.
pub fn create(data_dir: &Path, to: &Path, now: DateTime<Utc>) -> Result<Created, BackupError> {
    let db_path = data_dir.join(DB_FILE_NAME);
    if !db_path.is_file() {
        return Err(BackupError::Invalid {
            path: data_dir.display().to_string(),
            message: format!("holds no {DB_FILE_NAME}: it is not a Lethe data directory"),
        });
    }
    crate::store::create_data_dir(to)?;
    let name = backup::folder_name(now);
    let folder = to.join(&name);
    if folder.exists() {
        return Err(BackupError::Invalid {
            path: folder.display().to_string(),
            message: "a backup of this second exists already".into(),
        });
    }
    let partial = to.join(format!("{name}{PARTIAL_SUFFIX}"));
    crate::store::create_data_dir(&partial)?;
    let made = write_copies(data_dir, &partial, now);
    let manifest = match made {
        Ok(m) => m,
        Err(e) => {
            // Nothing half-made stays behind to be mistaken for a backup.
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &folder).map_err(io_at(&folder))?;
    sync_dir(to)?;
    Ok(Created { folder, manifest })
}

fn write_copies(data_dir: &Path, into: &Path, now: DateTime<Utc>) -> Result<Manifest, BackupError> {
    let db_copy = into.join(DB_FILE_NAME);
    copies::copy_online(&data_dir.join(DB_FILE_NAME), &db_copy)?;
    let mut names = vec![DB_FILE_NAME];
    let keys = data_dir.join(KEYS_FILE_NAME);
    if keys.is_file() {
        copies::copy_online(&keys, &into.join(KEYS_FILE_NAME))?;
        names.push(KEYS_FILE_NAME);
    }
    let (schema_version, audit_head) = copies::lethe_db_facts(&db_copy)?;
    let mut files = Vec::new();
    for name in names {
        let (size, sha256) = size_and_sha256(&into.join(name))?;
        files.push(ManifestFile {
            name: name.to_owned(),
            size,
            sha256,
            removed_at: None,
        });
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        created_at: time::format(now),
        lethe_version: env!("CARGO_PKG_VERSION").to_owned(),
        schema_version,
        audit_head,
        files,
    };
    write_manifest(into, &manifest)?;
    Ok(manifest)
}

fn write_manifest(folder: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let path = folder.join(MANIFEST_FILE_NAME);
    let text = serde_json::to_string_pretty(manifest).map_err(|e| BackupError::Invalid {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let tmp = folder.join(format!("{MANIFEST_FILE_NAME}.tmp"));
    std::fs::write(&tmp, text).map_err(io_at(&tmp))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io_at(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_at(&path))?;
    sync_dir(folder)
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}

fn size_and_sha256(path: &Path) -> Result<(u64, String), BackupError> {
    let mut file = std::fs::File::open(path).map_err(io_at(path))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io_at(path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Reads a backup folder's manifest.
pub fn read_manifest(folder: &Path) -> Result<Manifest, BackupError> {
    let path = folder.join(MANIFEST_FILE_NAME);
    let text = std::fs::read_to_string(&path).map_err(io_at(&path))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| BackupError::Invalid {
        path: path.display().to_string(),
        message: format!("not a backup manifest: {e}"),
    })?;
    if manifest.format > MANIFEST_FORMAT {
        return Err(BackupError::Invalid {
            path: path.display().to_string(),
            message: format!(
                "manifest format {} is newer than this Lethe reads ({MANIFEST_FORMAT})",
                manifest.format
            ),
        });
    }
    Ok(manifest)
}

/// What `lethe backup verify` found: one line per check passed, one per problem.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub passed: Vec<String>,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks a backup folder against its manifest: each file's size and SHA-256, SQLite's
/// integrity check of each copy opened read-only, and the audit chain of the `lethe.db` copy
/// (walked as `lethe audit verify` walks it, ending at the manifest's head).
pub fn verify(folder: &Path) -> Result<VerifyReport, BackupError> {
    let manifest = read_manifest(folder)?;
    let mut r = VerifyReport::default();
    for f in &manifest.files {
        if let Some(at) = &f.removed_at {
            r.passed
                .push(format!("{}: removed by the rotation at {at}", f.name));
            continue;
        }
        let path = folder.join(&f.name);
        if !path.is_file() {
            r.problems
                .push(format!("{}: missing from the backup folder", f.name));
            continue;
        }
        let (size, sha256) = size_and_sha256(&path)?;
        if size != f.size {
            r.problems.push(format!(
                "{}: size {size} bytes does not match the manifest's {}",
                f.name, f.size
            ));
        } else if sha256 != f.sha256 {
            r.problems
                .push(format!("{}: SHA-256 does not match the manifest", f.name));
        } else {
            r.passed
                .push(format!("{}: size and SHA-256 match the manifest", f.name));
        }
        match copies::integrity_problems(&path) {
            Ok(p) if p.is_empty() => r.passed.push(format!("{}: integrity check ok", f.name)),
            Ok(p) => r.problems.push(format!(
                "{}: integrity check failed: {}",
                f.name,
                p.into_iter().take(3).collect::<Vec<_>>().join("; ")
            )),
            Err(e) => r
                .problems
                .push(format!("{}: cannot be opened as a database: {e}", f.name)),
        }
        if f.name == DB_FILE_NAME {
            check_chain(&path, &manifest, &mut r);
        } else if f.name == KEYS_FILE_NAME && !copies::is_key_store(&path).unwrap_or(false) {
            r.problems.push(format!("{}: holds no key store", f.name));
        }
    }
    if manifest.file(DB_FILE_NAME).is_none() {
        r.problems
            .push(format!("{DB_FILE_NAME}: not listed in the manifest"));
    }
    Ok(r)
}

fn check_chain(path: &Path, manifest: &Manifest, r: &mut VerifyReport) {
    match copies::verify_chain(path) {
        Ok((Ok(n), head)) if head == manifest.audit_head => r.passed.push(format!(
            "{DB_FILE_NAME}: audit chain intact ({n} entries checked{})",
            head.map(|h| format!(", head at entry {}", h.seq))
                .unwrap_or_default()
        )),
        Ok((Ok(_), head)) => r.problems.push(format!(
            "{DB_FILE_NAME}: the audit chain's head ({}) is not the manifest's ({})",
            head.map_or("none".into(), |h| format!("entry {}", h.seq)),
            manifest
                .audit_head
                .as_ref()
                .map_or("none".into(), |h| format!("entry {}", h.seq))
        )),
        Ok((Err(broken), _)) => r
            .problems
            .push(format!("{DB_FILE_NAME}: audit chain broken: {broken}")),
        Err(e) => r.problems.push(format!(
            "{DB_FILE_NAME}: the audit chain cannot be read: {e}"
        )),
    }
}

/// The scheduled job's settings.
#[derive(Debug, Clone)]
pub struct BackupSettings {
    pub dir: PathBuf,
    pub schedule: CronSchedule,
    pub policy: RotationPolicy,
}

/// One scheduled backup: make it, rotate the older ones, and record the outcome for the
/// console (a failure too, then passed on so the job's run is marked failed).
pub fn run_scheduled(
    db: &Db,
    data_dir: &Path,
    settings: &BackupSettings,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let outcome = create(data_dir, &settings.dir, now).and_then(|made| {
        let plan = rotate(&settings.dir, settings.policy, now)?;
        Ok((made, plan))
    });
    let (folder, ok, error) = match &outcome {
        Ok((made, _)) => (folder_label(&made.folder), true, None),
        Err(e) => (String::new(), false, Some(e.to_string())),
    };
    let run = BackupRun {
        started_at: now,
        finished_at: Some(Utc::now()),
        folder,
        ok,
        error,
    };
    db.write(|tx| copies::record_run(tx, &run))?;
    let (made, plan) = outcome?;
    Ok(format!(
        "backup {}; rotation deleted {} and removed keys.db from {}",
        made.folder.display(),
        plan.delete.len(),
        plan.drop_keys.len()
    ))
}

fn folder_label(folder: &Path) -> String {
    folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Applies the rotation to the complete backups in `dir`: folders deleted whole, `keys.db`
/// copies removed (and marked removed in their manifest).
pub fn rotate(
    dir: &Path,
    policy: RotationPolicy,
    now: DateTime<Utc>,
) -> Result<RotationPlan, BackupError> {
    let mut entries = Vec::new();
    for item in std::fs::read_dir(dir).map_err(io_at(dir))? {
        let item = item.map_err(io_at(dir))?;
        let name = item.file_name().to_string_lossy().into_owned();
        // A backup a crash left half-written holds a `keys.db` copy no rotation would ever
        // remove, so crypto-shredding would never reach it: gone once a day old (a younger one
        // may be another backup still being written).
        if let Some(created_at) = name
            .strip_suffix(PARTIAL_SUFFIX)
            .and_then(backup::folder_time)
        {
            if now - created_at > chrono::Duration::days(1) {
                let path = item.path();
                std::fs::remove_dir_all(&path).map_err(io_at(&path))?;
            }
            continue;
        }
        // Only complete backups of ours: never anything else the directory holds.
        let Some(created_at) = backup::folder_time(&name) else {
            continue;
        };
        let path = item.path();
        if !path.join(MANIFEST_FILE_NAME).is_file() {
            continue;
        }
        entries.push(BackupEntry {
            name,
            created_at,
            has_keys: path.join(KEYS_FILE_NAME).is_file(),
        });
    }
    let plan = backup::plan_rotation(&entries, now, policy);
    for name in &plan.delete {
        let path = dir.join(name);
        std::fs::remove_dir_all(&path).map_err(io_at(&path))?;
    }
    for name in &plan.drop_keys {
        let folder = dir.join(name);
        let mut manifest = read_manifest(&folder)?;
        for f in manifest
            .files
            .iter_mut()
            .filter(|f| f.name == KEYS_FILE_NAME)
        {
            f.removed_at = Some(time::format(now));
        }
        write_manifest(&folder, &manifest)?;
        let keys = folder.join(KEYS_FILE_NAME);
        std::fs::remove_file(&keys).map_err(io_at(&keys))?;
        sync_dir(&folder)?;
    }
    Ok(plan)
}

/// What the console shows about backups.
#[derive(Debug, Clone)]
pub struct BackupStatus {
    pub health: BackupHealth,
    pub last: Option<BackupRun>,
    /// "3 hours ago" of the last run.
    pub ago: Option<String>,
    /// The last successful one, when the last run failed.
    pub last_success_ago: Option<String>,
}

/// The last backup and whether it is as recent as `schedule` (None: backups are off) allows.
pub fn status(
    db: &Db,
    schedule: Option<&CronSchedule>,
    now: DateTime<Utc>,
) -> Result<BackupStatus, AppError> {
    let (last, success) =
        db.read(|c| Ok::<_, StoreError>((copies::last_run(c)?, copies::last_success(c)?)))?;
    let interval = schedule.and_then(|s| s.interval_after(now));
    let health = backup::health(last.as_ref().map(|l| (l.started_at, l.ok)), interval, now);
    Ok(BackupStatus {
        health,
        ago: last.as_ref().map(|l| backup::ago(l.started_at, now)),
        last_success_ago: success.map(|t| backup::ago(t, now)),
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_removes_a_half_written_backup_once_a_day_old_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let now: DateTime<Utc> = "2026-11-27T12:00:00Z".parse().unwrap();
        let folder = |at: DateTime<Utc>| {
            let path = dir
                .path()
                .join(format!("{}{PARTIAL_SUFFIX}", backup::folder_name(at)));
            std::fs::create_dir(&path).unwrap();
            std::fs::write(path.join(KEYS_FILE_NAME), b"a key store copy").unwrap();
            path
        };
        let crashed = folder(now - chrono::Duration::days(3));
        let being_written = folder(now - chrono::Duration::hours(1));
        let other = dir.path().join("not-a-backup.partial");
        std::fs::create_dir(&other).unwrap();
        let policy = RotationPolicy {
            keep_daily: 7,
            keep_weekly: 4,
            keep_keys_days: 7,
        };
        rotate(dir.path(), policy, now).unwrap();
        assert!(
            !crashed.exists(),
            "its keys.db would outlive every rotation"
        );
        assert!(
            being_written.exists(),
            "another backup may still be writing it"
        );
        assert!(other.exists(), "only Lethe's own folders are touched");
    }
}
