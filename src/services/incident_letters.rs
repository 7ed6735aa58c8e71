//! Telling the people a breach affected (GDPR Art. 34): for a high-risk incident, one letter,
//! drafted from the incident and edited by staff, to every affected person with an e-mail on
//! record, through the outbox.
//!
//! Sending fixes who is affected (the incident's categories, its systems' categories and its
//! window, as the counts use them) and hands the work to the `incident-letters` job, which
//! goes through the people in batches of [`BATCH`] by subject id, its place saved after each
//! batch: each person's address is opened with their key outside the transaction, then the
//! batch's messages are queued and its people recorded in one short transaction. A person is
//! recorded once (a batch done again after a crash queues nothing twice); one without an e-mail
//! is recorded as such, so staff know how many a public notice must reach. The delivery report
//! follows the outbox (a trigger), and each person's page lists the letters they were sent.

use super::Caller;
use super::emails;
use super::incidents::{affected_bounds, load, timeline};
use super::outbox::{OutboxKey, Outgoing, queue};
use crate::domain::ValidationErrors;
use crate::domain::incident::{IncidentEventKind, IncidentState, RiskLevel};
use crate::domain::subject::Profile;
use crate::error::AppError;
use crate::store::incident_letters::{self as store, Addressee, LetterRow, NewLetter};
use crate::store::outbox::Kind;
use crate::store::{Db, WorkspaceScope, audit, subjects, workspaces};
use crate::vault::{self, Vault};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// People looked up, and their messages queued, per transaction.
pub const BATCH: u32 = 200;

/// The longest subject line and text a letter may have.
const MAX_SUBJECT: usize = 200;
const MAX_BODY: usize = 20_000;

/// The letter staff send (subject line and text, the same for everyone).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LetterInput {
    pub subject: String,
    pub body: String,
}

/// What became of the letter's messages so far.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// People recorded as told so far (with or without an e-mail).
    pub people: i64,
    /// Messages waiting in the outbox (or between retries).
    pub queued: i64,
    pub sent: i64,
    /// Messages the outbox gave up on.
    pub failed: i64,
    /// Messages the outbox was told not to send.
    pub disabled: i64,
    /// Affected people without an e-mail on record: a public notice must reach them.
    pub without_email: i64,
}

/// A letter and its delivery report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LetterView {
    pub incident_id: String,
    pub subject: String,
    pub body: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// The categories (with the systems') whose people the letter is for.
    pub categories: Vec<String>,
    pub window_from: Option<DateTime<Utc>>,
    pub window_to: DateTime<Utc>,
    /// When the last affected person was recorded; absent while the job is still at it.
    pub finished_at: Option<DateTime<Utc>>,
    pub report: DeliveryReport,
}

/// The letter of an incident: sent (with its report), or the draft staff start from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LetterState {
    /// Whether the incident's risk is high (Art. 34 applies only then).
    pub high_risk: bool,
    pub sent: Option<LetterView>,
    /// A draft from the incident, while none was sent.
    pub draft: Option<LetterInput>,
}

