-- Password reset by e-mail. Staff accounts are instance-wide, so their mail is too:
--
-- * `outbox_messages.workspace_id` may be NULL: an instance message (a password reset link),
--   sealed under the instance's outbox key in keys.db instead of a workspace's. Only e-mail can
--   be an instance message (no endpoint, no subscriber). A workspace's lists ask for
--   `workspace_id = ?`, which NULL never equals, so instance mail never shows there.
-- * `one_time_tokens.purpose` gains 'reset' (single use, expiring, stored as SHA-256 like the
--   others).
--
-- SQLite can change neither NOT NULL nor a CHECK in place, so both tables are rebuilt.
-- `outbox_messages` is referenced by `delivery_attempts` and `unsealed_outbox_messages`, and
-- foreign keys are on: the children are rebuilt with it and dropped first, then the new tables
-- are renamed into place (renaming rewrites the children's references, as in 0011).

CREATE TABLE one_time_tokens_next (
    token_hash  TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('setup', 'invite', 'reset')),
    staff_id    INTEGER REFERENCES staff(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
INSERT INTO one_time_tokens_next (token_hash, purpose, staff_id, created_at, expires_at, used_at)
    SELECT token_hash, purpose, staff_id, created_at, expires_at, used_at FROM one_time_tokens;
DROP TABLE one_time_tokens;
ALTER TABLE one_time_tokens_next RENAME TO one_time_tokens;
CREATE INDEX one_time_tokens_by_staff ON one_time_tokens(staff_id, purpose);

CREATE TABLE outbox_messages_next (
    id              INTEGER PRIMARY KEY,
    -- NULL: an instance message (staff mail), sealed under the instance's outbox key.
    workspace_id    INTEGER REFERENCES workspaces(id),
    kind            TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
    endpoint_id     INTEGER REFERENCES webhook_endpoints(id) ON DELETE SET NULL,
    subject         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'disabled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    last_error      TEXT,
    -- Recipient and body, sealed (see 0007).
    sealed          BLOB,
    subscriber_id   INTEGER REFERENCES policy_subscribers(id) ON DELETE SET NULL,
    CHECK (workspace_id IS NOT NULL
           OR (kind = 'email' AND endpoint_id IS NULL AND subscriber_id IS NULL))
);
INSERT INTO outbox_messages_next (id, workspace_id, kind, endpoint_id, subject, status, attempts,
        next_attempt_at, created_at, sent_at, last_error, sealed, subscriber_id)
    SELECT id, workspace_id, kind, endpoint_id, subject, status, attempts, next_attempt_at,
        created_at, sent_at, last_error, sealed, subscriber_id
    FROM outbox_messages;

CREATE TABLE delivery_attempts_next (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES outbox_messages_next(id),
    at          TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    latency_ms  INTEGER NOT NULL,
    error       TEXT
);
INSERT INTO delivery_attempts_next (id, message_id, at, status, latency_ms, error)
    SELECT id, message_id, at, status, latency_ms, error FROM delivery_attempts;

CREATE TABLE unsealed_outbox_messages_next (
    message_id  INTEGER PRIMARY KEY REFERENCES outbox_messages_next(id) ON DELETE CASCADE,
    recipient   TEXT NOT NULL,
    body        TEXT NOT NULL
);
INSERT INTO unsealed_outbox_messages_next (message_id, recipient, body)
    SELECT message_id, recipient, body FROM unsealed_outbox_messages;

DROP TRIGGER policy_subscribers_purge_queued;
DROP TABLE delivery_attempts;
DROP TABLE unsealed_outbox_messages;
DROP TABLE outbox_messages;
ALTER TABLE outbox_messages_next RENAME TO outbox_messages;
ALTER TABLE delivery_attempts_next RENAME TO delivery_attempts;
ALTER TABLE unsealed_outbox_messages_next RENAME TO unsealed_outbox_messages;

CREATE INDEX outbox_messages_due ON outbox_messages(status, next_attempt_at);
CREATE INDEX outbox_messages_workspace ON outbox_messages(workspace_id, id);
CREATE INDEX outbox_messages_subscriber ON outbox_messages(subscriber_id)
    WHERE subscriber_id IS NOT NULL;
CREATE INDEX delivery_attempts_message ON delivery_attempts(message_id);

-- As in 0007: however a subscriber is deleted, their still-queued mail goes in the same statement.
CREATE TRIGGER policy_subscribers_purge_queued BEFORE DELETE ON policy_subscribers
BEGIN
    DELETE FROM delivery_attempts WHERE message_id IN (
        SELECT id FROM outbox_messages WHERE subscriber_id = OLD.id AND status = 'queued');
    DELETE FROM outbox_messages WHERE subscriber_id = OLD.id AND status = 'queued';
END;
