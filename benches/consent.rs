//! Consent decisions per second, beside the HTTP limit and the single-row storage limit, in one
//! run (issue 17). By default through the banner's key-less endpoint for visitors, the hot path
//! (`BENCH_PATH=banner`: `POST /consent/bench/decisions` with the workspace's consent origin and
//! `{"visitor": …, "choices": …}`); `BENCH_PATH=api` measures `POST /api/v1/consent` instead.
//!
//! Run with `cargo bench --bench consent`. Lethe runs in-process on port 0 with a fresh data dir
//! (HTTPS, its self-signed certificate) and one workspace with a category and three consent
//! purposes (`analytics`, `ads`, `newsletter`), `BENCH_SUBJECTS` subjects (default 10,000, created
//! through `services::subjects::put` before anything is timed) and an API key with
//! `consent:write`. Three measurements, each `BENCH_WARMUP_SECS` (default 1, not recorded) then
//! `BENCH_SECS` (default 10, recorded). The first two, the HTTP loads, alternate in
//! `BENCH_ROUNDS` rounds (default 5: bare, Lethe, bare, Lethe, …, each round measuring
//! `BENCH_SECS / BENCH_ROUNDS`, the rounds after the first warming up only 0.25 s), so that a
//! slow stretch of a shared machine weighs on both sides of their ratio; their figures are the
//! sums over the rounds, and the ratio of each round is printed too:
//!
//! 1. `bare`: a bare actix-web server (no middleware, same TLS style, same worker count) whose
//!    handler parses the same JSON body and answers 201 with a small JSON body: the HTTP limit.
//! 2. `lethe`: the banner's endpoint (above), or `POST /api/v1/consent` with `{"subject": "cus_<i>", "choices": {"analytics": b,
//!    "ads": b, "newsletter": b}}` for a subject and choices drawn by a fixed hash of the client and
//!    its request number (spread as chance spreads them). 201 means durable (the group-commit
//!    writer answers after its `synchronous = FULL` commit); anything else is an error.
//!    Both HTTP loads use `BENCH_CONCURRENCY` (default 64) tasks, each with its own
//!    `reqwest::Client` (HTTP/1.1 only, `pool_max_idle_per_host(1)`) used by that task alone,
//!    so each holds one keep-alive connection; the connections are opened (one `GET /healthz`
//!    each) before the warm-up. To show that there were `BENCH_CONCURRENCY` of them and no
//!    reconnections, the bench counts the client sockets to the server's port in `/proc/net/tcp`
//!    (established in the middle of the window; in any state, TIME_WAIT included, at the end
//!    before the clients are dropped) and the TCP connections opened on the host during the load
//!    (`ActiveOpens` in /proc/net/snmp; 0 expected).
//! 3. `storage`: plain rusqlite in a fresh SQLite file on the same file system, with Lethe's two
//!    tables as Lethe's database holds them (their CREATE statements, indexes and triggers are
//!    copied from `sqlite_master` of the bench's Lethe database; `workspaces` and `subjects` are
//!    stubs with the ids their foreign keys point at), WAL, `synchronous = FULL` and
//!    `foreign_keys = ON` like the writer. `BENCH_CONCURRENCY` threads, each with its own
//!    connection (busy timeout 10 s), insert the same rows (one `consent_records` row + its three
//!    `consent_choices` rows) in one `BEGIN IMMEDIATE … COMMIT` per decision: the single-row
//!    storage limit (one fsync per decision). Then the same from ONE connection, back to back
//!    (`BENCH_SERIAL=0` skips it), to show what lock contention costs the threaded figure.
//!
//! Then: decisions/s, p50, p99, max and errors of each; Lethe / storage limit (goal > 1: group
//! commit beats one fsync per decision) and Lethe / HTTP limit (goal ≥ 0.33); a peer's consent
//! endpoint (about 100 decisions/s on this kind of machine, as the issue reports it; not measured
//! here); the writer's grouping (decisions per commit, from `/metrics`, the
//! `lethe_record_writer_commits_total` and `_decisions_total` counters) and the receipt
//! signer's (receipts per signature, `lethe_receipt_signatures_total` and
//! `lethe_receipts_signed_total`); and a
//! durability check: after the load, a fresh connection counts `consent_records` (and
//! `consent_choices`) in Lethe's database and compares them with the 201 answers (warm-up
//! included): every acknowledged decision must be there, equal or more, never fewer. That shows
//! an acknowledged decision was committed, not that it survives a power cut (which only the
//! writer's `synchronous = FULL` promises).
//!
//! Other knobs: `BENCH_WORKERS` (HTTP workers of both servers, default 2), `BENCH_CLIENT_THREADS`
//! (load-generator tokio threads, default: available parallelism), `BENCH_DIR` (where the temporary
//! data dirs go, default the system's temp dir; put it on a real disk, not tmpfs).

// Test and measurement code: a failed step is a failed run, so it may unwrap (see [lints] in
// Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{bare_tls, cores, env_in, fs_type, loadavg, ms, percentile};

