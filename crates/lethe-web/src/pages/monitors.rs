//! The monitors pages (SPEC §4, SuperOffice SAINT): `/monitors` lists the monitors — each
//! with its selection, members, schedule and subscribers, and buttons to run it now, enable
//! or disable it — and has the form that adds one, its errors shown next to their fields
//! and what was typed kept; `/monitors/{name}` shows one: its subscribers (a button
//! subscribes or unsubscribes the person looking), its recent runs, and the records a run
//! found, by id, each a link to its record; its owner or an admin changes it there (the
//! selection, the schedule, whether leaving records are told) or removes it once its name is
//! typed. Anyone signed in sees them and adds monitors;
//! the store asks the policy for every change (an admin or the owner changes, runs and
//! removes one).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lethe_store::{Monitor, MonitorEdit, MonitorHits, MonitorRun, NewMonitor, StoreError};
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
    /// Whether the person looking may change and remove it (an admin or its owner).
    may_change: bool,
    /// The saved selections it may watch instead.
    selections: Vec<String>,
    change: ChangeForm,
    /// The name as typed to remove it, and what was wrong.
    typed: String,
    remove_error: Option<String>,
    note: Option<String>,
}

/// The change form as typed, with what is wrong next to its field.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChangeFields {
    #[serde(default)]
    selection: String,
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    time_zone: String,
    /// A ticked box sends `on`.
    #[serde(default)]
    on_leave: Option<String>,
}

#[derive(Debug, Default)]
struct ChangeForm {
    fields: ChangeFields,
    /// The field a refusal is about (`selection`, `schedule`, `time_zone`), and what it says.
    error: Option<(&'static str, String)>,
}

impl ChangeForm {
    fn of(monitor: &Monitor) -> ChangeForm {
        ChangeForm {
            fields: ChangeFields {
                selection: monitor.selection.clone(),
                schedule: monitor.schedule.clone(),
                time_zone: monitor.time_zone.clone(),
                on_leave: monitor.notify_on_leave.then(|| "on".to_owned()),
            },
            error: None,
        }
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(name, _)| *name == field)
            .map(|(_, message)| message.as_str())
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    run: Option<i64>,
    added: Option<u8>,
    ran: Option<i64>,
    changed: Option<u8>,
}

/// Gathers a monitor's page (with the change form as it is).
async fn monitor_page(
    state: &WebState,
    signed_in: &SignedIn,
    name: &str,
    run: Option<i64>,
) -> Result<MonitorPage, StoreError> {
    let store = &state.store;
    let monitor = store.monitor(name).await?;
    let runs = store.monitor_history(name, RUNS_SHOWN).await?;
    let hits = store.monitor_hits(name, run, None, HITS_SHOWN).await?;
    let selections = store
        .list_selections()
        .await?
        .into_iter()
        .map(|selection| selection.name)
        .collect();
    Ok(MonitorPage {
        frame: Frame::of(state, signed_in, Section::Monitors).await,
        subscribed: monitor.subscribers.contains(&signed_in.user.name),
        may_change: signed_in.user.is_admin()
            || monitor.owner.as_deref() == Some(signed_in.user.name.as_str()),
        selections,
        change: ChangeForm::of(&monitor),
        typed: String::new(),
        remove_error: None,
        monitor,
        runs,
        hits,
        note: None,
    })
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, Rejection> {
    let mut page = match monitor_page(&state, &signed_in, &name, query.run.or(query.ran)).await {
        Ok(page) => page,
        Err(error) => return Ok(store_problem(error)),
    };
    page.note = if query.added.is_some() {
        Some(format!(
            "Monitor {} was added. Its baseline holds {} record(s), of which nobody is told; its subscribers hear of what enters from the next run on.",
            page.monitor.name, page.monitor.members
        ))
    } else if query.changed.is_some() {
        Some(format!("Monitor {} was changed.", page.monitor.name))
    } else {
        query.ran.map(|run| {
            format!(
                "Run {run}: {} entered, {} left; {} subscriber(s) told.",
                page.hits.run.entered, page.hits.run.left, page.hits.run.notified
            )
        })
    };
    Ok(render(StatusCode::OK, &page))
}

/// Changes a monitor (its owner or an admin): another selection (a new baseline is taken),
/// the schedule, whether leaving records are told. A refusal is shown next to its field, the
/// form as typed, and nothing changes.
pub async fn change(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, form }: SignedForm<ChangeFields>,
) -> Result<Response, Rejection> {
    let edit = MonitorEdit {
        selection: Some(form.selection.trim().to_owned()),
        schedule: Some(form.schedule.trim().to_owned()),
        time_zone: Some(form.time_zone.trim().to_owned()),
        notify_on_leave: Some(form.on_leave.as_deref() == Some("on")),
    };
    let error = match state
        .store
        .edit_monitor(&name, &edit, &signed_in.actor())
        .await
    {
        Ok(monitor) => {
            return Ok(
                Redirect::to(&format!("/monitors/{}?changed=1", monitor.name)).into_response(),
            );
        }
        Err(error) => error,
    };
    let field = match &error {
        StoreError::InvalidOption { option, .. } if ["schedule", "time_zone"].contains(option) => {
            *option
        }
        StoreError::NamedNotFound(_) | StoreError::BadRequest(_) => "selection",
        _ => return Ok(store_problem(error)),
    };
    let mut page = match monitor_page(&state, &signed_in, &name, None).await {
        Ok(page) => page,
        Err(error) => return Ok(store_problem(error)),
    };
    page.change = ChangeForm {
        fields: form,
        error: Some((field, super::capitalised(&error.to_string()))),
    };
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(Debug, Deserialize)]
pub struct RemoveFields {
    #[serde(default)]
    typed: String,
}

/// Removes a monitor (its owner or an admin) once its name is typed: its subscribers hear
/// nothing more.
pub async fn remove(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, form }: SignedForm<RemoveFields>,
) -> Result<Response, Rejection> {
    if form.typed.trim() == name {
        return Ok(
            match state.store.remove_monitor(&name, &signed_in.actor()).await {
                Ok(()) => {
                    let back = format!(
                        "/monitors?{}",
                        serde_html_form::to_string([
                            ("monitor", name.as_str()),
                            ("done", "removed")
                        ])
                        .unwrap_or_default()
                    );
                    Redirect::to(&back).into_response()
                }
                Err(error) => store_problem(error),
            },
        );
    }
    let mut page = match monitor_page(&state, &signed_in, &name, None).await {
        Ok(page) => page,
        Err(error) => return Ok(store_problem(error)),
    };
    page.remove_error = Some(format!("Type {name} to remove it. Nothing was changed."));
    page.typed = form.typed;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
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
