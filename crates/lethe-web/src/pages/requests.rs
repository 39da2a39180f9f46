//! The pages of people's erasure and access requests (SPEC §12; GDPR Art. 12, 15, 17):
//! `/requests` lists the open ones first, by deadline, with the days left and the overdue
//! ones in red, then the closed ones; an admin registers one there, errors shown next to
//! their fields with what was typed kept. `/requests/{id}` shows one with its deadline, its
//! extension and the deletion batches and purges linked to it (their state, a purge's
//! erasure receipt), and the actions the policy allows the person: assign, start, extend with
//! a reason, done, refuse with a reason, link a batch or purge. Every handler calls the same
//! store as the API and the command line, which asks the policy.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lethe_store::{
    NewSubjectRequest, PersonKey, RequestChange, RequestListing, StoreError, SubjectRequest, policy,
};
use serde::Deserialize;

use crate::WebState;
use crate::pages::{Frame, Problem, Section, capitalised, problem_page, render, store_problem};
use crate::person::PersonZip;
use crate::session::{Rejection, SignedForm, SignedIn};

/// A request with what the pages say of it.
struct RequestRow {
    request: SubjectRequest,
    /// The day of the deadline in force.
    deadline_day: String,
    /// Whose request it is: the address or contact while open, "closed" after.
    subject: String,
    /// The days left, or how long ago the deadline passed, in words.
    left: String,
}

impl RequestRow {
    fn of(request: SubjectRequest) -> RequestRow {
        let day = |at: &str| at.get(..10).unwrap_or(at).to_owned();
        let subject = match (&request.subject_email, request.subject_contact_id) {
            (Some(address), _) => address.clone(),
            (None, Some(contact)) => format!("contact {contact}"),
            (None, None) => "no longer kept (the request is closed)".to_owned(),
        };
        let left = if request.closed_at.is_some() {
            String::new()
        } else if request.overdue {
            match -request.days_left {
                0 => "overdue today".to_owned(),
                1 => "overdue by 1 day".to_owned(),
                n => format!("overdue by {n} days"),
            }
        } else if request.days_left == 1 {
            "1 day left".to_owned()
        } else {
            format!("{} days left", request.days_left)
        };
        RequestRow {
            deadline_day: day(&request.deadline),
            subject,
            left,
            request,
        }
    }
}

/// The register form as typed, and its errors next to their fields.
#[derive(Debug, Default)]
struct RegisterForm {
    kind: String,
    email: String,
    contact: String,
    received: String,
    assignee: String,
    kind_error: Option<String>,
    email_error: Option<String>,
    contact_error: Option<String>,
    received_error: Option<String>,
    assignee_error: Option<String>,
}

#[derive(Template)]
#[template(path = "requests.html")]
struct RequestsPage {
    frame: Frame,
    open: Vec<RequestRow>,
    closed: Vec<RequestRow>,
    may_register: bool,
    form: RegisterForm,
}

/// The detail page's forms as typed, and their errors.
#[derive(Debug, Default)]
struct Actions {
    assignee: String,
    until: String,
    extend_reason: String,
    refuse_reason: String,
    batch: String,
    job: String,
    assign_error: Option<String>,
    until_error: Option<String>,
    extend_reason_error: Option<String>,
    refuse_error: Option<String>,
    link_error: Option<String>,
}

#[derive(Template)]
#[template(path = "request.html")]
struct RequestPage {
    frame: Frame,
    row: RequestRow,
    open: bool,
    /// Admins assign, extend and refuse; the assignee and admins start, finish and link.
    manages: bool,
    works: bool,
    actions: Actions,
    note: Option<String>,
    /// For an admin, while the request is open: what is held about the person.
    held: Held,
}

/// What is held about a request's person, counted per entity (for an erasure, also what
/// erasing them reaches).
enum Held {
    /// Not shown: the request is closed, or the reader is not an admin.
    Unseen,
    Counts {
        entities: Vec<(String, u64)>,
        total: u64,
    },
    /// Why nothing can be counted (no contact has the address, …).
    Problem(String),
}

/// The person a request is about, while it is open.
fn person_of(request: &SubjectRequest) -> Option<PersonKey> {
    match (&request.subject_email, request.subject_contact_id) {
        (_, Some(id)) => Some(PersonKey::Contact(id)),
        (Some(address), None) => Some(PersonKey::Email(address.clone())),
        (None, None) => None,
    }
}

async fn held(state: &WebState, request: &SubjectRequest, actor: &lethe_store::Actor) -> Held {
    let key = match person_of(request) {
        Some(key) if request.closed_at.is_none() && policy::export_person(actor).is_ok() => key,
        _ => return Held::Unseen,
    };
    match PersonZip::start(&state.store, key, actor).await {
        Ok(zip) => Held::Counts {
            entities: zip.counts().to_vec(),
            total: zip.counts().iter().map(|(_, count)| count).sum(),
        },
        Err(error) => Held::Problem(capitalised(&error.to_string())),
    }
}

