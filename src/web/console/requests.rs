//! Data subject requests in the console: the desk (overdue first, then by deadline, filtered
//! by state and type) and one request's page (its facts, deadline, timeline and the workflow's
//! actions as forms).
//!
//! Reading a request's personal values (the person's address, what they wrote, staff's texts)
//! is audited (`request.read`), and needs `ReadRecords` as a person's records do; a member who
//! may see requests without it (an auditor) gets the page without them.

use super::auth::CsrfForm;
use super::error::PageError;
use super::session::{MemberOf, SignedIn};
use super::subjects::no_store;
use super::{Shell, html, see_other};
use crate::domain::request::{DenialReason, RequestState, RequestType};
use crate::domain::request_clock::{self, Law, Standing};
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::request_correction::ProfileCorrection;
use crate::services::request_desk::{self, DeskRow};
use crate::services::requests::{self, Action, RequestFilter, RequestView, Step};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

const PAGE_SIZE: u32 = 50;

/// "overdue by 3 days", "due today", "due in 5 days"; nothing once answered.
pub fn standing_words(standing: Option<Standing>) -> String {
    let days = |n: i64| {
        if n == 1 {
            "1 day".to_owned()
        } else {
            format!("{n} days")
        }
    };
    match standing {
        Some(Standing::OverdueBy(n)) => format!("overdue by {}", days(n)),
        Some(Standing::DueIn(0)) => "due today".to_owned(),
        Some(Standing::DueIn(n)) => format!("due in {}", days(n)),
        None => String::new(),
    }
}

/// `?state=…&type=…&page=N`, read leniently: an unknown value is no filter.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    state: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    page: String,
}

#[derive(Template)]
#[template(path = "console/requests.html")]
struct ListPage {
    shell: Shell,
    rows: Vec<(DeskRow, String)>,
    total: i64,
    page: u32,
    pages: u32,
    state: String,
    kind: String,
    states: Vec<RequestState>,
    kinds: Vec<RequestType>,
}

impl ListPage {
    /// The query string of another page with the same filters.
    fn page_link(&self, page: u32) -> String {
        format!("?state={}&type={}&page={page}", self.state, self.kind)
    }
}

pub async fn list(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ViewRequests)
        .await?;
    let filter = RequestFilter {
        state: RequestState::parse(query.state.trim()),
        kind: RequestType::parse(query.kind.trim()),
        overdue_at: None,
    };
    let page = query
        .page
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|&n| n >= 1)
        .unwrap_or(1);
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    let scope = member.scope;
    let f = filter.clone();
    let desk = state
        .db
        .run(move |db| request_desk::desk(db, &scope, &f, PAGE_SIZE, offset, Utc::now()))
        .await?;
    let per_page = i64::from(PAGE_SIZE);
    let pages = u32::try_from((desk.total.max(1) + per_page - 1) / per_page).unwrap_or(u32::MAX);
    ok_no_store(
        StatusCode::OK,
        &ListPage {
            shell: Shell::in_workspace(&who, &member, "requests"),
            rows: desk
                .rows
                .into_iter()
                .map(|r| {
                    let words = standing_words(r.standing);
                    (r, words)
                })
                .collect(),
            total: desk.total,
            page,
            pages,
            state: filter
                .state
                .map(|s| s.as_str())
                .unwrap_or_default()
                .to_owned(),
            kind: filter
                .kind
                .map(|k| k.as_str())
                .unwrap_or_default()
                .to_owned(),
            states: RequestState::ALL.to_vec(),
            kinds: request_desk::types().collect(),
        },
    )
}

fn ok_no_store(status: StatusCode, page: &impl Template) -> Result<HttpResponse, PageError> {
    Ok(no_store(html(status, page)?))
}

#[derive(Template)]
#[template(path = "console/request.html")]
struct RequestPage {
    shell: Shell,
    request: RequestView,
    standing: String,
    /// Whether the personal values were opened (and the read audited).
    opened: bool,
    can_handle: bool,
    notice: Option<String>,
    /// Why the last action was refused, in words.
    error: Option<String>,
    /// What was typed, when a form comes back.
    deny_text: String,
    extend_reason: String,
    reasons: Vec<DenialReason>,
    /// The extension rule of the request's law, in words.
    extension_rule: String,
}

