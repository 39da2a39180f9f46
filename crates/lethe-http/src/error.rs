//! The API's one error type. 4xx bodies explain what was wrong and where; 5xx bodies say
//! nothing about internals, and the cause is logged instead.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lethe_store::{ErrorClass, StoreError};
use schemars::JsonSchema;
use serde::Serialize;

/// The body of every error answer, 4xx and 5xx alike; its schema is the OpenAPI document's
/// `Error` component.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    /// What was wrong, where, and what to do. A 5xx answer says only what kind of failure it
    /// was: its cause is in the server log, never in the answer.
    pub error: String,
    /// The kind of error, stable for programs to act on: `not_found`, `invalid_value`,
    /// `conflict`, `forbidden`, `too_many_requests`, `database_unavailable`, `internal_error`, ….
    pub code: &'static str,
    /// The input field the error is about, when it is about one; otherwise null.
    pub field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "missing or invalid API token: send `Authorization: Bearer TOKEN` (create one with `lethe user add NAME`)"
    )]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Store(error) => match error.class() {
                ErrorClass::NotFound => StatusCode::NOT_FOUND,
                ErrorClass::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                ErrorClass::Conflict => StatusCode::CONFLICT,
                ErrorClass::Forbidden => StatusCode::FORBIDDEN,
                ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::TooManyRequests(_) => "too_many_requests",
            ApiError::Store(error) => error.code(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = ?self, "the database is unavailable");
            ErrorBody {
                error: "the database cannot be used right now (unreachable, restarting, or out of space); nothing was changed; try again shortly — the cause is in the server log".to_owned(),
                code: "database_unavailable",
                field: None,
            }
        } else if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
            ErrorBody {
                error: "internal server error; the cause is in the server log".to_owned(),
                code: "internal_error",
                field: None,
            }
        } else {
            let field = match &self {
                ApiError::Store(error) => error.field().map(str::to_owned),
                _ => None,
            };
            ErrorBody {
                error: self.to_string(),
                code: self.code(),
                field,
            }
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lethe\""),
            );
        }
        response
    }
}

impl From<lethe_store::policy::Refusal> for ApiError {
    fn from(refusal: lethe_store::policy::Refusal) -> ApiError {
        ApiError::Forbidden(refusal.message().to_owned())
    }
}
