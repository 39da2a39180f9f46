//! The consolidated table (SPEC §6), on both backends: records and attached-file volume per
//! entity type, active, trashed and pending purge, with the placeholder records left out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lethe_schema::Schema;
use lethe_store::{
    Actor, DatabaseUrl, EntityStats, FileStats, JobRunner, MemberPick, PickSource, Scope,
    StateCounts, Store,
};
mod support;

use lethe_testkit::{TestDatabase, both_backends};
use serde_json::{Value as Json, json};

async fn open(database: &TestDatabase) -> Store {
    let store = Store::open(
        &DatabaseUrl::parse(&database.url).unwrap(),
        Schema::default_crm(),
        &support::options(lethe_store::Clock::system()),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn create(store: &Store, entity: &str, input: Json) -> i64 {
    store
        .create_record(entity, input.as_object().unwrap(), None)
        .await
        .unwrap_or_else(|error| panic!("creating {entity}: {error}"))
        .id
}

async fn attach(store: &Store, database: &TestDatabase, entity: &str, id: i64, size: usize) -> i64 {
    support::attach_file(
        store,
        database,
        "attachment",
        json!({"owner_entity": entity, "owner_id": id, "file_name": "a.pdf"}),
        &vec![b'x'; size],
    )
    .await
    .id
}

/// Trashes the records of `entity` matching `filter` as one deletion batch; returns the batch.
async fn trash(store: &Store, entity: &str, filter: &str) -> i64 {
    let pick = MemberPick {
        entity: entity.to_owned(),
        source: PickSource::Filter(store.parse_filter(entity, filter).unwrap()),
        all_matching: true,
        include: Vec::new(),
        exclude: Vec::new(),
        scope: Scope::Active,
    };
    let snapshot = store.create_snapshot(&pick, "", None).await.unwrap().id;
    let job = store
        .start_trash(snapshot, Some("stats test"), &Actor::operator(), None)
        .await
        .unwrap();
    let job = store
        .run_job(job.id, &JobRunner::default(), &mut |_| {})
        .await
        .unwrap();
    assert!(job.is_finished(), "{job:?}");
    job.batch_id.expect("a trash job has a batch")
}

fn counts(active: u64, trashed: u64, pending_purge: u64) -> StateCounts {
    StateCounts {
        active,
        trashed,
        pending_purge,
        held: 0,
    }
}

fn line<'a>(stats: &'a lethe_store::Stats, entity: &str) -> &'a EntityStats {
    stats
        .entities
        .iter()
        .find(|line| line.entity == entity)
        .unwrap_or_else(|| panic!("no line for {entity}"))
}