/// A letter one person was sent, for their page.
#[derive(Debug, Clone, Serialize)]
pub struct LetterToPerson {
    pub incident_id: String,
    pub incident_title: String,
    pub subject: String,
    /// `queued`, `sent`, `failed`, `disabled`, or `no_email`.
    pub delivery: String,
    pub told_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

fn view(
    conn: &crate::store::Connection,
    scope: &WorkspaceScope,
    row: LetterRow,
) -> Result<LetterView, AppError> {
    let d = store::deliveries(conn, scope, &row.incident_id)?;
    let categories = serde_json::from_str(&row.categories).map_err(AppError::internal)?;
    Ok(LetterView {
        report: DeliveryReport {
            people: d.people(),
            queued: d.queued,
            sent: d.sent,
            failed: d.failed,
            disabled: d.disabled,
            without_email: d.no_email,
        },
        incident_id: row.incident_id,
        subject: row.subject,
        body: row.body,
        requested_by: row.requested_by,
        requested_at: row.requested_at,
        categories,
        window_from: row.window_from,
        window_to: row.window_to,
        finished_at: row.finished_at,
    })
}

/// The incident's letter as sent, or a draft to start from.
pub fn state(db: &Db, scope: &WorkspaceScope, id: &str) -> Result<LetterState, AppError> {
    db.read_snapshot(|c| {
        let incident = load(c, scope, id)?;
        let high_risk = incident.fields.risk == RiskLevel::HighRisk;
        match store::get(c, scope, id)? {
            Some(row) => Ok(LetterState {
                high_risk,
                sent: Some(view(c, scope, row)?),
                draft: None,
            }),
            None => {
                let ws = workspaces::get(c, scope)?;
                Ok(LetterState {
                    high_risk,
                    sent: None,
                    draft: Some(draft(&incident.fields, &ws.settings)?),
                })
            }
        }
    })
}

/// The draft: what happened, its likely consequences, the measures taken, whom to ask, from
/// the incident's own fields (`templates/email/incident_letter_draft.txt`); staff edit it
/// before sending.
fn draft(
    f: &crate::domain::incident::IncidentFields,
    settings: &crate::domain::workspace::WorkspaceSettings,
) -> Result<LetterInput, AppError> {
    let or = |text: &str, fallback: &str| {
        if text.trim().is_empty() {
            fallback.to_owned()
        } else {
            text.trim().to_owned()
        }
    };
    let contact = match (&settings.dpo_email, settings.dpo_name.trim()) {
        (Some(email), "") => format!("our data protection officer at {email}"),
        (Some(email), name) => format!("our data protection officer, {name}, at {email}"),
        (None, _) => format!("us at {}", settings.contact_email),
    };
    let mail = emails::render(&emails::IncidentLetterDraft {
        organisation: settings.legal_name.trim(),
        what_happened: &or(&f.description, &f.title),
        consequences: &or(&f.consequences, "(describe the likely consequences)"),
        measures: &or(&f.measures, "(describe the measures taken or proposed)"),
        contact: &contact,
    })?;
    Ok(LetterInput {
        subject: mail.subject,
        body: mail.body.trim_end().to_owned(),
    })
}

/// Sends the letter of high-risk incident `id` on its way: fixes whom it is for and leaves the
/// sending to the `incident-letters` job. Refused: not high risk or closed (409), sent before
/// (409), an empty or over-long subject or text (422).
pub fn send(
    db: &Db,
    scope: &WorkspaceScope,
    caller: &Caller,
    id: &str,
    input: LetterInput,
    now: DateTime<Utc>,
) -> Result<LetterView, AppError> {
    let mut errors = ValidationErrors::default();
    let subject = input.subject.trim();
    let body = input.body.trim();
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT || subject.contains(['\r', '\n'])
    {
        errors.add(
            "subject",
            format!("one line of 1 to {MAX_SUBJECT} characters"),
        );
    }
    if body.is_empty() || body.chars().count() > MAX_BODY {
        errors.add("body", format!("1 to {MAX_BODY} characters"));
    }
    errors.into_result()?;
    db.write(|tx| {
        let incident = load(tx, scope, id)?;
        if incident.fields.risk != RiskLevel::HighRisk {
            return Err(AppError::Conflict(
                "people are told of a breach when its risk to them is high (GDPR Art. 34): \
                 set the incident's risk to high first"
                    .into(),
            ));
        }
        if incident.state == IncidentState::Closed {
            return Err(AppError::Conflict(
                "the incident is closed: reopen it first".into(),
            ));
        }
        if store::get(tx, scope, id)?.is_some() {
            return Err(AppError::Conflict(
                "the letter to affected people was sent already".into(),
            ));
        }
        let Some(bounds) = affected_bounds(tx, scope, &incident.fields, now)? else {
            return Err(AppError::Conflict(
                "the incident names no category or system: nobody to tell".into(),
            ));
        };
        let categories_json =
            serde_json::to_string(&bounds.categories).map_err(AppError::internal)?;
        let actor = caller.actor.label();
        store::insert(
            tx,
            scope,
            &NewLetter {
                incident_id: id,
                subject,
                body,
                requested_by: &actor,
                categories_json: &categories_json,
                window_from: bounds.window_from,
                window_to: bounds.window_to,
            },
            now,
        )?;
        let detail = json!({"subject": subject, "categories": bounds.categories});
        timeline(
            tx,
            scope,
            caller,
            id,
            IncidentEventKind::LettersSent,
            detail.clone(),
            now,
        )?;
        audit::append(
            tx,
            Some(scope),
            &caller.event("incident.letters_sent", id).detail(detail),
            now,
        )?;
        Ok(())
    })?;
    db.read(|c| {
        let row = store::get(c, scope, id)?
            .ok_or_else(|| AppError::NotFound(format!("incident '{id}'")))?;
        view(c, scope, row)
    })
}

/// The letters person `external_id` was sent, newest first.
pub fn told(
    db: &Db,
    scope: &WorkspaceScope,
    external_id: &str,
) -> Result<Vec<LetterToPerson>, AppError> {
    db.read(|c| {
        let Some(row) = subjects::by_external_id(c, scope, external_id)? else {
            return Ok(Vec::new());
        };
        Ok(store::told(c, scope, row.id)?
            .into_iter()
            .map(|t| LetterToPerson {
                incident_id: t.incident_id,
                incident_title: t.title,
                subject: t.subject,
                delivery: t.delivery,
                told_at: t.told_at,
                delivered_at: t.delivered_at,
            })
            .collect())
    })
}

/// The `incident-letters` job: works through every letter still being sent, batch by batch,
/// until all are done or `stop` says so. Returns how many people were recorded.
pub fn send_batches(
    db: &Db,
    vault: &Vault,
    base_url: &str,
    now: DateTime<Utc>,
    stop: &dyn Fn() -> bool,
) -> Result<usize, AppError> {
    let letters = db.read(|c| Ok::<_, AppError>(store::sending(c)?))?;
    let mut recorded = 0;
    for (scope, mut letter) in letters {
        // The letter and the key that seals it are the same for every batch: made once.
        let key = OutboxKey::load(vault, &scope)?;
        let ws = db.read(|c| Ok::<_, AppError>(workspaces::get(c, &scope)?))?;
        let mail = emails::render(&emails::IncidentLetter {
            subject: &letter.subject,
            body: &letter.body,
            organisation: &ws.settings.legal_name,
            incident_id: &letter.incident_id,
            policy_url: &format!("{base_url}/p/{}/privacy", ws.slug),
        })?;
        loop {
            if stop() {
                return Ok(recorded);
            }
            let (n, done) = send_batch(db, vault, &key, &mail, &scope, &mut letter, now)?;
            recorded += n;
            if done {
                break;
            }
        }
    }
    Ok(recorded)
}

/// One batch of one letter: `(people recorded, whether the letter is done)`.
fn send_batch(
    db: &Db,
    vault: &Vault,
    key: &OutboxKey,
    mail: &emails::Email,
    scope: &WorkspaceScope,
    letter: &mut LetterRow,
    now: DateTime<Utc>,
) -> Result<(usize, bool), AppError> {
    // Read without the write lock: finding the batch may look at many people.
    let people =
        db.read(|c| Ok::<_, AppError>(store::next_addressees(c, letter, letter.position, BATCH)?))?;
    let addresses = addresses(vault, scope, &people)?;
    let done = people.len() < BATCH as usize;
    let position = people.last().map_or(letter.position, |p| p.subject_id);
    let mut recorded = 0;
    db.write(|tx| {
        for (person, address) in people.iter().zip(&addresses) {
            if store::was_told(tx, &letter.incident_id, person.subject_id)? {
                continue;
            }
            let outbox_id = match address {
                Some(recipient) => Some(queue(
                    tx,
                    key,
                    &Outgoing {
                        kind: Kind::Email,
                        recipient,
                        endpoint_id: None,
                        subscriber_id: None,
                        subject: &mail.subject,
                        body: &mail.body,
                    },
                    now,
                )?),
                None => None,
            };
            store::record_recipient(
                tx,
                scope,
                &letter.incident_id,
                person.subject_id,
                outbox_id,
                now,
            )?;
            recorded += 1;
        }
        store::advance(
            tx,
            scope,
            &letter.incident_id,
            position,
            done.then_some(now),
        )?;
        if done {
            let d = store::deliveries(tx, scope, &letter.incident_id)?;
            let detail = json!({
                "people": d.people(),
                "without_email": d.no_email,
            });
            let caller = Caller::system();
            timeline(
                tx,
                scope,
                &caller,
                &letter.incident_id,
                IncidentEventKind::LettersDone,
                detail.clone(),
                now,
            )?;
            audit::append(
                tx,
                Some(scope),
                &caller
                    .event("incident.letters_done", letter.incident_id.clone())
                    .detail(detail),
                now,
            )?;
        }
        Ok::<_, AppError>(())
    })?;
    letter.position = position;
    Ok((recorded, done))
}

/// Each person's e-mail, opened with their key; `None` without one (or without a key).
fn addresses(
    vault: &Vault,
    scope: &WorkspaceScope,
    people: &[Addressee],
) -> Result<Vec<Option<String>>, AppError> {
    let ids: Vec<&str> = people.iter().filter_map(|p| p.key_id.as_deref()).collect();
    let keys = vault.keys(scope, &ids)?;
    people
        .iter()
        .map(|p| {
            let (Some(sealed), Some(key)) = (
                &p.sealed_profile,
                p.key_id.as_deref().and_then(|id| keys.get(id)),
            ) else {
                return Ok(None);
            };
            let bytes = key
                .open(&vault::profile_aad(scope, &p.external_id), sealed)
                .map_err(AppError::internal)?;
            let profile: Profile = serde_json::from_slice(&bytes).map_err(AppError::internal)?;
            Ok(profile.email)
        })
        .collect()
}
