//! Answering a correction request (issue 16, point 4): staff review the change the person asked
//! for and apply it to the person's profile; completing the request then tells the person what
//! was corrected. The profile is written through `subjects::put`, the one path that seals it
//! and checks it (an address that is not one, a person under the workspace's minimum age), and
//! the change is kept in the request's timeline as Lethe's part (`carried_out`), which becomes
//! the answer when staff complete the request.

use super::Caller;
use super::requests::{RequestView, Timeline, not_found, view, whole};
use super::subjects;
use crate::domain::ValidationErrors;
use crate::domain::request::{EventKind, RequestState, RequestType};
use crate::domain::subject::SubjectInput;
use crate::error::AppError;
use crate::store::requests;
use crate::store::{Db, WorkspaceScope, audit};
use crate::vault::Vault;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

/// What staff change in the profile; an empty field stays as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileCorrection {
    pub email: String,
    /// YYYY-MM-DD.
    pub birth_date: String,
}

/// Applies `correction` to the profile of the person of correction request `id` (in progress).
/// Refused: another type or state, or no matched person (409); nothing to change or a value
/// that is not valid (422, by field).
pub fn apply(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    id: &str,
    correction: ProfileCorrection,
    now: DateTime<Utc>,
) -> Result<RequestView, AppError> {
    let row = db
        .read(|c| requests::get(c, scope, id))?
        .ok_or_else(|| not_found(id))?;
    if row.kind != RequestType::Correction || row.state != RequestState::InProgress {
        return Err(AppError::Conflict(
            "only a correction request in progress changes a profile.".into(),
        ));
    }
    let Some(external_id) = row.subject_external_id.clone() else {
        return Err(AppError::Conflict(
            "the request is matched to no person: there is no profile to correct.".into(),
        ));
    };
    let email = correction.email.trim();
    let birth = correction.birth_date.trim();
    if email.is_empty() && birth.is_empty() {
        return Err(ValidationErrors::single(
            "email",
            "give the corrected address or date of birth (or both)",
        )
        .into());
    }
    let birth_date = match birth {
        "" => None,
        b => Some(NaiveDate::parse_from_str(b, "%Y-%m-%d").map_err(|_| {
            ValidationErrors::single("birth_date", "must be a date written YYYY-MM-DD")
        })?),
    };
    let current = db.read(|c| subjects::find(c, scope, &external_id))?;
    let key = subjects::subject_key(vault, scope, &current)?;
    let profile = subjects::view(&current, key.as_ref(), scope)?;
    let input = SubjectInput {
        external_id: external_id.clone(),
        email: match email {
            "" => profile.email.clone(),
            e => Some(e.to_owned()),
        },
        kind: Some(profile.kind.clone()),
        birth_date: birth_date.or(profile.birth_date),
    };
    subjects::put(db, vault, scope, caller, input, now.date_naive())?;
    let changed: Vec<&str> = [
        (!email.is_empty()).then_some("your e-mail address"),
        birth_date.map(|_| "your date of birth"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let answer = format!(
        "We corrected {} in our records on {}.",
        changed.join(" and "),
        now.format("%Y-%m-%d")
    );
    let key = vault.requests_key(scope)?;
    db.write(|tx| {
        let timeline = Timeline {
            tx,
            scope,
            key: &key,
            caller,
        };
        timeline.add(id, EventKind::CarriedOut, Some(&answer), now)?;
        let event = caller.event("request.corrected", id).detail(json!({
            "subject": external_id,
            "email": !email.is_empty(),
            "birth_date": birth_date.is_some(),
        }));
        audit::append(tx, Some(scope), &event, now)?;
        let row = requests::get(tx, scope, id)?.ok_or_else(|| not_found(id))?;
        let whole = whole(tx, scope, id)?;
        Ok(view(&row, &key, scope, now, Some(&whole)))
    })
}
