//! Errors on console pages: a readable page with the right status, or a redirect to log in.

use crate::error::AppError;
use crate::store::StoreError;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    detail: String,
}

pub fn page(error: &AppError) -> HttpResponse {
    error.log();
    let status = error.status();
    let body = ErrorPage {
        status: status.as_u16(),
        title: error.title(),
        detail: error.to_string(),
    }
    .render()
    .unwrap_or_else(|_| error.to_string());
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// What a console handler can fail with.
#[derive(Debug)]
pub enum PageError {
    App(AppError),
    /// Not logged in (or not past the second factor): go there first.
    Redirect(String),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::App(e) => e.fmt(f),
            PageError::Redirect(to) => write!(f, "redirect to {to}"),
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            PageError::App(e) => e.status(),
            PageError::Redirect(_) => actix_web::http::StatusCode::SEE_OTHER,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PageError::App(e) => page(e),
            PageError::Redirect(to) => super::see_other(to),
        }
    }
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError::App(e)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::App(e.into())
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError::App(AppError::internal(e))
    }
}
