//! `lethe preview`, `trash`, `restore`, `job …`, `history`, `notifications` (SPEC §3, §5,
//! §6, §7). Destructive operations show their preview and ask twice unless `--yes`; jobs
//! run here with a progress bar and can be resumed by `lethe job resume` or `lethe serve`.

use std::io::BufRead;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use lethe_store::{Job, JobRunner, MemberPick, PickSource, Preview, Scope, Snapshot, Store};
use serde_json::json;

use super::Context;
use crate::cli::{
    AnonymizeArgs, BulkUpdateArgs, HistoryArgs, JobCommand, NotificationArgs, PickArgs,
    PurgeCommand, RestoreArgs, TrashArgs,
};
use crate::output::{UsageError, print_json};

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

fn print_preview(preview: &Preview, snapshot: &Snapshot) {
    println!(
        "Trash {}: {} member(s) picked ({}), snapshot {}.",
        preview.entity, preview.members, snapshot.source, preview.snapshot_id
    );
    for count in &preview.acted_on {
        println!("  {:<22} {:>10}", count.entity, count.records);
    }
    if preview.not_applicable > 0 {
        println!(
            "  {} member(s) are already in the trash or gone and will be skipped.",
            preview.not_applicable
        );
    }
    if preview.blocked > 0 {
        println!(
            "  {} member(s) are blocked and will be skipped, for example:",
            preview.blocked
        );
        for skip in &preview.blocked_sample {
            println!("    {}", skip.message(&preview.entity));
        }
    }
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

/// Runs a job here with a progress bar.
async fn run_with_progress(context: &Context, store: &Store, job: &Job) -> anyhow::Result<Job> {
    let bar = progress_bar(context.json(), job);
    let runner = JobRunner::default();
    let result = store
        .run_job(job.id, &runner, &mut |job: &Job| bar.set_position(job.done))
        .await;
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
    Ok(skips
        .iter()
        .map(|skip| json!({"skip": skip, "message": skip.message(&job.entity)}))
        .collect())
}

pub async fn preview(context: &Context, pick: PickArgs) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    let snapshot = snapshot(&store, &pick, &actor, "preview").await?;
    let preview = store.preview_trash(snapshot.id).await?;
    store
        .record_history(
            &actor,
            "trash.previewed",
            Some(&preview.entity),
            json!({
                "snapshot": snapshot.id,
                "source": snapshot.source,
                "members": preview.members,
                "blocked": preview.blocked,
                "counts": preview.acted_on.iter().map(|c| (c.entity.clone(), c.records)).collect::<std::collections::BTreeMap<_, _>>(),
            }),
        )
        .await?;
    if context.json() {
        print_json(&json!({"preview": preview, "snapshot": snapshot}));
    } else {
        print_preview(&preview, &snapshot);
        println!(
            "To trash exactly these: lethe trash --snapshot {} --reason '...'",
            snapshot.id
        );
    }
    Ok(())
}

pub async fn trash(context: &Context, args: TrashArgs) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    let snapshot = snapshot(&store, &args.pick, &actor, "trash").await?;
    let preview = store.preview_trash(snapshot.id).await?;
    if !context.json() {
        print_preview(&preview, &snapshot);
    }
    let records: u64 = preview.acted_on.iter().map(|count| count.records).sum();
    if preview.members == 0 {
        if context.json() {
            print_json(&json!({"preview": preview, "job": null}));
        } else {
            println!("Nothing to trash: no record matches.");
        }
        return Ok(());
    }
    // When every member is blocked nothing moves, so there is nothing to confirm; the job
    // still runs, so the blocked members and their reasons are on record.
    if records > 0 {
        confirm_twice(
            &format!("Move {records} record(s) to the trash?"),
            "They stay restorable until they are purged.",
            "trash",
            args.yes,
            context.json(),
        )?;
    }
    let job = store
        .start_trash(snapshot.id, args.reason.as_deref(), &actor, args.batch_size)
        .await?;
    let job = run_with_progress(context, &store, &job).await?;
    let skips = print_skips(&store, &job).await?;
    let batch = job.batch_id.unwrap_or(0);
    if context.json() {
        print_json(&json!({"preview": preview, "job": job, "skips": skips}));
    } else {
        println!(
            "Trashed into deletion batch {batch}: {}; {} blocked, {} skipped (changed since the preview).",
            counts_line(&job),
            job.blocked,
            job.skipped
        );
        for skip in &skips {
            println!("  {}", skip["message"].as_str().unwrap_or_default());
        }
        println!("Undo with: lethe restore {batch}");
    }
    Ok(())
}

