//! A job's page (SPEC §5): a progress bar that moves while the job runs (records done, the
//! rate, the time left), updated by the script without reloading; at the end the counts per
//! entity type, what was skipped and why, and the way back — restoring the batch a trash
//! filled. A purge still in its grace period can be cancelled from here by an admin, and a
//! finished one links to its erasure receipt.

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lethe_store::{Job, JobKind, JobState, Skip, policy};
use serde::{Deserialize, Serialize};

use crate::WebState;
use crate::pages::trash::grouped;
use crate::pages::{Frame, Section, render, store_problem};
use crate::session::{Rejection, SignedForm, SignedIn};

/// How many skipped members the page lists.
const SKIPS_SHOWN: u64 = 100;

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    frame: Frame,
    job: Job,
    title: String,
    progress: Progress,
    skips: Vec<Skip>,
    /// The deletion batch a finished trash filled, which can be restored.
    undo_batch: Option<i64>,
    /// A purge still in its grace period that this person may cancel.
    may_cancel: bool,
}

/// Where a job is, in the words and numbers the page and its script show.
#[derive(Debug, Serialize)]
pub struct Progress {
    pub state: String,
    pub finished: bool,
    pub done: u64,
    pub total: u64,
    /// "1,204 of 158,416 records (0.8 %)".
    pub text: String,
    /// "2,350 records a second, about 1 minute left", or empty.
    pub pace: String,
}

fn progress(job: &Job) -> Progress {
    let percent = if job.total == 0 {
        100.0
    } else {
        job.done as f64 * 100.0 / job.total as f64
    };
    let mut pace = String::new();
    if !job.is_finished()
        && let Some(rate) = job.rate_per_second
    {
        pace = format!("{} records a second", grouped(rate.round() as u64));
        if let Some(left) = job.seconds_left {
            pace.push_str(&format!(", about {} left", duration_words(left)));
        }
    }
    Progress {
        state: job.state.to_string(),
        finished: job.is_finished(),
        done: job.done,
        total: job.total,
        text: format!(
            "{} of {} records ({percent:.1} %)",
            grouped(job.done),
            grouped(job.total)
        ),
        pace,
    }
}

/// A time left in words: "12 seconds", "3 minutes", "2 hours".
fn duration_words(seconds: f64) -> String {
    let seconds = seconds.max(0.0).round() as u64;
    match seconds {
        0..=89 => format!("{seconds} seconds"),
        90..=5399 => format!("{} minutes", seconds.div_ceil(60)),
        _ => format!("{} hours", seconds.div_ceil(3600)),
    }
}

fn title(job: &Job) -> String {
    let what = match job.kind {
        JobKind::Trash => "Moving to the trash",
        JobKind::Restore => "Restoring from the trash",
        JobKind::Purge => "Purging for good",
        JobKind::Anonymize => "Anonymising",
        JobKind::Update => "Updating",
        JobKind::Import => "Importing",
    };
    format!("{what}: {} records, job {}", job.entity, job.id)
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Rejection> {
    let job = match state.store.job_for(id, &signed_in.actor()).await {
        Ok(job) => job,
        Err(error) => return Ok(store_problem(error)),
    };
    let skips = if job.skipped + job.blocked > 0 {
        state
            .store
            .job_skips(id, SKIPS_SHOWN)
            .await
            .map_err(Rejection::Store)?
    } else {
        Vec::new()
    };
    let undo_batch = match (job.kind, job.state, job.batch_id) {
        (JobKind::Trash, JobState::Done, Some(batch)) => Some(batch),
        _ => None,
    };
    let may_cancel = job.kind == JobKind::Purge
        && job.state == JobState::Pending
        && policy::cancel_purge(&signed_in.actor()).is_ok();
    let page = JobPage {
        frame: Frame::of(&state, &signed_in, Section::Records).await,
        may_cancel,
        title: title(&job),
        progress: progress(&job),
        skips,
        undo_batch,
        job,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The job's progress, for the page's script to move the bar.
pub async fn status(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Response {
    match state.store.job_for(id, &signed_in.actor()).await {
        Ok(job) => Json(progress(&job)).into_response(),
        Err(error) => store_problem(error),
    }
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// Restores a whole deletion batch (the undo of a trash), as far as the policy lets this
/// person: the one who trashed it, the records' creators, an admin.
pub async fn restore_batch(
    State(state): State<WebState>,
    Path(batch): Path<i64>,
    SignedForm { signed_in, .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    Ok(super::job_started(
        &state,
        state
            .store
            .start_restore(batch, None, &signed_in.actor(), None)
            .await,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_is_said_in_the_largest_sensible_unit() {
        assert_eq!(duration_words(12.4), "12 seconds");
        assert_eq!(duration_words(150.0), "3 minutes");
        assert_eq!(duration_words(7_300.0), "3 hours");
        assert_eq!(duration_words(-1.0), "0 seconds");
    }
}