both_backends!(
    stats_count_records_and_file_volume_per_state,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let empty = store.stats().await.unwrap();
        assert_eq!(empty.entities.len(), store.schema().entities().len());
        for line in &empty.entities {
            assert_eq!(
                line.records,
                StateCounts::default(),
                "the placeholder of {} is not counted",
                line.entity
            );
            if let Some(files) = &line.files {
                assert_eq!(*files, FileStats::default(), "{}", line.entity);
            }
        }

        let company = create(&store, "company", json!({"name": "Acme"})).await;
        attach(&store, &database, "company", company, 100).await;
        let kept = create(&store, "contact", json!({"last_name": "Kept"})).await;
        attach(&store, &database, "contact", kept, 10).await;
        let loose_file = attach(&store, &database, "contact", kept, 5).await;
        let ticket = create(
            &store,
            "ticket",
            json!({"contact_id": kept, "subject": "broken"}),
        )
        .await;
        attach(&store, &database, "ticket", ticket, 20).await;
        let trashed = create(&store, "contact", json!({"last_name": "Trashed"})).await;
        attach(&store, &database, "contact", trashed, 30).await;
        attach(&store, &database, "contact", trashed, 40).await;
        let doomed = create(&store, "contact", json!({"last_name": "Doomed"})).await;
        attach(&store, &database, "contact", doomed, 50).await;
        create(&store, "note", json!({"contact_id": doomed, "body": "bye"})).await;

        trash(&store, "contact", &format!("id = {trashed}")).await;
        let doomed_batch = trash(&store, "contact", &format!("id = {doomed}")).await;
        // A file trashed on its own while its owner stays active.
        trash(&store, "attachment", &format!("id = {loose_file}")).await;
        // The purge request is someone else's feature; its batch state is all stats reads.
        database
            .execute(&format!(
                "UPDATE lethe_deletion_batch SET state = 'purge_pending' WHERE id = {doomed_batch}"
            ))
            .await;

        let stats = store.stats().await.unwrap();
        let contact = line(&stats, "contact");
        assert_eq!(contact.records, counts(1, 1, 1));
        assert!(!contact.holds_files);
        // Files by the state of the contact that owns them: the loose file is trashed itself
        // but its owner is active.
        assert_eq!(
            contact.files,
            Some(FileStats {
                count: counts(2, 2, 1),
                bytes: counts(15, 70, 50),
            })
        );
        let ticket_line = line(&stats, "ticket");
        assert_eq!(ticket_line.records, counts(1, 0, 0));
        assert_eq!(
            ticket_line.files,
            Some(FileStats {
                count: counts(1, 0, 0),
                bytes: counts(20, 0, 0),
            })
        );
        let company_line = line(&stats, "company");
        assert_eq!(company_line.records, counts(1, 0, 0));
        assert_eq!(company_line.files.unwrap().bytes, counts(100, 0, 0));
        // The note went to the trash with its contact, so it waits for the same purge.
        let note = line(&stats, "note");
        assert_eq!(note.records, counts(0, 0, 1));
        assert_eq!(note.files, None, "no file can be attached to a note");
        assert!(!note.holds_files);
        // Attachments by their own state.
        let attachment = line(&stats, "attachment");
        assert!(attachment.holds_files);
        assert_eq!(attachment.records, counts(3, 3, 1));
        let own = FileStats {
            count: counts(3, 3, 1),
            bytes: counts(130, 75, 50),
        };
        assert_eq!(attachment.files, Some(own));
        assert_eq!(stats.totals.files, own);
        // Every file counted under its owner too.
        let attached: u64 = stats
            .entities
            .iter()
            .filter(|line| !line.holds_files)
            .filter_map(|line| line.files)
            .map(|files| files.bytes.total())
            .sum();
        assert_eq!(attached, own.bytes.total());

        // Each line agrees with an independent count, the placeholder row left out.
        let mut records = StateCounts::default();
        for line in &stats.entities {
            let table = &line.entity;
            let total = database
                .scalar(&format!("SELECT COUNT(*) FROM {table} WHERE id <> 0"))
                .await;
            assert_eq!(line.records.total(), total as u64, "{table}");
            let active = database
                .scalar(&format!(
                    "SELECT COUNT(*) FROM {table} WHERE id <> 0 AND trash_batch_id IS NULL"
                ))
                .await;
            assert_eq!(line.records.active, active as u64, "{table}");
            records.active += line.records.active;
            records.trashed += line.records.trashed;
            records.pending_purge += line.records.pending_purge;
        }
        assert_eq!(stats.totals.records, records);
        assert_eq!(records, counts(6, 4, 3));
    }
);

both_backends!(
    a_batch_leaving_pending_purge_counts_as_trashed_again,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let contact = create(&store, "contact", json!({"last_name": "Maybe"})).await;
        attach(&store, &database, "contact", contact, 7).await;
        let batch = trash(&store, "contact", "all").await;
        let before = store.stats().await.unwrap();
        assert_eq!(line(&before, "contact").records, counts(0, 1, 0));

        database
            .execute(&format!(
                "UPDATE lethe_deletion_batch SET state = 'purge_pending' WHERE id = {batch}"
            ))
            .await;
        let pending = store.stats().await.unwrap();
        assert_eq!(line(&pending, "contact").records, counts(0, 0, 1));
        assert_eq!(
            line(&pending, "contact").files.unwrap().bytes,
            counts(0, 0, 7)
        );
        assert_eq!(line(&pending, "attachment").records, counts(0, 0, 1));

        // A cancelled purge puts the batch back in the plain trash.
        database
            .execute(&format!(
                "UPDATE lethe_deletion_batch SET state = 'trashed' WHERE id = {batch}"
            ))
            .await;
        let cancelled = store.stats().await.unwrap();
        assert_eq!(cancelled, before);
        let json = serde_json::to_value(&cancelled).unwrap();
        let contact_json = json["entities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|line| line["entity"] == "contact")
            .unwrap();
        assert_eq!(
            contact_json["records"],
            json!({"active": 0, "trashed": 1, "pending_purge": 0, "held": 0})
        );
        assert_eq!(contact_json["files"]["bytes"]["trashed"], 7);
    }
);

both_backends!(
    absurd_file_sizes_neither_break_nor_skew_the_report,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let company = create(&store, "company", json!({"name": "Acme"})).await;
        // Sizes are measured when Lethe receives a file; absurd ones come from data written
        // before that, or behind Lethe's back.
        attach(&store, &database, "company", company, 7).await;
        for size in ["-5", "9223372036854775807", "9223372036854775806"] {
            let id = attach(&store, &database, "company", company, 1).await;
            database
                .execute(&format!(
                    "UPDATE attachment SET size_bytes = {size} WHERE id = {id}"
                ))
                .await;
        }
        let stats = store.stats().await.expect("stats despite absurd sizes");
        let files = line(&stats, "company").files.expect("company files");
        assert_eq!(files.count.active, 4);
        // 7 + 0 (negative) + two files counted at 1 TiB each.
        assert_eq!(files.bytes.active, 7 + 2 * (1u64 << 40));
    }
);
