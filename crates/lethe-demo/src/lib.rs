//! `lethe demo`: a realistic, deterministic synthetic CRM data set for the default schema
//! (SPEC §8), large enough to make mass deletion, retention rules and their benchmarks
//! meaningful.
//!
//! The data set has companies and contacts (prospects, customers and lost customers created
//! over ten years, a few per cent of them duplicates) and everything a CRM collects about them:
//! consents, activities, conversations, notes, tickets with comments and ratings, deals,
//! invoices, projects with time entries, campaign memberships, and attachments as real files.
//! Its distributions are chosen so that the scenarios of the seeds bite: many contacts have not
//! been interacted with for two years, customers have deals and invoices that `restrict` their
//! deletion, a third of the contacts have a marketing consent.
//!
//! Generation is pure and chunked ([`generator`]); this module runs it on a blocking thread
//! and inserts each chunk while the next one is being generated, so a million contacts take
//! minutes and memory stays bounded.
//!
//! **Architecture invariant:** the generator never reads the clock or the database: `now`
//! and the seed come in as options, ids are assigned by the generator, and the same options
//! give the same data.

mod commerce;
mod companies;
mod contacts;
mod enums;
mod files;
mod generator;
mod interactions;
mod marketing;
mod people;
mod places;
mod plan;
mod random;
mod support;
mod tables;
mod words;

use std::path::PathBuf;

use anyhow::{Context, bail};
use lethe_store::Store;
use tokio::sync::mpsc;
use tracing::{debug, instrument};

use crate::files::{FilesWritten, write_files};
use crate::generator::Generator;
use crate::plan::Plan;
use crate::tables::{Chunk, Kind, check_schema};

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// How many contacts; companies, child records and files scale with it.
    pub contacts: u64,
    /// The same seed (and contact count and `now`) gives the same data.
    pub seed: u64,
    /// Where attachment files are written; created if missing. Attachments' `storage_key`s
    /// are paths relative to it.
    pub files_dir: PathBuf,
    /// The moment the data set is generated against: records are created in the ten years
    /// before it.
    pub now: time::OffsetDateTime,
    /// The user recorded as every record's creator, if any.
    pub created_by: Option<i64>,
}

/// What was generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    /// Records inserted per entity, in the schema's order (parents first).
    pub counts: Vec<(String, u64)>,
    pub files_written: u64,
    pub file_bytes: u64,
}

/// Progress reports for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoProgress {
    Started {
        total_contacts: u64,
    },
    /// Contacts (with all their child records) inserted so far.
    Contacts {
        done: u64,
    },
    /// All rows are in; the query planner's statistics and the id sequences are being brought
    /// up to date.
    Finishing,
}

/// How many generated chunks may wait for insertion. One keeps the generator a chunk ahead of
/// the database, which is all the overlap two cores can use, and bounds memory to about three
/// chunks (being generated, waiting, being inserted).
const CHUNKS_IN_FLIGHT: usize = 1;

/// Generates the demo data set into an empty database, writing attachment files below
/// `options.files_dir`.
#[instrument(skip_all, fields(contacts = options.contacts, seed = options.seed))]
pub async fn generate(
    store: &Store,
    options: &DemoOptions,
    progress: &(dyn Fn(DemoProgress) + Send + Sync),
) -> anyhow::Result<DemoReport> {
    check_schema(store.schema())?;
    refuse_non_empty_database(store).await?;
    // Loading into tables without secondary indexes and building the indexes once at the
    // end is several times faster than keeping them up to date row by row.
    store
        .begin_bulk_load()
        .await
        .context("preparing the tables for loading")?;
    tokio::fs::create_dir_all(&options.files_dir)
        .await
        .with_context(|| {
            format!(
                "creating the directory for attachment files, {}",
                options.files_dir.display()
            )
        })?;

    progress(DemoProgress::Started {
        total_contacts: options.contacts,
    });
    let plan = Plan::new(
        options.contacts,
        options.seed,
        options.now,
        options.created_by,
    );
    let (sender, mut receiver) = mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
    let files_dir = options.files_dir.clone();
    let generation =
        tokio::task::spawn_blocking(move || generate_chunks(plan, &files_dir, &sender));

    let inserted = insert_chunks(store, &mut receiver, progress).await;
    // Closing the channel stops the generator at its next chunk if inserting failed.
    drop(receiver);
    let written = generation
        .await
        .context("the demo generator stopped unexpectedly")?;
    let counts = inserted?;
    let written = written?;

    progress(DemoProgress::Finishing);
    store
        .finish_bulk_load()
        .await
        .context("updating statistics after loading the demo data")?;

    let counts = store
        .schema()
        .entity_names()
        .map(|entity| {
            let count = Kind::ALL
                .iter()
                .position(|kind| kind.entity() == entity)
                .map_or(0, |index| counts[index]);
            (entity.to_owned(), count)
        })
        .collect();
    Ok(DemoReport {
        counts,
        files_written: written.files,
        file_bytes: written.bytes,
    })
}

