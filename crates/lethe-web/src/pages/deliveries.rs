//! The deliveries page for admins (SPEC §7): the outbox — every e-mail and webhook message
//! Lethe must send, newest first, in pages, narrowed by state — with the messages given up on
//! in red, each with its last error and a button that sends it again; and the webhook
//! endpoints, with a form to add one (its signing secret shown this once, with how a receiver
//! checks it) and, for each, a Remove button that asks for the webhook's number typed, as a
//! removal cannot be undone. The store asks the policy (admins only) on every route; the
//! handlers ask it first too, so that a plain user hears that before anything they typed.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lethe_store::notification::NotificationKind;
use lethe_store::{Delivery, DeliveryState, StoreError, Webhook, check_webhook_url, policy};
use serde::Deserialize;

use crate::WebState;
use crate::pages::trash::grouped;
use crate::pages::{Frame, Problem, Section, problem_page, render, store_problem};
use crate::session::{Rejection, SignedForm, SignedIn};

/// How many messages one page of the outbox shows.
const PAGE_SIZE: u64 = 50;

/// The value of the events box that stands for every kind, now and later.
const EVERY_EVENT: &str = "*";

/// One message of the outbox, with what the page says of it.
struct OutboxRow {
    delivery: Delivery,
    /// "waiting", "delivered" or "given up".
    state: &'static str,
    given_up: bool,
    /// The kind in words ("a permanent deletion was requested"); empty for a kind this
    /// Lethe does not know.
    kind_title: &'static str,
    /// The message is for a webhook that was removed: Lethe never sends it, so the page
    /// offers no "Send again".
    webhook_removed: bool,
}

/// A webhook endpoint, with its remove form as typed.
struct WebhookRow {
    webhook: Webhook,
    /// "every event", or the kinds' names.
    events: String,
    typed: String,
    remove_error: Option<String>,
}

/// A box of the events fieldset.
struct KindBox {
    name: &'static str,
    title: &'static str,
    ticked: bool,
}

/// The add-webhook form as typed, and its errors next to their fields.
struct AddForm {
    url: String,
    every: bool,
    kinds: Vec<KindBox>,
    url_error: Option<String>,
    events_error: Option<String>,
}

impl AddForm {
    /// An empty form: every event ticked.
    fn fresh() -> AddForm {
        AddForm::typed(String::new(), &[EVERY_EVENT.to_owned()])
    }

    fn typed(url: String, ticked: &[String]) -> AddForm {
        AddForm {
            url,
            every: ticked.iter().any(|name| name == EVERY_EVENT),
            kinds: NotificationKind::ALL
                .into_iter()
                .map(|kind| KindBox {
                    name: kind.as_str(),
                    title: kind.title(),
                    ticked: ticked.iter().any(|name| name == kind.as_str()),
                })
                .collect(),
            url_error: None,
            events_error: None,
        }
    }
}

/// A webhook just added, with its secret: shown this once.
struct Added {
    webhook: Webhook,
    secret: String,
}

#[derive(Template)]
#[template(path = "deliveries.html")]
struct DeliveriesPage {
    frame: Frame,
    /// The state the outbox is narrowed to, as in the address ("" for every message).
    state: String,
    rows: Vec<OutboxRow>,
    /// How many messages were given up, in words ("3", "1,204"); empty for none.
    given_up: String,
    /// Whether that is one message (for the sentence's verb).
    one_given_up: bool,
    /// How many messages wait and were delivered, in words.
    waiting: String,
    delivered: String,
    older: Option<String>,
    newest: Option<String>,
    webhooks: Vec<WebhookRow>,
    add: AddForm,
    added: Option<Added>,
    /// What the last action did, shown at the top.
    note: Option<String>,
}

/// Which page of the outbox is shown.
#[derive(Debug, Default)]
struct View {
    state: Option<DeliveryState>,
    before: Option<i64>,
}

impl View {
    fn state_name(&self) -> &'static str {
        self.state.map_or("", DeliveryState::as_str)
    }
}

