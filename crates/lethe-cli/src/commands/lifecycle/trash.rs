//! `lethe preview`, `trash` and `restore`: what a trash would move, moving it to the trash
//! as one deletion batch, and bringing a batch (with its parent batches, if asked) back.

use lethe_store::{Preview, Snapshot, Store};
use serde_json::json;

use super::{confirm_twice, counts_line, print_skips, run_with_progress, snapshot};
use crate::cli::{PickArgs, RestoreArgs, TrashArgs};
use crate::commands::Context;
use crate::output::{UsageError, print_json};

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
