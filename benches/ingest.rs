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

use common::{cores, ms};

use chrono::Utc;
use lethe::domain::record::Receipt;
use lethe::services::{Caller, accounts, apikeys, workspaces};
use lethe::store::{Db, WorkspaceScope};
use lethe::vault::SecretKey;
use reqwest::header::CONTENT_TYPE;
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: usize = 100;
const CATEGORY: &str = "usage.message_log";
const OCCURRED_AT: &str = "2026-11-20T10:00:00Z";
const PREVIEW: &str = "Your table for four is confirmed for Friday at eight";
const PREVIEW_CHARS: usize = 40;
const MAX_ERROR_SAMPLES: usize = 5;
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

/// `name` from the environment (or `default`), which must lie in `lo..=hi`.
fn env_in<T>(name: &str, default: T, lo: T, hi: T) -> T
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let value = match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        _ => default,
    };
    assert!(lo <= value && value <= hi, "{name} must be in {lo}..={hi}");
    value
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

/// What one run measured: latencies (ns) of successes, records stored, and the time they took.
#[derive(Default)]
struct Measured {
    latencies: Vec<u64>,
    items: u64,
    elapsed: Duration,
    errors: u64,
    error_samples: Vec<String>,
    /// The writer's commits, batches and records during the run (warm-up included).
    writer: Option<[u64; 3]>,
}

impl Measured {
    fn per_sec(&self) -> f64 {
        self.items as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Nearest-rank percentile; call after sorting the latencies.
    fn percentile(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.latencies
            .get(rank.clamp(1, n.max(1)) - 1)
            .map_or(Duration::ZERO, |&ns| Duration::from_nanos(ns))
    }

    fn absorb(&mut self, other: Measured) {
        self.latencies.extend(other.latencies);
        self.items += other.items;
        self.errors += other.errors;
        self.error_samples.extend(other.error_samples);
        self.error_samples.truncate(MAX_ERROR_SAMPLES);
    }
}

fn external_id(i: usize) -> String {
    format!("cus_{i}")
}

/// The fields of every record as sent (Lethe keeps the first 40 characters of the preview).
fn fields(preview: &str) -> Value {
    json!({"recipient_number": "+4915112345678", "status": "delivered", "preview": preview})
}

/// An admin, the workspace `bench` and its scope, through the same services the shell uses.
fn create_workspace(db: &Db) -> WorkspaceScope {
    let owner = accounts::create_admin(
        db,
        "bench@example.org",
        "correct horse battery staple",
        lethe::services::accounts::OnExisting::Refuse,
    )
    .expect("admin created");
    let input = lethe::domain::workspace::WorkspaceSettingsInput {
        legal_name: "Bench Ltd".into(),
        contact_email: "p@bench.example".into(),
        dpo_name: String::new(),
        dpo_email: String::new(),
        min_age: "16".into(),
        request_law: String::new(),
        notice_days: String::new(),
        require_totp: false,
        review_requests: false,
        consent_origins: Vec::new(),
        consent_cookie_domain: String::new(),
        time_zone: String::new(),
    };
    workspaces::create(db, &Caller::system(), owner, "bench", &input).expect("workspace created");
    let found = db.read(|c| lethe::store::workspaces::find_by_slug(c, "bench"));
    found.expect("lookup").expect("workspace exists").0
}

// ---------------------------------------------------------------------------------------------
// Lethe over HTTPS

struct Lethe {
    base: String,
    cert_pem: Vec<u8>,
    key: String,
}

fn client_for(cert_pem: &[u8]) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(cert_pem).expect("PEM certificate");
    reqwest::Client::builder()
        .http1_only()
        .tls_certs_only([cert])
        .no_proxy()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client builds")
}

/// Lethe with a fresh data dir, its workspace, a key, the category and the subjects.
async fn spawn_lethe(settings: &Settings, data_dir: &Path) -> Lethe {
    let mut config = lethe::config::Config::with_data_dir(data_dir);
    config.metrics_token = Some(lethe::config::Secret::new(METRICS_TOKEN));
    config.listen = "127.0.0.1:0".parse().expect("address");
    config.workers = Some(settings.workers);
    let app = lethe::startup::Application::build(config)
        .await
        .expect("Lethe builds");
    let base = format!("https://127.0.0.1:{}", app.port());
    let cert_path = app.cert_path.clone().expect("Lethe serves TLS");
    let cert_pem = std::fs::read(cert_path).expect("certificate readable");
    let db = app.db.clone();
    tokio::spawn(app.run_until_stopped());
    let key = tokio::task::spawn_blocking(move || {
        let scope = create_workspace(&db);
        let scopes = ["records:write", "inventory:write"];
        let created = apikeys::create(&db, &Caller::cli(), &scope, "bench", scopes);
        created.expect("key created").secret
    })
    .await
    .expect("set-up task");

    let client = client_for(&cert_pem);
    let category = json!({
        "key": CATEGORY, "name": "Message log", "sensitivity": "normal",
        "fields": [{"name": "recipient_number"}, {"name": "status"},
                   {"name": "preview", "handling": "preview", "preview_chars": PREVIEW_CHARS}],
    });
    let url = format!("{base}/api/v1/inventory/categories/{CATEGORY}");
    let req = client.put(url).bearer_auth(&key).json(&category);
    must(req, "category").await;
    for i in 0..settings.subjects {
        let id = external_id(i);
        let subject = json!({"external_id": id, "email": format!("{id}@example.org")});
        let req = client.post(format!("{base}/api/v1/subjects"));
        must(req.bearer_auth(&key).json(&subject), &id).await;
    }
    Lethe {
        base,
        cert_pem,
        key,
    }
}

