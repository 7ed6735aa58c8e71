//! The access and export package (issue 16, fulfilment of access and portability): one zip
//! with every record of the person (decrypted) as `records.json` and `records.csv`, their
//! profile, and for each category they have records in the inventory's facts (purposes and
//! their legal basis, recipients, retention), their consent decisions (`consent.json`), plus a
//! readable `summary.html`, and what the operator's other systems attached to their tasks, as
//! `systems/{system}.json`.
//!
//! Built streaming: `open` checks the request and who asks, logs the read once (one entry in
//! the subject access log and one `subject.read` in the audit chain per package, not per page)
//! and returns the plan; `write` then reads the records page by page (keyset by id) and writes
//! each page into the zip as it goes, into any `Write`. The web layer hands it a writer that
//! passes bounded chunks to the response, so the package is never whole in memory and never on
//! disk (a temporary file would put the person's values in the clear in the data directory).
//!
//! A package exists for a completed access or export request for `PACKAGE_DAYS` after its
//! completion; a request matched to nobody (or to an erased person) has none: the answer is
//! "we hold no data about you".

use super::subjects::{self, Reader, RecordView, SubjectView};
use crate::domain::csv_export::CsvExport;
use crate::domain::inventory::Inventory;
use crate::domain::request::{RequestState, RequestType};
use crate::error::AppError;
use crate::store::records;
use crate::store::request_tasks;
use crate::store::requests;
use crate::store::subjects::SubjectRow;
use crate::store::{Db, WorkspaceScope, workspaces};
use crate::vault::Vault;
use askama::Template;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::io::Write;
use zip::write::SimpleFileOptions;

/// How long after completion the package can be downloaded.
pub const PACKAGE_DAYS: i64 = 7;
/// Records read, opened and written at a time.
const PAGE: u32 = 500;
/// The person's consent decisions in the package, newest first.
const CONSENT_HISTORY: u32 = 10_000;

/// How the one who asks proves they may have the package.
pub enum Proof<'a> {
    /// The operator's key for this workspace (already checked for its scope).
    ApiKey,
    /// The person on their status page: the request's status link, and their address again.
    Email(&'a str),
}

/// What the person has to receive.
pub enum Answer {
    /// Nobody matched the request (or they were erased): "we hold no data about you".
    NoData {
        request_id: String,
    },
    Package(Box<Package>),
}

/// Everything a package is built from except the records, which `write` reads page by page.
pub struct Package {
    scope: WorkspaceScope,
    request_id: String,
    kind: RequestType,
    row: SubjectRow,
    profile: SubjectView,
    categories: Vec<CategoryFacts>,
    total: i64,
    /// What the other systems attached: (system key, system name, the data).
    systems: Vec<(String, String, Value)>,
    /// The person's consent decisions, newest first.
    consent: Vec<ConsentEntry>,
    organisation: String,
    made_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl Package {
    fn consent(&self) -> &[ConsentEntry] {
        &self.consent
    }
    fn systems(&self) -> &[(String, String, Value)] {
        &self.systems
    }
    fn organisation(&self) -> &str {
        &self.organisation
    }
    fn kind_words(&self) -> &'static str {
        match self.kind {
            RequestType::Export => "data portability",
            _ => "access",
        }
    }
    fn request_id(&self) -> &str {
        &self.request_id
    }
    fn made_on(&self) -> String {
        self.made_at.format("%Y-%m-%d").to_string()
    }
    fn expires_on(&self) -> String {
        self.expires_at.format("%Y-%m-%d").to_string()
    }
    fn total(&self) -> i64 {
        self.total
    }
    fn profile(&self) -> &SubjectView {
        &self.profile
    }
    fn categories(&self) -> &[CategoryFacts] {
        &self.categories
    }
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
    /// The zip's file name.
    pub fn file_name(&self) -> String {
        format!("lethe-{}-{}.zip", self.kind.as_str(), self.request_id)
    }
}

/// One consent decision of the person, as the package shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentEntry {
    pub record: String,
    pub decided_at: String,
    pub source: &'static str,
    pub choices: Vec<crate::domain::consent::Choice>,
}

