//! Backups at scale (issue 19): the time and size of `lethe backup create` for a data dir of
//! 1,000,000 records beside `sqlite3 .backup` of the same files in the same run, and the
//! ingestion p99 while a backup runs against the p99 without one.
//!
//! Run with `cargo bench --bench backup`. Lethe runs in-process on port 0 (HTTPS, as
//! `lethe serve`) on a fresh data dir in `BENCH_DIR` (default: the system's temp dir; a real
//! disk, not tmpfs, or fsync costs nothing) with one workspace, the category
//! `usage.message_log` and `BENCH_SUBJECTS` subjects (default 1000, over the API).
//!
//! 1. Fill: `BENCH_RECORDS` records (default 1,000,000) through `services::records::ingest_now`
//!    (sealed and written exactly as Lethe does, 1000 per transaction, two threads), occurred
//!    over the last year in load order; timed apart, not measured against anything. Then the
//!    WAL is checkpointed, so that every copy below reads the same main file.
//! 2. With the server idle: the baseline, `sqlite3 FILE ".backup COPY"` (Debian's sqlite3 CLI,
//!    100 pages a step) of `lethe.db` and of `keys.db`; then `services::backup::create` (what
//!    `lethe backup create` calls: the paced online copy of both files, their SHA-256, the
//!    manifest, the fsyncs), and `store::backup::copy_online` of `lethe.db` alone (the paced
//!    copy without the rest). Wall time, the copies' sizes, MB/s (MB = 10^6 bytes of copy per
//!    second) and Lethe / sqlite3 for time and size. Without the sqlite3 CLI the baseline is
//!    rusqlite's backup API with all pages in one step, and says so. Then
//!    `services::backup::verify` on Lethe's backup, with the SHA-256 of its files alone as a
//!    reference.
//! 3. Ingestion: `BENCH_CONCURRENCY` clients (default 16), each with its own keep-alive HTTPS
//!    connection, post batches of 100 records back to back (as the ingestion bench does): after
//!    `BENCH_WARMUP_SECS` (1) for `BENCH_SECS` (10) without a backup, then, after the same
//!    warm-up, for as long as a `services::backup::create` of the live data dir takes (on its own
//!    thread). p50, p99, records/s of each, the backup's time under load, and p99 during / p99
//!    without against the goal of at most 2×. Anything but 201 is an error.
//!
//! Other knobs: `BENCH_WORKERS` (Lethe's HTTP workers, 2), `BENCH_CLIENT_THREADS` (load-generator
//! tokio threads, default: available parallelism). The load generator shares the cores with the
//! server and the backup.

// Test and measurement code: a failed step is a failed run, so it may unwrap (see [lints] in
// Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::records::{
    CATEGORY, Measured, Until, bodies, external_id, fields, ingest_all, load, spawn_lethe,
};
use common::{cores, env_in, fs_type, loadavg, ms};

use chrono::{DateTime, SecondsFormat, Utc};
use lethe::services::backup;
use lethe::vault::KEYS_FILE_NAME;
use serde_json::{Value, json};
use sha2::Digest;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BATCH: usize = 100;
/// Records occurred over the last this many days, in load order.
const SPAN_DAYS: i64 = 365;
const DB_FILES: [&str; 2] = [backup::DB_FILE_NAME, KEYS_FILE_NAME];

struct Settings {
    records: usize,
    subjects: usize,
    secs: f64,
    warmup_secs: f64,
    concurrency: usize,
    workers: usize,
    client_threads: usize,
    dir: Option<PathBuf>,
}

