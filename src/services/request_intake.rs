//! The person's side of a data subject request: the privacy center's form, the e-mailed
//! verification link, the expiry of requests never verified, and the status page.
//!
//! A request from the form is stored `received`, sealed like any other (`services::requests`),
//! with a verification link that works once for [`VERIFY_LINK_HOURS`]; following it (a POST, so
//! mail scanners that fetch links do not verify) moves it to `verified`. The clock runs from
//! receipt. An unknown address is accepted exactly like a known one, so the form cannot tell
//! who is a customer. Unverified requests are deleted once their link has ended.

use super::Caller;
use super::outbox::OutboxKey;
use super::request_mail::{Letters, Notice};
use crate::domain::ValidationErrors;
use crate::domain::inventory::InventoryKind;
use crate::domain::request::{DenialReason, EventKind, RequestInput, RequestState, RequestType};
use crate::domain::request_clock;
use crate::error::AppError;
use crate::store::request_links::{self, LinkPurpose};
use crate::store::requests::{self, NewRequestRow};
use crate::store::{Db, WorkspaceScope, audit, inventory, subjects, workspaces};
use crate::vault::{self, SecretKey, Vault};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// How long a verification link works; an unverified request is deleted after it.
pub const VERIFY_LINK_HOURS: i64 = 24;

/// What the form sends, before validation.
#[derive(Debug, Clone, Default)]
pub struct FormInput {
    pub kind: String,
    pub email: String,
    pub details: String,
    pub purpose: String,
}

fn seal(
    key: &SecretKey,
    scope: &WorkspaceScope,
    id: &str,
    field: &str,
    text: &str,
) -> Result<Vec<u8>, AppError> {
    Ok(key.seal(&vault::request_aad(scope, id, field), text.as_bytes())?)
}

fn open(key: &SecretKey, scope: &WorkspaceScope, id: &str, field: &str, sealed: &[u8]) -> String {
    key.open(&vault::request_aad(scope, id, field), sealed)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| "(this text cannot be read)".to_owned())
}

/// Checks the form: a type, an address (the form's only way to reach the person), the purpose
/// of an objection. All errors at once, named by the form's fields.
fn validate(
    form: FormInput,
    now: DateTime<Utc>,
) -> Result<crate::domain::request::NewRequest, AppError> {
    let no_email = form.email.trim().is_empty();
    let input = RequestInput {
        kind: Some(form.kind).filter(|k| !k.trim().is_empty()),
        email: Some(form.email),
        details: Some(form.details),
        purpose: Some(form.purpose),
        ..RequestInput::default()
    };
    input.validate(now).map_err(|mut errors| {
        for e in &mut errors.0 {
            e.message = match (e.field.as_str(), no_email) {
                ("email", true) => "is required".into(),
                ("type", _) if e.message == "is required" => "choose what you ask for".into(),
                ("purpose", _) if e.message.starts_with("an objection") => {
                    "choose the purpose you object to".into()
                }
                _ => std::mem::take(&mut e.message),
            };
        }
        AppError::Validation(errors)
    })
}

