//! Retention throughput (anonymization and deletion rows/s) beside the storage limit, and the
//! latency of live writes while a retention run works, in one process.
//!
//! Run with `cargo bench --bench retention`. Lethe runs in-process on port 0 with a fresh data
//! dir, one workspace, `BENCH_SUBJECTS` subjects (default 1000) and three categories with the
//! fields `recipient`, `ip`, `sent_at` and `preview`, each loaded with `BENCH_RECORDS` records
//! (default 1,000,000) through `services::records::ingest_now` (sealed and written exactly as
//! Lethe does, 1000 records per transaction, two loader threads). Records occurred 200 to 60
//! days ago, in load order; the rules are counted from collection with 30 days, so every record
//! is due. Loading is timed apart and not measured.
//!
//! 1. Anonymization: the rule `anonymize-a` (`recipient: mask 3 3`, `ip: ip_network 24 48`,
//!    `sent_at: coarsen_time day`, `preview: null`, `drop_subject`) runs through
//!    `services::retention::run_rule` in batches of `BENCH_BATCH` (default 2000, Lethe's).
//!    Rows/s = records changed / wall time of `run_rule` (decryption, transforms, re-sealing,
//!    the batches' transactions, and the claim check after the run).
//! 2. Deletion: the rule `delete-b` on the second category; rows/s = records deleted / wall time.
//!
//! The baseline of each, in the same process just before the Lethe run: a fresh SQLite file with
//! a PLAINTEXT table holding the same rows (the four fields as TEXT columns, the subject, an
//! index on (workspace, category, occurred_at) and one on (workspace, subject, occurred_at) like
//! Lethe's), with the pragmas of Lethe's connections (WAL, `synchronous = NORMAL`,
//! `foreign_keys`, `secure_delete`). It walks the same order from a cursor as Lethe does,
//! (occurred_at, id) with the same WHERE clause, `BENCH_BATCH` rows per IMMEDIATE transaction:
//! each transaction finds the batch's last row and then runs ONE `UPDATE` (the same transforms
//! as SQL expressions) or ONE `DELETE` over the range.
//!
//! 3. Live writes: `BENCH_CONCURRENCY` clients (default 4), each with its own keep-alive HTTPS
//!    connection, post single records to `POST /api/v1/records` back to back (into the third
//!    category, recent records that no rule is due for). First without any job, after a 1 s
//!    warm-up, for `BENCH_PROBE_SECS` (default: as long as the clean anonymization run took, at
//!    least 5 s), then for the whole of the rule `anonymize-c`'s run on the third category (the
//!    same transforms on an equally sized set). p99 with the job against p99 without it.
//!    Anything but 201 is an error. The rows/s of parts 1 and 2 are measured without live
//!    writes; part 3 also prints the run's rows/s beside them.
//!
//! Other knobs: `BENCH_WORKERS` (Lethe's HTTP workers, default 2), `BENCH_PROBE` (0 skips part 3).
//! The jobs of the server (claims, period keys…) run on their usual schedules.

// Test and measurement code: a failed step is a failed run, so it may unwrap (see [lints] in
// Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::records::ingest_all;
use common::{cores, env_in, ms};

use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use lethe::domain::inventory::{DataCategory, RetentionRule};
use lethe::domain::record::Receipt;
use lethe::domain::subject::SubjectInput;
use lethe::services::retention::{Progress, RunOutcome, RunRequest, run_rule};
use lethe::services::{Caller, accounts, apikeys, inventory, subjects, workspaces};
use lethe::store::{Db, WorkspaceScope};
use lethe::vault::Vault;
use reqwest::header::CONTENT_TYPE;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const CAT_ANONYMIZE: &str = "bench.anonymize";
const CAT_DELETE: &str = "bench.delete";
const CAT_LIVE: &str = "bench.live";
const RULE_DAYS: u32 = 30;
/// Records occurred from this many days ago …
const OLDEST_DAYS: i64 = 200;
/// … to this many.
const NEWEST_DAYS: i64 = 60;
const PREVIEW_CHARS: u16 = 40;
const MAX_ERROR_SAMPLES: usize = 5;
const WARMUP: Duration = Duration::from_secs(1);

struct Settings {
    records: usize,
    batch: u32,
    subjects: usize,
    concurrency: usize,
    workers: usize,
    /// None: as long as the clean anonymization run took.
    probe_secs: Option<f64>,
    probe: bool,
}

