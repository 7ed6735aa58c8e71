-- A purpose may await its legal basis: fideslang data uses come without one since Fides moved
-- legal bases to privacy declarations, and refusing the whole import helps no one. The inventory
-- check reports such a purpose as an error, so it is never published.
--
-- SQLite cannot change a CHECK constraint in place, so `purposes` is rebuilt. `purpose_categories`
-- is rebuilt with it: dropping `purposes` while its links pointed at it would cascade their
-- deletion (DROP TABLE deletes every row first, and ON DELETE CASCADE fires).
CREATE TABLE purposes_next (
    id              INTEGER PRIMARY KEY,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces(id),
    key             TEXT NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    legal_basis     TEXT NOT NULL CHECK (legal_basis IN ('consent', 'contract', 'legal_obligation',
                        'vital_interests', 'public_task', 'legitimate_interests', 'awaiting')),
    balancing_note  TEXT,
    updated_at      TEXT NOT NULL,
    consent_prompt  TEXT,
    UNIQUE (workspace_id, key)
);
INSERT INTO purposes_next (id, workspace_id, key, name, description, legal_basis, balancing_note,
                           updated_at, consent_prompt)
    SELECT id, workspace_id, key, name, description, legal_basis, balancing_note, updated_at,
           consent_prompt
    FROM purposes;

CREATE TABLE purpose_categories_next (
    purpose_id   INTEGER NOT NULL REFERENCES purposes_next(id) ON DELETE CASCADE,
    category_id  INTEGER NOT NULL REFERENCES data_categories(id) ON DELETE RESTRICT,
    PRIMARY KEY (purpose_id, category_id)
);
INSERT INTO purpose_categories_next (purpose_id, category_id)
    SELECT purpose_id, category_id FROM purpose_categories;

DROP TABLE purpose_categories;
DROP TABLE purposes;
-- Renaming also rewrites purpose_categories_next's reference to the new name.
ALTER TABLE purposes_next RENAME TO purposes;
ALTER TABLE purpose_categories_next RENAME TO purpose_categories;
