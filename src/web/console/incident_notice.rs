//! The notice to the supervisory authority in the console (GDPR Art. 33(3), (4)): the draft with
//! each section in a textarea (Lethe's pre-fill until staff edit it), the print-ready page and
//! the JSON at console addresses, and recording a phase as sent (after the deadline only with
//! the reasons for the delay).

use super::error::PageError;
use super::incident_clock::{Instant, Shown, shown, time_left_words};
use super::incident_form::{local_input, phrased};
use super::session::{MemberOf, SignedIn};
use super::{Shell, html, see_other};
use crate::domain::incident::IncidentState;
use crate::domain::incident_notice::{NoticeEdits, NoticePhaseInput};
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::incident_desk::awaits_notice;
use crate::services::incident_notice::{self, NoticeDraft};
use crate::services::incidents::{self, IncidentView};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Template)]
#[template(path = "console/incident_notice.html")]
struct NoticePage {
    shell: Shell,
    draft: NoticeDraft,
    incident: IncidentView,
    zone: Tz,
    /// Staff may change it: they handle incidents and it is open.
    can_edit: bool,
    /// The clock's words while the notice is awaited.
    clock: Option<String>,
    /// The deadline has passed: a phase recorded now needs the reasons for the delay.
    past_deadline: bool,
    notice: Option<&'static str>,
    /// Refusals of the section edits, in words.
    edit_errors: Vec<(String, String)>,
    /// What was typed into the sections when the edit was refused: key → text.
    typed: BTreeMap<String, String>,
    /// The phase form as typed, and its refusals (field, sentence).
    sent_at: String,
    late_reason: String,
    phase_errors: Vec<(String, String)>,
}

impl NoticePage {
    fn at(&self, t: impl Instant) -> Shown {
        shown(t.instant(), self.zone)
    }

    /// What a section's textarea holds: what was typed, else its text now.
    fn section_text<'a>(&'a self, key: &str, text: &'a str) -> &'a str {
        self.typed.get(key).map_or(text, String::as_str)
    }

    fn phase_errs(&self, field: &str) -> Vec<&str> {
        self.phase_errors
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
            .collect()
    }

    fn edit_errs(&self, key: &str) -> Vec<&str> {
        let field = format!("sections.{key}");
        self.edit_errors
            .iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
            .collect()
    }
}

