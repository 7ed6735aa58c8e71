-- The staff side of data subject requests (issue 16): the law a workspace's requests fall under
-- by default, and the deadline warnings already sent.

-- The law a request falls under when it does not name one (services::requests::create_verified).
-- Existing workspaces keep what every request got until now: GDPR.
ALTER TABLE workspaces ADD COLUMN request_law TEXT NOT NULL DEFAULT 'gdpr'
    CHECK (request_law IN ('gdpr', 'ccpa'));

-- One row per warning e-mailed to a workspace's owners and privacy officers: a request, a
-- threshold and the deadline it was about. Keyed by the deadline too, so an extended request is
-- warned again before its new deadline, and never twice before the same one.
CREATE TABLE request_warnings (
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    request_id    TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    threshold     TEXT NOT NULL CHECK (threshold IN ('7_days', '2_days', 'overdue')),
    due_at        TEXT NOT NULL CHECK (due_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    sent_at       TEXT NOT NULL CHECK (sent_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (request_id, threshold, due_at)
);