/// For one category the person has records in: what the inventory says of it.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryFacts {
    pub key: String,
    pub name: String,
    pub description: String,
    pub records: i64,
    pub purposes: Vec<PurposeFacts>,
    pub recipients: Vec<RecipientFacts>,
    pub retention: Vec<RetentionFacts>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PurposeFacts {
    pub name: String,
    pub description: String,
    pub legal_basis: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecipientFacts {
    pub name: String,
    pub role: String,
    pub purpose: String,
    pub country: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetentionFacts {
    pub days: u32,
    pub counted_from: String,
    pub then: String,
    pub note: String,
}

/// A serde enum's code as words (`legitimate_interests` → "legitimate interests").
fn words(v: &impl Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s.replace('_', " "),
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// The inventory's facts about each category the person has records in (a category no longer
/// in the inventory is named by its key, with no facts).
pub fn category_facts(inventory: &Inventory, counts: &[(String, i64)]) -> Vec<CategoryFacts> {
    counts
        .iter()
        .map(|(key, n)| {
            let has = |keys: &[String]| keys.iter().any(|k| k == key);
            let category = inventory.categories.iter().find(|c| &c.key == key);
            CategoryFacts {
                key: key.clone(),
                name: category.map_or_else(|| key.clone(), |c| c.name.clone()),
                description: category.map(|c| c.description.clone()).unwrap_or_default(),
                records: *n,
                purposes: (inventory.purposes.iter())
                    .filter(|p| has(&p.categories))
                    .map(|p| PurposeFacts {
                        name: p.name.clone(),
                        description: p.description.clone(),
                        legal_basis: words(&p.legal_basis),
                    })
                    .collect(),
                recipients: (inventory.recipients.iter())
                    .filter(|r| has(&r.categories))
                    .map(|r| RecipientFacts {
                        name: r.name.clone(),
                        role: words(&r.role),
                        purpose: r.purpose.clone(),
                        country: r.country.clone(),
                    })
                    .collect(),
                retention: (inventory.retention_rules.iter())
                    .filter(|r| &r.category == key && r.enabled)
                    .map(|r| RetentionFacts {
                        days: r.days,
                        counted_from: words(&r.trigger),
                        then: words(&r.action),
                        note: r.note.clone(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Checks that this request has a package for whoever asks, and logs its reading once.
pub fn open(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    reader: &Reader,
    request_id: &str,
    proof: Proof<'_>,
    now: DateTime<Utc>,
) -> Result<Answer, AppError> {
    let not_found = || {
        AppError::NotFound(format!(
            "request '{}'",
            request_id.chars().take(40).collect::<String>()
        ))
    };
    let (request, (subject_id, email_index)) = db.read(|c| {
        let row = requests::get(c, scope, request_id)?.ok_or_else(not_found)?;
        let person = requests::person_of(c, scope, request_id)?.ok_or_else(not_found)?;
        Ok::<_, AppError>((row, person))
    })?;
    if let Proof::Email(email) = proof {
        // The address is checked before anything else is said about the request.
        let given = crate::domain::Email::parse(email)
            .ok()
            .map(|e| vault.email_index(scope, e.as_str()))
            .transpose()?;
        if given.is_none() || given != email_index {
            return Err(AppError::Forbidden(
                "That is not the e-mail address this request was made with.".into(),
            ));
        }
    }
    if !matches!(request.kind, RequestType::Access | RequestType::Export) {
        return Err(AppError::Conflict(format!(
            "a {} request has no data package; only access and export requests do.",
            request.kind.as_str()
        )));
    }
    let completed_at = match (request.state, request.completed_at) {
        (RequestState::Completed, Some(at)) => at,
        _ => {
            return Err(AppError::Conflict(
                "the package is ready once the request is completed.".into(),
            ));
        }
    };
    let expires_at = completed_at + Duration::days(PACKAGE_DAYS);
    if now >= expires_at {
        return Err(AppError::Gone(format!(
            "The download expired on {}. Make a new request to receive your data again.",
            expires_at.format("%Y-%m-%d")
        )));
    }
    let Some(subject_id) = subject_id else {
        return Ok(Answer::NoData {
            request_id: request.id,
        });
    };
    let (row, counts, organisation, tasks, decisions) = db.read_snapshot(|c| {
        let row = crate::store::subjects::by_id(c, scope, subject_id)?;
        let counts: Vec<(String, i64)> = records::categories_of_subject(c, scope, subject_id)?
            .into_iter()
            .map(|(category, n, _)| (category, i64::try_from(n).unwrap_or(i64::MAX)))
            .collect();
        let legal_name = workspaces::get(c, scope)?.settings.legal_name;
        let tasks = request_tasks::for_request(c, scope, request_id)?;
        let decisions = super::consent::history(c, scope, subject_id, CONSENT_HISTORY)?;
        Ok::<_, AppError>((row, counts, legal_name, tasks, decisions))
    })?;
    let consent = decisions
        .into_iter()
        .map(|d| ConsentEntry {
            record: d.id,
            decided_at: crate::domain::time::format(d.decided_at),
            source: d.source.as_str(),
            choices: d.choices,
        })
        .collect();
    let Some(row) = row.filter(|r| r.erased_at.is_none()) else {
        return Ok(Answer::NoData {
            request_id: request.id,
        });
    };
    let key = subjects::subject_key(vault, scope, &row)?;
    let profile = subjects::view(&row, key.as_ref(), scope)?;
    let inventory = super::inventory::load(db, scope)?;
    let categories = category_facts(&inventory, &counts);
    let total = counts.iter().map(|(_, n)| n).sum();
    let systems = match tasks.iter().any(|t| t.data_sealed.is_some()) {
        true => super::request_tasks::attached_data(
            &tasks,
            &vault.requests_key(scope)?,
            scope,
            &request.id,
        ),
        false => Vec::new(),
    };
    let what = json!({
        "read": "package",
        "request": request.id,
        "type": request.kind.as_str(),
        "records": total,
        "categories": counts.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "systems": systems.iter().map(|(k, _, _)| k).collect::<Vec<_>>(),
    });
    subjects::log_access(db, scope, &row, key.as_ref(), reader, what)?;
    Ok(Answer::Package(Box::new(Package {
        scope: *scope,
        request_id: request.id,
        kind: request.kind,
        row,
        profile,
        categories,
        total,
        systems,
        consent,
        organisation,
        made_at: now,
        expires_at,
    })))
}

#[derive(Template)]
#[template(path = "package/summary.html")]
struct Summary<'a> {
    p: &'a Package,
}

fn zip_error(e: zip::result::ZipError) -> AppError {
    AppError::internal(e)
}

fn io_error(e: std::io::Error) -> AppError {
    AppError::internal(e)
}

/// Writes the package's zip into `out`, reading the records page by page; returns `out`.
pub fn write<W: Write>(db: &Db, vault: &Vault, package: &Package, out: W) -> Result<W, AppError> {
    let mut zip = zip::ZipWriter::new_stream(out);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip_time(package.made_at));
    let summary = Summary { p: package }
        .render()
        .map_err(AppError::internal)?;
    zip.start_file("summary.html", options).map_err(zip_error)?;
    zip.write_all(summary.as_bytes()).map_err(io_error)?;

    zip.start_file("profile.json", options).map_err(zip_error)?;
    serde_json::to_writer_pretty(&mut zip, &package.profile).map_err(AppError::internal)?;

    zip.start_file("inventory.json", options)
        .map_err(zip_error)?;
    serde_json::to_writer_pretty(&mut zip, &json!({"categories": package.categories}))
        .map_err(AppError::internal)?;

    zip.start_file("consent.json", options).map_err(zip_error)?;
    serde_json::to_writer_pretty(&mut zip, &json!({"decisions": package.consent}))
        .map_err(AppError::internal)?;

    for (system, _, data) in &package.systems {
        zip.start_file(format!("systems/{system}.json"), options)
            .map_err(zip_error)?;
        serde_json::to_writer_pretty(&mut zip, data).map_err(AppError::internal)?;
    }

    zip.start_file("records.json", options).map_err(zip_error)?;
    zip.write_all(b"[").map_err(io_error)?;
    let mut first = true;
    each_page(db, vault, package, |page| {
        for record in page {
            zip.write_all(if first { b"\n" } else { b",\n" })
                .map_err(io_error)?;
            first = false;
            serde_json::to_writer(&mut zip, record).map_err(AppError::internal)?;
        }
        Ok(())
    })?;
    zip.write_all(b"\n]\n").map_err(io_error)?;

    zip.start_file("records.csv", options).map_err(zip_error)?;
    let mut header = CsvExport::default();
    header
        .row(["id", "category", "occurred_at", "received_at", "fields"])
        .map_err(AppError::internal)?;
    zip.write_all(&header.finish().map_err(AppError::internal)?)
        .map_err(io_error)?;
    each_page(db, vault, package, |page| {
        let mut csv = CsvExport::default();
        for r in page {
            let fields = serde_json::to_string(&r.fields).map_err(AppError::internal)?;
            csv.row([
                r.id.clone(),
                r.category.clone(),
                crate::domain::time::format(r.occurred_at),
                crate::domain::time::format(r.received_at),
                fields,
            ])
            .map_err(AppError::internal)?;
        }
        zip.write_all(&csv.finish().map_err(AppError::internal)?)
            .map_err(io_error)
    })?;
    let mut out = zip.finish().map_err(zip_error)?.into_inner();
    out.flush().map_err(io_error)?;
    Ok(out)
}

/// The person's records in id order, a page at a time, opened.
fn each_page(
    db: &Db,
    vault: &Vault,
    package: &Package,
    mut f: impl FnMut(&[RecordView]) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let scope = &package.scope;
    let mut after: Option<String> = None;
    loop {
        let stored = db.read(|c| {
            records::for_subject_after(c, scope, package.row.id, after.as_deref(), PAGE)
        })?;
        let Some(last) = stored.last() else {
            return Ok(());
        };
        after = Some(last.id.clone());
        let keys = vault.key_ring(scope, &records::key_ids(&stored))?;
        let page = stored
            .iter()
            .map(|r| subjects::open_record(scope, r, &keys))
            .collect::<Result<Vec<_>, _>>()?;
        f(&page)?;
        if stored.len() < PAGE as usize {
            return Ok(());
        }
    }
}

pub(crate) fn zip_time(at: DateTime<Utc>) -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    let year = u16::try_from(at.year()).unwrap_or(1980);
    // Each part is in range by construction; a zip time refuses only years outside 1980–2107.
    zip::DateTime::from_date_and_time(
        year,
        at.month() as u8,
        at.day() as u8,
        at.hour() as u8,
        at.minute() as u8,
        at.second() as u8,
    )
    .unwrap_or_default()
}