/// Stores a request from the privacy center as `received` and queues the verification e-mail.
/// The answer is the same for every valid address; only the form's own mistakes are refused.
pub fn submit(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    form: FormInput,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let new = validate(form, now)?;
    let Some(email) = new.email.clone() else {
        return Err(ValidationErrors::single("email", "is required").into());
    };
    let index = vault.email_index(scope, email.as_str())?;
    let key = vault.requests_key(scope)?;
    let outbox = OutboxKey::load(vault, scope)?;
    let id = uuid::Uuid::now_v7().to_string();
    let email_sealed = seal(&key, scope, &id, "email", email.as_str())?;
    let details_sealed = new
        .details
        .as_deref()
        .map(|d| seal(&key, scope, &id, "details", d))
        .transpose()?;
    let deadlines = request_clock::deadlines(new.law, new.received_at);
    let token = crate::crypto::random_token(32);
    let expires = now + Duration::hours(VERIFY_LINK_HOURS);
    db.write(|tx| {
        if let Some(p) = &new.purpose
            && !inventory::contains(tx, scope, InventoryKind::Purposes, p)?
        {
            return Err(ValidationErrors::single(
                "purpose",
                "is not one of this business's purposes",
            )
            .into());
        }
        // Matched now, used only once verified: several people with one address are matched
        // by staff.
        let subject_id = match subjects::by_email_index(tx, scope, &index)?.as_slice() {
            [only] => Some(only.id),
            _ => None,
        };
        requests::insert(
            tx,
            scope,
            &NewRequestRow {
                id: &id,
                kind: new.kind,
                state: RequestState::Received,
                law: new.law,
                received_at: new.received_at,
                verified_at: None,
                acknowledge_by: deadlines.acknowledge_by,
                due_at: deadlines.due_at,
                subject_id,
                email_index: Some(&index),
                email_sealed: Some(&email_sealed),
                details_sealed: details_sealed.as_deref(),
                purpose_key: new.purpose.as_deref(),
            },
            now,
        )?;
        let digest = crate::crypto::sha256_hex(&token);
        request_links::insert(
            tx,
            scope,
            &id,
            LinkPurpose::Verify,
            &digest,
            Some(expires),
            now,
        )?;
        let actor = caller.actor.label();
        requests::append_event(tx, scope, &id, EventKind::Received, &actor, new.received_at)?;
        let slug = workspaces::get(tx, scope)?.slug;
        let link = format!("{base_url}/p/{slug}/requests/verify/{token}");
        let letters = Letters {
            tx,
            scope,
            outbox: &outbox,
            base_url,
        };
        let notice = Notice::Verify {
            link: &link,
            hours: VERIFY_LINK_HOURS,
        };
        letters.send(&id, new.kind, email.as_str(), notice, now)?;
        let event = caller.event("request.created", &id).detail(json!({
            "type": new.kind.as_str(),
            "law": new.law.as_str(),
            "state": RequestState::Received.as_str(),
            "due_at": crate::domain::time::format(deadlines.due_at),
            "matched": subject_id.is_some(),
            "purpose": new.purpose,
            "via": "privacy_center",
        }));
        audit::append(tx, Some(scope), &event, now)?;
        Ok(())
    })
}

/// What a verification link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// It works: the page shows the button.
    Live,
    /// It did its work already.
    Used,
    Expired,
    /// No such link in this workspace.
    Unknown,
}

fn link_state(row: Option<&request_links::LinkRow>, now: DateTime<Utc>) -> LinkState {
    match row {
        None => LinkState::Unknown,
        Some(l) if l.used_at.is_some() => LinkState::Used,
        Some(l) if l.expires_at.is_none_or(|e| e < now) => LinkState::Expired,
        Some(_) => LinkState::Live,
    }
}

/// The state of a verification link, without using it (the page before the button).
pub fn check_verify_link(
    db: &Db,
    scope: &WorkspaceScope,
    token: &str,
    now: DateTime<Utc>,
) -> Result<LinkState, AppError> {
    let digest = crate::crypto::sha256_hex(token);
    let row = db.read(|c| request_links::find(c, scope, LinkPurpose::Verify, &digest))?;
    Ok(link_state(row.as_ref(), now))
}

