//! The life of a record over HTTP (SPEC §3, §5, §6, §7): preview and confirm a trash, restore
//! a deletion batch, request, list and cancel purges, anonymise and bulk-update a snapshot's
//! members, follow the jobs that do the work, read and verify the deletion history, and read
//! one's notifications.
//!
//! Trash, restore, anonymise and update answer `202 Accepted` with the queued job at once and
//! run it in the background; clients poll `GET /api/v1/jobs/{id}` for progress. A purge request
//! answers `202` with a `pending` job that the server's job worker runs once its grace period
//! ends. A job that stops (the server shuts down, an error) keeps its last committed batch and
//! can be resumed.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use lethe_store::policy;
use lethe_store::{HistoryVerification, Job, MAX_HISTORY_PAGE, Skip};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::{ApiError, AppState, CurrentUser};

/// Reads an optional `limit` query parameter: `default` when absent, refused outside
/// `1..=max` instead of being silently clamped.
pub(crate) fn limit(raw: Option<u64>, default: u64, max: u64) -> Result<u64, ApiError> {
    match raw {
        None => Ok(default),
        Some(limit) if (1..=max).contains(&limit) => Ok(limit),
        Some(other) => Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {max}; {other} was given"
        ))),
    }
}

/// `202 Accepted` with the job, and where to follow it.
fn accepted(job: &Job) -> impl IntoResponse + use<> {
    accepted_with(job.id, json!(job))
}

/// `202 Accepted` with `body`, and where to follow job `job`.
pub(crate) fn accepted_with(job: i64, body: serde_json::Value) -> impl IntoResponse + use<> {
    let location = HeaderValue::from_str(&format!("/api/v1/jobs/{job}"))
        .unwrap_or_else(|_| HeaderValue::from_static("/api/v1/jobs"));
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(body),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    snapshot_id: i64,
}

/// What trashing a snapshot's members would do.
pub async fn preview_trash(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<PreviewBody>,
) -> Result<Json<Value>, ApiError> {
    let _pass = state.filters.enter(user.0.id)?;
    state
        .store
        .snapshot_for(body.snapshot_id, &user.0.actor())
        .await?;
    let preview = state.store.preview_trash(body.snapshot_id).await?;
    Ok(Json(json!(preview)))
}

/// The confirmation of a trash: the snapshot the preview counted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrashBody {
    snapshot_id: i64,
    reason: Option<String>,
    batch_size: Option<u64>,
}

pub async fn trash(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<TrashBody>,
) -> Result<impl IntoResponse, ApiError> {
    let actor = user.0.actor();
    let job = state
        .store
        .start_trash(
            body.snapshot_id,
            body.reason.as_deref(),
            &actor,
            body.batch_size,
        )
        .await?;
    state.store.run_job_in_background(job.id);
    Ok(accepted(&job))
}

/// A restore of a whole deletion batch (no `ids`), or of chosen members of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    ids: Option<Vec<i64>>,
    batch_size: Option<u64>,
}

pub async fn restore(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(batch): PathParams<i64>,
    JsonBody(body): JsonBody<RestoreBody>,
) -> Result<impl IntoResponse, ApiError> {
    let actor = user.0.actor();
    let job = state
        .store
        .start_restore(batch, body.ids.as_deref(), &actor, body.batch_size)
        .await?;
    state.store.run_job_in_background(job.id);
    Ok(accepted(&job))
}

pub async fn preview_purge(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Value>, ApiError> {
    // A preview shows what the operation would do, to whom may do it: purging is for admins.
    policy::preview_purge(&user.0.actor())?;
    Ok(Json(json!(state.store.preview_purge(id).await?)))
}

pub async fn show_batch(
    State(state): State<AppState>,
    _user: CurrentUser,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.store.deletion_batch(id).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitParams {
    limit: Option<u64>,
}

/// The newest jobs the caller may see: every job for an admin, their own for a user.
pub async fn list_jobs(
    State(state): State<AppState>,
    user: CurrentUser,
    QueryParams(params): QueryParams<LimitParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = limit(params.limit, 50, 1_000)?;
    let jobs = state.store.jobs_for(limit, &user.0.actor()).await?;
    Ok(Json(json!({"jobs": jobs})))
}

pub async fn show_job(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.store.job_for(id, &user.0.actor()).await?)))
}

