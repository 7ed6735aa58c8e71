-- What the inventory must say for the published policy to be true (issue: a policy that cannot
-- lie). A consent purpose names the question its banner asks; a transfer under an Art. 49
-- derogation names which one. Both are NULL where they do not apply. Recipients stored before
-- transfers were checked (a US recipient as "no transfer") are left as they are: the inventory
-- check reports them as errors, and publication is refused until they are fixed.
ALTER TABLE purposes ADD COLUMN consent_prompt TEXT;
ALTER TABLE recipients ADD COLUMN derogation TEXT;

-- Notice before material changes: a material version takes effect no sooner than the workspace's
-- notice period after publication, unless an owner records why it cannot wait (a legal change);
-- that reason is published with the version, so it is not a secret.
ALTER TABLE workspaces ADD COLUMN notice_days INTEGER NOT NULL DEFAULT 30
    CHECK (notice_days BETWEEN 0 AND 365);
ALTER TABLE policy_versions ADD COLUMN notice_waiver TEXT;