impl Settings {
    fn from_env() -> Self {
        Settings {
            records: env_in("BENCH_RECORDS", 1_000_000, 1000, 100_000_000),
            subjects: env_in("BENCH_SUBJECTS", 1000, 1, 100_000),
            secs: env_in("BENCH_SECS", 10.0, 0.5, 600.0),
            warmup_secs: env_in("BENCH_WARMUP_SECS", 1.0, 0.0, 60.0),
            concurrency: env_in("BENCH_CONCURRENCY", 16, 1, 1024),
            workers: env_in("BENCH_WORKERS", 2, 1, 64),
            client_threads: env_in("BENCH_CLIENT_THREADS", cores().min(64), 1, 64),
            dir: std::env::var_os("BENCH_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
        }
    }

    fn knobs(&self) -> String {
        format!(
            "BENCH_RECORDS={} BENCH_SUBJECTS={} BENCH_SECS={} BENCH_WARMUP_SECS={} \
             BENCH_CONCURRENCY={} BENCH_WORKERS={} BENCH_CLIENT_THREADS={} BENCH_DIR={}",
            self.records,
            self.subjects,
            self.secs,
            self.warmup_secs,
            self.concurrency,
            self.workers,
            self.client_threads,
            self.dir
                .as_ref()
                .map_or("(temp dir)".into(), |d| d.display().to_string())
        )
    }
}

/// Record `i` of `n`: subject `i mod subjects`, occurred from a year ago to `origin` in load
/// order (so period keys of about 53 weeks), a preview of its own.
fn record(i: usize, n: usize, subjects: usize, origin: DateTime<Utc>) -> Value {
    let back = SPAN_DAYS * 86_400 * (n - i) as i64 / n as i64;
    let occurred_at = origin - chrono::Duration::seconds(back);
    let preview = format!("Table for {} confirmed, ref {i:07}", 2 + i % 6);
    json!({
        "category": CATEGORY,
        "subject": external_id(i % subjects),
        "occurred_at": occurred_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "fields": fields(&preview),
    })
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// A copy made: how long it took, how many bytes it wrote.
struct Made {
    took: Duration,
    bytes: u64,
}

impl Made {
    fn mb_per_s(&self) -> f64 {
        mb(self.bytes) / self.took.as_secs_f64().max(f64::EPSILON)
    }
}

/// The baseline: each file copied by the sqlite3 CLI's `.backup`, or, without the CLI,
/// rusqlite's backup API in one step. Returns the copy and its label.
fn baseline_copy(data_dir: &Path, into: &Path) -> (Made, &'static str) {
    std::fs::create_dir_all(into).expect("baseline folder");
    let cli = Command::new("sqlite3").arg("--version").output().is_ok();
    let t0 = Instant::now();
    for name in DB_FILES {
        let (src, dst) = (data_dir.join(name), into.join(name));
        if cli {
            let dot = format!(".backup '{}'", dst.display());
            let out = Command::new("sqlite3").arg(&src).arg(dot).output();
            let out = out.expect("sqlite3 runs");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && err.is_empty(),
                "sqlite3 .backup: {err}"
            );
        } else {
            let from = rusqlite::Connection::open(&src).expect("source opens");
            let mut to = rusqlite::Connection::open(&dst).expect("target opens");
            let copy = rusqlite::backup::Backup::new(&from, &mut to).expect("backup starts");
            let step = copy.step(-1).expect("backup step");
            let done = matches!(step, rusqlite::backup::StepResult::Done);
            assert!(done, "one step copies all");
        }
    }
    let took = t0.elapsed();
    let bytes = DB_FILES.iter().map(|n| size_of(&into.join(n))).sum();
    let label = match cli {
        true => "sqlite3 .backup (CLI), both files",
        false => "rusqlite backup, all pages in one step (no sqlite3 CLI)",
    };
    (Made { took, bytes }, label)
}

/// `lethe backup create` of `data_dir` into `to`: the copy and the backup's folder.
fn lethe_backup(data_dir: &Path, to: &Path) -> (Made, PathBuf) {
    let t0 = Instant::now();
    let made = backup::create(data_dir, to, Utc::now()).expect("backup created");
    let took = t0.elapsed();
    let bytes = made.manifest.files.iter().map(|f| f.size).sum();
    (Made { took, bytes }, made.folder)
}

/// SHA-256 of the files of a backup folder (the reference for `verify`).
fn hash_files(folder: &Path) -> Duration {
    let t0 = Instant::now();
    for name in DB_FILES {
        let mut file = std::fs::File::open(folder.join(name)).expect("copy opens");
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).expect("copy reads");
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        std::hint::black_box(hasher.finalize());
    }
    t0.elapsed()
}

/// What the idle part measured.
struct Idle {
    baseline: Made,
    baseline_label: &'static str,
    lethe: Made,
    copy_only: Made,
    verify: Duration,
    verify_checks: usize,
    hash: Duration,
}

