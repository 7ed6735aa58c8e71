-- Policy versions: a draft is editable; a published version keeps the text it was rendered to,
-- and the inventory it was rendered from (to tell what drifted since), forever.

CREATE TABLE policy_versions (
    id                  INTEGER PRIMARY KEY,
    workspace_id        INTEGER NOT NULL REFERENCES workspaces(id),
    version             INTEGER NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('draft', 'published')),
    markdown            TEXT NOT NULL,
    material            INTEGER NOT NULL CHECK (material IN (0, 1)),
    summary             TEXT NOT NULL,
    created_by          TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    published_at        TEXT,
    effective_at        TEXT,
    rendered_markdown   TEXT,
    rendered_html       TEXT,
    inventory_snapshot  TEXT,
    UNIQUE (workspace_id, version)
);
CREATE INDEX policy_versions_effective ON policy_versions(workspace_id, status, effective_at);

CREATE TRIGGER policy_versions_published_are_immutable BEFORE UPDATE ON policy_versions
WHEN OLD.status = 'published'
BEGIN
    SELECT RAISE(ABORT, 'a published policy version is immutable');
END;
CREATE TRIGGER policy_versions_published_stay BEFORE DELETE ON policy_versions
WHEN OLD.status = 'published'
BEGIN
    SELECT RAISE(ABORT, 'a published policy version is immutable');
END;
