//! The group-commit writer: one thread with its own connection that stores the hot writes,
//! ingested record batches and consent decisions. It takes every job waiting in its queue,
//! writes them in one transaction (each in its own savepoint, so one bad job cannot spoil the
//! others) and answers each request only after that transaction is durable (group commit). One
//! fsync thus serves many requests, and `synchronous = FULL` keeps an acknowledged batch or
//! decision through a crash or power loss. One writer for both, so they do not compete for
//! SQLite's write lock.
//!
//! A consent decision is a *composed* job ([`GroupWriter::compose`]): the service hands over the
//! whole use case (read what the decision is checked against, check it, insert it) as a closure
//! over store functions, run on the writer's connection in the group's transaction. The check
//! and the insert thus see one state, and the hot path makes no second hop to a reading thread.

use super::{StoreError, WorkspaceScope, ts};
use crate::domain::record::{Receipt, StoredRef};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};
use std::any::Any;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Batches waiting beyond this make senders wait (back-pressure instead of unbounded memory).
const QUEUE: usize = 1024;
/// Records per transaction, so one commit stays short.
const MAX_RECORDS_PER_COMMIT: usize = 20_000;

/// A sealed record, ready to insert.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub id: String,
    pub subject_id: Option<i64>,
    pub category: String,
    pub occurred_at: DateTime<Utc>,
    pub key_id: String,
    /// The period key the record's key was derived with (see `domain::keys`).
    pub period_key_id: Option<String>,
    pub sealed_fields: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    /// SHA-256 of the request body: the same key with another body is a client bug.
    pub request_digest: String,
}

pub struct Batch {
    pub scope: WorkspaceScope,
    pub idempotency: Option<Idempotency>,
    pub records: Vec<NewRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    Stored(Receipt),
    /// The same `Idempotency-Key` and body were stored before: nothing new was written.
    Replayed(Receipt),
    /// The key was used before with another body.
    KeyReused,
    /// A subject was erased after the batch was checked (its id in the workspace).
    SubjectErased(i64),
    /// A period key of the batch began to be destroyed after the batch was sealed: seal again.
    KeyRetired,
}

/// What a composed job is, for the counters of `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComposedKind {
    ConsentDecision,
}

/// A composed job, its result type erased: the result, and whether to keep what it wrote.
type ComposedJob = Box<dyn FnOnce(&Connection) -> (Box<dyn Any + Send>, bool) + Send>;

/// What the writer stores.
enum Work {
    Records(Batch),
    Composed {
        kind: ComposedKind,
        rows: usize,
        job: ComposedJob,
    },
}

impl Work {
    /// Rows it inserts, to keep one commit short.
    fn rows(&self) -> usize {
        match self {
            Work::Records(b) => b.records.len(),
            Work::Composed { rows, .. } => *rows,
        }
    }
}

enum Done {
    Records(BatchOutcome),
    Composed(Box<dyn Any + Send>),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// Counters for `/metrics`: commits and batches, whose ratio is the grouping achieved; and the
/// batches queued or being written now, which background work (retention runs) yields to.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub commits: AtomicU64,
    /// Record batches written.
    pub batches: AtomicU64,
    pub records: AtomicU64,
    /// Consent decisions written.
    pub decisions: AtomicU64,
    pub pending: AtomicU64,
}

impl WriterStats {
    /// Whether live batches are waiting for (or holding) the write lock.
    pub fn busy(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }
}

#[derive(Clone)]
pub struct GroupWriter {
    queue: mpsc::Sender<Job>,
    pub stats: Arc<WriterStats>,
}

