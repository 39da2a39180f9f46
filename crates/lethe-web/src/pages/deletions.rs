//! The permanent deletion console (SPEC §3, §6, after APRO's): for admins, the consolidated
//! table per entity type (records and attached-file volume: active, in the trash, pending
//! purge, held), the pending purges in red with their countdown and a Cancel button for any
//! admin, the running and finished purges with their erasure receipts (a readable page, and
//! the receipt itself as a JSON download), and whether the deletion history still verifies.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use lethe_store::{EntityStats, HistoryVerification, Job, JobKind, Stats, policy};
use serde::Deserialize;

use crate::WebState;
use crate::pages::recycle_bin::time_left_words;
use crate::pages::trash::grouped;
use crate::pages::{Frame, Problem, Section, problem_page, render, store_problem};
use crate::session::{Rejection, SignedForm, SignedIn};

/// How many running and finished purges the console lists.
const PURGES_SHOWN: u64 = 50;

/// One line of the consolidated table, in words.
struct StatsLine {
    entity: String,
    active: String,
    trashed: String,
    pending_purge: String,
    /// Whether anything of this entity is pending purge (the line is shown in red).
    pending: bool,
    held: String,
    /// "3 files, 1.2 MiB active; …", or empty when no file can be attached.
    files: String,
}

fn files_words(stats: &EntityStats) -> String {
    let Some(files) = &stats.files else {
        return String::new();
    };
    let part = |count: u64, bytes: u64, state: &str| {
        format!(
            "{} ({}) {state}",
            grouped(count),
            lethe_store::human_bytes(bytes)
        )
    };
    [
        part(files.count.active, files.bytes.active, "active"),
        part(files.count.trashed, files.bytes.trashed, "in the trash"),
        part(
            files.count.pending_purge,
            files.bytes.pending_purge,
            "pending purge",
        ),
        part(files.count.held, files.bytes.held, "held"),
    ]
    .join("; ")
}

fn stats_lines(stats: &Stats) -> Vec<StatsLine> {
    stats
        .entities
        .iter()
        .map(|line| StatsLine {
            entity: line.entity.clone(),
            active: grouped(line.records.active),
            trashed: grouped(line.records.trashed),
            pending_purge: grouped(line.records.pending_purge),
            pending: line.records.pending_purge > 0,
            held: grouped(line.records.held),
            files: files_words(line),
        })
        .collect()
}

/// A pending purge, with its time left.
struct PendingLine {
    job: Job,
    left: String,
    /// The records in the batch it erases.
    records: String,
}

/// A purge past its grace period.
struct PastLine {
    job: Job,
    /// "118 contact, 40 note erased", or what it is doing.
    outcome: String,
}

