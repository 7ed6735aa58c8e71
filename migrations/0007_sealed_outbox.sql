-- Subscribers' addresses and outbox messages are sealed (AES-256-GCM) under the workspace's
-- `outbox` data key in keys.db, bound to workspace and row id: no personal value (an address, an
-- e-mail text, a confirmation or unsubscribe link) stays in these tables in the clear.
--
-- SQLite cannot seal, so this migration leaves the main tables without any plaintext column and
-- moves each plain value into a staging table (`unsealed_*`). At start, before anything is
-- served, `services::outbox::seal_stored_plaintext` seals every staged value into its row,
-- deletes the staged row (`secure_delete` zeroes the freed bytes) and truncates the WAL. The
-- staging tables are empty from the first start on: new rows are sealed when they are written.
-- This migration depends on nothing after 0005.

-- policy_subscribers is rebuilt: UNIQUE (workspace_id, email) becomes a unique blind index, which
-- ALTER TABLE cannot do. No table references it, so the rebuild is safe.
CREATE TABLE policy_subscribers_sealed (
    id                  INTEGER PRIMARY KEY,
    workspace_id        INTEGER NOT NULL REFERENCES workspaces(id),
    -- HMAC-SHA256 of the normalised address under the workspace's index key (as
    -- subjects.email_index): look-up and uniqueness without the address. NULL only until a
    -- staged row is sealed at start.
    email_index         BLOB,
    -- The address, sealed under the workspace's outbox key and bound to workspace and row id.
    email_sealed        BLOB,
    confirm_digest      TEXT,
    confirmed_at        TEXT,
    -- Each notice carries a fresh unsubscribe link; the latest one works.
    unsubscribe_digest  TEXT NOT NULL,
    created_at          TEXT NOT NULL
);
INSERT INTO policy_subscribers_sealed
    (id, workspace_id, confirm_digest, confirmed_at, unsubscribe_digest, created_at)
SELECT id, workspace_id, confirm_digest, confirmed_at, unsubscribe_digest, created_at
FROM policy_subscribers;

-- Addresses stored in the clear before this migration, until start-up seals them. (The reference
-- follows the rename below.)
CREATE TABLE unsealed_policy_subscribers (
    subscriber_id  INTEGER PRIMARY KEY REFERENCES policy_subscribers_sealed(id) ON DELETE CASCADE,
    email          TEXT NOT NULL
);
INSERT INTO unsealed_policy_subscribers (subscriber_id, email)
SELECT id, email FROM policy_subscribers;

DROP TABLE policy_subscribers;
ALTER TABLE policy_subscribers_sealed RENAME TO policy_subscribers;
CREATE UNIQUE INDEX policy_subscribers_email ON policy_subscribers(workspace_id, email_index);
CREATE INDEX policy_subscribers_confirm ON policy_subscribers(confirm_digest);
CREATE INDEX policy_subscribers_unsubscribe ON policy_subscribers(unsubscribe_digest);

-- outbox_messages is referenced by delivery_attempts (and may be by later tables), so it is not
-- rebuilt: its plain columns are dropped instead, after their values were staged.
CREATE TABLE unsealed_outbox_messages (
    message_id  INTEGER PRIMARY KEY REFERENCES outbox_messages(id) ON DELETE CASCADE,
    recipient   TEXT NOT NULL,
    body        TEXT NOT NULL
);
INSERT INTO unsealed_outbox_messages (message_id, recipient, body)
SELECT id, recipient, body FROM outbox_messages;
ALTER TABLE outbox_messages DROP COLUMN recipient;
ALTER TABLE outbox_messages DROP COLUMN body;
-- JSON {"recipient", "body"} (an e-mail address or a URL; the e-mail text or the webhook's JSON
-- payload), sealed under the workspace's outbox key and bound to workspace and message id. Written
-- right after the row's insert, in the same transaction (the id is only known then). NULL only
-- until a staged message is sealed at start.
ALTER TABLE outbox_messages ADD COLUMN sealed BLOB;
-- The subscriber an e-mail goes to: unsubscribing deletes their queued mail. NULL for webhooks,
-- and once the subscriber is gone (their sent mail stays, as delivery history).
ALTER TABLE outbox_messages ADD COLUMN subscriber_id INTEGER
    REFERENCES policy_subscribers(id) ON DELETE SET NULL;
UPDATE outbox_messages SET subscriber_id = (
    SELECT p.id FROM unsealed_outbox_messages u
    JOIN unsealed_policy_subscribers s ON s.email = u.recipient
    JOIN policy_subscribers p ON p.id = s.subscriber_id
    WHERE u.message_id = outbox_messages.id AND p.workspace_id = outbox_messages.workspace_id
)
WHERE kind = 'email';
CREATE INDEX outbox_messages_subscriber ON outbox_messages(subscriber_id)
    WHERE subscriber_id IS NOT NULL;

-- Mail to someone who left is neither sent nor kept: however a subscriber is deleted
-- (unsubscribing, a retention rule), their still-queued messages go in the same statement.
-- BEFORE, so that it runs while subscriber_id still names them (ON DELETE SET NULL follows).
CREATE TRIGGER policy_subscribers_purge_queued BEFORE DELETE ON policy_subscribers
BEGIN
    DELETE FROM delivery_attempts WHERE message_id IN (
        SELECT id FROM outbox_messages WHERE subscriber_id = OLD.id AND status = 'queued');
    DELETE FROM outbox_messages WHERE subscriber_id = OLD.id AND status = 'queued';
END;
