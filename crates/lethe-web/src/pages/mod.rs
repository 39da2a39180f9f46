//! What every page shares: the frame around it (the header with the signed-in person, the
//! navigation and the unread count), rendering a template into a response, and the pages
//! that say something went wrong.

pub mod account;
pub mod changes;
pub mod deletions;
pub mod deliveries;
pub mod export;
pub mod history;
pub mod home;
pub mod jobs;
pub mod monitors;
pub mod notifications;
pub mod policies;
pub mod record;
pub mod records;
pub mod recycle_bin;
pub mod requests;
pub mod selections;
pub mod sign_in;
pub mod trash;
pub mod users;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use lethe_store::{ErrorClass, StoreError};

use crate::WebState;
use crate::session::SignedIn;

/// The most unread notifications counted for the header; more show as "99+".
const UNREAD_SHOWN: u64 = 99;

/// The frame of a signed-in page: who, their role, the form token for the header's sign-out
/// button, and which section of the navigation is open.
#[derive(Debug, Clone)]
pub struct Frame {
    pub user: String,
    pub admin: bool,
    pub form_token: String,
    /// The unread notifications, as the header shows them ("3", "99+"); empty for none.
    pub unread: String,
    pub section: Section,
}

/// The sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Records,
    Selections,
    RecycleBin,
    Deletions,
    History,
    Users,
    Deliveries,
    Requests,
    Monitors,
    Policies,
    Notifications,
    Account,
}

impl Section {
    pub fn name(self) -> &'static str {
        match self {
            Section::Home => "records",
            Section::Records => "records",
            Section::Selections => "selections",
            Section::RecycleBin => "recycle-bin",
            Section::Deletions => "deletions",
            Section::History => "history",
            Section::Users => "users",
            Section::Deliveries => "deliveries",
            Section::Requests => "requests",
            Section::Monitors => "monitors",
            Section::Policies => "policies",
            Section::Notifications => "notifications",
            Section::Account => "account",
        }
    }
}

impl Frame {
    pub async fn of(state: &WebState, signed_in: &SignedIn, section: Section) -> Frame {
        // The header must not fail a page: without the count, it shows none.
        let unread = state
            .store
            .notifications(signed_in.user.id, true, UNREAD_SHOWN + 1)
            .await
            .map_or(0, |unread| unread.len() as u64);
        Frame {
            user: signed_in.user.name.clone(),
            admin: signed_in.user.is_admin(),
            form_token: signed_in.form_token.clone(),
            unread: match unread {
                0 => String::new(),
                n if n > UNREAD_SHOWN => format!("{UNREAD_SHOWN}+"),
                n => n.to_string(),
            },
            section,
        }
    }

    /// `aria-current="page"` for the open section's link, named as [`Section::name`] says.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section.name() == section {
            "page"
        } else {
            "false"
        }
    }
}

/// A page as a response. Pages show personal data: no cache keeps them, so that after
/// signing out the browser's back button shows nothing.
fn page_response(status: StatusCode, html: String) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(html),
    )
        .into_response()
}

/// Where a page goes once it has started a job: the job runs on a task of the server's own,
/// and the person follows it on its page; a refusal or an error shows its page instead.
pub fn job_started(state: &WebState, started: Result<lethe_store::Job, StoreError>) -> Response {
    match started {
        Ok(job) => {
            state.store.run_job_in_background(job.id);
            axum::response::Redirect::to(&format!("/jobs/{}", job.id)).into_response()
        }
        Err(error) => store_problem(error),
    }
}

/// A rendered template with a status.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => page_response(status, html),
        Err(error) => {
            tracing::error!(%error, "a page template failed to render");
            problem_page(Problem::Internal)
        }
    }
}

/// What went wrong, for a page that says so.
#[derive(Debug)]
pub enum Problem {
    NotFound(String),
    Forbidden(String),
    /// A form without its page's token (another site, or an expired page).
    ForeignForm,
    BadForm(String),
    Conflict(String),
    Unavailable,
    Internal,
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage<'a> {
    title: &'a str,
    message: &'a str,
    advice: &'a str,
}

/// A page that says what went wrong and what to do. It shows no frame: it may be shown to
/// someone who is not signed in.
pub fn problem_page(problem: Problem) -> Response {
    let (status, title, message, advice) = match &problem {
        Problem::NotFound(message) => (
            StatusCode::NOT_FOUND,
            "Not found",
            message.as_str(),
            "Check the address, or start again from the home page.",
        ),
        Problem::Forbidden(message) => (
            StatusCode::FORBIDDEN,
            "Not allowed",
            message.as_str(),
            "Ask an admin if you need this done.",
        ),
        Problem::ForeignForm => (
            StatusCode::FORBIDDEN,
            "This form was refused",
            "It did not carry the token of your session: it came from another site, or from a page opened before you last signed in. Nothing was changed.",
            "Go back, reload the page and try again.",
        ),
        Problem::BadForm(message) => (
            StatusCode::BAD_REQUEST,
            "This form could not be read",
            message.as_str(),
            "Go back, check what you entered and try again. Nothing was changed.",
        ),
        Problem::Conflict(message) => (
            StatusCode::CONFLICT,
            "This cannot be done now",
            message.as_str(),
            "Reload the page to see the current state. Nothing was changed.",
        ),
        Problem::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The database cannot be reached",
            "Nothing was changed.",
            "Try again in a moment; if it goes on, tell whoever runs Lethe.",
        ),
        Problem::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on the server",
            "Nothing was changed. The cause has been written to the server's log.",
            "Try again; if it goes on, tell whoever runs Lethe.",
        ),
    };
    let page = ProblemPage {
        title,
        message,
        advice,
    };
    match page.render() {
        Ok(html) => page_response(status, html),
        Err(_) => (status, title.to_owned()).into_response(),
    }
}

/// The page for a store error: its own message for what the person can fix, nothing of the
/// cause for a fault of the server (which is logged).
pub fn store_problem(error: StoreError) -> Response {
    match error.class() {
        ErrorClass::NotFound => problem_page(Problem::NotFound(error.to_string())),
        ErrorClass::Forbidden => problem_page(Problem::Forbidden(error.to_string())),
        ErrorClass::Invalid => problem_page(Problem::BadForm(error.to_string())),
        ErrorClass::Conflict => problem_page(Problem::Conflict(error.to_string())),
        ErrorClass::Unavailable => {
            tracing::warn!(%error, "the database is unavailable");
            problem_page(Problem::Unavailable)
        }
        ErrorClass::Internal => {
            tracing::error!(%error, "a page failed");
            problem_page(Problem::Internal)
        }
    }
}

/// The page for a method a page's address does not answer (a link to a form's address).
pub async fn method_not_allowed() -> Response {
    let mut response = problem_page(Problem::BadForm(
        "This address only takes a form from its page.".to_owned(),
    ));
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// The page for an address that leads nowhere.
pub fn not_found_page() -> Response {
    problem_page(Problem::NotFound(
        "There is no page at this address.".to_owned(),
    ))
}

/// A store message as the start of a sentence on a page.
pub(crate) fn capitalised(message: &str) -> String {
    let mut characters = message.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect::<String>() + ".",
        None => String::new(),
    }
}
