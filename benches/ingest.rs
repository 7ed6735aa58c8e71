//! Ingestion throughput and latency of Lethe beside the storage limit, in one process.
//!
//! Run with `cargo bench --bench ingest`. Lethe runs in-process on port 0 with a fresh data dir,
//! one workspace, the category `usage.message_log` and `BENCH_SUBJECTS` subjects (default 200).
//! C tasks (`BENCH_CONCURRENCY`, default 16), each with its own client and keep-alive HTTP/1.1
//! connection over HTTPS (rustls 0.23, ring), post to `/api/v1/records` back to back for
//! `BENCH_WARMUP_SECS` (default 1, not recorded) and then `BENCH_SECS` (default 5): first
//! batches of 100 records (100 different subjects each), then single records. Records/s = stored
//! records (from the receipts) / wall time; p99 of request latency; anything but 201 is an error.
//!
//! The baseline, in the same process, just before each Lethe run (so both see the disk in the
//! same mood): a fresh file with the same schema (`Db::open` applies the migrations), the same
//! subjects, and ONE plain rusqlite connection with the record writer's settings (WAL,
//! `synchronous = FULL`, `foreign_keys`, `secure_delete`) inserting the same rows: UUIDv7 ids and
//! the stored fields JSON sealed with AES-256-GCM. Rows are sealed before the clock runs (in
//! chunks); the timing covers only the INSERTs (a cached prepared statement) and the commits,
//! 100 rows per transaction, then 1. Rows/s = rows / summed transaction time; p99 of
//! per-transaction time. Warm-up as above, then `BENCH_SECS` of transaction time.
//!
//! The writer's grouping (requests and records per commit) comes from its `/metrics` counters.
//! Other knobs: `BENCH_WORKERS` (Lethe's workers, default 2), `BENCH_CLIENT_THREADS`
//! (load-generator tokio threads, default: available parallelism). The load generator shares the
//! cores with the server; the baseline has the machine to itself.

// Test and measurement code: a failed step is a failed run, so it may unwrap (see [lints] in
// Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::records::{
    CATEGORY, Measured, OCCURRED_AT, PREVIEW, PREVIEW_CHARS, Until, bodies, create_workspace,
    external_id, fields, load, spawn_lethe,
};
use common::{cores, env_in, ms};

use chrono::Utc;
use lethe::store::{Db, WorkspaceScope};
use lethe::vault::SecretKey;
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: usize = 100;
const INSERT: &str = "INSERT INTO records (id, workspace_id, subject_id, category, occurred_at, \
    received_at, key_id, sealed_fields, flagged_restricted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, \
    ?8, ?9)";

struct Settings {
    secs: f64,
    warmup_secs: f64,
    concurrency: usize,
    workers: usize,
    client_threads: usize,
    subjects: usize,
}