fn idle_backups(data_dir: &Path, work: &Path) -> Idle {
    eprintln!("  baseline copy …");
    let (baseline, baseline_label) = baseline_copy(data_dir, &work.join("baseline"));
    std::fs::remove_dir_all(work.join("baseline")).expect("baseline removed");
    eprintln!("  lethe backup create …");
    let (lethe, folder) = lethe_backup(data_dir, &work.join("idle"));
    eprintln!("  copy_online of lethe.db alone …");
    let target = work.join("copy_online.db");
    let t0 = Instant::now();
    let db = data_dir.join(backup::DB_FILE_NAME);
    lethe::store::backup::copy_online(&db, &target).expect("copy_online");
    let copy_only = Made {
        took: t0.elapsed(),
        bytes: size_of(&target),
    };
    std::fs::remove_file(&target).expect("copy removed");
    eprintln!("  lethe backup verify …");
    let t0 = Instant::now();
    let report = backup::verify(&folder).expect("verify runs");
    let verify = t0.elapsed();
    assert!(
        report.is_sound(),
        "the backup verifies: {:?}",
        report.problems
    );
    let hash = hash_files(&folder);
    std::fs::remove_dir_all(&folder).expect("backup removed");
    Idle {
        baseline,
        baseline_label,
        lethe,
        copy_only,
        verify,
        verify_checks: report.passed.len(),
        hash,
    }
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let settings = Settings::from_env();
    let runtime = common::runtime(settings.client_threads);
    // The server's warnings and errors (with their causes) on stderr.
    lethe::telemetry::init(Some("warn,actix_server=warn"));
    runtime.block_on(run(Arc::new(settings)));
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

async fn run(s: Arc<Settings>) {
    let started = Utc::now();
    let load_at_start = loadavg();
    let tmp = match &s.dir {
        Some(d) => tempfile::tempdir_in(d).expect("temp dir in BENCH_DIR"),
        None => tempfile::tempdir().expect("temp dir"),
    };
    let (data_dir, work) = (tmp.path().join("data"), tmp.path().join("backups"));
    let fs = fs_type(tmp.path());
    eprintln!(
        "backup bench: {} records, data dir {} ({fs})",
        s.records,
        data_dir.display()
    );

    // 1. Fill (not measured).
    let t0 = Instant::now();
    let lethe = Arc::new(spawn_lethe(s.workers, s.subjects, &data_dir).await);
    let subjects_took = t0.elapsed().as_secs_f64();
    let (l, n, subjects, origin) = (lethe.clone(), s.records, s.subjects, Utc::now());
    let fill_took = blocking(move || {
        let record = |i| record(i, n, subjects, origin);
        ingest_all(&l.db, &l.vault, l.scope, n, "records", record)
    })
    .await;
    let l = lethe.clone();
    let checkpointed = blocking(move || l.db.checkpoint_truncate().expect("checkpoint")).await;
    let sizes: Vec<u64> = DB_FILES
        .iter()
        .map(|f| size_of(&data_dir.join(f)))
        .collect();

    // 2. Backups of the idle server.
    let (d, w) = (data_dir.clone(), work.clone());
    let idle = blocking(move || idle_backups(&d, &w)).await;

    // 3. Ingestion without and during a backup.
    let (c, warmup) = (s.concurrency, Duration::from_secs_f64(s.warmup_secs));
    let body = bodies(BATCH, s.subjects);
    eprintln!("  ingestion without a backup …");
    let measure = Until::Elapsed(Duration::from_secs_f64(s.secs));
    let quiet = load(&lethe, body.clone(), c, warmup, measure).await;
    eprintln!("  ingestion during a backup …");
    let under_load: Arc<Mutex<Option<(Made, PathBuf)>>> = Arc::default();
    let (d, w, out) = (data_dir.clone(), work.join("live"), under_load.clone());
    let job = move || *out.lock().unwrap() = Some(lethe_backup(&d, &w));
    let during = load(&lethe, body, c, warmup, Until::Job(Box::new(job))).await;
    let (live, live_folder) = under_load
        .lock()
        .unwrap()
        .take()
        .expect("backup under load");
    let live_sizes: Vec<u64> = DB_FILES
        .iter()
        .map(|f| size_of(&live_folder.join(f)))
        .collect();
    std::fs::remove_dir_all(&live_folder).expect("backup removed");

    report(
        &s,
        &Report {
            started,
            load_at_start,
            fs,
            subjects_took,
            fill_took,
            checkpointed,
            sizes,
            idle,
            quiet,
            during,
            live,
            live_sizes,
        },
    );
}

struct Report {
    started: DateTime<Utc>,
    load_at_start: String,
    fs: String,
    subjects_took: f64,
    fill_took: f64,
    checkpointed: bool,
    sizes: Vec<u64>,
    idle: Idle,
    quiet: Measured,
    during: Measured,
    live: Made,
    live_sizes: Vec<u64>,
}

fn report(s: &Settings, r: &Report) {
    let n = s.records;
    println!();
    println!(
        "backup bench, {}, {} cores, load average at start {}, at end {}; data dir on {}",
        r.started.format("%Y-%m-%d %H:%M:%S UTC"),
        cores(),
        r.load_at_start,
        loadavg(),
        r.fs
    );
    println!(
        "fill (not measured): {} subjects over the API in {:.1} s, {n} records via ingest_now \
         in {:.1} s ({:.0}/s); lethe.db {:.1} MB, keys.db {:.2} MB{}",
        s.subjects,
        r.subjects_took,
        r.fill_took,
        n as f64 / r.fill_took,
        mb(r.sizes[0]),
        mb(r.sizes[1]),
        if r.checkpointed {
            ", WAL checkpointed"
        } else {
            ", WAL NOT fully checkpointed"
        }
    );

    let i = &r.idle;
    let w = 58;
    println!();
    let columns = format!(
        "{:>9} {:>10} {:>8} {:>18}",
        "time", "size", "MB/s", "vs baseline"
    );
    println!("{:<w$} {columns}", "backup, server idle");
    let line = |name: &str, c: &Made, note: String| {
        let (took, size) = (
            format!("{:.2} s", c.took.as_secs_f64()),
            format!("{:.1} MB", mb(c.bytes)),
        );
        let rate = c.mb_per_s();
        println!("{name:<w$} {took:>9} {size:>10} {rate:>8.1} {note:>18}");
    };
    let vs = |c: &Made| {
        let t = c.took.as_secs_f64() / i.baseline.took.as_secs_f64().max(f64::EPSILON);
        let z = c.bytes as f64 / i.baseline.bytes.max(1) as f64;
        format!("{t:.2}× time {z:.2}× size")
    };
    let name = "lethe backup create (lethe.db + keys.db + manifest)";
    line(name, &i.lethe, vs(&i.lethe));
    line(i.baseline_label, &i.baseline, String::new());
    let name = "  lethe copy_online of lethe.db alone (paced, no hash)";
    line(name, &i.copy_only, vs(&i.copy_only));
    let checked = |took| Made {
        took,
        bytes: i.lethe.bytes,
    };
    let note = format!("{} checks passed", i.verify_checks);
    line("lethe backup verify", &checked(i.verify), note);
    let name = "  reference: SHA-256 of the same files alone";
    line(name, &checked(i.hash), String::new());

    println!();
    let head = format!(
        "ingestion, batches of {BATCH}, HTTPS keep-alive, c={}, {} workers",
        s.concurrency, s.workers
    );
    let columns = format!(
        "{:>10} {:>10} {:>10} {:>9} {:>7}",
        "records/s", "p50", "p99", "requests", "errors"
    );
    println!("{head:<w$} {columns}");
    let row = |name: &str, m: &Measured| {
        let (p50, p99) = (ms(m.percentile(50.0)), ms(m.percentile(99.0)));
        let requests = m.latencies.len() as u64 + m.errors;
        println!(
            "{name:<w$} {:>10.0} {p50:>10} {p99:>10} {requests:>9} {:>7}",
            m.per_sec(),
            m.errors
        );
    };
    let quiet_name = format!("without a backup ({:.1} s)", r.quiet.elapsed.as_secs_f64());
    row(&quiet_name, &r.quiet);
    let during_name = format!(
        "during lethe backup create ({:.1} s)",
        r.during.elapsed.as_secs_f64()
    );
    row(&during_name, &r.during);
    let ratio = r.during.percentile(99.0).as_secs_f64()
        / r.quiet.percentile(99.0).as_secs_f64().max(f64::EPSILON);
    println!(
        "backup under load: {:.2} s ({:.2}× its idle time), {:.1} MB/s; lethe.db {:.1} MB, keys.db \
         {:.2} MB",
        r.live.took.as_secs_f64(),
        r.live.took.as_secs_f64() / i.lethe.took.as_secs_f64().max(f64::EPSILON),
        r.live.mb_per_s(),
        mb(r.live_sizes[0]),
        mb(r.live_sizes[1])
    );
    for (name, m) in [("without", &r.quiet), ("during", &r.during)] {
        if let Some([commits, _, records]) = m.writer {
            let per = records as f64 / commits.max(1) as f64;
            println!(
                "  writer {name}, warm-up included: {commits} commits, {per:.0} records per commit"
            );
        }
    }
    let verdict = if ratio <= 2.0 { "met" } else { "NOT MET" };
    println!("Goal, ingestion p99 during a backup ≤ 2× the p99 without: {verdict} ({ratio:.2}×).");
    println!("knobs: {}", s.knobs());
    for sample in r.quiet.error_samples.iter().chain(&r.during.error_samples) {
        println!("  error e.g. {sample}");
    }
    let errors = r.quiet.errors + r.during.errors;
    if errors > 0 {
        println!("ERRORS: {errors} responses other than 201");
        std::process::exit(1);
    }
}
