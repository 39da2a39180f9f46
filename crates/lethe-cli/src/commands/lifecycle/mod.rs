//! What the lifecycle commands (`lethe preview`, `trash`, `restore`, `job …`, `purge …`,
//! `anonymize`, `update`, `history`, `notifications`; SPEC §3, §5, §6, §7) share: picking
//! the records into a snapshot, asking for confirmation, running a job with a progress bar
//! and summing up what it did.
//!
//! Destructive operations show their preview and ask twice unless `--yes`; jobs run here with
//! a progress bar and can be resumed by `lethe job resume` or `lethe serve`. The commands
//! themselves are in `trash.rs` (preview, trash, restore), `jobs.rs`, `purge.rs` (purge and
//! anonymise), `update.rs` and `history.rs` (history and notifications).

mod history;
mod jobs;
mod purge;
mod trash;
mod update;

use std::io::BufRead;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use lethe_store::{Job, JobRunner, MemberPick, PickSource, Scope, Skip, Snapshot, Store};
use serde_json::json;

use super::Context;
use crate::cli::PickArgs;
use crate::output::UsageError;

pub use history::{history, notifications};
pub use jobs::job;
pub use purge::{anonymize, purge};
pub use trash::{preview, restore, trash};
pub use update::update;

/// How many skipped members a command lists.
const LISTED_SKIPS: u64 = 20;

/// Freezes the picked records into a snapshot (or takes the one given).
async fn snapshot(
    store: &Store,
    pick: &PickArgs,
    acting: &lethe_store::Actor,
    note: &str,
) -> anyhow::Result<Snapshot> {
    if let Some(id) = pick.snapshot {
        return Ok(store.snapshot_for(id, acting).await?);
    }
    let actor = acting.user_id;
    let entity = pick
        .entity
        .clone()
        .ok_or_else(|| UsageError("name the entity, or give --snapshot".to_owned()))?;
    let source = match &pick.selection {
        Some(name) => PickSource::Selection(name.clone()),
        None => PickSource::Filter(store.parse_filter(&entity, &pick.filter)?),
    };
    // Only ticked ids, when neither a filter nor a selection was given but ids were.
    let all_matching =
        pick.selection.is_some() || !pick.filter.trim().is_empty() || pick.include.is_empty();
    // Nothing said at all would mean every record: that has to be said on purpose.
    if all_matching && pick.selection.is_none() && pick.filter.trim().is_empty() && !pick.all {
        return Err(UsageError(format!(
            "no filter, selection or ids were given, which would pick every {entity}: give a filter (e.g. 'category = \"lost\"'), --include IDS, or --all to mean every {entity}"
        ))
        .into());
    }
    let member_pick = MemberPick {
        entity,
        source,
        all_matching,
        include: pick.include.clone(),
        exclude: pick.exclude.clone(),
        scope: Scope::Active,
    };
    Ok(store.create_snapshot(&member_pick, note, actor).await?)
}

/// Asks twice on the terminal (SuperOffice asks twice); `--yes` skips both questions.
fn confirm_twice(
    first: &str,
    second: &str,
    word: &str,
    yes: bool,
    json: bool,
) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if json {
        return Err(UsageError(
            "this changes data: with --json, confirm with --yes (run without --json to see the preview first)"
                .to_owned(),
        )
        .into());
    }
    let stdin = std::io::stdin();
    let mut answer = String::new();
    eprint!("{first} [y/N] ");
    stdin.lock().read_line(&mut answer)?;
    if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
        return Err(UsageError("cancelled; nothing was changed".to_owned()).into());
    }
    answer.clear();
    eprint!("{second} Type `{word}` to confirm: ");
    stdin.lock().read_line(&mut answer)?;
    if answer.trim() != word {
        return Err(UsageError("cancelled; nothing was changed".to_owned()).into());
    }
    Ok(())
}

fn progress_bar(json: bool, job: &Job) -> ProgressBar {
    if json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(job.total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:8} [{bar:30}] {pos}/{len} members · {rate} · {eta} left")
    {
        bar.set_style(
            style
                .progress_chars("=> ")
                .with_key("rate", crate::output::rate_key),
        );
    }
    bar.set_message(job.kind.as_str().to_owned());
    bar
}

/// Runs a job here with a progress bar. When another worker has it (a `lethe serve` beside
/// this command picked it up first), follows it there until it ends, and takes it over if
/// that worker stops (its lease runs out).
pub(crate) async fn run_with_progress(
    context: &Context,
    store: &Store,
    job: &Job,
) -> anyhow::Result<Job> {
    let bar = progress_bar(context.json(), job);
    let runner = JobRunner::default();
    let mut told = false;
    let result = loop {
        match store
            .run_job(job.id, &runner, &mut |job: &Job| bar.set_position(job.done))
            .await
        {
            Err(lethe_store::StoreError::JobElsewhere { message, .. }) => {
                if !told && !context.json() {
                    bar.suspend(|| eprintln!("{message}; following it there"));
                    told = true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                bar.set_position(store.job(job.id).await?.done);
            }
            other => break other,
        }
    };
    bar.finish_and_clear();
    result.with_context(|| {
        format!(
            "job {} stopped; what committed stays, and `lethe job resume {}` continues it",
            job.id, job.id
        )
    })
}

fn counts_line(job: &Job) -> String {
    let mut parts: Vec<String> = job
        .counts
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(entity, count)| format!("{entity} {count}"))
        .collect();
    if parts.is_empty() {
        parts.push("nothing".to_owned());
    }
    parts.join(", ")
}

async fn print_skips(store: &Store, job: &Job) -> anyhow::Result<Vec<serde_json::Value>> {
    let skips = store.job_skips(job.id, LISTED_SKIPS).await?;
    Ok(skips_json(&skips, &job.entity))
}

/// Skipped members as JSON, each with the message that explains it.
fn skips_json(skips: &[Skip], entity: &str) -> Vec<serde_json::Value> {
    skips
        .iter()
        .map(|skip| json!({"skip": skip, "message": skip.message(entity)}))
        .collect()
}

/// Asks once on the terminal; `--yes` skips the question.
pub(crate) fn confirm_once(question: &str, yes: bool, json: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if json {
        return Err(
            UsageError("this changes data: with --json, confirm with --yes".to_owned()).into(),
        );
    }
    let mut answer = String::new();
    eprint!("{question} [y/N] ");
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
        return Err(UsageError("cancelled; nothing was changed".to_owned()).into());
    }
    Ok(())
}
