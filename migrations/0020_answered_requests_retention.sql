-- Answered data subject requests fall under one of Lethe's own rules, and the workspace setting
-- `request_deadline_days` goes.

-- Requests answered (completed, denied or expired) are kept for three years by default: the
-- GDPR's accountability (Art. 5(2), 24) asks the controller to show how each request was
-- answered and in time, and claims about an answer (a complaint to the authority, a court case)
-- are commonly brought within three years (the general limitation period in Germany, § 195
-- BGB, is three years). The operator can change or disable the rule (console, Lethe's own data).
-- Open requests are never pruned, however old.
INSERT INTO own_data_rules (target, days, updated_at)
    VALUES ('answered_requests', 1095, strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z')
    ON CONFLICT (target) DO NOTHING;

-- The pruning's walk: answered requests, oldest answer first.
CREATE INDEX requests_answered_by_completion ON requests(completed_at)
    WHERE completed_at IS NOT NULL;

-- What goes with a pruned request: its timeline (`request_events`), its links
-- (`request_links`) and its deadline warnings (`request_warnings`) by their ON DELETE CASCADE.
-- An objection or withdrawal it recorded on a subject (`subject_objections`) stays in force:
-- that foreign key is ON DELETE SET NULL since migration 0018, so no rebuild is needed here.

-- Predates the legal clocks (domain::request_clock), which set every deadline; nothing reads it.
-- A column constraint of its own (its CHECK) and no index, trigger or view naming it: SQLite
-- drops it in place.
ALTER TABLE workspaces DROP COLUMN request_deadline_days;
