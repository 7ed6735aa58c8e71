//! Data subject requests at scale: the access package of one person among many records, the
//! erasure of one person, each beside plain SQL in the same process, and requests created per
//! second through the API beside a bare actix-web handler.
//!
//! Run with `cargo bench --bench requests`. Lethe runs in-process on port 0 with a fresh data
//! dir and one workspace with three categories (`bench.orders`: order_ref, amount, currency,
//! shipping_address, items; `bench.messages`: recipient, ip, sent_at, body; `bench.logins`:
//! ip, user_agent, outcome; about 150 to 250 bytes of values per record). It gets
//! `BENCH_SUBJECTS` subjects (default 100,000, each with an e-mail address, through
//! `services::subjects::put`, two threads) and `BENCH_RECORDS` records (default 1,000,000,
//! through `services::records::ingest_now`, 1000 per transaction, two loader threads), record
//! `i` in category `i mod 3`, of a subject drawn from `i` by a fixed hash (about 10 records per
//! person at the defaults, spread as chance spreads them). Loading is timed apart and not
//! measured.
//!
//! The baseline is a fresh SQLite file with the same rows in the clear (the fields as one JSON
//! TEXT column, the subject as an integer, an index on (workspace, subject, occurred_at) and one
//! on (workspace, category, occurred_at) like Lethe's) and Lethe's connection pragmas (WAL,
//! `synchronous = NORMAL`, `foreign_keys`, `secure_delete`).
//!
//! `BENCH_PEOPLE` persons (default 100) at a fixed stride over the subjects are packaged, and as
//! many others (half a stride further) are erased:
//!
//! 1. Package: for each person an access request is created through
//!    `services::requests::create_verified` (by external id) and, unless it is already completed,
//!    started and completed with `take_step` (not measured). Measured per person:
//!    `request_package::open` (checks, profile, inventory facts, the access-log and audit
//!    entries) + `request_package::write` of the whole zip into a counting sink. Baseline per
//!    person: ONE `SELECT id, category, occurred_at, received_at, fields FROM plain WHERE
//!    workspace_id = 1 AND subject_id = ? ORDER BY id`, each row's fields parsed from JSON, then
//!    a zip (same crate, deflate, streamed into a counting sink) with `records.json` (the rows as
//!    JSON objects) and `records.csv` (the same columns as Lethe's, through Lethe's CSV writer).
//!    Lethe's zip also holds `summary.html`, `profile.json` and `inventory.json`.
//! 2. Erasure: for each person an erasure request is created through `create_verified` (not
//!    measured); measured: `request_fulfilment::fulfil` (what the API runs right after creating
//!    one): the durable transaction (`Db::write_durable`) that deletes the records, marks the
//!    subject erased, completes the request with its timeline, audit entries and e-mail, then the
//!    destruction of the person's key in the key store. Baseline per person: `BEGIN IMMEDIATE;
//!    DELETE FROM plain WHERE workspace_id = 1 AND subject_id = ?; COMMIT` with
//!    `synchronous = FULL`.
//! 3. Requests created per second: `BENCH_CONCURRENCY` clients (default 8), each with its own
//!    keep-alive HTTPS connection, `POST /api/v1/requests` back to back for `BENCH_WARMUP_SECS`
//!    (default 1, not recorded) then `BENCH_SECS` (default 5): in turn an access request for a
//!    known address, one for an unknown address, an erasure for a known address (carried out at
//!    once, as the API does) and one for an unknown address. Anything but 201 is an error. The
//!    baseline: a bare actix-web server (no middleware, same TLS and workers) whose handler
//!    parses the same JSON and answers 201 with a small JSON body, loaded the same way just
//!    before. A peer's request creation (about 4 per second on this kind of machine, as the
//!    issue reports it; not measured here) is printed for comparison.
//!
//! Other knobs: `BENCH_WORKERS` (HTTP workers of both servers, default 2), `BENCH_API=0` (skip
//! part 3).

// Test and measurement code: a failed step is a failed run, so it may unwrap (see [lints] in
// Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::records::ingest_all;
use common::{bare_tls, cores, env_in, ms, percentile};

use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use lethe::domain::csv_export::CsvExport;
use lethe::domain::inventory::DataCategory;
use lethe::domain::request::{RequestInput, RequestState};
use lethe::domain::subject::SubjectInput;
use lethe::error::AppError;
use lethe::services::request_package::{self, Answer, Proof};
use lethe::services::requests::{self, Step};
use lethe::services::subjects::Reader;
use lethe::services::{
    Caller, accounts, apikeys, inventory, request_fulfilment, subjects, workspaces,
};
use lethe::store::{Db, WorkspaceScope};
use lethe::vault::Vault;
use reqwest::header::CONTENT_TYPE;
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use zip::write::SimpleFileOptions;

