//! The admins' users pages (SPEC §7): every user with their role; adding one with a first
//! password; and per user, their role, a new password, their API tokens and sessions to end,
//! and their removal. The store asks the policy; a plain user who opens these pages is
//! refused by it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lethe_store::policy::{self, UserAction};
use lethe_store::{MIN_PASSWORD_CHARS, Role, SessionInfo, StoreError, TokenInfo, User};
use serde::Deserialize;

use crate::WebState;
use crate::pages::{Frame, Problem, Section, problem_page, render, store_problem};
use crate::session::{Rejection, SignedForm, SignedIn};

/// The add-user form as typed, and its errors next to their fields.
#[derive(Debug, Default)]
struct AddForm {
    name: String,
    role: String,
    name_error: Option<String>,
    password_error: Option<String>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    frame: Frame,
    users: Vec<User>,
    add: AddForm,
    /// After adding a user: their name and first API token, shown this once.
    added: Option<(String, String)>,
    min_password_chars: usize,
}

fn refused_unless_admin(signed_in: &SignedIn, action: UserAction) -> Option<Response> {
    policy::manage_users(&signed_in.actor(), action)
        .err()
        .map(|refusal| problem_page(Problem::Forbidden(refusal.message().to_owned())))
}

async fn users_page(
    state: &WebState,
    signed_in: &SignedIn,
    add: AddForm,
    added: Option<(String, String)>,
) -> Result<UsersPage, Rejection> {
    Ok(UsersPage {
        frame: Frame::of(state, signed_in, Section::Users).await,
        users: state.store.list_users().await.map_err(Rejection::Store)?,
        add,
        added,
        min_password_chars: MIN_PASSWORD_CHARS,
    })
}

pub async fn list(
    State(state): State<WebState>,
    signed_in: SignedIn,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused_unless_admin(&signed_in, UserAction::List) {
        return Ok(refused);
    }
    let page = users_page(&state, &signed_in, AddForm::default(), None).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub struct AddFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    repeat: String,
}

/// Adds a user with a first password; their first API token is shown once.
pub async fn add(
    State(state): State<WebState>,
    SignedForm { signed_in, form }: SignedForm<AddFields>,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused_unless_admin(&signed_in, UserAction::Add) {
        return Ok(refused);
    }
    let mut typed = AddForm {
        name: form.name.trim().to_owned(),
        role: form.role.clone(),
        ..AddForm::default()
    };
    let role = Role::parse(&form.role).unwrap_or(Role::User);
    if form.password != form.repeat {
        typed.password_error = Some("The two passwords differ.".to_owned());
    } else {
        match state
            .store
            .add_user_with_password(&typed.name, role, &form.password, &signed_in.actor())
            .await
        {
            Ok((user, token)) => {
                let page = users_page(
                    &state,
                    &signed_in,
                    AddForm::default(),
                    Some((user.name, token)),
                )
                .await?;
                return Ok(render(StatusCode::OK, &page));
            }
            Err(StoreError::InvalidOption {
                option: "password",
                message,
            }) => typed.password_error = Some(super::capitalised(&message)),
            Err(error @ (StoreError::BadRequest(_) | StoreError::Conflict(_))) => {
                typed.name_error = Some(super::capitalised(&error.to_string()));
            }
            Err(error) => return Ok(store_problem(error)),
        }
    }
    let page = users_page(&state, &signed_in, typed, None).await?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    frame: Frame,
    user: User,
    tokens: Vec<TokenInfo>,
    sessions: Vec<SessionInfo>,
    note: Option<String>,
    password_error: Option<String>,
    remove_error: Option<String>,
    min_password_chars: usize,
}

#[derive(Debug, Deserialize)]
pub struct UserQuery {
    done: Option<String>,
}

async fn user_page(
    state: &WebState,
    signed_in: &SignedIn,
    name: &str,
    note: Option<String>,
) -> Result<Result<UserPage, Response>, Rejection> {
    let actor = signed_in.actor();
    let Some(user) = state
        .store
        .find_user(name)
        .await
        .map_err(Rejection::Store)?
    else {
        return Ok(Err(problem_page(Problem::NotFound(format!(
            "There is no user `{name}`."
        )))));
    };
    let tokens = match state.store.tokens_of(name, &actor).await {
        Ok(tokens) => tokens,
        Err(error) => return Ok(Err(store_problem(error))),
    };
    let sessions = state
        .store
        .sessions_of(name, &actor)
        .await
        .map_err(Rejection::Store)?;
    Ok(Ok(UserPage {
        frame: Frame::of(state, signed_in, Section::Users).await,
        user,
        tokens,
        sessions,
        note,
        password_error: None,
        remove_error: None,
        min_password_chars: MIN_PASSWORD_CHARS,
    }))
}

