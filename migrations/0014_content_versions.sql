-- What the cached reads (the inventory JSON, the privacy center's policy page) are built from
-- has a version per workspace, bumped by triggers on every table whose rows feed them, so that
-- every writer (the services, imports, the shell, a later migration, an operator's sqlite3)
-- invalidates the cache without knowing of it. A version is only ever bumped, never reset: a
-- cached copy is served only while its version is the one stored here.

CREATE TABLE content_versions (
    workspace_id  INTEGER PRIMARY KEY,
    version       INTEGER NOT NULL
);
INSERT INTO content_versions (workspace_id, version) SELECT id, 1 FROM workspaces;

-- The workspace itself: its name, slug and settings appear on the page.
CREATE TRIGGER workspaces_content_insert AFTER INSERT ON workspaces
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER workspaces_content_update AFTER UPDATE ON workspaces
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;

-- Tables with a workspace_id: the inventory's six kinds of item and the policy versions.
CREATE TRIGGER data_categories_content_insert AFTER INSERT ON data_categories
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER data_categories_content_update AFTER UPDATE ON data_categories
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER data_categories_content_delete AFTER DELETE ON data_categories
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER purposes_content_insert AFTER INSERT ON purposes
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER purposes_content_update AFTER UPDATE ON purposes
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER purposes_content_delete AFTER DELETE ON purposes
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER systems_content_insert AFTER INSERT ON systems
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER systems_content_update AFTER UPDATE ON systems
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER systems_content_delete AFTER DELETE ON systems
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER recipients_content_insert AFTER INSERT ON recipients
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER recipients_content_update AFTER UPDATE ON recipients
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER recipients_content_delete AFTER DELETE ON recipients
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER retention_rules_content_insert AFTER INSERT ON retention_rules
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER retention_rules_content_update AFTER UPDATE ON retention_rules
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER retention_rules_content_delete AFTER DELETE ON retention_rules
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER legal_holds_content_insert AFTER INSERT ON legal_holds
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER legal_holds_content_update AFTER UPDATE ON legal_holds
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER legal_holds_content_delete AFTER DELETE ON legal_holds
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER policy_versions_content_insert AFTER INSERT ON policy_versions
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER policy_versions_content_update AFTER UPDATE ON policy_versions
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
    INSERT INTO content_versions (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER policy_versions_content_delete AFTER DELETE ON policy_versions
BEGIN
    INSERT INTO content_versions (workspace_id, version) VALUES (OLD.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;

-- Link tables name their workspace through the item they belong to. When the item itself is
-- being deleted (ON DELETE CASCADE), the look-up finds nothing and bumps nothing: the item's
-- own trigger has bumped already.
CREATE TRIGGER purpose_categories_content_insert AFTER INSERT ON purpose_categories
BEGIN
    INSERT INTO content_versions (workspace_id, version)
        SELECT workspace_id, 1 FROM purposes WHERE id = NEW.purpose_id
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER purpose_categories_content_update AFTER UPDATE ON purpose_categories
BEGIN
    INSERT INTO content_versions (workspace_id, version)
        SELECT workspace_id, 1 FROM purposes WHERE id = OLD.purpose_id
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
    INSERT INTO content_versions (workspace_id, version)
        SELECT workspace_id, 1 FROM purposes WHERE id = NEW.purpose_id
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER purpose_categories_content_delete AFTER DELETE ON purpose_categories
BEGIN
    INSERT INTO content_versions (workspace_id, version)
        SELECT workspace_id, 1 FROM purposes WHERE id = OLD.purpose_id
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER system_categories_content_insert AFTER INSERT ON system_categories
BEGIN
    INSERT INTO content_versions (workspace_id, version)
        SELECT workspace_id, 1 FROM systems WHERE id = NEW.system_id
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER system_categories_content_update AFTER UPDATE ON system_categories
BEGIN
    INSERT INTO content_versions (workspace_id, version)
        SELECT workspace_id, 1 FROM systems WHERE id = OLD.system_id
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
    INSERT INTO content_versions (workspace_id, version)
        SELECT workspace_id, 1 FROM systems WHERE id = NEW.system_id
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER system_categories_content_delete AFTER DELETE ON system_categories
BEGIN
    INSERT INTO content_versions (workspace_id, version)
        SELECT workspace_id, 1 FROM systems WHERE id = OLD.system_id
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER recipient_categories_content_insert AFTER INSERT ON recipient_categories
BEGIN
    INSERT INTO content_versions (workspace_id, version)
        SELECT workspace_id, 1 FROM recipients WHERE id = NEW.recipient_id
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER recipient_categories_content_update AFTER UPDATE ON recipient_categories
BEGIN
    INSERT INTO content_versions (workspace_id, version)
        SELECT workspace_id, 1 FROM recipients WHERE id = OLD.recipient_id
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
    INSERT INTO content_versions (workspace_id, version)
        SELECT workspace_id, 1 FROM recipients WHERE id = NEW.recipient_id
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER recipient_categories_content_delete AFTER DELETE ON recipient_categories
BEGIN
    INSERT INTO content_versions (workspace_id, version)
        SELECT workspace_id, 1 FROM recipients WHERE id = OLD.recipient_id
        ON CONFLICT (workspace_id) DO UPDATE SET version = version + 1;
END;
