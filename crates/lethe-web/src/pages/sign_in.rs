//! Signing in and out. The sign-in page takes a name and a password, answers a wrong one
//! without saying which of the two was wrong, says how long to wait after too many, and
//! leads back to the page that sent the person here.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use lethe_store::SignIn;
use serde::Deserialize;

use crate::WebState;
use crate::pages::render;
use crate::session::{
    Rejection, SignInForm, SignedForm, current, existing_sign_in_token, forget_session, safe_next,
    secret_of, session_cookie, sign_in_token, with_cookie,
};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    form_token: String,
    next: String,
    name: String,
    /// Why the last try failed, shown above the form.
    error: Option<String>,
    /// A note, such as "You signed out."
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// The sign-in page; someone already signed in goes straight on.
pub async fn show(
    State(state): State<WebState>,
    Query(query): Query<SignInQuery>,
    headers: HeaderMap,
) -> Result<Response, Rejection> {
    let next = safe_next(query.next.as_deref());
    if current(&state, &headers).await?.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    let (form_token, cookie) = sign_in_token(&state)?;
    let page = SignInPage {
        form_token,
        next,
        name: String::new(),
        error: None,
        note: query
            .signed_out
            .map(|_| "You signed out. Sign in again to go on.".to_owned()),
    };
    Ok(with_cookie(render(StatusCode::OK, &page), &cookie))
}

#[derive(Debug, Deserialize)]
pub struct SignInFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// Checks the name and password: a session and on to where the person was going, or the
/// form again with the name as typed and what went wrong.
pub async fn submit(
    State(state): State<WebState>,
    headers: HeaderMap,
    SignInForm { form }: SignInForm<SignInFields>,
) -> Result<Response, Rejection> {
    let next = safe_next(form.next.as_deref());
    let name = form.name.trim().to_owned();
    let again = |status: StatusCode, error: String| {
        let page = SignInPage {
            form_token: existing_sign_in_token(&headers).unwrap_or_default(),
            next: next.clone(),
            name: name.clone(),
            error: Some(error),
            note: None,
        };
        render(status, &page)
    };
    if name.is_empty() || form.password.is_empty() {
        return Ok(again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter your user name and your password.".to_owned(),
        ));
    }
    match state
        .store
        .sign_in(&name, &form.password)
        .await
        .map_err(Rejection::Store)?
    {
        SignIn::Welcome { secret, .. } => Ok(with_cookie(
            Redirect::to(&next).into_response(),
            &session_cookie(&state, secret),
        )),
        SignIn::Wrong { wait } => {
            let mut error = "Wrong user name or password.".to_owned();
            if let Some(wait) = wait {
                error.push_str(&format!(
                    " After so many wrong tries, wait {wait} before the next one."
                ));
            }
            Ok(again(StatusCode::UNAUTHORIZED, error))
        }
        SignIn::Wait { wait } => Ok(again(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many wrong passwords in a row for this name: wait {wait}, then try again. Your password was not checked."
            ),
        )),
    }
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// Ends the session and forgets its cookie.
pub async fn sign_out(
    State(state): State<WebState>,
    headers: HeaderMap,
    SignedForm { .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    if let Some(secret) = secret_of(&state, &headers) {
        state
            .store
            .sign_out(&secret)
            .await
            .map_err(Rejection::Store)?;
    }
    Ok(with_cookie(
        Redirect::to("/sign-in?signed_out=1").into_response(),
        &forget_session(&state),
    ))
}