#[derive(Template)]
#[template(path = "deletions.html")]
struct ConsolePage {
    frame: Frame,
    lines: Vec<StatsLine>,
    totals: StatsLine,
    pending: Vec<PendingLine>,
    past: Vec<PastLine>,
    verification: HistoryVerification,
    /// The note after a cancel.
    cancelled: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ConsoleQuery {
    cancelled: Option<i64>,
}

fn seconds_until(state: &WebState, at: Option<&str>) -> i64 {
    at.and_then(|at| lethe_store::parse_timestamp(at).ok())
        .map_or(0, |at| (at - state.store.now()).whole_seconds().max(0))
}

fn counts_words(counts: &std::collections::BTreeMap<String, u64>) -> String {
    // Entity types the job reached but found nothing of are left out.
    counts
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(entity, count)| format!("{} {entity}", grouped(*count)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Query(query): Query<ConsoleQuery>,
) -> Result<Response, Rejection> {
    if let Err(refusal) = policy::open_deletion_console(&signed_in.actor()) {
        return Ok(problem_page(Problem::Forbidden(
            refusal.message().to_owned(),
        )));
    }
    let gathered = async {
        let stats = state.store.stats().await?;
        let pending = state.store.pending_purges().await?;
        let past = state.store.purges_past_their_grace(PURGES_SHOWN).await?;
        let verification = state.store.verify_history().await?;
        Ok::<_, lethe_store::StoreError>((stats, pending, past, verification))
    };
    let (stats, pending, past, verification) = match gathered.await {
        Ok(found) => found,
        Err(error) => return Ok(store_problem(error)),
    };
    let totals = &stats.totals;
    let page = ConsolePage {
        frame: Frame::of(&state, &signed_in, Section::Deletions).await,
        lines: stats_lines(&stats),
        totals: StatsLine {
            entity: "All entity types".to_owned(),
            active: grouped(totals.records.active),
            trashed: grouped(totals.records.trashed),
            pending_purge: grouped(totals.records.pending_purge),
            pending: totals.records.pending_purge > 0,
            held: grouped(totals.records.held),
            files: files_words(&EntityStats {
                entity: String::new(),
                records: totals.records,
                holds_files: true,
                files: Some(totals.files),
            }),
        },
        pending: pending
            .into_iter()
            .map(|job| PendingLine {
                left: time_left_words(seconds_until(&state, job.not_before.as_deref())),
                records: format!("{} {}", grouped(job.total), job.entity),
                job,
            })
            .collect(),
        past: past
            .into_iter()
            .map(|job| PastLine {
                outcome: if job.counts.values().all(|count| *count == 0) {
                    job.state.to_string()
                } else {
                    format!("{} erased", counts_words(&job.counts))
                },
                job,
            })
            .collect(),
        verification,
        cancelled: query.cancelled,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// Cancels a pending purge (any admin, as the policy says); its batch stays in the trash.
pub async fn cancel(
    State(state): State<WebState>,
    Path(job): Path<i64>,
    SignedForm { signed_in, .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    match state.store.cancel_purge(job, &signed_in.actor()).await {
        Ok(_) => Ok(Redirect::to(&format!("/deletions?cancelled={job}")).into_response()),
        Err(error) => Ok(store_problem(error)),
    }
}

/// One line of a receipt: where in it, and what it says.
struct ReceiptLine {
    what: String,
    says: String,
}

/// The receipt as lines, one per value, named by the path to it ("files: removed"), so that
/// every figure it holds is shown whatever the backend put in it.
fn receipt_lines(value: &serde_json::Value, path: &str, lines: &mut Vec<ReceiptLine>) {
    let name = |key: &str| {
        let key = key.replace('_', " ");
        if path.is_empty() {
            key
        } else {
            format!("{path}: {key}")
        }
    };
    match value {
        serde_json::Value::Object(fields) => {
            if fields.is_empty() {
                lines.push(ReceiptLine {
                    what: path.to_owned(),
                    says: "none".to_owned(),
                });
            }
            for (key, inner) in fields {
                receipt_lines(inner, &name(key), lines);
            }
        }
        serde_json::Value::Array(items) if items.iter().all(|item| !item.is_object()) => {
            lines.push(ReceiptLine {
                what: path.to_owned(),
                says: if items.is_empty() {
                    "none".to_owned()
                } else {
                    items
                        .iter()
                        .map(scalar_words)
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            });
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                receipt_lines(item, &name(&(index + 1).to_string()), lines);
            }
        }
        scalar => lines.push(ReceiptLine {
            what: path.to_owned(),
            says: scalar_words(scalar),
        }),
    }
}

fn scalar_words(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "none".to_owned(),
        serde_json::Value::Bool(true) => "yes".to_owned(),
        serde_json::Value::Bool(false) => "no".to_owned(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptPage {
    frame: Frame,
    job: Job,
    lines: Vec<ReceiptLine>,
    erased: String,
}

/// A purge job for the receipt pages: an admin's (the console's policy), and a purge.
async fn purge_job(state: &WebState, signed_in: &SignedIn, id: i64) -> Result<Job, Response> {
    let actor = signed_in.actor();
    if let Err(refusal) = policy::open_deletion_console(&actor) {
        return Err(problem_page(Problem::Forbidden(
            refusal.message().to_owned(),
        )));
    }
    let job = state
        .store
        .job_for(id, &actor)
        .await
        .map_err(store_problem)?;
    if job.kind != JobKind::Purge {
        return Err(problem_page(Problem::NotFound(format!(
            "job {id} is a {} job, not a purge: only purges have an erasure receipt",
            job.kind.as_str()
        ))));
    }
    Ok(job)
}

/// The erasure receipt as a readable page.
pub async fn receipt(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Rejection> {
    let job = match purge_job(&state, &signed_in, id).await {
        Ok(job) => job,
        Err(refused) => return Ok(refused),
    };
    let mut lines = Vec::new();
    if let Some(receipt) = &job.receipt {
        receipt_lines(receipt, "", &mut lines);
    }
    let page = ReceiptPage {
        frame: Frame::of(&state, &signed_in, Section::Deletions).await,
        erased: counts_words(&job.counts),
        lines,
        job,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The erasure receipt itself, as the JSON document Lethe wrote, to keep as proof.
pub async fn receipt_json(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Rejection> {
    let job = match purge_job(&state, &signed_in, id).await {
        Ok(job) => job,
        Err(refused) => return Ok(refused),
    };
    let Some(receipt) = &job.receipt else {
        return Ok(problem_page(Problem::Conflict(format!(
            "purge job {id} is {} and has no erasure receipt yet: a purge writes it when it ends",
            job.state
        ))));
    };
    let body = match serde_json::to_string_pretty(receipt) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, job = id, "an erasure receipt could not be written out");
            return Ok(problem_page(Problem::Internal));
        }
    };
    let disposition = format!("attachment; filename=\"lethe-purge-{id}-receipt.json\"");
    let Ok(disposition) = HeaderValue::from_str(&disposition) else {
        return Ok(problem_page(Problem::Internal));
    };
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_said_in_binary_units() {
        assert_eq!(lethe_store::human_bytes(0), "0 B");
        assert_eq!(lethe_store::human_bytes(1023), "1023 B");
        assert_eq!(lethe_store::human_bytes(1536), "1.5 KiB");
        assert_eq!(lethe_store::human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn a_receipt_becomes_one_line_per_value_named_by_its_path() {
        let receipt = serde_json::json!({
            "job": 7,
            "erased": {"contact": 2},
            "files": {"removed": 1, "missing": []},
            "database": {"tables_rewritten": ["contact", "note"], "ok": true},
        });
        let mut lines = Vec::new();
        receipt_lines(&receipt, "", &mut lines);
        let shown: Vec<(String, String)> = lines
            .into_iter()
            .map(|line| (line.what, line.says))
            .collect();
        assert!(shown.contains(&("job".to_owned(), "7".to_owned())));
        assert!(shown.contains(&("erased: contact".to_owned(), "2".to_owned())));
        assert!(shown.contains(&("files: missing".to_owned(), "none".to_owned())));
        assert!(shown.contains(&(
            "database: tables rewritten".to_owned(),
            "contact, note".to_owned()
        )));
        assert!(shown.contains(&("database: ok".to_owned(), "yes".to_owned())));
    }
}
