//! `lethe backup create|verify` and `lethe restore`.

use super::{existing_data_dir, lock_data_dir};
use crate::cli::{BackupArgs, BackupCommand, RestoreArgs};
use crate::config::{data_dir_from, master_key_from_env};
use crate::services::{backup, restore};
use crate::store::Db;
use crate::vault::{Vault, master_key};
use anyhow::anyhow;
use std::process::ExitCode;

pub fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let command = match (args.command, args.to) {
        (Some(command), _) => command,
        (None, Some(to)) => BackupCommand::Create {
            data: args.data,
            to,
        },
        (None, None) => {
            return Err(anyhow!(
                "say where the backup goes: `lethe backup --to DIR` (or `lethe backup verify \
                 FOLDER`)"
            ));
        }
    };
    match command {
        BackupCommand::Create { data, to } => {
            let dir = existing_data_dir(&data)?;
            let made = backup::create(&dir, &to, chrono::Utc::now())?;
            let head = made
                .manifest
                .audit_head
                .as_ref()
                .map_or("empty".into(), |h| format!("entry {} ({})", h.seq, h.hash));
            for f in &made.manifest.files {
                eprintln!("  {}: {} bytes, SHA-256 {}", f.name, f.size, f.sha256);
            }
            eprintln!(
                "  schema version {}, audit chain head {head}",
                made.manifest.schema_version
            );
            eprintln!(
                "  the master key is not in the backup: keep it apart, or the backup cannot be read"
            );
            // The folder is the only line on standard output, for scripts.
            println!("{}", made.folder.display());
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Verify { folder } => {
            let report = backup::verify(&folder)?;
            for line in &report.passed {
                println!("ok: {line}");
            }
            for line in &report.problems {
                println!("FAILED: {line}");
            }
            if report.is_sound() {
                println!("backup {} verifies", folder.display());
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "lethe: the backup {} does not verify: {}",
                    folder.display(),
                    report.problems.join("; ")
                );
                Ok(ExitCode::from(1))
            }
        }
    }
}

/// Refused while a Lethe serves the directory (it holds `lethe.lock`): the server would go on
/// writing to the files being replaced.
pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let dir = data_dir_from(&args.data)?;
    let _lock = lock_data_dir(&dir)?;
    let from_env = master_key_from_env();
    if from_env.is_none() && !dir.join(master_key::FILE_NAME).is_file() {
        return Err(anyhow!(
            "{} holds no {} and LETHE_MASTER_KEY is not set: copy the master key the backup was \
             made under there first (it is never in a backup)",
            dir.display(),
            master_key::FILE_NAME
        ));
    }
    let journal = args
        .journal
        .clone()
        .unwrap_or_else(|| restore::journal_path(&dir));
    if !journal.is_file() && !args.without_journal {
        return Err(anyhow!(
            "no erasure journal at {}: without it, people erased and keys destroyed since the \
             backup would come back. Give the old data directory's with --journal, or \
             --without-journal if it is truly lost",
            journal.display()
        ));
    }
    let journal_from = args.journal.as_deref().filter(|p| p.is_file());
    let pending = match &args.from {
        Some(from) => {
            let (manifest, pending) = restore::stage(from, &dir, journal_from, chrono::Utc::now())?;
            eprintln!(
                "restored {} (made {}) into {}",
                from.display(),
                manifest.created_at,
                dir.display()
            );
            pending
        }
        None => restore::mark_replica(&dir, journal_from, chrono::Utc::now())?,
    };
    let db = Db::open(&dir.join(backup::DB_FILE_NAME))?;
    let vault = Vault::open(&dir, from_env.as_ref())?;
    let report = restore::finish(&dir, &db, &vault, &pending)?;
    println!(
        "replayed {} journal entries since {}: {} people erased again ({} already gone), {} keys \
         destroyed again ({} already gone), {} records deleted with them; {} older entries were \
         in the backup already",
        report.entries_replayed,
        report.since,
        report.subjects_erased,
        report.subjects_already_gone,
        report.keys_destroyed,
        report.keys_already_gone,
        report.records_deleted,
        report.entries_older
    );
    println!(
        "  report: {}",
        dir.join(restore::REPORT_FILE_NAME).display()
    );
    // Kept data that should be gone must not linger in the logs the replay wrote.
    let _ = db.checkpoint_truncate();
    Ok(ExitCode::SUCCESS)
}
