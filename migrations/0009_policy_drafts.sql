-- Drafts saved from a browser kept its CRLF line ends; every path now stores LF, and drafts
-- stored before are normalised here. Published versions are immutable (trigger) and are left
-- as they are: comparisons normalise them instead.
UPDATE policy_versions
SET markdown = replace(replace(markdown, char(13) || char(10), char(10)), char(13), char(10))
WHERE status = 'draft' AND instr(markdown, char(13)) > 0;

-- Drafts can be deleted; their numbers are never given out again, so a version number (in the
-- audit log, in a link) names one text only. The last number issued per workspace:
CREATE TABLE policy_version_numbers (
    workspace_id  INTEGER PRIMARY KEY REFERENCES workspaces(id),
    last_issued   INTEGER NOT NULL
);
INSERT INTO policy_version_numbers (workspace_id, last_issued)
SELECT workspace_id, max(version) FROM policy_versions GROUP BY workspace_id;
