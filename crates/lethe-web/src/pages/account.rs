//! The signed-in person's own access: their password, the browsers signed in as them
//! (sessions) and their API tokens, each of which they can end, and where their
//! notifications go (an e-mail address, and which kinds come by e-mail) (SPEC §7). What an
//! admin sees and does for other users lives on the users' pages.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lethe_store::{
    DeliveryChange, DeliverySettings, MIN_PASSWORD_CHARS, SessionInfo, StoreError, TokenInfo,
};
use serde::Deserialize;

use crate::WebState;
use crate::pages::{Frame, Section, render, store_problem};
use crate::session::{Rejection, SignedForm, SignedIn, forget_session, with_cookie};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    frame: Frame,
    role: &'static str,
    /// The session of this browser, marked in the list.
    this_session: i64,
    sessions: Vec<SessionInfo>,
    tokens: Vec<TokenInfo>,
    /// What the last action did, shown at the top.
    note: Option<String>,
    password: PasswordForm,
    min_password_chars: usize,
    delivery: DeliverySettings,
    /// The address as typed, and what is wrong with it.
    email: String,
    email_error: Option<String>,
}

/// The change-password form's errors, each shown next to its field.
#[derive(Debug, Default)]
struct PasswordForm {
    current_error: Option<String>,
    new_error: Option<String>,
    repeat_error: Option<String>,
}

impl PasswordForm {
    fn has_errors(&self) -> bool {
        self.current_error.is_some() || self.new_error.is_some() || self.repeat_error.is_some()
    }
}

#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    done: Option<String>,
}