/// The demo assigns ids itself and builds relations between them, so it can only fill a
/// database without companies or contacts.
async fn refuse_non_empty_database(store: &Store) -> anyhow::Result<()> {
    for entity in ["contact", "company"] {
        let existing = store
            .count_records(entity)
            .await
            .with_context(|| format!("counting the database's existing {entity} records"))?;
        if existing > 0 {
            let noun = if entity == "company" {
                "companies"
            } else {
                "contacts"
            };
            bail!(
                "the database already has {existing} {noun}; the demo builds into an empty \
                 database — use a new --db path"
            );
        }
    }
    Ok(())
}

/// Runs on a blocking thread: generates every chunk, writes its files and sends it on. Stops
/// quietly when the receiving side has gone away (it failed and reports its own error).
fn generate_chunks(
    plan: Plan,
    files_dir: &std::path::Path,
    sender: &mpsc::Sender<Chunk>,
) -> anyhow::Result<FilesWritten> {
    let mut written = FilesWritten::default();
    for mut chunk in Generator::new(plan) {
        let chunk_written = write_files(files_dir, &chunk.files)?;
        written.files += chunk_written.files;
        written.bytes += chunk_written.bytes;
        chunk.files = Vec::new();
        if sender.blocking_send(chunk).is_err() {
            break;
        }
    }
    Ok(written)
}

/// Inserts chunks as they arrive, parents before children, and returns the rows inserted per
/// [`Kind`].
async fn insert_chunks(
    store: &Store,
    receiver: &mut mpsc::Receiver<Chunk>,
    progress: &(dyn Fn(DemoProgress) + Send + Sync),
) -> anyhow::Result<[u64; Kind::ALL.len()]> {
    let mut counts = [0; Kind::ALL.len()];
    let mut contacts_done = 0;
    // The schema orders entities parents first; foreign keys need that order within a chunk.
    let order: Vec<Kind> = store
        .schema()
        .entity_names()
        .filter_map(|entity| Kind::ALL.into_iter().find(|kind| kind.entity() == entity))
        .collect();
    while let Some(mut chunk) = receiver.recv().await {
        let rows = chunk.row_count();
        for &kind in &order {
            let table_rows = std::mem::take(&mut chunk.tables[kind as usize].rows);
            if table_rows.is_empty() {
                continue;
            }
            let inserted = store
                .bulk_insert(kind.entity(), kind.columns(), table_rows)
                .await
                .with_context(|| format!("inserting demo {} records", kind.entity()))?;
            counts[kind as usize] += inserted;
        }
        if chunk.contacts > 0 {
            contacts_done += chunk.contacts;
            progress(DemoProgress::Contacts {
                done: contacts_done,
            });
        }
        debug!(rows, contacts_done, "inserted a demo chunk");
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI and the HTTP server may run the demo on a spawned task, which needs a `Send`
    /// future. This only has to compile.
    #[allow(dead_code)]
    fn generate_can_run_on_a_spawned_task(store: &Store, options: &DemoOptions) {
        fn assert_send<T: Send>(_: &T) {}
        let future = generate(store, options, &|_| {});
        assert_send(&future);
    }
}
