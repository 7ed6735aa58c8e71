//! HTTP throughput and latency of Lethe compared with a bare actix-web server, in one process.
//!
//! Run with `cargo bench --bench http`. Four targets, measured one after the other with the same
//! load generator, over HTTPS (rustls 0.23, ring) with keep-alive HTTP/1.1:
//!
//! - `bare /healthz`:   a bare actix-web `HttpServer` (no middleware) answering `{"status":"ok"}`;
//! - `lethe /healthz`:  Lethe's liveness endpoint (same JSON, through Lethe's middleware stack);
//! - `lethe /api/v1/workspace`: an authenticated API read (bearer key, SQLite lookups);
//! - `lethe /api/v1/inventory`: the demo's whole aulm inventory as JSON (a key with
//!   `inventory:read`);
//! - `lethe /p/aulm/privacy`: the public policy page of the demo (SQLite reads, an askama page
//!   around the stored policy HTML of about 20 KB).
//!
//! The load generator runs C tasks (`BENCH_CONCURRENCY`, default 16), each with its own client and
//! keep-alive connection, sending requests back to back for `BENCH_WARMUP_SECS` (default 1, not
//! recorded) and then `BENCH_SECS` (default 5, recorded). It shares the machine's cores with the
//! servers, so the absolute figures depend on that; the Lethe/bare ratios are the point.
//!
//! Other knobs: `BENCH_WORKERS` (server workers, both servers, default 2), `BENCH_CLIENT_THREADS`
//! (load-generator tokio threads, default: available parallelism), `BENCH_ROUNDS` (default 1; each
//! round measures every target once, in turn, and rounds are merged), `BENCH_MAX_REQUESTS`
//! (a cap on recorded requests per target per round, default 10,000,000), `BENCH_LOG=1` (install
//! Lethe's log subscriber at its default `info` level, as `lethe serve` does).

// Test and measurement code: a failed step is a failed run, so it may unwrap (see [lints] in
// Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{bare_tls, percentile};

use actix_web::{App, HttpResponse, HttpServer, web};
use reqwest::Certificate;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const MAX_ERROR_SAMPLES: usize = 5;

struct Settings {
    secs: f64,
    warmup_secs: f64,
    concurrency: usize,
    workers: usize,
    client_threads: usize,
    rounds: usize,
    max_requests: u64,
    log: bool,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        _ => default,
    }
}

impl Settings {
    fn from_env() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let s = Settings {
            secs: env_or("BENCH_SECS", 5.0),
            warmup_secs: env_or("BENCH_WARMUP_SECS", 1.0),
            concurrency: env_or("BENCH_CONCURRENCY", 16),
            workers: env_or("BENCH_WORKERS", 2),
            client_threads: env_or("BENCH_CLIENT_THREADS", cores),
            rounds: env_or("BENCH_ROUNDS", 1),
            max_requests: env_or("BENCH_MAX_REQUESTS", 10_000_000),
            log: std::env::var("BENCH_LOG").is_ok_and(|v| v == "1"),
        };
        assert!(
            s.secs > 0.0 && s.secs <= 600.0,
            "BENCH_SECS must be in (0, 600]"
        );
        assert!(
            s.warmup_secs >= 0.0 && s.warmup_secs <= 60.0,
            "BENCH_WARMUP_SECS must be in [0, 60]"
        );
        assert!(
            (1..=1024).contains(&s.concurrency),
            "BENCH_CONCURRENCY must be in 1..=1024"
        );
        assert!(
            (1..=64).contains(&s.workers),
            "BENCH_WORKERS must be in 1..=64"
        );
        assert!(
            (1..=64).contains(&s.client_threads),
            "BENCH_CLIENT_THREADS must be in 1..=64"
        );
        assert!(
            (1..=20).contains(&s.rounds),
            "BENCH_ROUNDS must be in 1..=20"
        );
        assert!(s.max_requests > 0, "BENCH_MAX_REQUESTS must be positive");
        s
    }
}

/// One thing to load: a URL, the certificate to trust for it, and an optional bearer key.
struct Target {
    name: &'static str,
    url: String,
    cert_pem: Vec<u8>,
    bearer: Option<String>,
}

