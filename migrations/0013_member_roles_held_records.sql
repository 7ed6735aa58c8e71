-- A member may hold several roles in a workspace (a one-person business is owner and privacy
-- officer at once); what they may do is the union of their roles' permissions. Each membership
-- keeps at least one role (services::workspaces refuses an empty set).

CREATE TABLE membership_roles (
    workspace_id  INTEGER NOT NULL,
    staff_id      INTEGER NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'privacy_officer', 'support', 'auditor')),
    PRIMARY KEY (workspace_id, staff_id, role),
    FOREIGN KEY (workspace_id, staff_id) REFERENCES memberships(workspace_id, staff_id) ON DELETE CASCADE
);
-- The last-owner rule counts a workspace's owners.
CREATE INDEX membership_roles_by_role ON membership_roles(workspace_id, role);

INSERT INTO membership_roles (workspace_id, staff_id, role)
    SELECT workspace_id, staff_id, role FROM memberships;

ALTER TABLE memberships DROP COLUMN role;

-- Records a legal hold keeps of erased people are read by hold (GET /api/v1/legal-holds/{key}/records).
CREATE INDEX records_held ON records(workspace_id, hold_key, occurred_at) WHERE hold_key IS NOT NULL;