/// The batches to restore before `batch`, parents' parents first, each once.
async fn batches_before(store: &Store, batch: i64) -> anyhow::Result<Vec<i64>> {
    let mut order: Vec<i64> = Vec::new();
    let mut stack = vec![(batch, false)];
    while let Some((current, expanded)) = stack.pop() {
        if expanded {
            if current != batch && !order.contains(&current) {
                order.push(current);
            }
            continue;
        }
        if order.len() > 1_000 {
            return Err(UsageError(
                "more than 1000 parent batches; restore them one by one".to_owned(),
            )
            .into());
        }
        stack.push((current, true));
        for parent in store.parent_batches(current).await? {
            if !order.contains(&parent) && parent != batch {
                stack.push((parent, false));
            }
        }
    }
    Ok(order)
}

pub async fn restore(context: &Context, args: RestoreArgs) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    let mut parents_restored = Vec::new();
    if args.with_parents {
        for parent in batches_before(&store, args.batch).await? {
            let job = store
                .start_restore(parent, None, &actor, args.batch_size)
                .await?;
            let job = run_with_progress(context, &store, &job).await?;
            if !context.json() {
                println!(
                    "Restored parent deletion batch {parent}: {}.",
                    counts_line(&job)
                );
            }
            parents_restored.push(json!({"batch": parent, "job": job}));
        }
    }
    let job = store
        .start_restore(args.batch, args.ids.as_deref(), &actor, args.batch_size)
        .await?;
    let job = run_with_progress(context, &store, &job).await?;
    let skips = print_skips(&store, &job).await?;
    if context.json() {
        print_json(&json!({"job": job, "skips": skips, "parents": parents_restored}));
    } else {
        println!(
            "Restored from deletion batch {}: {}; {} not restored (blocked), {} no longer in the batch.",
            args.batch,
            counts_line(&job),
            job.blocked,
            job.skipped
        );
        for skip in &skips {
            println!("  {}", skip["message"].as_str().unwrap_or_default());
        }
    }
    Ok(())
}

fn job_line(job: &Job) -> String {
    format!(
        "job {:>5}  {:<8} {:<8} {:<12} {}/{} members  batch {}  {}",
        job.id,
        job.kind.as_str(),
        job.state,
        job.entity,
        job.done,
        job.total,
        job.batch_id
            .map_or_else(|| "-".to_owned(), |b| b.to_string()),
        job.created_at
    )
}

