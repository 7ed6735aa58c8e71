//! The privacy center's e-mail subscription to policy changes (double opt-in) and its unsubscribe
//! link. The pages are public, so forms carry a double-submit token: a random value in a
//! `__Host-` SameSite=Strict cookie that must come back in the form.

use crate::error::AppError;
use crate::services::outbox;
use crate::services::{WorkspaceScope, workspaces};
use crate::web::AppState;
use crate::web::console::error::PageError;
use crate::web::console::session::{check_form_token, form_token, page_with_form_token};
use crate::web::public::Frame;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "public/subscribe.html")]
struct SubscribePage {
    frame: Frame,
    /// form, sent, confirmed, invalid, unsubscribe, unsubscribed
    state: &'static str,
    csrf: String,
    email: String,
    error: Option<String>,
    /// The unsubscribe token, for the unsubscribe form's action.
    token: String,
}

async fn workspace(state: &AppState, slug: String) -> Result<(WorkspaceScope, Frame), PageError> {
    let (scope, ws) = state
        .db
        .run(move |db| workspaces::find_public(db, &slug))
        .await?
        .ok_or_else(|| AppError::NotFound("privacy center".into()))?;
    Ok((
        scope,
        Frame {
            slug: ws.slug,
            legal_name: ws.settings.legal_name,
            section: "subscribe",
        },
    ))
}

fn page(
    status: StatusCode,
    frame: Frame,
    state: &'static str,
    req: &HttpRequest,
    fill: impl FnOnce(&mut SubscribePage),
) -> Result<HttpResponse, PageError> {
    let csrf = form_token(req);
    let mut p = SubscribePage {
        frame,
        state,
        csrf: csrf.clone(),
        email: String::new(),
        error: None,
        token: String::new(),
    };
    fill(&mut p);
    page_with_form_token(status, csrf, &p)
}

pub async fn form(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let (_, frame) = workspace(&state, slug.into_inner()).await?;
    page(StatusCode::OK, frame, "form", &req, |_| {})
}

#[derive(Deserialize)]
pub struct SubscribeForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf: String,
}

pub async fn subscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    form: web::Form<SubscribeForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let (scope, frame) = workspace(&state, slug.into_inner()).await?;
    let email = form.into_inner().email;
    let (e, base, vault) = (email.clone(), state.base_url.clone(), state.vault.clone());
    match state
        .db
        .run(move |db| outbox::subscribe(db, &vault, &scope, &e, &base))
        .await
    {
        Ok(()) => page(StatusCode::OK, frame, "sent", &req, |p| p.email = email),
        Err(AppError::Validation(errors)) => {
            let message = errors
                .for_field("email")
                .map(str::to_owned)
                .unwrap_or_else(|| "is not valid".into());
            page(StatusCode::UNPROCESSABLE_ENTITY, frame, "form", &req, |p| {
                p.email = email;
                p.error = Some(message);
            })
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, token) = path.into_inner();
    let (scope, frame) = workspace(&state, slug).await?;
    let confirmed = state
        .db
        .run(move |db| outbox::confirm(db, &scope, &token))
        .await?;
    if confirmed {
        page(StatusCode::OK, frame, "confirmed", &req, |_| {})
    } else {
        page(StatusCode::NOT_FOUND, frame, "invalid", &req, |_| {})
    }
}

/// The unsubscribe link shows a button: mail scanners that follow links do not unsubscribe people.
pub async fn unsubscribe_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, token) = path.into_inner();
    let (_, frame) = workspace(&state, slug).await?;
    page(StatusCode::OK, frame, "unsubscribe", &req, |p| {
        p.token = token
    })
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn unsubscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let (slug, token) = path.into_inner();
    let (scope, frame) = workspace(&state, slug).await?;
    let done = state
        .db
        .run(move |db| outbox::unsubscribe(db, &scope, &token))
        .await?;
    if done {
        page(StatusCode::OK, frame, "unsubscribed", &req, |_| {})
    } else {
        page(StatusCode::NOT_FOUND, frame, "invalid", &req, |_| {})
    }
}