impl GroupWriter {
    /// Opens the writer's connection and starts its thread; it stops when the last handle is
    /// dropped.
    pub fn start(path: &Path) -> Result<GroupWriter, StoreError> {
        let conn = Connection::open(path)?;
        super::stable_plans(&conn)?;
        // Live writes come first: while another connection (a retention run) holds the lock,
        // look again every millisecond rather than in SQLite's growing sleeps (up to 100 ms),
        // so the writer gets in as soon as the run's short transaction ends.
        conn.busy_handler(Some(retry_every_millisecond))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        let (queue, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(WriterStats::default());
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name("lethe-writer".into())
            .spawn(move || run(conn, rx, &thread_stats))
            .map_err(|e| StoreError::Join(e.to_string()))?;
        Ok(GroupWriter { queue, stats })
    }

    /// Queues a batch of records and waits until it is durable (or refused).
    pub async fn submit(&self, batch: Batch) -> Result<BatchOutcome, StoreError> {
        match self.send(Work::Records(batch)).await? {
            Done::Records(outcome) => Ok(outcome),
            Done::Composed(_) => Err(StoreError::Join("the writer answered another job".into())),
        }
    }

    /// Runs `job` on the writer's connection in the next group's transaction, in its own
    /// savepoint, and answers once that transaction is durable. What the job wrote is kept when
    /// it returns `Ok` and rolled back when it returns `Err` (a refusal: the error is the
    /// answer). `rows` is about how many rows it inserts, to keep one commit short. The outer
    /// error is the writer's: the commit failed, or the writer has stopped.
    pub async fn compose<T, E>(
        &self,
        kind: ComposedKind,
        rows: usize,
        job: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, StoreError>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let job: ComposedJob = Box::new(move |conn| {
            let result = job(conn);
            let keep = result.is_ok();
            (Box::new(result), keep)
        });
        match self.send(Work::Composed { kind, rows, job }).await? {
            Done::Composed(result) => result
                .downcast::<Result<T, E>>()
                .map(|r| *r)
                .map_err(|_| StoreError::Join("the writer answered another job".into())),
            Done::Records(_) => Err(StoreError::Join("the writer answered another job".into())),
        }
    }

    async fn send(&self, work: Work) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        // Counted until answered, or until the request is dropped (its client hung up).
        let _pending = Pending::new(&self.stats);
        self.queue
            .send(Job { work, reply })
            .await
            .map_err(|_| StoreError::Join("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Join("the writer has stopped".into()))?
    }
}

/// The writer's busy handler: 1 ms sleeps, for at most ten seconds.
fn retry_every_millisecond(attempts: i32) -> bool {
    if attempts >= 10_000 {
        return false;
    }
    std::thread::sleep(Duration::from_millis(1));
    true
}

/// One batch in `WriterStats::pending` for as long as it lives.
struct Pending<'a>(&'a WriterStats);

impl<'a> Pending<'a> {
    fn new(stats: &'a WriterStats) -> Self {
        stats.pending.fetch_add(1, Ordering::AcqRel);
        Pending(stats)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>, stats: &WriterStats) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        let mut records = jobs[0].work.rows();
        while records < MAX_RECORDS_PER_COMMIT {
            match rx.try_recv() {
                Ok(job) => {
                    records += job.work.rows();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let (works, replies): (Vec<Work>, Vec<_>) =
            jobs.into_iter().map(|j| (j.work, j.reply)).unzip();
        let kinds: Vec<Option<ComposedKind>> = works
            .iter()
            .map(|work| match work {
                Work::Records(b) => {
                    stats.batches.fetch_add(1, Ordering::Relaxed);
                    stats
                        .records
                        .fetch_add(b.records.len() as u64, Ordering::Relaxed);
                    None
                }
                Work::Composed { kind, .. } => Some(*kind),
            })
            .collect();
        let outcomes = commit_group(&mut conn, works);
        stats.commits.fetch_add(1, Ordering::Relaxed);
        for ((reply, (outcome, kept)), kind) in replies.into_iter().zip(outcomes).zip(kinds) {
            // Composed jobs count when stored: a refused decision is no decision.
            if kept && kind == Some(ComposedKind::ConsentDecision) {
                stats.decisions.fetch_add(1, Ordering::Relaxed);
            }
            // The requester may have gone (client hung up); the batch is stored all the same.
            let _ = reply.send(outcome);
        }
    }
}

/// One transaction for all jobs; each job's result and whether what it wrote is now durable,
/// or the commit's error for all.
fn commit_group(conn: &mut Connection, works: Vec<Work>) -> Vec<(Result<Done, StoreError>, bool)> {
    let failed_all = |n: usize, e: &dyn std::fmt::Display| {
        (0..n)
            .map(|_| (Err(StoreError::Write(e.to_string())), false))
            .collect()
    };
    let n = works.len();
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return failed_all(n, &e),
    };
    let now = ts(Utc::now());
    let mut outcomes = Vec::with_capacity(n);
    for work in works {
        let outcome = match tx.savepoint() {
            Ok(mut sp) => {
                // What is not stored (refused, replayed, failed) leaves nothing behind.
                let written = match work {
                    Work::Records(batch) => write_batch(&sp, &batch, &now).map(|o| {
                        let keep = matches!(o, BatchOutcome::Stored(_));
                        (Done::Records(o), keep)
                    }),
                    // A panicking job must not take the writer thread, and every later
                    // request, with it.
                    Work::Composed { job, .. } => catch_unwind(AssertUnwindSafe(|| job(&sp)))
                        .map(|(result, keep)| (Done::Composed(result), keep))
                        .map_err(|_| StoreError::Write("a composed write panicked".into())),
                };
                match written {
                    Ok((done, true)) => match sp.commit() {
                        Ok(()) => (Ok(done), true),
                        Err(e) => (Err(StoreError::from(e)), false),
                    },
                    Ok((done, false)) => {
                        sp.set_drop_behavior(rusqlite::DropBehavior::Rollback);
                        (Ok(done), false)
                    }
                    Err(e) => {
                        sp.set_drop_behavior(rusqlite::DropBehavior::Rollback);
                        (Err(e), false)
                    }
                }
            }
            Err(e) => (Err(StoreError::from(e)), false),
        };
        outcomes.push(outcome);
    }
    match tx.commit() {
        Ok(()) => outcomes,
        Err(e) => {
            tracing::error!(error = %e, "group commit failed");
            failed_all(n, &e)
        }
    }
}

/// Writes one batch in the caller's transaction, for paths that are not hot (the demo seed):
/// the same rules as the writer thread.
pub fn write_now(conn: &Connection, batch: &Batch) -> Result<BatchOutcome, StoreError> {
    write_batch(conn, batch, &ts(Utc::now()))
}

fn write_batch(conn: &Connection, batch: &Batch, now: &str) -> Result<BatchOutcome, StoreError> {
    let w = batch.scope.id();
    if let Some(idem) = &batch.idempotency {
        let earlier = super::records::idempotent_receipt(conn, &batch.scope, &idem.key)?;
        if let Some((digest, receipt)) = earlier {
            if digest != idem.request_digest {
                return Ok(BatchOutcome::KeyReused);
            }
            let receipt = serde_json::from_str(&receipt)
                .map_err(|e| StoreError::Write(format!("stored receipt: {e}")))?;
            return Ok(BatchOutcome::Replayed(receipt));
        }
    }
    // Restriction and erasure are read inside the transaction, so they cannot change between
    // this check and the insert.
    let mut restricted: HashMap<i64, bool> = HashMap::new();
    {
        let mut state = conn.prepare_cached(
            "SELECT erased_at IS NOT NULL, restricted_at IS NOT NULL FROM subjects \
             WHERE workspace_id = ?1 AND id = ?2",
        )?;
        for id in batch.records.iter().filter_map(|r| r.subject_id) {
            if restricted.contains_key(&id) {
                continue;
            }
            let (erased, is_restricted): (bool, bool) =
                state.query_row(params![w, id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if erased {
                return Ok(BatchOutcome::SubjectErased(id));
            }
            restricted.insert(id, is_restricted);
        }
    }
    // Read in the same transaction as the retirement proof, so no record slips under a key that
    // is being destroyed.
    let mut period_keys: Vec<&str> = batch
        .records
        .iter()
        .filter_map(|r| r.period_key_id.as_deref())
        .collect();
    period_keys.sort_unstable();
    period_keys.dedup();
    if super::key_retirements::any_retired(conn, &period_keys)? {
        return Ok(BatchOutcome::KeyRetired);
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO records (id, workspace_id, subject_id, category, occurred_at, received_at, \
         key_id, period_key_id, sealed_fields, flagged_restricted) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut stored = Vec::with_capacity(batch.records.len());
    for r in &batch.records {
        let flagged = r
            .subject_id
            .and_then(|id| restricted.get(&id).copied())
            .unwrap_or(false);
        insert.execute(params![
            r.id,
            w,
            r.subject_id,
            r.category,
            ts(r.occurred_at),
            now,
            r.key_id,
            r.period_key_id,
            r.sealed_fields,
            flagged
        ])?;
        stored.push(StoredRef {
            id: r.id.clone(),
            flagged_restricted: flagged,
        });
    }
    let receipt = Receipt {
        stored: stored.len(),
        records: stored,
    };
    if let Some(idem) = &batch.idempotency {
        conn.execute(
            "INSERT INTO idempotency_keys (workspace_id, key, request_digest, receipt, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                w,
                idem.key,
                idem.request_digest,
                serde_json::to_string(&receipt).unwrap_or_default(),
                now
            ],
        )?;
    }
    Ok(BatchOutcome::Stored(receipt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    /// A database with one workspace and two subjects (ids 1 and 2).
    fn fixture() -> (tempfile::TempDir, Db, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lethe.db");
        let db = Db::open(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO workspaces (id, slug, legal_name, contact_email, created_at, updated_at) \
             VALUES (1, 'w', 'W', 'p@w.example', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
             INSERT INTO subjects (id, workspace_id, external_id, key_id, created_at, updated_at) VALUES
               (1, 1, 'a', 'k1', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
               (2, 1, 'b', 'k2', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');",
        )
        .unwrap();
        (dir, db, conn)
    }

    fn record(id: &str, subject: i64) -> NewRecord {
        NewRecord {
            id: id.into(),
            subject_id: Some(subject),
            category: "c".into(),
            occurred_at: Utc::now(),
            key_id: format!("k{subject}"),
            period_key_id: Some("p1".into()),
            sealed_fields: vec![1, 2, 3],
        }
    }

    fn job(records: Vec<NewRecord>, key: Option<&str>, digest: &str) -> Work {
        let batch = Batch {
            scope: WorkspaceScope::new(1),
            idempotency: key.map(|k| Idempotency {
                key: k.into(),
                request_digest: digest.into(),
            }),
            records,
        };
        Work::Records(batch)
    }

    fn as_records(
        done: Vec<(Result<Done, StoreError>, bool)>,
    ) -> Vec<Result<BatchOutcome, StoreError>> {
        done.into_iter()
            .map(|(r, _)| {
                r.map(|d| match d {
                    Done::Records(o) => o,
                    Done::Composed(_) => panic!("a composed job where a batch was expected"),
                })
            })
            .collect()
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM records", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_failing_batch_in_a_group_spoils_only_itself() {
        let (_dir, _db, mut conn) = fixture();
        let good = job(vec![record("r1", 1), record("r2", 2)], None, "");
        // The same id twice: the second insert fails, so the whole batch must go.
        let bad = job(vec![record("r3", 1), record("r3", 1)], None, "");
        let also_good = job(vec![record("r4", 2)], Some("k"), "d1");
        let outcomes = as_records(commit_group(&mut conn, vec![good, bad, also_good]));
        assert!(matches!(&outcomes[0], Ok(BatchOutcome::Stored(r)) if r.stored == 2));
        assert!(outcomes[1].is_err());
        assert!(matches!(&outcomes[2], Ok(BatchOutcome::Stored(r)) if r.stored == 1));
        assert_eq!(
            count(&conn),
            3,
            "r1, r2 and r4; nothing of the failed batch"
        );
    }

    #[test]
    fn retries_replay_reused_keys_refuse_and_erased_or_restricted_subjects_are_honoured() {
        let (_dir, _db, mut conn) = fixture();
        let first = job(vec![record("r1", 1)], Some("k"), "d1");
        let stored = as_records(commit_group(&mut conn, vec![first]))
            .remove(0)
            .unwrap();
        let retry = job(vec![record("r9", 1)], Some("k"), "d1");
        let reuse = job(vec![record("r8", 1)], Some("k"), "d2");
        let outcomes = as_records(commit_group(&mut conn, vec![retry, reuse]));
        match (&stored, &outcomes[0]) {
            (BatchOutcome::Stored(a), Ok(BatchOutcome::Replayed(b))) => assert_eq!(a, b),
            other => panic!("{other:?}"),
        }
        assert!(matches!(outcomes[1], Ok(BatchOutcome::KeyReused)));
        assert_eq!(count(&conn), 1);

        conn.execute_batch(
            "UPDATE subjects SET erased_at = '2026-01-02T00:00:00.000000Z' WHERE id = 1;
             UPDATE subjects SET restricted_at = '2026-01-02T00:00:00.000000Z' WHERE id = 2;",
        )
        .unwrap();
        let late = job(vec![record("r5", 2), record("r6", 1)], None, "");
        let flagged = job(vec![record("r7", 2)], None, "");
        let outcomes = as_records(commit_group(&mut conn, vec![late, flagged]));
        assert!(matches!(outcomes[0], Ok(BatchOutcome::SubjectErased(1))));
        match &outcomes[1] {
            Ok(BatchOutcome::Stored(r)) => assert!(r.records[0].flagged_restricted),
            other => panic!("{other:?}"),
        }
        assert_eq!(count(&conn), 2);
    }

    #[tokio::test]
    async fn the_writers_statements_with_a_bound_limit_are_prepared_once() {
        let (dir, _db, _conn) = fixture();
        let writer = GroupWriter::start(&dir.path().join("lethe.db")).unwrap();
        let reprepared = writer
            .compose(ComposedKind::ConsentDecision, 0, |c| {
                Ok::<_, ()>(crate::store::tests::reprepares(c))
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reprepared, 0);
    }

    #[tokio::test]
    async fn a_composed_job_keeps_its_writes_only_when_it_succeeds_and_a_panic_spoils_only_itself()
    {
        let (dir, _db, conn) = fixture();
        let writer = GroupWriter::start(&dir.path().join("lethe.db")).unwrap();
        let insert = |id: &'static str| {
            move |c: &Connection| {
                c.execute(
                    "INSERT INTO records (id, workspace_id, subject_id, category, occurred_at, \
                     received_at, key_id, sealed_fields) VALUES (?1, 1, 1, 'c', \
                     '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', 'k1', x'00')",
                    [id],
                )
            }
        };
        let kind = ComposedKind::ConsentDecision;
        let kept = writer.compose(kind, 1, move |c| insert("r1")(c).map(|n| n * 10));
        let refused = writer.compose(kind, 1, move |c| {
            insert("r2")(c)?;
            Err::<(), _>(rusqlite::Error::QueryReturnedNoRows)
        });
        let panicked = writer.compose(kind, 1, move |c| {
            insert("r3")(c)?;
            if c.is_autocommit() {
                return Ok::<(), rusqlite::Error>(());
            }
            panic!("a bug in a job");
        });
        let (kept, refused, panicked) = tokio::join!(kept, refused, panicked);
        assert_eq!(
            kept.unwrap().unwrap(),
            10,
            "the job's own result comes back"
        );
        assert!(refused.unwrap().is_err(), "the job's refusal is its answer");
        assert!(
            panicked.is_err(),
            "a panicking job is answered with an error"
        );
        let after = writer.compose(kind, 1, insert("r4")).await.unwrap();
        assert_eq!(after.unwrap(), 1, "the writer still writes after a panic");
        let ids: Vec<String> = conn
            .prepare("SELECT id FROM records ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            ids,
            ["r1", "r4"],
            "nothing of the refused or the panicked job"
        );
        assert_eq!(
            writer.stats.decisions.load(Ordering::Relaxed),
            2,
            "stored jobs only"
        );
    }

    #[test]
    fn a_batch_counts_as_pending_until_answered_or_dropped() {
        let stats = WriterStats::default();
        {
            let _one = Pending::new(&stats);
            let _two = Pending::new(&stats);
            assert!(stats.busy());
        }
        assert!(
            !stats.busy(),
            "a request whose client hung up no longer counts"
        );
    }

    #[tokio::test]
    async fn the_writer_thread_answers_after_commit() {
        let (dir, _db, conn) = fixture();
        let writer = GroupWriter::start(&dir.path().join("lethe.db")).unwrap();
        let batch = Batch {
            scope: WorkspaceScope::new(1),
            idempotency: None,
            records: vec![record("r1", 1)],
        };
        let outcome = writer.submit(batch).await.unwrap();
        assert!(matches!(outcome, BatchOutcome::Stored(_)));
        // Answered means committed: another connection sees it at once.
        assert_eq!(count(&conn), 1);
        assert_eq!(writer.stats.commits.load(Ordering::Relaxed), 1);
    }
}