/// What a finished action says when the page shows again.
fn note_for(done: &str) -> Option<String> {
    Some(
        match done {
            "session-ended" => "The session was ended: that browser must sign in again.",
            "token-revoked" => "The token was revoked: it no longer works.",
            "delivery" => "Where your notifications go was saved.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn page(
    state: &WebState,
    signed_in: &SignedIn,
    note: Option<String>,
    password: PasswordForm,
) -> Result<AccountPage, Rejection> {
    let actor = signed_in.actor();
    let name = &signed_in.user.name;
    let sessions = state
        .store
        .sessions_of(name, &actor)
        .await
        .map_err(Rejection::Store)?;
    let tokens = state
        .store
        .tokens_of(name, &actor)
        .await
        .map_err(Rejection::Store)?;
    let delivery = state
        .store
        .delivery_settings(name, &actor)
        .await
        .map_err(Rejection::Store)?;
    Ok(AccountPage {
        frame: Frame::of(state, signed_in, Section::Account).await,
        email: delivery.email.clone().unwrap_or_default(),
        email_error: None,
        delivery,
        role: signed_in.user.role.as_str(),
        this_session: signed_in.session.id,
        sessions,
        tokens,
        note,
        password,
        min_password_chars: MIN_PASSWORD_CHARS,
    })
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Query(query): Query<AccountQuery>,
) -> Result<Response, Rejection> {
    let note = query.done.as_deref().and_then(note_for);
    let page = page(&state, &signed_in, note, PasswordForm::default()).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub struct PasswordFields {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
}

/// Changes the person's own password, after checking the current one. Every session ends
/// with it, this one too: they sign in again with the new password.
pub async fn change_password(
    State(state): State<WebState>,
    SignedForm { signed_in, form }: SignedForm<PasswordFields>,
) -> Result<Response, Rejection> {
    let mut errors = PasswordForm::default();
    let name = &signed_in.user.name;
    let current_right = state
        .store
        .check_password(name, &form.current)
        .await
        .map_err(Rejection::Store)?
        .is_some();
    if !current_right {
        errors.current_error = Some("This is not your current password.".to_owned());
    }
    if form.new.chars().count() < MIN_PASSWORD_CHARS {
        errors.new_error = Some(format!(
            "Choose a password of at least {MIN_PASSWORD_CHARS} characters."
        ));
    } else if form.new.len() > lethe_store::MAX_PASSWORD_BYTES {
        errors.new_error = Some("This password is too long.".to_owned());
    }
    if form.repeat != form.new {
        errors.repeat_error = Some("The two new passwords differ.".to_owned());
    }
    if errors.has_errors() {
        let page = page(&state, &signed_in, None, errors).await?;
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    match state
        .store
        .set_password(name, &form.new, &signed_in.actor())
        .await
    {
        Ok(_) => Ok(with_cookie(
            Redirect::to("/sign-in?next=%2Faccount").into_response(),
            &forget_session(&state),
        )),
        Err(error) => Ok(store_problem(error)),
    }
}

/// Ends one session of the person's (another browser, or this one).
pub async fn end_session(
    State(state): State<WebState>,
    Path(id): Path<i64>,
    SignedForm { signed_in, .. }: SignedForm<super::sign_in::NoFields>,
) -> Result<Response, Rejection> {
    if let Err(error) = state.store.end_session(id, &signed_in.actor()).await {
        return Ok(store_problem(error));
    }
    if id == signed_in.session.id {
        return Ok(with_cookie(
            Redirect::to("/sign-in?signed_out=1").into_response(),
            &forget_session(&state),
        ));
    }
    Ok(Redirect::to("/account?done=session-ended").into_response())
}

/// Signs the person out everywhere, here too.
pub async fn end_all_sessions(
    State(state): State<WebState>,
    SignedForm { signed_in, .. }: SignedForm<super::sign_in::NoFields>,
) -> Result<Response, Rejection> {
    if let Err(error) = state
        .store
        .end_sessions_of(&signed_in.user.name, &signed_in.actor())
        .await
    {
        return Ok(store_problem(error));
    }
    Ok(with_cookie(
        Redirect::to("/sign-in?signed_out=1").into_response(),
        &forget_session(&state),
    ))
}

/// Revokes one of the person's API tokens.
pub async fn revoke_token(
    State(state): State<WebState>,
    Path(id): Path<i64>,
    SignedForm { signed_in, .. }: SignedForm<super::sign_in::NoFields>,
) -> Result<Response, Rejection> {
    match state.store.revoke_token(id, &signed_in.actor()).await {
        Ok(_) => Ok(Redirect::to("/account?done=token-revoked").into_response()),
        Err(error) => Ok(store_problem(error)),
    }
}

#[derive(Debug, Deserialize)]
pub struct DeliveryFields {
    #[serde(default)]
    email: String,
    /// The kinds ticked to come by e-mail.
    #[serde(default)]
    email_kind: Vec<String>,
}

/// Saves where the person's notifications go: the address (empty: none) and, for every kind,
/// whether it comes by e-mail. A wrong address is shown next to its field, as typed, and
/// nothing is saved.
pub async fn change_delivery(
    State(state): State<WebState>,
    SignedForm { signed_in, form }: SignedForm<DeliveryFields>,
) -> Result<Response, Rejection> {
    let email = form.email.trim();
    let change = DeliveryChange {
        email: Some((!email.is_empty()).then(|| email.to_owned())),
        email_kinds: lethe_store::notification::NotificationKind::ALL
            .into_iter()
            .map(|kind| {
                let ticked = form.email_kind.iter().any(|name| name == kind.as_str());
                (kind, ticked)
            })
            .collect(),
    };
    match state
        .store
        .change_delivery(&signed_in.user.name, &change, &signed_in.actor())
        .await
    {
        Ok(_) => Ok(Redirect::to("/account?done=delivery").into_response()),
        Err(StoreError::BadRequest(message)) => {
            let mut page = page(&state, &signed_in, None, PasswordForm::default()).await?;
            page.email = form.email.clone();
            page.email_error = Some(super::capitalised(&message));
            for choice in &mut page.delivery.kinds {
                choice.email = form.email_kind.contains(&choice.kind);
            }
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(error) => Ok(store_problem(error)),
    }
}
