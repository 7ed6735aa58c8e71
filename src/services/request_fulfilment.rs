//! Carrying out a verified data subject request in the vault (issue 16, point 4 and point 8):
//!
//! - erasure: the vault's crypto-shredding (`erasure::erase_in`); the answer names each legal
//!   hold that keeps records, with its reason and the date it ends;
//! - restriction: the subject's restriction (`subjects::restrict_in`), the request as its reason;
//! - objection (to the request's purpose) and withdrawal of consent: recorded on the subject
//!   (`subject_objections`), shown with the subject; consent answers are to read them once
//!   consent exists;
//! - correction: never automatic: the request is started and left for staff, who apply the
//!   change and complete it;
//! - access and export: nothing to change; the answer is the package (`request_package`), which
//!   the person downloads from their status page once the request is completed;
//! - a person Lethe could not match to a subject: completed as "we hold no data about you".
//!
//! The operator's other systems that hold the person's kinds of data get a task each, in the
//! same transaction (`request_tasks`). With none, the request completes at once; otherwise
//! Lethe's part is recorded (`carried_out`, with its answer) and the request completes when
//! the last task is reported done (`complete_after_tasks`).
//!
//! Each change is written with the request's timeline entries, the audit entries and the
//! e-mail telling the person, in one transaction; an erasure's transaction is durable and the
//! person's key is destroyed only after it has committed.
//!
//! It runs when a request is verified (the API's intake, the privacy center's link), from the
//! `requests` job for any verified request still waiting (so a crash resumes), and when staff
//! ask for it (console "Carry out", `POST /api/v1/requests/{id}/fulfil`).

use super::Caller;
use super::erasure::{self, ErasureReport};
use super::outbox::OutboxKey;
use super::request_mail::{Letters, Notice};
use super::request_package::PACKAGE_DAYS;
use super::request_tasks::Opening;
use super::requests::{
    RequestView, Timeline, carried_out_answer, not_found, open, overdue, view, whole,
};
use super::subjects;
use crate::domain::request::{EventKind, RequestState, RequestType};
use crate::error::AppError;
use crate::store::requests::{self, Move, RequestRow};
use crate::store::{
    Db, Transaction, WorkspaceScope, audit, inventory, request_tasks, subject_objections,
};
use crate::vault::{SecretKey, Vault};
use chrono::{DateTime, Utc};
use serde_json::json;

/// The answer to a person Lethe holds nothing about.
pub const NO_DATA: &str = "We hold no data about you: no record or profile of ours is linked to the address you gave, so there was nothing to act on.";

/// What staff are told when a correction is left to them.
const CORRECTION_FOR_STAFF: &str = "A correction is not made automatically: staff review the change asked for, apply it to the person's profile, then complete the request, which tells the person.";

/// What the step writes besides the request's own moves.
struct Ctx<'a> {
    scope: &'a WorkspaceScope,
    caller: &'a Caller,
    key: &'a SecretKey,
    outbox: &'a OutboxKey,
    base_url: &'a str,
    now: DateTime<Utc>,
}

