-- The vault: the operator's data subjects and the personal-data records sent about them.
-- Personal values are sealed (AES-256-GCM) under a data key that lives, wrapped by the master
-- key, in the separate key store (keys.db). Only non-personal columns are in the clear and indexed.

CREATE TABLE subjects (
    id              INTEGER PRIMARY KEY,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces(id),
    -- The operator's own identifier for the person (an account id, not a name or an address).
    external_id     TEXT NOT NULL,
    -- e.g. 'customer', 'instructor', 'recipient'.
    kind            TEXT NOT NULL DEFAULT '',
    -- HMAC-SHA256 of the normalised e-mail under the workspace's index key: finds a person by
    -- e-mail without storing the address in the clear. NULL without an e-mail, and after erasure.
    email_index     BLOB,
    -- JSON {email, birth_date} sealed under the subject's data key; NULL after erasure.
    sealed_profile  BLOB,
    -- The subject's data key in the key store; NULL once destroyed (erasure).
    key_id          TEXT,
    closed_at       TEXT,
    restricted_at   TEXT,
    restricted_reason TEXT NOT NULL DEFAULT '',
    erased_at       TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (workspace_id, external_id)
);
CREATE INDEX subjects_email ON subjects(workspace_id, email_index) WHERE email_index IS NOT NULL;

CREATE TABLE records (
    -- UUIDv7, made by Lethe; bound into each record's ciphertext as associated data.
    id              TEXT PRIMARY KEY,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces(id),
    -- NULL for records the category allows without a person (e.g. a visitor's access log).
    subject_id      INTEGER REFERENCES subjects(id),
    category        TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    -- The data key that seals the fields: the subject's, a legal hold's, or the workspace's
    -- key for records without a person.
    key_id          TEXT NOT NULL,
    sealed_fields   BLOB NOT NULL,
    -- Sent while the subject's processing was restricted.
    flagged_restricted INTEGER NOT NULL DEFAULT 0 CHECK (flagged_restricted IN (0, 1)),
    -- Set when erasure kept the record under a legal hold.
    hold_key        TEXT,
    held_until      TEXT
) WITHOUT ROWID;
CREATE INDEX records_subject ON records(workspace_id, subject_id, occurred_at);
CREATE INDEX records_category ON records(workspace_id, category, occurred_at);

-- Retried batches: the key the client sent, a digest of the body, and the receipt it got.
CREATE TABLE idempotency_keys (
    workspace_id    INTEGER NOT NULL REFERENCES workspaces(id),
    key             TEXT NOT NULL,
    request_digest  TEXT NOT NULL,
    receipt         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (workspace_id, key)
) WITHOUT ROWID;

-- Who looked at whom, and why: every staff read of a person's records, and every API read.
CREATE TABLE subject_access_log (
    id              INTEGER PRIMARY KEY,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces(id),
    subject_id      INTEGER NOT NULL REFERENCES subjects(id),
    staff_id        INTEGER REFERENCES staff(id),
    -- The staff e-mail, or "API key 'name'".
    actor           TEXT NOT NULL,
    reason          TEXT NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX subject_access_log_subject ON subject_access_log(workspace_id, subject_id, at);

-- A category may allow records without a person (e.g. a visitor's access log).
ALTER TABLE data_categories ADD COLUMN subject_optional INTEGER NOT NULL DEFAULT 0
    CHECK (subject_optional IN (0, 1));