/// Uses a verification link: the request becomes `verified` (its timeline and the audit log say
/// so) and the person is e-mailed its deadline; then, once that has committed, a request Lethe
/// carries out itself is (`request_fulfilment::after_verification`). Anything but a live link
/// changes nothing and says what it is.
pub fn verify(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    token: &str,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<LinkState, AppError> {
    let digest = crate::crypto::sha256_hex(token);
    let key = vault.requests_key(scope)?;
    let outbox = OutboxKey::load(vault, scope)?;
    let (state, verified) = db.write(|tx| -> Result<_, AppError> {
        let row = request_links::find(tx, scope, LinkPurpose::Verify, &digest)?;
        let state = link_state(row.as_ref(), now);
        let Some(link) = row.filter(|_| state == LinkState::Live) else {
            return Ok((state, None));
        };
        let id = link.request_id;
        // Checked under the write lock: of two submissions of one link, one verifies.
        if !request_links::use_verify_link(tx, scope, &digest, now)? {
            return Ok((LinkState::Used, None));
        }
        if !request_links::mark_verified(tx, scope, &id, now)? {
            // Denied meanwhile: the link is spent, the request stays as staff left it.
            return Ok((LinkState::Used, None));
        }
        let actor = caller.actor.label();
        let event_id = requests::append_event(tx, scope, &id, EventKind::Verified, &actor, now)?;
        let detail = "the person confirmed their e-mail address";
        let sealed = seal(&key, scope, &id, &format!("event/{event_id}"), detail)?;
        requests::seal_event_detail(tx, scope, event_id, &sealed)?;
        let request =
            requests::get(tx, scope, &id)?.ok_or_else(|| AppError::NotFound("request".into()))?;
        audit::append(tx, Some(scope), &caller.event("request.verified", &id), now)?;
        if let Some(sealed) = &request.email_sealed {
            let to = open(&key, scope, &id, "email", sealed);
            let letters = Letters {
                tx,
                scope,
                outbox: &outbox,
                base_url,
            };
            let due = request.extended_due_at.unwrap_or(request.due_at);
            letters.send(&id, request.kind, &to, Notice::Verified { due }, now)?;
        }
        Ok((LinkState::Live, Some((id, request.kind))))
    })?;
    // After the verification has committed: Lethe carries out what it does itself.
    if state == LinkState::Live
        && let Some((id, _)) = verified
    {
        super::request_fulfilment::after_verification(db, vault, scope, &id, base_url, now);
    }
    Ok(state)
}

/// Deletes, in batches of `batch`, the requests never verified whose link has ended, each with
/// an audit entry (`request.expired`: the id only). Returns how many went.
pub fn expire_unverified(
    db: &Db,
    now: DateTime<Utc>,
    batch: u32,
    stop: &dyn Fn() -> bool,
) -> Result<usize, AppError> {
    let caller = Caller::system();
    let mut deleted = 0;
    loop {
        let due = db.read(|c| request_links::unverified_past(c, now, batch))?;
        if due.is_empty() || stop() {
            return Ok(deleted);
        }
        // One short transaction per batch: live writes get in between.
        deleted += db.write(|tx| {
            let mut n = 0;
            for (scope, id) in &due {
                if request_links::delete_unverified(tx, scope, id)? {
                    audit::append(tx, Some(scope), &caller.event("request.expired", id), now)?;
                    n += 1;
                }
            }
            Ok::<_, AppError>(n)
        })?;
        if due.len() < batch as usize {
            return Ok(deleted);
        }
    }
}

/// The id of the request a status link is for, in this workspace only; `None` for any other
/// token. Not audited: what is done with it is (the package download logs the person's access).
pub fn request_of_status_link(
    db: &Db,
    scope: &WorkspaceScope,
    token: &str,
) -> Result<Option<String>, AppError> {
    let digest = crate::crypto::sha256_hex(token);
    db.read(|c| {
        Ok(request_links::find(c, scope, LinkPurpose::Status, &digest)?.map(|l| l.request_id))
    })
}

/// What the person's status page shows: their request's state, deadline and answer.
#[derive(Debug, Clone)]
pub struct PersonView {
    pub kind: RequestType,
    pub description: &'static str,
    pub state: RequestState,
    pub received_at: DateTime<Utc>,
    /// The deadline in force.
    pub due: DateTime<Utc>,
    pub extension_reason: Option<String>,
    pub denial: Option<(DenialReason, Option<String>)>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The steps the person is told of, oldest first: when, what, and a reason when one applies.
    pub steps: Vec<(DateTime<Utc>, EventKind, Option<String>)>,
}

/// The request a status link is for, in this workspace only; `None` for any other token. The
/// read is audited (`request.read`, by the person's link).
pub fn status(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<PersonView>, AppError> {
    let digest = crate::crypto::sha256_hex(token);
    let key = vault.requests_key(scope)?;
    db.write(|tx| {
        let Some(link) = request_links::find(tx, scope, LinkPurpose::Status, &digest)? else {
            return Ok(None);
        };
        let id = link.request_id;
        let Some(row) = requests::get(tx, scope, &id)? else {
            return Ok(None);
        };
        let events = requests::events(tx, scope, &id)?;
        let event = caller
            .event("request.read", &id)
            .detail(json!({"by": "status_link"}));
        audit::append(tx, Some(scope), &event, now)?;
        let opened = |field: &str, sealed: &Option<Vec<u8>>| {
            sealed.as_deref().map(|s| open(&key, scope, &id, field, s))
        };
        let steps = events
            .iter()
            .map(|e| {
                // Only texts meant for the person: an extension's and a denial's reason, and the
                // answer.
                let detail = match e.what {
                    EventKind::Extended | EventKind::Denied | EventKind::Completed => e
                        .detail_sealed
                        .as_deref()
                        .map(|s| open(&key, scope, &id, &format!("event/{}", e.id), s)),
                    _ => None,
                };
                (e.at, e.what, detail)
            })
            .collect();
        Ok(Some(PersonView {
            kind: row.kind,
            description: row.kind.description(),
            state: row.state,
            received_at: row.received_at,
            due: row.extended_due_at.unwrap_or(row.due_at),
            extension_reason: opened("extension", &row.extension_reason_sealed),
            denial: row
                .denial_reason
                .map(|r| (r, opened("denial", &row.denial_text_sealed))),
            completed_at: row.completed_at,
            steps,
        }))
    })
}
