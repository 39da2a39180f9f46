//! `lethe import`: records in from a CSV file — the columns mapped, every row checked, then
//! one job that writes them, with a progress bar.

use serde_json::json;

use lethe_store::{ImportCheck, ImportOptions, ImportOutcome, MatchRule};
use lethe_web::import::CsvRows;

use super::lifecycle::run_with_progress;
use crate::cli::ImportArgs;
use crate::commands::Context;
use crate::output::{UsageError, print_json, thousands};

pub async fn run(context: &Context, args: ImportArgs) -> anyhow::Result<()> {
    let mut map = Vec::with_capacity(args.map.len());
    for pair in &args.map {
        let Some((column, target)) = pair.split_once('=') else {
            return Err(UsageError(format!(
                "--map `{pair}` is not COLUMN=FIELD (COLUMN= leaves the column out)"
            ))
            .into());
        };
        map.push((column.trim().to_owned(), target.trim().to_owned()));
    }
    let options = ImportOptions {
        map,
        matching: args.matching.clone().map(|field| MatchRule {
            field,
            update: args.on_match == "update",
        }),
        skip_bad_rows: args.on_error == "skip",
        dry_run: args.dry_run,
        batch_size: args.batch_size,
    };
    let input: Box<dyn std::io::Read + Send> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        let file = std::fs::File::open(&args.file)
            .map_err(|error| UsageError(format!("cannot open {}: {error}", args.file.display())))?;
        Box::new(std::io::BufReader::with_capacity(1 << 16, file))
    };
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    let mut rows = CsvRows::new(input)?;
    let header = rows.header();
    let outcome = store
        .import(&args.entity, &header, &mut rows, &options, &actor)
        .await?;
    if !context.json() {
        print_check(outcome.check(), options.matching.as_ref());
    }
    match outcome {
        ImportOutcome::Checked(ref check) | ImportOutcome::NothingToDo(ref check) => {
            let dry_run = matches!(outcome, ImportOutcome::Checked(_));
            if context.json() {
                print_json(&json!({"dry_run": dry_run, "check": check, "job": null}));
            } else if dry_run {
                println!("Dry run: nothing was written.");
            } else {
                println!("Nothing to write.");
            }
            Ok(())
        }
        ImportOutcome::Refused(check) => {
            if context.json() {
                print_json(&json!({"dry_run": false, "check": check, "job": null}));
            }
            Err(UsageError(format!(
                "{} row(s) have a problem, so nothing was written; correct them, or write the other rows with --on-error skip",
                thousands(check.problems)
            ))
            .into())
        }
        ImportOutcome::Started(check, job) => {
            let job = run_with_progress(context, &store, &job).await?;
            if context.json() {
                print_json(&json!({"dry_run": false, "check": check, "job": job}));
            } else {
                let count = |map: &std::collections::BTreeMap<String, u64>| {
                    thousands(map.get(&job.entity).copied().unwrap_or(0))
                };
                println!(
                    "Imported into {} (job {}): {} created, {} updated, {} skipped.",
                    job.entity,
                    job.id,
                    count(&job.counts),
                    count(&job.rewritten),
                    thousands(job.skipped),
                );
            }
            Ok(())
        }
    }
}

/// What the check found: counts, which column fills which field, the first problems.
fn print_check(check: &ImportCheck, matching: Option<&MatchRule>) {
    let matched = match matching {
        Some(rule) if rule.update => format!(
            ", {} update the {} they match by {}",
            thousands(check.update),
            check.entity,
            rule.field
        ),
        Some(rule) => format!(
            ", {} skipped (a {} with the same {} is in use)",
            thousands(check.skip),
            check.entity,
            rule.field
        ),
        None => String::new(),
    };
    println!(
        "{} row(s) for {}: {} create a record{matched}; {} with a problem.",
        thousands(check.rows),
        check.entity,
        thousands(check.create),
        thousands(check.problems),
    );
    let fields: Vec<String> = check
        .fields
        .iter()
        .map(|field| match &field.by {
            Some(by) => format!("\"{}\" → {} (by {by})", field.column, field.field),
            None => format!("\"{}\" → {}", field.column, field.field),
        })
        .collect();
    println!("Columns: {}", fields.join(", "));
    if !check.ignored.is_empty() {
        println!("Left out: {}", check.ignored.join(", "));
    }
    if check.problems > 0 {
        println!(
            "Problems{}:",
            if check.problems > check.first_problems.len() as u64 {
                format!(
                    " (the first {} of {})",
                    check.first_problems.len(),
                    thousands(check.problems)
                )
            } else {
                String::new()
            }
        );
        for problem in &check.first_problems {
            match &problem.column {
                Some(column) => println!(
                    "  line {}, column \"{column}\": {}",
                    problem.line, problem.message
                ),
                None => println!("  line {}: {}", problem.line, problem.message),
            }
        }
    }
}
