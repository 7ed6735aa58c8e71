//! The moves staff and the operator's backend make on a data subject request: one entry,
//! `act`, for a step of the workflow (start, complete, deny, extend: `take_step`), carrying it
//! out in the vault, a system's task reported done, or a correction applied to the profile.

use super::Caller;
use super::outbox::OutboxKey;
use super::request_mail::{Letters, Notice};
use super::requests::{
    RequestView, Timeline, carried_out_answer, not_found, open, overdue, seal, view, whole,
};
use crate::domain::ValidationErrors;
use crate::domain::request::{DenialReason, EventKind, MAX_TEXT, RequestState, multiline_text};
use crate::domain::request_clock;
use crate::error::AppError;
use crate::store::requests::{self, Move};
use crate::store::{Db, WorkspaceScope, audit, request_tasks};
use crate::vault::Vault;
use chrono::{DateTime, Utc};
use serde_json::json;

/// A workflow step staff or the operator's systems take.
#[derive(Debug, Clone)]
pub enum Step {
    Start,
    Complete,
    Deny {
        reason: DenialReason,
        text: Option<String>,
    },
    Extend {
        reason: String,
    },
}

impl Step {
    /// Checks the step's own input (texts) before anything is read.
    fn validate(self) -> Result<Step, ValidationErrors> {
        Ok(match self {
            Step::Deny { reason, text } => Step::Deny {
                reason,
                text: match text {
                    Some(t) => Some(
                        multiline_text(&t, MAX_TEXT, true)
                            .map_err(|m| ValidationErrors::single("text", m))?,
                    )
                    .filter(|t| !t.is_empty()),
                    None => None,
                },
            },
            Step::Extend { reason } => Step::Extend {
                reason: multiline_text(&reason, MAX_TEXT, false)
                    .map_err(|m| ValidationErrors::single("reason", m))?,
            },
            other => other,
        })
    }
}

/// What staff or the operator's backend ask of a request: a step of the workflow, or that Lethe
/// carry it out in the vault (`request_fulfilment::fulfil`), for one it could not finish when it
/// was verified.
pub enum Action {
    Take(Step),
    CarryOut,
    /// The task of an inventory system is done (`request_tasks::complete_task`), with the data
    /// it holds for an access or export request.
    ReportTask {
        system: String,
        data: Option<serde_json::Value>,
    },
    /// Staff apply a correction request's change to the person's profile
    /// (`request_correction::apply`).
    CorrectProfile(super::request_correction::ProfileCorrection),
}

