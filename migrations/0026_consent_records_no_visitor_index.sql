-- Nothing looks a visitor's decisions up by their digest: the banner keeps a visitor's current
-- choices in their own cookie, and retention prunes visitors' decisions by age. The index on
-- `visitor_index` only cost every decision a write to a page chosen at random (the digest is
-- random), which made it the largest part of each group commit. A lookup by visitor, should one
-- be needed (a rare request), reads the workspace's decisions by time.
DROP INDEX consent_records_by_visitor;