use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::Utc;
use lethe::domain::inventory::{DataCategory, Purpose};
use lethe::domain::network::IpRange;
use lethe::domain::subject::SubjectInput;
use lethe::services::{Caller, accounts, apikeys, inventory, subjects, workspaces};
use lethe::store::{Db, WorkspaceScope};
use lethe::vault::Vault;
use reqwest::header::CONTENT_TYPE;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The workspace's consent purposes; every decision answers all three.
const PURPOSES: [&str; 3] = ["analytics", "ads", "newsletter"];
const CATEGORY: &str = "usage";
/// A peer's consent endpoint, as the issue reports it (not measured here).
const PEER_PER_SEC: f64 = 100.0;
const MAX_ERROR_SAMPLES: usize = 5;
const METRICS_TOKEN: &str = "bench-metrics-token-0123456789";
const LOAD_THREADS: usize = 2;
/// The warm-up of each round after the first (at most `BENCH_WARMUP_SECS`).
const ROUND_WARMUP_SECS: f64 = 0.25;

struct Settings {
    subjects: usize,
    secs: f64,
    warmup_secs: f64,
    concurrency: usize,
    /// The HTTP loads alternate this many times (bare, Lethe, bare, Lethe, …), each round
    /// measuring `secs / rounds`, so that a slow stretch of a shared machine weighs on both.
    rounds: usize,
    workers: usize,
    client_threads: usize,
    serial: bool,
    dir: Option<PathBuf>,
    /// `BENCH_PATH=banner` (default): the banner's key-less `POST /consent/{slug}/decisions`
    /// for visitors, the hot path; `api`: `POST /api/v1/consent` for subjects.
    banner: bool,
}

impl Settings {
    fn from_env() -> Self {
        Settings {
            subjects: env_in("BENCH_SUBJECTS", 10_000, 1, 10_000_000),
            secs: env_in("BENCH_SECS", 10.0, 0.5, 600.0),
            warmup_secs: env_in("BENCH_WARMUP_SECS", 1.0, 0.0, 60.0),
            concurrency: env_in("BENCH_CONCURRENCY", 64, 1, 1024),
            rounds: env_in("BENCH_ROUNDS", 5, 1, 100),
            workers: env_in("BENCH_WORKERS", 2, 1, 64),
            client_threads: env_in("BENCH_CLIENT_THREADS", cores(), 1, 64),
            serial: env_in("BENCH_SERIAL", 1, 0, 1) == 1,
            banner: std::env::var("BENCH_PATH").map_or(true, |p| p != "api"),
            dir: std::env::var_os("BENCH_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
        }
    }

    fn tempdir(&self) -> tempfile::TempDir {
        match &self.dir {
            Some(d) => tempfile::tempdir_in(d).expect("temp dir in BENCH_DIR"),
            None => tempfile::tempdir().expect("temp dir"),
        }
    }
}

fn splitmix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn external_id(i: usize) -> String {
    format!("cus_{i}")
}

/// The `n`-th decision of client `c`: a subject (0-based) and a choice per purpose.
fn decision(c: usize, n: usize, subjects: usize) -> (usize, [bool; 3]) {
    let h = splitmix(((c as u64) << 40) ^ n as u64);
    let subject = (h % subjects as u64) as usize;
    let bits = h >> 40;
    (subject, [bits & 1 == 1, bits & 2 == 2, bits & 4 == 4])
}

/// The site whose banner posts (the workspace's consent origin).
const SITE: &str = "https://shop.bench.example";

fn body(subject: usize, choices: [bool; 3], banner: bool) -> Vec<u8> {
    let choices: BTreeMap<&str, bool> = PURPOSES.iter().copied().zip(choices).collect();
    let decision = match banner {
        // A visitor id as the banner makes them (22 base64url characters).
        true => json!({"visitor": format!("bench-visitor-{subject:08}"), "choices": choices,
            "banner_version": "bench", "source": "banner"}),
        false => json!({"subject": external_id(subject), "choices": choices}),
    };
    serde_json::to_vec(&decision).expect("JSON body")
}

// ---------------------------------------------------------------------------------------------
// Lethe: in-process server and its set-up through the library

struct Lethe {
    base: String,
    cert_pem: Vec<u8>,
    key: String,
    db: Db,
    vault: Vault,
    scope: WorkspaceScope,
    db_path: PathBuf,
}

/// The admin, the workspace, the category, the three consent purposes and an API key.
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
        consent_origins: vec![SITE.to_owned()],
        ..Default::default()
    };
    workspaces::create(db, &Caller::system(), owner, "bench", &input)
        .unwrap_or_else(|e| panic!("workspace: {e}"));
    let found = db.read(|c| lethe::store::workspaces::find_by_slug(c, "bench"));
    let scope = found.expect("lookup").expect("workspace exists").0;
    let category: DataCategory = serde_json::from_value(json!({
        "key": CATEGORY, "name": "Usage", "sensitivity": "normal",
    }))
    .expect("category JSON");
    inventory::put(db, &Caller::cli(), &scope, CATEGORY, category)
        .unwrap_or_else(|e| panic!("category: {e}"));
    for key in PURPOSES {
        let purpose: Purpose = serde_json::from_value(json!({
            "key": key, "name": key, "legal_basis": "consent", "categories": [CATEGORY],
            "consent_prompt": format!("May we use your data for {key}?"),
        }))
        .expect("purpose JSON");
        inventory::put(db, &Caller::cli(), &scope, key, purpose)
            .unwrap_or_else(|e| panic!("purpose {key}: {e}"));
    }
    let key = apikeys::create(db, &Caller::cli(), &scope, "bench", ["consent:write"])
        .unwrap_or_else(|e| panic!("API key: {e}"))
        .secret;
    (scope, key)
}