async fn render(
    state: &AppState,
    who: &SignedIn,
    member: &MemberOf,
    id: &str,
    status: StatusCode,
    fill: impl FnOnce(&mut NoticePage),
) -> Result<HttpResponse, PageError> {
    let (scope, rid, now) = (member.scope, id.to_owned(), Utc::now());
    let (draft, incident) = state
        .db
        .run(move |db| {
            let draft = incident_notice::draft(db, &scope, &rid, now)?;
            Ok::<_, AppError>((draft, incidents::get(db, &scope, &rid, now)?))
        })
        .await?;
    let zone = member.workspace.settings.time_zone;
    let open = incident.state == IncidentState::Open;
    let mut page = NoticePage {
        shell: Shell::in_workspace(who, member, "incidents"),
        can_edit: open && member.roles.allows(Permission::HandleIncidents),
        clock: awaits_notice(&incident).then(|| time_left_words(incident.deadline - now)),
        past_deadline: now > incident.deadline,
        zone,
        draft,
        incident,
        notice: None,
        edit_errors: Vec::new(),
        typed: BTreeMap::new(),
        sent_at: local_input(now, zone),
        late_reason: String::new(),
        phase_errors: Vec::new(),
    };
    fill(&mut page);
    html(status, &page)
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

pub async fn show(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, PageError> {
    let (slug, id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ViewIncidents)
        .await?;
    let notice = match query.done.as_str() {
        "saved" => Some("The notice is saved."),
        "unchanged" => Some("Nothing was changed."),
        _ => None,
    };
    render(&state, &who, &member, &id, StatusCode::OK, |p| {
        p.notice = notice;
    })
    .await
}

/// The sections' textareas are named `section-<key>`.
const SECTION_PREFIX: &str = "section-";

/// Saves the sections staff changed. A section left as it showed is not sent (so the edit of
/// one section does not freeze the pre-fill of the others); one emptied, or put back to the
/// pre-fill word for word, shows the pre-fill again.
pub async fn edit(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let (slug, id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::HandleIncidents)
        .await?;
    let csrf = form
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    who.check_csrf(csrf)?;
    // Browsers send a textarea's line ends as CRLF.
    let typed: BTreeMap<String, String> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix(SECTION_PREFIX)?;
            Some((key.to_owned(), v.replace("\r\n", "\n")))
        })
        .collect();
    let (scope, caller, rid, sent) = (member.scope, who.caller.clone(), id.clone(), typed.clone());
    let outcome = state
        .db
        .run(move |db| {
            let now = Utc::now();
            let draft = incident_notice::draft(db, &scope, &rid, now)?;
            let mut sections = BTreeMap::new();
            for s in &draft.sections {
                let Some(text) = sent.get(&s.key) else {
                    continue;
                };
                if text.trim() == s.text.trim() {
                    continue;
                }
                let back_to_prefill = text.trim().is_empty() || text.trim() == s.prefilled.trim();
                sections.insert(s.key.clone(), (!back_to_prefill).then(|| text.clone()));
            }
            if sections.is_empty() {
                return Ok(false);
            }
            let edits = NoticeEdits { sections };
            incident_notice::edit(db, &scope, &caller, &rid, edits, now).map(|_| true)
        })
        .await;
    match outcome {
        Ok(changed) => {
            let done = if changed { "saved" } else { "unchanged" };
            Ok(see_other(&format!(
                "/console/w/{slug}/incidents/{id}/notice?done={done}"
            )))
        }
        Err(AppError::Validation(errors)) => {
            render(
                &state,
                &who,
                &member,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                |p| {
                    p.edit_errors = errors
                        .0
                        .iter()
                        .map(|e| (e.field.clone(), format!("This section {}.", e.message)))
                        .collect();
                    p.typed = typed;
                },
            )
            .await
        }
        Err(AppError::Conflict(m)) => {
            render(&state, &who, &member, &id, StatusCode::CONFLICT, |p| {
                p.edit_errors = vec![(String::new(), format!("Not saved: {m}"))];
                p.typed = typed;
            })
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
pub struct PhaseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sent_at: String,
    #[serde(default)]
    late_reason: String,
}

/// Records a phase of the notice as sent, at the time typed (in the workspace's zone).
pub async fn record_phase(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<PhaseForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::HandleIncidents)
        .await?;
    let form = form.into_inner();
    who.check_csrf(&form.csrf)?;
    let input = NoticePhaseInput {
        sent_at: Some(form.sent_at.clone()),
        late_reason: Some(form.late_reason.clone()),
    };
    let (scope, caller, rid) = (member.scope, who.caller.clone(), id.clone());
    let outcome = state
        .db
        .run(move |db| incident_notice::record_phase(db, &scope, &caller, &rid, input, Utc::now()))
        .await;
    let errors = match outcome {
        Ok(i) => {
            return Ok(see_other(&format!(
                "/console/w/{slug}/incidents/{}?done=phase_recorded#phases",
                i.id
            )));
        }
        Err(AppError::Validation(errors)) => phrased(&errors),
        Err(AppError::Conflict(m)) => vec![(String::new(), format!("Not recorded: {m}"))],
        Err(e) => return Err(e.into()),
    };
    let status = if errors.iter().any(|(f, _)| f.is_empty()) {
        StatusCode::CONFLICT
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(&state, &who, &member, &id, status, |p| {
        p.phase_errors = errors;
        p.sent_at = form.sent_at;
        p.late_reason = form.late_reason;
    })
    .await
}

/// The notice as it stands, as the print-ready page the API also serves.
#[derive(Template)]
#[template(path = "print/incident_notice.html")]
struct PrintPage<'a> {
    draft: &'a NoticeDraft,
    deadline_utc: String,
    prepared_utc: String,
}

async fn draft_of(
    state: &AppState,
    who: &SignedIn,
    path: (String, String),
) -> Result<NoticeDraft, PageError> {
    let (slug, id) = path;
    let member = who
        .workspace(state, &slug, Permission::ViewIncidents)
        .await?;
    let scope = member.scope;
    Ok(state
        .db
        .run(move |db| incident_notice::draft(db, &scope, &id, Utc::now()))
        .await?)
}

pub async fn print(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let draft = draft_of(&state, &who, path.into_inner()).await?;
    let utc = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let page = PrintPage {
        deadline_utc: utc(draft.deadline),
        prepared_utc: utc(draft.prepared_at),
        draft: &draft,
    };
    html(StatusCode::OK, &page)
}

pub async fn json(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let draft = draft_of(&state, &who, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(draft))
}
