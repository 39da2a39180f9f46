//! Black-box tests of `lethe demo` against a fresh SQLite database in a temporary directory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use lethe_demo::{DemoOptions, DemoProgress, DemoReport, generate};
use lethe_schema::Schema;
use lethe_store::{DatabaseUrl, ListQuery, Record, Store, Value};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

async fn fresh_store(directory: &Path, name: &str) -> anyhow::Result<Store> {
    let path = directory.join(name);
    let url = DatabaseUrl::parse(&path.to_string_lossy())?;
    let store = Store::open(&url, Schema::default_crm(), &Default::default()).await?;
    store.migrate().await?;
    Ok(store)
}

fn options(directory: &Path, contacts: u64, seed: u64) -> DemoOptions {
    DemoOptions {
        contacts,
        seed,
        files_dir: directory.join("files"),
        now: NOW,
        created_by: None,
    }
}

/// Every record of an entity, read back through the store's paging.
async fn all_records(store: &Store, entity: &str) -> anyhow::Result<Vec<Record>> {
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let query = ListQuery {
            limit: Some(1_000),
            cursor,
            ..ListQuery::default()
        };
        let page = store.list_records(entity, &query).await?;
        records.extend(page.records);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(records),
        }
    }
}

fn count_of(report: &DemoReport, entity: &str) -> u64 {
    report
        .counts
        .iter()
        .find(|(name, _)| name == entity)
        .map_or(0, |(_, count)| *count)
}

#[tokio::test]
async fn a_small_demo_fills_every_table_in_the_expected_ratios() -> anyhow::Result<()> {
    // Arrange
    let directory = tempfile::tempdir()?;
    let store = fresh_store(directory.path(), "demo.db").await?;
    let events = Mutex::new(Vec::new());
    let record_event = |event: DemoProgress| {
        if let Ok(mut events) = events.lock() {
            events.push(event);
        }
    };

    // Act
    let started = std::time::Instant::now();
    let report = generate(&store, &options(directory.path(), 2_000, 1), &record_event).await?;
    eprintln!(
        "2,000 contacts generated in {:?}: {report:?}",
        started.elapsed()
    );

    // Assert: the report matches the database, in schema order.
    let schema_order: Vec<&str> = store.schema().entity_names().collect();
    let report_order: Vec<&str> = report
        .counts
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(report_order, schema_order);
    for (entity, count) in &report.counts {
        assert_eq!(store.count_records(entity).await?, *count, "{entity}");
    }

    // Volumes per contact, roughly as at a million contacts.
    let per_contact = |entity: &str| count_of(&report, entity) as f64 / 2_000.0;
    assert_eq!(count_of(&report, "contact"), 2_000);
    assert_eq!(count_of(&report, "company"), 200);
    for (entity, low, high) in [
        ("activity", 4.0, 6.0),
        ("note", 1.6, 2.4),
        ("message", 0.7, 1.3),
        ("deal", 0.35, 0.7),
        ("ticket", 0.12, 0.3),
        ("ticket_comment", 0.25, 0.6),
        ("survey_rating", 0.05, 0.17),
        ("consent", 0.3, 0.5),
        ("invoice", 0.08, 0.24),
        ("project", 0.02, 0.09),
        ("time_entry", 0.1, 0.6),
        ("campaign_membership", 0.45, 0.75),
        ("attachment", 0.015, 0.055),
    ] {
        let ratio = per_contact(entity);
        assert!(
            (low..=high).contains(&ratio),
            "{entity}: {ratio} per contact"
        );
    }

    // A good share of contacts have had no interaction for two years, some never had one.
    let two_years_ago = NOW - Duration::days(730);
    let mut last_activity: HashMap<i64, OffsetDateTime> = HashMap::new();
    for activity in all_records(&store, "activity").await? {
        if let (Some(Value::Integer(contact)), Some(Value::Timestamp(at))) =
            (activity.get("contact_id"), activity.get("happened_at"))
        {
            let newest = last_activity.entry(*contact).or_insert(*at);
            *newest = (*newest).max(*at);
        }
    }
    let never = 2_000 - last_activity.len();
    let quiet = never
        + last_activity
            .values()
            .filter(|at| **at < two_years_ago)
            .count();
    assert!(
        (60..300).contains(&never),
        "{never} contacts never had an activity"
    );
    assert!(
        (600..1_100).contains(&quiet),
        "{quiet} contacts quiet for two years"
    );

    // Attachments are real files of the recorded size.
    let attachments = all_records(&store, "attachment").await?;
    assert_eq!(report.files_written, attachments.len() as u64);
    let mut bytes = 0;
    for attachment in &attachments {
        let (Some(Value::Text(key)), Some(Value::Integer(size))) =
            (attachment.get("storage_key"), attachment.get("size_bytes"))
        else {
            panic!("attachment {} lacks a key or size", attachment.id);
        };
        let metadata = std::fs::metadata(directory.path().join("files").join(key))?;
        assert_eq!(metadata.len(), *size as u64, "{key}");
        bytes += metadata.len();
    }
    assert_eq!(report.file_bytes, bytes);

    // Progress went from start to finish.
    let events = events
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    assert_eq!(
        events.first(),
        Some(&DemoProgress::Started {
            total_contacts: 2_000
        })
    );
    assert_eq!(events.last(), Some(&DemoProgress::Finishing));
    assert!(events.contains(&DemoProgress::Contacts { done: 2_000 }));
    Ok(())
}

#[tokio::test]
async fn a_second_demo_into_the_same_database_is_refused() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let store = fresh_store(directory.path(), "demo.db").await?;
    generate(&store, &options(directory.path(), 50, 1), &|_| {}).await?;

    let error = generate(&store, &options(directory.path(), 50, 2), &|_| {})
        .await
        .expect_err("the database is not empty");

    let message = error.to_string();
    assert!(message.contains("already has 50 contacts"), "{message}");
    assert!(message.contains("new --db path"), "{message}");
    assert_eq!(store.count_records("contact").await?, 50);
    Ok(())
}

#[tokio::test]
async fn the_same_seed_builds_the_same_database() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let first = fresh_store(directory.path(), "first.db").await?;
    let second = fresh_store(directory.path(), "second.db").await?;

    generate(
        &first,
        &options(&directory.path().join("one"), 150, 77),
        &|_| {},
    )
    .await?;
    generate(
        &second,
        &options(&directory.path().join("two"), 150, 77),
        &|_| {},
    )
    .await?;

    for entity in ["company", "contact", "activity", "invoice", "attachment"] {
        let first_records = all_records(&first, entity).await?;
        let second_records = all_records(&second, entity).await?;
        assert!(!first_records.is_empty(), "{entity}");
        assert_eq!(first_records, second_records, "{entity}");
    }
    Ok(())
}
