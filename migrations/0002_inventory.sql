-- The inventory: data categories, purposes, systems, recipients, retention rules, legal holds.
-- Items are named by a key unique within their workspace. References to categories go through
-- link tables whose foreign keys RESTRICT, so a category still in use cannot be deleted.

CREATE TABLE data_categories (
    id             INTEGER PRIMARY KEY,
    workspace_id   INTEGER NOT NULL REFERENCES workspaces(id),
    key            TEXT NOT NULL,
    name           TEXT NOT NULL,
    description    TEXT NOT NULL,
    subject_kinds  TEXT NOT NULL,   -- JSON array of strings
    source         TEXT NOT NULL,
    sensitivity    TEXT NOT NULL CHECK (sensitivity IN ('low', 'normal', 'high', 'special')),
    fields         TEXT NOT NULL,   -- JSON array of field specs
    updated_at     TEXT NOT NULL,
    UNIQUE (workspace_id, key)
);

CREATE TABLE purposes (
    id              INTEGER PRIMARY KEY,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces(id),
    key             TEXT NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    legal_basis     TEXT NOT NULL CHECK (legal_basis IN ('consent', 'contract', 'legal_obligation',
                        'vital_interests', 'public_task', 'legitimate_interests')),
    balancing_note  TEXT,
    updated_at      TEXT NOT NULL,
    UNIQUE (workspace_id, key)
);

CREATE TABLE purpose_categories (
    purpose_id   INTEGER NOT NULL REFERENCES purposes(id) ON DELETE CASCADE,
    category_id  INTEGER NOT NULL REFERENCES data_categories(id) ON DELETE RESTRICT,
    PRIMARY KEY (purpose_id, category_id)
);

CREATE TABLE systems (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    key           TEXT NOT NULL,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL,
    location      TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (workspace_id, key)
);

CREATE TABLE system_categories (
    system_id    INTEGER NOT NULL REFERENCES systems(id) ON DELETE CASCADE,
    category_id  INTEGER NOT NULL REFERENCES data_categories(id) ON DELETE RESTRICT,
    PRIMARY KEY (system_id, category_id)
);

CREATE TABLE recipients (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    key           TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('processor', 'independent_controller', 'authority')),
    purpose       TEXT NOT NULL,
    country       TEXT NOT NULL,
    safeguard     TEXT NOT NULL CHECK (safeguard IN ('not_a_transfer', 'adequacy', 'sccs', 'bcrs', 'derogation')),
    updated_at    TEXT NOT NULL,
    UNIQUE (workspace_id, key)
);

CREATE TABLE recipient_categories (
    recipient_id  INTEGER NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,
    category_id   INTEGER NOT NULL REFERENCES data_categories(id) ON DELETE RESTRICT,
    PRIMARY KEY (recipient_id, category_id)
);

CREATE TABLE retention_rules (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    key           TEXT NOT NULL,
    category_id   INTEGER NOT NULL REFERENCES data_categories(id) ON DELETE RESTRICT,
    trigger       TEXT NOT NULL CHECK (trigger IN ('collected', 'account_closed')),
    days          INTEGER NOT NULL CHECK (days BETWEEN 0 AND 36500),
    action        TEXT NOT NULL CHECK (action IN ('delete', 'anonymize')),
    note          TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (workspace_id, key)
);

CREATE TABLE legal_holds (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    key           TEXT NOT NULL,
    category_id   INTEGER REFERENCES data_categories(id) ON DELETE RESTRICT,
    reason        TEXT NOT NULL,
    until         TEXT,
    updated_at    TEXT NOT NULL,
    UNIQUE (workspace_id, key)
);
