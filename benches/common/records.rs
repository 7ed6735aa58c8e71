//! Records into a Lethe running in-process: its start-up with one workspace, an API key, the
//! category `usage.message_log` and subjects; C keep-alive HTTPS clients posting batches to
//! `/api/v1/records` back to back (the ingestion and backup benches); and the bulk load through
//! `services::records::ingest_now` the benches at scale fill their data dirs with.

use super::percentile;
use lethe::domain::ip_country::IpCountryTable;
use lethe::domain::record::Receipt;
use lethe::services::{Caller, accounts, apikeys, records, workspaces};
use lethe::store::{Db, WorkspaceScope};
use lethe::vault::Vault;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const CATEGORY: &str = "usage.message_log";
pub const OCCURRED_AT: &str = "2026-11-20T10:00:00Z";
pub const PREVIEW: &str = "Your table for four is confirmed for Friday at eight";
pub const PREVIEW_CHARS: usize = 40;
pub const MAX_ERROR_SAMPLES: usize = 5;
/// What the bench's Lethe requires to read `/metrics`.
pub const METRICS_TOKEN: &str = "bench-metrics-token-0123456789";
/// Records per `ingest_now` call (the API's limit) and threads of the bulk load.
const LOAD_CHUNK: usize = 1000;
const LOAD_THREADS: usize = 2;

/// What one run measured: latencies (ns) of successes, records stored, and the time they took.
#[derive(Default)]
pub struct Measured {
    pub latencies: Vec<u64>,
    pub items: u64,
    pub elapsed: Duration,
    pub errors: u64,
    pub error_samples: Vec<String>,
    /// The writer's commits, batches and records during the run (warm-up included).
    pub writer: Option<[u64; 3]>,
}

impl Measured {
    pub fn per_sec(&self) -> f64 {
        self.items as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Nearest-rank percentile; call after sorting the latencies.
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }

    fn absorb(&mut self, other: Measured) {
        self.latencies.extend(other.latencies);
        self.items += other.items;
        self.errors += other.errors;
        self.error_samples.extend(other.error_samples);
        self.error_samples.truncate(MAX_ERROR_SAMPLES);
    }
}

pub fn external_id(i: usize) -> String {
    format!("cus_{i}")
}

/// The fields of every record as sent (Lethe keeps the first 40 characters of the preview).
pub fn fields(preview: &str) -> Value {
    json!({"recipient_number": "+4915112345678", "status": "delivered", "preview": preview})
}

/// An admin, the workspace `bench` and its scope, through the same services the shell uses.
pub fn create_workspace(db: &Db) -> WorkspaceScope {
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
        min_age: "16".into(),
        ..Default::default()
    };
    workspaces::create(db, &Caller::system(), owner, "bench", &input).expect("workspace created");
    let found = db.read(|c| lethe::store::workspaces::find_by_slug(c, "bench"));
    found.expect("lookup").expect("workspace exists").0
}

/// A Lethe serving HTTPS in this process, and its handles for work through the library.
pub struct Lethe {
    pub base: String,
    pub cert_pem: Vec<u8>,
    pub key: String,
    pub db: Db,
    pub vault: Vault,
    pub scope: WorkspaceScope,
}

