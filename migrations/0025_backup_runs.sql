-- Scheduled backups (`--backup-dir`): each run's outcome, so the console can say when the last
-- backup was made and warn when it failed or is late. The newest 100 are kept.
CREATE TABLE backup_runs (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    -- The backup's folder name under the backup directory; '' when none was made.
    folder      TEXT NOT NULL DEFAULT '',
    ok          INTEGER NOT NULL CHECK (ok IN (0, 1)),
    -- What went wrong, in the operator's words; no personal data.
    error       TEXT
);