/// The subjects, on `LOAD_THREADS` threads. Returns the time it took.
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
                        email: None,
                        kind: Some("customer".into()),
                        birth_date: None,
                    };
                    subjects::put(&lethe.db, &lethe.vault, &lethe.scope, &caller, input, today)
                        .unwrap_or_else(|e| panic!("subject {i}: {e}"));
                }
            });
        }
    });
    t0.elapsed().as_secs_f64()
}

async fn spawn_lethe(s: &Settings, data_dir: &Path) -> Arc<Lethe> {
    let mut config = lethe::config::Config::with_data_dir(data_dir);
    config.listen = "127.0.0.1:0".parse().expect("address");
    config.workers = Some(s.workers);
    config.metrics_token = Some(lethe::config::Secret::new(METRICS_TOKEN));
    // Every client is on loopback, one network: the banner endpoint's per-network rate is for
    // the open internet, not for a load generator.
    config.consent_rate = 1_000_000;
    let db_path = config.db_path();
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
        db_path,
    })
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

/// Lethe's grouping counters from `/metrics`: the group-commit writer's commits and consent
/// decisions, the receipt signer's signatures and the receipts they cover.
#[derive(Clone, Copy, Default)]
struct Counters {
    commits: u64,
    decisions: u64,
    signatures: u64,
    receipts: u64,
}

impl Counters {
    /// What was counted from `self` to `end`.
    fn until(self, end: Counters) -> Counters {
        Counters {
            commits: end.commits.saturating_sub(self.commits),
            decisions: end.decisions.saturating_sub(self.decisions),
            signatures: end.signatures.saturating_sub(self.signatures),
            receipts: end.receipts.saturating_sub(self.receipts),
        }
    }

    fn add(self, other: Counters) -> Counters {
        Counters {
            commits: self.commits + other.commits,
            decisions: self.decisions + other.decisions,
            signatures: self.signatures + other.signatures,
            receipts: self.receipts + other.receipts,
        }
    }
}