impl Settings {
    fn from_env() -> Self {
        Settings {
            records: env_in("BENCH_RECORDS", 1_000_000, 1000, 100_000_000),
            batch: env_in("BENCH_BATCH", 2000, 1, 100_000),
            subjects: env_in("BENCH_SUBJECTS", 1000, 1, 1_000_000),
            concurrency: env_in("BENCH_CONCURRENCY", 4, 1, 1024),
            workers: env_in("BENCH_WORKERS", 2, 1, 64),
            probe_secs: std::env::var("BENCH_PROBE_SECS")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|_| env_in("BENCH_PROBE_SECS", 0.0, 1.0, 3600.0)),
            probe: env_in("BENCH_PROBE", 1, 0, 1) == 1,
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64().max(f64::EPSILON)
}

// ---------------------------------------------------------------------------------------------
// The data: the same rows for Lethe and the baseline

fn external_id(i: usize) -> String {
    format!("cus_{i}")
}

/// One record's plaintext, as both sides store it.
struct Row {
    subject: usize,
    occurred_at: DateTime<Utc>,
    recipient: String,
    ip: String,
    sent_at: String,
    preview: String,
}

/// Row `i` of `n`: occurred in load order from `OLDEST_DAYS` to `NEWEST_DAYS` ago.
fn row(i: usize, n: usize, subjects: usize, origin: DateTime<Utc>) -> Row {
    let span = ChronoDuration::days(OLDEST_DAYS - NEWEST_DAYS)
        .num_microseconds()
        .unwrap_or(0);
    let offset = (span as i128 * i as i128 / n.max(1) as i128) as i64;
    let occurred_at =
        origin - ChronoDuration::days(OLDEST_DAYS) + ChronoDuration::microseconds(offset);
    Row {
        subject: i % subjects,
        occurred_at,
        recipient: format!("+49151{:08}", (i * 7919) % 100_000_000),
        ip: format!(
            "{}.{}.{}.{}",
            10 + i % 200,
            (i / 200) % 256,
            (i / 51_200) % 256,
            (i * 31) % 256
        ),
        sent_at: occurred_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        preview: format!(
            "Table for {} confirmed, ref {:06}",
            2 + i % 6,
            i % 1_000_000
        ),
    }
}

fn record_json(category: &str, r: &Row) -> Value {
    json!({
        "category": category,
        "subject": external_id(r.subject),
        "occurred_at": r.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "fields": {"recipient": r.recipient, "ip": r.ip, "sent_at": r.sent_at, "preview": r.preview},
    })
}

fn transforms() -> Value {
    json!([
        {"op": "mask", "field": "recipient", "keep_first": 3, "keep_last": 3},
        {"op": "ip_network", "field": "ip", "v4_prefix": 24, "v6_prefix": 48},
        {"op": "coarsen_time", "field": "sent_at", "unit": "day"},
        {"op": "null", "field": "preview"},
        {"op": "drop_subject"},
    ])
}

// ---------------------------------------------------------------------------------------------
// Lethe: in-process server, set-up and load through the library

struct Lethe {
    base: String,
    cert_pem: Vec<u8>,
    key: String,
    db: Db,
    vault: Vault,
    scope: WorkspaceScope,
    /// The server's record writer, which runs yield to (as the scheduler's runs do).
    live: std::sync::Arc<lethe::store::writer::WriterStats>,
}

fn client_for(cert_pem: &[u8]) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(cert_pem).expect("PEM certificate");
    reqwest::Client::builder()
        .http1_only()
        .tls_certs_only([cert])
        .no_proxy()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client builds")
}

