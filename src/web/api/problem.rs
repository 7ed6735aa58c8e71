//! RFC 9457 problem details: every API error is `application/problem+json`.

use crate::domain::{FieldError, ValidationErrors};
use crate::error::AppError;
use crate::store::StoreError;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status and title say what kind of problem this is.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    /// What went wrong, for a person to read.
    pub detail: String,
    /// For validation failures: each field and what is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub errors: Option<Vec<FieldError>>,
}

pub fn response(error: &AppError) -> HttpResponse {
    error.log();
    let status = error.status();
    let problem = Problem {
        kind: "about:blank",
        title: error.title(),
        status: status.as_u16(),
        detail: error.to_string(),
        errors: match error {
            AppError::Validation(v) => Some(v.0.clone()),
            _ => None,
        },
    };
    let mut builder = HttpResponse::build(status);
    builder.content_type("application/problem+json");
    match error {
        AppError::Unauthorized(_) => {
            builder.insert_header(("WWW-Authenticate", "Bearer realm=\"lethe\""));
        }
        AppError::MethodNotAllowed { allow, .. } => {
            builder.insert_header(("Allow", allow.join(", ")));
        }
        _ => {}
    }
    builder.body(serde_json::to_string(&problem).unwrap_or_default())
}

/// An [`AppError`] on the API surface.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        response(&self.0)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(e.into())
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError(e.into())
    }
}
