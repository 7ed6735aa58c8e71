//! `lethe doctor`: gathers the facts of a data directory and its configuration, read-only (it
//! runs beside a serving Lethe), and turns each into a finding with `domain::doctor`'s rules.

use crate::config::{Config, TlsMode};
use crate::domain::backup::BackupHealth;
use crate::domain::doctor::{self as rules, Finding, Status};
use crate::services::{anchors, backup};
use crate::store::{Db, claims, doctor as facts, keystore, workspaces};
use crate::vault::{self, KEYS_FILE_NAME, master_key};
use chrono::{DateTime, Utc};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const DB_FILE_NAME: &str = "lethe.db";

/// Every check, in the order the report lists them.
pub fn run(config: &Config, now: DateTime<Utc>) -> Vec<Finding> {
    let dir = &config.data_dir;
    let mut out = vec![data_directory(dir)];
    out.push(file_modes(dir));
    out.push(master_key_check(config));
    out.push(master_key_in_backups(config));
    out.push(tls_certificate(config, now));
    out.push(smtp(config));
    let db = Db::open_read_only(&dir.join(DB_FILE_NAME));
    match &db {
        Ok(db) => {
            out.push(backups(db, config, now));
            out.push(audit_chain(db, dir));
        }
        Err(e) => {
            for check in ["backups", "audit chain"] {
                out.push(unreadable(check, dir, e));
            }
        }
    }
    out.push(integrity(dir));
    match &db {
        Ok(db) => {
            out.push(deadlines(db, now));
            out.push(outbox(db, now));
            out.push(retention_claims(db));
        }
        Err(e) => {
            for check in ["deadlines", "outbox", "retention claims"] {
                out.push(unreadable(check, dir, e));
            }
        }
    }
    out.push(disk_space(dir));
    out
}

fn unreadable(check: &str, dir: &Path, e: &dyn std::fmt::Display) -> Finding {
    Finding::new(
        check,
        Status::Fail,
        format!("cannot read {}: {e}", dir.join(DB_FILE_NAME).display()),
    )
    .action("give the data directory `lethe serve` uses (--data-dir)")
}

fn data_directory(dir: &Path) -> Finding {
    const CHECK: &str = "data directory";
    let meta = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => {
            return Finding::new(
                CHECK,
                Status::Fail,
                format!("{} is not a directory", dir.display()),
            )
            .action("give the data directory `lethe serve` uses (--data-dir)");
        }
        Err(e) => {
            return Finding::new(CHECK, Status::Fail, format!("{}: {e}", dir.display()))
                .action("give the data directory `lethe serve` uses (--data-dir)");
        }
    };
    let me = rustix::process::getuid().as_raw();
    if meta.uid() != me {
        return Finding::new(
            CHECK,
            Status::Warn,
            format!(
                "{} belongs to user id {}, not to the user running this ({me})",
                dir.display(),
                meta.uid()
            ),
        )
        .action("run Lethe as the directory's owner, or chown it to the service user");
    }
    let mode = meta.mode() & 0o777;
    match rules::directory_mode(mode) {
        Status::Pass => Finding::new(
            CHECK,
            Status::Pass,
            format!(
                "{} exists, owned by this user, mode {mode:o}",
                dir.display()
            ),
        ),
        s => Finding::new(
            CHECK,
            s,
            format!("{} has mode {mode:o}: others may list it", dir.display()),
        )
        .action(format!("chmod 700 {}", dir.display())),
    }
}

