-- Incidents (issue 18): the breach register with the 72-hour clock (GDPR Art. 33, 34).
--
-- Art. 33(5) asks the controller to document every breach, notified or not: the register is
-- never pruned. A trigger refuses to delete an incident, and none of Lethe's own-data rules
-- names these tables. The timeline and the notice phases sent are append-only.
--
-- At rest: the texts here (title, description, reasoning, consequences, measures, reasons,
-- the notice's sections) are staff's words about the breach, not values about a person, and
-- are kept in the clear on purpose: the register must stay readable to an authority for years,
-- whatever happens to keys.db (ARCHITECTURE.md, "Incidents"). Personal values are not written
-- here; affected people are counted, never listed.
--
-- Times are the fixed-width UTC form (domain::time::format); the CHECKs refuse any other shape.

-- The zone staff's typed times are read in and deadlines are shown in (an IANA name).
ALTER TABLE workspaces ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';

CREATE TABLE incidents (
    -- UUIDv7 made by Lethe: the API's id.
    id                  TEXT PRIMARY KEY,
    workspace_id        INTEGER NOT NULL REFERENCES workspaces(id),
    title               TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    -- Awareness (Art. 33(1)): the 72 hours run from here.
    detected_at         TEXT NOT NULL CHECK (detected_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    started_at          TEXT CHECK (started_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    ended_at            TEXT CHECK (ended_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    risk                TEXT NOT NULL CHECK (risk IN ('none', 'risk', 'high_risk')),
    risk_reasoning      TEXT NOT NULL DEFAULT '',
    -- The member who handles it (a staff account; kept if they leave the workspace).
    handler_staff_id    INTEGER REFERENCES staff(id),
    state               TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    -- NULL: not decided yet. `not_notified` carries its reason (Art. 33(5)).
    authority_decision  TEXT CHECK (authority_decision IN ('notify', 'not_notified')),
    not_notified_reason TEXT,
    -- Why the authority was told after the 72 hours (Art. 33(1)), once a late phase was sent.
    late_reason         TEXT,
    consequences        TEXT NOT NULL DEFAULT '',
    measures            TEXT NOT NULL DEFAULT '',
    -- Staff's edits of the regulator notice: a JSON object, section key -> text.
    notice_edits        TEXT NOT NULL DEFAULT '{}',
    -- The latest count of affected people and records (JSON) and when it was made.
    counts              TEXT,
    counts_computed_at  TEXT CHECK (counts_computed_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    closed_at           TEXT CHECK (closed_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    created_at          TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at          TEXT NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    CHECK ((coalesce(authority_decision, '') = 'not_notified') = (not_notified_reason IS NOT NULL)),
    CHECK ((state = 'closed') = (closed_at IS NOT NULL)),
    CHECK (started_at IS NULL OR ended_at IS NULL OR started_at <= ended_at)
);
CREATE INDEX incidents_by_workspace ON incidents(workspace_id, detected_at);
-- The deadline job reads open incidents only.
CREATE INDEX incidents_open ON incidents(workspace_id, detected_at) WHERE state = 'open';

CREATE TRIGGER incidents_never_deleted BEFORE DELETE ON incidents
BEGIN
    SELECT RAISE(ABORT, 'the breach register keeps every incident (GDPR Art. 33(5))');
END;

-- What the breach touched, by the inventory's keys. Keys, not foreign keys: the register keeps
-- what was affected even after the inventory item is renamed away or deleted, and an incident
-- never blocks a change of the inventory. The service checks a key exists when it is linked.
CREATE TABLE incident_categories (
    incident_id   TEXT NOT NULL REFERENCES incidents(id),
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    category_key  TEXT NOT NULL,
    PRIMARY KEY (incident_id, category_key)
) WITHOUT ROWID;
CREATE TABLE incident_systems (
    incident_id   TEXT NOT NULL REFERENCES incidents(id),
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    system_key    TEXT NOT NULL,
    PRIMARY KEY (incident_id, system_key)
) WITHOUT ROWID;

-- Each phase of the notice to the authority as it was sent (Art. 33(4) allows phases): its
-- number, when it was sent, the notice's sections then (a JSON snapshot) and who recorded it.
CREATE TABLE incident_notice_phases (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    incident_id   TEXT NOT NULL REFERENCES incidents(id),
    phase         INTEGER NOT NULL CHECK (phase >= 1),
    sent_at       TEXT NOT NULL CHECK (sent_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- Sent after the 72 hours.
    late          INTEGER NOT NULL CHECK (late IN (0, 1)),
    content       TEXT NOT NULL,
    recorded_by   TEXT NOT NULL,
    recorded_at   TEXT NOT NULL CHECK (recorded_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    UNIQUE (incident_id, phase)
);
CREATE TRIGGER incident_notice_phases_no_update BEFORE UPDATE ON incident_notice_phases
BEGIN
    SELECT RAISE(ABORT, 'a notice phase sent is history: append-only');
END;
CREATE TRIGGER incident_notice_phases_no_delete BEFORE DELETE ON incident_notice_phases
BEGIN
    SELECT RAISE(ABORT, 'a notice phase sent is history: append-only');
END;

-- The incident's timeline: every change, with who made it and what changed (JSON).
CREATE TABLE incident_events (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    incident_id   TEXT NOT NULL REFERENCES incidents(id),
    at            TEXT NOT NULL CHECK (at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- The audit log's actor label: a staff login, an API key's name, the shell or Lethe.
    actor         TEXT NOT NULL,
    what          TEXT NOT NULL CHECK (what IN ('registered', 'updated', 'not_notified',
                                                'notice_edited', 'notice_phase_sent', 'closed',
                                                'reopened', 'deadline_warning')),
    detail        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_events_by_incident ON incident_events(incident_id, id);
CREATE TRIGGER incident_events_no_update BEFORE UPDATE ON incident_events
BEGIN
    SELECT RAISE(ABORT, 'the incident timeline is append-only');
END;
CREATE TRIGGER incident_events_no_delete BEFORE DELETE ON incident_events
BEGIN
    SELECT RAISE(ABORT, 'the incident timeline is append-only');
END;

-- Deadline warnings e-mailed: each threshold once per incident.
CREATE TABLE incident_warnings (
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    incident_id   TEXT NOT NULL REFERENCES incidents(id),
    threshold     TEXT NOT NULL CHECK (threshold IN ('48h', '12h')),
    sent_at       TEXT NOT NULL CHECK (sent_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (incident_id, threshold)
) WITHOUT ROWID;
