//! The breach register in the console (GDPR Art. 33, issue 18): the register (open incidents
//! first) with its CSV and JSON exports, registering an incident, one incident's page (its
//! facts, the 72-hour clock, the affected counts, the timeline, the notice phases) and its
//! actions as forms: change it, count again, decide not to notify, close, reopen. The notice to
//! the authority has its own page (`incident_notice.rs`).
//!
//! Times are shown in the workspace's time zone with UTC beside them (or in the title), and
//! typed ones are read in that zone. The clock's words are written on the server, so the page
//! is right without JavaScript; `static/console-clock.js` only keeps them current.

use super::error::PageError;
use super::incident_clock::{Instant, Shown, decision_words, shown, time_left_words};
use super::incident_form::{IncidentFormPage, IncidentValues, phrased, risk_label};
use super::incident_timeline::{EventLine, event_details, event_label};
use super::session::{MemberOf, SignedIn};
use super::{Shell, html, ok, see_other};
use crate::domain::incident::IncidentState;
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::incident_desk::{self, awaits_notice};
use crate::services::incident_register;
use crate::services::incidents::{self, IncidentView};
use crate::services::inventory::{self, Names};
use crate::web::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use chrono_tz::Tz;
use serde::Deserialize;

fn zone_of(member: &MemberOf) -> Tz {
    member.workspace.settings.time_zone
}

// ---- the register ------------------------------------------------------------------------

struct RegisterRow {
    incident: IncidentView,
    detected: Shown,
    risk: &'static str,
    decision: &'static str,
    /// The clock's words while the notice is awaited.
    clock: Option<String>,
}

#[derive(Template)]
#[template(path = "console/incidents.html")]
struct RegisterPage {
    shell: Shell,
    rows: Vec<RegisterRow>,
    open: usize,
    zone: String,
    can_handle: bool,
}

pub async fn list(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ViewIncidents)
        .await?;
    let (scope, now, zone) = (member.scope, Utc::now(), zone_of(&member));
    let all = state
        .db
        .run(move |db| incident_desk::register(db, &scope, now))
        .await?;
    let rows: Vec<RegisterRow> = all
        .into_iter()
        .map(|i| RegisterRow {
            detected: shown(i.detected_at, zone),
            risk: risk_label(i.risk),
            decision: decision_words(&i),
            clock: awaits_notice(&i).then(|| time_left_words(i.deadline - now)),
            incident: i,
        })
        .collect();
    ok(&RegisterPage {
        shell: Shell::in_workspace(&who, &member, "incidents"),
        open: rows
            .iter()
            .filter(|r| r.incident.state == IncidentState::Open)
            .count(),
        rows,
        zone: zone.name().to_owned(),
        can_handle: member.roles.allows(Permission::HandleIncidents),
    })
}

/// The register as a download, for an authority or an auditor (Art. 33(5)).
fn attachment(content_type: &str, name: String, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(body)
}

pub async fn register_csv(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ViewIncidents)
        .await?;
    let scope = member.scope;
    let csv = state
        .db
        .run(move |db| incident_register::export_csv(db, &scope, Utc::now()))
        .await?;
    let name = format!("incidents-{}.csv", member.workspace.slug);
    Ok(attachment("text/csv; charset=utf-8", name, csv))
}

pub async fn register_json(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ViewIncidents)
        .await?;
    let scope = member.scope;
    let register = state
        .db
        .run(move |db| incident_register::export(db, &scope, Utc::now()))
        .await?;
    let json = serde_json::to_vec_pretty(&register).map_err(AppError::internal)?;
    let name = format!("incidents-{}.json", member.workspace.slug);
    Ok(attachment("application/json", name, json))
}

// ---- registering and changing ---------------------------------------------------------------

async fn form_page(
    state: &AppState,
    who: &SignedIn,
    member: &MemberOf,
    v: IncidentValues,
) -> Result<IncidentFormPage, PageError> {
    let scope = member.scope;
    let choices = state
        .db
        .run(move |db| incident_desk::form_choices(db, &scope))
        .await?;
    let shell = Shell::in_workspace(who, member, "incidents");
    Ok(IncidentFormPage::new(shell, choices, v))
}

