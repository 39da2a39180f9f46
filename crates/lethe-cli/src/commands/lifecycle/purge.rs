//! `lethe purge request`, `cancel`, `list` and `run-due`, and `lethe anonymize`: erasing
//! trashed records for good after the grace period, or overwriting their personal fields.

use lethe_store::{Job, JobRunner};
use serde_json::json;

use super::{confirm_twice, counts_line, run_with_progress, snapshot};
use crate::cli::{AnonymizeArgs, PurgeCommand};
use crate::commands::Context;
use crate::output::{UsageError, print_json};

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
            request,
        } => {
            if let Some(id) = request {
                // Checked before anything is written: the request exists, this actor sees
                // it, and it is open (purging is an admin's, who may link to any request).
                let shown = store.subject_request(id, &actor).await?;
                if shown.closed_at.is_some() {
                    return Err(lethe_store::StoreError::Conflict(format!(
                        "request {id} is {} and is closed: links are made while a request is open",
                        shown.status
                    ))
                    .into());
                }
            }
            let grace = grace
                .as_deref()
                .map(crate::commands::parse_duration)
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
            if let Some(id) = request {
                store.link_request(id, Some(batch), None, &actor).await?;
                store.link_request(id, None, Some(job.id), &actor).await?;
            }
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