fn file_modes(dir: &Path) -> Finding {
    const CHECK: &str = "file modes";
    let mut worst = Status::Pass;
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    let files = [
        (DB_FILE_NAME, rules::database_mode as fn(u32) -> Status),
        (KEYS_FILE_NAME, rules::database_mode),
        (master_key::FILE_NAME, rules::master_key_mode),
        // The ACME certificate's key and the account key: whoever reads them can impersonate
        // the server or act for its account at the CA.
        ("acme/key.pem", rules::master_key_mode),
        ("acme/account.json", rules::master_key_mode),
    ];
    for (name, rule) in files {
        let path = dir.join(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        checked.push(name);
        let mode = meta.mode() & 0o777;
        let status = rule(mode);
        if status != Status::Pass {
            worst = worst.max(status);
            problems.push(format!("{name} has mode {mode:o}, readable by others"));
            fixes.push(format!("chmod 600 {}", path.display()));
        }
    }
    if checked.is_empty() {
        Finding::new(
            CHECK,
            Status::Warn,
            "none of lethe.db, keys.db, master.key is there",
        )
        .action("give the data directory `lethe serve` uses (--data-dir)")
    } else if problems.is_empty() {
        Finding::new(
            CHECK,
            Status::Pass,
            format!("{} owner-only", checked.join(", ")),
        )
    } else {
        Finding::new(CHECK, worst, problems.join("; ")).action(fixes.join("; "))
    }
}

fn master_key_check(config: &Config) -> Finding {
    const CHECK: &str = "master key";
    match vault::check_master_key(&config.data_dir, config.master_key.as_ref()) {
        Ok(source) => Finding::new(
            CHECK,
            Status::Pass,
            format!("from {source}; it opens the key store"),
        ),
        Err(e) => Finding::new(CHECK, Status::Fail, e.to_string()).action(
            "put the master key the data was made with in master.key or LETHE_MASTER_KEY \
             (without it nothing can be read)",
        ),
    }
}

/// Copies of the master key anywhere under the data directory but its own place: a backup
/// that carries its key protects nothing.
fn master_key_in_backups(config: &Config) -> Finding {
    const CHECK: &str = "master key in backups";
    let dir = &config.data_dir;
    let mut copies = Vec::new();
    find_key_copies(dir, dir, 0, &mut copies);
    if !copies.is_empty() {
        let list: Vec<String> = copies.iter().map(|p| p.display().to_string()).collect();
        return Finding::new(
            CHECK,
            Status::Fail,
            format!("a copy of the master key lies in {}", list.join(", ")),
        )
        .action("delete those copies; keep the master key apart from every backup");
    }
    let backup_inside = config
        .backup
        .as_ref()
        .is_some_and(|b| b.dir.starts_with(dir));
    let key_file_here = dir.join(master_key::FILE_NAME).is_file();
    if backup_inside && key_file_here {
        return Finding::new(
            CHECK,
            Status::Warn,
            "--backup-dir is inside the data directory, beside master.key: a copy of the \
             directory carries both",
        )
        .action("put --backup-dir outside the data directory");
    }
    Finding::new(
        CHECK,
        Status::Pass,
        "no copy of the master key under the data directory",
    )
}

fn find_key_copies(root: &Path, dir: &Path, depth: u32, out: &mut Vec<PathBuf>) {
    // Backup folders sit one or two levels down; deeper is not Lethe's layout.
    if depth > 3 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            find_key_copies(root, &path, depth + 1, out);
        } else if dir != root
            && entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(master_key::FILE_NAME))
        {
            out.push(path);
        }
    }
}

fn tls_certificate(config: &Config, now: DateTime<Utc>) -> Finding {
    const CHECK: &str = "tls certificate";
    // The doctor runs without serve's flags: an account or a certificate in `<data-dir>/acme/`
    // is enough to know that serve gets its certificate by ACME.
    let acme_cert = crate::acme::files::cert_path(&config.data_dir);
    let (path, self_signed) = match &config.tls {
        TlsMode::Acme(_) => return acme_certificate(&acme_cert, now),
        TlsMode::SelfSigned if crate::acme::files::in_use(&config.data_dir) => {
            return acme_certificate(&acme_cert, now);
        }
        TlsMode::Off => {
            return Finding::new(
                CHECK,
                Status::Pass,
                "TLS is off (--no-tls: a proxy terminates it)",
            );
        }
        TlsMode::Files { cert, .. } => (cert.clone(), false),
        TlsMode::SelfSigned => (config.data_dir.join("tls").join("cert.pem"), true),
    };
    if self_signed && !path.is_file() {
        return Finding::new(
            CHECK,
            Status::Warn,
            format!("no certificate at {} yet", path.display()),
        )
        .action("`lethe serve` makes one at its first start");
    }
    let not_after = match crate::tls::not_after(&path) {
        Ok(t) => t,
        Err(e) => {
            return Finding::new(CHECK, Status::Fail, e.to_string())
                .action("give a PEM certificate (--tls-cert)");
        }
    };
    let days = (not_after - now).num_days();
    let status = rules::certificate(if not_after < now { -1 } else { days });
    let finding = if not_after < now {
        format!(
            "{} expired on {}",
            path.display(),
            not_after.format("%Y-%m-%d")
        )
    } else {
        format!(
            "{} valid until {} ({days} days left)",
            path.display(),
            not_after.format("%Y-%m-%d")
        )
    };
    let action = match (status, self_signed) {
        (Status::Pass, _) => "",
        (_, true) => {
            "restart `lethe serve`: it renews its own certificate within 30 days of the end"
        }
        (_, false) => "renew the certificate and restart `lethe serve`",
    };
    Finding::new(CHECK, status, finding).action(action)
}