/// The admin, the workspace, an API key, the categories, the rules and the subjects.
fn set_up(db: &Db, vault: &Vault, subject_count: usize) -> (WorkspaceScope, String) {
    let owner = accounts::create_admin(
        db,
        "bench@example.org",
        "correct horse battery staple",
        lethe::services::accounts::OnExisting::Refuse,
    )
    .unwrap_or_else(|e| panic!("admin: {e}"));
    let input = lethe::domain::workspace::WorkspaceSettingsInput {
        legal_name: "Bench Ltd".into(),
        contact_email: "p@bench.example".into(),
        min_age: "16".into(),
        ..Default::default()
    };
    workspaces::create(db, &Caller::system(), owner, "bench", &input)
        .unwrap_or_else(|e| panic!("workspace: {e}"));
    let found = db.read(|c| lethe::store::workspaces::find_by_slug(c, "bench"));
    let scope = found.expect("lookup").expect("workspace exists").0;
    let key = apikeys::create(db, &Caller::cli(), &scope, "bench", ["records:write"])
        .unwrap_or_else(|e| panic!("API key: {e}"))
        .secret;
    let caller = Caller::cli();
    for cat in [CAT_ANONYMIZE, CAT_DELETE, CAT_LIVE] {
        let category: DataCategory = serde_json::from_value(json!({
            "key": cat, "name": format!("Bench {cat}"), "sensitivity": "normal",
            "fields": [{"name": "recipient"}, {"name": "ip"}, {"name": "sent_at"},
                       {"name": "preview", "handling": "preview", "preview_chars": PREVIEW_CHARS}],
        }))
        .expect("category JSON");
        inventory::put(db, &caller, &scope, cat, category)
            .unwrap_or_else(|e| panic!("category {cat}: {e}"));
    }
    // Disabled: the scheduler leaves them alone; the bench runs them by hand.
    let rules = [
        ("anonymize-a", CAT_ANONYMIZE, "anonymize", transforms()),
        ("delete-b", CAT_DELETE, "delete", json!([])),
        ("anonymize-c", CAT_LIVE, "anonymize", transforms()),
    ];
    for (key, category, action, transforms) in rules {
        let rule: RetentionRule = serde_json::from_value(json!({
            "key": key, "category": category, "trigger": "collected", "days": RULE_DAYS,
            "action": action, "enabled": false, "transforms": transforms,
        }))
        .expect("rule JSON");
        inventory::put(db, &caller, &scope, key, rule)
            .unwrap_or_else(|e| panic!("rule {key}: {e}"));
    }
    let today = Utc::now().date_naive();
    for i in 0..subject_count {
        let input = SubjectInput {
            external_id: external_id(i),
            email: None,
            kind: None,
            birth_date: None,
        };
        subjects::put(db, vault, &scope, &caller, input, today)
            .unwrap_or_else(|e| panic!("subject {i}: {e}"));
    }
    (scope, key)
}

async fn spawn_lethe(settings: &Settings, data_dir: &Path) -> Arc<Lethe> {
    let mut config = lethe::config::Config::with_data_dir(data_dir);
    config.listen = "127.0.0.1:0".parse().expect("address");
    config.workers = Some(settings.workers);
    config.retention_batch_size = settings.batch;
    let app = lethe::startup::Application::build(config)
        .await
        .unwrap_or_else(|e| panic!("Lethe builds: {e:#}"));
    let base = format!("https://127.0.0.1:{}", app.port());
    let cert_path = app.cert_path.clone().expect("Lethe serves TLS");
    let cert_pem = std::fs::read(cert_path).expect("certificate readable");
    let (db, vault, live) = (app.db.clone(), app.vault.clone(), app.live.clone());
    tokio::spawn(app.run_until_stopped());
    let subject_count = settings.subjects;
    let (db2, vault2) = (db.clone(), vault.clone());
    let (scope, key) = tokio::task::spawn_blocking(move || set_up(&db2, &vault2, subject_count))
        .await
        .expect("set-up task");
    Arc::new(Lethe {
        base,
        cert_pem,
        key,
        db,
        vault,
        scope,
        live,
    })
}

/// Loads `n` records of `category` through `ingest_now` (see `common::records::ingest_all`).
/// Returns the time it took.
fn load_lethe(lethe: &Lethe, category: &str, n: usize, s: &Settings, origin: DateTime<Utc>) -> f64 {
    let label = format!("load {category}");
    let record = |i| record_json(category, &row(i, n, s.subjects, origin));
    ingest_all(&lethe.db, &lethe.vault, lethe.scope, n, &label, record)
}

/// What a Lethe run did and how long it took.
struct RunResult {
    outcome: RunOutcome,
    wall: Duration,
    /// From the start to the last batch's commit (the rest: ending the run, the claim check).
    to_last_batch: Duration,
    batches: u64,
}

impl RunResult {
    fn rows(&self) -> u64 {
        self.outcome.counts.changed + self.outcome.counts.deleted
    }
    fn per_sec(&self) -> f64 {
        self.rows() as f64 / secs(self.wall)
    }
}

/// Runs a rule by hand in-process (waiting for the workspace's lease), with a progress line
/// every tenth.
fn run_lethe(lethe: &Lethe, rule_key: &str, batch: u32) -> RunResult {
    let inv = inventory::load(&lethe.db, &lethe.scope).unwrap_or_else(|e| panic!("inventory: {e}"));
    let rule = inv
        .retention_rules
        .iter()
        .find(|r| r.key == rule_key)
        .unwrap_or_else(|| panic!("rule {rule_key} exists"))
        .clone();
    let req = RunRequest {
        rule: &rule,
        started_by: "bench".into(),
        batch,
        resume_only: false,
        live: Some(lethe.live.clone()),
    };
    let t0 = Instant::now();
    let mut last_batch = Duration::ZERO;
    let mut batches = 0u64;
    let mut shown = 0u64;
    let mut progress = |p: &Progress| {
        last_batch = t0.elapsed();
        batches += 1;
        let done = p.counts.scanned;
        let tenth = (p.total / 10).max(1);
        if done / tenth > shown {
            shown = done / tenth;
            eprintln!(
                "  {rule_key}: {done} of {} ({:.0} s)",
                p.total,
                last_batch.as_secs_f64()
            );
        }
    };
    let outcome = run_rule(
        &lethe.db,
        &lethe.vault,
        &lethe.scope,
        &Caller::cli(),
        &req,
        true,
        &|| false,
        &mut progress,
    )
    .unwrap_or_else(|e| panic!("run of {rule_key}: {e:?}"));
    let wall = t0.elapsed();
    assert_eq!(outcome.status, "completed", "run of {rule_key}");
    RunResult {
        outcome,
        wall,
        to_last_batch: last_batch,
        batches,
    }
}

