//! `lethe evidence` (make a workspace's pack) and `lethe evidence verify FILE`. Exit codes as
//! `lethe backup verify`: 0 holds, 1 does not (naming what), 2 usage or I/O (from `main`).

use super::open_existing;
use crate::cli::{DataArgs, EvidenceArgs, EvidenceCommand};
use crate::config::master_key_from_env;
use crate::domain::evidence::Period;
use crate::error::AppError;
use crate::services::{Caller, evidence};
use crate::store::Db;
use crate::vault::Vault;
use anyhow::{Context, anyhow};
use std::path::Path;
use std::process::ExitCode;

pub fn evidence(args: EvidenceArgs) -> anyhow::Result<ExitCode> {
    if let Some(EvidenceCommand::Verify { file, data }) = args.command {
        return verify(&file, &data);
    }
    let slug = args.workspace.ok_or_else(|| {
        anyhow!("say which workspace: `lethe evidence --workspace SLUG` (or `lethe evidence verify FILE`)")
    })?;
    let period = Period::parse(args.from.as_deref(), args.to.as_deref())
        .map_err(|(field, m)| anyhow!("--{field}: {m}"))?;
    let (dir, db) = open_existing(&args.data)?;
    let scope = evidence::workspace(&db, &slug).map_err(|e| match e {
        AppError::NotFound(_) => anyhow!(
            "--workspace: there is no workspace '{slug}' in {}",
            dir.display()
        ),
        other => anyhow!("{other}"),
    })?;
    let vault = Vault::open(&dir, master_key_from_env().as_ref())?;
    let pack = evidence::make(
        &db,
        &vault,
        &scope,
        &Caller::cli(),
        &period,
        chrono::Utc::now(),
    )
    .map_err(|e| anyhow!("{e}"))?;
    let out = args
        .out
        .unwrap_or_else(|| std::path::PathBuf::from(&pack.file_name));
    std::fs::write(&out, &pack.bytes).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "evidence pack of {} for {} ({} files), signed with key {}",
        pack.manifest.workspace.slug,
        period.label(),
        pack.manifest.files.len(),
        pack.manifest.signing_key.key_id
    );
    // The pack's path is the only line on standard output, for scripts.
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn verify(file: &Path, data: &DataArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let verdict = evidence::verify(&bytes).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let mut problems = verdict.problems.clone();
    if let Some(m) = &verdict.manifest {
        println!(
            "pack of workspace {} ({}), period {}, generated at {}",
            m.workspace.slug,
            m.workspace.name,
            m.period.label(),
            m.generated_at
        );
        let said = if verdict.signature_valid {
            "verifies"
        } else {
            "does NOT verify"
        };
        println!(
            "signature: {said} with the public key in the manifest (key id {})",
            m.signing_key.key_id
        );
        // The key in the manifest proves only that the manifest is unchanged since someone
        // signed it; whose key it is takes the workspace's own.
        if data.data_dir.is_some() || data.config.is_some() {
            let (dir, db) = open_existing(data)?;
            let key = verdict.public_key().unwrap_or_default();
            match workspace_key(&dir, &db, &m.workspace.slug, &key)? {
                None => println!(
                    "key: not checked against the workspace: {} has no workspace '{}'",
                    dir.display(),
                    m.workspace.slug
                ),
                Some(true) => println!(
                    "key: is workspace {}'s signing key in {}",
                    m.workspace.slug,
                    dir.display()
                ),
                Some(false) => {
                    println!(
                        "key: is NOT workspace {}'s signing key in {}",
                        m.workspace.slug,
                        dir.display()
                    );
                    problems.push(format!(
                        "the signing key is not workspace {}'s key",
                        m.workspace.slug
                    ));
                }
            }
        } else {
            println!(
                "key: checked against the manifest only (give --data-dir to check it is the \
                 workspace's)"
            );
        }
    }
    for name in &verdict.matched {
        println!("ok: {name}");
    }
    for p in &problems {
        println!("FAILED: {p}");
    }
    if verdict.signature_valid && problems.is_empty() {
        println!("evidence pack {} verifies", file.display());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "lethe: the evidence pack {} does not verify: {}",
            file.display(),
            problems.join("; ")
        );
        Ok(ExitCode::from(1))
    }
}

fn workspace_key(dir: &Path, db: &Db, slug: &str, key: &[u8]) -> anyhow::Result<Option<bool>> {
    let vault = Vault::open(dir, master_key_from_env().as_ref())?;
    evidence::is_workspace_key(db, &vault, slug, key).map_err(|e| anyhow!("{e}"))
}
