//! Who is behind a page request, and whether a form really came from Lethe's own page.
//!
//! The session's secret lives only in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` and
//! `__Host-` prefixed behind TLS); the store keeps its hash. Every form of a signed-in page
//! carries a token derived from the session's secret, which another site cannot read, so a
//! form posted from elsewhere is refused before anything changes. The sign-in form, before
//! there is a session, carries a random token that must match a cookie set with it.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use lethe_store::{Session, User};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::WebState;
use crate::pages::{Problem, problem_page};

/// The session cookie's name over plain HTTP; behind TLS it takes the `__Host-` prefix, which
/// the browser only accepts from a secure origin, for the whole site and no other domain.
const SESSION_COOKIE: &str = "lethe_session";
const SESSION_COOKIE_SECURE: &str = "__Host-lethe_session";
/// The cookie that pairs with the sign-in form's token.
const SIGN_IN_COOKIE: &str = "lethe_sign_in";

fn session_cookie_name(state: &WebState) -> &'static str {
    if state.options.behind_tls {
        SESSION_COOKIE_SECURE
    } else {
        SESSION_COOKIE
    }
}

/// A cookie with the attributes every Lethe cookie has.
fn cookie(state: &WebState, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.options.behind_tls)
        .build()
}

/// The cookie that carries a new session's secret.
pub fn session_cookie(state: &WebState, secret: String) -> Cookie<'static> {
    cookie(state, session_cookie_name(state), secret)
}

/// A cookie that makes the browser forget the session.
pub fn forget_session(state: &WebState) -> Cookie<'static> {
    let mut gone = cookie(state, session_cookie_name(state), String::new());
    gone.make_removal();
    gone
}

/// The token a form of this session carries: derived from the secret, so it changes with
/// every session and cannot be known without the cookie.
fn form_token(secret: &str) -> String {
    hex(&Sha256::digest(format!("lethe form token\0{secret}")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Compares two tokens by their hashes, so that the time taken says nothing about how much
/// of a guess was right.
fn same_token(given: &str, expected: &str) -> bool {
    Sha256::digest(given.as_bytes()) == Sha256::digest(expected.as_bytes())
}

/// The signed-in person of a page request. A request without a live session is sent to the
/// sign-in page, which brings them back here afterwards.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    pub session: Session,
    /// The token this session's forms carry.
    pub form_token: String,
}

impl SignedIn {
    pub fn actor(&self) -> lethe_store::Actor {
        self.user.actor()
    }
}

/// Why a page request was turned away before its handler ran.
#[derive(Debug)]
pub enum Rejection {
    /// Not signed in: to the sign-in page, then back to `next`.
    SignIn { next: String },
    /// A form without the right token: refused, nothing changed.
    ForeignForm,
    /// A form that could not be read.
    BadForm(String),
    /// The store failed.
    Store(lethe_store::StoreError),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::SignIn { next } => Redirect::to(&sign_in_path(&next)).into_response(),
            Rejection::ForeignForm => problem_page(Problem::ForeignForm),
            Rejection::BadForm(message) => problem_page(Problem::BadForm(message)),
            Rejection::Store(error) => crate::pages::store_problem(error),
        }
    }
}

/// The sign-in page's address that leads back to `next` afterwards.
pub fn sign_in_path(next: &str) -> String {
    if next == "/" {
        "/sign-in".to_owned()
    } else {
        format!(
            "/sign-in?next={}",
            serde_html_form::to_string([("", next)])
                .map(|pair| pair.trim_start_matches('=').to_owned())
                .unwrap_or_default()
        )
    }
}

/// Where to go after signing in: only a path on this site, never another site's address
/// (`//elsewhere`, `/\elsewhere` and `https://…` all become `/`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn session_secret(state: &WebState, headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(session_cookie_name(state))
        .map(|cookie| cookie.value().to_owned())
}

/// The live session of a request, if it has one.
pub async fn current(state: &WebState, headers: &HeaderMap) -> Result<Option<SignedIn>, Rejection> {
    let Some(secret) = session_secret(state, headers) else {
        return Ok(None);
    };
    let Some(session) = state
        .store
        .session(&secret)
        .await
        .map_err(Rejection::Store)?
    else {
        return Ok(None);
    };
    Ok(Some(SignedIn {
        user: session.user.clone(),
        session,
        form_token: form_token(&secret),
    }))
}

