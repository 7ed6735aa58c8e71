//! The signed-in person's own account: password, two-factor authentication and recovery codes.

use super::error::PageError;
use super::session::SignedIn;
use super::{Shell, html, ok};
use crate::domain::{ValidationErrors, qr, totp};
use crate::error::AppError;
use crate::services::accounts;
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    shell: Shell,
    totp_enabled: bool,
    /// A workspace that requires TOTP sent the person here.
    required_by: Option<String>,
    unused_codes: i64,
    /// Enrolment in progress: the secret, its otpauth URL and that URL as a QR code (SVG).
    enrolling: Option<Enrolment>,
    recovery_codes: Vec<String>,
    errors: ValidationErrors,
    /// The password was just changed; how many other sessions ended.
    password_changed: Option<usize>,
}

struct Enrolment {
    secret: String,
    url: String,
    /// Inline SVG drawn by `domain::qr` (its only text, the label, is escaped there).
    qr: String,
}

impl Enrolment {
    fn new(secret: String, email: &str) -> Self {
        let url = totp::provisioning_url(&secret, email).unwrap_or_default();
        let qr = qr::svg(&url, "QR code of the key, for an authenticator app").unwrap_or_default();
        Enrolment { secret, url, qr }
    }
}

impl AccountPage {
    fn new(who: &SignedIn, unused_codes: i64) -> Self {
        AccountPage {
            shell: Shell::new(who, "account"),
            totp_enabled: who.account.totp_enabled,
            required_by: None,
            unused_codes,
            enrolling: None,
            recovery_codes: Vec::new(),
            errors: ValidationErrors::default(),
            password_changed: None,
        }
    }
}

async fn unused_codes(state: &AppState, who: &SignedIn) -> Result<i64, PageError> {
    let id = who.account.id;
    Ok(state
        .db
        .run(move |db| accounts::unused_recovery_codes(db, id))
        .await?)
}

#[derive(Deserialize)]
pub struct AccountQuery {
    required: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    who: SignedIn,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, PageError> {
    let mut page = AccountPage::new(&who, unused_codes(&state, &who).await?);
    page.required_by = query.into_inner().required;
    ok(&page)
}

pub async fn begin_totp(
    state: web::Data<AppState>,
    who: SignedIn,
    form: web::Form<super::auth::CsrfForm>,
) -> Result<HttpResponse, PageError> {
    who.check_csrf(&form.csrf)?;
    if who.account.totp_enabled {
        return Err(AppError::Conflict("Two-factor authentication is already on.".into()).into());
    }
    let id = who.account.id;
    let vault = state.vault.clone();
    let secret = state
        .db
        .run(move |db| accounts::begin_totp(db, &vault, id))
        .await?;
    let mut page = AccountPage::new(&who, 0);
    page.enrolling = Some(Enrolment::new(secret, &who.account.email));
    ok(&page)
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
    #[serde(default)]
    csrf: String,
}

pub async fn confirm_totp(
    state: web::Data<AppState>,
    who: SignedIn,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    who.check_csrf(&form.csrf)?;
    let (account, code, caller) = (who.account.clone(), form.code.clone(), who.caller.clone());
    let vault = state.vault.clone();
    let outcome = state
        .db
        .run(move |db| accounts::confirm_totp(db, &vault, &account, &code, &caller))
        .await;
    match outcome {
        Ok(codes) => {
            let mut page = AccountPage::new(&who, codes.len() as i64);
            page.totp_enabled = true;
            page.recovery_codes = codes;
            ok(&page)
        }
        Err(AppError::Validation(errors)) => {
            let secret = accounts::totp_secret(&state.vault, &who.account)?.unwrap_or_default();
            let mut page = AccountPage::new(&who, 0);
            page.enrolling = Some(Enrolment::new(secret, &who.account.email));
            page.errors = errors;
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn disable_totp(
    state: web::Data<AppState>,
    who: SignedIn,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    who.check_csrf(&form.csrf)?;
    let (account, password, caller) = (
        who.account.clone(),
        form.password.clone(),
        who.caller.clone(),
    );
    let outcome = state
        .db
        .run(move |db| accounts::disable_totp(db, &account, &password, &caller))
        .await;
    match outcome {
        Ok(()) => Ok(super::see_other("/console/account")),
        Err(AppError::Validation(errors)) => {
            let mut page = AccountPage::new(&who, unused_codes(&state, &who).await?);
            page.errors = errors;
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct ChangePasswordForm {
    current_password: String,
    new_password: String,
    new_password_confirm: String,
    #[serde(default)]
    csrf: String,
}

/// Changes the password; the other sessions of this person end, this one stays.
pub async fn change_password(
    state: web::Data<AppState>,
    who: SignedIn,
    req: HttpRequest,
    form: web::Form<ChangePasswordForm>,
) -> Result<HttpResponse, PageError> {
    who.check_csrf(&form.csrf)?;
    let token = req
        .cookie(super::session::SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let form = form.into_inner();
    let (account, caller) = (who.account.clone(), who.caller.clone());
    let outcome = state
        .db
        .run(move |db| {
            accounts::change_password(
                db,
                &account,
                &token,
                &form.current_password,
                &form.new_password,
                &form.new_password_confirm,
                &caller,
            )
        })
        .await;
    let mut page = AccountPage::new(&who, unused_codes(&state, &who).await?);
    match outcome {
        Ok(ended) => {
            page.password_changed = Some(ended);
            ok(&page)
        }
        Err(AppError::Validation(errors)) => {
            page.errors = errors;
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}