/// A set-up request that must succeed.
async fn must(req: reqwest::RequestBuilder, what: &str) {
    let res = req.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    assert!(status.is_success(), "{what}: {status} {body}");
}

/// Request bodies of `per_request` records; body j names subjects j·per_request … (mod n).
fn bodies(per_request: usize, subjects: usize) -> Arc<Vec<Vec<u8>>> {
    let body = |j: usize| {
        let records: Vec<Value> = (0..per_request)
            .map(|i| {
                json!({
                    "category": CATEGORY,
                    "subject": external_id((j * per_request + i) % subjects),
                    "occurred_at": OCCURRED_AT,
                    "fields": fields(PREVIEW),
                })
            })
            .collect();
        serde_json::to_vec(&json!({ "records": records })).expect("JSON body")
    };
    Arc::new((0..subjects.div_ceil(per_request)).map(body).collect())
}

/// One POST; the number of records stored, or what went wrong.
async fn post(client: &reqwest::Client, lethe: &Lethe, body: Vec<u8>) -> Result<u64, String> {
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
    Ok(receipt.stored as u64)
}

/// Loads `/api/v1/records` with `bodies`, C connections back to back, warm-up + measurement.
async fn load(lethe: &Arc<Lethe>, bodies: Arc<Vec<Vec<u8>>>, settings: &Settings) -> Measured {
    // Open every connection first (TLS handshakes outside the measurement).
    let mut clients = Vec::with_capacity(settings.concurrency);
    for _ in 0..settings.concurrency {
        let client = client_for(&lethe.cert_pem);
        let res = client.get(format!("{}/healthz", lethe.base)).send().await;
        assert!(res.is_ok_and(|r| r.status() == 200), "/healthz");
        clients.push(client);
    }
    let writer_before = writer_counters(lethe).await;
    let record_from = Instant::now() + Duration::from_secs_f64(settings.warmup_secs);
    let stop_at = record_from + Duration::from_secs_f64(settings.secs);
    let mut tasks = Vec::with_capacity(clients.len());
    for (n, client) in clients.into_iter().enumerate() {
        let (bodies, lethe) = (bodies.clone(), lethe.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Measured::default();
            let mut last = record_from;
            for i in n.. {
                let t0 = Instant::now();
                if t0 >= stop_at {
                    break;
                }
                let result = post(&client, &lethe, bodies[i % bodies.len()].clone()).await;
                let t1 = Instant::now();
                if t0 < record_from {
                    continue;
                }
                last = t1;
                match result {
                    Ok(stored) => {
                        out.items += stored;
                        out.latencies.push((t1 - t0).as_nanos() as u64);
                    }
                    Err(e) => {
                        out.errors += 1;
                        if out.error_samples.len() < MAX_ERROR_SAMPLES {
                            out.error_samples.push(e);
                        }
                    }
                }
            }
            (out, last)
        }));
    }
    let (mut total, mut last) = (Measured::default(), record_from);
    for task in tasks {
        let (out, l) = task.await.expect("load task");
        total.absorb(out);
        last = last.max(l);
    }
    // From the start of the measurement to the last recorded response.
    total.elapsed = last - record_from;
    total.latencies.sort_unstable();
    if let (Some(a), Some(b)) = (writer_before, writer_counters(lethe).await) {
        total.writer = Some([b[0] - a[0], b[1] - a[1], b[2] - a[2]]);
    }
    total
}

/// What the bench's Lethe requires to read `/metrics`.
const METRICS_TOKEN: &str = "bench-metrics-token-0123456789";

/// The record writer's counters from `/metrics` (commits, batches, records), if it has them.
async fn writer_counters(lethe: &Lethe) -> Option<[u64; 3]> {
    let client = client_for(&lethe.cert_pem);
    let res = client
        .get(format!("{}/metrics", lethe.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await;
    let text = res.ok()?.text().await.ok()?;
    let value = |name: &str| -> Option<u64> {
        let prefix = format!("lethe_record_writer_{name}_total ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
    };
    Some([value("commits")?, value("batches")?, value("records")?])
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
    rustls::crypto::ring::default_provider()
        .install_default()
        .expect("install the ring crypto provider");
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.client_threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(Arc::new(settings)));
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
    let lethe = Arc::new(spawn_lethe(&settings, lethe_dir.path()).await);
    let n = settings.subjects;
    let b = tokio::task::spawn_blocking(move || open_baseline(n));
    let b = b.await.expect("baseline set-up");
    // Each Lethe run right after its baseline: this machine's fsync times drift.
    let (b, base_batches) = baseline(b, BATCH, settings.clone()).await;
    eprintln!("  lethe: batches of {BATCH} …");
    let batches = load(&lethe, bodies(BATCH, n), &settings).await;
    let (_, base_singles) = baseline(b, 1, settings.clone()).await;
    eprintln!("  lethe: single records …");
    let singles = load(&lethe, bodies(1, n), &settings).await;

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