// ---------------------------------------------------------------------------------------------
// The baseline: the same rows in plaintext, plain SQL

const PLAIN_SCHEMA: &str = "
    CREATE TABLE plain (
        id            TEXT PRIMARY KEY,
        workspace_id  INTEGER NOT NULL,
        subject_id    INTEGER,
        category      TEXT NOT NULL,
        occurred_at   TEXT NOT NULL,
        received_at   TEXT NOT NULL,
        recipient     TEXT,
        ip            TEXT,
        sent_at       TEXT,
        preview       TEXT,
        anonymized_by TEXT
    );
    CREATE INDEX plain_category ON plain(workspace_id, category, occurred_at);
    CREATE INDEX plain_subject ON plain(workspace_id, subject_id, occurred_at);";

/// The WHERE clause of the walk, as Lethe's for a rule counted from collection (?1 workspace,
/// ?2 category, ?3 cutoff, ?4 the rule as `,key,`, ?5 ?6 the cursor).
const WALK: &str = "workspace_id = ?1 AND category = ?2 AND occurred_at < ?3 \
    AND (anonymized_by IS NULL OR instr(',' || anonymized_by || ',', ?4) = 0) \
    AND (occurred_at, id) > (?5, ?6)";

/// The anonymize rule's transforms as SQL on plaintext columns: `mask 3 3` (all stars when that
/// would hide nothing), `ip_network 24` (the data is IPv4), `coarsen_time day` (the data is UTC
/// RFC 3339), `null`, `drop_subject`.
const ANONYMIZE_SET: &str = "
    recipient = CASE
        WHEN length(recipient) > 6 AND trim(substr(recipient, 4, length(recipient) - 6), '*') <> ''
        THEN substr(recipient, 1, 3) || replace(hex(zeroblob(length(recipient) - 6)), '00', '*')
             || substr(recipient, -3)
        ELSE replace(hex(zeroblob(length(recipient))), '00', '*') END,
    ip = rtrim(ip, '0123456789') || '0/24',
    sent_at = substr(sent_at, 1, 10) || 'T00:00:00Z',
    preview = NULL,
    subject_id = NULL,
    anonymized_by = CASE WHEN anonymized_by IS NULL OR anonymized_by = '' THEN ?4
                         ELSE anonymized_by || ',' || ?4 END";

struct Baseline {
    _dir: tempfile::TempDir,
    conn: Connection,
}

/// A fresh file with the plain table and the same `n` rows; Lethe's connection pragmas.
fn open_baseline(category: &str, n: usize, s: &Settings, origin: DateTime<Utc>) -> (Baseline, f64) {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut conn = Connection::open(dir.path().join("plain.db")).expect("baseline file");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .expect("WAL");
    assert_eq!(mode, "wal", "the baseline file is in WAL mode");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    for (name, value) in [
        ("synchronous", "NORMAL"),
        ("foreign_keys", "ON"),
        ("secure_delete", "ON"),
    ] {
        conn.pragma_update(None, name, value).expect("pragma");
    }
    conn.execute_batch(PLAIN_SCHEMA).expect("baseline schema");
    let received = lethe::store::ts(Utc::now());
    let mut i = 0;
    while i < n {
        let tx = conn.transaction().expect("BEGIN");
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO plain (id, workspace_id, subject_id, category, occurred_at, \
                     received_at, recipient, ip, sent_at, preview) \
                     VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .expect("prepare INSERT");
            for j in i..(i + 10_000).min(n) {
                let r = row(j, n, s.subjects, origin);
                let id = uuid::Uuid::now_v7().to_string();
                insert
                    .execute(params![
                        id,
                        r.subject as i64 + 1,
                        category,
                        lethe::store::ts(r.occurred_at),
                        received,
                        r.recipient,
                        r.ip,
                        r.sent_at,
                        r.preview
                    ])
                    .expect("INSERT");
            }
        }
        tx.commit().expect("COMMIT");
        i += 10_000;
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;")
        .expect("checkpoint");
    (Baseline { _dir: dir, conn }, t0.elapsed().as_secs_f64())
}

