//! `lethe update`: setting fields on every picked record, previewed as a count, confirmed,
//! then run as a job.

use serde_json::json;

use super::{confirm_once, run_with_progress, snapshot};
use crate::cli::BulkUpdateArgs;
use crate::commands::Context;
use crate::output::print_json;

pub async fn update(context: &Context, args: BulkUpdateArgs) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    let snapshot = snapshot(&store, &args.pick, &actor, "update").await?;
    let changes = crate::commands::record::input_object(
        &store,
        &snapshot.entity,
        &args.set,
        args.data.as_deref(),
    )?;
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
