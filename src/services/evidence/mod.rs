//! The evidence pack (issue 20): one zip an auditor can check without Lethe, with the records
//! of processing, the policy versions, retention rules and runs, the request log, the breach
//! register, consent statistics, the access log's summary and the audit chain's head, an index
//! page, and a manifest of every file signed with the workspace's Ed25519 key (the consent
//! receipt key, published on the privacy center).
//!
//! Everything is read in one snapshot (`gather`), so the files agree with each other; the pack
//! is built in memory (it holds counts and dates, not records) and made an audit entry
//! (`evidence.exported`) whoever asked for it: the shell or a member in the console.

mod gather;

use crate::domain::csv_export::CsvExport;
use crate::domain::evidence::{
    self, INDEX, MANIFEST, Manifest, ManifestFile, Member, PackWorkspace, Period, SIGNATURE,
    Verdict,
};
use crate::error::AppError;
use crate::services::Caller;
use crate::store::{Db, WorkspaceScope, audit};
use crate::vault::Vault;
use askama::Template;
use chrono::{DateTime, Utc};
use gather::Gathered;
use ring::signature::KeyPair;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use zip::write::SimpleFileOptions;

/// A made pack: its file name, the zip and the manifest it carries.
pub struct Pack {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub manifest: Manifest,
}

/// Makes the workspace's pack for `period` and records that it was made. `now` is the
/// generation time (and "now" for deadlines still running).
pub fn make(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    period: &Period,
    now: DateTime<Utc>,
) -> Result<Pack, AppError> {
    let mut gathered = db.read_snapshot(|c| gather::read(c, scope, period, now))?;
    gathered.audit.anchors = gather::anchors(vault.key_store().anchors()?);
    let pair = vault.consent_receipt_pair(scope)?;
    let members = members(&gathered)?;
    let workspace = PackWorkspace {
        slug: gathered.workspace.slug.clone(),
        name: gathered.workspace.settings.legal_name.clone(),
    };
    let mut manifest = Manifest::new(
        workspace,
        *period,
        now,
        pair.public_key().as_ref(),
        &members,
    );
    // The index lists the others with their digests, so it is made after them and listed last.
    let index = Index {
        m: &manifest,
        period: period.label(),
        summary: summary(&gathered),
    }
    .render()
    .map_err(AppError::internal)?;
    let index = Member::new(
        INDEX,
        "This page: what the pack holds, for a reader or a printer.",
        index.into_bytes(),
    );
    manifest.files.push(index.listed());
    let manifest_bytes = manifest.to_bytes().map_err(AppError::internal)?;
    let signature = evidence::encode_signature(pair.sign(&manifest_bytes).as_ref());
    let bytes = zip(&members, &index, &manifest_bytes, &signature, now)?;
    let file_name = format!(
        "lethe-evidence-{}-{}.zip",
        manifest.workspace.slug,
        now.format("%Y%m%dT%H%M%SZ")
    );
    record(db, scope, caller, &manifest, &manifest_bytes, now)?;
    Ok(Pack {
        file_name,
        bytes,
        manifest,
    })
}

fn json(v: &impl Serialize) -> Result<Vec<u8>, AppError> {
    let mut out = serde_json::to_vec_pretty(v).map_err(AppError::internal)?;
    out.push(b'\n');
    Ok(out)
}

/// The data files, in the order the index lists them.
fn members(g: &Gathered) -> Result<Vec<Member>, AppError> {
    let ropa_csv = crate::domain::ropa::to_csv(&g.ropa).map_err(AppError::internal)?;
    Ok(vec![
        Member::new(
            "ropa.json",
            &format!(
                "Records of processing activities (GDPR Art. 30), from {}.",
                g.inventory_source
            ),
            json(&g.ropa)?,
        ),
        Member::new(
            "ropa.csv",
            "The same records of processing, one row per purpose.",
            ropa_csv,
        ),
        Member::new(
            "policies.json",
            "Every published privacy policy version up to the period's end: its effective \
             dates, the notice waiver if any, when subscribers were told and how many, and the \
             published text with its SHA-256.",
            json(&g.policies)?,
        ),
        Member::new(
            "retention.json",
            &format!(
                "The retention rules (from {}), their runs started in the period with what each \
                 did, each rule's latest claim check and the daily claim checks of the period.",
                g.inventory_source
            ),
            json(&g.retention)?,
        ),
        Member::new(
            "requests.json",
            "Data subject requests received in the period: id, type, law, received, due, \
             closed, outcome, and whether the deadline was met. No person's details.",
            json(&g.requests)?,
        ),
        Member::new(
            "requests.csv",
            "The same request log, one row per request.",
            request_csv(g)?,
        ),
        Member::new(
            "incidents.json",
            "The breach register (GDPR Art. 33(5)): incidents detected in the period, with \
             their timeline and notice phases.",
            json(&g.incidents)?,
        ),
        Member::new(
            "consent.json",
            "Consent decisions in the period: granted and refused per purpose (and refusals \
             by Global Privacy Control), in total and per day.",
            json(&g.consent)?,
        ),
        Member::new(
            "access-log.json",
            "The subject access log summarised: reads of people's data per month and reader, \
             and how many people each read. Not who was read.",
            json(&g.access)?,
        ),
        Member::new(
            "audit.json",
            "The audit chain's head when the pack was made, its latest checkpoint and its \
             anchors kept outside the database.",
            json(&g.audit)?,
        ),
    ])
}