fn extension_rule(r: &RequestView) -> String {
    let original = r.due_at.format("%Y-%m-%d");
    match r.law {
        Law::Gdpr => format!(
            "Under the GDPR the deadline may be extended once, by two further months, when the \
             request is complex or one of many. The person is told the reason, so the extension \
             must be decided before the original deadline ({original}) passes."
        ),
        Law::Ccpa => format!(
            "Under the CCPA the deadline may be extended once, by 45 more days, with notice and \
             the reason to the person within the first 45 days (until {original})."
        ),
    }
}

async fn render(
    state: &AppState,
    who: &SignedIn,
    member: &MemberOf,
    id: &str,
    status: StatusCode,
    fill: impl FnOnce(&mut RequestPage),
) -> Result<HttpResponse, PageError> {
    let opened = member.roles.allows(Permission::ReadRecords);
    let (scope, vault, caller, rid) = (
        member.scope,
        state.vault.clone(),
        who.caller.clone(),
        id.to_owned(),
    );
    let now = Utc::now();
    let request = state
        .db
        .run(move |db| {
            if opened {
                requests::get(db, &vault, &scope, &caller, &rid, now)
            } else {
                requests::get_facts(db, &vault, &scope, &rid, now)
            }
        })
        .await?;
    let standing =
        standing_words(request.state.is_open().then(|| {
            request_clock::standing(request.extended_due_at.unwrap_or(request.due_at), now)
        }));
    let mut page = RequestPage {
        shell: Shell::in_workspace(who, member, "requests"),
        extension_rule: extension_rule(&request),
        request,
        standing,
        opened,
        can_handle: member.roles.allows(Permission::HandleRequests),
        notice: None,
        error: None,
        deny_text: String::new(),
        extend_reason: String::new(),
        reasons: DenialReason::ALL.to_vec(),
    };
    fill(&mut page);
    ok_no_store(status, &page)
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
        .workspace(&state, &slug, Permission::ViewRequests)
        .await?;
    // Only known results become a notice: the query string is not echoed.
    let notice = match query.done.as_str() {
        "started" => Some("The request is in progress."),
        "completed" => Some("The request is completed."),
        "denied" => Some("The request is denied."),
        "extended" => Some("The deadline is extended."),
        "carried_out" => Some("Carried out: see the answer in the timeline."),
        "task_done" => Some("The task is marked done."),
        "corrected" => Some("The profile is corrected. Complete the request to tell the person."),
        _ => None,
    };
    render(&state, &who, &member, &id, StatusCode::OK, |p| {
        p.notice = notice.map(str::to_owned);
    })
    .await
}

#[derive(Deserialize, Default)]
pub struct StepForm {
    #[serde(default)]
    csrf: String,
    /// Deny: a ground's code.
    #[serde(default)]
    reason: String,
    /// Deny: what staff add; extend: the reason the person is told.
    #[serde(default)]
    text: String,
}

