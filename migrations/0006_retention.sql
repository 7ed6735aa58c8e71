-- Retention: rules that run on schedules over the vault, keys per category and week, run
-- history, claims checked against the data, one scheduler for every job, and Lethe's own data
-- under rules too.

-- A rule says when it runs (cron, UTC), whether it runs, what an `anonymize` action does to each
-- field (JSON list of transforms) and what it promises (its claim, checked after every run).
ALTER TABLE retention_rules ADD COLUMN schedule TEXT NOT NULL DEFAULT '@daily';
ALTER TABLE retention_rules ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1));
ALTER TABLE retention_rules ADD COLUMN transforms TEXT NOT NULL DEFAULT '[]';
ALTER TABLE retention_rules ADD COLUMN claim TEXT NOT NULL DEFAULT '';

-- A record is sealed under a key derived from its owner's key (key_id) and the key of its
-- category's week (period_key_id). NULL: sealed under key_id alone (records from before period
-- keys, upgraded at start; pseudonymized records still linked to their person; held records).
ALTER TABLE records ADD COLUMN period_key_id TEXT;
-- The anonymize rules already applied, comma-separated: none is applied twice.
ALTER TABLE records ADD COLUMN anonymized_by TEXT;
CREATE INDEX records_period_key ON records(period_key_id) WHERE period_key_id IS NOT NULL;
CREATE INDEX records_without_period ON records(workspace_id)
    WHERE period_key_id IS NULL AND anonymized_by IS NULL AND hold_key IS NULL;

-- A key on its way out: written durably in lethe.db before the key store forgets the key, and
-- removed after. Ingestion never seals under a key listed here.
CREATE TABLE key_retirements (
    key_id        TEXT PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    reason        TEXT NOT NULL,
    retired_at    TEXT NOT NULL
) WITHOUT ROWID;

-- The one scheduler: each job's next run is kept here, so a run missed while Lethe was down
-- happens once at the next start.
CREATE TABLE job_schedule (
    name              TEXT PRIMARY KEY,
    -- The schedule the next run was computed from; a changed schedule recomputes it.
    schedule          TEXT NOT NULL,
    next_run_at       TEXT NOT NULL,
    last_started_at   TEXT,
    last_finished_at  TEXT,
    last_success_at   TEXT,
    last_outcome      TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- Leases: one run at a time per workspace, across processes (`lethe serve` and the shell).
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) WITHOUT ROWID;

-- Every run of a rule, with its position after the last committed batch so that a run cut
-- short (kill -9, power loss, shutdown) resumes where it stopped.
CREATE TABLE retention_runs (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    rule_key      TEXT NOT NULL,
    category      TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('delete', 'anonymize')),
    -- 'schedule', 'catch-up', or who started it by hand.
    started_by    TEXT NOT NULL,
    dry_run       INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1)),
    status        TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
    -- Records collected (or of people whose account closed) before this instant are due.
    cutoff        TEXT NOT NULL,
    -- JSON position after the last committed batch; NULL before the first.
    cursor        TEXT,
    scanned       INTEGER NOT NULL DEFAULT 0,
    changed       INTEGER NOT NULL DEFAULT 0,
    deleted       INTEGER NOT NULL DEFAULT 0,
    held          INTEGER NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0,
    -- What went wrong, never a personal value.
    last_error    TEXT,
    batches       INTEGER NOT NULL DEFAULT 0,
    -- A dry run's report (counts, masked examples) as JSON.
    report        TEXT,
    started_at    TEXT NOT NULL,
    finished_at   TEXT
);
CREATE INDEX retention_runs_workspace ON retention_runs(workspace_id, id);
CREATE INDEX retention_runs_rule ON retention_runs(workspace_id, rule_key, id);
CREATE INDEX retention_runs_open ON retention_runs(status) WHERE status IN ('running', 'interrupted');

-- Each rule's claim, counted against the data after every run and on its own schedule.
CREATE TABLE retention_claim_checks (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    rule_key      TEXT NOT NULL,
    claim         TEXT NOT NULL,
    checked_at    TEXT NOT NULL,
    -- Records that break the claim (past the rule, beyond one run interval, not held).
    violations    INTEGER NOT NULL,
    -- Records past the rule that a legal hold keeps.
    held          INTEGER NOT NULL,
    -- Records past the rule and not yet handled (the backlog, grace included).
    backlog       INTEGER NOT NULL
);
CREATE INDEX retention_claim_checks_rule ON retention_claim_checks(workspace_id, rule_key, id);

-- How long Lethe keeps its own data (instance-wide; defaults the operator can change). Console
-- sessions are not here: they go when they expire (idle and absolute timeouts).
CREATE TABLE own_data_rules (
    target      TEXT PRIMARY KEY,
    days        INTEGER NOT NULL CHECK (days BETWEEN 0 AND 36500),
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO own_data_rules (target, days, updated_at) VALUES
    ('subject_access_log', 730, '2026-11-27T00:00:00.000000Z'),
    ('outbox_messages', 90, '2026-11-27T00:00:00.000000Z'),
    ('unconfirmed_subscribers', 7, '2026-11-27T00:00:00.000000Z'),
    ('idempotency_keys', 1, '2026-11-27T00:00:00.000000Z'),
    ('retention_history', 400, '2026-11-27T00:00:00.000000Z'),
    ('audit_log', 2190, '2026-11-27T00:00:00.000000Z');

-- Old audit entries may go, but only after a checkpoint that keeps the chain provable: the
-- checkpoint holds the hash of the last entry removed, which the first kept entry points to.
CREATE TABLE audit_checkpoints (
    seq      INTEGER PRIMARY KEY,
    hash     TEXT NOT NULL,
    removed  INTEGER NOT NULL,
    at       TEXT NOT NULL
);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.seq > (SELECT coalesce(max(seq), 0) FROM audit_checkpoints)
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only: entries go only behind a checkpoint');
END;

-- 0004 wrote this one column with milliseconds; every stored time has microseconds.
UPDATE policy_notifications SET notified_at = substr(notified_at, 1, 23) || '000Z'
WHERE length(notified_at) = 24;