/// The secret of the request's session cookie, for signing out.
pub fn secret_of(state: &WebState, headers: &HeaderMap) -> Option<String> {
    session_secret(state, headers)
}

impl FromRequestParts<WebState> for SignedIn {
    type Rejection = Rejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        match current(state, &parts.headers).await? {
            Some(signed_in) => Ok(signed_in),
            None => Err(Rejection::SignIn {
                next: parts
                    .uri
                    .path_and_query()
                    .map_or("/".to_owned(), |path| path.as_str().to_owned()),
            }),
        }
    }
}

/// Only the token of a posted form, read before the rest.
#[derive(Deserialize)]
struct TokenField {
    #[serde(default)]
    form_token: String,
}

/// Reads a posted form once its token is the one `expected`: a form from elsewhere is
/// refused as such before anything in it is looked at (a missing field included).
fn read_form<T: DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, Rejection> {
    let token: TokenField = serde_html_form::from_bytes(body).unwrap_or(TokenField {
        form_token: String::new(),
    });
    if !same_token(&token.form_token, expected) {
        return Err(Rejection::ForeignForm);
    }
    serde_html_form::from_bytes(body).map_err(|error| Rejection::BadForm(error.to_string()))
}

async fn body_of(request: Request) -> Result<(Parts, axum::body::Bytes), Rejection> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|error| Rejection::BadForm(format!("the form could not be read: {error}")))?;
    Ok((parts, bytes))
}

/// A form posted by the signed-in person from one of Lethe's own pages: the form's token
/// matches their session, or the request is refused before anything changes.
#[derive(Debug)]
pub struct SignedForm<T> {
    pub signed_in: SignedIn,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<WebState> for SignedForm<T> {
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = body_of(request).await?;
        let signed_in = SignedIn::from_request_parts(&mut parts, state).await?;
        let form = read_form::<T>(&body, &signed_in.form_token).inspect_err(|_| {
            tracing::warn!(user = %signed_in.user.name, "a form was refused: not this session's token, or unreadable");
        })?;
        Ok(SignedForm { signed_in, form })
    }
}

/// The sign-in form, checked against the cookie set with it.
#[derive(Debug)]
pub struct SignInForm<T> {
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<WebState> for SignInForm<T> {
    type Rejection = Rejection;

    async fn from_request(request: Request, _state: &WebState) -> Result<Self, Self::Rejection> {
        let (parts, body) = body_of(request).await?;
        let expected = CookieJar::from_headers(&parts.headers)
            .get(SIGN_IN_COOKIE)
            .map(|cookie| cookie.value().to_owned())
            .filter(|value| !value.is_empty())
            .ok_or(Rejection::ForeignForm)?;
        let form = read_form::<T>(&body, &expected)?;
        Ok(SignInForm { form })
    }
}

/// A fresh token for the sign-in form and the cookie it must match.
pub fn sign_in_token(state: &WebState) -> Result<(String, Cookie<'static>), Rejection> {
    let token = lethe_store::random_token().map_err(Rejection::Store)?;
    Ok((token.clone(), cookie(state, SIGN_IN_COOKIE, token)))
}

/// The sign-in form's token of this request's cookie, if it has one (so that a form shown
/// again after a wrong password keeps working).
pub fn existing_sign_in_token(headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(SIGN_IN_COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .filter(|value| !value.is_empty())
}

/// Adds `cookie` to a response as a `Set-Cookie` header.
pub fn with_cookie(mut response: Response, cookie: &Cookie<'static>) -> Response {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_followed_after_signing_in() {
        assert_eq!(
            safe_next(Some("/records/contact?sort=name")),
            "/records/contact?sort=name"
        );
        for elsewhere in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(elsewhere)), "/", "{elsewhere}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_sign_in_address_carries_the_way_back_encoded() {
        assert_eq!(sign_in_path("/"), "/sign-in");
        assert_eq!(
            sign_in_path("/records/contact?q=a b&x=1"),
            "/sign-in?next=%2Frecords%2Fcontact%3Fq%3Da+b%26x%3D1"
        );
    }

    #[test]
    fn a_form_token_belongs_to_one_session() {
        let one = form_token("lethe_session_one");
        assert_eq!(one, form_token("lethe_session_one"));
        assert_ne!(one, form_token("lethe_session_two"));
        assert!(same_token(&one, &form_token("lethe_session_one")));
        assert!(!same_token("", &one));
    }
}