pub async fn job(context: &Context, command: JobCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    match command {
        JobCommand::List { limit } => {
            let jobs = store
                .jobs_for(limit, &context.acting(&store).await?)
                .await?;
            if context.json() {
                print_json(&json!({"jobs": jobs}));
            } else if jobs.is_empty() {
                println!("No jobs yet.");
            } else {
                for job in &jobs {
                    println!("{}", job_line(job));
                }
            }
        }
        JobCommand::Show { id, skips } => {
            let job = store.job_for(id, &context.acting(&store).await?).await?;
            let listed = store.job_skips(id, skips.max(1)).await?;
            if context.json() {
                let listed: Vec<serde_json::Value> = listed
                    .iter()
                    .map(|skip| json!({"skip": skip, "message": skip.message(&job.entity)}))
                    .collect();
                print_json(&json!({"job": job, "skips": listed}));
            } else {
                println!("{}", job_line(&job));
                println!("  from: {}", job.source);
                println!("  by: {}", job.actor);
                if let Some(reason) = &job.reason {
                    println!("  reason: {reason}");
                }
                println!("  changed: {}", counts_line(&job));
                println!("  blocked: {}, skipped: {}", job.blocked, job.skipped);
                if let Some(rate) = job.rate_per_second {
                    println!("  rate: {rate:.0} members/s");
                }
                if let Some(left) = job.seconds_left {
                    println!("  time left: about {left:.0} s");
                }
                if let Some(error) = &job.error {
                    println!("  error: {error}");
                }
                for skip in &listed {
                    println!("  {}", skip.message(&job.entity));
                }
            }
        }
        JobCommand::Resume { id } => {
            let finished = match id {
                Some(id) => {
                    let actor = context.acting(&store).await?;
                    let job = store.resume_job(id, &actor).await?;
                    let job = run_with_progress(context, &store, &job).await?;
                    usize::from(job.is_finished())
                }
                None => store.run_runnable_jobs(&JobRunner::default()).await?,
            };
            if context.json() {
                print_json(&json!({"finished": finished}));
            } else {
                println!("{finished} job(s) finished.");
            }
        }
    }
    Ok(())
}

pub async fn history(context: &Context, args: HistoryArgs) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    lethe_store::policy::read_history(&actor).map_err(lethe_store::StoreError::from)?;
    if args.verify {
        let verification = store.verify_history().await?;
        if context.json() {
            print_json(&json!({"verification": verification}));
        } else if let Some(problem) = &verification.first_problem {
            if problem.id > 0 {
                println!(
                    "The history is NOT intact: entry {} — {}.",
                    problem.id, problem.problem
                );
            } else {
                println!("The history is NOT intact: {}.", problem.problem);
            }
        } else {
            println!(
                "The history is intact: {} entries, the last is number {} with seal {} (key {}).",
                verification.entries,
                verification.head_seq,
                verification.head,
                verification.key_fingerprint
            );
            match &verification.anchor_file {
                Some(file) => println!(
                    "{} head(s) written down in {file} match the history.",
                    verification.anchored_heads
                ),
                None => println!(
                    "No anchor file is set (LETHE_HISTORY_ANCHOR): removing the newest entries is only caught by the heads in erasure receipts."
                ),
            }
        }
        if !verification.is_intact() {
            return Err(UsageError("the history has been tampered with".to_owned()).into());
        }
        return Ok(());
    }
    let newest_first = !args.oldest_first && args.after.is_none();
    let entries = if newest_first {
        store.history_newest_first(args.before, args.limit).await?
    } else {
        store.history(args.after, args.limit).await?
    };
    if context.json() {
        print_json(&json!({"entries": entries}));
    } else if entries.is_empty() {
        println!("No history entries.");
    } else {
        for entry in &entries {
            println!(
                "{:>6}  {}  {:<10} {:<18} {:<12} {}",
                entry.id,
                entry.at,
                entry.actor_name,
                entry.action,
                entry.entity.as_deref().unwrap_or("-"),
                entry.details
            );
        }
        if let Some(last) = entries.last() {
            if newest_first {
                eprintln!("older: --before {}", last.id);
            } else {
                eprintln!("more: --after {}", last.id);
            }
        }
    }
    Ok(())
}

pub async fn notifications(context: &Context, args: NotificationArgs) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    let Some(user) = actor.user_id else {
        return Err(UsageError("notifications belong to a user: give --as USER".to_owned()).into());
    };
    let listed = store.notifications(user, args.unread, args.limit).await?;
    if args.mark_read
        && let Some(newest) = listed.first()
    {
        store.mark_notifications_read(user, newest.id).await?;
    }
    if context.json() {
        print_json(&json!({"notifications": listed}));
    } else if listed.is_empty() {
        println!("No notifications.");
    } else {
        for notification in &listed {
            println!(
                "{} {} {:<16} {}",
                if notification.read { " " } else { "*" },
                notification.at,
                notification.kind,
                notification.message
            );
        }
    }
    Ok(())
}

