//! Retention policies over HTTP (SPEC §4): add, change, approve, enable and disable them,
//! dry-run and run them, and read their runs. The store asks the policy (admins only; a
//! second admin approves a destructive one) and writes the history; this module reads the
//! requests and shapes the answers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lethe_store::{NewPolicy, PolicyEdit};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::lifecycle::limit;
use crate::{ApiError, AppState, CurrentUser};

/// The policies, by name.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let policies = state.store.policies(&user.0.actor()).await?;
    Ok(Json(json!({"policies": policies})))
}

/// The body of `POST /api/v1/policies`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPolicyBody {
    name: String,
    entity: String,
    /// The filter; or `selection`.
    filter: Option<String>,
    selection: Option<String>,
    action: String,
    schedule: String,
    #[serde(default = "utc")]
    time_zone: String,
    legal_basis: String,
    owner: Option<String>,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// Adds a policy, disabled.
pub async fn add(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<NewPolicyBody>,
) -> Result<impl IntoResponse, ApiError> {
    if body.filter.is_none() && body.selection.is_none() {
        return Err(ApiError::BadRequest(
            "give the records the policy acts on: a `filter` or a saved `selection`".to_owned(),
        ));
    }
    let new = NewPolicy {
        name: body.name,
        entity: body.entity,
        filter: body.filter.unwrap_or_default(),
        selection: body.selection,
        action: body.action,
        schedule: body.schedule,
        time_zone: body.time_zone,
        legal_basis: body.legal_basis,
        owner: body.owner,
    };
    let policy = state.store.add_policy(&new, &user.0.actor()).await?;
    Ok((StatusCode::CREATED, Json(json!({"policy": policy}))))
}

/// One policy and its five latest runs.
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let actor = user.0.actor();
    let policy = state.store.policy(&name, &actor).await?;
    let runs = state.store.policy_history(&name, 5, &actor).await?;
    Ok(Json(json!({"policy": policy, "runs": runs})))
}

/// The body of `PATCH /api/v1/policies/{name}`: what to change; what is left out stays.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEditBody {
    filter: Option<String>,
    selection: Option<String>,
    action: Option<String>,
    schedule: Option<String>,
    time_zone: Option<String>,
    legal_basis: Option<String>,
    owner: Option<String>,
}

/// Changes a policy; a destructive one is disabled until a second admin approves the change.
pub async fn edit(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<PolicyEditBody>,
) -> Result<Json<Value>, ApiError> {
    if body.filter.is_some() && body.selection.is_some() {
        return Err(ApiError::BadRequest(
            "give a `filter` or a saved `selection`, not both".to_owned(),
        ));
    }
    let edit = PolicyEdit {
        filter: body.filter,
        selection: body.selection,
        action: body.action,
        schedule: body.schedule,
        time_zone: body.time_zone,
        legal_basis: body.legal_basis,
        owner: body.owner,
    };
    let policy = state
        .store
        .edit_policy(&name, &edit, &user.0.actor())
        .await?;
    Ok(Json(json!({"policy": policy})))
}

/// Approves a policy's current version (an admin other than its last changer).
pub async fn approve(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let policy = state.store.approve_policy(&name, &user.0.actor()).await?;
    Ok(Json(json!({"policy": policy})))
}

/// Lets the schedule run a policy.
pub async fn enable(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let policy = state.store.enable_policy(&name, &user.0.actor()).await?;
    Ok(Json(json!({"policy": policy})))
}

/// Stops a policy's schedule.
pub async fn disable(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let policy = state.store.disable_policy(&name, &user.0.actor()).await?;
    Ok(Json(json!({"policy": policy})))
}

/// Freezes what a policy finds now and counts what a run would do; nothing else changes.
pub async fn dry_run(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
) -> Result<impl IntoResponse, ApiError> {
    let run = state.store.dry_run_policy(&name, &user.0.actor()).await?;
    Ok((StatusCode::CREATED, Json(json!({"run": run}))))
}

/// The body of `POST /api/v1/policies/{name}/run`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// The dry run to act on; without it, what the policy finds now.
    from_dry_run: Option<i64>,
}

/// Runs a policy now; the job it starts runs in the server's worker.
pub async fn run(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<RunBody>,
) -> Result<impl IntoResponse, ApiError> {
    let run = state
        .store
        .run_policy(&name, body.from_dry_run, &user.0.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"run": run}))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsParams {
    limit: Option<u64>,
}

/// A policy's dry runs and runs, newest first.
pub async fn runs(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
    QueryParams(params): QueryParams<RunsParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = limit(params.limit, 20, 1_000)?;
    let runs = state
        .store
        .policy_history(&name, limit, &user.0.actor())
        .await?;
    Ok(Json(json!({"runs": runs})))
}