impl Settings {
    fn from_env() -> Self {
        Settings {
            secs: env_in("BENCH_SECS", 5.0, 0.1, 600.0),
            warmup_secs: env_in("BENCH_WARMUP_SECS", 1.0, 0.0, 60.0),
            concurrency: env_in("BENCH_CONCURRENCY", 16, 1, 1024),
            workers: env_in("BENCH_WORKERS", 2, 1, 64),
            client_threads: env_in("BENCH_CLIENT_THREADS", cores().min(64), 1, 64),
            subjects: env_in("BENCH_SUBJECTS", 200, 1, 100_000),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The baseline: plain rusqlite, one thread

struct Baseline {
    _dir: tempfile::TempDir,
    conn: Connection,
    scope: WorkspaceScope,
    /// (subject id, key id) of each subject.
    subjects: Vec<(i64, String)>,
    key: SecretKey,
}

/// A fresh file with Lethe's schema, the workspace and the subjects; then one plain connection.
fn open_baseline(subjects: usize) -> Baseline {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lethe.db");
    let db = Db::open(&path).expect("baseline database opens");
    let scope = create_workspace(&db);
    let key = SecretKey::generate();
    let now = Utc::now();
    let insert_subject = |tx: &rusqlite::Connection, i: usize| {
        let id = external_id(i);
        let key_id = uuid::Uuid::new_v4().to_string();
        let profile = json!({ "email": format!("{id}@example.org") }).to_string();
        let sealed = key
            .seal(&lethe::vault::profile_aad(&scope, &id), profile.as_bytes())
            .expect("sealed");
        let new = lethe::store::subjects::NewSubject {
            external_id: &id,
            kind: "",
            email_index: None,
            sealed_profile: &sealed,
            key_id: &key_id,
        };
        lethe::store::subjects::insert(tx, &scope, &new, now).map(|n| (n, key_id))
    };
    let subjects = db
        .write(|tx| (0..subjects).map(|i| insert_subject(tx, i)).collect())
        .expect("baseline subjects");
    drop(db);
    let conn = Connection::open(&path).expect("baseline connection");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal", "the baseline file is in WAL mode");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("pragma");
    conn.pragma_update(None, "foreign_keys", "ON")
        .expect("pragma");
    conn.pragma_update(None, "secure_delete", "ON")
        .expect("pragma");
    Baseline {
        _dir: dir,
        conn,
        scope,
        subjects,
        key,
    }
}

/// Seals `count` rows as Lethe stores them: (id, subject id, key id, sealed fields).
fn seal_rows(b: &Baseline, start: usize, count: usize) -> Vec<(String, i64, String, Vec<u8>)> {
    let preview: String = PREVIEW.chars().take(PREVIEW_CHARS).collect();
    let plain = serde_json::to_vec(&fields(&preview)).expect("fields JSON");
    (start..start + count)
        .map(|i| {
            let (subject_id, key_id) = &b.subjects[i % b.subjects.len()];
            let id = uuid::Uuid::now_v7().to_string();
            let sealed = b
                .key
                .seal(&lethe::vault::record_aad(&b.scope, &id), &plain)
                .expect("sealed");
            (id, *subject_id, key_id.clone(), sealed)
        })
        .collect()
}

/// Inserts pre-sealed rows, `per_txn` per IMMEDIATE transaction, for the warm-up and then
/// `BENCH_SECS` of summed transaction time.
fn baseline_run(b: &mut Baseline, per_txn: usize, settings: &Settings) -> Measured {
    let chunk = per_txn * if per_txn > 1 { 50 } else { 500 };
    let at = lethe::store::ts(OCCURRED_AT.parse().expect("timestamp"));
    let w = b.scope.id();
    let warmup = Duration::from_secs_f64(settings.warmup_secs);
    let budget = Duration::from_secs_f64(settings.secs);
    let (mut out, mut warm, mut next) = (Measured::default(), Duration::ZERO, 0);
    while out.elapsed < budget {
        let rows = seal_rows(b, next, chunk);
        next += chunk;
        for txn in rows.chunks(per_txn) {
            let now = lethe::store::ts(Utc::now());
            let t0 = Instant::now();
            let tx = b
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate);
            let tx = tx.expect("BEGIN IMMEDIATE");
            {
                let mut insert = tx.prepare_cached(INSERT).expect("prepare INSERT");
                for (id, subject, key_id, sealed) in txn {
                    let row = params![id, w, subject, CATEGORY, at, now, key_id, sealed, false];
                    insert.execute(row).expect("INSERT");
                }
            }
            tx.commit().expect("COMMIT");
            let took = t0.elapsed();
            if warm < warmup {
                warm += took;
                continue;
            }
            out.elapsed += took;
            out.items += txn.len() as u64;
            out.latencies.push(took.as_nanos() as u64);
            if out.elapsed >= budget {
                break;
            }
        }
    }
    out.latencies.sort_unstable();
    out
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let settings = Settings::from_env();
    common::runtime(settings.client_threads).block_on(run(Arc::new(settings)));
}

/// Runs the baseline with `per_txn` rows per transaction on a blocking thread.
async fn baseline(mut b: Baseline, per_txn: usize, s: Arc<Settings>) -> (Baseline, Measured) {
    eprintln!("  baseline: plain rusqlite, one thread, {per_txn} row(s) per transaction …");
    let task = tokio::task::spawn_blocking(move || {
        let m = baseline_run(&mut b, per_txn, &s);
        (b, m)
    });
    task.await.expect("baseline task")
}

async fn run(settings: Arc<Settings>) {
    let lethe_dir = tempfile::tempdir().expect("temp dir");
    let (workers, n) = (settings.workers, settings.subjects);
    let lethe = Arc::new(spawn_lethe(workers, n, lethe_dir.path()).await);
    let b = tokio::task::spawn_blocking(move || open_baseline(n));
    let b = b.await.expect("baseline set-up");
    // Each Lethe run right after its baseline: this machine's fsync times drift.
    let (b, base_batches) = baseline(b, BATCH, settings.clone()).await;
    eprintln!("  lethe: batches of {BATCH} …");
    let (c, warmup) = (
        settings.concurrency,
        Duration::from_secs_f64(settings.warmup_secs),
    );
    let measure = || Until::Elapsed(Duration::from_secs_f64(settings.secs));
    let batches = load(&lethe, bodies(BATCH, n), c, warmup, measure()).await;
    let (_, base_singles) = baseline(b, 1, settings.clone()).await;
    eprintln!("  lethe: single records …");
    let singles = load(&lethe, bodies(1, n), c, warmup, measure()).await;

    let (c, workers) = (settings.concurrency, settings.workers);
    let head = format!("ingestion, HTTPS keep-alive, c={c}, {workers} workers");
    let w = head.len().max(44);
    println!();
    let columns = format!("{:>10} {:>10} {:>12}", "records/s", "p99", "vs baseline");
    println!("{head:<w$} {columns}");
    let batch_ratio = batches.per_sec() / base_batches.per_sec().max(f64::EPSILON);
    let single_ratio = singles.per_sec() / base_singles.per_sec().max(f64::EPSILON);
    let line = |name: &str, m: &Measured, ratio: Option<f64>| {
        let ratio = ratio.map_or(String::new(), |r| format!("{r:.2}×"));
        let p99 = ms(m.percentile(99.0));
        println!("{name:<w$} {:>10.0} {p99:>10} {ratio:>12}", m.per_sec());
    };
    line("lethe  batches of 100", &batches, Some(batch_ratio));
    line(
        "baseline rusqlite 100 rows/txn, one thread",
        &base_batches,
        None,
    );
    line("lethe  single records", &singles, Some(single_ratio));
    line(
        "baseline rusqlite 1 row/txn, one thread",
        &base_singles,
        None,
    );
    println!();
    println!(
        "cores {}, load-generator threads {}, warm-up {} s, measured {} s, {} subjects; lethe p99 \
         = request latency, baseline p99 = time of one transaction (INSERTs + COMMIT)",
        cores(),
        settings.client_threads,
        settings.warmup_secs,
        settings.secs,
        settings.subjects
    );
    for (name, m) in [("batches", &batches), ("single records", &singles)] {
        let requests = m.latencies.len() as u64 + m.errors;
        let (secs, p50) = (m.elapsed.as_secs_f64(), ms(m.percentile(50.0)));
        println!(
            "  lethe {name}: {requests} requests, {} records in {secs:.2} s, {} errors, p50 {p50}",
            m.items, m.errors
        );
        if let Some([commits, batches, records]) = m.writer {
            let per = |n: u64| n as f64 / commits.max(1) as f64;
            let (b, r) = (per(batches), per(records));
            println!(
                "    writer, warm-up included: {commits} commits, {b:.1} requests and {r:.0} \
                 records per commit"
            );
        }
    }
    let verdict = if batch_ratio >= 0.5 { "met" } else { "NOT met" };
    println!("Goal, Lethe batches ≥ 0.50× the baseline: {verdict} ({batch_ratio:.2}×).");
    for sample in batches.error_samples.iter().chain(&singles.error_samples) {
        println!("  error e.g. {sample}");
    }
    let errors = batches.errors + singles.errors;
    if errors > 0 {
        println!("ERRORS: {errors} responses other than 201");
        std::process::exit(1);
    }
}