fn request_csv(g: &Gathered) -> Result<Vec<u8>, AppError> {
    let mut csv = CsvExport::default();
    let header = [
        "id",
        "type",
        "law",
        "received_at",
        "due_at",
        "extended_due_at",
        "closed_at",
        "outcome",
        "denial_reason",
        "deadline",
    ];
    csv.row(header).map_err(AppError::internal)?;
    for r in &g.requests.requests {
        let deadline = serde_json::to_value(r.deadline).map_err(AppError::internal)?;
        csv.row([
            r.id.clone(),
            r.kind.clone(),
            r.law.clone(),
            r.received_at.clone(),
            r.due_at.clone(),
            r.extended_due_at.clone().unwrap_or_default(),
            r.closed_at.clone().unwrap_or_default(),
            r.outcome.clone(),
            r.denial_reason.clone().unwrap_or_default(),
            deadline.as_str().unwrap_or_default().to_owned(),
        ])
        .map_err(AppError::internal)?;
    }
    csv.finish().map_err(AppError::internal)
}

#[derive(Template)]
#[template(path = "evidence/index.html")]
struct Index<'a> {
    m: &'a Manifest,
    period: String,
    /// (what, how many) for the page's overview.
    summary: Vec<(&'static str, String)>,
}

/// The figures a reader looks for first, in words.
fn summary(g: &Gathered) -> Vec<(&'static str, String)> {
    let r = &g.requests;
    let reads: i64 = g.access.months.iter().map(|m| m.reads).sum();
    let decisions: i64 = g.consent.totals.iter().map(|t| t.granted + t.refused).sum();
    vec![
        ("Records of processing", g.ropa.records.len().to_string()),
        (
            "Policy versions published",
            g.policies.versions.len().to_string(),
        ),
        ("Retention rules", g.retention.rules.len().to_string()),
        ("Retention runs", g.retention.runs.len().to_string()),
        (
            "Data subject requests",
            format!(
                "{} received: {} answered in time, {} late, {} open, {} overdue",
                r.received, r.met, r.missed, r.open, r.overdue
            ),
        ),
        (
            "Incidents registered",
            g.incidents.incidents.len().to_string(),
        ),
        ("Consent decisions (per purpose)", decisions.to_string()),
        ("Reads of people's data", reads.to_string()),
        (
            "Audit chain head",
            g.audit
                .head
                .as_ref()
                .map_or("empty".into(), |h| format!("entry {}, {}", h.seq, h.hash)),
        ),
    ]
}

impl Index<'_> {
    fn files(&self) -> &[ManifestFile] {
        &self.m.files
    }
}

fn zip(
    members: &[Member],
    index: &Member,
    manifest: &[u8],
    signature: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<u8>, AppError> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(crate::services::request_package::zip_time(now));
    let files = std::iter::once((INDEX, index.bytes.as_slice()))
        .chain(
            members
                .iter()
                .map(|m| (m.name.as_str(), m.bytes.as_slice())),
        )
        .chain([(MANIFEST, manifest), (SIGNATURE, signature)]);
    for (name, bytes) in files {
        zip.start_file(name, options).map_err(AppError::internal)?;
        zip.write_all(bytes).map_err(AppError::internal)?;
    }
    Ok(zip.finish().map_err(AppError::internal)?.into_inner())
}

