//! `lethe monitor add|list|show|edit|enable|disable|remove|subscribe|unsubscribe|run|
//! run-due|hits|history`: monitors (SPEC §4, SuperOffice SAINT). Who may do what is the store's policy.

use lethe_store::{Monitor, MonitorEdit, MonitorRun, NewMonitor};
use serde_json::json;

use super::Context;
use crate::cli::MonitorCommand;
use crate::output::print_json;

pub async fn run(context: &Context, command: MonitorCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    match command {
        MonitorCommand::Add {
            name,
            selection,
            schedule,
            time_zone,
            on_leave,
            subscribers,
        } => {
            let new = NewMonitor {
                name,
                selection,
                schedule,
                time_zone,
                notify_on_leave: on_leave,
                subscribers,
            };
            let monitor = store.add_monitor(&new, &actor).await?;
            let runs = store.monitor_history(&monitor.name, 1).await?;
            show(context, &monitor, &runs);
            if !context.json() {
                println!(
                    "Its baseline holds {} record(s); nobody is told of those. Subscribers hear of records that enter{} from the next run on (`lethe monitor run {}` runs it now).",
                    monitor.members,
                    if monitor.notify_on_leave {
                        " or leave"
                    } else {
                        ""
                    },
                    monitor.name
                );
            }
        }
        MonitorCommand::List => {
            let monitors = store.monitors().await?;
            if context.json() {
                print_json(&json!({"monitors": monitors}));
            } else if monitors.is_empty() {
                println!("No monitors. Add one with `lethe monitor add`.");
            } else {
                println!(
                    "{:<20}  {:<20}  {:>8}  {:<8}  next run",
                    "name", "selection", "members", "state"
                );
                for monitor in monitors {
                    println!(
                        "{:<20}  {:<20}  {:>8}  {:<8}  {}",
                        monitor.name,
                        monitor.selection,
                        monitor.members,
                        state(&monitor),
                        monitor.next_run_at.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        MonitorCommand::Show { name } => {
            let monitor = store.monitor(&name).await?;
            let runs = store.monitor_history(&name, 5).await?;
            show(context, &monitor, &runs);
        }
        MonitorCommand::Edit {
            name,
            selection,
            schedule,
            time_zone,
            on_leave,
        } => {
            let edit = MonitorEdit {
                selection,
                schedule,
                time_zone,
                notify_on_leave: on_leave,
            };
            let monitor = store.edit_monitor(&name, &edit, &actor).await?;
            show(context, &monitor, &[]);
        }
        MonitorCommand::Enable { name } => {
            let monitor = store.enable_monitor(&name, true, &actor).await?;
            say(context, &monitor, "enabled");
        }
        MonitorCommand::Disable { name } => {
            let monitor = store.enable_monitor(&name, false, &actor).await?;
            say(context, &monitor, "disabled");
        }
        MonitorCommand::Remove { name } => {
            store.remove_monitor(&name, &actor).await?;
            if context.json() {
                print_json(&json!({"removed": name}));
            } else {
                println!("Monitor `{name}` removed, with its members, runs and hits.");
            }
        }
        MonitorCommand::Subscribe { name, user } | MonitorCommand::Unsubscribe { name, user }
            if user.is_none() && actor.user_id.is_none() =>
        {
            return Err(crate::output::UsageError(format!(
                "say whom to (un)subscribe to monitor `{name}`: --user NAME, or --as USER for yourself (the operator is not a user)"
            ))
            .into());
        }
        MonitorCommand::Subscribe { name, user } => {
            let user = user.unwrap_or_else(|| actor.name.clone());
            let monitor = store.subscribe_monitor(&name, &user, true, &actor).await?;
            say(context, &monitor, &format!("now tells `{user}`"));
        }
        MonitorCommand::Unsubscribe { name, user } => {
            let user = user.unwrap_or_else(|| actor.name.clone());
            let monitor = store.subscribe_monitor(&name, &user, false, &actor).await?;
            say(context, &monitor, &format!("no longer tells `{user}`"));
        }
        MonitorCommand::Run { name } => {
            let run = store.run_monitor(&name, &actor).await?;
            if context.json() {
                print_json(&json!({"run": run}));
            } else {
                print_run(&run);
                if run.entered + run.left > 0 {
                    println!(
                        "See them with `lethe monitor hits {name} --run {}`.",
                        run.id
                    );
                }
            }
        }
        MonitorCommand::RunDue => {
            let runs = store.run_due_monitors().await?;
            if context.json() {
                print_json(&json!({"runs": runs}));
            } else if runs.is_empty() {
                println!("No monitor was due.");
            } else {
                for run in &runs {
                    print_run(run);
                }
            }
        }
        MonitorCommand::Hits {
            name,
            run,
            after,
            limit,
        } => {
            let hits = store.monitor_hits(&name, run, after, limit).await?;
            if context.json() {
                print_json(&json!(hits));
            } else {
                print_run(&hits.run);
                for hit in &hits.hits {
                    println!("  {:<8} {}", hit.change, hit.record_id);
                }
                if let Some(after) = hits.next_after {
                    println!(
                        "More: `lethe monitor hits {name} --run {} --after {after}`.",
                        hits.run.id
                    );
                }
            }
        }
        MonitorCommand::History { name, limit } => {
            let runs = store.monitor_history(&name, limit).await?;
            if context.json() {
                print_json(&json!({"runs": runs}));
            } else {
                for run in &runs {
                    print_run(run);
                }
            }
        }
    }
    Ok(())
}

fn state(monitor: &Monitor) -> &'static str {
    if monitor.enabled {
        "enabled"
    } else {
        "disabled"
    }
}

fn say(context: &Context, monitor: &Monitor, what: &str) {
    if context.json() {
        print_json(&json!({"monitor": monitor}));
    } else {
        println!(
            "Monitor `{}` {what}{}.",
            monitor.name,
            monitor
                .next_run_at
                .as_deref()
                .map(|at| format!("; it runs next at {at}"))
                .unwrap_or_default()
        );
    }
}

fn show(context: &Context, monitor: &Monitor, runs: &[MonitorRun]) {
    if context.json() {
        print_json(&json!({"monitor": monitor, "runs": runs}));
        return;
    }
    println!("Monitor `{}` ({})", monitor.name, state(monitor));
    println!(
        "  selection:   {} ({} {} record(s) at the last run)",
        monitor.selection, monitor.members, monitor.entity
    );
    println!(
        "  schedule:    {} — {}",
        monitor.schedule, monitor.schedule_words
    );
    println!(
        "  tells of:    records that enter{}",
        if monitor.notify_on_leave {
            " and leave"
        } else {
            ""
        }
    );
    println!(
        "  subscribers: {}",
        if monitor.subscribers.is_empty() {
            "-".to_owned()
        } else {
            monitor.subscribers.join(", ")
        }
    );
    println!("  owner:       {}", monitor.owner.as_deref().unwrap_or("-"));
    if let Some(next) = &monitor.next_run_at {
        println!("  next run:    {next}");
    }
    for run in runs {
        print_run(run);
    }
}

fn print_run(run: &MonitorRun) {
    let what = match run.kind.as_str() {
        "baseline" => "Baseline",
        "scheduled" => "Scheduled run",
        _ => "Run",
    };
    if run.state != "done" {
        println!(
            "{what} {} of `{}`: claimed at {}, not evaluated yet",
            run.id, run.monitor, run.claimed_at
        );
    } else if run.kind == "baseline" {
        println!(
            "{what} {} of `{}` at {}: {} member(s), nobody told",
            run.id,
            run.monitor,
            run.done_at.as_deref().unwrap_or("-"),
            run.entered
        );
    } else {
        println!(
            "{what} {} of `{}` at {} by {}: {} entered, {} left, {} subscriber(s) told",
            run.id,
            run.monitor,
            run.done_at.as_deref().unwrap_or("-"),
            run.actor,
            run.entered,
            run.left,
            run.notified
        );
    }
}
