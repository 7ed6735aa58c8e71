//! "Forgot your password?": the request form, and the e-mailed link that sets a new password.
//! The request answers the same page whether or not the address has an account.

use super::auth::{SetPasswordForm, SetPasswordPage, caller_from};
use super::error::PageError;
use super::see_other;
use super::session::{check_form_token, form_token, page_with_form_token};
use crate::domain::network::IpRange;
use crate::error::AppError;
use crate::services::password_reset::{self, RESET_LINK_MINUTES};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "console/forgot_password.html")]
struct ForgotPage {
    csrf: String,
    /// False without SMTP: no link could reach anyone.
    available: bool,
    sent: bool,
    minutes: i64,
    error: Option<String>,
}

fn mail_available(state: &AppState) -> bool {
    state.config.smtp_url.is_some()
}

pub async fn form(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let csrf = form_token(&req);
    let page = ForgotPage {
        csrf: csrf.clone(),
        available: mail_available(&state),
        sent: false,
        minutes: RESET_LINK_MINUTES,
        error: None,
    };
    page_with_form_token(StatusCode::OK, csrf, &page)
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf: String,
}

pub async fn request(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ForgotForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let csrf = form_token(&req);
    let mut page = ForgotPage {
        csrf: csrf.clone(),
        available: mail_available(&state),
        sent: true,
        minutes: RESET_LINK_MINUTES,
        error: None,
    };
    let caller = caller_from(&req);
    if let Some(ip) = caller.ip
        && !state.reset_by_network.allow(IpRange::client_network(ip))
    {
        let e = AppError::TooManyRequests(
            "Too many password reset requests from your network. Wait a few minutes and try \
             again."
                .into(),
        );
        page.sent = false;
        page.error = Some(e.to_string());
        return page_with_form_token(e.status(), csrf, &page);
    }
    // Over the per-address limit, nothing more is sent, and the answer does not say so.
    let email = form.email.trim().to_lowercase();
    if page.available && state.reset_by_email.allow(email.clone()) {
        let (vault, base) = (state.vault.clone(), state.base_url.clone());
        state
            .db
            .run(move |db| password_reset::request(db, &vault, &email, &caller, &base))
            .await?;
    }
    page_with_form_token(StatusCode::OK, csrf, &page)
}

pub async fn link_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let token = token.into_inner();
    let t = token.clone();
    let email = state
        .db
        .run(move |db| password_reset::account_of(db, &t))
        .await?
        .ok_or_else(password_reset::dead_link)?;
    let csrf = form_token(&req);
    let page = SetPasswordPage::reset(&token, csrf.clone(), email);
    page_with_form_token(StatusCode::OK, csrf, &page)
}

pub async fn set_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    form: web::Form<SetPasswordForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let token = token.into_inner();
    let form = form.into_inner();
    let (t, caller) = (token.clone(), caller_from(&req));
    let outcome = state
        .db
        .run(move |db| {
            password_reset::complete(db, &t, &form.password, &form.password_confirm, &caller)
        })
        .await;
    match outcome {
        Ok(()) => Ok(see_other("/console/login?done=reset")),
        Err(AppError::Validation(errors)) => {
            let t = token.clone();
            let email = state
                .db
                .run(move |db| password_reset::account_of(db, &t))
                .await?
                .ok_or_else(password_reset::dead_link)?;
            let csrf = form_token(&req);
            let page = SetPasswordPage::reset(&token, csrf.clone(), email).rejected(errors);
            page_with_form_token(StatusCode::UNPROCESSABLE_ENTITY, csrf, &page)
        }
        Err(e) => Err(e.into()),
    }
}
