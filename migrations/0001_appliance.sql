-- The appliance: workspaces, staff, sessions, memberships, API keys and the audit log.
-- Timestamps are RFC 3339 UTC text (sortable). Secrets are stored only as digests or argon2id.

CREATE TABLE workspaces (
    id                    INTEGER PRIMARY KEY,
    slug                  TEXT NOT NULL UNIQUE,
    legal_name            TEXT NOT NULL,
    contact_email         TEXT NOT NULL,
    dpo_name              TEXT NOT NULL DEFAULT '',
    dpo_email             TEXT,
    min_age               INTEGER NOT NULL DEFAULT 16 CHECK (min_age BETWEEN 0 AND 21),
    request_deadline_days INTEGER NOT NULL DEFAULT 30 CHECK (request_deadline_days BETWEEN 1 AND 90),
    require_totp          INTEGER NOT NULL DEFAULT 0 CHECK (require_totp IN (0, 1)),
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);

CREATE TABLE staff (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,
    -- NULL until an invitation or setup link is accepted.
    password_hash   TEXT,
    is_admin        INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    totp_secret     TEXT,
    totp_enabled    INTEGER NOT NULL DEFAULT 0 CHECK (totp_enabled IN (0, 1)),
    -- The last accepted TOTP time step: a code is accepted once.
    totp_last_step  INTEGER,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    TEXT,
    created_at      TEXT NOT NULL
);

CREATE TABLE recovery_codes (
    id          INTEGER PRIMARY KEY,
    staff_id    INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX recovery_codes_by_staff ON recovery_codes(staff_id);

-- Setup links (first owner) and invitations: single use, expiring, stored as SHA-256.
CREATE TABLE one_time_tokens (
    token_hash  TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('setup', 'invite')),
    staff_id    INTEGER REFERENCES staff(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);

CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY,
    staff_id      INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    -- 'totp': password accepted, second factor pending. 'full': logged in.
    stage         TEXT NOT NULL CHECK (stage IN ('totp', 'full')),
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL
);
CREATE INDEX sessions_by_staff ON sessions(staff_id);

CREATE TABLE memberships (
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    staff_id      INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'privacy_officer', 'support', 'auditor')),
    created_at    TEXT NOT NULL,
    PRIMARY KEY (workspace_id, staff_id)
);
CREATE INDEX memberships_by_staff ON memberships(staff_id);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL UNIQUE,
    secret_hash   TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
);
CREATE INDEX api_keys_by_workspace ON api_keys(workspace_id);

-- Append-only, hash-chained. workspace_id is NULL for instance-wide events (logins, setup).
CREATE TABLE audit_log (
    seq           INTEGER PRIMARY KEY,
    workspace_id  INTEGER REFERENCES workspaces(id),
    at            TEXT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    target        TEXT NOT NULL,
    detail        TEXT NOT NULL,
    ip            TEXT,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE INDEX audit_by_workspace ON audit_log(workspace_id, seq);

-- A speed bump for accidental edits; the hash chain is what detects deliberate ones.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
