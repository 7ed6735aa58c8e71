//! One rule's run: every record of its category past its period is deleted, or anonymized field
//! by field, in batches. Each batch is read without a lock, transformed (decrypt, apply,
//! re-seal) without a lock, then written in one short transaction together with the run's new
//! position, so a run cut short (kill -9, shutdown) resumes exactly where it stopped: no record
//! skipped, none changed twice, and live writes get through between batches.

use super::{Progress, RunOutcome, RunRequest, lease_name};
use crate::domain::inventory::{RetentionAction, RetentionRule};
use crate::domain::retention::{self, Cursor, RunCounts, applied_with, governing_hold};
use crate::domain::transform;
use crate::error::AppError;
use crate::store::records::StoredRecord;
use crate::store::retention::{self as runs, Anonymized, Due, DueRow, NewRun};
use crate::store::{Db, WorkspaceScope, inventory, jobs};
use crate::vault::{self, KeyPurpose, KeyRing, SecretKey, Vault};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

/// How long a run's lease lasts without a batch renewing it: after a crash, another process
/// (or the restarted one) takes over once it has expired.
pub const LEASE: Duration = Duration::seconds(30);

/// The records a rule is due for, given the cutoff.
pub(super) fn due_query(rule: &RetentionRule, cutoff: DateTime<Utc>) -> Due<'_> {
    Due {
        category: &rule.category,
        trigger: rule.trigger,
        cutoff,
        anonymize_rule: (rule.action == RetentionAction::Anonymize).then_some(rule.key.as_str()),
    }
}

