//! Monitors over HTTP (SPEC §4, SuperOffice SAINT): list and add them, read, change and
//! remove one, run one now, and list the records a run found. The store asks the policy
//! (anyone adds and reads monitors; an admin or the owner changes, runs and removes one;
//! anyone subscribes themselves) and writes the history; this module reads the requests
//! and shapes the answers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lethe_store::{MAX_HITS_PAGE, MonitorEdit, NewMonitor, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::lifecycle::limit;
use crate::{ApiError, AppState, CurrentUser};

/// The monitors, by name.
pub async fn list(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let monitors = state.store.monitors().await?;
    Ok(Json(json!({"monitors": monitors})))
}

/// The body of `POST /api/v1/monitors`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMonitorBody {
    name: String,
    selection: String,
    schedule: String,
    #[serde(default = "utc")]
    time_zone: String,
    #[serde(default)]
    notify_on_leave: bool,
    #[serde(default)]
    subscribers: Vec<String>,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// Adds a monitor, enabled, owned by the caller; its baseline is taken now and told to
/// nobody.
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<NewMonitorBody>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewMonitor {
        name: body.name,
        selection: body.selection,
        schedule: body.schedule,
        time_zone: body.time_zone,
        notify_on_leave: body.notify_on_leave,
        subscribers: body.subscribers,
    };
    let monitor = state.store.add_monitor(&new, &user.0.actor()).await?;
    Ok((StatusCode::CREATED, Json(json!({"monitor": monitor}))))
}

/// One monitor with its last runs.
pub async fn show(
    State(state): State<AppState>,
    _user: CurrentUser,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let monitor = state.store.monitor(&name).await?;
    let runs = state.store.monitor_history(&name, 20).await?;
    Ok(Json(json!({"monitor": monitor, "runs": runs})))
}

/// The body of `PATCH /api/v1/monitors/{name}`: what to change; what is left out stays.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorPatch {
    selection: Option<String>,
    schedule: Option<String>,
    time_zone: Option<String>,
    notify_on_leave: Option<bool>,
    enabled: Option<bool>,
    #[serde(default)]
    subscribe: Vec<String>,
    #[serde(default)]
    unsubscribe: Vec<String>,
}

/// Changes a monitor: its selection (a new baseline), schedule, leave notices, whether it
/// runs, and who is told. Every user named is looked up before anything is written.
pub async fn change(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
    JsonBody(patch): JsonBody<MonitorPatch>,
) -> Result<Json<Value>, ApiError> {
    let actor = user.0.actor();
    let store = &state.store;
    store.monitor(&name).await?;
    for person in patch.subscribe.iter().chain(&patch.unsubscribe) {
        if store.find_user(person).await?.is_none() {
            return Err(StoreError::invalid_option(
                "subscribe",
                format!("there is no user `{person}` to (un)subscribe"),
            )
            .into());
        }
    }
    let edit = MonitorEdit {
        selection: patch.selection,
        schedule: patch.schedule,
        time_zone: patch.time_zone,
        notify_on_leave: patch.notify_on_leave,
    };
    let mut monitor = if edit == MonitorEdit::default() {
        store.monitor(&name).await?
    } else {
        store.edit_monitor(&name, &edit, &actor).await?
    };
    if let Some(on) = patch.enabled
        && on != monitor.enabled
    {
        monitor = store.enable_monitor(&name, on, &actor).await?;
    }
    for (people, on) in [(&patch.subscribe, true), (&patch.unsubscribe, false)] {
        for person in people {
            monitor = store.subscribe_monitor(&name, person, on, &actor).await?;
        }
    }
    Ok(Json(json!({"monitor": monitor})))
}

/// Removes a monitor with its members, runs and hits.
pub async fn remove(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.store.remove_monitor(&name, &user.0.actor()).await?;
    Ok(Json(json!({"removed": name})))
}

/// Evaluates a monitor now; its subscribers are told of what entered (and left).
pub async fn run(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let run = state.store.run_monitor(&name, &user.0.actor()).await?;
    Ok(Json(json!({"run": run})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HitsParams {
    run: Option<i64>,
    after: Option<i64>,
    limit: Option<u64>,
}

/// The records a run found, by id; page on with `after=next_after`.
pub async fn hits(
    State(state): State<AppState>,
    _user: CurrentUser,
    PathParams(name): PathParams<String>,
    QueryParams(params): QueryParams<HitsParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = limit(params.limit, 100, MAX_HITS_PAGE)?;
    let hits = state
        .store
        .monitor_hits(&name, params.run, params.after, limit)
        .await?;
    Ok(Json(json!(hits)))
}
