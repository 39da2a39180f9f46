//! `lethe demo`: builds the synthetic CRM, creates an admin with a token and a password for
//! the pages, then serves.

use std::time::Instant;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use lethe_demo::{DemoOptions, DemoProgress};
use lethe_http::WebOptions;
use lethe_store::{Actor, Role};
use serde_json::json;

use super::Context;
use super::serve::DemoAdmin;
use crate::cli::DemoArgs;
use crate::output::print_json;

pub async fn run(context: &Context, args: DemoArgs) -> anyhow::Result<()> {
    let store = context.open().await?;
    let files_dir = args
        .files
        .clone()
        .unwrap_or_else(|| context.files_dir(store.url()));
    // A new admin gets a password to sign in to the pages with, printed once; an admin of
    // an earlier run keeps theirs (Lethe cannot show it again).
    let (admin, token, password) = match store.find_user("admin").await? {
        Some(_) => {
            let (admin, token) = store.issue_token("admin", "issued by lethe demo").await?;
            (admin, token, None)
        }
        None => {
            let password: String = lethe_store::random_token()?.chars().take(16).collect();
            let (admin, token) = store
                .add_user_with_password("admin", Role::Admin, &password, &Actor::operator())
                .await?;
            (admin, token, Some(password))
        }
    };
    let greeting = DemoAdmin { token, password };
    let existing = store.count_records("contact").await.unwrap_or(0);
    if existing > 0 {
        // Running the demo again serves what is there rather than failing: the README's one
        // command keeps working.
        if args.no_serve {
            return Err(crate::output::UsageError(format!(
                "{} already holds {existing} contacts; the demo builds into an empty database — use a new --db path",
                store.url().display_safe()
            ))
            .into());
        }
        if !context.json() {
            println!(
                "{} already holds {existing} contacts; serving it as it is (use --db NEW.db for a fresh demo).",
                store.url().display_safe()
            );
        }
        return super::serve::serve(
            context,
            store,
            args.listen,
            WebOptions::default(),
            Some(greeting),
            true,
        )
        .await;
    }
    let options = DemoOptions {
        contacts: args.contacts,
        seed: args.seed,
        files_dir: files_dir.clone(),
        now: store.now(),
        created_by: Some(admin.id),
    };
    let bar = if context.json() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.contacts)
    };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} contacts, {rate}, {eta} left")
            .map(|style| style.with_key("rate", crate::output::rate_key))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("building demo data");
    let progress_bar = bar.clone();
    let progress = move |event: DemoProgress| match event {
        DemoProgress::Started { total_contacts } => progress_bar.set_length(total_contacts),
        DemoProgress::Contacts { done } => progress_bar.set_position(done),
        DemoProgress::Finishing => progress_bar.set_message("indexing and analysing"),
    };
    let started = Instant::now();
    let report = lethe_demo::generate(&store, &options, &progress)
        .await
        .context("building the demo data set")?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let total: u64 = report.counts.iter().map(|(_, count)| count).sum();
    if context.json() && args.no_serve {
        print_json(&json!({
            "database": store.url().display_safe(),
            "seconds": seconds,
            "records": total,
            "counts": report.counts.iter().map(|(entity, count)| json!({"entity": entity, "count": count})).collect::<Vec<_>>(),
            "files_written": report.files_written,
            "file_bytes": report.file_bytes,
            "files_dir": files_dir.display().to_string(),
            "admin_token": greeting.token,
            "admin_password": greeting.password,
        }));
    } else if !context.json() {
        println!(
            "Built {total} records in {seconds:.1} s into {}:",
            store.url().display_safe()
        );
        for (entity, count) in &report.counts {
            println!("  {entity:<20} {count:>10}");
        }
        println!(
            "  {:<20} {:>10} ({} bytes in {})",
            "attachment files",
            report.files_written,
            report.file_bytes,
            files_dir.display()
        );
        if args.no_serve {
            println!("Admin token: {}", greeting.token);
            if let Some(password) = &greeting.password {
                println!("Admin password for the pages: {password}");
            }
        }
    }
    if args.no_serve {
        return Ok(());
    }
    super::serve::serve(
        context,
        store,
        args.listen,
        WebOptions::default(),
        Some(greeting),
        true,
    )
    .await
}
