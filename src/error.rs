//! The application error and its one mapping to HTTP status codes. The API renders it as
//! `application/problem+json` (web::api::problem), the console as a page (web::console::error).

use crate::domain::ValidationErrors;
use crate::store::StoreError;
use actix_web::http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// What is missing, as a noun phrase ("subject 'cus_9'", "page at /x"): the message reads
    /// "There is no subject 'cus_9'."
    #[error("There is no {0}.")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// What was there and is no more, for good (an erased person's records).
    #[error("{0}")]
    Gone(String),
    /// A path that exists, asked with a method it does not answer; `allow` lists those it does.
    #[error("{path} answers only to {}", allow.join(", "))]
    MethodNotAllowed {
        path: String,
        allow: Vec<&'static str>,
    },
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("the server could not complete the request; the details are in its log")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short, stable title for the status (problem+json `title`, page heading).
    pub fn title(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "Bad request",
            AppError::Unauthorized(_) => "Not authenticated",
            AppError::Forbidden(_) => "Not allowed",
            AppError::NotFound(_) => "Not found",
            AppError::Conflict(_) => "Conflict",
            AppError::Gone(_) => "Gone",
            AppError::MethodNotAllowed { .. } => "Method not allowed",
            AppError::PayloadTooLarge { .. } => "Request body too large",
            AppError::UnsupportedMediaType(_) => "Unsupported media type",
            AppError::Validation(_) => "Validation failed",
            AppError::TooManyRequests(_) => "Too many requests",
            AppError::Internal(_) => "Internal error",
        }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(e.into())
    }

    /// Logs server-side failures with their cause chain; client errors are not worth a log line.
    pub fn log(&self) {
        if let AppError::Internal(e) = self {
            tracing::error!(error = format!("{e:#}"), "request failed");
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AppError::NotFound(what),
            StoreError::Conflict(message) => AppError::Conflict(message),
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<crate::vault::SealError> for AppError {
    fn from(e: crate::vault::SealError) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<crate::crypto::HashError> for AppError {
    fn from(e: crate::crypto::HashError) -> Self {
        AppError::Internal(e.into())
    }
}
