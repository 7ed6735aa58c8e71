-- Consent decisions (issue 17): one row per decision, append-only; the current state of a person
-- or a visitor is derived (the latest choice per purpose). A decision's choices are rows of
-- `consent_choices`, so rates per purpose and day are plain SQL.
--
-- At rest: no personal value in the clear. The person is the vault's subject (by id) when the
-- operator's site knows them, else a random visitor id kept only as a keyed digest
-- (`visitor_index`, the workspace's blind-index key): enough to find a visitor's decisions
-- again, not to learn the id. The client's network (a /24 or /64, never the address) and its
-- user-agent family ("Firefox") are coarse by design: the proof the issue asks for, nothing that
-- singles a person out.
CREATE TABLE consent_records (
    -- UUIDv7 made by Lethe; the receipt names it.
    id               TEXT PRIMARY KEY,
    workspace_id     INTEGER NOT NULL REFERENCES workspaces(id),
    subject_id       INTEGER REFERENCES subjects(id) ON DELETE CASCADE,
    visitor_index    BLOB,
    -- Where it came from: the banner, the operator's backend, an import, or GPC refusing on its own.
    source           TEXT NOT NULL CHECK (source IN ('banner', 'api', 'import', 'gpc')),
    -- The client said `Sec-GPC: 1` or `navigator.globalPrivacyControl`.
    gpc              INTEGER NOT NULL DEFAULT 0 CHECK (gpc IN (0, 1)),
    -- The policy version shown, and the material version the decision answers (older ones need
    -- renewal once a newer material version is in force).
    policy_version   INTEGER,
    consent_version  INTEGER,
    banner_version   TEXT,
    network          TEXT,
    user_agent       TEXT,
    decided_at       TEXT NOT NULL CHECK (decided_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    CHECK ((subject_id IS NULL) <> (visitor_index IS NULL))
) WITHOUT ROWID;
CREATE INDEX consent_records_by_subject ON consent_records(workspace_id, subject_id, decided_at)
    WHERE subject_id IS NOT NULL;
CREATE INDEX consent_records_by_visitor ON consent_records(workspace_id, visitor_index, decided_at)
    WHERE visitor_index IS NOT NULL;
CREATE INDEX consent_records_by_time ON consent_records(workspace_id, decided_at);

CREATE TABLE consent_choices (
    record_id    TEXT NOT NULL REFERENCES consent_records(id) ON DELETE CASCADE,
    -- The inventory purpose's key (an operator's name).
    purpose_key  TEXT NOT NULL,
    granted      INTEGER NOT NULL CHECK (granted IN (0, 1)),
    -- Why it was refused without the person choosing: `gpc`.
    reason       TEXT CHECK (reason IN ('gpc')),
    PRIMARY KEY (record_id, purpose_key)
) WITHOUT ROWID;

-- Append-only: a decision is never changed, only followed by a newer one (retention deletes).
CREATE TRIGGER consent_records_no_update BEFORE UPDATE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;
CREATE TRIGGER consent_choices_no_update BEFORE UPDATE ON consent_choices
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;

-- Consent decisions fall under one of Lethe's own rules: three years by default, like answered
-- requests (Art. 7(1) asks the controller to show the consent it relies on; claims about it are
-- commonly brought within three years). Only decisions that prove nothing current go: a
-- visitor's (their cookie lasts a year), or a subject's that a newer decision of theirs covers.
INSERT INTO own_data_rules (target, days, updated_at)
    VALUES ('consent_records', 1095, strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z')
    ON CONFLICT (target) DO NOTHING;
