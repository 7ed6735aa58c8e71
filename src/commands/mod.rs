//! What each subcommand does. `main` parses; these open the data directory and call services.

pub mod backup;
pub mod doctor;
pub mod evidence;

use crate::cli::{
    AdminArgs, AdminCommand, ApikeyArgs, ApikeyCommand, AuditArgs, AuditCommand, DataArgs,
    KeysArgs, KeysCommand, RetentionArgs, RetentionCommand, ServeArgs,
};
use crate::config::{Config, Secret, data_dir_from, master_key_from_env};
use crate::domain::anchor::{self, AnchorStatus};
use crate::services::{Caller, accounts, anchors, apikeys, demo, retention};
use crate::startup::Application;
use crate::store::{Db, keystore, workspaces};
use crate::vault::{KEYS_FILE_NAME, MasterKey, Vault, master_key};
use anyhow::{Context, anyhow};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::from_serve_args(args)?;
    let _lock = lock_data_dir(&config.data_dir)?;
    let backup_notice = master_key_notice(&config);
    actix_web::rt::System::new().block_on(async move {
        let demo_wanted = config.demo;
        let app = Application::build(config).await?;
        let (db, vault) = (app.db.clone(), app.vault.clone());
        let demo_login = if demo_wanted {
            Some(tokio::task::spawn_blocking(move || demo::load(&db, &vault)).await??)
        } else {
            None
        };
        let db = app.db.clone();
        let base = app.base_url.clone();
        let setup = tokio::task::spawn_blocking(move || accounts::setup_link(&db, &base)).await??;

        println!(
            "Lethe {} is serving {}",
            env!("CARGO_PKG_VERSION"),
            app.base_url
        );
        if let (Some(fp), Some(path)) = (&app.fingerprint, &app.cert_path) {
            println!("  TLS certificate: {}", path.display());
            println!("  SHA-256 fingerprint: {fp}");
        }
        if let Some(acme) = &app.acme {
            let settings = acme.settings();
            let state = match acme.served_validity() {
                Some(v) => format!("valid until {}", v.not_after.format("%Y-%m-%d")),
                None => "a temporary self-signed one until the first arrives".to_owned(),
            };
            println!(
                "  ACME: certificate for {} from {} ({state}), renewed automatically",
                settings.domain, settings.directory
            );
        }
        for line in backup_notice {
            println!("  {line}");
        }
        println!("  console: {}/console/", app.base_url);
        if let Some(port) = app.redirect_port() {
            println!("  plain HTTP on port {port} redirects to HTTPS");
        }
        if let Some(login) = demo_login {
            println!("  demo workspaces: aulm, aufum");
            println!(
                "  console login: {}  password: {}",
                login.email, login.password
            );
        }
        if let Some(link) = setup {
            println!("  no administrator yet: create one at {link}");
            println!(
                "  (one-time link, valid {} hours; or run `lethe admin create --email …`)",
                accounts::SETUP_LINK_HOURS
            );
        }
        app.run_until_stopped().await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// What the first start says about the master key (nothing on later starts): where it is and
/// that it must be backed up, since without it nothing in the data directory can be read. Decided
/// before start-up creates the files.
fn master_key_notice(config: &Config) -> Vec<String> {
    let dir = &config.data_dir;
    let key_file = dir.join(master_key::FILE_NAME);
    let first_start = !dir.join(DB_FILE_NAME).exists();
    match &config.master_key {
        Some(_) if first_start => vec![
            "the master key comes from LETHE_MASTER_KEY: keep a copy of that value somewhere \
             safe, apart from the data directory's backups"
                .into(),
            format!(
                "without it the data in {DB_FILE_NAME} and {KEYS_FILE_NAME} cannot be read, \
                 from this directory or any backup"
            ),
        ],
        None if first_start || !key_file.exists() => vec![
            format!(
                "new master key: {} -- back it up now, somewhere safe, apart from the data \
                 directory's backups",
                key_file.display()
            ),
            format!(
                "without it the data in {DB_FILE_NAME} and {KEYS_FILE_NAME} cannot be read, \
                 from this directory or any backup"
            ),
        ],
        _ => Vec::new(),
    }
}

/// Opens (creating if need be) the database: for the commands that may start a new Lethe.
fn open(data: &DataArgs) -> anyhow::Result<Db> {
    let dir = data_dir_from(data)?;
    Ok(Db::open(&dir.join(DB_FILE_NAME))?)
}

/// The data directory of a command that works on an existing Lethe. It must exist and hold a
/// database: a mistyped path is named, never made into a new, empty Lethe.
fn existing_data_dir(data: &DataArgs) -> anyhow::Result<PathBuf> {
    let dir = data_dir_from(data)?;
    if !dir.exists() {
        return Err(anyhow!(
            "the data directory {} does not exist (give the one `lethe serve` uses, with \
             --data-dir, LETHE_DATA_DIR or data_dir in --config)",
            dir.display()
        ));
    }
    if !dir.is_dir() {
        return Err(anyhow!(
            "the data directory {} is not a directory",
            dir.display()
        ));
    }
    if !dir.join(DB_FILE_NAME).is_file() {
        return Err(anyhow!(
            "the data directory {} holds no {DB_FILE_NAME}: it is not a Lethe data directory",
            dir.display()
        ));
    }
    Ok(dir)
}

/// The database of an existing Lethe (see [`existing_data_dir`]).
fn open_existing(data: &DataArgs) -> anyhow::Result<(PathBuf, Db)> {
    let dir = existing_data_dir(data)?;
    let db = Db::open(&dir.join(DB_FILE_NAME))?;
    Ok((dir, db))
}

const DB_FILE_NAME: &str = "lethe.db";

pub fn admin(args: AdminArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AdminCommand::Create {
            data,
            email,
            reset_password,
        } => {
            let db = open(&data)?;
            let password = read_password()?;
            let on_existing = if reset_password {
                accounts::OnExisting::ResetPassword
            } else {
                accounts::OnExisting::Refuse
            };
            accounts::create_admin(&db, &email, &password, on_existing)
                .map_err(|e| anyhow!("{e}"))?;
            eprintln!(
                "administrator {} is ready; log in at /console/login",
                email.trim().to_lowercase()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// From the terminal (asked twice), or the first line of standard input when it is piped.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (12 characters or more): ")?;
        let second = rpassword::prompt_password("Repeat the password: ")?;
        if first != second {
            return Err(anyhow!("the two passwords differ"));
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

pub fn apikey(args: ApikeyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ApikeyCommand::Create {
            data,
            workspace,
            scopes,
            name,
        } => {
            let (_, db) = open_existing(&data)?;
            let (scope, _) = db
                .read(|c| workspaces::find_by_slug(c, &workspace))?
                .ok_or_else(|| anyhow!("--workspace: there is no workspace '{workspace}'"))?;
            let created = apikeys::create(
                &db,
                &Caller::cli(),
                &scope,
                &name,
                scopes.iter().map(String::as_str),
            )
            .map_err(|e| anyhow!("{e}"))?;
            // The key is the only thing on stdout, so scripts can capture it.
            println!("{}", created.secret);
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify { data, expect } => {
            let expected = expect
                .iter()
                .map(|e| anchor::parse_expected(e).map_err(|m| anyhow!("--expect: {m}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (dir, db) = open_existing(&data)?;
            let stored = keystore::read_anchors(&dir.join(KEYS_FILE_NAME))?;
            let report = anchors::verify(&db, stored, &expected)?;
            print_verify_report(&report);
            Ok(if report.is_intact() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn print_verify_report(r: &anchors::VerifyReport) {
    match &r.head {
        Some(h) => println!(
            "audit log head: entry {}, hash {} (to check later: --expect {}:{})",
            h.seq, h.hash, h.seq, h.hash
        ),
        None => println!("audit log head: none, the log is empty"),
    }
    match r.key_store_anchors {
        None => println!("{KEYS_FILE_NAME}: not found, so no anchors to check"),
        Some(0) => println!(
            "{KEYS_FILE_NAME}: no anchors yet (`lethe serve` keeps the head there when it moves, \
             see --audit-anchor-schedule, and at shutdown)"
        ),
        Some(n) => println!("{KEYS_FILE_NAME}: {}", anchors_count(n)),
    }
    for a in &r.anchors {
        let source = match a.source {
            anchors::AnchorSource::KeyStore(at) => format!(
                "kept in {KEYS_FILE_NAME} at {}",
                at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            anchors::AnchorSource::Expected => "given with --expect".to_owned(),
        };
        println!(
            "  anchor at entry {} ({source}, hash {}): {}",
            a.seq,
            short(&a.hash),
            a.status
        );
    }
    if !r.missing_guards.is_empty() {
        println!(
            "warning: the triggers that refuse edits and deletions of entries are missing ({}): \
             someone dropped them",
            r.missing_guards.join(", ")
        );
    }
    let broken = r.anchors.iter().filter(|a| a.status.is_broken()).count();
    let held = r
        .anchors
        .iter()
        .filter(|a| a.status == AnchorStatus::Held)
        .count();
    match (&r.chain, broken) {
        (Err(e), _) => println!("audit log BROKEN: {e}"),
        (Ok(_), b) if b > 0 => println!(
            "audit log BROKEN: the chain no longer holds {b} of {}: entries were removed from \
             its end or it was rewritten",
            anchors_count(r.anchors.len())
        ),
        (Ok(n), _) => {
            let after = match &r.checkpoint {
                Some(c) => format!(
                    " after the checkpoint at entry {} (older entries were pruned by the audit \
                     log's retention rule on {}; the first kept entry points at its hash {})",
                    c.seq,
                    c.at.format("%Y-%m-%d"),
                    short(&c.hash)
                ),
                None => String::new(),
            };
            println!(
                "audit log intact: {n} entries checked{after}; {} held",
                anchors_count(held)
            );
        }
    }
}

fn anchors_count(n: usize) -> String {
    if n == 1 {
        "1 anchor".into()
    } else {
        format!("{n} anchors")
    }
}

fn short(hash: &str) -> &str {
    &hash[..16.min(hash.len())]
}

pub fn demo(args: DataArgs) -> anyhow::Result<ExitCode> {
    let db = open(&args)?;
    let vault = Vault::open(&data_dir_from(&args)?, master_key_from_env().as_ref())?;
    let login = demo::load(&db, &vault).map_err(|e| anyhow!("{e}"))?;
    println!("demo workspaces: aulm, aufum");
    println!(
        "console login: {}  password: {}",
        login.email, login.password
    );
    Ok(ExitCode::SUCCESS)
}

/// Holds the data directory for this process until it exits, so that a key rotation cannot
/// run under a serving Lethe (which keeps the old master key in memory).
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    crate::store::create_data_dir(dir)?;
    let path = dir.join("lethe.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(anyhow!(
            "another Lethe is using the data directory {} (stop `lethe serve` first)",
            dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow!(e).context(format!("cannot lock {}", path.display())))
        }
    }
}

pub fn keys(args: KeysArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        KeysCommand::Rotate { data } => {
            let dir = existing_data_dir(&data)?;
            let _lock = lock_data_dir(&dir)?;
            let from_env = master_key_from_env();
            let vault = Vault::open(&dir, from_env.as_ref())?;
            let (new, next_file) = match &from_env {
                Some(_) => {
                    let text = std::env::var("LETHE_NEW_MASTER_KEY").map_err(|_| {
                        anyhow!(
                            "the master key comes from LETHE_MASTER_KEY: give the new one in \
                             LETHE_NEW_MASTER_KEY (64 hex characters, e.g. `openssl rand -hex 32`)"
                        )
                    })?;
                    let new = MasterKey::parse(Secret::new(text).expose())
                        .map_err(|m| anyhow!("LETHE_NEW_MASTER_KEY: {m}"))?;
                    (new, None)
                }
                None => {
                    let new = MasterKey::generate();
                    let next = dir.join(master_key::NEXT_FILE_NAME);
                    // A leftover from a rotation that never re-wrapped anything.
                    let _ = std::fs::remove_file(&next);
                    master_key::write_new(&next, &new)?;
                    (new, Some(next))
                }
            };
            if new.id() == vault.master_id() {
                return Err(anyhow!("the new master key is the current one"));
            }
            let old_id = vault.master_id().to_owned();
            let count = vault.rewrap_all(&new)?;
            if let Some(next) = next_file {
                let current = dir.join(master_key::FILE_NAME);
                std::fs::rename(&next, &current)
                    .with_context(|| format!("cannot replace {}", current.display()))?;
                if let Ok(d) = std::fs::File::open(&dir) {
                    let _ = d.sync_all();
                }
                println!(
                    "re-wrapped {count} data keys; {} now holds the new master key ({})",
                    current.display(),
                    new.id()
                );
                println!("  back up the new {} now", current.display());
            } else {
                println!(
                    "re-wrapped {count} data keys under the new master key ({}); \
                     start Lethe with LETHE_MASTER_KEY set to the value of LETHE_NEW_MASTER_KEY",
                    new.id()
                );
            }
            println!(
                "  older backups of {KEYS_FILE_NAME} still need the old master key ({old_id}): \
                 keep a copy of it for as long as you keep those backups, or they cannot be read"
            );
            let db = Db::open(&dir.join(DB_FILE_NAME))?;
            crate::services::keys::record_master_key_rotation(&db, &old_id, new.id(), count)
                .map_err(|e| anyhow!("the rotation is done, but its audit entry failed: {e}"))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn retention(args: RetentionArgs) -> anyhow::Result<ExitCode> {
    let RetentionCommand::Run {
        data,
        workspace,
        rule,
        dry_run,
        batch_size,
    } = args.command;
    let batch = batch_size.unwrap_or(crate::config::DEFAULT_RETENTION_BATCH_SIZE);
    if !(10..=20_000).contains(&batch) {
        return Err(anyhow!("--batch-size: must be between 10 and 20000"));
    }
    let (dir, db) = open_existing(&data)?;
    let vault = Vault::open(&dir, master_key_from_env().as_ref())?;
    let targets = match &workspace {
        Some(slug) => {
            let (scope, _) = db
                .read(|c| workspaces::find_by_slug(c, slug))?
                .ok_or_else(|| anyhow!("--workspace: there is no workspace '{slug}'"))?;
            vec![(scope, slug.clone())]
        }
        None => db.read(workspaces::all)?,
    };
    let caller = Caller::cli();
    let mut failed = false;
    for (scope, slug) in targets {
        let rules = match retention::rules_to_run(&db, &scope, rule.as_deref()) {
            Ok(rules) => rules,
            // A rule named for every workspace need not exist in each.
            Err(crate::error::AppError::NotFound(_)) if workspace.is_none() => continue,
            Err(e) => return Err(anyhow!("{e}")),
        };
        for r in &rules {
            if dry_run {
                let report =
                    retention::dry_run(&db, &vault, &scope, &caller, r, chrono::Utc::now())
                        .map_err(|e| anyhow!("{e}"))?;
                print_dry_run(&slug, &report);
                continue;
            }
            if retention::run_in_progress(&db, &scope).map_err(|e| anyhow!("{e}"))? {
                eprintln!("{slug}: another retention run is in progress; waiting for it to end");
            }
            let bar = progress_bar(&slug, &r.key);
            let req = retention::RunRequest {
                rule: r,
                started_by: caller.actor.label(),
                batch,
                resume_only: false,
                // Another process's writer cannot be seen from here; the lock decides.
                live: None,
            };
            let outcome = retention::run_rule(
                &db,
                &vault,
                &scope,
                &caller,
                &req,
                true,
                &|| false,
                &mut |p| {
                    if let Some(bar) = &bar {
                        bar.set_length(p.total);
                        bar.set_position(p.counts.scanned);
                    }
                },
            );
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            match outcome {
                Ok(o) => println!(
                    "{slug} {}: run {} {}: {}",
                    r.key, o.run_id, o.status, o.counts
                ),
                Err(e) => {
                    failed = true;
                    eprintln!(
                        "{slug} {}: the run stopped: {e} (it resumes at the next run)",
                        r.key
                    );
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A progress bar on a terminal; nothing when the output goes to a file or a pipe.
fn progress_bar(slug: &str, rule: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{prefix} [{bar:30}] {pos}/{len} records ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(format!("{slug} {rule}"));
    Some(bar)
}

fn print_dry_run(slug: &str, r: &retention::DryRunReport) {
    let outcome = r
        .outcome
        .map(|o| format!(" ({})", o.label()))
        .unwrap_or_default();
    println!(
        "{slug} {} (dry run {}): would delete {}, anonymize {}{outcome}; {} held{}",
        r.rule,
        r.run_id,
        r.would_delete,
        r.would_anonymize,
        r.held,
        r.held_by
            .as_ref()
            .map(|h| format!(" by legal hold '{h}'"))
            .unwrap_or_default()
    );
    for e in &r.examples {
        let after = match &e.after {
            Some(a) => serde_json::Value::Object(a.clone()).to_string(),
            None => "deleted".into(),
        };
        println!(
            "  {} {}: {} -> {after}",
            e.record,
            e.occurred_on,
            serde_json::Value::Object(e.before.clone())
        );
    }
}