/// Does `action` on request `id`: the one entry the API and the console share.
#[allow(
    clippy::too_many_arguments,
    reason = "the use case's inputs; grouping them would only rename the list"
)]
pub fn act(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    id: &str,
    action: Action,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<RequestView, AppError> {
    match action {
        Action::Take(step) => take_step(db, vault, scope, caller, id, step, base_url, now),
        Action::CarryOut => {
            super::request_fulfilment::fulfil(db, vault, scope, caller, id, base_url, now)
        }
        Action::ReportTask { system, data } => super::request_tasks::complete_task(
            db, vault, scope, caller, id, &system, data, base_url, now,
        ),
        Action::CorrectProfile(correction) => {
            super::request_correction::apply(db, vault, scope, caller, id, correction, now)
        }
    }
}

/// Takes one step on a request: refused (409) when the workflow or the clock does not allow
/// it; written with its timeline and audit entries, and the e-mail telling the person (links
/// built on `base_url`), in one transaction.
#[allow(
    clippy::too_many_arguments,
    reason = "the use case's inputs; grouping them would only rename the list"
)]
pub fn take_step(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    id: &str,
    step: Step,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<RequestView, AppError> {
    let step = step.validate()?;
    let key = vault.requests_key(scope)?;
    let outbox = OutboxKey::load(vault, scope)?;
    db.write(|tx| {
        let row = requests::get(tx, scope, id)?.ok_or_else(|| not_found(id))?;
        let timeline = Timeline {
            tx,
            scope,
            key: &key,
            caller,
        };
        let refused = |e: &dyn std::fmt::Display| AppError::Conflict(format!("{e}."));
        // The workflow decides; the store's guard (the state read in this same transaction)
        // cannot then fail, but a lost update is refused rather than written over.
        let moved = |to: RequestState, change: &Move<'_>| -> Result<(), AppError> {
            row.state.transition(to).map_err(|e| refused(&e))?;
            if requests::move_state(tx, scope, id, row.state, to, change, now)? {
                Ok(())
            } else {
                Err(AppError::Conflict(
                    "the request changed meanwhile; read it again.".into(),
                ))
            }
        };
        // Completing by hand: the answer is Lethe's part kept for later, if any (a correction
        // staff applied).
        let kept = match &step {
            Step::Complete => carried_out_answer(tx, scope, &key, id)?,
            _ => None,
        };
        // What the person is told of the step, if anything.
        let notice = match &step {
            Step::Start => {
                moved(RequestState::InProgress, &Move::Start)?;
                timeline.add(id, EventKind::Started, None, now)?;
                audit::append(tx, Some(scope), &caller.event("request.started", id), now)?;
                None
            }
            Step::Complete => {
                let open_tasks = request_tasks::open_count(tx, scope, id)?;
                if open_tasks > 0 {
                    return Err(AppError::Conflict(format!(
                        "{open_tasks} task(s) of other systems are still open: the request completes when they are done."
                    )));
                }
                moved(RequestState::Completed, &Move::Complete)?;
                timeline.add(id, EventKind::Completed, kept.as_deref(), now)?;
                let event = caller
                    .event("request.completed", id)
                    .detail(json!({"on_time": !overdue(&row, now)}));
                audit::append(tx, Some(scope), &event, now)?;
                Some(Notice::Completed {
                    answer: kept.as_deref(),
                })
            }
            Step::Deny { reason, text } => {
                let sealed = text
                    .as_deref()
                    .map(|t| seal(&key, scope, id, "denial", t))
                    .transpose()?;
                let change = Move::Deny {
                    reason: *reason,
                    text_sealed: sealed.as_deref(),
                };
                moved(RequestState::Denied, &change)?;
                let detail = match text {
                    Some(t) => format!("{} {t}", reason.description()),
                    None => reason.description().to_owned(),
                };
                timeline.add(id, EventKind::Denied, Some(&detail), now)?;
                let event = caller.event("request.denied", id).detail(json!({
                    "reason": reason.as_str(),
                    "text_given": text.is_some(),
                }));
                audit::append(tx, Some(scope), &event, now)?;
                Some(Notice::Denied {
                    reason: *reason,
                    text: text.as_deref(),
                })
            }
            Step::Extend { reason } => {
                if !row.state.is_open() {
                    return Err(AppError::Conflict(format!(
                        "a request that is {} has no deadline to extend.",
                        row.state.as_str().replace('_', " ")
                    )));
                }
                let until = request_clock::extend(
                    row.law,
                    row.due_at,
                    row.extended_due_at.is_some(),
                    !reason.is_empty(),
                    now,
                )
                .map_err(|e| refused(&e))?;
                let sealed = seal(&key, scope, id, "extension", reason)?;
                if !requests::extend(tx, scope, id, until, &sealed, now)? {
                    return Err(AppError::Conflict(
                        "the request changed meanwhile; read it again.".into(),
                    ));
                }
                timeline.add(id, EventKind::Extended, Some(reason), now)?;
                let event = caller.event("request.extended", id).detail(json!({
                    "due_at": crate::domain::time::format(row.due_at),
                    "extended_due_at": crate::domain::time::format(until),
                    "reason_given": true,
                }));
                audit::append(tx, Some(scope), &event, now)?;
                Some(Notice::Extended { due: until, reason })
            }
        };
        if let (Some(notice), Some(sealed)) = (notice, &row.email_sealed) {
            let to = open(&key, scope, id, "email", sealed);
            let letters = Letters {
                tx,
                scope,
                outbox: &outbox,
                base_url,
            };
            letters.send(id, row.kind, &to, notice, now)?;
        }
        let row = requests::get(tx, scope, id)?.ok_or_else(|| not_found(id))?;
        let whole = whole(tx, scope, id)?;
        Ok(view(&row, &key, scope, now, Some(&whole)))
    })
}
