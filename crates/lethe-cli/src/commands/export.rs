//! `lethe export`: the records a filter selects, a snapshot's members or what a deletion
//! batch holds, as CSV or NDJSON, a page at a time (SPEC §6, "export before delete").
//!
//! To a file, the export is written next to it under another name and put in its place
//! when whole, so that a file of that name is always a whole export. To standard output, a
//! reader that stops (`| head`) ends the export quietly, and the history says how far it got.

use std::io::Write;
use std::path::{Path, PathBuf};

use lethe_formats::{ExportWriter, Format};
use lethe_store::{Export, ExportSource, Scope};
use serde_json::json;

use super::Context;
use crate::cli::ExportArgs;
use crate::output::{UsageError, print_json};

pub async fn run(context: &Context, args: ExportArgs) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    let source = match (args.snapshot, args.batch) {
        (Some(snapshot), _) => ExportSource::Snapshot(snapshot),
        (_, Some(batch)) => ExportSource::Batch(batch),
        _ => ExportSource::Filter(store.parse_filter(&args.entity, &args.filter)?),
    };
    let scope = Scope::parse(&args.scope)?;
    let mut export = store
        .start_export(&args.entity, source, scope, args.related, &actor)
        .await?;
    let staged = match &args.output {
        Some(path) => Some(Staged::create(path)?),
        None => None,
    };
    let out: Box<dyn Write> = match &staged {
        Some(staged) => Box::new(staged.file()?),
        None => Box::new(std::io::stdout()),
    };
    let out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let format = Format::parse(&args.format).map_err(UsageError)?;
    let written = write(&mut export, format, out).await;
    let (records, guarded) = (export.read(), written.guarded);
    let related = export.related_read();
    match written.outcome {
        Outcome::Whole => {
            if let Some(staged) = &staged {
                staged.finish()?;
            }
            export.finish(&args.format, true, guarded).await?;
        }
        Outcome::ReaderLeft => {
            // `| head`: the reader has what it wanted; how far it got is in the history.
            export.finish(&args.format, false, guarded).await?;
            return Ok(());
        }
        Outcome::Failed(error) => {
            if let Some(staged) = &staged {
                staged.discard();
            }
            export.finish(&args.format, false, guarded).await?;
            return Err(error);
        }
    }
    let related_total: u64 = related.iter().map(|(_, read)| read).sum();
    let members = records - related_total;
    let mut summary = json!({
        "entity": args.entity,
        "format": args.format,
        "records": members,
        "formula_cells_guarded": guarded,
        "output": args.output.as_ref().map(|path| path.display().to_string()),
    });
    if args.related {
        summary["related"] = related
            .iter()
            .map(|(entity, read)| (entity.clone(), json!(read)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    let related_words = if args.related {
        let each: Vec<String> = related
            .iter()
            .filter(|(_, read)| *read > 0)
            .map(|(entity, read)| format!("{read} {entity}"))
            .collect();
        if each.is_empty() {
            " and no related record".to_owned()
        } else {
            format!(
                " and {related_total} related record(s) ({})",
                each.join(", ")
            )
        }
    } else {
        String::new()
    };
    let words = format!(
        "Exported {members} {} record(s){related_words} as {}{}.{}",
        args.entity,
        match (format, args.related) {
            (Format::Csv, true) => "a zip of CSV files".to_owned(),
            _ => args.format.to_uppercase(),
        },
        args.output
            .as_ref()
            .map(|path| format!(" to {}", path.display()))
            .unwrap_or_default(),
        if guarded > 0 {
            format!(
                " {guarded} text cell(s) starting with =, +, - or @ were written with ' in front, so that spreadsheets show them as text rather than run them."
            )
        } else {
            String::new()
        }
    );
    if args.output.is_some() {
        if context.json() {
            print_json(&summary);
        } else {
            println!("{words}");
        }
    } else if context.json() {
        eprintln!("{summary}");
    } else {
        eprintln!("{words}");
    }
    Ok(())
}

/// How writing ended.
enum Outcome {
    Whole,
    /// Standard output's reader went away.
    ReaderLeft,
    Failed(anyhow::Error),
}

struct Written {
    outcome: Outcome,
    guarded: u64,
}

/// Reads page after page and writes each record out, flushing after each page.
async fn write(export: &mut Export, format: Format, out: impl Write) -> Written {
    let mut writer = ExportWriter::new(format, out, export.several()).made_at(export.started_at());
    loop {
        let page = match export.next_page().await {
            Ok(Some(page)) => page,
            Ok(None) => break,
            Err(error) => {
                return Written {
                    outcome: Outcome::Failed(error.into()),
                    guarded: writer.guarded(),
                };
            }
        };
        let result = writer
            .section(&page.entity, export.columns(&page.entity))
            .and_then(|()| {
                page.records
                    .iter()
                    .try_for_each(|record| Export::with_cells(record, |cells| writer.row(cells)))
            })
            .and_then(|()| writer.flush());
        if let Err(error) = result {
            return failed(error, writer.guarded());
        }
    }
    let guarded = writer.guarded();
    match writer.finish().and_then(|mut out| out.flush()) {
        Ok(()) => Written {
            outcome: Outcome::Whole,
            guarded,
        },
        Err(error) => failed(error, guarded),
    }
}

fn failed(error: std::io::Error, guarded: u64) -> Written {
    let outcome = if error.kind() == std::io::ErrorKind::BrokenPipe {
        Outcome::ReaderLeft
    } else {
        Outcome::Failed(anyhow::anyhow!("writing the export failed: {error}"))
    };
    Written { outcome, guarded }
}

/// A file written under a name of its own next to where it goes, and moved there when whole.
pub(crate) struct Staged {
    target: PathBuf,
    partial: PathBuf,
}

impl Staged {
    pub(crate) fn create(target: &Path) -> anyhow::Result<Staged> {
        let name = target
            .file_name()
            .ok_or_else(|| UsageError(format!("--output {}: name a file", target.display())))?;
        let mut partial_name = std::ffi::OsString::from(".");
        partial_name.push(name);
        partial_name.push(format!(".lethe-partial-{}", std::process::id()));
        let partial = target.with_file_name(partial_name);
        if target.is_dir() {
            return Err(UsageError(format!(
                "--output {} is a folder: name a file in it",
                target.display()
            ))
            .into());
        }
        Ok(Staged {
            target: target.to_owned(),
            partial,
        })
    }

    pub(crate) fn file(&self) -> anyhow::Result<std::fs::File> {
        std::fs::File::create(&self.partial).map_err(|error| {
            UsageError(format!(
                "--output {}: cannot write there ({error})",
                self.target.display()
            ))
            .into()
        })
    }

    pub(crate) fn finish(&self) -> anyhow::Result<()> {
        std::fs::rename(&self.partial, &self.target).map_err(|error| {
            self.discard();
            anyhow::anyhow!(
                "the export could not be put in place at {}: {error}",
                self.target.display()
            )
        })
    }

    pub(crate) fn discard(&self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}
