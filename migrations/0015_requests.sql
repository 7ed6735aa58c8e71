-- Data subject requests (issue 16) and their timelines.
--
-- At rest: nothing a person typed and no personal value is stored in the clear. The address is
-- kept only sealed (`email_sealed`) and as the vault's keyed blind index (`email_index`, to find
-- a person's requests); what they wrote, staff's denial and extension texts and each timeline
-- entry's detail are sealed too, all under the workspace's `requests` key in keys.db, bound to
-- `workspace/request id/field` (services::requests). Codes, states, laws and times stay clear so
-- lists filter and sort in SQL.
--
-- Times are the fixed-width UTC form (domain::time::format); the CHECKs refuse any other shape,
-- so a deadline compared as text is compared as time.
CREATE TABLE requests (
    -- UUIDv7 made by Lethe: the API's id, bound into every sealed column as associated data.
    id                TEXT PRIMARY KEY,
    workspace_id      INTEGER NOT NULL REFERENCES workspaces(id),
    kind              TEXT NOT NULL CHECK (kind IN ('access', 'export', 'correction', 'erasure',
                                                   'restriction', 'objection', 'withdrawal')),
    state             TEXT NOT NULL CHECK (state IN ('received', 'verified', 'in_progress',
                                                     'completed', 'denied', 'expired')),
    law               TEXT NOT NULL CHECK (law IN ('gdpr', 'ccpa')),
    received_at       TEXT NOT NULL CHECK (received_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    verified_at       TEXT CHECK (verified_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- CCPA only: when receipt must have been confirmed.
    acknowledge_by    TEXT CHECK (acknowledge_by GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- The deadline the law gives from receipt; an extension sets `extended_due_at` beside it.
    due_at            TEXT NOT NULL CHECK (due_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    extended_due_at   TEXT CHECK (extended_due_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    extension_reason_sealed BLOB,
    -- The deadline in force, for filters and the overdue count (one column, one index).
    effective_due_at  TEXT GENERATED ALWAYS AS (coalesce(extended_due_at, due_at)) VIRTUAL,
    -- The vault's subject, when the request was matched to one (external id or blind index).
    subject_id        INTEGER REFERENCES subjects(id) ON DELETE SET NULL,
    email_index       BLOB,
    email_sealed      BLOB,
    details_sealed    BLOB,
    -- For an objection: the inventory purpose's key (an operator's name, not the person's).
    purpose_key       TEXT,
    denial_reason     TEXT CHECK (denial_reason IN ('identity_not_verified',
                                  'manifestly_unfounded_or_excessive', 'legal_obligation_to_keep')),
    denial_text_sealed BLOB,
    started_at        TEXT CHECK (started_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- When it was answered: completed, denied or expired.
    completed_at      TEXT CHECK (completed_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at        TEXT NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    CHECK ((kind = 'objection') = (purpose_key IS NOT NULL)),
    CHECK ((state = 'denied') = (denial_reason IS NOT NULL)),
    CHECK ((extended_due_at IS NULL) = (extension_reason_sealed IS NULL)),
    CHECK ((email_index IS NULL) = (email_sealed IS NULL)),
    CHECK ((state IN ('completed', 'denied', 'expired')) = (completed_at IS NOT NULL))
);
CREATE INDEX requests_by_workspace ON requests(workspace_id, id);
CREATE INDEX requests_open_by_due ON requests(workspace_id, effective_due_at)
    WHERE state IN ('received', 'verified', 'in_progress');
CREATE INDEX requests_by_email ON requests(workspace_id, email_index) WHERE email_index IS NOT NULL;
CREATE INDEX requests_by_subject ON requests(subject_id) WHERE subject_id IS NOT NULL;

-- A request's timeline: every step, in order, with who took it. The detail (a reason, a text
-- the person is sent) is sealed like the request's own texts.
CREATE TABLE request_events (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    request_id    TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    at            TEXT NOT NULL CHECK (at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- The audit log's actor label: a staff login, an API key's name, the shell or Lethe.
    actor         TEXT NOT NULL,
    what          TEXT NOT NULL CHECK (what IN ('received', 'verified', 'started', 'extended',
                                                'completed', 'denied', 'expired')),
    detail_sealed BLOB
);
CREATE INDEX request_events_by_request ON request_events(request_id, id);