/// Takes a step, then shows the request again: after a redirect when it was taken, on this
/// response with the refusal in words when it was not.
async fn step(
    state: &AppState,
    who: &SignedIn,
    path: (String, String),
    csrf: &str,
    step: Result<Action, AppError>,
    done: &str,
    typed: (String, String),
) -> Result<HttpResponse, PageError> {
    let (slug, id) = path;
    let member = who
        .workspace(state, &slug, Permission::HandleRequests)
        .await?;
    who.check_csrf(csrf)?;
    let step = step?;
    let (scope, vault, caller, rid) = (
        member.scope,
        state.vault.clone(),
        who.caller.clone(),
        id.clone(),
    );
    let base = state.base_url.clone();
    let outcome = state
        .db
        .run(move |db| requests::act(db, &vault, &scope, &caller, &rid, step, &base, Utc::now()))
        .await;
    let (status, message) = match outcome {
        // The id is a stored request's: safe in a path as it is (a UUID).
        Ok(r) => {
            return Ok(see_other(&format!(
                "/console/w/{slug}/requests/{}?done={done}",
                r.id
            )));
        }
        Err(AppError::Conflict(m)) => (StatusCode::CONFLICT, format!("Not done: {m}")),
        Err(AppError::Validation(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            errors
                .0
                .iter()
                .map(|e| format!("{}: {}.", capitalised(&e.field), e.message))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Err(e) => return Err(e.into()),
    };
    render(state, who, &member, &id, status, |p| {
        p.error = Some(message);
        (p.deny_text, p.extend_reason) = typed;
    })
    .await
}

fn capitalised(field: &str) -> String {
    let mut c = field.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A form with nothing typed in it: start, complete, carry out.
async fn untyped(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
    action: Action,
    done: &str,
) -> Result<HttpResponse, PageError> {
    let typed = (String::new(), String::new());
    let path = path.into_inner();
    step(&state, &who, path, &form.csrf, Ok(action), done, typed).await
}

pub async fn start(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    untyped(state, who, path, form, Action::Take(Step::Start), "started").await
}

pub async fn complete(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    untyped(
        state,
        who,
        path,
        form,
        Action::Take(Step::Complete),
        "completed",
    )
    .await
}

pub async fn deny(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<StepForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let text = (!form.text.trim().is_empty()).then(|| form.text.clone());
    // Judged after the permission check, in `step`: a member who may not deny learns nothing.
    let step_ = DenialReason::parse(form.reason.trim())
        .map(|reason| Action::Take(Step::Deny { reason, text }))
        .ok_or_else(|| {
            AppError::BadRequest("Choose one of the listed grounds to deny the request.".into())
        });
    let typed = (form.text, String::new());
    step(
        &state,
        &who,
        path.into_inner(),
        &form.csrf,
        step_,
        "denied",
        typed,
    )
    .await
}

/// Carries the request out as Lethe does on its own once a request is verified (erasure,
/// restriction, objection, withdrawal, or "we hold no data about you"): for one it could not
/// finish then.
pub async fn carry_out(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    untyped(state, who, path, form, Action::CarryOut, "carried_out").await
}

/// Ticks off the task of one of the operator's other systems (a manual one, or one whose
/// system cannot report back).
pub async fn task_done(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, id, system) = path.into_inner();
    let typed = (String::new(), String::new());
    let action = Action::ReportTask { system, data: None };
    step(
        &state,
        &who,
        (slug, id),
        &form.csrf,
        Ok(action),
        "task_done",
        typed,
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct CorrectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    birth_date: String,
}

/// Applies a correction request's change to the person's profile.
pub async fn correct(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<CorrectForm>,
) -> Result<HttpResponse, PageError> {
    let CorrectForm {
        csrf,
        email,
        birth_date,
    } = form.into_inner();
    let typed = (String::new(), String::new());
    let action = Action::CorrectProfile(ProfileCorrection { email, birth_date });
    step(
        &state,
        &who,
        path.into_inner(),
        &csrf,
        Ok(action),
        "corrected",
        typed,
    )
    .await
}

pub async fn extend(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<StepForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let typed = (String::new(), form.text.clone());
    let step_ = Ok(Action::Take(Step::Extend { reason: form.text }));
    step(
        &state,
        &who,
        path.into_inner(),
        &form.csrf,
        step_,
        "extended",
        typed,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standings_in_words() {
        assert_eq!(
            standing_words(Some(Standing::OverdueBy(1))),
            "overdue by 1 day"
        );
        assert_eq!(
            standing_words(Some(Standing::OverdueBy(3))),
            "overdue by 3 days"
        );
        assert_eq!(standing_words(Some(Standing::DueIn(0))), "due today");
        assert_eq!(standing_words(Some(Standing::DueIn(5))), "due in 5 days");
        assert_eq!(standing_words(None), "");
    }
}
