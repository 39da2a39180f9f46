//! The recycle bin (SPEC §3, after SuperOffice's and APRO's): the deletion batches still in
//! the trash that the signed-in person may see — their own, or everyone's for an admin —
//! with who trashed them, when, why, what they hold, a pending purge in red with its time
//! left, and the time left before the retention window purges them. From a row a batch is
//! restored, or, for an admin, its permanent deletion is requested in two steps (as the
//! helpdesk's "delete forever" and APRO's console ask): a preview of what is erased and
//! rewritten per entity type, then a confirmation where the admin types the word `purge`,
//! chooses the grace period, and the button says what will happen.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lethe_store::{DeletionBatch, Preview, RecycleBinEntry, Skip, StoreError, policy};
use serde::Deserialize;

use crate::WebState;
use crate::pages::trash::grouped;
use crate::pages::{Frame, Problem, Section, problem_page, render, store_problem};
use crate::session::{Rejection, SignedForm, SignedIn};

/// Batches per page of the recycle bin.
const PAGE_SIZE: u64 = 50;

/// The word an admin types to confirm a purge. A word rather than the number of records:
/// the number is on the button already, and a purge of one record deserves as much care.
const CONFIRMATION_WORD: &str = "purge";

/// The longest grace period the form takes, in days (the store's own limit, `MAX_GRACE`).
fn max_grace_days() -> i64 {
    lethe_store::MAX_GRACE.whole_days()
}

/// A span of time in words, to the nearest sensible unit: "6 days 23 hours", "5 minutes".
pub fn time_left_words(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let plural = |count: i64, unit: &str| {
        if count == 1 {
            format!("1 {unit}")
        } else {
            format!("{count} {unit}s")
        }
    };
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => "less than a minute".to_owned(),
        (0, 0, minutes) => plural(minutes, "minute"),
        (0, hours, minutes) => format!("{} {}", plural(hours, "hour"), plural(minutes, "minute")),
        (days, 0, _) => plural(days, "day"),
        (days, hours, _) => format!("{} {}", plural(days, "day"), plural(hours, "hour")),
    }
}

/// A row of the recycle bin, as the page shows it.
struct BinRow {
    entry: RecycleBinEntry,
    /// "118 contact, 40 note".
    contents: String,
    /// The pending purge's time left in words, when one is pending.
    purge_left: Option<String>,
    /// The retention window's time left in words (none for a held batch).
    auto_purge_left: Option<String>,
    /// Words for the state.
    state: &'static str,
}

fn state_words(state: lethe_store::BatchState) -> &'static str {
    match state {
        lethe_store::BatchState::Trashing => "being moved to the trash",
        lethe_store::BatchState::Trashed => "in the trash",
        lethe_store::BatchState::PurgePending => "purge pending",
        lethe_store::BatchState::Held => "held by a rule",
        lethe_store::BatchState::Purged => "purged",
        lethe_store::BatchState::Restored => "restored",
    }
}

fn bin_row(entry: RecycleBinEntry) -> BinRow {
    // The members' own entity first, then what went with them.
    let own = entry.batch.entity.clone().unwrap_or_default();
    // Entity types the trash reached but found nothing of are left out.
    let mut parts: Vec<String> = entry
        .trashed
        .get(&own)
        .filter(|count| **count > 0)
        .map(|count| format!("{} {own}", grouped(*count)))
        .into_iter()
        .collect();
    parts.extend(
        entry
            .trashed
            .iter()
            .filter(|(entity, count)| **entity != own && **count > 0)
            .map(|(entity, count)| format!("{} {entity}", grouped(*count))),
    );
    BinRow {
        contents: if parts.is_empty() {
            "nothing counted yet".to_owned()
        } else {
            parts.join(", ")
        },
        purge_left: entry
            .pending_purge
            .as_ref()
            .map(|purge| time_left_words(purge.seconds_left)),
        auto_purge_left: entry.seconds_until_auto_purge.map(time_left_words),
        state: state_words(entry.batch.state),
        entry,
    }
}

