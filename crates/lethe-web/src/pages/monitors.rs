//! The monitors pages (SPEC §4, SuperOffice SAINT): `/monitors` lists the monitors — each
//! with its selection, members, schedule and subscribers, and buttons to run it now, enable
//! or disable it — and has the form that adds one, its errors shown next to their fields
//! and what was typed kept; `/monitors/{name}` shows one: its subscribers (a button
//! subscribes or unsubscribes the person looking), its recent runs, and the records a run
//! found, by id, each a link to its record. Anyone signed in sees them and adds monitors;
//! the store asks the policy for every change (an admin or the owner changes, runs and
//! removes one).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lethe_store::{Monitor, MonitorHits, MonitorRun, NewMonitor, StoreError};
use serde::Deserialize;

use crate::WebState;
use crate::pages::{Frame, Section, render, store_problem};
use crate::session::{Rejection, SignedForm, SignedIn};

/// How many runs the detail page lists, and how many hits of one run.
const RUNS_SHOWN: u64 = 20;
const HITS_SHOWN: u64 = 200;

/// The add form as typed, and its errors next to their fields.
#[derive(Debug, Default)]
struct AddForm {
    name: String,
    selection: String,
    schedule: String,
    time_zone: String,
    on_leave: bool,
    subscribers: String,
    name_error: Option<String>,
    selection_error: Option<String>,
    schedule_error: Option<String>,
    time_zone_error: Option<String>,
    subscribers_error: Option<String>,
}

impl AddForm {
    fn fresh(user: &str) -> AddForm {
        AddForm {
            schedule: "0 7 * * 1-5".to_owned(),
            time_zone: "UTC".to_owned(),
            subscribers: user.to_owned(),
            ..AddForm::default()
        }
    }

    /// Puts the store's refusal next to the field it is about; false when it is about none.
    fn place(&mut self, error: &StoreError) -> bool {
        let message = super::capitalised(&error.to_string());
        let field = match error {
            StoreError::InvalidOption { option, .. } => match *option {
                "name" => &mut self.name_error,
                "selection" => &mut self.selection_error,
                "schedule" => &mut self.schedule_error,
                "time_zone" => &mut self.time_zone_error,
                "subscriber" => &mut self.subscribers_error,
                _ => return false,
            },
            StoreError::Conflict(_) => &mut self.name_error,
            _ => return false,
        };
        *field = Some(message);
        true
    }
}

#[derive(Template)]
#[template(path = "monitors.html")]
struct MonitorsPage {
    frame: Frame,
    monitors: Vec<Monitor>,
    /// The saved selections one may watch, by name.
    selections: Vec<String>,
    add: AddForm,
    note: Option<String>,
}