/// `GET /requests/{id}/export`: everything held about the request's person, as one zip.
pub async fn export(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Rejection> {
    let actor = signed_in.actor();
    let answer = async {
        let request = state.store.subject_request(id, &actor).await?;
        let key = person_of(&request).ok_or_else(|| {
            StoreError::Conflict(format!(
                "request {id} is closed: whom it was about is no longer kept"
            ))
        })?;
        let zip = PersonZip::start(&state.store, key, &actor).await?;
        crate::person::download(&state.store, zip, ()).await
    }
    .await;
    Ok(answer.unwrap_or_else(store_problem))
}

/// An error's message as a sentence for a field.
fn field_message(error: &StoreError) -> String {
    capitalised(error.to_string().trim_end_matches('.'))
}

pub async fn list(
    State(state): State<WebState>,
    signed_in: SignedIn,
) -> Result<Response, Rejection> {
    Ok(
        match list_page(&state, &signed_in, RegisterForm::default()).await {
            Ok(page) => render(StatusCode::OK, &page),
            Err(error) => store_problem(error),
        },
    )
}

async fn list_page(
    state: &WebState,
    signed_in: &SignedIn,
    form: RegisterForm,
) -> Result<RequestsPage, StoreError> {
    let actor = signed_in.actor();
    let requests = state
        .store
        .subject_requests(RequestListing::All, None, &actor)
        .await?;
    let (open, closed): (Vec<RequestRow>, Vec<RequestRow>) = requests
        .into_iter()
        .map(RequestRow::of)
        .partition(|row| row.request.closed_at.is_none());
    Ok(RequestsPage {
        frame: Frame::of(state, signed_in, Section::Requests).await,
        open,
        closed,
        may_register: policy::manage_requests(&actor, "registering").is_ok(),
        form,
    })
}

#[derive(Debug, Deserialize)]
pub struct RegisterFields {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    contact: String,
    #[serde(default)]
    received: String,
    #[serde(default)]
    assignee: String,
}

/// Registers a request; a wrong part is shown next to its field with the form as typed, and
/// nothing is written.
pub async fn register(
    State(state): State<WebState>,
    SignedForm { signed_in, form }: SignedForm<RegisterFields>,
) -> Result<Response, Rejection> {
    let actor = signed_in.actor();
    if let Err(refusal) = policy::manage_requests(&actor, "registering a person's request") {
        return Ok(problem_page(Problem::Forbidden(
            refusal.message().to_owned(),
        )));
    }
    let given = |text: &str| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
    let mut typed = RegisterForm {
        kind: form.kind.clone(),
        email: form.email.clone(),
        contact: form.contact.clone(),
        received: form.received.clone(),
        assignee: form.assignee.clone(),
        ..RegisterForm::default()
    };
    let contact_id = match given(&form.contact).map(|raw| raw.parse::<i64>()) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            typed.contact_error = Some(format!(
                "`{}` is not a contact number.",
                form.contact.trim()
            ));
            return Ok(again(&state, &signed_in, typed).await);
        }
    };
    let new = NewSubjectRequest {
        kind: form.kind.trim().to_owned(),
        email: given(&form.email),
        contact_id,
        received: given(&form.received),
        assignee: given(&form.assignee),
    };
    match state.store.add_request(&new, &actor).await {
        Ok(request) => {
            Ok(Redirect::to(&format!("/requests/{}?done=added", request.id)).into_response())
        }
        Err(error) => {
            let message = Some(field_message(&error));
            match &error {
                StoreError::InvalidOption { option: "kind", .. } => typed.kind_error = message,
                StoreError::InvalidOption {
                    option: "email", ..
                } => typed.email_error = message,
                StoreError::InvalidOption {
                    option: "contact", ..
                } => {
                    typed.contact_error = message;
                }
                StoreError::InvalidOption {
                    option: "received", ..
                } => {
                    typed.received_error = message;
                }
                StoreError::NamedNotFound(_) => typed.assignee_error = message,
                _ => return Ok(store_problem(error)),
            }
            Ok(again(&state, &signed_in, typed).await)
        }
    }
}

