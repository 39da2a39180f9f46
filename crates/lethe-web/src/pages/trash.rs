//! Moving a snapshot's members to the trash, asked twice (SPEC §5, after SuperOffice): the
//! preview says per entity type what would move (the members, then the children that go
//! with them) and which members a rule blocks, and why; a second page makes the person type
//! the number of records and says on its button exactly what will happen. What is confirmed
//! is the snapshot the preview counted.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use lethe_store::{Preview, Skip, Snapshot, policy};
use serde::Deserialize;

use crate::WebState;
use crate::pages::{Frame, Section, render, store_problem};
use crate::session::{Rejection, SignedForm, SignedIn};

/// "2,104,312": a count as people read it.
pub fn grouped(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The records an operation reaches, in words: "158,416 contact records and 2,104,312
/// related records" — the members it acts on (the preview's first count), then everything
/// that goes with them.
pub fn what_it_reaches(preview: &Preview) -> String {
    let members = preview.acted_on.first().map_or(0, |count| count.records);
    let related: u64 = preview
        .acted_on
        .iter()
        .skip(1)
        .map(|count| count.records)
        .sum();
    let records = |count: u64| if count == 1 { "record" } else { "records" };
    let mut words = format!(
        "{} {} {}",
        grouped(members),
        preview.entity,
        records(members)
    );
    if related > 0 {
        words.push_str(&format!(
            " and {} related {}",
            grouped(related),
            records(related)
        ));
    }
    words
}

#[derive(Template)]
#[template(path = "trash_preview.html")]
struct PreviewPage {
    frame: Frame,
    snapshot: Snapshot,
    preview: Preview,
    /// Why this person may not go on, if they may not.
    refusal: Option<String>,
    what_moves: String,
    blocked: Vec<Skip>,
}

#[derive(Template)]
#[template(path = "trash_confirm.html")]
struct ConfirmPage {
    frame: Frame,
    snapshot: Snapshot,
    what_moves: String,
    /// The number to type, as digits.
    expected: u64,
    typed: String,
    typed_error: Option<String>,
    reason: String,
}

async fn gather(
    state: &WebState,
    signed_in: &SignedIn,
    id: i64,
) -> Result<(Snapshot, Preview), lethe_store::StoreError> {
    let snapshot = state.store.snapshot_for(id, &signed_in.actor()).await?;
    let preview = state.store.preview_trash(id).await?;
    Ok((snapshot, preview))
}

/// The first step: what would move to the trash, and what is blocked.
pub async fn preview(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Rejection> {
    let (snapshot, preview) = match gather(&state, &signed_in, id).await {
        Ok(found) => found,
        Err(error) => return Ok(store_problem(error)),
    };
    let refusal = policy::bulk(
        &signed_in.actor(),
        snapshot.member_count,
        "trashing",
        "a mass delete",
    )
    .err()
    .map(|refusal| refusal.message().to_owned());
    let page = PreviewPage {
        frame: Frame::of(&state, &signed_in, Section::Records).await,
        what_moves: what_it_reaches(&preview),
        blocked: preview.blocked_sample.clone(),
        snapshot,
        preview,
        refusal,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The second step: type the number of records to confirm.
pub async fn confirm(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Rejection> {
    let (snapshot, preview) = match gather(&state, &signed_in, id).await {
        Ok(found) => found,
        Err(error) => return Ok(store_problem(error)),
    };
    let page = ConfirmPage {
        frame: Frame::of(&state, &signed_in, Section::Records).await,
        what_moves: what_it_reaches(&preview),
        expected: snapshot.member_count,
        snapshot,
        typed: String::new(),
        typed_error: None,
        reason: String::new(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub struct ConfirmFields {
    #[serde(default)]
    typed: String,
    #[serde(default)]
    reason: String,
}

/// The number as typed, with the separators people type ("158,416", "158 416") left out.
pub fn typed_number(typed: &str) -> Option<u64> {
    let digits: String = typed
        .chars()
        .filter(|character| !matches!(character, ',' | '.' | ' ' | '\u{a0}' | '\''))
        .collect();
    digits.parse().ok()
}

/// Starts the trash job for the snapshot when the number typed is its member count, and
/// leads to the job's page.
pub async fn submit(
    State(state): State<WebState>,
    Path(id): Path<i64>,
    SignedForm { signed_in, form }: SignedForm<ConfirmFields>,
) -> Result<Response, Rejection> {
    let (snapshot, preview) = match gather(&state, &signed_in, id).await {
        Ok(found) => found,
        Err(error) => return Ok(store_problem(error)),
    };
    if typed_number(&form.typed) != Some(snapshot.member_count) {
        let page = ConfirmPage {
            frame: Frame::of(&state, &signed_in, Section::Records).await,
            what_moves: what_it_reaches(&preview),
            expected: snapshot.member_count,
            typed_error: Some(format!(
                "Type {} — the number of {} records picked — to confirm. Nothing was moved.",
                snapshot.member_count, snapshot.entity
            )),
            snapshot,
            typed: form.typed,
            reason: form.reason,
        };
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let reason = Some(form.reason.trim()).filter(|reason| !reason.is_empty());
    Ok(super::job_started(
        &state,
        state
            .store
            .start_trash(id, reason, &signed_in.actor(), None)
            .await,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(158_416), "158,416");
        assert_eq!(grouped(2_104_312), "2,104,312");
    }

    #[test]
    fn a_typed_number_may_carry_separators_but_nothing_else() {
        assert_eq!(typed_number("158416"), Some(158_416));
        assert_eq!(typed_number("158,416"), Some(158_416));
        assert_eq!(typed_number(" 158 416 "), Some(158_416));
        assert_eq!(typed_number("158416 contacts"), None);
        assert_eq!(typed_number(""), None);
        assert_eq!(typed_number("-3"), None);
    }
}