/// The audit entry of a pack: who made it, of which period, and the manifest's digest, so the
/// pack an auditor holds can be matched to its entry.
fn record(
    db: &Db,
    scope: &WorkspaceScope,
    caller: &Caller,
    manifest: &Manifest,
    manifest_bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let event = caller
        .event(
            "evidence.exported",
            format!("workspace:{}", manifest.workspace.slug),
        )
        .detail(serde_json::json!({
            "from": manifest.period.from,
            "to": manifest.period.to,
            "files": manifest.files.len(),
            "manifest_sha256": crate::crypto::sha256_hex(manifest_bytes),
            "key_id": manifest.signing_key.key_id,
        }));
    db.write(|tx| {
        audit::append(tx, Some(scope), &event, now)?;
        Ok(())
    })
}

/// Why a file is not a pack that can be checked at all (not a zip, unreadable): a usage or I/O
/// problem rather than a pack that fails.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

const MAX_MEMBER: u64 = 256 << 20;
const MAX_MEMBERS: usize = 100;

/// What a zip holds: its members by name, and the members whose bytes do not unpack (a
/// changed byte in compressed data, a wrong CRC).
#[derive(Debug, Default)]
pub struct Unzipped {
    pub members: BTreeMap<String, Vec<u8>>,
    /// Each damaged member's name and what unpacking it said.
    pub damaged: Vec<(String, String)>,
}

/// The zip's members by name.
pub fn unzip(bytes: &[u8]) -> Result<Unzipped, Unreadable> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| Unreadable(format!("not a zip file ({e})")))?;
    // A pack has a dozen files; thousands of members (each up to the size limit) is not one
    // of ours, and reading them all could exhaust the memory.
    if archive.len() > MAX_MEMBERS {
        return Err(Unreadable(format!(
            "{} files: not an evidence pack (it has at most {MAX_MEMBERS})",
            archive.len()
        )));
    }
    let mut out = Unzipped::default();
    for i in 0..archive.len() {
        let mut file = archive
            .by_index(i)
            .map_err(|e| Unreadable(format!("member {i} cannot be read ({e})")))?;
        let name = file
            .name()
            .map_err(|e| Unreadable(format!("member {i} has no readable name ({e})")))?
            .into_owned();
        let mut data = Vec::new();
        // A pack holds counts and dates; a member this large is not one of ours (or a zip bomb).
        if let Err(e) = (&mut file).take(MAX_MEMBER + 1).read_to_end(&mut data) {
            // The archive is readable but this member's bytes were changed: the pack is not
            // the one signed, which is a verdict, not an I/O failure.
            out.damaged.push((name, e.to_string()));
            continue;
        }
        if data.len() as u64 > MAX_MEMBER {
            return Err(Unreadable(format!(
                "{name} unpacks to more than {} MiB",
                MAX_MEMBER >> 20
            )));
        }
        // A name twice: the second copy is what an unzip would leave; call it out.
        if out.members.insert(name.clone(), data).is_some() {
            out.members
                .insert(format!("{name} (a second copy)"), Vec::new());
        }
    }
    Ok(out)
}

/// Checks a pack's bytes (see `domain::evidence::verify`); a damaged member fails it.
pub fn verify(bytes: &[u8]) -> Result<Verdict, Unreadable> {
    let unzipped = unzip(bytes)?;
    let mut verdict = evidence::verify(&unzipped.members);
    for (name, error) in unzipped.damaged {
        // Not "missing" as well: it is there, with other bytes.
        let missing = format!("{name} is missing");
        verdict.problems.retain(|p| *p != missing);
        verdict.problems.push(format!(
            "{name} is damaged: its bytes do not unpack ({error})"
        ));
    }
    Ok(verdict)
}

/// Whether the key a pack names is the workspace's signing key, for the workspace the pack
/// names: `None` when this Lethe has no such workspace.
pub fn is_workspace_key(
    db: &Db,
    vault: &Vault,
    slug: &str,
    public_key: &[u8],
) -> Result<Option<bool>, AppError> {
    let Some((scope, _)) = super::workspaces::find_public(db, slug)? else {
        return Ok(None);
    };
    // A workspace that never signed anything has no key, so the pack's is not its key.
    let Some(pair) = vault.existing_consent_receipt_pair(&scope)? else {
        return Ok(Some(false));
    };
    Ok(Some(crate::crypto::constant_time_eq(
        pair.public_key().as_ref(),
        public_key,
    )))
}

/// The workspace a command names, or an error naming it.
pub fn workspace(db: &Db, slug: &str) -> Result<WorkspaceScope, AppError> {
    super::workspaces::find_public(db, slug)?
        .map(|(scope, _)| scope)
        .ok_or_else(|| AppError::NotFound(format!("workspace '{slug}'")))
}