/// Resumes a failed job after its last committed batch (an admin, or who started a job that
/// is not a purge); it runs in the background, as when it was started.
pub async fn resume_job(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(id): PathParams<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let actor = user.0.actor();
    let job = state.store.resume_job(id, &actor).await?;
    if job.state == lethe_store::JobState::Queued {
        state.store.run_job_in_background(job.id);
    }
    Ok(accepted(&job))
}

/// A member a job did not act on, with the reason, also in words.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct JobSkip {
    #[serde(flatten)]
    pub skip: Skip,
    /// The skip in words, e.g. `contact 12: 1 invoice (invoice.contact_id restricts deleting
    /// it)`.
    pub message: String,
}

/// Members a job did not act on, each with the reason in words.
pub async fn job_skips(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(id): PathParams<i64>,
    QueryParams(params): QueryParams<LimitParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = limit(params.limit, 100, 10_000)?;
    let job = state.store.job_for(id, &user.0.actor()).await?;
    let skips: Vec<JobSkip> = state
        .store
        .job_skips(id, limit)
        .await?
        .into_iter()
        .map(|skip| JobSkip {
            message: skip.message(&job.entity),
            skip,
        })
        .collect();
    Ok(Json(json!({
        "job_id": job.id,
        "entity": job.entity,
        "skipped": job.skipped,
        "blocked": job.blocked,
        "skips": skips,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    after: Option<i64>,
    limit: Option<u64>,
}

/// A page of the deletion history, oldest first; page on with `after=next_after`.
pub async fn history(
    State(state): State<AppState>,
    user: CurrentUser,
    QueryParams(params): QueryParams<HistoryParams>,
) -> Result<Json<Value>, ApiError> {
    policy::read_history(&user.0.actor())?;
    let limit = limit(params.limit, 100, MAX_HISTORY_PAGE)?;
    let entries = state.store.history(params.after, limit).await?;
    let next_after = match entries.last() {
        Some(last) if entries.len() as u64 == limit => Some(last.id),
        _ => None,
    };
    Ok(Json(json!({"entries": entries, "next_after": next_after})))
}

/// The answer of `GET /api/v1/history/verify`: the store's verification, and whether the
/// history is intact in one word, so a client need not know what a problem looks like.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "HistoryVerification")]
pub struct VerificationAnswer {
    /// Whether every entry matches its seal and the chain and the anchor agree (no
    /// `first_problem`).
    pub intact: bool,
    #[serde(flatten)]
    pub verification: HistoryVerification,
}

/// Recomputes the history's hash chain.
pub async fn verify_history(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<VerificationAnswer>, ApiError> {
    policy::read_history(&user.0.actor())?;
    let verification = state.store.verify_history().await?;
    Ok(Json(VerificationAnswer {
        intact: verification.is_intact(),
        verification,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationParams {
    unread: Option<bool>,
    limit: Option<u64>,
}

/// The caller's own notifications, newest first.
pub async fn notifications(
    State(state): State<AppState>,
    user: CurrentUser,
    QueryParams(params): QueryParams<NotificationParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = limit(params.limit, 50, 1_000)?;
    let unread_only = params.unread.unwrap_or(false);
    let notifications = state
        .store
        .notifications(user.0.id, unread_only, limit)
        .await?;
    Ok(Json(json!({"notifications": notifications})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    up_to: i64,
}

/// Marks the caller's notifications up to `up_to` (an id) as read.
pub async fn mark_notifications_read(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<ReadBody>,
) -> Result<Json<Value>, ApiError> {
    let marked = state
        .store
        .mark_notifications_read(user.0.id, body.up_to)
        .await?;
    Ok(Json(json!({"marked_read": marked})))
}

/// The longest grace period a purge request may ask for: ten years.
pub(crate) const MAX_GRACE_SECONDS: i64 = 10 * 365 * 24 * 60 * 60;

/// The longest reason kept with a purge request, as for a trash.
const MAX_REASON_CHARS: usize = 1_000;

/// Turns `grace_seconds` into the store's duration type (`time::Duration`, reached through
/// its `TryFrom<std::time::Duration>` so this crate needs no `time` dependency); refused
/// outside `0..=MAX_GRACE_SECONDS`, which also keeps the due time far from overflowing. The
/// store checks it against the configured minimum.
fn grace<D: TryFrom<std::time::Duration>>(seconds: Option<i64>) -> Result<Option<D>, ApiError> {
    let Some(seconds) = seconds else {
        return Ok(None);
    };
    let out_of_range = || {
        ApiError::BadRequest(format!(
            "grace_seconds must be between 0 and {MAX_GRACE_SECONDS} (ten years); {seconds} was given"
        ))
    };
    let whole = u64::try_from(seconds)
        .ok()
        .filter(|_| seconds <= MAX_GRACE_SECONDS)
        .ok_or_else(out_of_range)?;
    D::try_from(std::time::Duration::from_secs(whole))
        .map(Some)
        .map_err(|_| out_of_range())
}

/// A purge request for a deletion batch in the trash.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeBody {
    /// How long the request stays pending; the configured default when absent. The
    /// configured minimum applies over HTTP (the operator's CLI may go below it).
    grace_seconds: Option<i64>,
    reason: Option<String>,
    batch_size: Option<u64>,
}

/// Requests the purge of a deletion batch (admins). The job is `pending` until its grace
/// period ends; the server's job worker runs it then, so nothing is started here.
pub async fn request_purge(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(batch): PathParams<i64>,
    JsonBody(body): JsonBody<PurgeBody>,
) -> Result<impl IntoResponse, ApiError> {
    // A user hears "admins only" before anything about the grace period.
    policy::request_purge(&user.0.actor())?;
    let grace = grace(body.grace_seconds)?;
    if let Some(reason) = &body.reason
        && reason.chars().count() > MAX_REASON_CHARS
    {
        return Err(ApiError::BadRequest(format!(
            "reason is longer than {MAX_REASON_CHARS} characters"
        )));
    }
    let actor = user.0.actor();
    let job = state
        .store
        .request_purge(
            batch,
            &actor,
            grace,
            true,
            body.reason.as_deref(),
            body.batch_size,
        )
        .await?;
    Ok(accepted(&job))
}

/// Pending purges, oldest first, with the grace and retention figures in force.
pub async fn list_purges(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let purges = state.store.pending_purges().await?;
    let settings = state.store.settings();
    Ok(Json(json!({
        "purges": purges,
        "default_grace_seconds": settings.default_grace.whole_seconds(),
        "minimum_grace_seconds": settings.minimum_grace.whole_seconds(),
        "retention_seconds": settings.retention.whole_seconds(),
    })))
}

/// Cancels a pending purge (admins); its deletion batch stays in the trash.
pub async fn cancel_purge(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(job): PathParams<i64>,
) -> Result<Json<Value>, ApiError> {
    let actor = user.0.actor();
    Ok(Json(json!(state.store.cancel_purge(job, &actor).await?)))
}

/// Anonymisation of a snapshot's members: personal fields overwritten, the records stay.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnonymizeBody {
    snapshot_id: i64,
    batch_size: Option<u64>,
}

pub async fn anonymize(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<AnonymizeBody>,
) -> Result<impl IntoResponse, ApiError> {
    let actor = user.0.actor();
    let job = state
        .store
        .start_anonymize(body.snapshot_id, &actor, body.batch_size)
        .await?;
    state.store.run_job_in_background(job.id);
    Ok(accepted(&job))
}

/// The `changes` of a bulk update: a JSON object of field values.
fn changes(raw: Value) -> Result<serde_json::Map<String, Value>, ApiError> {
    match raw {
        Value::Object(changes) => Ok(changes),
        other => Err(ApiError::BadRequest(format!(
            "changes must be a JSON object of field values, such as {{\"legal_basis\": \"consent\"}}; got {}",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            }
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatePreviewBody {
    snapshot_id: i64,
    changes: Value,
}

/// How many of a snapshot's members a bulk update would change, after checking the changes.
pub async fn preview_update(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<UpdatePreviewBody>,
) -> Result<Json<Value>, ApiError> {
    let _pass = state.filters.enter(user.0.id)?;
    let changes = changes(body.changes)?;
    state
        .store
        .snapshot_for(body.snapshot_id, &user.0.actor())
        .await?;
    let preview = state
        .store
        .preview_update(body.snapshot_id, &changes)
        .await?;
    Ok(Json(json!(preview)))
}

/// The confirmation of a bulk update: the snapshot the preview counted, and the changes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    snapshot_id: i64,
    changes: Value,
    batch_size: Option<u64>,
}

pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let changes = changes(body.changes)?;
    let actor = user.0.actor();
    let job = state
        .store
        .start_update(body.snapshot_id, &changes, &actor, body.batch_size)
        .await?;
    state.store.run_job_in_background(job.id);
    Ok(accepted(&job))
}