async fn writer_counters(lethe: &Lethe, client: &reqwest::Client) -> Option<Counters> {
    let res = client
        .get(format!("{}/metrics", lethe.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await;
    let text = res.ok()?.text().await.ok()?;
    let value = |name: &str| -> Option<u64> {
        let prefix = format!("{name} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
    };
    Some(Counters {
        commits: value("lethe_record_writer_commits_total")?,
        decisions: value("lethe_record_writer_decisions_total")?,
        signatures: value("lethe_receipt_signatures_total")?,
        receipts: value("lethe_receipts_signed_total")?,
    })
}

// ---------------------------------------------------------------------------------------------
// The bare actix-web handler: the HTTP limit

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BareBody {
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    visitor: Option<String>,
    choices: BTreeMap<String, bool>,
    #[serde(default)]
    banner_version: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

/// A bare actix-web server: `/healthz` and a POST handler that parses the decision's JSON and
/// answers 201, no middleware, same TLS style and worker count as Lethe.
fn spawn_bare(workers: usize) -> (String, Vec<u8>) {
    let (listener, tls, cert_pem) = bare_tls();
    let port = listener.local_addr().unwrap().port();
    async fn healthz() -> HttpResponse {
        HttpResponse::Ok().json(json!({ "status": "ok" }))
    }
    async fn decide(body: web::Json<BareBody>) -> HttpResponse {
        let body = body.into_inner();
        HttpResponse::Created().json(json!({
            "id": uuid::Uuid::now_v7().to_string(),
            "person": body.subject.or(body.visitor),
            "choices": body.choices,
            "banner_version": body.banner_version,
            "source": body.source,
        }))
    }
    let server = HttpServer::new(|| {
        App::new()
            .route("/healthz", web::get().to(healthz))
            .route("/api/v1/consent", web::post().to(decide))
            .route("/consent/bench/decisions", web::post().to(decide))
    })
    .workers(workers)
    .listen_rustls_0_23(listener, tls)
    .expect("bare server listens")
    .run();
    tokio::spawn(server);
    (format!("https://127.0.0.1:{port}"), cert_pem)
}

// ---------------------------------------------------------------------------------------------
// The HTTP load

struct Target {
    base: String,
    cert_pem: Vec<u8>,
    bearer: Option<String>,
    /// The banner's endpoint (with its Origin) rather than the API's.
    banner: bool,
}

impl Target {
    fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in the base URL")
    }
}

/// What one load measured.
#[derive(Default)]
struct Measured {
    /// Latencies (ns) of recorded decisions answered 201, sorted.
    latencies: Vec<u64>,
    /// Recorded decisions answered otherwise (status or transport error).
    errors: u64,
    error_samples: Vec<String>,
    /// From the start of the recorded window to the last recorded answer.
    elapsed: Duration,
    /// 201 answers in all, warm-up included (the durability check's count).
    acknowledged: u64,
    /// Client sockets to the server's port: established in mid-window, and in any state (closed
    /// ones in TIME_WAIT included) at the end, before the clients are dropped.
    sockets_mid: Option<usize>,
    sockets_end: Option<usize>,
    /// TCP connections opened on this host (`ActiveOpens` in /proc/net/snmp) from the end of the
    /// connection set-up to the end of the load.
    new_connections: Option<i64>,
    /// What Lethe's grouping counters counted in the window.
    writer: Option<Counters>,
}

impl Measured {
    fn count(&self) -> u64 {
        self.latencies.len() as u64 + self.errors
    }

    fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The rounds so far with one more of the same load: counts and times add up; the sockets
    /// are the first round's (a later round's count would include the earlier rounds' closing
    /// ones), and the TCP connections opened add up over all rounds.
    fn absorb(total: Option<Measured>, other: Measured) -> Measured {
        let Some(mut total) = total else {
            return other;
        };
        total.add(other);
        total
    }

    fn add(&mut self, other: Measured) {
        self.latencies.extend(other.latencies);
        self.latencies.sort_unstable();
        self.errors += other.errors;
        self.error_samples.extend(other.error_samples);
        self.error_samples.truncate(MAX_ERROR_SAMPLES);
        self.elapsed += other.elapsed;
        self.acknowledged += other.acknowledged;
        self.new_connections = match (self.new_connections, other.new_connections) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        self.writer = match (self.writer, other.writer) {
            (Some(a), Some(b)) => Some(a.add(b)),
            _ => None,
        };
    }
}

/// How long one load warms up (not recorded) and then measures.
#[derive(Clone, Copy)]
struct Window {
    warmup_secs: f64,
    secs: f64,
    /// Which round: its clients draw decisions of their own, not the last round's again.
    round: usize,
}

/// `Tcp: ActiveOpens` from /proc/net/snmp: outbound connections opened so far on this host.
fn tcp_active_opens() -> Option<i64> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("Tcp:"));
    let header = lines.next()?;
    let values = lines.next()?;
    let idx = header.split_whitespace().position(|h| h == "ActiveOpens")?;
    values.split_whitespace().nth(idx)?.parse().ok()
}

/// Client-side TCP sockets to `port` on 127.0.0.1 in /proc/net/tcp: (established, any state).
fn client_sockets(port: u16) -> Option<(usize, usize)> {
    let text = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let remote = format!("0100007F:{port:04X}");
    let (mut established, mut all) = (0, 0);
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 3 && f[2] == remote {
            all += 1;
            if f[3] == "01" {
                established += 1;
            }
        }
    }
    Some((established, all))
}

async fn post(client: &reqwest::Client, t: &Target, body: Vec<u8>) -> Result<(), String> {
    let path = match t.banner {
        true => "/consent/bench/decisions",
        false => "/api/v1/consent",
    };
    let mut req = client
        .post(format!("{}{path}", t.base))
        .header(CONTENT_TYPE, "application/json");
    if t.banner {
        req = req.header("origin", SITE);
    }
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

/// `s.concurrency` tasks, each with its own client and connection, post decisions back to back
/// for the window's warm-up (not recorded), then its `secs`.
async fn load(t: Arc<Target>, s: &Settings, w: Window, lethe: Option<Arc<Lethe>>) -> Measured {
    let mut clients = Vec::with_capacity(s.concurrency);
    for _ in 0..s.concurrency {
        let client = client_for(&t.cert_pem);
        let res = client.get(format!("{}/healthz", t.base)).send().await;
        assert!(res.is_ok_and(|r| r.status() == 200), "/healthz");
        clients.push(client);
    }
    // The /metrics reader's own keep-alive connection, opened before the count starts.
    let metrics_client = client_for(&t.cert_pem);
    if let Some(l) = &lethe {
        assert!(
            writer_counters(l, &metrics_client).await.is_some(),
            "/metrics"
        );
    }
    let metrics_client = Arc::new(metrics_client);
    let opens_before = tcp_active_opens();
    let (subjects, concurrency) = (s.subjects, s.concurrency);
    let record_from = Instant::now() + Duration::from_secs_f64(w.warmup_secs);
    let stop_at = record_from + Duration::from_secs_f64(w.secs);
    let acknowledged = Arc::new(AtomicU64::new(0));
    let port = t.port();
    // Mid-window: the connections open; at the start of the window: the writer's counters.
    let watcher = tokio::spawn({
        let (lethe, metrics_client) = (lethe.clone(), metrics_client.clone());
        async move {
            tokio::time::sleep_until(record_from.into()).await;
            let start = match &lethe {
                Some(l) => writer_counters(l, &metrics_client).await,
                None => None,
            };
            let mid = record_from + Duration::from_secs_f64(s_half(stop_at, record_from));
            tokio::time::sleep_until(mid.into()).await;
            (start, client_sockets(port).map(|c| c.0))
        }
    });
    let mut tasks = Vec::with_capacity(clients.len());
    for (c, client) in clients.into_iter().enumerate() {
        let (t, acknowledged) = (t.clone(), acknowledged.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Measured::default();
            let mut last: Option<Instant> = None;
            let mut n = 0;
            loop {
                let t0 = Instant::now();
                if t0 >= stop_at {
                    break;
                }
                let (subject, choices) = decision(w.round * concurrency + c, n, subjects);
                n += 1;
                let result = post(&client, &t, body(subject, choices, t.banner)).await;
                let t1 = Instant::now();
                if result.is_ok() {
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                }
                if t0 < record_from {
                    continue;
                }
                last = Some(t1);
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
            (out, last, client)
        }));
    }
    let mut total = Measured::default();
    let mut last: Option<Instant> = None;
    // Kept until the sockets are counted.
    let mut held = Vec::with_capacity(s.concurrency);
    for task in tasks {
        let (out, l, client) = task.await.expect("load task");
        held.push(client);
        total.latencies.extend(out.latencies);
        total.errors += out.errors;
        total.error_samples.extend(out.error_samples);
        last = last.max(l);
    }
    let end = match &lethe {
        Some(l) => writer_counters(l, &metrics_client).await,
        None => None,
    };
    total.new_connections = opens_before.zip(tcp_active_opens()).map(|(a, b)| b - a);
    total.sockets_end = client_sockets(port).map(|c| c.1);
    drop(held);
    let (start, mid) = watcher.await.expect("watcher");
    total.sockets_mid = mid;
    total.writer = start.zip(end).map(|(a, b)| a.until(b));
    total.elapsed = last.map_or(Duration::ZERO, |l| l.saturating_duration_since(record_from));
    total.acknowledged = acknowledged.load(Ordering::Relaxed);
    total.error_samples.truncate(MAX_ERROR_SAMPLES);
    total.latencies.sort_unstable();
    total
}

