//! The deletion history for admins (SPEC §6): every operation, who did it and when, newest
//! first, narrowed by who, what and when. Entries hold counts and reasons, never personal
//! data of erased records, so the page shows them as they are.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lethe_store::{HistoryEntry, HistoryFilter, policy};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use crate::WebState;
use crate::pages::{Frame, Problem, Section, problem_page, render};
use crate::session::{Rejection, SignedIn};

const PAGE_SIZE: u64 = 100;

#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    before: Option<i64>,
}

struct Line {
    entry: HistoryEntry,
    details: String,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    frame: Frame,
    query: HistoryQuery,
    since_error: Option<String>,
    until_error: Option<String>,
    lines: Vec<Line>,
    older: Option<String>,
}

/// A day typed in the form: its first instant (UTC), or what is wrong with it.
fn day(typed: &str, field: &str) -> Result<Option<OffsetDateTime>, String> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    lethe_store::parse_date(typed)
        .map(|date| Some(date.midnight().assume_utc()))
        .map_err(|_| format!("Write the {field} day as YYYY-MM-DD, e.g. 2026-05-02."))
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, Rejection> {
    if let Err(refusal) = policy::read_history(&signed_in.actor()) {
        return Ok(problem_page(Problem::Forbidden(
            refusal.message().to_owned(),
        )));
    }
    let since = day(&query.since, "first");
    let until = day(&query.until, "last");
    let (since_error, until_error) = (since.clone().err(), until.clone().err());
    let mut lines = Vec::new();
    let mut older = None;
    if since_error.is_none() && until_error.is_none() {
        let filter = HistoryFilter {
            actor: Some(query.actor.trim().to_owned()).filter(|actor| !actor.is_empty()),
            action: Some(query.action.trim().to_owned()).filter(|action| !action.is_empty()),
            since: since.ok().flatten(),
            // The last day counts whole.
            until: until.ok().flatten().map(|day| day + Duration::DAY),
        };
        let entries = state
            .store
            .history_search(query.before, PAGE_SIZE, &filter)
            .await
            .map_err(Rejection::Store)?;
        if entries.len() as u64 == PAGE_SIZE {
            older = entries.last().map(|last| {
                let pairs = [
                    ("actor", query.actor.as_str()),
                    ("action", query.action.as_str()),
                    ("since", query.since.as_str()),
                    ("until", query.until.as_str()),
                    ("before", &last.id.to_string()),
                ];
                format!(
                    "/history?{}",
                    serde_html_form::to_string(pairs).unwrap_or_default()
                )
            });
        }
        lines = entries
            .into_iter()
            .map(|entry| Line {
                details: entry.details.to_string(),
                entry,
            })
            .collect();
    }
    let status = if since_error.is_some() || until_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = HistoryPage {
        frame: Frame::of(&state, &signed_in, Section::History).await,
        query,
        since_error,
        until_error,
        lines,
        older,
    };
    Ok(render(status, &page))
}
