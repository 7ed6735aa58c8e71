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
//! - a person Lethe could not match to a subject: completed as "we hold no data about you".
//!
//! Each change is written with the request's timeline entries, the audit entries and the
//! e-mail telling the person, in one transaction; an erasure's transaction is durable and the
//! person's key is destroyed only after it has committed. Access and export are answered with a
//! package, elsewhere.
//!
//! It runs when a request is verified (the API's intake, the privacy center's link), from the
//! `requests` job for any verified request still waiting (so a crash resumes), and when staff
//! ask for it (console "Carry out", `POST /api/v1/requests/{id}/fulfil`).

use super::Caller;
use super::erasure::{self, ErasureReport};
use super::outbox::OutboxKey;
use super::request_mail::{Letters, Notice};
use super::requests::{RequestView, Timeline, not_found, open, overdue, view};
use super::subjects;
use crate::domain::request::{EventKind, RequestState, RequestType};
use crate::error::AppError;
use crate::store::requests::{self, Move, RequestRow};
use crate::store::{Db, Transaction, WorkspaceScope, audit, inventory, subject_objections};
use crate::vault::{SecretKey, Vault};
use chrono::{DateTime, Utc};
use serde_json::json;

/// The request types Lethe carries out itself (or, for a correction, hands to staff).
pub const AUTOMATIC: [RequestType; 5] = [
    RequestType::Correction,
    RequestType::Erasure,
    RequestType::Restriction,
    RequestType::Objection,
    RequestType::Withdrawal,
];

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
        (RequestType::Access | RequestType::Export, _) => {
            return Err(AppError::Conflict(
                "an access or export request is answered with a package of the person's data, not carried out here.".into(),
            ));
        }
        // Started and left with staff; one already with them stays as it is, one answered is
        // refused.
        (RequestType::Correction, Some(_)) => {
            db.write(|tx| ctx.begin(tx, id, CORRECTION_FOR_STAFF).map(drop))?
        }
        (_, None) => db.write(|tx| {
            let row = ctx.begin(tx, id, "Lethe carries the request out.")?;
            ctx.complete(tx, &row, NO_DATA, json!("no_data"))
        })?,
        (RequestType::Erasure, Some(external_id)) => erase(db, vault, &ctx, id, &external_id)?,
        (RequestType::Restriction, Some(external_id)) => {
            restrict(db, vault, &ctx, id, &external_id)?
        }
        (RequestType::Objection | RequestType::Withdrawal, Some(external_id)) => {
            db.write(|tx| object(tx, &ctx, id, &external_id))?
        }
    }
    let (row, events) = db.read(|c| {
        let row = requests::get(c, scope, id)?.ok_or_else(|| not_found(id))?;
        Ok::<_, AppError>((row, requests::events(c, scope, id)?))
    })?;
    Ok(view(&row, &key, scope, now, Some(&events)))
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
        ctx.complete(tx, &row, &erasure_answer(&report), done)?;
        Ok(Some((subject_id, key_id)))
    })?;
    if let Some((subject_id, key_id)) = to_destroy {
        erasure::destroy_subject_key(db, vault, scope, subject_id, &key_id)?;
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
        ctx.complete(tx, &row, &answer, done)
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
    ctx.complete(tx, &row, &answer, json!(kind))
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
            .read(|c| requests::verified_of_kinds(c, &AUTOMATIC, limit))?
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

/// Right after a verification has committed: carries the request out when Lethe does that
/// itself, as Lethe (not whoever verified). A failure leaves the request verified for the
/// `requests` job to try again and is logged; the verification stands either way.
pub fn after_verification(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    id: &str,
    kind: RequestType,
    base_url: &str,
    now: DateTime<Utc>,
) -> Option<RequestView> {
    if !AUTOMATIC.contains(&kind) {
        return None;
    }
    match fulfil(db, vault, scope, &Caller::system(), id, base_url, now) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(request = %id, error = %e, "request not carried out; the requests job tries again");
            None
        }
    }
}