fn purge_line(job: &Job) -> String {
    format!(
        "purge job {:>5}  batch {}  {} {}  {}  by {}",
        job.id,
        job.batch_id
            .map_or_else(|| "-".to_owned(), |b| b.to_string()),
        job.total,
        job.entity,
        match job.state {
            lethe_store::JobState::Pending =>
                format!("pending until {}", job.not_before.as_deref().unwrap_or("?")),
            other => other.to_string(),
        },
        job.actor
    )
}

pub async fn purge(context: &Context, command: PurgeCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    match command {
        PurgeCommand::Request {
            batch,
            grace,
            reason,
            yes,
            batch_size,
        } => {
            let grace = grace
                .as_deref()
                .map(super::parse_duration)
                .transpose()
                .map_err(|message| UsageError(format!("--grace: {message}")))?;
            let deletion_batch = store.deletion_batch(batch).await?;
            let urgent = grace.is_some_and(|grace| grace.is_zero());
            let preview = store.preview_purge(batch).await?;
            if !context.json() {
                println!(
                    "Purge deletion batch {batch}: {} {} in it now.",
                    preview.members, preview.entity
                );
                for count in &preview.acted_on {
                    println!("  erase   {:<22} {:>10}", count.entity, count.records);
                }
                for count in &preview.rewritten {
                    println!("  rewrite {:<22} {:>10}", count.entity, count.records);
                }
                if preview.blocked > 0 {
                    println!(
                        "  {} member(s) are kept in the trash by a rule, for example:",
                        preview.blocked
                    );
                    for skip in &preview.blocked_sample {
                        println!("    {}", skip.message(&preview.entity));
                    }
                }
            }
            confirm_twice(
                &format!(
                    "Purge deletion batch {batch} ({} {}) for good{}?",
                    deletion_batch.entity.as_deref().unwrap_or("records"),
                    deletion_batch
                        .reason
                        .as_deref()
                        .map_or_else(String::new, |r| format!(", trashed for: {r}")),
                    if urgent {
                        " now, with no grace period"
                    } else {
                        ""
                    }
                ),
                "Purged records cannot be restored.",
                "purge",
                yes,
                context.json(),
            )?;
            // The operator's command line may go below the minimum grace (an urgent erasure);
            // the HTTP API may not.
            let job = store
                .request_purge(batch, &actor, grace, false, reason.as_deref(), batch_size)
                .await?;
            let job = if urgent {
                run_with_progress(context, &store, &job).await?
            } else {
                job
            };
            if context.json() {
                print_json(&json!({"job": job}));
            } else if job.is_finished() {
                println!(
                    "Purged deletion batch {batch}: erased {}; {} kept in the trash (blocked), {} skipped.",
                    counts_line(&job),
                    job.blocked,
                    job.skipped
                );
                if let Some(receipt) = &job.receipt {
                    println!(
                        "Erasure receipt: {}",
                        serde_json::to_string_pretty(receipt).unwrap_or_default()
                    );
                }
            } else {
                println!(
                    "Purge of deletion batch {batch} requested as job {}: it runs at {} unless an admin cancels it (`lethe purge cancel {}`).",
                    job.id,
                    job.not_before.as_deref().unwrap_or("?"),
                    job.id
                );
            }
        }
        PurgeCommand::Cancel { job } => {
            let job = store.cancel_purge(job, &actor).await?;
            if context.json() {
                print_json(&json!({"job": job}));
            } else {
                println!(
                    "Cancelled purge job {}; deletion batch {} stays in the trash.",
                    job.id,
                    job.batch_id.unwrap_or(0)
                );
            }
        }
        PurgeCommand::List => {
            let pending = store.pending_purges().await?;
            if context.json() {
                print_json(&json!({"purges": pending}));
            } else if pending.is_empty() {
                println!("No purge is pending.");
            } else {
                for job in &pending {
                    println!("{}", purge_line(job));
                }
            }
        }
        PurgeCommand::RunDue => {
            let (scheduled, finished) = store.run_due(&JobRunner::default()).await?;
            if context.json() {
                print_json(&json!({"auto_purges_requested": scheduled, "jobs_finished": finished}));
            } else {
                println!(
                    "{scheduled} auto-purge(s) requested for batches past the retention window; {finished} job(s) run to the end."
                );
            }
        }
    }
    Ok(())
}

