//! `lethe history` (read or verify the sealed deletion history) and `lethe notifications`
//! (a user's notices, optionally marked read).

use serde_json::json;

use crate::cli::{HistoryArgs, NotificationArgs};
use crate::commands::Context;
use crate::output::{UsageError, print_json};

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