const CATEGORIES: [&str; 3] = ["bench.orders", "bench.messages", "bench.logins"];
const FIELDS: [&[&str]; 3] = [
    &[
        "order_ref",
        "amount",
        "currency",
        "shipping_address",
        "items",
    ],
    &["recipient", "ip", "sent_at", "body"],
    &["ip", "user_agent", "outcome"],
];
/// Records occurred over the last this many days, in load order.
const SPAN_DAYS: i64 = 365;
const LOAD_THREADS: usize = 2;
const MAX_ERROR_SAMPLES: usize = 5;
/// A peer's request creation, as the issue reports it (not measured here).
const PEER_PER_SEC: f64 = 4.0;
const BASE_URL: &str = "https://127.0.0.1";
/// The kinds of request part 3 posts, in turn.
const API_KINDS: [&str; 4] = [
    "access, known address",
    "access, unknown address",
    "erasure, known address",
    "erasure, unknown address",
];

struct Settings {
    records: usize,
    subjects: usize,
    people: usize,
    secs: f64,
    warmup_secs: f64,
    concurrency: usize,
    workers: usize,
    api: bool,
}

impl Settings {
    fn from_env() -> Self {
        let s = Settings {
            records: env_in("BENCH_RECORDS", 1_000_000, 1000, 100_000_000),
            subjects: env_in("BENCH_SUBJECTS", 100_000, 2, 10_000_000),
            people: env_in("BENCH_PEOPLE", 100, 1, 100_000),
            secs: env_in("BENCH_SECS", 5.0, 0.5, 600.0),
            warmup_secs: env_in("BENCH_WARMUP_SECS", 1.0, 0.0, 60.0),
            concurrency: env_in("BENCH_CONCURRENCY", 8, 1, 1024),
            workers: env_in("BENCH_WORKERS", 2, 1, 64),
            api: env_in("BENCH_API", 1, 0, 1) == 1,
        };
        assert!(
            s.subjects >= 2 * s.people,
            "BENCH_SUBJECTS must be at least twice BENCH_PEOPLE (packaged and erased persons differ)"
        );
        s
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64().max(f64::EPSILON)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// Counts what is written and keeps nothing.
struct Counting(u64);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The data: the same rows for Lethe and the baseline

fn external_id(i: usize) -> String {
    format!("cus_{i}")
}

fn email(i: usize) -> String {
    format!("person{i}@example.org")
}

fn splitmix(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One record's plaintext, as both sides store it.
struct Row {
    subject: usize,
    category: usize,
    occurred_at: DateTime<Utc>,
    fields: Map<String, Value>,
}

const AGENTS: [&str; 3] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
];
const STREETS: [&str; 4] = [
    "Rue de la Paix",
    "Hauptstraße",
    "Calle Mayor",
    "Keizersgracht",
];

/// Row `i` of `n`: occurred in load order over the last `SPAN_DAYS` days.
fn row(i: usize, n: usize, subjects: usize, origin: DateTime<Utc>) -> Row {
    let span = ChronoDuration::days(SPAN_DAYS)
        .num_microseconds()
        .unwrap_or(0);
    let offset = (span as i128 * i as i128 / n.max(1) as i128) as i64;
    let occurred_at =
        origin - ChronoDuration::days(SPAN_DAYS + 1) + ChronoDuration::microseconds(offset);
    let category = i % 3;
    let ip = format!(
        "{}.{}.{}.{}",
        10 + i % 200,
        (i / 200) % 256,
        (i / 51_200) % 256,
        (i * 31) % 256
    );
    let values: Vec<String> = match category {
        0 => vec![
            format!("ORD-2026-{i:08}"),
            format!("{}.{:02}", 5 + (i * 37) % 400, (i * 13) % 100),
            "EUR".into(),
            format!(
                "{} {}, {:05} {}",
                1 + i % 180,
                STREETS[i % 4],
                10_000 + (i * 7) % 89_999,
                ["Paris", "Berlin", "Madrid", "Amsterdam"][i % 4]
            ),
            format!(
                "{}x Espresso cups; {}x Milk jug 350 ml; 1x Descaler",
                1 + i % 4,
                1 + i % 2
            ),
        ],
        1 => vec![
            format!("+49151{:08}", (i * 7919) % 100_000_000),
            ip,
            occurred_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            format!(
                "Your table for {} is confirmed for Friday at 19:30, reference {:06}. Reply STOP to opt out.",
                2 + i % 6,
                i % 1_000_000
            ),
        ],
        _ => vec![
            ip,
            AGENTS[i % 3].into(),
            if i.is_multiple_of(17) {
                "failed"
            } else {
                "success"
            }
            .into(),
        ],
    };
    let fields = FIELDS[category]
        .iter()
        .zip(values)
        .map(|(k, v)| ((*k).to_owned(), Value::String(v)))
        .collect();
    Row {
        subject: (splitmix(i) % subjects as u64) as usize,
        category,
        occurred_at,
        fields,
    }
}

fn record_json(r: Row) -> Value {
    json!({
        "category": CATEGORIES[r.category],
        "subject": external_id(r.subject),
        "occurred_at": r.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "fields": r.fields,
    })
}

/// The persons packaged (`offset` 0) or erased (`offset` 1): a fixed stride over the subjects.
fn persons(s: &Settings, offset: usize) -> Vec<usize> {
    let stride = s.subjects / s.people;
    (0..s.people)
        .map(|k| k * stride + offset * (stride / 2))
        .collect()
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

/// The admin, the workspace, an API key and the categories.
fn set_up(db: &Db) -> (WorkspaceScope, String) {
    let owner = accounts::create_admin(
        db,
        "bench@example.org",
        "correct horse battery staple",
        accounts::OnExisting::Refuse,
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
    let scopes = ["records:write", "requests:read", "requests:write"];
    let key = apikeys::create(db, &Caller::cli(), &scope, "bench", scopes)
        .unwrap_or_else(|e| panic!("API key: {e}"))
        .secret;
    for (cat, fields) in CATEGORIES.iter().zip(FIELDS) {
        let fields: Vec<Value> = fields.iter().map(|f| json!({"name": f})).collect();
        let category: DataCategory = serde_json::from_value(json!({
            "key": cat, "name": format!("Bench {cat}"), "sensitivity": "normal",
            "fields": fields,
        }))
        .expect("category JSON");
        inventory::put(db, &Caller::cli(), &scope, cat, category)
            .unwrap_or_else(|e| panic!("category {cat}: {e}"));
    }
    (scope, key)
}

/// The subjects, each with an e-mail address, on `LOAD_THREADS` threads. Returns the time.
fn load_subjects(lethe: &Lethe, n: usize) -> f64 {
    let t0 = Instant::now();
    let next = AtomicUsize::new(0);
    let today = Utc::now().date_naive();
    std::thread::scope(|scope| {
        for _ in 0..LOAD_THREADS {
            scope.spawn(|| {
                let caller = Caller::cli();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let input = SubjectInput {
                        external_id: external_id(i),
                        email: Some(email(i)),
                        kind: Some("customer".into()),
                        birth_date: None,
                    };
                    subjects::put(&lethe.db, &lethe.vault, &lethe.scope, &caller, input, today)
                        .unwrap_or_else(|e| panic!("subject {i}: {e}"));
                    let step = (n / 10).max(1);
                    if (i + 1).is_multiple_of(step) {
                        eprintln!(
                            "  subjects: {} of {n} ({:.0} s)",
                            i + 1,
                            t0.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    t0.elapsed().as_secs_f64()
}

/// Loads `n` records through `ingest_now` (see `common::records::ingest_all`). Returns the time
/// it took.
fn load_records(lethe: &Lethe, n: usize, subjects: usize, origin: DateTime<Utc>) -> f64 {
    let record = |i| record_json(row(i, n, subjects, origin));
    ingest_all(&lethe.db, &lethe.vault, lethe.scope, n, "records", record)
}

async fn spawn_lethe(s: &Settings, data_dir: &Path) -> Arc<Lethe> {
    let mut config = lethe::config::Config::with_data_dir(data_dir);
    config.listen = "127.0.0.1:0".parse().expect("address");
    config.workers = Some(s.workers);
    let app = lethe::startup::Application::build(config)
        .await
        .unwrap_or_else(|e| panic!("Lethe builds: {e:#}"));
    let base = format!("https://127.0.0.1:{}", app.port());
    let cert_path = app.cert_path.clone().expect("Lethe serves TLS");
    let cert_pem = std::fs::read(cert_path).expect("certificate readable");
    let (db, vault) = (app.db.clone(), app.vault.clone());
    tokio::spawn(app.run_until_stopped());
    let db2 = db.clone();
    let (scope, key) = tokio::task::spawn_blocking(move || set_up(&db2))
        .await
        .expect("set-up task");
    Arc::new(Lethe {
        base,
        cert_pem,
        key,
        db,
        vault,
        scope,
    })
}

fn request_for(kind: &str, i: usize) -> RequestInput {
    RequestInput {
        kind: Some(kind.into()),
        external_id: Some(external_id(i)),
        ..RequestInput::default()
    }
}

/// A completed access request for person `i`, however far creation takes it by itself.
fn completed_access(lethe: &Lethe, i: usize) -> String {
    let (db, vault, scope, caller) = (&lethe.db, &lethe.vault, &lethe.scope, Caller::cli());
    let now = Utc::now();
    let view = requests::create_verified(
        db,
        vault,
        scope,
        &caller,
        request_for("access", i),
        BASE_URL,
        now,
    )
    .unwrap_or_else(|e| panic!("access request for {i}: {e}"));
    let (id, mut state) = (view.id, view.state);
    loop {
        let step = match state {
            RequestState::Completed => return id,
            RequestState::Verified => Step::Start,
            RequestState::InProgress => Step::Complete,
            other => panic!("access request {id} is {other:?}"),
        };
        state = requests::take_step(db, vault, scope, &caller, &id, step, BASE_URL, Utc::now())
            .unwrap_or_else(|e| panic!("step on {id}: {e}"))
            .state;
    }
}

/// One package: `open` and `write` into a counting sink. Returns the time of `open`, the time
/// of both and the bytes.
fn lethe_package(lethe: &Lethe, request_id: &str) -> (Duration, Duration, u64) {
    let reader = Reader::new(&Caller::cli(), false, "bench: access package".into());
    let t0 = Instant::now();
    let answer = request_package::open(
        &lethe.db,
        &lethe.vault,
        &lethe.scope,
        &reader,
        request_id,
        Proof::ApiKey,
        Utc::now(),
    )
    .unwrap_or_else(|e| panic!("open {request_id}: {e}"));
    let Answer::Package(package) = answer else {
        panic!("request {request_id} has no package");
    };
    let opened = t0.elapsed();
    let out = request_package::write(&lethe.db, &lethe.vault, &package, Counting(0))
        .unwrap_or_else(|e| panic!("write {request_id}: {e}"));
    (opened, t0.elapsed(), out.0)
}

/// A verified erasure request for person `i` (not carried out).
fn verified_erasure(lethe: &Lethe, i: usize) -> String {
    let (db, vault, scope) = (&lethe.db, &lethe.vault, &lethe.scope);
    let view = requests::create_verified(
        db,
        vault,
        scope,
        &Caller::cli(),
        request_for("erasure", i),
        BASE_URL,
        Utc::now(),
    )
    .unwrap_or_else(|e| panic!("erasure request for {i}: {e}"));
    assert_eq!(
        view.state,
        RequestState::Verified,
        "an erasure request waits to be carried out after create_verified"
    );
    view.id
}

/// Carries out one erasure request. None if it was no longer verified (the `requests` job took
/// it first), else the time.
fn lethe_erase(lethe: &Lethe, request_id: &str) -> Option<Duration> {
    let t0 = Instant::now();
    let result = request_fulfilment::fulfil(
        &lethe.db,
        &lethe.vault,
        &lethe.scope,
        &Caller::cli(),
        request_id,
        BASE_URL,
        Utc::now(),
    );
    let took = t0.elapsed();
    match result {
        Ok(view) => {
            assert_eq!(view.state, RequestState::Completed, "erasure {request_id}");
            Some(took)
        }
        Err(AppError::Conflict(e)) => {
            eprintln!("  erasure {request_id} skipped: {e}");
            None
        }
        Err(e) => panic!("erasure {request_id}: {e}"),
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
        fields        TEXT NOT NULL
    );
    CREATE INDEX plain_subject ON plain(workspace_id, subject_id, occurred_at);
    CREATE INDEX plain_category ON plain(workspace_id, category, occurred_at);";

struct Baseline {
    _dir: tempfile::TempDir,
    conn: Connection,
}

/// A fresh file with the plain table and the same `n` rows; Lethe's connection pragmas.
fn open_baseline(s: &Settings, origin: DateTime<Utc>) -> (Baseline, f64) {
    let t0 = Instant::now();
    let n = s.records;
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
                     received_at, fields) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6)",
                )
                .expect("prepare INSERT");
            for j in i..(i + 10_000).min(n) {
                let r = row(j, n, s.subjects, origin);
                let id = uuid::Uuid::now_v7().to_string();
                let fields = serde_json::to_string(&r.fields).expect("fields JSON");
                insert
                    .execute(params![
                        id,
                        r.subject as i64,
                        CATEGORIES[r.category],
                        lethe::store::ts(r.occurred_at),
                        received,
                        fields
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

#[derive(serde::Serialize)]
struct PlainRecord {
    id: String,
    category: String,
    occurred_at: String,
    received_at: String,
    fields: Map<String, Value>,
}

/// The baseline's package of person `i`: one SELECT, then records.json and records.csv in a
/// streamed zip. Returns the time, the rows and the bytes.
fn baseline_package(b: &Baseline, i: usize) -> (Duration, usize, u64) {
    let t0 = Instant::now();
    let mut select = b
        .conn
        .prepare_cached(
            "SELECT id, category, occurred_at, received_at, fields FROM plain \
             WHERE workspace_id = 1 AND subject_id = ?1 ORDER BY id",
        )
        .expect("prepare SELECT");
    let rows: Vec<PlainRecord> = select
        .query_map([i as i64], |r| {
            let fields: String = r.get(4)?;
            Ok(PlainRecord {
                id: r.get(0)?,
                category: r.get(1)?,
                occurred_at: r.get(2)?,
                received_at: r.get(3)?,
                fields: serde_json::from_str(&fields).expect("fields JSON"),
            })
        })
        .expect("SELECT")
        .collect::<Result<_, _>>()
        .expect("rows");
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut zip = zip::ZipWriter::new_stream(Counting(0));
    zip.start_file("records.json", options).expect("zip entry");
    zip.write_all(b"[").expect("zip write");
    for (n, r) in rows.iter().enumerate() {
        zip.write_all(if n == 0 { b"\n" } else { b",\n" })
            .expect("zip write");
        serde_json::to_writer(&mut zip, r).expect("JSON");
    }
    zip.write_all(b"\n]\n").expect("zip write");
    zip.start_file("records.csv", options).expect("zip entry");
    let mut csv = CsvExport::default();
    csv.row(["id", "category", "occurred_at", "received_at", "fields"])
        .expect("CSV");
    for r in &rows {
        let fields = serde_json::to_string(&r.fields).expect("fields JSON");
        csv.row([
            r.id.clone(),
            r.category.clone(),
            r.occurred_at.clone(),
            r.received_at.clone(),
            fields,
        ])
        .expect("CSV");
    }
    zip.write_all(&csv.finish().expect("CSV"))
        .expect("zip write");
    let out = zip.finish().expect("zip").into_inner();
    (t0.elapsed(), rows.len(), out.0)
}

/// The baseline's erasure of person `i`: one DELETE in one durable transaction. Returns the
/// time and the rows deleted.
fn baseline_erase(b: &mut Baseline, i: usize) -> (Duration, usize) {
    let t0 = Instant::now();
    let tx = b
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .expect("BEGIN IMMEDIATE");
    let n = tx
        .prepare_cached("DELETE FROM plain WHERE workspace_id = 1 AND subject_id = ?1")
        .expect("prepare DELETE")
        .execute([i as i64])
        .expect("DELETE");
    tx.commit().expect("COMMIT");
    (t0.elapsed(), n)
}

// ---------------------------------------------------------------------------------------------
// Requests created over HTTPS

/// A bare actix-web server: a healthz and a POST handler that parses the JSON and answers 201,
/// no middleware, same TLS style and worker count as Lethe.
fn spawn_bare(workers: usize) -> (String, Vec<u8>) {
    let (listener, tls, cert_pem) = bare_tls();
    let port = listener.local_addr().unwrap().port();
    async fn healthz() -> HttpResponse {
        HttpResponse::Ok().json(json!({ "status": "ok" }))
    }
    async fn create(body: web::Json<Value>) -> HttpResponse {
        let id = uuid::Uuid::now_v7().to_string();
        HttpResponse::Created()
            .insert_header(("Location", format!("/api/v1/requests/{id}")))
            .json(json!({"id": id, "type": body.get("type"), "state": "verified"}))
    }
    let server = HttpServer::new(|| {
        App::new()
            .route("/healthz", web::get().to(healthz))
            .route("/api/v1/requests", web::post().to(create))
    })
    .workers(workers)
    .listen_rustls_0_23(listener, tls)
    .expect("bare server listens")
    .run();
    tokio::spawn(server);
    (format!("https://127.0.0.1:{port}"), cert_pem)
}

struct Target {
    name: String,
    base: String,
    cert_pem: Vec<u8>,
    bearer: Option<String>,
}

/// What a load measured: latencies (ns) of successes, in all and by kind, and errors.
#[derive(Default)]
struct Measured {
    latencies: Vec<u64>,
    by_kind: [Vec<u64>; 4],
    elapsed: Duration,
    errors: u64,
    error_samples: Vec<String>,
}

impl Measured {
    fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / secs(self.elapsed)
    }
}

/// The body of the `n`-th request of client `c`: the kinds in turn, known addresses spread
/// over the subjects, unknown ones never seen before.
fn api_body(c: usize, n: usize, subjects: usize) -> (usize, Vec<u8>) {
    let kind = (c + n) % 4;
    let known = (splitmix(c * 1_000_003 + n) % subjects as u64) as usize;
    let address = match kind {
        0 | 2 => email(known),
        _ => format!("nobody{c}x{n}@example.net"),
    };
    let body = json!({
        "type": if kind < 2 { "access" } else { "erasure" },
        "email": address,
    });
    (kind, serde_json::to_vec(&body).expect("JSON body"))
}

async fn post(client: &reqwest::Client, t: &Target, body: Vec<u8>) -> Result<(), String> {
    let mut req = client
        .post(format!("{}/api/v1/requests", t.base))
        .header(CONTENT_TYPE, "application/json");
    if let Some(key) = &t.bearer {
        req = req.bearer_auth(key);
    }
    let res = req.body(body).send().await;
    let res = res.map_err(|e| format!("transport error: {e}"))?;
    let status = res.status();
    let bytes = res.bytes().await.map_err(|e| format!("body error: {e}"))?;
    if status != reqwest::StatusCode::CREATED {
        let snippet: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
        return Err(format!("HTTP {}: {snippet}", status.as_u16()));
    }
    Ok(())
}

/// `s.concurrency` clients post back to back for the warm-up (not recorded), then `s.secs`.
async fn load_api(t: Arc<Target>, s: &Settings) -> Measured {
    let mut clients = Vec::with_capacity(s.concurrency);
    for _ in 0..s.concurrency {
        let client = client_for(&t.cert_pem);
        let res = client.get(format!("{}/healthz", t.base)).send().await;
        assert!(res.is_ok_and(|r| r.status() == 200), "{}: /healthz", t.name);
        clients.push(client);
    }
    let subjects = s.subjects;
    let record_from = Instant::now() + Duration::from_secs_f64(s.warmup_secs);
    let stop_at = record_from + Duration::from_secs_f64(s.secs);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(clients.len());
    for (c, client) in clients.into_iter().enumerate() {
        let (t, stop) = (t.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Measured::default();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                if t0 >= stop_at {
                    break;
                }
                let (kind, body) = api_body(c, n, subjects);
                n += 1;
                let result = post(&client, &t, body).await;
                let t1 = Instant::now();
                if t0 < record_from {
                    continue;
                }
                match result {
                    Ok(()) => {
                        let ns = (t1 - t0).as_nanos() as u64;
                        out.latencies.push(ns);
                        out.by_kind[kind].push(ns);
                    }
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
        let out = task.await.expect("load task");
        total.latencies.extend(out.latencies);
        for (all, one) in total.by_kind.iter_mut().zip(out.by_kind) {
            all.extend(one);
        }
        total.errors += out.errors;
        total.error_samples.extend(out.error_samples);
    }
    stop.store(true, Ordering::Relaxed);
    // Requests started before the end and finished after it count: the window is until now.
    total.elapsed = Instant::now().saturating_duration_since(record_from);
    total.error_samples.truncate(MAX_ERROR_SAMPLES);
    total.latencies.sort_unstable();
    for k in &mut total.by_kind {
        k.sort_unstable();
    }
    total
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

/// Sorted nanoseconds of durations.
fn sorted(durations: &[Duration]) -> Vec<u64> {
    let mut v: Vec<u64> = durations.iter().map(|d| d.as_nanos() as u64).collect();
    v.sort_unstable();
    v
}

async fn run(s: Arc<Settings>) {
    let started = Utc::now();
    let (n, people) = (s.records, s.people);
    let origin = Utc::now();
    let dir = tempfile::tempdir().expect("temp dir");
    eprintln!(
        "requests bench: {} subjects, {n} records, {people} persons, data dir {}",
        s.subjects,
        dir.path().display()
    );
    let lethe = spawn_lethe(&s, dir.path()).await;

    // Load (not measured).
    let (l, count) = (lethe.clone(), s.subjects);
    let subjects_took = blocking(move || load_subjects(&l, count)).await;
    eprintln!(
        "  {count} subjects in {subjects_took:.1} s ({:.0}/s)",
        count as f64 / subjects_took
    );
    let (l, count) = (lethe.clone(), s.subjects);
    let records_took = blocking(move || load_records(&l, n, count, origin)).await;
    eprintln!(
        "  {n} records in {records_took:.1} s ({:.0}/s)",
        n as f64 / records_took
    );
    let db_size = std::fs::metadata(dir.path().join("lethe.db")).map_or(0, |m| m.len());
    let s2 = s.clone();
    eprintln!("  baseline: loading {n} plaintext rows …");
    let (base, base_took) = blocking(move || open_baseline(&s2, origin)).await;

    // 1. Packages.
    let packaged = persons(&s, 0);
    let (l, who) = (lethe.clone(), packaged.clone());
    eprintln!("  creating and completing {people} access requests …");
    let access_ids: Vec<String> =
        blocking(move || who.iter().map(|&i| completed_access(&l, i)).collect()).await;
    let who = packaged.clone();
    eprintln!("  baseline packages …");
    let (base, base_pkg) = blocking(move || {
        let r: Vec<_> = who.iter().map(|&i| baseline_package(&base, i)).collect();
        (base, r)
    })
    .await;
    eprintln!("  lethe packages …");
    let l = lethe.clone();
    let lethe_pkg: Vec<(Duration, Duration, u64)> =
        blocking(move || access_ids.iter().map(|id| lethe_package(&l, id)).collect()).await;

    // 2. Erasures.
    let erased = persons(&s, 1);
    let (l, who) = (lethe.clone(), erased.clone());
    eprintln!("  creating {people} erasure requests …");
    let erasure_ids: Vec<String> =
        blocking(move || who.iter().map(|&i| verified_erasure(&l, i)).collect()).await;
    let who = erased.clone();
    eprintln!("  baseline erasures …");
    let (base, base_del) = blocking(move || {
        let mut base = base;
        base.conn
            .pragma_update(None, "synchronous", "FULL")
            .expect("synchronous = FULL");
        let r: Vec<_> = who.iter().map(|&i| baseline_erase(&mut base, i)).collect();
        (base, r)
    })
    .await;
    drop(base);
    eprintln!("  lethe erasures …");
    let l = lethe.clone();
    let lethe_del: Vec<Option<Duration>> =
        blocking(move || erasure_ids.iter().map(|id| lethe_erase(&l, id)).collect()).await;

    // 3. Requests created over HTTPS: the bare handler, then Lethe.
    let api = if s.api {
        let (bare_base, bare_cert) = spawn_bare(s.workers);
        let bare = Arc::new(Target {
            name: "bare".into(),
            base: bare_base,
            cert_pem: bare_cert,
            bearer: None,
        });
        eprintln!("  bare POST handler for {} s …", s.secs);
        let bare = load_api(bare, &s).await;
        let target = Arc::new(Target {
            name: "lethe".into(),
            base: lethe.base.clone(),
            cert_pem: lethe.cert_pem.clone(),
            bearer: Some(lethe.key.clone()),
        });
        eprintln!("  lethe POST /api/v1/requests for {} s …", s.secs);
        let lethe_api = load_api(target, &s).await;
        Some((bare, lethe_api))
    } else {
        None
    };

    // ------------------------------------------------------------------------------------------
    let w = 60;
    println!();
    println!(
        "requests, {} subjects, {n} records, {people} persons, {} cores, {}",
        s.subjects,
        cores(),
        started.format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "{:<w$} {:>10} {:>10} {:>10} {:>12}",
        "", "p50", "p99", "max", "p50/p99 vs"
    );
    let line = |name: &str, v: &[u64], vs: Option<&[u64]>| {
        let versus = vs.map_or(String::new(), |b| {
            format!(
                "{:.1}× / {:.1}×",
                ratio(percentile(v, 50.0), percentile(b, 50.0)),
                ratio(percentile(v, 99.0), percentile(b, 99.0))
            )
        });
        println!(
            "{name:<w$} {:>10} {:>10} {:>10} {versus:>12}",
            ms(percentile(v, 50.0)),
            ms(percentile(v, 99.0)),
            ms(percentile(v, 100.0))
        );
    };
    let lp = sorted(&lethe_pkg.iter().map(|p| p.1).collect::<Vec<_>>());
    let bp = sorted(&base_pkg.iter().map(|p| p.0).collect::<Vec<_>>());
    line(
        "lethe package (open + write, zip into a sink)",
        &lp,
        Some(&bp),
    );
    line("baseline SELECT + JSON + CSV into a zip", &bp, None);
    let ld = sorted(&lethe_del.iter().flatten().copied().collect::<Vec<_>>());
    let bd = sorted(&base_del.iter().map(|d| d.0).collect::<Vec<_>>());
    line("lethe erasure (request_fulfilment::fulfil)", &ld, Some(&bd));
    line("baseline DELETE, one txn, synchronous = FULL", &bd, None);
    let rows: usize = base_pkg.iter().map(|p| p.1).sum();
    let lethe_bytes: u64 = lethe_pkg.iter().map(|p| p.2).sum();
    let lo = sorted(&lethe_pkg.iter().map(|p| p.0).collect::<Vec<_>>());
    let lw = sorted(&lethe_pkg.iter().map(|p| p.1 - p.0).collect::<Vec<_>>());
    let base_bytes: u64 = base_pkg.iter().map(|p| p.2).sum();
    let deleted: usize = base_del.iter().map(|d| d.1).sum();
    let skipped = lethe_del.iter().filter(|d| d.is_none()).count();
    let pn = people.max(1);
    println!(
        "  packages: {:.1} records per person on average (max {}), zip {:.0} bytes (lethe) and \
         {:.0} bytes (baseline) on average",
        rows as f64 / pn as f64,
        base_pkg.iter().map(|p| p.1).max().unwrap_or(0),
        lethe_bytes as f64 / pn as f64,
        base_bytes as f64 / pn as f64
    );
    println!(
        "  lethe package parts: open p50 {} p99 {}, write p50 {} p99 {}",
        ms(percentile(&lo, 50.0)),
        ms(percentile(&lo, 99.0)),
        ms(percentile(&lw, 50.0)),
        ms(percentile(&lw, 99.0))
    );
    println!(
        "  erasures: {:.1} records per person on average; {} of {people} carried out by lethe \
         here ({skipped} taken by the requests job first)",
        deleted as f64 / pn as f64,
        ld.len()
    );

    let mut errors = 0;
    let mut api_rate = None;
    if let Some((bare, la)) = &api {
        println!();
        let c = s.concurrency;
        println!(
            "{:<w$} {:>10} {:>8} {:>10} {:>10} {:>10} {:>7}",
            format!("POST /api/v1/requests, c={c}, HTTPS keep-alive"),
            "requests",
            "secs",
            "req/s",
            "p50",
            "p99",
            "errors"
        );
        for (name, m) in [
            ("bare actix handler (parse JSON, 201)", bare),
            ("lethe", la),
        ] {
            println!(
                "{name:<w$} {:>10} {:>8.2} {:>10.1} {:>10} {:>10} {:>7}",
                m.latencies.len(),
                m.elapsed.as_secs_f64(),
                m.per_sec(),
                ms(percentile(&m.latencies, 50.0)),
                ms(percentile(&m.latencies, 99.0)),
                m.errors
            );
        }
        for (kind, v) in API_KINDS.iter().zip(&la.by_kind) {
            println!(
                "{:<w$} {:>10} {:>8} {:>10} {:>10} {:>10}",
                format!("  lethe: {kind}"),
                v.len(),
                "",
                "",
                ms(percentile(v, 50.0)),
                ms(percentile(v, 99.0)),
            );
        }
        println!(
            "  lethe {:.3}× the bare handler's req/s; p50 {:.1}×, p99 {:.1}× its latency",
            la.per_sec() / bare.per_sec().max(f64::EPSILON),
            ratio(
                percentile(&la.latencies, 50.0),
                percentile(&bare.latencies, 50.0)
            ),
            ratio(
                percentile(&la.latencies, 99.0),
                percentile(&bare.latencies, 99.0)
            ),
        );
        println!(
            "  peer (reported in the issue, not measured here): about {PEER_PER_SEC:.0} requests \
             created per second; lethe here: {:.1}/s = {:.0}× that",
            la.per_sec(),
            la.per_sec() / PEER_PER_SEC
        );
        for sample in bare.error_samples.iter().chain(&la.error_samples) {
            println!("  error e.g. {sample}");
        }
        errors = bare.errors + la.errors;
        api_rate = Some(la.per_sec());
    }

    println!();
    println!(
        "knobs: BENCH_RECORDS={n} BENCH_SUBJECTS={} BENCH_PEOPLE={people} BENCH_SECS={} \
         BENCH_WARMUP_SECS={} BENCH_CONCURRENCY={} BENCH_WORKERS={} BENCH_API={}",
        s.subjects,
        s.secs,
        s.warmup_secs,
        s.concurrency,
        s.workers,
        u8::from(s.api)
    );
    println!(
        "  load (not measured): {} subjects in {subjects_took:.1} s, {n} records in \
         {records_took:.1} s via ingest_now; lethe.db {:.0} MB; baseline load {base_took:.1} s",
        s.subjects,
        db_size as f64 / 1e6
    );
    if let Some(rate) = api_rate {
        let ok = if rate >= PEER_PER_SEC {
            "above"
        } else {
            "BELOW"
        };
        println!("requests created {rate:.1}/s, {ok} the peer's ~{PEER_PER_SEC:.0}/s");
    }
    if errors > 0 {
        println!("ERRORS: {errors} responses other than 201");
        std::process::exit(1);
    }
}