/// The address of the outbox narrowed to `state`, with more pairs after it.
fn outbox_address(state: &str, more: &[(&str, String)]) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if !state.is_empty() {
        pairs.push(("state", state.to_owned()));
    }
    pairs.extend(more.iter().cloned());
    if pairs.is_empty() {
        return "/deliveries".to_owned();
    }
    format!(
        "/deliveries?{}",
        serde_html_form::to_string(pairs).unwrap_or_default()
    )
}

fn state_words(state: &str) -> &'static str {
    match state {
        "delivered" => "delivered",
        "given_up" => "given up",
        _ => "waiting",
    }
}

fn kind_title(kind: &str) -> &'static str {
    kind.parse::<NotificationKind>()
        .map_or("", NotificationKind::title)
}

/// The events a webhook listens to, in words.
fn events_words(events: &str) -> String {
    if events == EVERY_EVENT {
        "every event".to_owned()
    } else {
        events.split(',').collect::<Vec<_>>().join(", ")
    }
}

/// The events a new webhook is to hear of, from the ticked boxes: `*` alone, or kinds
/// comma-separated (as the store takes them), or what is wrong with the ticks.
fn events_from(ticked: &[String]) -> Result<String, String> {
    let every = ticked.iter().any(|name| name == EVERY_EVENT);
    let kinds: Vec<&str> = ticked
        .iter()
        .map(String::as_str)
        .filter(|name| *name != EVERY_EVENT)
        .collect();
    match (every, kinds.is_empty()) {
        (true, true) => Ok(EVERY_EVENT.to_owned()),
        (true, false) => {
            Err("Tick either every event or the kinds it should hear of, not both.".to_owned())
        }
        (false, true) => {
            Err("Tick every event, or the kinds this webhook should hear of.".to_owned())
        }
        (false, false) => {
            for kind in &kinds {
                kind.parse::<NotificationKind>()
                    .map_err(|message| super::capitalised(&message))?;
            }
            Ok(kinds.join(","))
        }
    }
}

/// The policy's refusal page, unless the signed-in person may handle deliveries and manage
/// webhooks (the policy says: admins). Every route shows, or leads back to, the whole page
/// with both, so each asks both questions.
fn refused(signed_in: &SignedIn) -> Option<Response> {
    let actor = signed_in.actor();
    policy::handle_deliveries(&actor)
        .and_then(|()| policy::manage_webhooks(&actor))
        .err()
        .map(|refusal| problem_page(Problem::Forbidden(refusal.message().to_owned())))
}