fn note_for(done: &str) -> Option<String> {
    Some(
        match done {
            "role" => "The role was changed.",
            "password" => "The password was set; every session of theirs ended.",
            "sessions" => "Every session of theirs ended.",
            "token" => "The token was revoked.",
            _ => return None,
        }
        .to_owned(),
    )
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Query(query): Query<UserQuery>,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused_unless_admin(&signed_in, UserAction::List) {
        return Ok(refused);
    }
    let note = query.done.as_deref().and_then(note_for);
    Ok(match user_page(&state, &signed_in, &name, note).await? {
        Ok(page) => render(StatusCode::OK, &page),
        Err(response) => response,
    })
}

fn back_to(name: &str, done: &str) -> Response {
    let name = serde_html_form::to_string([("", name)])
        .map(|pair| pair.trim_start_matches('=').to_owned())
        .unwrap_or_default();
    Redirect::to(&format!("/users/{name}?done={done}")).into_response()
}

#[derive(Debug, Deserialize)]
pub struct RoleFields {
    #[serde(default)]
    role: String,
}

pub async fn set_role(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, form }: SignedForm<RoleFields>,
) -> Result<Response, Rejection> {
    let role = match Role::parse(&form.role) {
        Ok(role) => role,
        Err(error) => return Ok(store_problem(error)),
    };
    match state.store.set_role(&name, role, &signed_in.actor()).await {
        Ok(_) => Ok(back_to(&name, "role")),
        Err(error) => Ok(store_problem(error)),
    }
}

#[derive(Debug, Deserialize)]
pub struct PasswordFields {
    #[serde(default)]
    password: String,
    #[serde(default)]
    repeat: String,
}

/// Gives the user a new password (a reset by an admin): their sessions end.
pub async fn set_password(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, form }: SignedForm<PasswordFields>,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused_unless_admin(&signed_in, UserAction::ResetPassword) {
        return Ok(refused);
    }
    let error = if form.password != form.repeat {
        "The two passwords differ.".to_owned()
    } else {
        match state
            .store
            .set_password(&name, &form.password, &signed_in.actor())
            .await
        {
            Ok(_) => return Ok(back_to(&name, "password")),
            Err(StoreError::InvalidOption { message, .. }) => super::capitalised(&message),
            Err(error) => return Ok(store_problem(error)),
        }
    };
    Ok(match user_page(&state, &signed_in, &name, None).await? {
        Ok(mut page) => {
            page.password_error = Some(error);
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(response) => response,
    })
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

pub async fn end_sessions(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    match state.store.end_sessions_of(&name, &signed_in.actor()).await {
        Ok(_) => Ok(back_to(&name, "sessions")),
        Err(error) => Ok(store_problem(error)),
    }
}

pub async fn revoke_token(
    State(state): State<WebState>,
    Path((name, token)): Path<(String, i64)>,
    SignedForm { signed_in, .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    match state.store.revoke_token(token, &signed_in.actor()).await {
        Ok(_) => Ok(back_to(&name, "token")),
        Err(error) => Ok(store_problem(error)),
    }
}

#[derive(Debug, Deserialize)]
pub struct RemoveFields {
    #[serde(default)]
    typed: String,
}

/// Removes the user once their name is typed: every token and session of theirs ends; their
/// name stays in the history.
pub async fn remove(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, form }: SignedForm<RemoveFields>,
) -> Result<Response, Rejection> {
    let error = if form.typed.trim() != name {
        format!("Type `{name}` to remove this user. Nothing was changed.")
    } else {
        match state.store.remove_user(&name, &signed_in.actor()).await {
            Ok(_) => return Ok(Redirect::to("/users").into_response()),
            Err(error @ StoreError::Conflict(_)) => super::capitalised(&error.to_string()),
            Err(error) => return Ok(store_problem(error)),
        }
    };
    Ok(match user_page(&state, &signed_in, &name, None).await? {
        Ok(mut page) => {
            page.remove_error = Some(error);
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(response) => response,
    })
}
