-- Telling affected people (GDPR Art. 34, issue 18): one letter per high-risk incident, sent
-- through the outbox in batches by the `incident-letters` job, with its delivery report.
--
-- At rest: the letter's subject and text are staff's words about the breach, the same to every
-- person (no name, no address), kept in the clear like the register's other texts. Who was told
-- is the subject's internal id; their address is only in the sealed outbox message. The rows
-- are part of the register (Art. 33(5), 34): never pruned, never deleted.

CREATE TABLE incident_letters (
    incident_id      TEXT PRIMARY KEY REFERENCES incidents(id),
    workspace_id     INTEGER NOT NULL REFERENCES workspaces(id),
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    -- The audit log's actor label of whoever sent it.
    requested_by     TEXT NOT NULL,
    requested_at     TEXT NOT NULL CHECK (requested_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- What bounds the affected people, fixed when the letter was sent: a JSON list of
    -- categories (the systems' included) and the window on `occurred_at`.
    categories       TEXT NOT NULL,
    window_from      TEXT CHECK (window_from GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    window_to        TEXT NOT NULL CHECK (window_to GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- The job's place: subjects with a larger id are still to be looked at.
    position         INTEGER NOT NULL DEFAULT 0,
    finished_at      TEXT CHECK (finished_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
);
CREATE INDEX incident_letters_sending ON incident_letters(requested_at) WHERE finished_at IS NULL;

CREATE TABLE incident_recipients (
    incident_id   TEXT NOT NULL REFERENCES incident_letters(incident_id),
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    subject_id    INTEGER NOT NULL REFERENCES subjects(id),
    -- NULL: the person has no e-mail on record (a public notice must reach them).
    outbox_id     INTEGER,
    -- The message's fate, kept here because the outbox forgets sent messages after its rule:
    -- queued, sent, failed or disabled (as the outbox says), or no_email.
    delivery      TEXT NOT NULL CHECK (delivery IN ('queued', 'sent', 'failed', 'disabled', 'no_email')),
    told_at       TEXT NOT NULL CHECK (told_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    delivered_at  TEXT CHECK (delivered_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (incident_id, subject_id)
) WITHOUT ROWID;
CREATE INDEX incident_recipients_by_subject ON incident_recipients(workspace_id, subject_id);
CREATE INDEX incident_recipients_by_message ON incident_recipients(outbox_id) WHERE outbox_id IS NOT NULL;

CREATE TRIGGER incident_recipients_never_deleted BEFORE DELETE ON incident_recipients
BEGIN
    SELECT RAISE(ABORT, 'the breach register keeps who was told (GDPR Art. 34)');
END;
CREATE TRIGGER incident_letters_never_deleted BEFORE DELETE ON incident_letters
BEGIN
    SELECT RAISE(ABORT, 'the breach register keeps the letters sent (GDPR Art. 34)');
END;

-- The delivery report follows the outbox: when a letter's message is sent, fails for good or is
-- disabled, its recipient row says so.
CREATE TRIGGER incident_recipients_follow_outbox AFTER UPDATE OF status ON outbox_messages
WHEN NEW.status <> OLD.status
BEGIN
    UPDATE incident_recipients
       SET delivery = NEW.status,
           delivered_at = CASE WHEN NEW.status = 'sent' THEN NEW.sent_at ELSE delivered_at END
     WHERE outbox_id = NEW.id;
END;

-- The timeline learns two more events: the letter sent, and the last person told.
CREATE TABLE incident_events_next (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    incident_id   TEXT NOT NULL REFERENCES incidents(id),
    at            TEXT NOT NULL CHECK (at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    actor         TEXT NOT NULL,
    what          TEXT NOT NULL CHECK (what IN ('registered', 'updated', 'not_notified',
                                                'notice_edited', 'notice_phase_sent', 'closed',
                                                'reopened', 'deadline_warning',
                                                'letters_sent', 'letters_done')),
    detail        TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO incident_events_next SELECT id, workspace_id, incident_id, at, actor, what, detail FROM incident_events;
DROP TABLE incident_events;
ALTER TABLE incident_events_next RENAME TO incident_events;
CREATE INDEX incident_events_by_incident ON incident_events(incident_id, id);
CREATE TRIGGER incident_events_no_update BEFORE UPDATE ON incident_events
BEGIN
    SELECT RAISE(ABORT, 'the incident timeline is append-only');
END;
CREATE TRIGGER incident_events_no_delete BEFORE DELETE ON incident_events
BEGIN
    SELECT RAISE(ABORT, 'the incident timeline is append-only');
END;
