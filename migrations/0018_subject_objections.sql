-- Objections and withdrawals of consent a person made through a data subject request (issue 16):
-- recorded on the subject, in force from `at`. Consent answers (the consent issue) are to read
-- them; today the API's and the console's subject views show them.
--
-- At rest: only codes, the inventory purpose's key (an operator's name, not the person's), a time
-- and the request's id; nothing the person typed.
CREATE TABLE subject_objections (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    subject_id    INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    -- `objection`: to one purpose; `withdrawal`: of consent, for every purpose based on it.
    kind          TEXT NOT NULL CHECK (kind IN ('objection', 'withdrawal')),
    purpose_key   TEXT,
    at            TEXT NOT NULL CHECK (at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- The request that made it; kept when the request goes.
    request_id    TEXT REFERENCES requests(id) ON DELETE SET NULL,
    CHECK ((kind = 'objection') = (purpose_key IS NOT NULL))
);
CREATE INDEX subject_objections_by_subject ON subject_objections(workspace_id, subject_id, id);