fn s_half(stop_at: Instant, record_from: Instant) -> f64 {
    (stop_at - record_from).as_secs_f64() / 2.0
}

// ---------------------------------------------------------------------------------------------
// The storage limit: plain rusqlite, one IMMEDIATE transaction per decision

/// A fresh SQLite file with Lethe's two consent tables (copied from Lethe's database) and stubs
/// of the tables their foreign keys point at.
fn create_plain(lethe_db: &Path, path: &Path, subjects: usize) -> Vec<String> {
    let lethe = Connection::open_with_flags(lethe_db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("Lethe's database");
    let mut stmt = lethe
        .prepare(
            "SELECT sql FROM sqlite_master WHERE tbl_name IN ('consent_records', 'consent_choices') \
             AND sql IS NOT NULL ORDER BY tbl_name DESC, type DESC, name",
        )
        .expect("schema query");
    let schema: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("schema")
        .collect::<Result<_, _>>()
        .expect("schema rows");
    // consent_records first (the tables before their indexes and triggers).
    let mut ordered: Vec<String> = schema
        .iter()
        .filter(|s| s.starts_with("CREATE TABLE consent_records"))
        .cloned()
        .collect();
    ordered.extend(
        schema
            .iter()
            .filter(|s| s.starts_with("CREATE TABLE consent_choices"))
            .cloned(),
    );
    ordered.extend(
        schema
            .iter()
            .filter(|s| !s.starts_with("CREATE TABLE"))
            .cloned(),
    );
    assert!(
        ordered.len() >= 4,
        "the consent tables are in Lethe's database"
    );
    let conn = Connection::open(path).expect("plain file");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .expect("WAL");
    assert_eq!(mode, "wal", "the plain file is in WAL mode");
    conn.execute_batch(
        "CREATE TABLE workspaces (id INTEGER PRIMARY KEY);
         CREATE TABLE subjects (id INTEGER PRIMARY KEY, workspace_id INTEGER NOT NULL);
         INSERT INTO workspaces (id) VALUES (1);",
    )
    .expect("stub tables");
    for sql in &ordered {
        conn.execute_batch(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let tx = conn.unchecked_transaction().expect("BEGIN");
    for i in 1..=subjects {
        tx.execute(
            "INSERT INTO subjects (id, workspace_id) VALUES (?1, 1)",
            [i as i64],
        )
        .expect("stub subject");
    }
    tx.commit().expect("COMMIT");
    ordered
}

fn open_plain(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("plain file");
    conn.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    for (name, value) in [
        ("synchronous", "FULL"),
        ("foreign_keys", "ON"),
        ("secure_delete", "ON"),
    ] {
        conn.pragma_update(None, name, value).expect("pragma");
    }
    conn
}

/// One decision, as Lethe stores one from the API: one record + its choices, one transaction.
/// An error (the busy timeout running out while 63 others take the lock) rolls it back.
fn insert_plain(
    conn: &mut Connection,
    subject: usize,
    choices: [bool; 3],
    network: &str,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let id = uuid::Uuid::now_v7().to_string();
    tx.prepare_cached(
        "INSERT INTO consent_records (id, workspace_id, subject_id, visitor_index, source, gpc, \
         policy_version, consent_version, banner_version, network, user_agent, decided_at) \
         VALUES (?1, 1, ?2, NULL, 'api', 0, NULL, NULL, NULL, ?3, NULL, ?4)",
    )?
    .execute(params![
        id,
        subject as i64 + 1,
        network,
        lethe::store::ts(Utc::now())
    ])?;
    {
        let mut choice = tx.prepare_cached(
            "INSERT INTO consent_choices (record_id, purpose_key, granted, reason) \
             VALUES (?1, ?2, ?3, NULL)",
        )?;
        for (purpose, granted) in PURPOSES.iter().zip(choices) {
            choice.execute(params![id, purpose, granted])?;
        }
    }
    tx.commit()
}

/// `threads` connections insert decisions back to back, warm-up then `s.secs`.
fn load_plain(path: &Path, s: &Settings, threads: usize) -> Measured {
    let network = IpRange::client_network(IpAddr::V4(Ipv4Addr::LOCALHOST)).to_string();
    let record_from = Instant::now() + Duration::from_secs_f64(s.warmup_secs);
    let stop_at = record_from + Duration::from_secs_f64(s.secs);
    let results: Vec<Measured> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|c| {
                let network = network.as_str();
                scope.spawn(move || {
                    let mut conn = open_plain(path);
                    let mut out = Measured::default();
                    let mut last: Option<Instant> = None;
                    let mut n = 0;
                    loop {
                        let t0 = Instant::now();
                        if t0 >= stop_at {
                            break;
                        }
                        let (subject, choices) = decision(c, n, s.subjects);
                        n += 1;
                        let result = insert_plain(&mut conn, subject, choices, network);
                        let t1 = Instant::now();
                        if result.is_ok() {
                            out.acknowledged += 1;
                        }
                        if t0 < record_from {
                            continue;
                        }
                        match result {
                            Ok(()) => {
                                out.latencies.push((t1 - t0).as_nanos() as u64);
                                last = Some(t1);
                            }
                            Err(e) => {
                                out.errors += 1;
                                if out.error_samples.len() < MAX_ERROR_SAMPLES {
                                    out.error_samples.push(format!("SQLite: {e}"));
                                }
                            }
                        }
                    }
                    out.elapsed =
                        last.map_or(Duration::ZERO, |l| l.saturating_duration_since(record_from));
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("plain thread"))
            .collect()
    });
    let mut total = Measured::default();
    for out in results {
        total.latencies.extend(out.latencies);
        total.acknowledged += out.acknowledged;
        total.errors += out.errors;
        total.error_samples.extend(out.error_samples);
        total.elapsed = total.elapsed.max(out.elapsed);
    }
    total.error_samples.truncate(MAX_ERROR_SAMPLES);
    total.latencies.sort_unstable();
    total
}

// ---------------------------------------------------------------------------------------------

/// What the Lethe run posts to, in words.
fn lethe_path(s: &Settings) -> &'static str {
    match s.banner {
        true => "POST /consent/{slug}/decisions (banner, visitors)",
        false => "POST /api/v1/consent (API, subjects)",
    }
}

fn main() {
    rustls::crypto::ring::default_provider()
        .install_default()
        .expect("install the ring crypto provider");
    // The server's warnings and errors (with their causes) on stderr.
    lethe::telemetry::init(Some("warn,actix_server=warn"));
    let settings = Arc::new(Settings::from_env());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.client_threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(settings));
}

async fn run(s: Arc<Settings>) {
    let started = Utc::now();
    let load_at_start = loadavg();
    let dir = s.tempdir();
    eprintln!(
        "consent bench: {} subjects, c={}, data dir {} ({})",
        s.subjects,
        s.concurrency,
        dir.path().display(),
        fs_type(dir.path())
    );
    let lethe = spawn_lethe(&s, dir.path()).await;
    let (l, n) = (lethe.clone(), s.subjects);
    let subjects_took = tokio::task::spawn_blocking(move || load_subjects(&l, n))
        .await
        .expect("subjects task");
    eprintln!(
        "  {n} subjects in {subjects_took:.1} s ({:.0}/s)",
        n as f64 / subjects_took
    );
    let count_in = |db: &Db, sql: &'static str| -> i64 {
        db.read(|c| {
            c.query_row(sql, [], |r| r.get(0))
                .map_err(lethe::store::StoreError::from)
        })
        .expect(sql)
    };
    let before = count_in(&lethe.db, "SELECT count(*) FROM consent_records");
    let audit_before = count_in(&lethe.db, "SELECT count(*) FROM audit_log");

    // 1. and 2. The HTTP limit and Lethe, in alternating rounds.
    let (bare_base, bare_cert) = spawn_bare(s.workers);
    let bare_target = Arc::new(Target {
        base: bare_base,
        cert_pem: bare_cert,
        bearer: None,
        banner: s.banner,
    });
    let target = Arc::new(Target {
        base: lethe.base.clone(),
        cert_pem: lethe.cert_pem.clone(),
        bearer: Some(lethe.key.clone()).filter(|_| !s.banner),
        banner: s.banner,
    });
    eprintln!(
        "  bare POST handler and lethe {}, {} s each in {} alternating rounds …",
        lethe_path(&s),
        s.secs,
        s.rounds
    );
    let (mut bare, mut la): (Option<Measured>, Option<Measured>) = (None, None);
    let mut rounds = Vec::with_capacity(s.rounds);
    for round in 0..s.rounds {
        let window = Window {
            // The first round warms both servers up; later ones only their new connections.
            warmup_secs: if round == 0 {
                s.warmup_secs
            } else {
                s.warmup_secs.min(ROUND_WARMUP_SECS)
            },
            secs: s.secs / s.rounds as f64,
            round,
        };
        let b = load(bare_target.clone(), &s, window, None).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let l = load(target.clone(), &s, window, Some(lethe.clone())).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        rounds.push((b.per_sec(), l.per_sec()));
        bare = Some(Measured::absorb(bare, b));
        la = Some(Measured::absorb(la, l));
    }
    let (bare, la) = (bare.expect("a round ran"), la.expect("a round ran"));

    // The durability check: a fresh connection counts what Lethe stored.
    let check = Connection::open_with_flags(&lethe.db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("Lethe's database");
    let count = |sql: &str| -> i64 { check.query_row(sql, [], |r| r.get(0)).expect(sql) };
    let stored_records = count("SELECT count(*) FROM consent_records") - before;
    let stored_choices = count("SELECT count(*) FROM consent_choices");
    let audited = count("SELECT count(*) FROM audit_log") - audit_before;
    drop(check);

    // 3. The storage limit.
    let plain_dir = s.tempdir();
    let plain_path = plain_dir.path().join("plain.db");
    let (p, lp, n) = (plain_path.clone(), lethe.db_path.clone(), s.subjects);
    let schema = tokio::task::spawn_blocking(move || create_plain(&lp, &p, n))
        .await
        .expect("plain schema");
    eprintln!(
        "  storage: {} threads, one IMMEDIATE transaction per decision, for {} s …",
        s.concurrency, s.secs
    );
    let (p, s2) = (plain_path.clone(), s.clone());
    let plain = tokio::task::spawn_blocking(move || load_plain(&p, &s2, s2.concurrency))
        .await
        .expect("plain load");
    let serial = if s.serial {
        eprintln!(
            "  storage: one connection, back to back, for {} s …",
            s.secs
        );
        let (p, s2) = (plain_path.clone(), s.clone());
        Some(
            tokio::task::spawn_blocking(move || load_plain(&p, &s2, 1))
                .await
                .expect("serial load"),
        )
    } else {
        None
    };
    let plain_rows: i64 = Connection::open(&plain_path)
        .expect("plain file")
        .query_row("SELECT count(*) FROM consent_records", [], |r| r.get(0))
        .expect("plain count");

    // ------------------------------------------------------------------------------------------
    let w = 58;
    let c = s.concurrency;
    println!();
    println!(
        "consent decisions, {} subjects, {} purposes, c={c}, {} cores, server workers {}, \
         load-generator threads {}, {}; load average at start {load_at_start}, at end {}",
        s.subjects,
        PURPOSES.len(),
        cores(),
        s.workers,
        s.client_threads,
        started.format("%Y-%m-%d %H:%M:%S UTC"),
        loadavg()
    );
    println!(
        "  data dirs on {} ({}); warm-up {} s, measured {} s each (the two HTTP loads in {} \
         alternating rounds of {:.2} s, warm-up {} s from the second round on)",
        fs_type(dir.path()),
        dir.path().parent().unwrap_or(dir.path()).display(),
        s.warmup_secs,
        s.secs,
        s.rounds,
        s.secs / s.rounds as f64,
        s.warmup_secs.min(ROUND_WARMUP_SECS)
    );
    println!(
        "{:<w$} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10} {:>7}",
        "", "decisions", "secs", "per s", "p50", "p99", "max", "errors"
    );
    let row = |name: &str, m: &Measured| {
        println!(
            "{name:<w$} {:>9} {:>7.2} {:>10.1} {:>10} {:>10} {:>10} {:>7}",
            m.count(),
            m.elapsed.as_secs_f64(),
            m.per_sec(),
            ms(percentile(&m.latencies, 50.0)),
            ms(percentile(&m.latencies, 99.0)),
            ms(percentile(&m.latencies, 100.0)),
            m.errors
        );
    };
    row(
        "bare actix handler, HTTPS (parse JSON, 201): HTTP limit",
        &bare,
    );
    row(
        &format!("lethe {}, HTTPS (201 = durable)", lethe_path(&s)),
        &la,
    );
    row(
        &format!("plain rusqlite, {c} threads, 1 txn per decision: storage"),
        &plain,
    );
    if let Some(one) = &serial {
        row("plain rusqlite, 1 connection, 1 txn per decision", one);
    }
    for (name, m) in [("bare", &bare), ("lethe", &la)] {
        println!(
            "  {name}: client sockets to the server in the first round: {} established \
             mid-window, {} in any state at the end; {} TCP connections opened on this host \
             during the loads of all rounds ({c}, {c} and 0 \
             = one keep-alive connection per client, none reopened; the /metrics reader holds \
             one more to Lethe, and ActiveOpens counts every process on the host)",
            m.sockets_mid.map_or("?".into(), |n| n.to_string()),
            m.sockets_end.map_or("?".into(), |n| n.to_string()),
            m.new_connections.map_or("?".into(), |n| n.to_string()),
        );
    }
    match la.writer {
        Some(d) if d.commits > 0 && d.signatures > 0 => {
            let (commits, decisions) = (d.commits, d.decisions);
            let (signatures, receipts) = (d.signatures, d.receipts);
            println!(
                "  lethe writer in the window (/metrics, lethe_record_writer_*): {commits} \
                 commits for {decisions} decisions = {:.1} decisions per commit (per fsync)",
                decisions as f64 / commits as f64
            );
            println!(
                "  lethe receipt signer in the window (/metrics, lethe_receipt*): {signatures} \
                 signatures for {receipts} receipts = {:.1} receipts per signature",
                receipts as f64 / signatures as f64
            );
        }
        _ => println!("  lethe writer: counters not read"),
    }
    let storage = plain.per_sec();
    let http = bare.per_sec();
    let lethe_rate = la.per_sec();
    let vs_storage = lethe_rate / storage.max(f64::EPSILON);
    let vs_http = lethe_rate / http.max(f64::EPSILON);
    let verdict = |ok: bool| if ok { "met" } else { "NOT MET" };
    println!();
    println!(
        "  lethe / storage limit: {vs_storage:.2}× ({lethe_rate:.1} vs {storage:.1} decisions/s; \
         goal > 1: {}); p99 {} vs {}",
        verdict(vs_storage > 1.0),
        ms(percentile(&la.latencies, 99.0)),
        ms(percentile(&plain.latencies, 99.0))
    );
    if let Some(one) = &serial {
        println!(
            "  lethe / one-connection storage: {:.2}× ({lethe_rate:.1} vs {:.1} decisions/s)",
            lethe_rate / one.per_sec().max(f64::EPSILON),
            one.per_sec()
        );
    }
    println!(
        "  lethe / HTTP limit: {vs_http:.3}× ({lethe_rate:.1} vs {http:.1} decisions/s; goal ≥ \
         0.33: {}); p99 {} vs {}",
        verdict(vs_http >= 0.33),
        ms(percentile(&la.latencies, 99.0)),
        ms(percentile(&bare.latencies, 99.0))
    );
    let per_round: Vec<f64> = rounds
        .iter()
        .map(|(b, l)| l / b.max(f64::EPSILON))
        .collect();
    let mut sorted = per_round.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "  lethe / HTTP limit per round: {} (bare, lethe decisions/s: {}); lowest {:.3}, \
         median {:.3}, highest {:.3}",
        per_round
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(", "),
        rounds
            .iter()
            .map(|(b, l)| format!("{b:.0}/{l:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        sorted.first().copied().unwrap_or(0.0),
        sorted[sorted.len() / 2],
        sorted.last().copied().unwrap_or(0.0)
    );
    println!(
        "  peer (reported in the issue, not measured here): about {PEER_PER_SEC:.0} decisions/s; \
         lethe here {lethe_rate:.1}/s = {:.1}× that",
        lethe_rate / PEER_PER_SEC
    );
    let durable = stored_records >= la.acknowledged as i64;
    println!(
        "  durability: {} decisions answered 201 (warm-up included), {stored_records} \
         consent_records rows in lethe.db after the load ({stored_choices} consent_choices rows, \
         {} per record): {}",
        la.acknowledged,
        PURPOSES.len(),
        if durable {
            "every acknowledged decision is there"
        } else {
            "FEWER ROWS THAN ACKNOWLEDGED DECISIONS"
        }
    );
    println!(
        "  audit_log entries added during lethe's load: {audited} (a decision is its own record, \
         not copied into the audit chain)"
    );
    println!(
        "  storage baseline rows: {plain_rows} decisions written in all ({} statements of \
         Lethe's schema copied: tables, indexes, triggers)",
        schema.len()
    );
    for (name, m) in [("bare", &bare), ("lethe", &la), ("storage", &plain)] {
        for sample in &m.error_samples {
            println!("  {name} error e.g. {sample}");
        }
    }
    println!();
    println!(
        "knobs: BENCH_SUBJECTS={} BENCH_SECS={} BENCH_WARMUP_SECS={} BENCH_ROUNDS={} \
         BENCH_CONCURRENCY={c} BENCH_WORKERS={} BENCH_CLIENT_THREADS={} BENCH_SERIAL={}; \
         subjects created in {subjects_took:.1} s (not measured)",
        s.subjects,
        s.secs,
        s.warmup_secs,
        s.rounds,
        s.workers,
        s.client_threads,
        u8::from(s.serial)
    );
    if plain.errors > 0 {
        println!(
            "  storage: {} decisions failed (busy timeout of 10 s): SQLite's lock is not fair, \
             some of {c} writers starve",
            plain.errors
        );
    }
    let errors = bare.errors + la.errors;
    if errors > 0 || !durable {
        if errors > 0 {
            println!("ERRORS: {errors} responses other than 201");
        }
        std::process::exit(1);
    }
}