pub async fn new_form(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::HandleIncidents)
        .await?;
    ok(&form_page(&state, &who, &member, IncidentValues::blank()).await?)
}

pub async fn create(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::HandleIncidents)
        .await?;
    let (v, csrf) = IncidentValues::from_pairs(&form);
    who.check_csrf(&csrf)?;
    let (scope, caller, input) = (member.scope, who.caller.clone(), v.to_input());
    let outcome = state
        .db
        .run(move |db| incidents::register(db, &scope, &caller, input, Utc::now()))
        .await;
    match outcome {
        Ok(i) => Ok(see_other(&format!(
            "/console/w/{}/incidents/{}?done=registered",
            member.workspace.slug, i.id
        ))),
        Err(AppError::Validation(errors)) => {
            let mut page = form_page(&state, &who, &member, v).await?;
            page.errors = phrased(&errors);
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn edit_form(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::HandleIncidents)
        .await?;
    let (scope, zone) = (member.scope, zone_of(&member));
    let incident = state
        .db
        .run(move |db| incidents::get(db, &scope, &id, Utc::now()))
        .await?;
    let v = IncidentValues::of(&incident, zone);
    let mut page = form_page(&state, &who, &member, v).await?;
    page.editing = Some((incident.id, incident.title));
    ok(&page)
}

pub async fn update(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let (slug, id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::HandleIncidents)
        .await?;
    let (v, csrf) = IncidentValues::from_pairs(&form);
    who.check_csrf(&csrf)?;
    let (scope, caller, zone, now) = (
        member.scope,
        who.caller.clone(),
        zone_of(&member),
        Utc::now(),
    );
    let (typed, incident_id, v_title) = (v.clone(), id.clone(), v.title.clone());
    let outcome = state
        .db
        .run(move |db| {
            // What the form was filled with, to send only the times staff changed.
            let stored = incidents::get(db, &scope, &incident_id, now)?;
            let patch = typed.patch_over(&IncidentValues::of(&stored, zone));
            incidents::update(db, &scope, &caller, &incident_id, patch, now)
        })
        .await;
    match outcome {
        Ok(i) => Ok(see_other(&format!(
            "/console/w/{slug}/incidents/{}?done=saved",
            i.id
        ))),
        Err(AppError::Validation(errors)) => {
            let mut page = form_page(&state, &who, &member, v).await?;
            page.errors = phrased(&errors);
            let title = if v_title.trim().is_empty() {
                "the incident".to_owned()
            } else {
                v_title
            };
            page.editing = Some((id, title));
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(AppError::Conflict(m)) => {
            show_with(&state, &who, &member, &id, StatusCode::CONFLICT, |p| {
                p.error = Some(format!("Not saved: {m}"));
            })
            .await
        }
        Err(e) => Err(e.into()),
    }
}

// ---- one incident ---------------------------------------------------------------------------
#[derive(Template)]
#[template(path = "console/incident.html")]
struct IncidentPage {
    shell: Shell,
    incident: IncidentView,
    zone: Tz,
    names: Names,
    can_handle: bool,
    awaiting: bool,
    /// The clock's words while the notice is awaited.
    clock: String,
    risk: &'static str,
    decision: &'static str,
    timeline: Vec<EventLine>,
    notice: Option<&'static str>,
    error: Option<String>,
    /// The reason typed for not notifying, when the form comes back.
    reason_typed: String,
}

impl IncidentPage {
    fn at(&self, t: impl Instant) -> Shown {
        shown(t.instant(), self.zone)
    }

    fn is_open(&self) -> bool {
        self.incident.state == IncidentState::Open
    }
}

async fn show_with(
    state: &AppState,
    who: &SignedIn,
    member: &MemberOf,
    id: &str,
    status: StatusCode,
    fill: impl FnOnce(&mut IncidentPage),
) -> Result<HttpResponse, PageError> {
    let (scope, rid, now, zone) = (member.scope, id.to_owned(), Utc::now(), zone_of(member));
    let (incident, names) = state
        .db
        .run(move |db| {
            let incident = incidents::get(db, &scope, &rid, now)?;
            Ok::<_, AppError>((incident, inventory::names(db, &scope)?))
        })
        .await?;
    let timeline = incident
        .timeline
        .iter()
        .flatten()
        .map(|e| EventLine {
            at: shown(e.at, zone),
            actor: e.actor.clone(),
            what: event_label(e.what),
            details: event_details(e),
        })
        .collect();
    let mut page = IncidentPage {
        shell: Shell::in_workspace(who, member, "incidents"),
        zone,
        names,
        can_handle: member.roles.allows(Permission::HandleIncidents),
        awaiting: awaits_notice(&incident),
        clock: time_left_words(incident.deadline - now),
        risk: risk_label(incident.risk),
        decision: decision_words(&incident),
        timeline,
        incident,
        notice: None,
        error: None,
        reason_typed: String::new(),
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
    // Only known results become a notice: the query string is not echoed.
    let notice = match query.done.as_str() {
        "registered" => {
            Some("The incident is registered. Its 72 hours run from when you became aware of it.")
        }
        "saved" => Some("The changes are saved."),
        "recounted" => Some("The affected people and records are counted again."),
        "not_notified" => Some("The decision not to notify the authority is recorded."),
        "closed" => Some("The incident is closed."),
        "reopened" => Some("The incident is open again."),
        "phase_recorded" => Some("The notice phase is recorded as sent."),
        _ => None,
    };
    show_with(&state, &who, &member, &id, StatusCode::OK, |p| {
        p.notice = notice;
    })
    .await
}

#[derive(Deserialize, Default)]
pub struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// What the incident page's small forms do.
enum Action {
    Recount,
    NotNotify(String),
    SetState(IncidentState),
}

/// Does `action`, then shows the incident again: after a redirect when it was done, on this
/// response with the refusal in words when it was not.
async fn act(
    state: &AppState,
    who: &SignedIn,
    path: (String, String),
    csrf: &str,
    action: Action,
    done: &str,
) -> Result<HttpResponse, PageError> {
    let (slug, id) = path;
    let member = who
        .workspace(state, &slug, Permission::HandleIncidents)
        .await?;
    who.check_csrf(csrf)?;
    let typed = match &action {
        Action::NotNotify(r) => r.clone(),
        _ => String::new(),
    };
    let (scope, caller, rid) = (member.scope, who.caller.clone(), id.clone());
    let outcome = state
        .db
        .run(move |db| {
            let now = Utc::now();
            match action {
                Action::Recount => incidents::recount(db, &scope, &rid, now).map(|_| ()),
                Action::NotNotify(reason) => {
                    incidents::decide_not_to_notify(db, &scope, &caller, &rid, Some(&reason), now)
                        .map(|_| ())
                }
                Action::SetState(to) => {
                    incidents::set_state(db, &scope, &caller, &rid, to, now).map(|_| ())
                }
            }
        })
        .await;
    let (status, message) = match outcome {
        // The id is a stored incident's (a UUID), checked by the service: safe in a path.
        Ok(()) => {
            return Ok(see_other(&format!(
                "/console/w/{slug}/incidents/{id}?done={done}"
            )));
        }
        Err(AppError::Conflict(m)) => (StatusCode::CONFLICT, format!("Not done: {m}")),
        Err(AppError::Validation(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            errors
                .0
                .iter()
                .map(|e| format!("The reason {}.", e.message))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Err(e) => return Err(e.into()),
    };
    show_with(state, who, &member, &id, status, |p| {
        p.error = Some(message);
        p.reason_typed = typed;
    })
    .await
}

pub async fn recount(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, PageError> {
    let path = path.into_inner();
    act(&state, &who, path, &form.csrf, Action::Recount, "recounted").await
}

pub async fn not_notified(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let action = Action::NotNotify(form.reason);
    act(
        &state,
        &who,
        path.into_inner(),
        &form.csrf,
        action,
        "not_notified",
    )
    .await
}

pub async fn close(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, PageError> {
    let action = Action::SetState(IncidentState::Closed);
    act(
        &state,
        &who,
        path.into_inner(),
        &form.csrf,
        action,
        "closed",
    )
    .await
}

pub async fn reopen(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, PageError> {
    let action = Action::SetState(IncidentState::Open);
    act(
        &state,
        &who,
        path.into_inner(),
        &form.csrf,
        action,
        "reopened",
    )
    .await
}