impl Ctx<'_> {
    fn opening(&self) -> Opening<'_> {
        Opening {
            scope: self.scope,
            key: self.key,
            outbox: self.outbox,
            base_url: self.base_url,
            now: self.now,
        }
    }

    /// Opens the tasks of the other systems that hold the person's kinds of data; how many.
    fn open_tasks(
        &self,
        tx: &Transaction<'_>,
        row: &RequestRow,
        person: (i64, &str),
    ) -> Result<usize, AppError> {
        self.opening()
            .open_tasks(tx, &self.timeline(tx), row, person.0, person.1)
    }

    /// Completes the request with `answer` when no task was opened; otherwise records Lethe's
    /// part (its answer kept in the timeline) and leaves the request to its tasks.
    fn complete_or_wait(
        &self,
        tx: &Transaction<'_>,
        row: &RequestRow,
        answer: &str,
        done: serde_json::Value,
        opened: usize,
    ) -> Result<(), AppError> {
        if opened == 0 {
            return self.complete(tx, row, answer, done);
        }
        self.timeline(tx)
            .add(&row.id, EventKind::CarriedOut, Some(answer), self.now)?;
        let event = self
            .caller
            .event("request.carried_out", row.id.as_str())
            .detail(json!({"done": done, "tasks_opened": opened}));
        audit::append(tx, Some(self.scope), &event, self.now)?;
        Ok(())
    }

    /// Opens the person's tasks, then completes or waits (`complete_or_wait`).
    fn finish(
        &self,
        tx: &Transaction<'_>,
        row: &RequestRow,
        person: (i64, &str),
        answer: &str,
        done: serde_json::Value,
    ) -> Result<(), AppError> {
        let opened = self.open_tasks(tx, row, person)?;
        self.complete_or_wait(tx, row, answer, done, opened)
    }

    fn timeline<'a, 't>(&'a self, tx: &'a Transaction<'t>) -> Timeline<'a, 't> {
        Timeline {
            tx,
            scope: self.scope,
            key: self.key,
            caller: self.caller,
        }
    }

    /// Re-reads the request under the write lock and moves a verified one to `in_progress`
    /// (timeline and audit). Refused (409) unless it is verified or in progress.
    fn begin(&self, tx: &Transaction<'_>, id: &str, note: &str) -> Result<RequestRow, AppError> {
        let (scope, now) = (self.scope, self.now);
        let row = requests::get(tx, scope, id)?.ok_or_else(|| not_found(id))?;
        let waiting = request_tasks::open_count(tx, scope, id)?;
        if waiting > 0 {
            return Err(AppError::Conflict(format!(
                "Lethe's part is done; the request waits for {waiting} task(s) of other systems."
            )));
        }
        match row.state {
            RequestState::InProgress => Ok(row),
            RequestState::Verified => {
                if !requests::move_state(
                    tx,
                    scope,
                    id,
                    RequestState::Verified,
                    RequestState::InProgress,
                    &Move::Start,
                    now,
                )? {
                    return Err(changed());
                }
                self.timeline(tx)
                    .add(id, EventKind::Started, Some(note), now)?;
                let event = self
                    .caller
                    .event("request.started", id)
                    .detail(json!({"by": "fulfilment"}));
                audit::append(tx, Some(scope), &event, now)?;
                Ok(RequestRow {
                    state: RequestState::InProgress,
                    ..row
                })
            }
            other => Err(AppError::Conflict(format!(
                "a request that is {} cannot be carried out.",
                other.as_str().replace('_', " ")
            ))),
        }
    }

    /// Completes a request in progress with `answer` (timeline, audit, the person's e-mail).
    fn complete(
        &self,
        tx: &Transaction<'_>,
        row: &RequestRow,
        answer: &str,
        done: serde_json::Value,
    ) -> Result<(), AppError> {
        let (scope, now, id) = (self.scope, self.now, row.id.as_str());
        if !requests::move_state(
            tx,
            scope,
            id,
            RequestState::InProgress,
            RequestState::Completed,
            &Move::Complete,
            now,
        )? {
            return Err(changed());
        }
        self.timeline(tx)
            .add(id, EventKind::Completed, Some(answer), now)?;
        let event = self
            .caller
            .event("request.completed", id)
            .detail(json!({"on_time": !overdue(row, now), "done": done}));
        audit::append(tx, Some(scope), &event, now)?;
        if let Some(sealed) = &row.email_sealed {
            let to = open(self.key, scope, id, "email", sealed);
            let letters = Letters {
                tx,
                scope,
                outbox: self.outbox,
                base_url: self.base_url,
            };
            let notice = Notice::Completed {
                answer: Some(answer),
            };
            letters.send(id, row.kind, &to, notice, now)?;
        }
        Ok(())
    }
}