/// What a baseline run did: rows, wall time, and the part of it spent in COMMIT.
struct BaseResult {
    rows: u64,
    wall: Duration,
    commit: Duration,
}

impl BaseResult {
    fn per_sec(&self) -> f64 {
        self.rows as f64 / secs(self.wall)
    }
}

/// The baseline's run: the walk in batches of `batch`, one IMMEDIATE transaction each that finds
/// the batch's last row and changes (or deletes) the range up to it with one statement.
fn baseline_run(
    b: &mut Baseline,
    category: &str,
    rule: &str,
    delete: bool,
    batch: u32,
) -> BaseResult {
    let cutoff = lethe::store::ts(Utc::now() - ChronoDuration::days(i64::from(RULE_DAYS)));
    let rule_arg = format!(",{rule},");
    let bound_sql = format!(
        "SELECT occurred_at, id FROM plain WHERE {WALK} ORDER BY occurred_at, id \
         LIMIT 1 OFFSET ?7"
    );
    let range = format!("{WALK} AND (occurred_at, id) <= (?7, ?8)");
    let change_sql = if delete {
        format!("DELETE FROM plain WHERE {range}")
    } else {
        format!("UPDATE plain SET {ANONYMIZE_SET} WHERE {range}")
    };
    // Without a last row (the final, shorter batch): everything after the cursor.
    let tail_sql = if delete {
        format!("DELETE FROM plain WHERE {WALK}")
    } else {
        format!("UPDATE plain SET {ANONYMIZE_SET} WHERE {WALK}")
    };
    let (mut cursor_at, mut cursor_id) = (String::new(), String::new());
    let mut rows = 0u64;
    let mut commit = Duration::ZERO;
    let t0 = Instant::now();
    loop {
        let tx = b
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .expect("BEGIN IMMEDIATE");
        let bound: Option<(String, String)> = tx
            .prepare_cached(&bound_sql)
            .expect("prepare bound")
            .query_row(
                params![
                    1,
                    category,
                    cutoff,
                    rule_arg,
                    cursor_at,
                    cursor_id,
                    batch - 1
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .expect("bound");
        let n = match &bound {
            Some((at, id)) => tx
                .prepare_cached(&change_sql)
                .expect("prepare change")
                .execute(params![
                    1, category, cutoff, rule_arg, cursor_at, cursor_id, at, id
                ])
                .expect("change"),
            None => tx
                .prepare_cached(&tail_sql)
                .expect("prepare tail")
                .execute(params![1, category, cutoff, rule_arg, cursor_at, cursor_id])
                .expect("tail"),
        };
        let tc = Instant::now();
        tx.commit().expect("COMMIT");
        commit += tc.elapsed();
        rows += n as u64;
        match bound {
            Some((at, id)) => (cursor_at, cursor_id) = (at, id),
            None => break,
        }
    }
    BaseResult {
        rows,
        wall: t0.elapsed(),
        commit,
    }
}

/// Checks the baseline changed the values as Lethe's transforms do (one row, compared).
fn check_baseline_transforms(b: &Baseline, s: &Settings, n: usize, origin: DateTime<Utc>) {
    let (recipient, ip, sent_at, preview, subject): (
        String,
        String,
        String,
        Option<String>,
        Option<i64>,
    ) = b
        .conn
        .query_row(
            "SELECT recipient, ip, sent_at, preview, subject_id FROM plain \
             ORDER BY occurred_at, id LIMIT 1 OFFSET 7",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .expect("a baseline row");
    let r = row(7, n, s.subjects, origin);
    use lethe::domain::transform as t;
    assert_eq!(recipient, t::mask(&r.recipient, 3, 3), "baseline mask");
    assert_eq!(
        ip,
        t::ip_network(&r.ip, 24, 48).expect("ip"),
        "baseline ip_network"
    );
    let day = t::coarsen_time(&r.sent_at, t::TimeUnit::Day).expect("time");
    assert_eq!(sent_at, day, "baseline coarsen_time");
    assert_eq!(
        (preview, subject),
        (None, None),
        "baseline null, drop_subject"
    );
}

// ---------------------------------------------------------------------------------------------
// Live writes over HTTPS

/// What a probe measured: latencies (ns) of successes, and errors.
#[derive(Default)]
struct Measured {
    latencies: Vec<u64>,
    elapsed: Duration,
    errors: u64,
    error_samples: Vec<String>,
}

impl Measured {
    /// Nearest-rank percentile; call after sorting the latencies.
    fn percentile(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.latencies
            .get(rank.clamp(1, n.max(1)) - 1)
            .map_or(Duration::ZERO, |&ns| Duration::from_nanos(ns))
    }

    fn max(&self) -> Duration {
        Duration::from_nanos(self.latencies.last().copied().unwrap_or(0))
    }

    fn requests_per_sec(&self) -> f64 {
        self.latencies.len() as f64 / secs(self.elapsed)
    }
}

/// One POST of one record; Ok if 201, or what went wrong.
async fn post(client: &reqwest::Client, lethe: &Lethe, body: Vec<u8>) -> Result<(), String> {
    let req = client.post(format!("{}/api/v1/records", lethe.base));
    let req = req
        .bearer_auth(&lethe.key)
        .header(CONTENT_TYPE, "application/json");
    let res = req.body(body).send().await;
    let res = res.map_err(|e| format!("transport error: {e}"))?;
    let status = res.status();
    let bytes = res.bytes().await.map_err(|e| format!("body error: {e}"))?;
    if status != reqwest::StatusCode::CREATED {
        let snippet: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
        return Err(format!("HTTP {}: {snippet}", status.as_u16()));
    }
    let receipt: Receipt =
        serde_json::from_slice(&bytes).map_err(|e| format!("receipt unreadable: {e}"))?;
    if receipt.stored != 1 {
        return Err(format!("stored {} records of 1", receipt.stored));
    }
    Ok(())
}

/// Single-record bodies for the live category: recent records (no rule is due for them).
fn live_bodies(subjects: usize) -> Arc<Vec<Vec<u8>>> {
    let at = (Utc::now() - ChronoDuration::minutes(5)).to_rfc3339_opts(SecondsFormat::Secs, true);
    Arc::new(
        (0..subjects.min(1000))
            .map(|i| {
                let record = json!({
                    "category": CAT_LIVE,
                    "subject": external_id(i),
                    "occurred_at": at,
                    "fields": {"recipient": "+4915112345678", "ip": "203.0.113.7",
                               "sent_at": at, "preview": "Your table is confirmed"},
                });
                serde_json::to_vec(&json!({ "records": [record] })).expect("JSON body")
            })
            .collect(),
    )
}

/// Posts back to back from every client until `stop` is set; requests started after
/// `record_from` are recorded. Elapsed = from `record_from` to when `stop` was seen.
async fn probe(
    lethe: &Arc<Lethe>,
    clients: &[reqwest::Client],
    bodies: &Arc<Vec<Vec<u8>>>,
    record_from: Instant,
    stop: Arc<AtomicBool>,
) -> Measured {
    let mut tasks = Vec::with_capacity(clients.len());
    for (n, client) in clients.iter().enumerate() {
        let (client, bodies, lethe, stop) =
            (client.clone(), bodies.clone(), lethe.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Measured::default();
            let mut i = n * 7;
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let result = post(&client, &lethe, bodies[i % bodies.len()].clone()).await;
                let t1 = Instant::now();
                i += 1;
                if t0 < record_from {
                    continue;
                }
                match result {
                    Ok(()) => out.latencies.push((t1 - t0).as_nanos() as u64),
                    Err(e) => {
                        out.errors += 1;
                        if out.error_samples.len() < MAX_ERROR_SAMPLES {
                            out.error_samples.push(e);
                        }
                    }
                }
            }
            out
        }));
    }
    let mut total = Measured::default();
    for task in tasks {
        let out = task.await.expect("probe task");
        total.latencies.extend(out.latencies);
        total.errors += out.errors;
        total.error_samples.extend(out.error_samples);
    }
    total.error_samples.truncate(MAX_ERROR_SAMPLES);
    total.elapsed = Instant::now().saturating_duration_since(record_from);
    total.latencies.sort_unstable();
    total
}

