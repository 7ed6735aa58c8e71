-- Free-text reasons are personal data about the person they concern ("called about her
-- divorce"): a reader's reason in the subject access log and the reason for a restriction are
-- sealed under the person's own key, so erasing the person makes them unreadable too.
--
-- SQLite cannot seal: this adds the sealed columns, and at start, before anything is served,
-- `services::subjects::seal_stored_reasons` seals every plain reason an older Lethe stored and
-- empties its plain column (`secure_delete` zeroes the freed bytes; the WAL is truncated). New
-- rows are sealed when they are written; the plain columns stay empty.
ALTER TABLE subject_access_log ADD COLUMN reason_sealed BLOB;
ALTER TABLE subjects ADD COLUMN restricted_reason_sealed BLOB;
