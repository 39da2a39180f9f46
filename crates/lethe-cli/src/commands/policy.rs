//! `lethe policy add|list|show|edit|approve|enable|disable|dry-run|run|history`: retention
//! policies (SPEC §4), admins only (the store asks the policy).

use lethe_store::{JobKind, NewPolicy, PolicyEdit, PolicyRun, RetentionPolicy};
use serde_json::json;

use super::Context;
use crate::cli::PolicyCommand;
use crate::output::print_json;

pub async fn run(context: &Context, command: PolicyCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    match command {
        PolicyCommand::Add {
            name,
            entity,
            filter,
            selection,
            action,
            schedule,
            time_zone,
            legal_basis,
            owner,
        } => {
            let new = NewPolicy {
                name,
                entity,
                filter: filter.unwrap_or_default(),
                selection,
                action,
                schedule,
                time_zone,
                legal_basis,
                owner,
            };
            let policy = store.add_policy(&new, &actor).await?;
            show(context, &policy, &[]);
            if !context.json() {
                println!(
                    "It is disabled: dry-run it (`lethe policy dry-run {0}`), then enable it (`lethe policy enable {0}`){1}.",
                    policy.name,
                    if policy.action == "notify" {
                        ""
                    } else {
                        " once a second admin has approved it (`lethe policy approve`)"
                    }
                );
            }
        }
        PolicyCommand::List => {
            let policies = store.policies(&actor).await?;
            if context.json() {
                print_json(&json!({"policies": policies}));
            } else if policies.is_empty() {
                println!("No retention policies. Add one with `lethe policy add`.");
            } else {
                println!(
                    "{:<20}  {:<9}  {:<9}  {:<8}  next run",
                    "name", "entity", "action", "state"
                );
                for policy in policies {
                    println!(
                        "{:<20}  {:<9}  {:<9}  {:<8}  {}",
                        policy.name,
                        policy.entity,
                        policy.action,
                        state(&policy),
                        policy.next_run_at.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        PolicyCommand::Show { name } => {
            let policy = store.policy(&name, &actor).await?;
            let runs = store.policy_history(&name, 5, &actor).await?;
            show(context, &policy, &runs);
        }
        PolicyCommand::Edit {
            name,
            filter,
            selection,
            action,
            schedule,
            time_zone,
            legal_basis,
            owner,
        } => {
            let edit = PolicyEdit {
                filter,
                selection,
                action,
                schedule,
                time_zone,
                legal_basis,
                owner,
            };
            let policy = store.edit_policy(&name, &edit, &actor).await?;
            show(context, &policy, &[]);
        }
        PolicyCommand::Approve { name } => {
            let policy = store.approve_policy(&name, &actor).await?;
            say(context, &policy, "approved");
        }
        PolicyCommand::Enable { name } => {
            let policy = store.enable_policy(&name, &actor).await?;
            say(context, &policy, "enabled");
        }
        PolicyCommand::Disable { name } => {
            let policy = store.disable_policy(&name, &actor).await?;
            say(context, &policy, "disabled");
        }
        PolicyCommand::DryRun { name } => {
            let run = store.dry_run_policy(&name, &actor).await?;
            if context.json() {
                print_json(&json!({"run": run}));
            } else {
                print_run(&run);
                println!(
                    "Nothing was changed. Run exactly this with `lethe policy run {name} --from-dry-run {}`.",
                    run.id
                );
            }
        }
        PolicyCommand::Run {
            name,
            from_dry_run,
            yes,
        } => {
            let policy = store.policy(&name, &actor).await?;
            super::lifecycle::confirm_once(
                &format!(
                    "Run retention policy `{name}` ({} {} records{})?",
                    policy.action,
                    policy.entity,
                    from_dry_run
                        .map(|id| format!(", those of dry run {id}"))
                        .unwrap_or_default()
                ),
                yes,
                context.json(),
            )?;
            let run = store.run_policy(&name, from_dry_run, &actor).await?;
            // A trash or anonymise runs here to its end; a purge waits for its grace.
            let mut job = None;
            if let Some(id) = run.job_id {
                let started = store.job(id).await?;
                job = Some(
                    if matches!(started.kind, JobKind::Trash | JobKind::Anonymize) {
                        store
                            .run_job(id, &lethe_store::JobRunner::default(), &mut |_| {})
                            .await?
                    } else {
                        started
                    },
                );
            }
            if context.json() {
                print_json(&json!({"run": run, "job": job}));
            } else {
                print_run(&run);
                if let Some(job) = job {
                    println!(
                        "Job {} ({}): {} of {} done, {} blocked, {} skipped.",
                        job.id, job.state, job.done, job.total, job.blocked, job.skipped
                    );
                }
            }
        }
        PolicyCommand::History { name, limit } => {
            let runs = store.policy_history(&name, limit, &actor).await?;
            if context.json() {
                print_json(&json!({"runs": runs}));
            } else if runs.is_empty() {
                println!("Policy `{name}` has not run yet.");
            } else {
                for run in &runs {
                    print_run(run);
                }
            }
        }
    }
    Ok(())
}

fn state(policy: &RetentionPolicy) -> &'static str {
    if policy.enabled {
        "enabled"
    } else if policy.action != "notify" && policy.approved_at.is_none() {
        "to approve"
    } else {
        "disabled"
    }
}

fn say(context: &Context, policy: &RetentionPolicy, what: &str) {
    if context.json() {
        print_json(&json!({"policy": policy}));
    } else {
        println!(
            "Policy `{}` {what}{}.",
            policy.name,
            policy
                .next_run_at
                .as_deref()
                .map(|at| format!("; it runs next at {at}"))
                .unwrap_or_default()
        );
    }
}

fn show(context: &Context, policy: &RetentionPolicy, runs: &[PolicyRun]) {
    if context.json() {
        print_json(&json!({"policy": policy, "runs": runs}));
        return;
    }
    println!("Policy `{}` ({})", policy.name, state(policy));
    match &policy.selection {
        Some(selection) => println!(
            "  {} {} records in saved selection `{selection}`",
            policy.action, policy.entity
        ),
        None => println!(
            "  {} {} records matching: {}",
            policy.action, policy.entity, policy.filter
        ),
    }
    println!(
        "  schedule:    {} — {}",
        policy.schedule, policy.schedule_words
    );
    println!("  legal basis: {}", policy.legal_basis);
    println!("  owner:       {}", policy.owner.as_deref().unwrap_or("-"));
    if let Some(by) = &policy.approved_by {
        println!("  approved by: {by}");
    }
    if let Some(next) = &policy.next_run_at {
        println!("  next run:    {next}");
    }
    for run in runs {
        print_run(run);
    }
}

fn print_run(run: &PolicyRun) {
    println!(
        "{} {} of `{}` at {} by {}: {} member(s){}{}{}",
        match run.kind.as_str() {
            "dry_run" => "Dry run",
            "scheduled" => "Scheduled run",
            _ => "Run",
        },
        run.id,
        run.policy,
        run.at,
        run.actor,
        run.members,
        run.snapshot_id
            .map(|id| format!(", snapshot {id}"))
            .unwrap_or_default(),
        run.job_id
            .map(|id| format!(", job {id}"))
            .unwrap_or_default(),
        if run.finished { "" } else { " (running)" },
    );
    if let Some(acted) = run.counts["acted_on"].as_array() {
        // Entity types it would not touch are left out.
        for count in acted {
            if let Some(records) = count["records"].as_u64().filter(|records| *records > 0) {
                println!(
                    "    {:<14} {records}",
                    count["entity"].as_str().unwrap_or("?")
                );
            }
        }
    }
    if let Some(blocked) = run.counts["blocked"].as_u64()
        && blocked > 0
    {
        println!("    blocked by a rule: {blocked}");
        if let Some(sample) = run.counts["blocked_sample"].as_array() {
            for skip in sample {
                println!(
                    "      {} {}: {}",
                    skip["entity"].as_str().unwrap_or(""),
                    skip["record_id"],
                    skip["reason"].as_str().unwrap_or("")
                );
            }
        }
    }
}
