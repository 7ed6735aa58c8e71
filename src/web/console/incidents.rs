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
use super::incident_form::{IncidentFormPage, IncidentValues, phrased, risk_label};
use super::session::{MemberOf, SignedIn};
use super::{Shell, html, ok, see_other};
use crate::domain::incident::{AuthorityDecision, IncidentEventKind, IncidentState};
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::incident_desk::{self, awaits_notice};
use crate::services::incident_register;
use crate::services::incidents::{self, IncidentEvent, IncidentView};
use crate::services::inventory::{self, Names};
use crate::web::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;

/// A length of time in words, to the minute (rounded down): "45 min", "5 h 3 min", and past
/// three days "4 days 2 h". `static/console-clock.js` writes the same words.
fn span_words(d: Duration) -> String {
    let minutes = d.num_minutes();
    if minutes >= 72 * 60 {
        format!(
            "{} days {} h",
            minutes / (24 * 60),
            minutes % (24 * 60) / 60
        )
    } else if minutes >= 60 {
        format!("{} h {} min", minutes / 60, minutes % 60)
    } else if minutes > 0 {
        format!("{minutes} min")
    } else {
        "less than 1 min".to_owned()
    }
}

/// Where an incident stands against its 72 hours: "5 h 3 min left", "overdue by 2 h 10 min".
pub fn time_left_words(left: Duration) -> String {
    if left >= Duration::zero() {
        format!("{} left", span_words(left))
    } else {
        format!("overdue by {}", span_words(-left))
    }
}

/// An instant as a page shows it: on the wall in the workspace's zone, in UTC (beside it or on
/// hover), and as the machine-readable `datetime` of a `<time>`.
pub struct Shown {
    pub local: String,
    pub utc: String,
    pub iso: String,
}

/// An instant however a template holds it (by value, or behind one or two references).
pub trait Instant {
    fn instant(&self) -> DateTime<Utc>;
}

impl Instant for DateTime<Utc> {
    fn instant(&self) -> DateTime<Utc> {
        *self
    }
}

impl<T: Instant + ?Sized> Instant for &T {
    fn instant(&self) -> DateTime<Utc> {
        (**self).instant()
    }
}

pub fn shown(t: DateTime<Utc>, zone: Tz) -> Shown {
    Shown {
        local: crate::domain::incident::in_zone(t, zone),
        utc: t.format("%Y-%m-%d %H:%M UTC").to_string(),
        iso: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// An incident still waiting for its notice, for the dashboard and the overview.
pub struct Countdown {
    pub id: String,
    pub title: String,
    pub deadline: Shown,
    pub words: String,
    pub overdue: bool,
}

/// The incidents `awaiting_notice` gave (most urgent first) as countdowns at `now`.
pub fn countdowns(waiting: Vec<IncidentView>, zone: Tz, now: DateTime<Utc>) -> Vec<Countdown> {
    waiting
        .into_iter()
        .map(|i| Countdown {
            words: time_left_words(i.deadline - now),
            overdue: i.deadline < now,
            deadline: shown(i.deadline, zone),
            id: i.id,
            title: i.title,
        })
        .collect()
}

/// The decision about the authority in a word: notified (late), not notified, or pending.
fn decision_words(i: &IncidentView) -> &'static str {
    match (i.notified_at, i.notified_late, i.authority_decision) {
        (Some(_), Some(true), _) => "notified late",
        (Some(_), _, _) => "notified",
        (None, _, Some(AuthorityDecision::NotNotified)) => "not notified",
        _ => "pending",
    }
}

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

/// One timeline entry as the page shows it.
struct EventLine {
    at: Shown,
    actor: String,
    what: &'static str,
    details: Vec<String>,
}

fn event_label(what: IncidentEventKind) -> &'static str {
    match what {
        IncidentEventKind::Registered => "Registered",
        IncidentEventKind::Updated => "Changed",
        IncidentEventKind::NotNotified => "Decided not to notify the authority",
        IncidentEventKind::NoticeEdited => "Notice edited",
        IncidentEventKind::NoticePhaseSent => "Notice phase recorded as sent",
        IncidentEventKind::Closed => "Closed",
        IncidentEventKind::Reopened => "Reopened",
        IncidentEventKind::DeadlineWarning => "Deadline warning sent",
    }
}

/// A value of a timeline entry's detail in words: texts as they are, lists joined, nothing as
/// "(none)"; long texts are cut, the whole stays in the JSON export.
fn value_words(v: &Value) -> String {
    let words = match v {
        Value::Null => "(none)".to_owned(),
        Value::String(s) if s.is_empty() => "(empty)".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) if items.is_empty() => "(none)".to_owned(),
        Value::Array(items) => items.iter().map(value_words).collect::<Vec<_>>().join(", "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", value_words(v)))
            .collect::<Vec<_>>()
            .join("; "),
    };
    if words.chars().count() > 300 {
        format!("{}…", words.chars().take(300).collect::<String>())
    } else {
        words
    }
}

/// The lines under a timeline entry: a change names each field with its old and new value.
fn event_details(e: &IncidentEvent) -> Vec<String> {
    let Value::Object(map) = &e.detail else {
        return vec![value_words(&e.detail)]
            .into_iter()
            .filter(|s| s != "(none)")
            .collect();
    };
    if e.what == IncidentEventKind::Updated
        && let Some(Value::Array(changed)) = map.get("changed")
    {
        return changed
            .iter()
            .filter_map(Value::as_str)
            .map(|f| {
                let (from, to) = (&map["from"][f], &map["to"][f]);
                format!("{f}: {} → {}", value_words(from), value_words(to))
            })
            .collect();
    }
    map.iter()
        .map(|(k, v)| format!("{}: {}", k.replace('_', " "), value_words(v)))
        .collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_in_words() {
        let m = Duration::minutes;
        assert_eq!(time_left_words(m(71 * 60 + 59)), "71 h 59 min left");
        assert_eq!(time_left_words(m(45)), "45 min left");
        assert_eq!(
            time_left_words(Duration::seconds(20)),
            "less than 1 min left"
        );
        assert_eq!(time_left_words(-m(5 * 60)), "overdue by 5 h 0 min");
        assert_eq!(
            time_left_words(-m(32 * 24 * 60 + 11 * 60 + 5)),
            "overdue by 32 days 11 h"
        );
    }

    #[test]
    fn a_change_names_each_field_with_old_and_new() {
        let e = IncidentEvent {
            at: Utc::now(),
            actor: "pia@example.org".into(),
            what: IncidentEventKind::Updated,
            detail: serde_json::json!({"changed": ["risk", "categories"],
                "from": {"risk": "risk", "categories": []},
                "to": {"risk": "high_risk", "categories": ["a.b", "c.d"]}}),
        };
        assert_eq!(
            event_details(&e),
            ["risk: risk → high_risk", "categories: (none) → a.b, c.d"]
        );
    }
}
