//! The letter to the people a high-risk breach affected (GDPR Art. 34): the draft to edit and
//! send, then the delivery report. Everyone who sees incidents sees it; owners and privacy
//! officers send it.

use super::error::PageError;
use super::session::SignedIn;
use super::{Shell, html, see_other};
use crate::domain::ValidationErrors;
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::incident_letters::{self, LetterInput, LetterState};
use crate::services::incidents::{self, IncidentView};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "console/incident_letter.html")]
struct LetterPage {
    shell: Shell,
    incident: IncidentView,
    letter: LetterState,
    can_send: bool,
    /// What the form shows: the draft, or what was typed when it comes back.
    subject: String,
    body: String,
    errors: ValidationErrors,
    /// A refusal that is not about a field (not high risk, sent before).
    refusal: Option<String>,
}

async fn render(
    state: &AppState,
    who: &SignedIn,
    slug: &str,
    id: &str,
    status: StatusCode,
    fill: impl FnOnce(&mut LetterPage),
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(state, slug, Permission::ViewIncidents)
        .await?;
    let (scope, id) = (member.scope, id.to_owned());
    let (incident, letter) = state
        .db
        .run(move |db| {
            Ok::<_, AppError>((
                incidents::get(db, &scope, &id, Utc::now())?,
                incident_letters::state(db, &scope, &id)?,
            ))
        })
        .await?;
    let (subject, body) = letter
        .draft
        .as_ref()
        .map(|d| (d.subject.clone(), d.body.clone()))
        .unwrap_or_default();
    let mut page = LetterPage {
        shell: Shell::in_workspace(who, &member, "incidents"),
        incident,
        letter,
        can_send: member.roles.allows(Permission::HandleIncidents),
        subject,
        body,
        errors: ValidationErrors::default(),
        refusal: None,
    };
    fill(&mut page);
    html(status, &page)
}

pub async fn show(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, id) = path.into_inner();
    render(&state, &who, &slug, &id, StatusCode::OK, |_| {}).await
}

#[derive(Deserialize)]
pub struct SendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
}

pub async fn send(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<SendForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::HandleIncidents)
        .await?;
    who.check_csrf(&form.csrf)?;
    let SendForm { subject, body, .. } = form.into_inner();
    let input = LetterInput {
        subject: subject.clone(),
        body: body.clone(),
    };
    let (scope, caller, i) = (member.scope, who.caller.clone(), id.clone());
    match state
        .db
        .run(move |db| incident_letters::send(db, &scope, &caller, &i, input, Utc::now()))
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/console/w/{slug}/incidents/{id}/letter"
        ))),
        Err(AppError::Validation(errors)) => {
            render(
                &state,
                &who,
                &slug,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                |p| {
                    p.errors = errors;
                    p.subject = subject;
                    p.body = body;
                },
            )
            .await
        }
        Err(AppError::Conflict(message)) => {
            render(&state, &who, &slug, &id, StatusCode::CONFLICT, |p| {
                p.refusal = Some(message);
                p.subject = subject;
                p.body = body;
            })
            .await
        }
        Err(e) => Err(e.into()),
    }
}