fn changed() -> AppError {
    AppError::Conflict("the request changed meanwhile; read it again.".into())
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// Carries out the verified (or in-progress) request `id` as far as Lethe can: see the module
/// documentation. Returns the request as it then stands (with its personal values, like a
/// workflow step). Refused (409) for access and export, and for a request already answered.
#[allow(
    clippy::too_many_arguments,
    reason = "the use case's inputs; grouping them would only rename the list"
)]
pub fn fulfil(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    id: &str,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<RequestView, AppError> {
    let row = db
        .read(|c| requests::get(c, scope, id))?
        .ok_or_else(|| not_found(id))?;
    let key = vault.requests_key(scope)?;
    let outbox = OutboxKey::load(vault, scope)?;
    let ctx = Ctx {
        scope,
        caller,
        key: &key,
        outbox: &outbox,
        base_url,
        now,
    };
    let subject = row.subject_external_id.clone();
    match (row.kind, subject) {
        (_, None) => db.write(|tx| {
            let row = ctx.begin(tx, id, "Lethe carries the request out.")?;
            ctx.complete(tx, &row, NO_DATA, json!("no_data"))
        })?,
        (RequestType::Access | RequestType::Export, Some(external_id)) => {
            db.write(|tx| give_access(tx, &ctx, id, &external_id))?
        }
        // Started and left with staff, with the other systems' tasks; one already with them
        // stays as it is, one answered is refused.
        (RequestType::Correction, Some(external_id)) => db.write(|tx| {
            let row = ctx.begin(tx, id, CORRECTION_FOR_STAFF)?;
            let subject = subjects::find(tx, scope, &external_id)?;
            ctx.open_tasks(tx, &row, (subject.id, &external_id))
                .map(drop)
        })?,
        (RequestType::Erasure, Some(external_id)) => erase(db, vault, &ctx, id, &external_id)?,
        (RequestType::Restriction, Some(external_id)) => {
            restrict(db, vault, &ctx, id, &external_id)?
        }
        (RequestType::Objection | RequestType::Withdrawal, Some(external_id)) => {
            db.write(|tx| object(tx, &ctx, id, &external_id))?
        }
    }
    let (row, whole) = db.read(|c| {
        let row = requests::get(c, scope, id)?.ok_or_else(|| not_found(id))?;
        Ok::<_, AppError>((row, whole(c, scope, id)?))
    })?;
    Ok(view(&row, &key, scope, now, Some(&whole)))
}

/// The answer to an access or export request: where and until when the package is.
fn access_answer(now: DateTime<Utc>) -> String {
    format!(
        "Your data is ready: download it from your request's page until {} (UTC). It holds every record we keep about you, your profile, and for each kind of data why we use it, on what legal basis, who receives it and how long we keep it.",
        day(now + chrono::Duration::days(PACKAGE_DAYS))
    )
}

fn give_access(
    tx: &Transaction<'_>,
    ctx: &Ctx<'_>,
    id: &str,
    external_id: &str,
) -> Result<(), AppError> {
    let row = ctx.begin(
        tx,
        id,
        "Lethe gathers the person's data for their download.",
    )?;
    let subject = subjects::find(tx, ctx.scope, external_id)?;
    if let Some(at) = subject.erased_at {
        let answer = format!(
            "Your personal data was erased on {}: we hold none of it to give you.",
            day(at)
        );
        return ctx.complete(tx, &row, &answer, json!("already_erased"));
    }
    let answer = access_answer(ctx.now);
    ctx.finish(
        tx,
        &row,
        (subject.id, external_id),
        &answer,
        json!("package"),
    )
}

/// Completes request `id` once its last task is done (from `request_tasks::complete_task`, in
/// its transaction): the answer is Lethe's own part (kept in the timeline; for access and
/// export, the package's) and what the other systems did. Nothing happens while a task is open,
/// for a request no longer in progress, or for a correction, which staff complete. Returns
/// whether it completed.
#[allow(
    clippy::too_many_arguments,
    reason = "the use case's inputs; grouping them would only rename the list"
)]
pub(super) fn complete_after_tasks(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    caller: &Caller,
    key: &SecretKey,
    outbox: &OutboxKey,
    base_url: &str,
    now: DateTime<Utc>,
    id: &str,
) -> Result<bool, AppError> {
    if request_tasks::open_count(tx, scope, id)? > 0 {
        return Ok(false);
    }
    let row = requests::get(tx, scope, id)?.ok_or_else(|| not_found(id))?;
    if row.state != RequestState::InProgress || row.kind == RequestType::Correction {
        return Ok(false);
    }
    let tasks = request_tasks::for_request(tx, scope, id)?;
    let names = tasks
        .iter()
        .map(|t| t.system_name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let (lethe_part, systems) = match row.kind {
        RequestType::Access | RequestType::Export => {
            let with_data: Vec<&str> = tasks
                .iter()
                .filter(|t| t.data_sealed.is_some())
                .map(|t| t.system_name.as_str())
                .collect();
            let mut systems = format!(
                "We also asked our other systems that hold data of the same kinds: {names}."
            );
            if !with_data.is_empty() {
                systems.push_str(&format!(
                    " What {} sent us is in your download.",
                    with_data.join(", ")
                ));
            }
            (access_answer(now), systems)
        }
        _ => {
            let part = carried_out_answer(tx, scope, key, id)?
                .unwrap_or_else(|| "We did what you asked in our own records.".to_owned());
            let systems = format!(
                "Our other systems that hold data of the same kinds have done the same: {names}."
            );
            (part, systems)
        }
    };
    let ctx = Ctx {
        scope,
        caller,
        key,
        outbox,
        base_url,
        now,
    };
    let answer = format!("{lethe_part}\n{systems}");
    ctx.complete(tx, &row, &answer, json!({"tasks": tasks.len()}))?;
    Ok(true)
}

/// The answer to an erasure: what went, and what each legal hold keeps, why and until when.
fn erasure_answer(report: &ErasureReport) -> String {
    let mut answer = format!(
        "Your personal data was erased: {} {} deleted and the key that protected your data destroyed, so no copy of it can be read again.",
        report.deleted_records,
        if report.deleted_records == 1 {
            "record was"
        } else {
            "records were"
        }
    );
    for k in &report.kept {
        let until = match &k.until {
            Some(u) => format!("until {u}"),
            None => "until the hold is lifted (it has no end date yet)".to_owned(),
        };
        answer.push_str(&format!(
            "\nKept under the legal hold '{}': {} {} of '{}', because {}; kept {until}, then deleted.",
            k.hold,
            k.records,
            if k.records == 1 { "record" } else { "records" },
            k.category,
            k.reason.trim_end_matches('.'),
        ));
    }
    answer
}

fn erase(
    db: &Db,
    vault: &Vault,
    ctx: &Ctx<'_>,
    id: &str,
    external_id: &str,
) -> Result<(), AppError> {
    let scope = ctx.scope;
    let holds = db
        .read(|c| inventory::load(c, scope).map_err(AppError::from))?
        .legal_holds;
    let today = ctx.now.date_naive();
    // Durable: the person's key is destroyed after this commits, never before.
    let to_destroy = db.write_durable(|tx| {
        let row = ctx.begin(tx, id, "Lethe erases the person's data.")?;
        let subject = subjects::find(tx, scope, external_id)?;
        if let Some(at) = subject.erased_at {
            let answer = format!(
                "Your personal data had already been erased on {}: nothing of it can be read.",
                day(at)
            );
            ctx.complete(tx, &row, &answer, json!("already_erased"))?;
            return Ok::<_, AppError>(None);
        }
        // The records say which systems hold the person's kinds of data: read before they go.
        let opened = ctx.open_tasks(tx, &row, (subject.id, external_id))?;
        let (report, subject_id, key_id) = erasure::erase_in(
            tx,
            vault,
            scope,
            ctx.caller,
            &subject,
            &holds,
            today,
            ctx.now,
        )?;
        let kept: usize = report.kept.iter().map(|k| k.records).sum();
        let done = json!({"erased": true, "deleted_records": report.deleted_records, "kept_records": kept});
        ctx.complete_or_wait(tx, &row, &erasure_answer(&report), done, opened)?;
        Ok(Some((subject_id, key_id)))
    })?;
    if let Some((subject_id, key_id)) = to_destroy {
        erasure::destroy_subject_key(db, vault, scope, subject_id, external_id, &key_id)?;
    }
    Ok(())
}

fn restrict(
    db: &Db,
    vault: &Vault,
    ctx: &Ctx<'_>,
    id: &str,
    external_id: &str,
) -> Result<(), AppError> {
    let scope = ctx.scope;
    let subject = db.read(|c| subjects::find(c, scope, external_id))?;
    let key = subjects::subject_key(vault, scope, &subject)?;
    let reason = format!("at the person's request {id}");
    let sealed = key
        .as_ref()
        .map(|k| subjects::seal_reason(k, scope, external_id, "restriction", &reason))
        .transpose()?;
    db.write(|tx| {
        let row = ctx.begin(tx, id, "Lethe restricts the processing of the person's data.")?;
        let subject = subjects::find(tx, scope, external_id)?;
        let (answer, done) = match (subject.erased_at, subject.restricted_at, &sealed) {
            (Some(at), _, _) => (
                format!("Your personal data was erased on {}: nothing of it is used.", day(at)),
                json!("already_erased"),
            ),
            (None, Some(since), _) => (
                format!(
                    "The processing of your data has been restricted since {}: we keep it but do not use it.",
                    day(since)
                ),
                json!("already_restricted"),
            ),
            (None, None, Some(sealed)) => {
                subjects::restrict_in(tx, scope, ctx.caller, external_id, Some(sealed), ctx.now)?;
                (
                    format!(
                        "The processing of your data is restricted from {}: we keep it but no longer use it, and only our privacy officer may read it, until the question is settled.",
                        day(ctx.now)
                    ),
                    json!("restricted"),
                )
            }
            // No key and not erased: nothing was ever stored under the person.
            (None, None, None) => (NO_DATA.to_owned(), json!("no_data")),
        };
        ctx.finish(tx, &row, (subject.id, external_id), &answer, done)
    })
}

fn object(
    tx: &Transaction<'_>,
    ctx: &Ctx<'_>,
    id: &str,
    external_id: &str,
) -> Result<(), AppError> {
    let scope = ctx.scope;
    let note = "Lethe records it on the person.";
    let row = ctx.begin(tx, id, note)?;
    let subject = subjects::find(tx, scope, external_id)?;
    if let Some(at) = subject.erased_at {
        let answer = format!(
            "Your personal data was erased on {}: nothing of it is used.",
            day(at)
        );
        return ctx.complete(tx, &row, &answer, json!("already_erased"));
    }
    let (kind, action, answer) = match (row.kind, row.purpose_key.as_deref()) {
        (RequestType::Objection, Some(purpose)) => (
            "objection",
            "subject.objected",
            format!(
                "We recorded your objection to the use of your data for '{purpose}' on {}: from then on we do not use it for that purpose.",
                day(ctx.now)
            ),
        ),
        _ => (
            "withdrawal",
            "subject.consent_withdrawn",
            format!(
                "We recorded the withdrawal of your consent on {}: nothing more is done with your data on the basis of consent; what was done before stays lawful.",
                day(ctx.now)
            ),
        ),
    };
    let purpose = (kind == "objection")
        .then_some(row.purpose_key.as_deref())
        .flatten();
    subject_objections::insert(tx, scope, subject.id, kind, purpose, id, ctx.now)?;
    let event = ctx
        .caller
        .event(action, external_id)
        .detail(json!({"purpose": purpose, "request": id}));
    audit::append(tx, Some(scope), &event, ctx.now)?;
    ctx.finish(tx, &row, (subject.id, external_id), &answer, json!(kind))
}

/// Verified requests Lethe carries out itself, `batch` at a time, oldest first, across
/// workspaces (the `requests` job). One that fails is logged and left for staff, and not tried
/// again in this run. Returns how many were carried out.
pub fn fulfil_due(
    db: &Db,
    vault: &Vault,
    base_url: &str,
    now: DateTime<Utc>,
    batch: u32,
    stop: &dyn Fn() -> bool,
) -> Result<usize, AppError> {
    let caller = Caller::system();
    let mut failed: Vec<String> = Vec::new();
    let mut done = 0;
    loop {
        let limit = batch.saturating_add(u32::try_from(failed.len()).unwrap_or(u32::MAX));
        let due: Vec<_> = db
            .read(|c| requests::verified_to_carry_out(c, limit))?
            .into_iter()
            .filter(|(_, id)| !failed.contains(id))
            .collect();
        if due.is_empty() || stop() {
            return Ok(done);
        }
        for (scope, id) in &due {
            match fulfil(db, vault, scope, &caller, id, base_url, now) {
                Ok(_) => done += 1,
                Err(e) => {
                    tracing::warn!(request = %id, error = %e, "request not carried out");
                    failed.push(id.clone());
                }
            }
        }
    }
}

/// A subject's objections and withdrawals of consent, as the API and the console show them.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ObjectionView {
    /// `objection` (to one purpose) or `withdrawal` (of consent).
    pub kind: String,
    /// The purpose objected to; absent for a withdrawal, which covers every purpose based on
    /// consent.
    pub purpose: Option<String>,
    pub since: DateTime<Utc>,
    /// The request that made it.
    pub request: Option<String>,
}