pub fn client_for(cert_pem: &[u8]) -> reqwest::Client {
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

/// Lethe on `data_dir` with `workers` HTTP workers, its workspace, a key, the category and
/// `subjects` subjects (`cus_0` …, created over the API).
pub async fn spawn_lethe(workers: usize, subjects: usize, data_dir: &Path) -> Lethe {
    let mut config = lethe::config::Config::with_data_dir(data_dir);
    config.metrics_token = Some(lethe::config::Secret::new(METRICS_TOKEN));
    config.listen = "127.0.0.1:0".parse().expect("address");
    config.workers = Some(workers);
    let app = lethe::startup::Application::build(config)
        .await
        .expect("Lethe builds");
    let base = format!("https://127.0.0.1:{}", app.port());
    let cert_path = app.cert_path.clone().expect("Lethe serves TLS");
    let cert_pem = std::fs::read(cert_path).expect("certificate readable");
    let (db, vault) = (app.db.clone(), app.vault.clone());
    tokio::spawn(app.run_until_stopped());
    let db2 = db.clone();
    let (scope, key) = tokio::task::spawn_blocking(move || {
        let scope = create_workspace(&db2);
        let scopes = ["records:write", "inventory:write"];
        let created = apikeys::create(&db2, &Caller::cli(), &scope, "bench", scopes);
        (scope, created.expect("key created").secret)
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
    for i in 0..subjects {
        let id = external_id(i);
        let subject = json!({"external_id": id, "email": format!("{id}@example.org")});
        let req = client.post(format!("{base}/api/v1/subjects"));
        must(req.bearer_auth(&key).json(&subject), &id).await;
    }
    Lethe {
        base,
        cert_pem,
        key,
        db,
        vault,
        scope,
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
pub fn bodies(per_request: usize, subjects: usize) -> Arc<Vec<Vec<u8>>> {
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

/// How long a load is measured, after its warm-up.
pub enum Until {
    /// A fixed time.
    Elapsed(Duration),
    /// As long as this job runs: it starts on its own thread when the measurement does, and
    /// the clients stop when it returns.
    Job(Box<dyn FnOnce() + Send>),
}

/// Loads `/api/v1/records` with `bodies`, `concurrency` connections back to back, `warmup`
/// (not recorded) and then the measurement.
pub async fn load(
    lethe: &Arc<Lethe>,
    bodies: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
    warmup: Duration,
    until: Until,
) -> Measured {
    // Open every connection first (TLS handshakes outside the measurement).
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let client = client_for(&lethe.cert_pem);
        let res = client.get(format!("{}/healthz", lethe.base)).send().await;
        assert!(res.is_ok_and(|r| r.status() == 200), "/healthz");
        clients.push(client);
    }
    let writer_before = writer_counters(lethe).await;
    let record_from = Instant::now() + warmup;
    let done = Arc::new(AtomicBool::new(false));
    let stop_at = match until {
        Until::Elapsed(d) => record_from + d,
        Until::Job(job) => {
            let done = done.clone();
            std::thread::spawn(move || {
                std::thread::sleep(record_from.saturating_duration_since(Instant::now()));
                // The load stops even when the job fails (its panic is printed).
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                done.store(true, Ordering::Release);
                drop(ran);
            });
            record_from + Duration::from_secs(365 * 86_400)
        }
    };
    let mut tasks = Vec::with_capacity(clients.len());
    for (n, client) in clients.into_iter().enumerate() {
        let (bodies, lethe, done) = (bodies.clone(), lethe.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Measured::default();
            let mut last = record_from;
            for i in n.. {
                let t0 = Instant::now();
                if t0 >= stop_at || done.load(Ordering::Acquire) {
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

/// Stores `n` records, `record(i)` the i-th as the API takes it, through `ingest_now` (sealed
/// and written exactly as Lethe does), `LOAD_CHUNK` per transaction on `LOAD_THREADS` threads,
/// with progress on stderr under `label` every tenth. Returns the seconds it took.
pub fn ingest_all(
    db: &Db,
    vault: &Vault,
    scope: WorkspaceScope,
    n: usize,
    label: &str,
    record: impl Fn(usize) -> Value + Sync,
) -> f64 {
    let t0 = Instant::now();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let countries = IpCountryTable::default();
    std::thread::scope(|threads| {
        for _ in 0..LOAD_THREADS {
            threads.spawn(|| {
                loop {
                    let start = next.fetch_add(LOAD_CHUNK, Ordering::Relaxed);
                    if start >= n {
                        break;
                    }
                    let end = (start + LOAD_CHUNK).min(n);
                    let batch: Vec<Value> = (start..end).map(&record).collect();
                    // A period key retired between sealing and storing is sealed again.
                    let mut tries = 0;
                    loop {
                        match records::ingest_now(db, vault, &countries, scope, batch.clone()) {
                            Ok(r) if r.stored == end - start => break,
                            Ok(r) => panic!("{label}: stored {} of {}", r.stored, end - start),
                            Err(e) if tries < 5 => {
                                eprintln!("  {label}: {e:?}; again");
                                tries += 1;
                                std::thread::sleep(Duration::from_millis(200 * tries));
                            }
                            Err(e) => panic!("{label}: {e:?}"),
                        }
                    }
                    let d = done.fetch_add(end - start, Ordering::Relaxed) + end - start;
                    let step = (n / 10).max(1);
                    if d / step != (d - (end - start)) / step {
                        eprintln!(
                            "  {label}: {d} of {n} ({:.0} s)",
                            t0.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    t0.elapsed().as_secs_f64()
}
