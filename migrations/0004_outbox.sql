-- The outbox: one durable queue for everything Lethe sends (e-mail over SMTP, signed webhooks),
-- a record of every delivery attempt, webhook endpoints, e-mail subscribers to policy changes,
-- and which policy versions have been announced.

CREATE TABLE webhook_endpoints (
    id                   INTEGER PRIMARY KEY,
    workspace_id         INTEGER NOT NULL REFERENCES workspaces(id),
    url                  TEXT NOT NULL,
    -- Needed in the clear to sign each delivery; shown to staff once, never logged.
    secret               TEXT NOT NULL,
    -- Comma-separated event names, e.g. 'policy.published'.
    events               TEXT NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    disabled_at          TEXT,
    created_by           TEXT NOT NULL,
    created_at           TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_workspace ON webhook_endpoints(workspace_id);

CREATE TABLE outbox_messages (
    id              INTEGER PRIMARY KEY,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces(id),
    kind            TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
    -- An e-mail address or a URL.
    recipient       TEXT NOT NULL,
    -- The webhook endpoint a webhook goes to (its secret signs it); NULL for e-mail or once the
    -- endpoint was deleted.
    endpoint_id     INTEGER REFERENCES webhook_endpoints(id) ON DELETE SET NULL,
    -- E-mail subject, or the webhook's event name.
    subject         TEXT NOT NULL,
    -- E-mail text, or the webhook's JSON payload.
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'disabled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    last_error      TEXT
);
CREATE INDEX outbox_messages_due ON outbox_messages(status, next_attempt_at);
CREATE INDEX outbox_messages_workspace ON outbox_messages(workspace_id, id);

CREATE TABLE delivery_attempts (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES outbox_messages(id),
    at          TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    latency_ms  INTEGER NOT NULL,
    error       TEXT
);
CREATE INDEX delivery_attempts_message ON delivery_attempts(message_id);

CREATE TABLE policy_subscribers (
    id                  INTEGER PRIMARY KEY,
    workspace_id        INTEGER NOT NULL REFERENCES workspaces(id),
    email               TEXT NOT NULL,
    confirm_digest      TEXT,
    confirmed_at        TEXT,
    -- Each notice carries a fresh unsubscribe link; the latest one works.
    unsubscribe_digest  TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    UNIQUE (workspace_id, email)
);
CREATE INDEX policy_subscribers_confirm ON policy_subscribers(confirm_digest);
CREATE INDEX policy_subscribers_unsubscribe ON policy_subscribers(unsubscribe_digest);

-- A policy version is announced once: this row is written in the transaction that queues the
-- notices.
CREATE TABLE policy_notifications (
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    version       INTEGER NOT NULL,
    notified_at   TEXT NOT NULL,
    recipients    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, version)
);

-- Versions already in force when the outbox arrived are not announced after the fact.
INSERT INTO policy_notifications (workspace_id, version, notified_at, recipients)
SELECT workspace_id, version, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0
FROM policy_versions
WHERE status = 'published' AND effective_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
