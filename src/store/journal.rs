//! The erasure journal: an append-only file in the data directory, outside `lethe.db` and
//! `keys.db`, one JSON line per erasure and per destroyed key (`domain::backup::JournalEntry`).
//! Each line is on disk (`fsync`) before the erasure or destruction is acknowledged, so a
//! restore of older copies can do it again. Replaying a line twice changes nothing.

use crate::domain::backup::JournalEntry;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const FILE_NAME: &str = "erasure-journal.log";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: not a journal entry ({message})")]
    Corrupt {
        path: String,
        line: usize,
        message: String,
    },
}

/// The journal of one data directory. Appends are serialised, so lines never interleave.
pub struct Journal {
    path: PathBuf,
    lock: Mutex<()>,
}

impl Journal {
    pub fn new(data_dir: &Path) -> Journal {
        Journal {
            path: data_dir.join(FILE_NAME),
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line and waits until it is on disk.
    pub fn append(&self, entry: &JournalEntry) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let mut line = serde_json::to_string(entry).map_err(|e| io(std::io::Error::other(e)))?;
        line.push('\n');
        // A poisoned lock only means another append panicked; the file itself is fine.
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let created = !self.path.exists();
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&self.path).map_err(io)?;
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        if created {
            // The new file's name must survive a power loss too.
            if let Some(dir) = self.path.parent() {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io)?;
            }
        }
        Ok(())
    }
}

/// Every entry of the journal at `path`; none when there is no file. A last line cut short (a
/// crash in the middle of an append, which was then never acknowledged) is skipped; any other
/// unreadable line is an error that names it.
pub fn read(path: &Path) -> Result<Vec<JournalEntry>, JournalError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(JournalError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(entry) => out.push(entry),
            Err(_) if !complete && i + 1 == lines.len() => break,
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: path.display().to_string(),
                    line: i + 1,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::backup::DestroyReason;

    fn entry(key: &str) -> JournalEntry {
        JournalEntry::KeyDestroyed {
            at: "2026-11-27T07:30:33.123456Z".into(),
            workspace: 1,
            key_id: key.into(),
            reason: DestroyReason::SubjectErased,
        }
    }

    #[test]
    fn appended_lines_read_back_in_order_and_a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        assert!(read(journal.path()).unwrap().is_empty());
        journal.append(&entry("a")).unwrap();
        journal.append(&entry("b")).unwrap();
        assert_eq!(read(journal.path()).unwrap(), [entry("a"), entry("b")]);

        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(journal.path())
            .unwrap();
        f.write_all(br#"{"kind":"key_destr"#).unwrap();
        assert_eq!(read(journal.path()).unwrap().len(), 2);

        std::fs::write(journal.path(), "garbage\n{}\n").unwrap();
        let err = read(journal.path()).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