pub async fn anonymize(context: &Context, args: AnonymizeArgs) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    let snapshot = snapshot(&store, &args.pick, &actor, "anonymize").await?;
    if snapshot.member_count == 0 {
        if context.json() {
            print_json(&json!({"snapshot": snapshot, "job": null}));
        } else {
            println!("Nothing to anonymise: no record matches.");
        }
        return Ok(());
    }
    if !context.json() {
        println!(
            "Anonymise {} {} ({}): their personal fields are overwritten, the records stay.",
            snapshot.member_count, snapshot.entity, snapshot.source
        );
    }
    confirm_twice(
        &format!("Anonymise {} record(s)?", snapshot.member_count),
        "Anonymised values cannot be brought back.",
        "anonymize",
        args.yes,
        context.json(),
    )?;
    let job = store
        .start_anonymize(snapshot.id, &actor, args.batch_size)
        .await?;
    let job = run_with_progress(context, &store, &job).await?;
    if context.json() {
        print_json(&json!({"job": job}));
    } else {
        let changed: u64 = job.rewritten.values().sum();
        println!(
            "Anonymised {changed} {} record(s) (job {}); {} no longer existed.",
            job.entity, job.id, job.skipped
        );
    }
    Ok(())
}

/// Asks once on the terminal; `--yes` skips the question.
pub(super) fn confirm_once(question: &str, yes: bool, json: bool) -> anyhow::Result<()> {
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

pub async fn update(context: &Context, args: BulkUpdateArgs) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    let snapshot = snapshot(&store, &args.pick, &actor, "update").await?;
    let changes =
        super::record::input_object(&store, &snapshot.entity, &args.set, args.data.as_deref())?;
    let preview = store.preview_update(snapshot.id, &changes).await?;
    let records = preview.acted_on.first().map_or(0, |count| count.records);
    let described: Vec<String> = changes
        .iter()
        .map(|(field, value)| format!("{field} = {value}"))
        .collect();
    if !context.json() {
        println!(
            "Set {} on {records} {} ({}, snapshot {}){}.",
            described.join(", "),
            snapshot.entity,
            snapshot.source,
            snapshot.id,
            if preview.not_applicable > 0 {
                format!(
                    "; {} picked record(s) are in the trash or gone and stay as they are",
                    preview.not_applicable
                )
            } else {
                String::new()
            }
        );
    }
    if records == 0 {
        if context.json() {
            print_json(&json!({"preview": preview, "job": null}));
        } else {
            println!("Nothing to update.");
        }
        return Ok(());
    }
    confirm_once(
        &format!("Update {records} record(s)?"),
        args.yes,
        context.json(),
    )?;
    let job = store
        .start_update(snapshot.id, &changes, &actor, args.batch_size)
        .await?;
    let job = run_with_progress(context, &store, &job).await?;
    if context.json() {
        print_json(&json!({"preview": preview, "job": job}));
    } else {
        let changed: u64 = job.rewritten.values().sum();
        println!(
            "Updated {changed} {} record(s) (job {}); {} skipped because they changed since the preview.",
            job.entity, job.id, job.skipped
        );
    }
    Ok(())
}