async fn list_page(
    state: &WebState,
    signed_in: &SignedIn,
    add: AddForm,
) -> Result<MonitorsPage, StoreError> {
    let monitors = state.store.monitors().await?;
    let selections = state
        .store
        .list_selections()
        .await?
        .into_iter()
        .map(|selection| selection.name)
        .collect();
    Ok(MonitorsPage {
        frame: Frame::of(state, signed_in, Section::Monitors).await,
        monitors,
        selections,
        add,
        note: None,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// After an action: which monitor, and what was done.
    monitor: Option<String>,
    done: Option<String>,
}

pub async fn list(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Query(query): Query<ListQuery>,
) -> Result<Response, Rejection> {
    let add = AddForm::fresh(&signed_in.user.name);
    Ok(match list_page(&state, &signed_in, add).await {
        Ok(mut page) => {
            page.note = match (query.monitor, query.done.as_deref()) {
                (Some(name), Some("enabled")) => Some(format!(
                    "Monitor {name} is enabled: its schedule evaluates it from now on."
                )),
                (Some(name), Some("disabled")) => Some(format!(
                    "Monitor {name} is disabled: its schedule no longer evaluates it."
                )),
                (Some(name), Some("removed")) => Some(format!(
                    "Monitor {name} was removed, with its members, runs and hits."
                )),
                _ => None,
            };
            render(StatusCode::OK, &page)
        }
        Err(error) => store_problem(error),
    })
}

#[derive(Debug, Deserialize)]
pub struct AddFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    selection: String,
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    time_zone: String,
    /// The box "also when records leave", when ticked.
    on_leave: Option<String>,
    /// User names, separated by commas or spaces.
    #[serde(default)]
    subscribers: String,
}

/// Adds a monitor and shows it. What is wrong is shown next to its field, the form as
/// typed, and nothing is added.
pub async fn add(
    State(state): State<WebState>,
    SignedForm { signed_in, form }: SignedForm<AddFields>,
) -> Result<Response, Rejection> {
    let new = NewMonitor {
        name: form.name.trim().to_owned(),
        selection: form.selection.trim().to_owned(),
        schedule: form.schedule.clone(),
        time_zone: form.time_zone.clone(),
        notify_on_leave: form.on_leave.is_some(),
        subscribers: form
            .subscribers
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let error = match state.store.add_monitor(&new, &signed_in.actor()).await {
        Ok(monitor) => {
            return Ok(Redirect::to(&format!("/monitors/{}?added=1", monitor.name)).into_response());
        }
        Err(error) => error,
    };
    let mut typed = AddForm {
        name: form.name,
        selection: form.selection,
        schedule: form.schedule,
        time_zone: form.time_zone,
        on_leave: form.on_leave.is_some(),
        subscribers: form.subscribers,
        ..AddForm::default()
    };
    if !typed.place(&error) {
        return Ok(store_problem(error));
    }
    Ok(match list_page(&state, &signed_in, typed).await {
        Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
        Err(error) => store_problem(error),
    })
}

#[derive(Template)]
#[template(path = "monitor.html")]
struct MonitorPage {
    frame: Frame,
    monitor: Monitor,
    runs: Vec<MonitorRun>,
    /// The run whose hits are shown, with them.
    hits: MonitorHits,
    /// Whether the person looking is a subscriber.
    subscribed: bool,
    note: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    run: Option<i64>,
    added: Option<u8>,
    ran: Option<i64>,
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, Rejection> {
    let store = &state.store;
    let gathered = async {
        let monitor = store.monitor(&name).await?;
        let runs = store.monitor_history(&name, RUNS_SHOWN).await?;
        let hits = store
            .monitor_hits(&name, query.run.or(query.ran), None, HITS_SHOWN)
            .await?;
        Ok::<_, StoreError>((monitor, runs, hits))
    };
    let (monitor, runs, hits) = match gathered.await {
        Ok(gathered) => gathered,
        Err(error) => return Ok(store_problem(error)),
    };
    let note = if query.added.is_some() {
        Some(format!(
            "Monitor {} was added. Its baseline holds {} record(s), of which nobody is told; its subscribers hear of what enters from the next run on.",
            monitor.name, monitor.members
        ))
    } else {
        query.ran.map(|run| {
            format!(
                "Run {run}: {} entered, {} left; {} subscriber(s) told.",
                hits.run.entered, hits.run.left, hits.run.notified
            )
        })
    };
    let page = MonitorPage {
        frame: Frame::of(&state, &signed_in, Section::Monitors).await,
        subscribed: monitor.subscribers.contains(&signed_in.user.name),
        monitor,
        runs,
        hits,
        note,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Default, Deserialize)]
pub struct NoFields {}

/// Evaluates a monitor now and shows what it found.
pub async fn run(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    Ok(
        match state.store.run_monitor(&name, &signed_in.actor()).await {
            Ok(run) => Redirect::to(&format!("/monitors/{name}?ran={}", run.id)).into_response(),
            Err(error) => store_problem(error),
        },
    )
}

/// Enables a monitor.
pub async fn enable(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    switch(&state, &name, true, &signed_in).await
}

/// Disables a monitor.
pub async fn disable(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    switch(&state, &name, false, &signed_in).await
}

async fn switch(
    state: &WebState,
    name: &str,
    on: bool,
    signed_in: &SignedIn,
) -> Result<Response, Rejection> {
    Ok(
        match state
            .store
            .enable_monitor(name, on, &signed_in.actor())
            .await
        {
            Ok(_) => {
                let done = if on { "enabled" } else { "disabled" };
                let back = format!(
                    "/monitors?{}",
                    serde_html_form::to_string([("monitor", name), ("done", done)])
                        .unwrap_or_default()
                );
                Redirect::to(&back).into_response()
            }
            Err(error) => store_problem(error),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct SubscribeFields {
    /// `on` to subscribe, anything else to unsubscribe.
    #[serde(default)]
    subscribe: String,
}

/// Subscribes or unsubscribes the person signed in.
pub async fn subscribe(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, form }: SignedForm<SubscribeFields>,
) -> Result<Response, Rejection> {
    let on = form.subscribe == "on";
    let me = signed_in.user.name.clone();
    Ok(
        match state
            .store
            .subscribe_monitor(&name, &me, on, &signed_in.actor())
            .await
        {
            Ok(_) => Redirect::to(&format!("/monitors/{name}")).into_response(),
            Err(error) => store_problem(error),
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_goes_next_to_its_field() {
        let mut form = AddForm::default();
        assert!(form.place(&StoreError::invalid_option(
            "time_zone",
            "`Mars/Olympus` is not a time zone"
        )));
        assert_eq!(
            form.time_zone_error.as_deref(),
            Some("`Mars/Olympus` is not a time zone.")
        );
        assert!(form.place(&StoreError::Conflict("a monitor `x` exists".to_owned())));
        assert!(form.name_error.is_some());
        assert!(!form.place(&StoreError::Internal("boom".to_owned())));
    }
}
