//! `lethe person`: everything held about one person (an access request, GDPR Art. 15), as
//! one zip written a piece at a time (`lethe_web::person`), or counted per entity — which is
//! also what erasing them would reach.

use std::io::{IsTerminal, Write};

use lethe_store::PersonKey;
use lethe_web::person::PersonZip;
use serde_json::json;

use super::Context;
use super::export::Staged;
use crate::cli::{PersonCommand, Who};
use crate::output::{UsageError, print_json};

fn key(who: &Who) -> PersonKey {
    match (&who.email, who.contact) {
        (Some(address), _) => PersonKey::Email(address.clone()),
        (None, Some(id)) => PersonKey::Contact(id),
        // clap requires one of them.
        (None, None) => PersonKey::Contact(0),
    }
}

fn counted(counts: &[(String, u64)]) -> serde_json::Value {
    counts
        .iter()
        .map(|(entity, count)| (entity.clone(), json!(count)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `contact 2, activity 14, …` for the entities that hold any.
fn in_words(counts: &[(String, u64)]) -> String {
    let held: Vec<String> = counts
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(entity, count)| format!("{count} {entity}"))
        .collect();
    held.join(", ")
}

pub async fn run(context: &Context, command: PersonCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    match command {
        PersonCommand::Show { who } => {
            let zip = PersonZip::start(&store, key(&who), &actor).await?;
            let counts = zip.counts().to_vec();
            let total: u64 = counts.iter().map(|(_, count)| count).sum();
            if context.json() {
                print_json(&json!({"records": counted(&counts), "total": total}));
            } else {
                println!("{total} record(s) held: {}.", in_words(&counts));
            }
            Ok(())
        }
        PersonCommand::Export { who, output } => {
            if output.is_none() && std::io::stdout().is_terminal() {
                return Err(UsageError(
                    "the export is a zip file: give --output FILE, or send standard output to a file or a program".to_owned(),
                )
                .into());
            }
            let mut zip = PersonZip::start(&store, key(&who), &actor).await?;
            let staged = match &output {
                Some(path) => Some(Staged::create(path)?),
                None => None,
            };
            let out: Box<dyn Write> = match &staged {
                Some(staged) => Box::new(staged.file()?),
                None => Box::new(std::io::stdout()),
            };
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
            let written: anyhow::Result<()> = async {
                while let Some(bytes) = zip.next_bytes().await? {
                    out.write_all(&bytes)?;
                }
                out.flush()?;
                Ok(())
            }
            .await;
            let counts = zip.counts().to_vec();
            if let Err(error) = written {
                if let Some(staged) = &staged {
                    staged.discard();
                }
                zip.finish(false).await?;
                let reader_left = error
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe);
                return if reader_left { Ok(()) } else { Err(error) };
            }
            if let Some(staged) = &staged {
                staged.finish()?;
            }
            zip.finish(true).await?;
            let place = output
                .as_ref()
                .map(|path| format!(" to {}", path.display()))
                .unwrap_or_default();
            let words = format!(
                "Wrote everything held about the person{place}: {}.",
                in_words(&counts)
            );
            let summary = json!({
                "records": counted(&counts),
                "output": output.as_ref().map(|path| path.display().to_string()),
            });
            match (output.is_some(), context.json()) {
                (true, true) => print_json(&summary),
                (true, false) => println!("{words}"),
                (false, true) => eprintln!("{summary}"),
                (false, false) => eprintln!("{words}"),
            }
            Ok(())
        }
    }
}
