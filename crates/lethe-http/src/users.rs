//! Users and their API tokens over HTTP (SPEC §7): an admin lists, creates and removes users;
//! a user lists and revokes their own tokens, an admin anyone's. The store decides who may.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lethe_store::Role;
use lethe_store::policy::{self, UserAction};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParams};

pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    policy::manage_users(&user.0.actor(), UserAction::List)?;
    let users = state.store.list_users().await?;
    Ok(Json(json!({"users": users})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    role: String,
}

pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<NewUser>,
) -> Result<impl IntoResponse, ApiError> {
    policy::manage_users(&user.0.actor(), UserAction::Add)?;
    let role = Role::parse(&body.role)?;
    let (created, token) = state.store.add_user(&body.name, role).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": created, "token": token})),
    ))
}

/// Removes a user: every token of theirs stops working; their name stays in the history.
pub async fn remove(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let revoked = state.store.remove_user(&name, &user.0.actor()).await?;
    Ok(Json(json!({"removed": name, "tokens_revoked": revoked})))
}

/// A user's tokens, without their secrets.
pub async fn tokens(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let tokens = state.store.tokens_of(&name, &user.0.actor()).await?;
    Ok(Json(json!({"user": name, "tokens": tokens})))
}

/// Revokes one token at once.
pub async fn revoke_token(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Value>, ApiError> {
    let token = state.store.revoke_token(id, &user.0.actor()).await?;
    Ok(Json(json!({"token": token})))
}
