//! Bearer-token authentication (SPEC §7). Every API route except the OpenAPI document and
//! the health check needs a valid token; the user it belongs to travels with the request.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use lethe_store::User;

use crate::AppState;
use crate::error::ApiError;

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

/// Middleware: resolves the bearer token to a user or answers 401.
pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let user = state
        .store
        .authenticate(token)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    request.extensions_mut().insert(CurrentUser(user));
    Ok(next.run(request).await)
}
