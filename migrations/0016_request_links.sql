-- Links a person follows for a data subject request made on the privacy center (issue 16): the
-- e-mail verification link (single use, expiring) and status links (one per e-mail sent to the
-- person, each working for as long as the request exists).
--
-- Only the token's SHA-256 digest is stored: a copy of this file cannot verify a request or read
-- its status. The rows go with their request (an expired, unverified request is deleted whole).
CREATE TABLE request_links (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    request_id    TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    purpose       TEXT NOT NULL CHECK (purpose IN ('verify', 'status')),
    digest        TEXT NOT NULL UNIQUE CHECK (length(digest) = 64),
    created_at    TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- A verification link's end; status links have none.
    expires_at    TEXT CHECK (expires_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    used_at       TEXT CHECK (used_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    CHECK ((purpose = 'verify') = (expires_at IS NOT NULL)),
    CHECK (purpose = 'verify' OR used_at IS NULL)
);
CREATE INDEX request_links_by_request ON request_links(request_id);
-- The expiry job's walk: unverified requests whose verification link has ended.
CREATE INDEX request_links_verify_by_expiry ON request_links(expires_at) WHERE purpose = 'verify';
