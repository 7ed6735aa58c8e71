-- Tasks for the operator's other systems (issue 16, point 5). When Lethe carries out a request for
-- a person it knows, every system of the inventory that holds one of the categories the person
-- has records in gets a task. A system with a webhook endpoint bound to it is told by a signed
-- `request.task.created` webhook and reports back through the API; any other system's task is
-- manual, for staff to tick off. The request completes when all its tasks have.
--
-- At rest: the system's key and name (the operator's words), codes and times in the clear; the
-- data a system attaches to an access or export request is personal and kept only sealed under
-- the workspace's `requests` key, bound to `workspace/request id/task/system key`, until the
-- package can no longer be downloaded.
CREATE TABLE request_tasks (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    request_id    TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    system_key    TEXT NOT NULL,
    -- The system's name when the task was made: the task outlives the system's inventory entry.
    system_name   TEXT NOT NULL,
    channel       TEXT NOT NULL CHECK (channel IN ('webhook', 'manual')),
    created_at    TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    done_at       TEXT CHECK (done_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- The audit log's actor label of whoever reported it done.
    done_by       TEXT,
    data_sealed   BLOB,
    UNIQUE (request_id, system_key),
    CHECK ((done_at IS NULL) = (done_by IS NULL))
);
CREATE INDEX request_tasks_by_workspace ON request_tasks(workspace_id, request_id);

-- The system a webhook endpoint speaks for: it receives that system's tasks.
ALTER TABLE webhook_endpoints ADD COLUMN system_key TEXT;

-- The timeline learns three steps: Lethe's own part done (its answer, kept while tasks are open),
-- a task opened and a task done. SQLite changes a CHECK only by rebuilding the table; nothing
-- refers to it.
CREATE TABLE request_events_new (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    request_id    TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    at            TEXT NOT NULL CHECK (at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    actor         TEXT NOT NULL,
    what          TEXT NOT NULL CHECK (what IN ('received', 'verified', 'started', 'extended',
                                                'completed', 'denied', 'expired', 'carried_out',
                                                'task_opened', 'task_done')),
    detail_sealed BLOB
);
INSERT INTO request_events_new (id, workspace_id, request_id, at, actor, what, detail_sealed)
    SELECT id, workspace_id, request_id, at, actor, what, detail_sealed FROM request_events;
DROP TABLE request_events;
ALTER TABLE request_events_new RENAME TO request_events;
CREATE INDEX request_events_by_request ON request_events(request_id, id);

-- Whether staff review each verified request before Lethe carries it out (off: Lethe carries
-- it out as soon as it is verified, as the law's "without undue delay" asks).
ALTER TABLE workspaces ADD COLUMN review_requests INTEGER NOT NULL DEFAULT 0
    CHECK (review_requests IN (0, 1));