async fn again(state: &WebState, signed_in: &SignedIn, typed: RegisterForm) -> Response {
    match list_page(state, signed_in, typed).await {
        Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
        Err(error) => store_problem(error),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    done: Option<String>,
}

fn note_for(done: Option<&str>) -> Option<String> {
    Some(
        match done? {
            "added" => "The request is registered. Its deadline is below.",
            "assign" => "The request is assigned.",
            "start" => "The request is in progress.",
            "extend" => "The deadline is extended. Tell the person, with the reason.",
            "done" => "The request is done. Its subject is no longer kept, only a keyed hash of it.",
            "refuse" => "The request is refused. Tell the person, with the reason. Its subject is no longer kept.",
            "linked" => "The link is recorded.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn detail(
    state: &WebState,
    signed_in: &SignedIn,
    id: i64,
    actions: Actions,
    note: Option<String>,
) -> Result<RequestPage, StoreError> {
    let actor = signed_in.actor();
    let request = state.store.subject_request(id, &actor).await?;
    let open = request.closed_at.is_none();
    let held = held(state, &request, &actor).await;
    let assignee = match &request.assignee {
        Some(name) => state.store.find_user(name).await?.map(|user| user.id),
        None => None,
    };
    Ok(RequestPage {
        frame: Frame::of(state, signed_in, Section::Requests).await,
        open,
        manages: policy::manage_requests(&actor, "managing").is_ok(),
        works: policy::work_on_request(&actor, id, assignee).is_ok(),
        row: RequestRow::of(request),
        actions,
        note,
        held,
    })
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, Rejection> {
    let note = note_for(query.done.as_deref());
    Ok(
        match detail(&state, &signed_in, id, Actions::default(), note).await {
            Ok(page) => render(StatusCode::OK, &page),
            Err(error) => store_problem(error),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ChangeFields {
    #[serde(default)]
    action: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    reason: String,
}

/// Assigns, starts, extends, finishes or refuses a request; a wrong part is shown next to
/// its field, with what was typed.
pub async fn change(
    State(state): State<WebState>,
    Path(id): Path<i64>,
    SignedForm { signed_in, form }: SignedForm<ChangeFields>,
) -> Result<Response, Rejection> {
    let change = match form.action.as_str() {
        "assign" => RequestChange::Assign(form.assignee.trim().to_owned()),
        "start" => RequestChange::Start,
        "extend" => RequestChange::Extend {
            until: form.until.trim().to_owned(),
            reason: form.reason.clone(),
        },
        "done" => RequestChange::Done,
        "refuse" => RequestChange::Refuse {
            reason: form.reason.clone(),
        },
        other => {
            return Ok(problem_page(Problem::BadForm(format!(
                "`{other}` is not something to do with a request: assign, start, extend, done or refuse"
            ))));
        }
    };
    match state
        .store
        .change_request(id, &change, &signed_in.actor())
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/requests/{id}?done={}", form.action)).into_response()),
        Err(error) => {
            let message = Some(field_message(&error));
            let mut actions = Actions::default();
            match (&change, &error) {
                (RequestChange::Assign(name), StoreError::NamedNotFound(_)) => {
                    actions.assignee = name.clone();
                    actions.assign_error = message;
                }
                (
                    RequestChange::Extend { until, reason },
                    StoreError::InvalidOption { option, .. },
                ) => {
                    actions.until = until.clone();
                    actions.extend_reason = reason.clone();
                    if *option == "reason" {
                        actions.extend_reason_error = message;
                    } else {
                        actions.until_error = message;
                    }
                }
                (RequestChange::Refuse { reason }, StoreError::InvalidOption { .. }) => {
                    actions.refuse_reason = reason.clone();
                    actions.refuse_error = message;
                }
                _ => return Ok(store_problem(error)),
            }
            Ok(shown_again(&state, &signed_in, id, actions).await)
        }
    }
}

async fn shown_again(
    state: &WebState,
    signed_in: &SignedIn,
    id: i64,
    actions: Actions,
) -> Response {
    match detail(state, signed_in, id, actions, None).await {
        Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
        Err(error) => store_problem(error),
    }
}

#[derive(Debug, Deserialize)]
pub struct LinkFields {
    #[serde(default)]
    batch: String,
    #[serde(default)]
    job: String,
}

/// Links a deletion batch or a purge to a request; one that does not exist is shown next to
/// the field, and nothing is written.
pub async fn link(
    State(state): State<WebState>,
    Path(id): Path<i64>,
    SignedForm { signed_in, form }: SignedForm<LinkFields>,
) -> Result<Response, Rejection> {
    let number = |raw: &str| -> Result<Option<i64>, String> {
        match raw.trim() {
            "" => Ok(None),
            text => text
                .parse::<i64>()
                .map(Some)
                .map_err(|_| format!("`{text}` is not a number.")),
        }
    };
    let mut actions = Actions {
        batch: form.batch.clone(),
        job: form.job.clone(),
        ..Actions::default()
    };
    let (batch, job) = match (number(&form.batch), number(&form.job)) {
        (Ok(batch), Ok(job)) => (batch, job),
        (Err(message), _) | (_, Err(message)) => {
            actions.link_error = Some(message);
            return Ok(shown_again(&state, &signed_in, id, actions).await);
        }
    };
    match state
        .store
        .link_request(id, batch, job, &signed_in.actor())
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/requests/{id}?done=linked")).into_response()),
        Err(error @ StoreError::InvalidOption { .. }) => {
            actions.link_error = Some(field_message(&error));
            Ok(shown_again(&state, &signed_in, id, actions).await)
        }
        Err(error) => Ok(store_problem(error)),
    }
}