/// The objections and withdrawals recorded on the subject `external_id`.
pub fn objections(
    db: &Db,
    scope: &WorkspaceScope,
    external_id: &str,
) -> Result<Vec<ObjectionView>, AppError> {
    db.read(|c| {
        let subject = subjects::find(c, scope, external_id)?;
        Ok(subject_objections::for_subject(c, scope, subject.id)?
            .into_iter()
            .map(|o| ObjectionView {
                kind: o.kind,
                purpose: o.purpose_key,
                since: o.at,
                request: o.request_id,
            })
            .collect())
    })
}

/// Right after a verification has committed: carries the request out as Lethe (not whoever
/// verified), unless the workspace's staff review requests first
/// (`WorkspaceSettings::review_requests`). A failure leaves the request verified for the
/// `requests` job to try again and is logged; the verification stands either way.
pub fn after_verification(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    id: &str,
    base_url: &str,
    now: DateTime<Utc>,
) -> Option<RequestView> {
    let reviewed = db
        .read(|c| crate::store::workspaces::get(c, scope))
        .map(|w| w.settings.review_requests);
    match reviewed {
        Ok(false) => {}
        Ok(true) => return None,
        Err(e) => {
            tracing::warn!(request = %id, error = %e, "request not carried out; the requests job tries again");
            return None;
        }
    }
    match fulfil(db, vault, scope, &Caller::system(), id, base_url, now) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(request = %id, error = %e, "request not carried out; the requests job tries again");
            None
        }
    }
}