/// Takes the workspace's lease, waiting while another run holds it if asked to.
pub(super) fn take_lease(
    db: &Db,
    scope: &WorkspaceScope,
    holder: &str,
    wait: bool,
    stop: &dyn Fn() -> bool,
) -> Result<bool, AppError> {
    let name = lease_name(scope);
    loop {
        let now = Utc::now();
        // Waiting runs look with a read first, so they do not queue for the write lock that
        // the running one and live traffic need.
        let held = db
            .read(|c| jobs::lease_holder(c, &name, now))?
            .is_some_and(|h| h != holder);
        if !held && db.write(|tx| jobs::take_lease(tx, &name, holder, now, now + LEASE))? {
            return Ok(true);
        }
        if !wait {
            return Err(AppError::Conflict(
                "a retention run is already in progress in this workspace; start this one when \
                 it has finished"
                    .into(),
            ));
        }
        if stop() {
            return Ok(false);
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Runs (or resumes) a rule. The caller holds the workspace's lease as `holder`.
pub(super) fn run(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    req: &RunRequest<'_>,
    holder: &str,
    stop: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<RunOutcome, AppError> {
    let rule = req.rule;
    let now = Utc::now();
    let inventory = db.read(|c| inventory::load(c, scope))?;
    let (run_id, cutoff, cursor, mut counts, resumed) =
        match db.read(|c| runs::open_run(c, scope, &rule.key))? {
            // A row written by hand before its first batch starts like a new run.
            Some(open) => (
                open.id,
                open.cutoff,
                open.cursor,
                open.counts,
                open.batches > 0,
            ),
            None => {
                let cutoff = retention::cutoff(rule, now);
                let id = db.write(|tx| {
                    runs::start_run(
                        tx,
                        scope,
                        &NewRun {
                            rule_key: &rule.key,
                            category: &rule.category,
                            action: rule.action,
                            started_by: &req.started_by,
                            dry_run: false,
                            cutoff,
                            now,
                        },
                    )
                })?;
                (id, cutoff, Cursor::default(), RunCounts::default(), false)
            }
        };
    let q = due_query(rule, cutoff);
    let total = counts.scanned + db.read(|c| runs::count_due(c, scope, &q))?;
    if !resumed {
        counts.held +=
            db.read(|c| runs::count_held_after_erasure(c, scope, &rule.category, cutoff))?;
    }
    let today = now.date_naive();
    if let Some(hold) = governing_hold(&inventory.legal_holds, &rule.category, today) {
        // A hold wins over deletion and alteration alike: every due record is kept as it is.
        let due = db.read(|c| runs::count_due(c, scope, &q))?;
        counts.scanned += due;
        counts.held += due;
        let note = format!("legal hold '{}' keeps this category", hold.key);
        db.write(|tx| {
            runs::end_run(
                tx,
                scope,
                run_id,
                &runs::RunEnd {
                    status: "completed",
                    counts: &counts,
                    last_error: Some(&note),
                    report: None,
                    now,
                },
            )
        })?;
        return Ok(RunOutcome {
            run_id,
            status: "completed",
            counts,
        });
    }
    let start = Start {
        run_id,
        cutoff,
        cursor,
        counts,
        total,
    };
    let result = run_batches(db, vault, scope, req, holder, stop, progress, start);
    let ended = match &result {
        Ok(o) => {
            let end = runs::RunEnd {
                status: o.status,
                counts: &o.counts,
                last_error: None,
                report: None,
                now: Utc::now(),
            };
            db.write(|tx| runs::end_run(tx, scope, run_id, &end))
        }
        // The run ends `failed`, with what went wrong (never a personal value) and the counts
        // of its committed batches: it is not resumed, the next run starts afresh.
        Err(e) => {
            let why = match e {
                AppError::Internal(inner) => format!("{inner:#}"),
                other => other.to_string(),
            };
            db.write(|tx| runs::fail_run(tx, scope, run_id, &why, Utc::now()))
        }
    };
    if let Err(e) = ended {
        tracing::error!(error = %e, run = run_id, "recording the end of a retention run failed");
    }
    result
}

/// Where a run starts (or resumes) from.
struct Start {
    run_id: i64,
    cutoff: DateTime<Utc>,
    cursor: Cursor,
    counts: RunCounts,
    /// Records the run will look at in all, for progress.
    total: u64,
}

/// The batches of a run, from its saved position until nothing is due or `stop` asks.
#[allow(clippy::too_many_arguments)]
fn run_batches(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    req: &RunRequest<'_>,
    holder: &str,
    stop: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(&Progress),
    start: Start,
) -> Result<RunOutcome, AppError> {
    let rule = req.rule;
    let Start {
        run_id,
        cutoff,
        mut cursor,
        mut counts,
        total,
    } = start;
    let q = due_query(rule, cutoff);
    let mut worker = Worker::new(vault, scope, rule)?;
    let lease = lease_name(scope);
    let mut pace = Pace::default();
    loop {
        if stop() {
            return Ok(RunOutcome {
                run_id,
                status: "interrupted",
                counts,
            });
        }
        let batch = db.read(|c| runs::due(c, scope, &q, &cursor, req.batch))?;
        if batch.is_empty() {
            break;
        }
        let preparing = std::time::Instant::now();
        let changes = worker.prepare(&batch);
        // The share of the batch's preparation (decrypting, transforming) behind each chunk.
        let prepared_per_chunk =
            preparing.elapsed() / changes.len().div_ceil(WRITE_CHUNK).max(1) as u32;
        let mut rest: &[Change] = &changes;
        while !rest.is_empty() {
            // With live writes about, the changes go in short transactions (a few milliseconds
            // of the write lock each), after the live batches already queued; alone, a whole
            // batch goes in one. Each transaction saves the position after its last record.
            let size = match &req.live {
                Some(live) if pace.live_writes(live) => {
                    // Live traffic gets the larger share of the time: the run rests three times
                    // as long as its last piece of work took, then lets queued batches through.
                    std::thread::sleep((pace.last_work * 3).min(MAX_REST));
                    yield_to(live);
                    WRITE_CHUNK
                }
                Some(_) => rest.len(),
                // Another process's live writes cannot be seen from here: stay short.
                None => WRITE_CHUNK,
            };
            let (chunk, later) = rest.split_at(size.min(rest.len()));
            rest = later;
            let Some(next) = chunk.last().map(|c| c.cursor.clone()) else {
                continue;
            };
            let stamp = Utc::now();
            let work = std::time::Instant::now();
            counts = db.write(|tx| {
                // The lease is renewed in the chunk's transaction: a run that lost it (it
                // stalled past the lease and another took over) writes nothing.
                if !jobs::take_lease(tx, &lease, holder, stamp, stamp + LEASE)? {
                    return Err(AppError::Conflict(
                        "this run lost its lease to another run of the workspace".into(),
                    ));
                }
                let mut c = counts;
                let mut first_error = None;
                for change in chunk {
                    c.scanned += 1;
                    match &change.what {
                        What::Delete(id) => {
                            if runs::delete_record(tx, scope, id)? {
                                c.deleted += 1;
                            }
                        }
                        What::Anonymize(a) => {
                            if runs::write_anonymized(tx, scope, &a.as_row())? {
                                c.changed += 1;
                            }
                        }
                        What::Error(message) => {
                            c.errors += 1;
                            first_error.get_or_insert(message.as_str());
                        }
                    }
                }
                runs::save_progress(tx, scope, run_id, &next, &c, first_error)?;
                Ok::<_, AppError>(c)
            })?;
            pace.last_work = work.elapsed() + prepared_per_chunk;
            cursor = next;
        }
        progress(&Progress { counts, total });
    }
    Ok(RunOutcome {
        run_id,
        status: "completed",
        counts,
    })
}

/// The longest a run rests between two transactions for live writes.
const MAX_REST: std::time::Duration = std::time::Duration::from_millis(50);

/// Whether live batches went through the record writer since the last look, and how long the
/// run's last piece of work took (it rests three times as long, when live writes are about).
#[derive(Default)]
struct Pace {
    seen: u64,
    last_work: std::time::Duration,
}

impl Pace {
    fn live_writes(&mut self, live: &crate::store::writer::WriterStats) -> bool {
        let now = live.batches.load(std::sync::atomic::Ordering::Relaxed);
        let moved = now != self.seen;
        self.seen = now;
        moved || live.busy()
    }
}

/// Waits (a little) while live batches are queued for the record writer, so the batch's
/// transaction comes after them instead of making them wait: SQLite's lock is not fair, and a
/// waiting writer sleeps in growing steps while a run would take the lock again at once.
fn yield_to(live: &crate::store::writer::WriterStats) {
    let until = std::time::Instant::now() + std::time::Duration::from_millis(100);
    while live.busy() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// The workspace's pseudonym key, when the rule makes pseudonyms.
pub(super) fn pseudonym_key(
    vault: &Vault,
    scope: &WorkspaceScope,
    rule: &RetentionRule,
) -> Result<Option<SecretKey>, AppError> {
    let makes_pseudonyms = rule
        .transforms
        .iter()
        .any(|t| matches!(t, transform::Transform::Pseudonym { .. }));
    Ok(if makes_pseudonyms {
        Some(
            vault
                .shared_key(scope, KeyPurpose::Pseudonym, "pseudonym")?
                .1,
        )
    } else {
        None
    })
}

/// A record's new form, owned until the batch's transaction writes it.
struct AnonymizedRecord {
    id: String,
    was_key_id: String,
    was_period_key_id: Option<String>,
    key_id: String,
    subject_id: Option<i64>,
    sealed_fields: Vec<u8>,
    anonymized_by: String,
}

impl AnonymizedRecord {
    fn as_row(&self) -> Anonymized<'_> {
        Anonymized {
            id: &self.id,
            was_key_id: &self.was_key_id,
            was_period_key_id: self.was_period_key_id.as_deref(),
            key_id: &self.key_id,
            subject_id: self.subject_id,
            sealed_fields: &self.sealed_fields,
            anonymized_by: &self.anonymized_by,
        }
    }
}

/// Records a run changes per transaction: a few milliseconds of the write lock.
const WRITE_CHUNK: usize = 200;

/// What happens to one due record, at its place in the walk.
struct Change {
    cursor: Cursor,
    what: What,
}

enum What {
    Delete(String),
    Anonymize(AnonymizedRecord),
    /// It cannot be handled (never a personal value in the message); it is left as it is.
    Error(String),
}

/// What a run needs across batches: the keys that outlive it.
struct Worker<'a> {
    vault: &'a Vault,
    scope: &'a WorkspaceScope,
    rule: &'a RetentionRule,
    pseudonym_key: Option<SecretKey>,
    retained: Option<(String, SecretKey)>,
}

impl<'a> Worker<'a> {
    fn new(
        vault: &'a Vault,
        scope: &'a WorkspaceScope,
        rule: &'a RetentionRule,
    ) -> Result<Self, AppError> {
        let pseudonym_key = pseudonym_key(vault, scope, rule)?;
        Ok(Worker {
            vault,
            scope,
            rule,
            pseudonym_key,
            retained: None,
        })
    }

    /// Decides (and, for anonymization, computes) every change of a batch, in walk order; no
    /// lock is held. A row that cannot be read (a stored time that does not parse) is an error
    /// of the run, and left as it is: never taken for an ancient record.
    fn prepare(&mut self, rows: &[DueRow]) -> Vec<Change> {
        let readable: Vec<&StoredRecord> =
            rows.iter().filter_map(|r| r.record.as_ref().ok()).collect();
        let ring = match self.rule.action {
            RetentionAction::Delete => Ok(KeyRing::default()),
            RetentionAction::Anonymize => self.vault.key_ring(
                self.scope,
                &crate::store::records::key_ids(readable.iter().copied()),
            ),
        };
        rows.iter()
            .map(|row| {
                let what = match (&row.record, &ring) {
                    (Err(e), _) => {
                        What::Error(format!("record {} cannot be read: {e}", row.cursor.id))
                    }
                    (Ok(r), _) if self.rule.action == RetentionAction::Delete => {
                        What::Delete(r.id.clone())
                    }
                    (Ok(_), Err(e)) => What::Error(format!("keys could not be loaded: {e}")),
                    (Ok(r), Ok(ring)) => match self.anonymize(r, ring) {
                        Ok(a) => What::Anonymize(a),
                        Err(message) => What::Error(format!("record {}: {message}", r.id)),
                    },
                };
                Change {
                    cursor: row.cursor.clone(),
                    what,
                }
            })
            .collect()
    }

    fn retained_key(&mut self) -> Result<(String, SecretKey), String> {
        if self.retained.is_none() {
            let key = self
                .vault
                .shared_key(self.scope, KeyPurpose::Retained, &self.rule.category)
                .map_err(|e| format!("the key for anonymized records: {e}"))?;
            self.retained = Some(key);
        }
        self.retained
            .clone()
            .ok_or_else(|| "the key for anonymized records".to_owned())
    }

    fn anonymize(&mut self, r: &StoredRecord, ring: &KeyRing) -> Result<AnonymizedRecord, String> {
        let key = ring
            .record_key(&r.key_id, r.period_key_id.as_deref())
            .ok_or("its key is gone (the record is unreadable)")?;
        let aad = vault::record_aad(self.scope, &r.id);
        let plain = zeroize::Zeroizing::new(
            key.open(&aad, &r.sealed_fields)
                .map_err(|_| "it could not be opened")?,
        );
        let mut fields: Map<String, Value> =
            serde_json::from_slice(&plain).map_err(|_| "its fields are not a JSON object")?;
        let pseudonym_key = self
            .pseudonym_key
            .as_ref()
            .map(|k| k.as_bytes().as_slice())
            .unwrap_or_default();
        let applied = transform::apply(&self.rule.transforms, &mut fields, pseudonym_key);
        // What is meant to outlive the person (detached), and what never had one, goes under
        // the workspace's key for anonymized records; what stays linked stays under the
        // person's key alone, so erasing them still reaches it, and the period key can go.
        let detach = applied.drop_subject || r.subject_id.is_none();
        let (key_id, key) = if detach {
            self.retained_key()?
        } else {
            let own = ring
                .get(&r.key_id)
                .ok_or("its person's key is gone")?
                .clone();
            (r.key_id.clone(), own)
        };
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec(&fields).map_err(|_| "its fields could not be written")?,
        );
        if let Some(f) = applied.failures.first() {
            // The field was emptied (privacy wins); the run still reports it.
            tracing::warn!(rule = %self.rule.key, field = %f.field, reason = %f.reason, "a field could not be transformed and was emptied");
        }
        Ok(AnonymizedRecord {
            id: r.id.clone(),
            was_key_id: r.key_id.clone(),
            was_period_key_id: r.period_key_id.clone(),
            key_id,
            subject_id: if detach { None } else { r.subject_id },
            sealed_fields: key.seal(&aad, &json).map_err(|e| e.to_string())?,
            anonymized_by: applied_with(r.anonymized_by.as_deref(), &self.rule.key),
        })
    }
}
