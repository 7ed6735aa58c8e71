-- The consent banner (issue 17). A consent purpose lists the cookies and local-storage keys set
-- for it (JSON arrays of names; a trailing `*` is a prefix), which the banner deletes when the
-- purpose is refused or consent withdrawn, and whether it is a sale, sharing or targeted
-- advertising (refused under Global Privacy Control). A workspace names the site origins that
-- may post decisions and the parent domain its cookies are set on.
--
-- ADD COLUMN keeps the tables and so their content_versions triggers (migration 0014): the
-- banner's cached configuration is built from these rows.

ALTER TABLE purposes ADD COLUMN cookies TEXT NOT NULL DEFAULT '[]';
ALTER TABLE purposes ADD COLUMN local_storage TEXT NOT NULL DEFAULT '[]';
ALTER TABLE purposes ADD COLUMN opt_out_of_sale INTEGER NOT NULL DEFAULT 0
    CHECK (opt_out_of_sale IN (0, 1));

ALTER TABLE workspaces ADD COLUMN consent_origins TEXT NOT NULL DEFAULT '[]';
ALTER TABLE workspaces ADD COLUMN consent_cookie_domain TEXT;
