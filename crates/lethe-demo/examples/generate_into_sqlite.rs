//! Times the demo generator against a fresh SQLite database:
//!
//! ```text
//! cargo run --release -p lethe-demo --example generate_into_sqlite -- 20000 /tmp/lethe-demo
//! ```
//!
//! The directory (created if missing, and which must not already hold a `demo.db`) receives
//! `demo.db` and the attachment files.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use lethe_demo::{DemoOptions, DemoProgress, generate};
use lethe_schema::Schema;
use lethe_store::{DatabaseUrl, Store};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut arguments = std::env::args().skip(1);
    let contacts: u64 = arguments
        .next()
        .unwrap_or_else(|| "20000".to_owned())
        .parse()
        .context("the first argument is the number of contacts")?;
    let directory = PathBuf::from(
        arguments
            .next()
            .unwrap_or_else(|| "lethe-demo-timing".to_owned()),
    );
    std::fs::create_dir_all(&directory)?;
    let database = directory.join("demo.db");
    if database.exists() {
        bail!("{} exists; give an empty directory", database.display());
    }

    let store = Store::open(
        &DatabaseUrl::parse(&database.to_string_lossy())?,
        Schema::default_crm(),
        &lethe_store::StoreOptions::default(),
    )
    .await?;
    store.migrate().await?;
    let options = DemoOptions {
        contacts,
        seed: 1,
        files_dir: directory.join("files"),
        now: time::OffsetDateTime::now_utc(),
        created_by: None,
    };
    let started = Instant::now();
    let report = generate(&store, &options, &|event| {
        if let DemoProgress::Contacts { done } = event {
            eprint!("\r{done} contacts after {:.1?}", started.elapsed());
        }
    })
    .await?;
    eprintln!();
    let rows: u64 = report.counts.iter().map(|(_, count)| count).sum();
    println!(
        "{contacts} contacts, {rows} rows, {} files ({} bytes) in {:.2?}",
        report.files_written,
        report.file_bytes,
        started.elapsed()
    );
    for (entity, count) in &report.counts {
        println!("{entity:>20} {count:>10}");
    }
    Ok(())
}