/// The ACME certificate: how long it lasts and whether its renewal (automatic, without a
/// restart) is overdue.
fn acme_certificate(path: &Path, now: DateTime<Utc>) -> Finding {
    const CHECK: &str = "tls certificate";
    const RUNNING: &str = "check that `lethe serve --acme-domain` runs and reaches its CA (its \
                           log says why a renewal fails; the domain must point at this server)";
    if !path.is_file() {
        return Finding::new(
            CHECK,
            Status::Warn,
            format!("no ACME certificate at {} yet", path.display()),
        )
        .action(RUNNING);
    }
    let v = match crate::acme::files::read_validity(path) {
        Ok(v) => v,
        Err(e) => return Finding::new(CHECK, Status::Fail, e.to_string()).action(RUNNING),
    };
    let status = rules::acme_certificate(v.not_before, v.not_after, now);
    let renew_at = crate::domain::acme::renew_at(v.not_before, v.not_after);
    let day = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
    let days = (v.not_after - now).num_days();
    let finding = match status {
        Status::Fail => format!(
            "ACME certificate {} expired on {}",
            path.display(),
            day(v.not_after)
        ),
        Status::Warn => format!(
            "ACME certificate {} valid until {} ({days} days left); its renewal was due on {}",
            path.display(),
            day(v.not_after),
            day(renew_at)
        ),
        Status::Pass => format!(
            "ACME certificate {} valid until {} ({days} days left); renewed automatically from {}",
            path.display(),
            day(v.not_after),
            day(renew_at)
        ),
    };
    let action = if status == Status::Pass { "" } else { RUNNING };
    Finding::new(CHECK, status, finding).action(action)
}

fn smtp(config: &Config) -> Finding {
    const CHECK: &str = "smtp";
    let Some(url) = &config.smtp_url else {
        return Finding::new(
            CHECK,
            Status::Warn,
            "not configured: e-mail stays in the outbox",
        )
        .action("set --smtp-url and --mail-from (or LETHE_SMTP_URL, LETHE_MAIL_FROM)");
    };
    let parsed = match url::Url::parse(url.expose()) {
        Ok(u) => u,
        Err(e) => {
            return Finding::new(
                CHECK,
                Status::Fail,
                format!("--smtp-url does not parse: {e}"),
            )
            .action("give smtp://host:port or smtps://host:port");
        }
    };
    let host = parsed.host_str().unwrap_or_default().to_owned();
    // lettre's defaults: implicit TLS on 465, submission with required STARTTLS on 587, else 25.
    let default_port = match (parsed.scheme(), parsed.query()) {
        ("smtps", _) => 465,
        (_, Some(q)) if q.contains("tls=required") => 587,
        _ => 25,
    };
    let port = parsed.port().unwrap_or(default_port);
    let target = format!("{host}:{port}");
    match connect(&target, Duration::from_secs(3)) {
        Ok(()) => Finding::new(CHECK, Status::Pass, format!("{target} accepts connections")),
        Err(e) => Finding::new(
            CHECK,
            Status::Fail,
            format!("cannot connect to {target}: {e}"),
        )
        .action("check the host, port and firewall; mail waits in the outbox meanwhile"),
    }
}