#[derive(Template)]
#[template(path = "recycle_bin.html")]
struct RecycleBinPage {
    frame: Frame,
    rows: Vec<BinRow>,
    /// Whether this person may request purges (the policy says: admins).
    may_purge: bool,
    retention_days: i64,
    next_page: Option<String>,
    first_page: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct BinQuery {
    before: Option<String>,
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Query(query): Query<BinQuery>,
) -> Result<Response, Rejection> {
    let before = match query.before.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(before) => Some(before),
            Err(_) => {
                return Ok(problem_page(Problem::BadForm(format!(
                    "`{raw}` is not a deletion batch number; follow the links at the bottom of the recycle bin to page through it"
                ))));
            }
        },
    };
    let actor = signed_in.actor();
    let page = match state.store.recycle_bin(&actor, before, PAGE_SIZE).await {
        Ok(page) => page,
        Err(error) => return Ok(store_problem(error)),
    };
    let page = RecycleBinPage {
        frame: Frame::of(&state, &signed_in, Section::RecycleBin).await,
        rows: page.entries.into_iter().map(bin_row).collect(),
        may_purge: policy::request_purge(&actor).is_ok(),
        retention_days: state.store.settings().retention.whole_days(),
        next_page: page
            .next_before
            .map(|before| format!("/recycle-bin?before={before}")),
        first_page: before.map(|_| "/recycle-bin".to_owned()),
    };
    Ok(render(StatusCode::OK, &page))
}

/// When, in words, for the button: "now" or "after 7 days".
fn when_words(grace_days: i64) -> String {
    match grace_days {
        0 => "now".to_owned(),
        1 => "after 1 day".to_owned(),
        days => format!("after {days} days"),
    }
}

#[derive(Template)]
#[template(path = "purge_preview.html")]
struct PurgePreviewPage {
    frame: Frame,
    batch: DeletionBatch,
    preview: Preview,
    what: String,
    blocked: Vec<Skip>,
}

#[derive(Template)]
#[template(path = "purge_confirm.html")]
struct PurgeConfirmPage {
    frame: Frame,
    batch: DeletionBatch,
    what: String,
    word: &'static str,
    typed: String,
    typed_error: Option<String>,
    grace_days: String,
    grace_error: Option<String>,
    /// The grace the form starts with, in words ("7 days").
    default_grace: String,
    minimum_grace: String,
    max_grace_days: i64,
    reason: String,
    /// What the button says for the grace in the form.
    button: String,
}

/// The batch and what its purge would do, for an admin; the policy's refusal for others.
async fn gather(
    state: &WebState,
    signed_in: &SignedIn,
    id: i64,
) -> Result<(DeletionBatch, Preview), Response> {
    if let Err(refusal) = policy::preview_purge(&signed_in.actor()) {
        return Err(problem_page(Problem::Forbidden(
            refusal.message().to_owned(),
        )));
    }
    let batch = state
        .store
        .deletion_batch(id)
        .await
        .map_err(store_problem)?;
    let preview = state.store.preview_purge(id).await.map_err(store_problem)?;
    Ok((batch, preview))
}