/// Gathers the page: one page of the outbox, the counts per state, the webhooks.
async fn page(
    state: &WebState,
    signed_in: &SignedIn,
    view: &View,
    add: AddForm,
) -> Result<DeliveriesPage, StoreError> {
    let actor = signed_in.actor();
    // One more than a page, to know whether there is an older one.
    let mut deliveries = state
        .store
        .deliveries(view.state, view.before, PAGE_SIZE + 1, &actor)
        .await?;
    let more = deliveries.len() as u64 > PAGE_SIZE;
    deliveries.truncate(PAGE_SIZE as usize);
    let counts = state.store.delivery_counts(&actor).await?;
    let webhooks = state.store.webhooks(&actor).await?;
    let state_name = view.state_name();
    let rows = deliveries
        .into_iter()
        .map(|delivery| OutboxRow {
            state: state_words(&delivery.state),
            given_up: delivery.state == DeliveryState::GivenUp.as_str(),
            kind_title: kind_title(&delivery.kind),
            webhook_removed: delivery
                .webhook_id
                .is_some_and(|id| !webhooks.iter().any(|webhook| webhook.id == id)),
            delivery,
        })
        .collect::<Vec<_>>();
    Ok(DeliveriesPage {
        frame: Frame::of(state, signed_in, Section::Deliveries).await,
        state: state_name.to_owned(),
        older: rows
            .last()
            .filter(|_| more)
            .map(|last| outbox_address(state_name, &[("before", last.delivery.id.to_string())])),
        newest: view.before.map(|_| outbox_address(state_name, &[])),
        rows,
        given_up: match counts.given_up {
            0 => String::new(),
            n => grouped(n),
        },
        one_given_up: counts.given_up == 1,
        waiting: grouped(counts.waiting),
        delivered: grouped(counts.delivered),
        webhooks: webhooks
            .into_iter()
            .map(|webhook| WebhookRow {
                events: events_words(&webhook.events),
                webhook,
                typed: String::new(),
                remove_error: None,
            })
            .collect(),
        add,
        added: None,
        note: None,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct DeliveriesQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    before: String,
    /// After "Send again": the message sent again.
    retried: Option<i64>,
    /// After a removal: the webhook removed, and how many of its messages were given up.
    removed: Option<i64>,
    dropped: Option<u64>,
}

/// What a finished action says when the page shows again.
fn note_for(query: &DeliveriesQuery) -> Option<String> {
    if let Some(id) = query.retried {
        return Some(format!(
            "Message {id} is waiting to be sent again: its tries start over, the first one now."
        ));
    }
    query.removed.map(|id| {
        let dropped = match query.dropped.unwrap_or(0) {
            0 => "Nothing was waiting for it.".to_owned(),
            1 => "The 1 message still waiting for it was given up.".to_owned(),
            n => format!(
                "The {} messages still waiting for it were given up.",
                grouped(n)
            ),
        };
        format!("Webhook {id} was removed: it hears of nothing more. {dropped}")
    })
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Query(query): Query<DeliveriesQuery>,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused(&signed_in) {
        return Ok(refused);
    }
    let wanted = match query.state.trim() {
        "" => None,
        raw => match raw.parse::<DeliveryState>() {
            Ok(wanted) => Some(wanted),
            Err(error) => return Ok(store_problem(error)),
        },
    };
    let before = match query.before.trim() {
        "" => None,
        raw => match raw.parse::<i64>() {
            Ok(before) => Some(before),
            Err(_) => {
                return Ok(problem_page(Problem::BadForm(format!(
                    "`{raw}` is not a message number; follow the links at the bottom of the outbox to page through it"
                ))));
            }
        },
    };
    let view = View {
        state: wanted,
        before,
    };
    match page(&state, &signed_in, &view, AddForm::fresh()).await {
        Ok(mut page) => {
            page.note = note_for(&query);
            Ok(render(StatusCode::OK, &page))
        }
        Err(error) => Ok(store_problem(error)),
    }
}

#[derive(Debug, Deserialize)]
pub struct RetryFields {
    /// The state the outbox was narrowed to, to come back to it.
    #[serde(default)]
    state: String,
}

/// Sends a given-up message again: its tries start over, due now.
pub async fn retry(
    State(state): State<WebState>,
    Path(id): Path<i64>,
    SignedForm { signed_in, form }: SignedForm<RetryFields>,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused(&signed_in) {
        return Ok(refused);
    }
    match state.store.retry_delivery(id, &signed_in.actor()).await {
        Ok(_) => {
            // Back to the same view, if it is one the page knows.
            let view = form
                .state
                .trim()
                .parse::<DeliveryState>()
                .map_or("", DeliveryState::as_str);
            let back = outbox_address(view, &[("retried", id.to_string())]);
            Ok(Redirect::to(&back).into_response())
        }
        Err(error) => Ok(store_problem(error)),
    }
}

#[derive(Debug, Deserialize)]
pub struct AddFields {
    #[serde(default)]
    url: String,
    /// The ticked boxes: `*`, or kinds.
    #[serde(default)]
    event: Vec<String>,
}

/// Adds a webhook endpoint and shows its secret this once. A wrong URL or events are shown
/// next to their fields, the form as typed, and nothing is added.
pub async fn add(
    State(state): State<WebState>,
    SignedForm { signed_in, form }: SignedForm<AddFields>,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused(&signed_in) {
        return Ok(refused);
    }
    let url = form.url.trim();
    let mut typed = AddForm::typed(form.url.clone(), &form.event);
    match events_from(&form.event) {
        Err(events_error) => {
            typed.events_error = Some(events_error);
            typed.url_error = check_webhook_url(url)
                .err()
                .map(|error| super::capitalised(&error.to_string()));
        }
        Ok(events) => {
            match state
                .store
                .add_webhook(url, &events, &signed_in.actor())
                .await
            {
                Ok((webhook, secret)) => {
                    return Ok(
                        match page(&state, &signed_in, &View::default(), AddForm::fresh()).await {
                            Ok(mut page) => {
                                page.added = Some(Added { webhook, secret });
                                render(StatusCode::OK, &page)
                            }
                            Err(error) => store_problem(error),
                        },
                    );
                }
                // The events were checked above: what the store refuses here is the URL.
                Err(StoreError::BadRequest(message)) => {
                    typed.url_error = Some(super::capitalised(&message));
                }
                Err(error) => return Ok(store_problem(error)),
            }
        }
    }
    Ok(
        match page(&state, &signed_in, &View::default(), typed).await {
            Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
            Err(error) => store_problem(error),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct RemoveFields {
    #[serde(default)]
    typed: String,
}

/// Removes a webhook once its number is typed: it hears of nothing more, and what still
/// waited for it is given up.
pub async fn remove(
    State(state): State<WebState>,
    Path(id): Path<i64>,
    SignedForm { signed_in, form }: SignedForm<RemoveFields>,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused(&signed_in) {
        return Ok(refused);
    }
    let error = if form.typed.trim() != id.to_string() {
        format!("Type {id} to remove webhook {id}. Nothing was changed.")
    } else {
        match state.store.remove_webhook(id, &signed_in.actor()).await {
            Ok(dropped) => {
                let back = outbox_address(
                    "",
                    &[
                        ("removed", id.to_string()),
                        ("dropped", dropped.to_string()),
                    ],
                );
                return Ok(Redirect::to(&back).into_response());
            }
            Err(error) => return Ok(store_problem(error)),
        }
    };
    let mut page = match page(&state, &signed_in, &View::default(), AddForm::fresh()).await {
        Ok(page) => page,
        Err(error) => return Ok(store_problem(error)),
    };
    let Some(row) = page.webhooks.iter_mut().find(|row| row.webhook.id == id) else {
        return Ok(problem_page(Problem::NotFound(format!(
            "There is no webhook {id}: it may have been removed meanwhile."
        ))));
    };
    row.typed = form.typed;
    row.remove_error = Some(error);
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ticked(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn the_ticked_boxes_become_every_event_or_the_kinds_named() {
        assert_eq!(events_from(&ticked(&["*"])).unwrap(), "*");
        assert_eq!(
            events_from(&ticked(&["purge_requested", "purge_failed"])).unwrap(),
            "purge_requested,purge_failed"
        );
        assert!(
            events_from(&ticked(&[]))
                .unwrap_err()
                .starts_with("Tick every event")
        );
        assert!(
            events_from(&ticked(&["*", "purge_failed"]))
                .unwrap_err()
                .contains("not both")
        );
        assert!(
            events_from(&ticked(&["purge_done"]))
                .unwrap_err()
                .contains("purge_executed")
        );
    }

    #[test]
    fn the_outbox_address_keeps_the_state_and_pages_on() {
        assert_eq!(outbox_address("", &[]), "/deliveries");
        assert_eq!(
            outbox_address("given_up", &[("before", "17".to_owned())]),
            "/deliveries?state=given_up&before=17"
        );
        assert_eq!(
            outbox_address("", &[("retried", "3".to_owned())]),
            "/deliveries?retried=3"
        );
    }

    #[test]
    fn a_removal_says_what_it_gave_up() {
        let query = DeliveriesQuery {
            removed: Some(4),
            dropped: Some(2),
            ..DeliveriesQuery::default()
        };
        assert_eq!(
            note_for(&query).unwrap(),
            "Webhook 4 was removed: it hears of nothing more. The 2 messages still waiting for it were given up."
        );
        assert_eq!(events_words("*"), "every event");
        assert_eq!(
            events_words("purge_requested,purge_failed"),
            "purge_requested, purge_failed"
        );
    }
}