/// Connections opened (TLS handshakes) before anything is measured.
async fn open_clients(lethe: &Lethe, n: usize) -> Vec<reqwest::Client> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let client = client_for(&lethe.cert_pem);
        let res = client.get(format!("{}/healthz", lethe.base)).send().await;
        assert!(res.is_ok_and(|r| r.status() == 200), "/healthz");
        clients.push(client);
    }
    clients
}

// ---------------------------------------------------------------------------------------------

fn main() {
    rustls::crypto::ring::default_provider()
        .install_default()
        .expect("install the ring crypto provider");
    // The server's and the runner's warnings and errors (with their causes) on stderr.
    lethe::telemetry::init(Some("warn,actix_server=warn"));
    let settings = Arc::new(Settings::from_env());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores().clamp(1, 4))
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(settings));
}

/// Runs blocking work off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

async fn run(s: Arc<Settings>) {
    let started = Utc::now();
    let n = s.records;
    let origin = Utc::now();
    let dir = tempfile::tempdir().expect("temp dir");
    eprintln!(
        "retention bench: {n} records per category, data dir {}",
        dir.path().display()
    );
    let lethe = spawn_lethe(&s, dir.path()).await;

    // Load the three sets (not measured).
    let mut loads = Vec::new();
    let categories: &[&str] = if s.probe {
        &[CAT_ANONYMIZE, CAT_DELETE, CAT_LIVE]
    } else {
        &[CAT_ANONYMIZE, CAT_DELETE]
    };
    for &cat in categories {
        let (l, s2) = (lethe.clone(), s.clone());
        let took = blocking(move || load_lethe(&l, cat, n, &s2, origin)).await;
        eprintln!(
            "  loaded {n} records of {cat} in {took:.1} s ({:.0}/s)",
            n as f64 / took
        );
        loads.push((cat, took));
    }
    let db_size = std::fs::metadata(dir.path().join("lethe.db")).map_or(0, |m| m.len());

    // 1. Anonymization: baseline, then Lethe.
    let s2 = s.clone();
    let (base_anon_load, base_anon) = blocking(move || {
        eprintln!("  baseline anonymize: loading {n} plaintext rows …");
        let (mut b, load) = open_baseline(CAT_ANONYMIZE, n, &s2, origin);
        eprintln!("  baseline anonymize: batched UPDATE …");
        let r = baseline_run(&mut b, CAT_ANONYMIZE, "anonymize-a", false, s2.batch);
        check_baseline_transforms(&b, &s2, n, origin);
        (load, r)
    })
    .await;
    eprintln!("  lethe anonymize-a …");
    let (l, batch) = (lethe.clone(), s.batch);
    let anon = blocking(move || run_lethe(&l, "anonymize-a", batch)).await;

    // 2. Deletion: baseline, then Lethe.
    let s2 = s.clone();
    let (base_del_load, base_del) = blocking(move || {
        eprintln!("  baseline delete: loading {n} plaintext rows …");
        let (mut b, load) = open_baseline(CAT_DELETE, n, &s2, origin);
        eprintln!("  baseline delete: batched DELETE …");
        let r = baseline_run(&mut b, CAT_DELETE, "delete-b", true, s2.batch);
        let left: i64 = b
            .conn
            .query_row("SELECT count(*) FROM plain", [], |r| r.get(0))
            .expect("count");
        assert_eq!(left, 0, "the baseline deleted every row");
        (load, r)
    })
    .await;
    eprintln!("  lethe delete-b …");
    let l = lethe.clone();
    let del = blocking(move || run_lethe(&l, "delete-b", batch)).await;

    // 3. Live writes without, then during, a run.
    let live = if s.probe {
        let clients = open_clients(&lethe, s.concurrency).await;
        let bodies = live_bodies(s.subjects);
        // As long as the same job took on an equally sized set, unless told otherwise.
        let probe_secs = s.probe_secs.unwrap_or(anon.wall.as_secs_f64().max(5.0));
        eprintln!(
            "  live writes without a job: {probe_secs:.1} s (after {} s warm-up) …",
            WARMUP.as_secs()
        );
        let stop = Arc::new(AtomicBool::new(false));
        let record_from = Instant::now() + WARMUP;
        let stopper = {
            let stop = stop.clone();
            let d = WARMUP + Duration::from_secs_f64(probe_secs);
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                stop.store(true, Ordering::Relaxed);
            })
        };
        let quiet = probe(&lethe, &clients, &bodies, record_from, stop).await;
        stopper.await.expect("stopper");

        eprintln!("  live writes during lethe anonymize-c …");
        let stop = Arc::new(AtomicBool::new(false));
        let job = {
            let (l, stop) = (lethe.clone(), stop.clone());
            tokio::task::spawn_blocking(move || {
                let r = run_lethe(&l, "anonymize-c", batch);
                stop.store(true, Ordering::Relaxed);
                r
            })
        };
        let busy = probe(&lethe, &clients, &bodies, Instant::now(), stop).await;
        let job = job.await.expect("job task");
        Some((quiet, busy, job))
    } else {
        None
    };

    // ------------------------------------------------------------------------------------------
    let anon_ratio = anon.per_sec() / base_anon.per_sec().max(f64::EPSILON);
    let del_ratio = del.per_sec() / base_del.per_sec().max(f64::EPSILON);
    let b = s.batch;

    println!();
    println!(
        "retention, {n} records per set, batches of {b}, {} subjects, {} cores, {}",
        s.subjects,
        cores(),
        started.format("%Y-%m-%d %H:%M UTC")
    );
    let w = 52;
    println!(
        "{:<w$} {:>10} {:>9} {:>10} {:>12}",
        "", "rows", "secs", "rows/s", "vs baseline"
    );
    let line = |name: &str, rows: u64, t: Duration, ratio: Option<f64>| {
        let ratio = ratio.map_or(String::new(), |r| format!("{r:.2}×"));
        let rate = rows as f64 / secs(t);
        println!(
            "{name:<w$} {rows:>10} {:>9.2} {rate:>10.0} {ratio:>12}",
            t.as_secs_f64()
        );
    };
    line(
        "lethe anonymize (run_rule)",
        anon.rows(),
        anon.wall,
        Some(anon_ratio),
    );
    line(
        &format!("baseline plaintext UPDATE, {b} rows/txn"),
        base_anon.rows,
        base_anon.wall,
        None,
    );
    line(
        "lethe delete (run_rule)",
        del.rows(),
        del.wall,
        Some(del_ratio),
    );
    line(
        &format!("baseline plaintext DELETE, {b} rows/txn"),
        base_del.rows,
        base_del.wall,
        None,
    );
    for (name, r) in [("anonymize", &anon), ("delete", &del)] {
        let c = &r.outcome.counts;
        println!(
            "  lethe {name}: {} batches, {} scanned, {} errors, {} held; last batch at {:.2} s, \
             then {:.2} s to end the run and check its claim",
            r.batches,
            c.scanned,
            c.errors,
            c.held,
            r.to_last_batch.as_secs_f64(),
            (r.wall.saturating_sub(r.to_last_batch)).as_secs_f64()
        );
    }

    for (name, r) in [("UPDATE", &base_anon), ("DELETE", &base_del)] {
        println!(
            "  baseline {name}: {:.2} s of its {:.2} s in COMMIT (WAL writes, checkpoints)",
            r.commit.as_secs_f64(),
            r.wall.as_secs_f64()
        );
    }

    let mut errors = 0;
    let mut live_ratio = None;
    if let Some((quiet, busy, job)) = &live {
        println!();
        let c = s.concurrency;
        println!(
            "{:<w$} {:>10} {:>9} {:>10} {:>10} {:>10} {:>7}",
            format!("live writes, POST /api/v1/records, c={c}, 1 record"),
            "requests",
            "secs",
            "req/s",
            "p50",
            "p99",
            "errors"
        );
        for (name, m) in [("without a job", quiet), ("during lethe anonymize-c", busy)] {
            println!(
                "{name:<w$} {:>10} {:>9.2} {:>10.0} {:>10} {:>10} {:>7}",
                m.latencies.len(),
                m.elapsed.as_secs_f64(),
                m.requests_per_sec(),
                ms(m.percentile(50.0)),
                ms(m.percentile(99.0)),
                m.errors
            );
        }
        let ratio =
            busy.percentile(99.0).as_secs_f64() / quiet.percentile(99.0).as_secs_f64().max(1e-9);
        live_ratio = Some(ratio);
        println!(
            "  max latency {} without, {} during; the run beside live writes: {} rows in {:.2} s \
             ({:.0} rows/s, {:.2}× its clean rate)",
            ms(quiet.max()),
            ms(busy.max()),
            job.rows(),
            job.wall.as_secs_f64(),
            job.per_sec(),
            job.per_sec() / anon.per_sec().max(f64::EPSILON)
        );
        for sample in quiet.error_samples.iter().chain(&busy.error_samples) {
            println!("  error e.g. {sample}");
        }
        errors = quiet.errors + busy.errors;
    }

    println!();
    let probe_secs = s
        .probe_secs
        .map_or("(the clean run's time)".into(), |p| p.to_string());
    println!(
        "knobs: BENCH_RECORDS={n} BENCH_BATCH={b} BENCH_SUBJECTS={} BENCH_CONCURRENCY={} \
         BENCH_WORKERS={} BENCH_PROBE_SECS={probe_secs} BENCH_PROBE={}",
        s.subjects,
        s.concurrency,
        s.workers,
        u8::from(s.probe)
    );
    for (cat, took) in &loads {
        println!("  load (not measured): {n} records of {cat} in {took:.1} s via ingest_now");
    }
    println!(
        "  lethe.db after loading: {:.0} MB; baseline loads {base_anon_load:.1} s and \
         {base_del_load:.1} s",
        db_size as f64 / 1e6
    );
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "anonymization {anon_ratio:.2}× baseline (goal ≥ 0.50×): {}",
        verdict(anon_ratio >= 0.5)
    );
    println!(
        "deletion {del_ratio:.2}× baseline (goal ≥ 0.50×): {}",
        verdict(del_ratio >= 0.5)
    );
    if let Some(r) = live_ratio {
        println!(
            "live-write p99 during the job {r:.2}× without it (goal ≤ 2.00×): {}",
            verdict(r <= 2.0)
        );
    }
    if errors > 0 {
        println!("ERRORS: {errors} responses other than 201");
        std::process::exit(1);
    }
}