fn connect(target: &str, timeout: Duration) -> std::io::Result<()> {
    use std::net::ToSocketAddrs;
    let mut last = std::io::Error::other("the name resolves to no address");
    for addr in target.to_socket_addrs()? {
        match std::net::TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn backups(db: &Db, config: &Config, now: DateTime<Utc>) -> Finding {
    const CHECK: &str = "backups";
    let schedule = config.backup.as_ref().map(|b| &b.schedule);
    let status = match backup::status(db, schedule, now) {
        Ok(s) => s,
        Err(e) => return Finding::new(CHECK, Status::Fail, format!("cannot read: {e}")),
    };
    let ago = status.ago.clone().unwrap_or_default();
    // A failed last run is a failure even when the schedule is not known here (backups are
    // configured on `serve`, and this run may not have been given the same options).
    if let Some(last) = status.last.as_ref().filter(|l| !l.ok) {
        let since = status
            .last_success_ago
            .map_or("no backup ever succeeded".to_owned(), |a| {
                format!("the last good one was {a}")
            });
        return Finding::new(
            CHECK,
            Status::Fail,
            format!(
                "the last backup ({ago}) failed: {}; {since}",
                last.error.as_deref().unwrap_or("no reason recorded")
            ),
        )
        .action("read the error, fix it, then run `lethe backup create --to DIR`");
    }
    match status.health {
        BackupHealth::Fine => Finding::new(CHECK, Status::Pass, format!("last backup {ago}")),
        BackupHealth::Late => Finding::new(
            CHECK,
            Status::Fail,
            format!("the last backup is {ago}, older than the schedule allows"),
        )
        .action("check that `lethe serve` runs and its backup job succeeds"),
        BackupHealth::Never => Finding::new(CHECK, Status::Warn, "on, and no backup made yet")
            .action("wait for the first scheduled run, or run `lethe backup create --to DIR`"),
        BackupHealth::Failed => Finding::new(CHECK, Status::Fail, "the last backup failed")
            .action("read the error in the console, fix it"),
        BackupHealth::Off => {
            let last = if ago.is_empty() {
                String::new()
            } else {
                format!(" (last recorded backup {ago})")
            };
            Finding::new(
                CHECK,
                Status::Warn,
                format!("scheduled backups are off{last}"),
            )
            .action("give `lethe serve` (and this check) --backup-dir, or back up with `lethe backup create`")
        }
    }
}

fn audit_chain(db: &Db, dir: &Path) -> Finding {
    const CHECK: &str = "audit chain";
    let stored = match keystore::read_anchors(&dir.join(KEYS_FILE_NAME)) {
        Ok(s) => s,
        Err(e) => {
            return Finding::new(CHECK, Status::Fail, format!("cannot read the anchors: {e}"));
        }
    };
    let report = match anchors::verify(db, stored, &[]) {
        Ok(r) => r,
        Err(e) => return Finding::new(CHECK, Status::Fail, format!("cannot walk the chain: {e}")),
    };
    let action = "run `lethe audit verify` for the details; restore from a backup that verifies";
    match &report.chain {
        Err(e) => Finding::new(
            CHECK,
            Status::Fail,
            format!("the audit chain is broken: {e}"),
        )
        .action(action),
        Ok(n) => {
            let broken = report
                .anchors
                .iter()
                .filter(|a| a.status.is_broken())
                .count();
            if broken > 0 {
                return Finding::new(
                    CHECK,
                    Status::Fail,
                    format!("the audit chain no longer holds {broken} anchor(s) kept in keys.db"),
                )
                .action(action);
            }
            if !report.missing_guards.is_empty() {
                return Finding::new(
                    CHECK,
                    Status::Warn,
                    format!(
                        "the audit chain links up, but its guarding triggers are missing ({})",
                        report.missing_guards.join(", ")
                    ),
                )
                .action(action);
            }
            let latest = report
                .anchors
                .last()
                .map_or(" (no anchor yet)".to_owned(), |a| {
                    format!(", latest anchor (entry {}) held", a.seq)
                });
            Finding::new(CHECK, Status::Pass, format!("{n} entries link up{latest}"))
        }
    }
}

fn integrity(dir: &Path) -> Finding {
    const CHECK: &str = "database integrity";
    let mut problems = Vec::new();
    for name in [DB_FILE_NAME, KEYS_FILE_NAME] {
        match facts::quick_check(&dir.join(name)) {
            Ok(p) if p.is_empty() => {}
            Ok(p) => problems.push(format!("{name}: {}", p.join("; "))),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    if problems.is_empty() {
        Finding::new(
            CHECK,
            Status::Pass,
            "quick_check of lethe.db and keys.db: ok",
        )
    } else {
        Finding::new(CHECK, Status::Fail, problems.join("; ")).action(
            "stop `lethe serve` and restore the damaged file from a backup (`lethe restore`)",
        )
    }
}

fn deadlines(db: &Db, now: DateTime<Utc>) -> Finding {
    const CHECK: &str = "deadlines";
    let overdue = match db.read(|c| facts::overdue(c, now)) {
        Ok(o) => o,
        Err(e) => return Finding::new(CHECK, Status::Fail, format!("cannot read: {e}")),
    };
    let total: u64 = overdue.iter().map(|o| o.requests + o.incidents).sum();
    if total == 0 {
        return Finding::new(CHECK, Status::Pass, "no request or incident is overdue");
    }
    let list: Vec<String> = overdue
        .iter()
        .map(|o| {
            format!(
                "{}: {} request(s) past their deadline, {} incident(s) past 72 h undecided",
                o.workspace, o.requests, o.incidents
            )
        })
        .collect();
    Finding::new(CHECK, rules::overdue(total), list.join("; "))
        .action("answer the requests and decide on the incidents in the console")
}

fn outbox(db: &Db, now: DateTime<Utc>) -> Finding {
    const CHECK: &str = "outbox";
    let counts = db.read(|c| {
        Ok::<_, crate::store::StoreError>((
            facts::queued_before(c, now - chrono::Duration::hours(1))?,
            facts::disabled_endpoints(c)?,
        ))
    });
    let (queued, disabled) = match counts {
        Ok(c) => c,
        Err(e) => return Finding::new(CHECK, Status::Fail, format!("cannot read: {e}")),
    };
    let status = rules::backlog(queued).max(rules::backlog(disabled));
    if status == Status::Pass {
        return Finding::new(
            CHECK,
            Status::Pass,
            "nothing queued over an hour; no endpoint disabled",
        );
    }
    Finding::new(
        CHECK,
        status,
        format!("{queued} message(s) queued over an hour; {disabled} webhook endpoint(s) disabled"),
    )
    .action("check SMTP and the endpoints in the console's outbox; re-enable fixed endpoints")
}

fn retention_claims(db: &Db) -> Finding {
    const CHECK: &str = "retention claims";
    let checks = db.read(|c| {
        Ok::<_, crate::store::StoreError>((
            claims::latest_claim_checks_all(c)?,
            workspaces::all(c)?,
        ))
    });
    let (checks, spaces) = match checks {
        Ok(c) => c,
        Err(e) => return Finding::new(CHECK, Status::Fail, format!("cannot read: {e}")),
    };
    let failed: Vec<String> = checks
        .iter()
        .filter(|(_, c)| !c.passed())
        .map(|(ws, c)| {
            let slug = spaces
                .iter()
                .find(|(s, _)| s.id() == *ws)
                .map_or("?", |(_, slug)| slug.as_str());
            format!("{slug} {}: {} record(s) break it", c.rule_key, c.violations)
        })
        .collect();
    if failed.is_empty() {
        return Finding::new(
            CHECK,
            Status::Pass,
            format!("{} claim(s) held at their latest check", checks.len()),
        );
    }
    Finding::new(
        CHECK,
        Status::Warn,
        format!("claims not held: {}", failed.join("; ")),
    )
    .action("see the retention page: run the rule, or release what holds the records")
}

fn disk_space(dir: &Path) -> Finding {
    const CHECK: &str = "disk space";
    let stat = match rustix::fs::statvfs(dir) {
        Ok(s) => s,
        Err(e) => return Finding::new(CHECK, Status::Warn, format!("cannot measure: {e}")),
    };
    if stat.f_blocks == 0 {
        return Finding::new(CHECK, Status::Warn, "the file system reports no size");
    }
    let percent = stat.f_bavail as f64 * 100.0 / stat.f_blocks as f64;
    let free_mb = stat.f_bavail.saturating_mul(stat.f_frsize) / (1024 * 1024);
    let status = rules::disk_space(percent);
    let finding = format!("{percent:.1}% free ({free_mb} MiB) on the data directory's file system");
    match status {
        Status::Pass => Finding::new(CHECK, status, finding),
        _ => Finding::new(CHECK, status, finding)
            .action("free space or grow the file system: SQLite stops writing when it is full"),
    }
}