/// The first step: what is erased for good, per entity type, and what is kept but rewritten.
pub async fn purge_preview(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Rejection> {
    let (batch, preview) = match gather(&state, &signed_in, id).await {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    let page = PurgePreviewPage {
        frame: Frame::of(&state, &signed_in, Section::RecycleBin).await,
        what: crate::pages::trash::what_it_reaches(&preview),
        blocked: preview.blocked_sample.clone(),
        batch,
        preview,
    };
    Ok(render(StatusCode::OK, &page))
}

/// A grace period in words: "7 days", "0 seconds (an urgent erasure)", "12 hours".
fn grace_words(grace: time::Duration) -> String {
    let seconds = grace.whole_seconds();
    if seconds == 0 {
        "none (an urgent erasure)".to_owned()
    } else if seconds % 86_400 == 0 {
        when_words(seconds / 86_400)
            .trim_start_matches("after ")
            .to_owned()
    } else {
        time_left_words(seconds)
    }
}

/// The configured default grace as whole days for the form, when it is whole days.
fn default_grace_days(state: &WebState) -> String {
    let grace = state.store.settings().default_grace;
    if grace.whole_seconds() % 86_400 == 0 {
        grace.whole_days().to_string()
    } else {
        String::new()
    }
}

fn confirm_page(
    state: &WebState,
    frame: Frame,
    batch: DeletionBatch,
    preview: &Preview,
    fields: PurgeFields,
) -> PurgeConfirmPage {
    let settings = state.store.settings();
    let what = crate::pages::trash::what_it_reaches(preview);
    let days = parse_grace_days(&fields.grace_days).ok().flatten();
    let button = match days {
        Some(days) => format!("Erase {what} for good {}", when_words(days)),
        None => format!(
            "Erase {what} for good after {}",
            grace_words(settings.default_grace)
        ),
    };
    PurgeConfirmPage {
        frame,
        batch,
        what,
        word: CONFIRMATION_WORD,
        typed: fields.typed,
        typed_error: None,
        grace_days: fields.grace_days,
        grace_error: None,
        default_grace: grace_words(settings.default_grace),
        minimum_grace: grace_words(settings.minimum_grace),
        max_grace_days: max_grace_days(),
        reason: fields.reason,
        button,
    }
}

/// The second step: type the word, choose the grace period.
pub async fn purge_confirm(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Rejection> {
    let (batch, preview) = match gather(&state, &signed_in, id).await {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    let frame = Frame::of(&state, &signed_in, Section::RecycleBin).await;
    let fields = PurgeFields {
        typed: String::new(),
        grace_days: default_grace_days(&state),
        reason: String::new(),
    };
    let page = confirm_page(&state, frame, batch, &preview, fields);
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub struct PurgeFields {
    #[serde(default)]
    typed: String,
    #[serde(default)]
    grace_days: String,
    #[serde(default)]
    reason: String,
}

/// The grace period as typed: empty for the configured default, else whole days.
fn parse_grace_days(raw: &str) -> Result<Option<i64>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<i64>() {
        Ok(days) if (0..=max_grace_days()).contains(&days) => Ok(Some(days)),
        _ => Err(format!(
            "Type the grace period as a whole number of days from 0 (erase now) to {}; `{raw}` is not one. Nothing was requested.",
            max_grace_days()
        )),
    }
}

/// Requests the purge when the word is typed and the grace is one the policy allows, and
/// leads to the purge's job page (running at once for a grace of 0).
pub async fn purge_submit(
    State(state): State<WebState>,
    Path(id): Path<i64>,
    SignedForm { signed_in, form }: SignedForm<PurgeFields>,
) -> Result<Response, Rejection> {
    let actor = signed_in.actor();
    // A user hears "admins only" before anything about what they typed.
    if let Err(refusal) = policy::request_purge(&actor) {
        return Ok(problem_page(Problem::Forbidden(
            refusal.message().to_owned(),
        )));
    }
    let (batch, preview) = match gather(&state, &signed_in, id).await {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    let typed_right = form.typed.trim().eq_ignore_ascii_case(CONFIRMATION_WORD);
    let grace = parse_grace_days(&form.grace_days);
    if !typed_right || grace.is_err() {
        let grace_error = grace.as_ref().err().cloned();
        let frame = Frame::of(&state, &signed_in, Section::RecycleBin).await;
        let mut page = confirm_page(&state, frame, batch, &preview, form);
        if !typed_right {
            page.typed_error = Some(format!(
                "Type the word {CONFIRMATION_WORD} to confirm. Nothing was requested."
            ));
        }
        page.grace_error = grace_error;
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let grace = grace.ok().flatten().map(time::Duration::days);
    let reason = Some(form.reason.trim()).filter(|reason| !reason.is_empty());
    // The pages keep the configured minimum grace, as the API does; only the operator's
    // command line may go below it.
    match state
        .store
        .request_purge(id, &actor, grace, true, reason, None)
        .await
    {
        Ok(job) => {
            if grace.is_some_and(|grace| grace.is_zero()) {
                state.store.run_job_in_background(job.id);
            }
            Ok(Redirect::to(&format!("/jobs/{}", job.id)).into_response())
        }
        Err(StoreError::InvalidOption {
            option: "grace",
            message,
        }) => {
            let frame = Frame::of(&state, &signed_in, Section::RecycleBin).await;
            let mut page = confirm_page(&state, frame, batch, &preview, form);
            page.grace_error = Some(format!("{message}. Nothing was requested."));
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(error) => Ok(store_problem(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_is_said_in_two_units_at_most() {
        assert_eq!(time_left_words(0), "less than a minute");
        assert_eq!(time_left_words(-5), "less than a minute");
        assert_eq!(time_left_words(61), "1 minute");
        assert_eq!(time_left_words(3_600 * 5 + 120), "5 hours 2 minutes");
        assert_eq!(time_left_words(7 * 86_400), "7 days");
        assert_eq!(
            time_left_words(6 * 86_400 + 23 * 3_600 + 59),
            "6 days 23 hours"
        );
        assert_eq!(time_left_words(86_400 + 3_600), "1 day 1 hour");
    }

    #[test]
    fn the_grace_is_whole_days_within_the_limit_or_empty_for_the_default() {
        assert_eq!(parse_grace_days(""), Ok(None));
        assert_eq!(parse_grace_days(" 0 "), Ok(Some(0)));
        assert_eq!(parse_grace_days("7"), Ok(Some(7)));
        assert!(parse_grace_days("-1").is_err());
        assert!(parse_grace_days("1.5").is_err());
        assert!(parse_grace_days("seven").is_err());
        assert!(parse_grace_days("99999").is_err());
    }

    #[test]
    fn the_button_says_when() {
        assert_eq!(when_words(0), "now");
        assert_eq!(when_words(1), "after 1 day");
        assert_eq!(when_words(7), "after 7 days");
        assert_eq!(grace_words(time::Duration::days(7)), "7 days");
        assert_eq!(
            grace_words(time::Duration::ZERO),
            "none (an urgent erasure)"
        );
    }
}
