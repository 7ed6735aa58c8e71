//! Login, the second factor, logout, the first-administrator set-up link and invitations.

use super::error::PageError;
use super::see_other;
use super::session::{
    SESSION_COOKIE, SignedIn, check_form_token, cookie, form_token, page_with_form_token,
    percent_encode_path, removal, safe_next, session_token,
};
use crate::domain::ValidationErrors;
use crate::error::AppError;
use crate::services::accounts::Stage;
use crate::services::{Caller, accounts};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

/// Who acts before login: nobody known yet, from the client's address.
pub(super) fn caller_from(req: &HttpRequest) -> Caller {
    Caller {
        actor: crate::domain::audit::Actor::System,
        ip: crate::web::client_ip(req),
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    next: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    done: Option<String>,
}

pub async fn login_form(
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let notice = match query.done.as_deref() {
        Some("setup") => Some("Your administrator account is ready. Log in to create a workspace."),
        Some("invite") => Some("Your password is set. Log in to continue."),
        Some("logout") => Some("You are logged out."),
        Some("reset") => Some("Your new password is set. Log in with it."),
        _ => None,
    };
    let csrf = form_token(&req);
    let page = LoginPage {
        csrf: csrf.clone(),
        email: String::new(),
        next: safe_next(query.next.as_deref()),
        error: None,
        notice,
    };
    page_with_form_token(StatusCode::OK, csrf, &page)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let ip = crate::web::client_ip(&req);
    let outcome = if ip.is_some_and(|ip| !state.login_throttle.allow(ip)) {
        Err(AppError::TooManyRequests(
            "Too many login attempts from your network. Wait a minute and try again.".into(),
        ))
    } else {
        let (email, password, caller) = (form.email.clone(), form.password, caller_from(&req));
        let guard = state.login_guard.clone();
        state
            .db
            .run(move |db| accounts::login(db, &guard, &email, &password, &caller))
            .await
    };
    match outcome {
        Ok(session) => {
            let to = match session.stage {
                Stage::Full => next,
                Stage::Totp => format!(
                    "/console/login/second-factor?next={}",
                    percent_encode_path(&next)
                ),
            };
            let mut res = see_other(&to);
            res.add_cookie(&cookie(SESSION_COOKIE, session.token))
                .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
            Ok(res)
        }
        Err(e @ (AppError::Unauthorized(_) | AppError::TooManyRequests(_))) => {
            let csrf = form_token(&req);
            let page = LoginPage {
                csrf: csrf.clone(),
                email: form.email,
                next,
                error: Some(e.to_string()),
                notice: None,
            };
            page_with_form_token(e.status(), csrf, &page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "console/second_factor.html")]
struct SecondFactorPage {
    csrf: String,
    next: String,
    error: Option<String>,
}

pub async fn second_factor_form(
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let csrf = form_token(&req);
    let page = SecondFactorPage {
        csrf: csrf.clone(),
        next: safe_next(query.next.as_deref()),
        error: None,
    };
    page_with_form_token(StatusCode::OK, csrf, &page)
}

#[derive(Deserialize)]
pub struct SecondFactorForm {
    code: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// A double-submit token like the login form's: the pending session's SameSite cookie alone
/// would leave the step to browsers that honour SameSite.
pub async fn second_factor(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SecondFactorForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let next = safe_next(form.next.as_deref());
    let Some(pending) = session_token(&req) else {
        return Ok(see_other("/console/login"));
    };
    let (code, caller) = (form.code.clone(), caller_from(&req));
    let (vault, guard) = (state.vault.clone(), state.login_guard.clone());
    let outcome = state
        .db
        .run(move |db| {
            accounts::complete_second_factor(db, &vault, &guard, &pending, &code, &caller)
        })
        .await;
    match outcome {
        Ok(session) => {
            let mut res = see_other(&next);
            res.add_cookie(&cookie(SESSION_COOKIE, session.token))
                .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
            Ok(res)
        }
        Err(e @ (AppError::Unauthorized(_) | AppError::TooManyRequests(_))) => {
            let csrf = form_token(&req);
            let page = SecondFactorPage {
                csrf: csrf.clone(),
                next,
                error: Some(e.to_string()),
            };
            page_with_form_token(e.status(), csrf, &page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    who.check_csrf(&form.csrf)?;
    if let Some(token) = session_token(&req) {
        let caller = who.caller.clone();
        state
            .db
            .run(move |db| accounts::logout(db, &token, &caller))
            .await?;
    }
    let mut res = see_other("/console/login?done=logout");
    res.add_removal_cookie(&removal(SESSION_COOKIE))
        .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
    Ok(res)
}

#[derive(Template)]
#[template(path = "console/set_password.html")]
pub(super) struct SetPasswordPage {
    heading: &'static str,
    intro: &'static str,
    action: String,
    csrf: String,
    /// Fixed e-mail (invitation), or None to ask for one (set-up).
    fixed_email: Option<String>,
    email: String,
    errors: ValidationErrors,
    error: Option<String>,
}

impl SetPasswordPage {
    fn setup(token: &str, csrf: String) -> Self {
        SetPasswordPage {
            heading: SETUP_HEADING,
            intro: SETUP_INTRO,
            action: format!("/console/setup/{token}"),
            csrf,
            fixed_email: None,
            email: String::new(),
            errors: ValidationErrors::default(),
            error: None,
        }
    }

    fn invite(token: &str, csrf: String, email: Option<String>) -> Self {
        SetPasswordPage {
            heading: INVITE_HEADING,
            intro: INVITE_INTRO,
            action: format!("/console/invite/{token}"),
            fixed_email: email,
            ..SetPasswordPage::setup(token, csrf)
        }
    }

    /// A forgotten password's reset link, for the account of `email`.
    pub(super) fn reset(token: &str, csrf: String, email: String) -> Self {
        SetPasswordPage {
            heading: RESET_HEADING,
            intro: RESET_INTRO,
            action: format!("/console/reset/{token}"),
            fixed_email: Some(email),
            ..SetPasswordPage::setup(token, csrf)
        }
    }

    /// The same form again, with what was wrong.
    pub(super) fn rejected(mut self, errors: ValidationErrors) -> Self {
        self.errors = errors;
        self.error = Some("Please correct the marked fields.".into());
        self
    }
}

const SETUP_HEADING: &str = "Create the first administrator";
const SETUP_INTRO: &str = "This account administers this Lethe: it creates workspaces and invites staff. \
     Choose a passphrase of at least 12 characters.";
const RESET_HEADING: &str = "Choose a new password";
const RESET_INTRO: &str = "Choose a passphrase of at least 12 characters. Every session of this \
     account ends; if you use an authenticator app, it is still asked for when you log in.";
const INVITE_HEADING: &str = "Accept your invitation";
const INVITE_INTRO: &str =
    "Choose a passphrase of at least 12 characters to activate your account.";

pub async fn setup_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let token = token.into_inner();
    let check = token.clone();
    if !state
        .db
        .run(move |db| accounts::setup_link_is_valid(db, &check))
        .await?
    {
        return Err(AppError::NotFound(
            "setup link: it was used already, has expired, or a newer one was printed. \
             Restart Lethe (or run `lethe admin create`) for a new one"
                .into(),
        )
        .into());
    }
    let csrf = form_token(&req);
    let page = SetPasswordPage::setup(&token, csrf.clone());
    page_with_form_token(StatusCode::OK, csrf, &page)
}

#[derive(Deserialize)]
pub struct SetPasswordForm {
    email: Option<String>,
    pub(super) password: String,
    pub(super) password_confirm: String,
    #[serde(default)]
    pub(super) csrf: String,
}

pub async fn setup(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    form: web::Form<SetPasswordForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let token = token.into_inner();
    let form = form.into_inner();
    let email = form.email.clone().unwrap_or_default();
    let (t, e, caller) = (token.clone(), email.clone(), caller_from(&req));
    let outcome = state
        .db
        .run(move |db| {
            accounts::complete_setup(db, &t, &e, &form.password, &form.password_confirm, &caller)
        })
        .await;
    match outcome {
        Ok(_) => Ok(see_other("/console/login?done=setup")),
        Err(AppError::Validation(errors)) => {
            let csrf = form_token(&req);
            let page = SetPasswordPage {
                email,
                ..SetPasswordPage::setup(&token, csrf.clone())
            }
            .rejected(errors);
            page_with_form_token(StatusCode::UNPROCESSABLE_ENTITY, csrf, &page)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn invite_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let token = token.into_inner();
    let t = token.clone();
    let email = state
        .db
        .run(move |db| accounts::invitation(db, &t))
        .await?
        .ok_or_else(|| {
            AppError::NotFound("invitation: it was used already or has expired".into())
        })?;
    let csrf = form_token(&req);
    let page = SetPasswordPage::invite(&token, csrf.clone(), Some(email));
    page_with_form_token(StatusCode::OK, csrf, &page)
}

pub async fn invite(
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
            accounts::accept_invitation(db, &t, &form.password, &form.password_confirm, &caller)
        })
        .await;
    match outcome {
        Ok(()) => Ok(see_other("/console/login?done=invite")),
        Err(AppError::Validation(errors)) => {
            let t = token.clone();
            let email = state.db.run(move |db| accounts::invitation(db, &t)).await?;
            let csrf = form_token(&req);
            let page = SetPasswordPage::invite(&token, csrf.clone(), email).rejected(errors);
            page_with_form_token(StatusCode::UNPROCESSABLE_ENTITY, csrf, &page)
        }
        Err(e) => Err(e.into()),
    }
}