#[derive(Default)]
struct Outcome {
    /// Latencies of recorded requests that got a 200, in nanoseconds.
    latencies: Vec<u64>,
    /// Recorded requests that did not get a 200 (other status or transport error).
    errors: u64,
    error_kinds: BTreeMap<String, u64>,
    error_samples: Vec<String>,
    /// Wall time of the recorded window (first recorded start to last recorded completion).
    elapsed: Duration,
    /// New TCP connections opened on this host while the target was loaded (from /proc/net/snmp).
    new_connections: Option<i64>,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        for (k, v) in other.error_kinds {
            *self.error_kinds.entry(k).or_default() += v;
        }
        for s in other.error_samples {
            if self.error_samples.len() < MAX_ERROR_SAMPLES {
                self.error_samples.push(s);
            }
        }
        self.elapsed += other.elapsed;
        self.new_connections = match (self.new_connections, other.new_connections) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }

    fn requests(&self) -> u64 {
        self.latencies.len() as u64 + self.errors
    }

    fn rps(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

struct Summary {
    name: &'static str,
    requests: u64,
    errors: u64,
    rps: f64,
    mean: Duration,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    new_connections: Option<i64>,
}

fn summarize(name: &'static str, mut o: Outcome) -> (Summary, Outcome) {
    o.latencies.sort_unstable();
    let n = o.latencies.len().max(1) as u128;
    let mean =
        Duration::from_nanos((o.latencies.iter().map(|&x| x as u128).sum::<u128>() / n) as u64);
    let s = Summary {
        name,
        requests: o.requests(),
        errors: o.errors,
        rps: o.rps(),
        mean,
        p50: percentile(&o.latencies, 50.0),
        p90: percentile(&o.latencies, 90.0),
        p99: percentile(&o.latencies, 99.0),
        max: o
            .latencies
            .last()
            .map_or(Duration::ZERO, |&x| Duration::from_nanos(x)),
        new_connections: o.new_connections,
    };
    (s, o)
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

fn client_for(cert_pem: &[u8]) -> reqwest::Client {
    let cert = Certificate::from_pem(cert_pem).expect("PEM certificate");
    reqwest::Client::builder()
        .http1_only()
        .tls_certs_only([cert])
        .no_proxy()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client builds")
}

async fn send(client: &reqwest::Client, target: &Target) -> Result<(), String> {
    let mut req = client.get(&target.url);
    if let Some(key) = &target.bearer {
        req = req.bearer_auth(key);
    }
    let res = req
        .send()
        .await
        .map_err(|e| format!("transport error: {e}"))?;
    let status = res.status();
    let body = res.bytes().await.map_err(|e| format!("body error: {e}"))?;
    if status == reqwest::StatusCode::OK {
        Ok(())
    } else {
        let snippet: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        Err(format!("HTTP {}: {snippet}", status.as_u16()))
    }
}

/// Loads `target` with `settings.concurrency` keep-alive connections for warm-up + measurement.
async fn load(target: Arc<Target>, settings: &Settings) -> Outcome {
    // Open every connection first (one request each, not recorded), so the TLS handshakes are
    // outside the measurement and the clients start together.
    let mut clients = Vec::with_capacity(settings.concurrency);
    for _ in 0..settings.concurrency {
        let client = client_for(&target.cert_pem);
        if let Err(e) = send(&client, &target).await {
            panic!("{}: first request failed: {e}", target.name);
        }
        clients.push(client);
    }
    let opens_before = tcp_active_opens();
    let start = Instant::now();
    let record_from = start + Duration::from_secs_f64(settings.warmup_secs);
    let stop_at = record_from + Duration::from_secs_f64(settings.secs);
    let recorded = Arc::new(AtomicU64::new(0));
    let max_requests = settings.max_requests;

    let mut tasks = Vec::with_capacity(clients.len());
    for client in clients {
        let target = target.clone();
        let recorded = recorded.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            let mut first: Option<Instant> = None;
            let mut last: Option<Instant> = None;
            loop {
                let t0 = Instant::now();
                if t0 >= stop_at || recorded.load(Ordering::Relaxed) >= max_requests {
                    break;
                }
                let result = send(&client, &target).await;
                let t1 = Instant::now();
                if t0 < record_from {
                    continue;
                }
                recorded.fetch_add(1, Ordering::Relaxed);
                first = Some(first.map_or(t0, |f| f.min(t0)));
                last = Some(t1);
                match result {
                    Ok(()) => out.latencies.push((t1 - t0).as_nanos() as u64),
                    Err(e) => {
                        out.errors += 1;
                        let kind = e.split(':').next().unwrap_or("error").to_owned();
                        *out.error_kinds.entry(kind).or_default() += 1;
                        if out.error_samples.len() < MAX_ERROR_SAMPLES {
                            out.error_samples.push(e);
                        }
                    }
                }
            }
            (out, first, last)
        }));
    }
    let mut total = Outcome::default();
    let (mut first, mut last): (Option<Instant>, Option<Instant>) = (None, None);
    for task in tasks {
        let (out, f, l) = task.await.expect("load task");
        total.merge(out);
        first = match (first, f) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        last = match (last, l) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    total.elapsed = match (first, last) {
        (Some(f), Some(l)) => l - f,
        _ => Duration::ZERO,
    };
    total.new_connections = match (opens_before, tcp_active_opens()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    total
}

/// A bare actix-web server: one handler, no middleware, same TLS style and worker count as Lethe.
fn spawn_bare(workers: usize) -> (u16, Vec<u8>) {
    let (listener, tls, cert_pem) = bare_tls();
    let port = listener.local_addr().unwrap().port();
    async fn healthz() -> HttpResponse {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
    }
    let server = HttpServer::new(|| App::new().route("/healthz", web::get().to(healthz)))
        .workers(workers)
        .listen_rustls_0_23(listener, tls)
        .expect("bare server listens")
        .run();
    tokio::spawn(server);
    (port, cert_pem)
}

/// The API keys the Lethe targets use.
struct Keys {
    /// `audit:read` on the bench workspace, for `/api/v1/workspace`.
    workspace: String,
    /// `inventory:read` on the demo's aulm workspace.
    inventory: String,
}

/// Lethe in-process with a fresh data dir and the demo data, plus the API keys the targets use.
async fn spawn_lethe(workers: usize, data_dir: &std::path::Path) -> (u16, Vec<u8>, Keys) {
    let mut config = lethe::config::Config::with_data_dir(data_dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.workers = Some(workers);
    let app = lethe::startup::Application::build(config)
        .await
        .expect("Lethe builds");
    let port = app.port();
    let cert_pem =
        std::fs::read(app.cert_path.clone().expect("Lethe serves TLS")).expect("cert readable");
    let (db, vault) = (app.db.clone(), app.vault.clone());
    tokio::spawn(app.run_until_stopped());

    let key = tokio::task::spawn_blocking(move || {
        // The demo publishes the aulm policy that the privacy-center target reads.
        lethe::services::demo::load(&db, &vault).expect("demo loads");
        let owner = lethe::services::accounts::create_admin(
            &db,
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
        lethe::services::workspaces::create(
            &db,
            &lethe::services::Caller::system(),
            owner,
            "bench",
            &input,
        )
        .expect("workspace created");
        let (scope, _) = db
            .read(|c| lethe::store::workspaces::find_by_slug(c, "bench"))
            .expect("lookup")
            .expect("workspace exists");
        let workspace = lethe::services::apikeys::create(
            &db,
            &lethe::services::Caller::cli(),
            &scope,
            "bench",
            ["audit:read"],
        )
        .expect("key created")
        .secret;
        let (aulm, _) = db
            .read(|c| lethe::store::workspaces::find_by_slug(c, "aulm"))
            .expect("lookup")
            .expect("the demo's aulm workspace exists");
        let inventory = lethe::services::apikeys::create(
            &db,
            &lethe::services::Caller::cli(),
            &aulm,
            "bench inventory",
            ["inventory:read"],
        )
        .expect("key created")
        .secret;
        Keys {
            workspace,
            inventory,
        }
    })
    .await
    .expect("set-up task");
    (port, cert_pem, key)
}

/// One request to each target, to show what is being compared.
async fn describe(target: &Target) {
    let client = client_for(&target.cert_pem);
    let mut req = client.get(&target.url);
    if let Some(key) = &target.bearer {
        req = req.bearer_auth(key);
    }
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", target.name));
    let status = res.status().as_u16();
    let version = format!("{:?}", res.version());
    let headers = res.headers().len();
    let header_bytes: usize = res
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    let body = res.text().await.unwrap_or_default();
    let shown: String = body.chars().take(90).collect();
    println!(
        "  {:<24} {status} {version}, {headers} headers (~{header_bytes} B), body {} B: {shown}{}",
        target.name,
        body.len(),
        if body.chars().count() > 90 { "…" } else { "" }
    );
    assert_eq!(
        status, 200,
        "{} must answer 200 before it is measured",
        target.name
    );
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn main() {
    rustls::crypto::ring::default_provider()
        .install_default()
        .expect("install the ring crypto provider");
    let settings = Settings::from_env();
    if settings.log {
        lethe::telemetry::init(None);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.client_threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(settings));
}

async fn run(settings: Settings) {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let (lethe_port, lethe_cert, keys) = spawn_lethe(settings.workers, data_dir.path()).await;
    let (bare_port, bare_cert) = spawn_bare(settings.workers);

    let targets: Vec<Arc<Target>> = vec![
        Arc::new(Target {
            name: "bare /healthz",
            url: format!("https://127.0.0.1:{bare_port}/healthz"),
            cert_pem: bare_cert,
            bearer: None,
        }),
        Arc::new(Target {
            name: "lethe /healthz",
            url: format!("https://127.0.0.1:{lethe_port}/healthz"),
            cert_pem: lethe_cert.clone(),
            bearer: None,
        }),
        Arc::new(Target {
            name: "lethe /api/v1/workspace",
            url: format!("https://127.0.0.1:{lethe_port}/api/v1/workspace"),
            cert_pem: lethe_cert.clone(),
            bearer: Some(keys.workspace),
        }),
        Arc::new(Target {
            name: "lethe /api/v1/inventory",
            url: format!("https://127.0.0.1:{lethe_port}/api/v1/inventory"),
            cert_pem: lethe_cert.clone(),
            bearer: Some(keys.inventory),
        }),
        Arc::new(Target {
            name: "lethe /p/aulm/privacy",
            url: format!("https://127.0.0.1:{lethe_port}/p/aulm/privacy"),
            cert_pem: lethe_cert,
            bearer: None,
        }),
    ];

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("HTTP bench: HTTPS (rustls 0.23, ring), HTTP/1.1 keep-alive, loopback, one process");
    println!(
        "  cores {cores}, server workers {} (both servers), load-generator threads {}, concurrency {} \
         (one connection each), warm-up {} s, measured {} s, rounds {}",
        settings.workers,
        settings.client_threads,
        settings.concurrency,
        settings.warmup_secs,
        settings.secs,
        settings.rounds
    );
    println!("What is compared (one request each):");
    for t in &targets {
        describe(t).await;
    }

    let mut outcomes: Vec<Outcome> = targets.iter().map(|_| Outcome::default()).collect();
    for round in 0..settings.rounds {
        for (i, t) in targets.iter().enumerate() {
            eprintln!("  round {}/{}: {} …", round + 1, settings.rounds, t.name);
            let o = load(t.clone(), &settings).await;
            outcomes[i].merge(o);
            // Let connections close and the servers settle between targets.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    let mut summaries = Vec::new();
    let mut merged = Vec::new();
    for (t, o) in targets.iter().zip(outcomes) {
        let (s, o) = summarize(t.name, o);
        summaries.push(s);
        merged.push(o);
    }

    println!();
    println!(
        "{:<24} {:>9} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "target",
        "requests",
        "errors",
        "req/s",
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "new conn"
    );
    println!("{}", "-".repeat(24 + 9 + 7 + 10 + 9 * 5 + 8 + 9));
    for s in &summaries {
        println!(
            "{:<24} {:>9} {:>7} {:>10.0} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
            s.name,
            s.requests,
            s.errors,
            s.rps,
            ms(s.mean),
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.max),
            s.new_connections.map_or("?".to_owned(), |n| n.to_string()),
        );
    }
    println!(
        "(new conn: TCP connections opened on this host during warm-up + measurement; 0 = every request reused its keep-alive connection)"
    );

    let mut any_errors = false;
    for (s, o) in summaries.iter().zip(&merged) {
        if s.errors > 0 {
            any_errors = true;
            println!("ERRORS for {}: {} non-200 responses", s.name, s.errors);
            for (kind, n) in &o.error_kinds {
                println!("    {n} × {kind}");
            }
            for sample in &o.error_samples {
                println!("    e.g. {sample}");
            }
        }
    }
    if !any_errors {
        println!("All recorded responses were 200.");
    }

    let bare = &summaries[0];
    println!();
    println!("Ratios, Lethe / bare actix-web (req/s: higher is better; p99: lower is better):");
    let mut parts = Vec::new();
    for s in &summaries[1..] {
        let rps_ratio = s.rps / bare.rps;
        let p99_ratio = s.p99.as_secs_f64() / bare.p99.as_secs_f64().max(f64::EPSILON);
        println!(
            "  {:<24} req/s {:.2}x ({:.0} vs {:.0}), p99 {:.2}x ({} ms vs {} ms)",
            s.name,
            rps_ratio,
            s.rps,
            bare.rps,
            p99_ratio,
            ms(s.p99),
            ms(bare.p99)
        );
        parts.push(format!(
            "{} {:.0} req/s ({:.2}x bare), p50 {} ms, p99 {} ms ({:.2}x bare)",
            s.name.trim_start_matches("lethe "),
            s.rps,
            rps_ratio,
            ms(s.p50),
            ms(s.p99),
            p99_ratio
        ));
    }
    println!();
    println!(
        "NOTE: HTTPS keep-alive, c={}, {} workers, {} s x {} round(s) on {} cores (load generator on the same cores): \
         bare actix-web {:.0} req/s, p50 {} ms, p99 {} ms; Lethe {}.",
        settings.concurrency,
        settings.workers,
        settings.secs,
        settings.rounds,
        cores,
        bare.rps,
        ms(bare.p50),
        ms(bare.p99),
        parts.join("; ")
    );
    if any_errors {
        std::process::exit(1);
    }
}
