//! A schema whose entity and field names are reserved words of SQLite and PostgreSQL works
//! for every operation on both backends: create, select (filters, sorting, paging, saved
//! selections, explain), snapshots with notes, trash, restore, purge with its physical step,
//! anonymise, bulk update, bulk load and the consolidated statistics (issue 15, item 5).
//!
//! The schema validator accepts any lower snake_case name. Every entity and field name below
//! is a reserved word of PostgreSQL and a keyword of SQLite, except `user` (PostgreSQL only);
//! the owner field `using` becomes the plain columns `using_entity` and `using_id`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lethe_schema::Schema;
use lethe_store::{
    Actor, Backend, DatabaseUrl, JobRunner, ListQuery, MemberPick, PLACEHOLDER_ID, PickSource,
    Record, Scope, SelectionDefinition, SortOrder, Store, StoreError, Value,
};
mod support;

use lethe_testkit::{TestDatabase, both_backends};
use serde_json::{Value as Json, json};

/// Entities `group`, `user`, `order`, `constraint`, `table`, `window`, `with`; fields such as
/// `select`, `check`, `from`, `to`, `where`, `limit`, `default`, `desc`, `table`, `column`,
/// `references`, `offset`, `primary`, `unique`, `union`; every deletion rule; an owner field
/// and files.
const SCHEMA: &str = r#"
version = 1

[entities.group]
description = "A group; its users go to the trash with it."
fields.select = { type = "text", required = true, indexed = true }
fields.check = { type = "enum", values = ["open", "closed"], required = true, default = "open", indexed = true }

[entities.user]
description = "A person in a group."
fields.group = { type = "reference", to = "group", on_delete = "cascade" }
fields.from = { type = "text", personal = true, anonymize = "fixed", anonymize_value = "Deleted", indexed = true }
fields.to = { type = "text", personal = true, anonymize = "null" }
fields.where = { type = "text", personal = true, anonymize = "hash", indexed = true }
fields.limit = { type = "integer", indexed = true }
fields.default = { type = "boolean", default = false }
fields.desc = { type = "json", personal = true, anonymize = "null" }

[entities.order]
description = "An order of a user; it goes with the user."
fields.user = { type = "reference", to = "user", on_delete = "cascade", required = true }
fields.table = { type = "decimal", scale = 2, indexed = true }
fields.column = { type = "date", indexed = true }
fields.references = { type = "text", personal = true, anonymize = "null" }
fields.offset = { type = "integer" }

[entities.constraint]
description = "A user with a constraint may not be deleted."
fields.user = { type = "reference", to = "user", on_delete = "restrict" }
fields.primary = { type = "text", required = true }

[entities.table]
description = "Kept when its group is purged; the link is cut."
fields.group = { type = "reference", to = "group", on_delete = "set_null" }
fields.unique = { type = "text", indexed = true }

[entities.window]
description = "Kept when its user is purged: it points at the Deleted User, anonymised."
fields.user = { type = "reference", to = "user", on_delete = "anonymize" }
fields.union = { type = "text", personal = true, anonymize = "fixed", anonymize_value = "[removed]" }

[entities.with]
description = "A file attached to a user or a group."
fields.using = { type = "owner", entities = ["user", "group"], on_delete = "cascade", required = true }
fields.file_name = { type = "text", required = true, personal = true, anonymize = "fixed", anonymize_value = "removed-file" }
fields.size_bytes = { type = "integer", required = true }
fields.storage_key = { type = "text", required = true, unique = true }
"#;

fn schema() -> Schema {
    Schema::from_toml(SCHEMA).expect("reserved words are valid names")
}

async fn open(database: &TestDatabase) -> Store {
    let store = Store::open(
        &DatabaseUrl::parse(&database.url).unwrap(),
        schema(),
        &support::options(lethe_store::Clock::system()),
    )
    .await
    .unwrap();
    let report = store.migrate().await.unwrap();
    let mut created = report.created_tables.clone();
    created.sort();
    assert_eq!(
        created,
        [
            "constraint",
            "group",
            "order",
            "table",
            "user",
            "window",
            "with"
        ]
    );
    support::use_files_folder(&store, database);
    store
}

async fn create(store: &Store, entity: &str, input: Json) -> i64 {
    store
        .create_record(entity, input.as_object().unwrap(), None)
        .await
        .unwrap_or_else(|error| panic!("creating {entity}: {error}"))
        .id
}

async fn count(store: &Store, entity: &str, filter: &str, scope: Scope) -> u64 {
    let filter = store
        .parse_filter(entity, filter)
        .unwrap_or_else(|error| panic!("{filter}: {error}"));
    store
        .count_matching(&filter, scope)
        .await
        .unwrap_or_else(|error| panic!("counting {entity} {filter:?}: {error}"))
}

async fn snapshot(store: &Store, entity: &str, filter: &str, note: &str) -> lethe_store::Snapshot {
    let pick = MemberPick {
        entity: entity.to_owned(),
        source: PickSource::Filter(store.parse_filter(entity, filter).unwrap()),
        all_matching: true,
        include: Vec::new(),
        exclude: Vec::new(),
        scope: Scope::Active,
    };
    store
        .create_snapshot(&pick, note, None)
        .await
        .unwrap_or_else(|error| panic!("snapshot of {entity} {filter}: {error:?}"))
}

async fn run(store: &Store, job: i64) -> lethe_store::Job {
    let job = store
        .run_job(job, &JobRunner::default(), &mut |_| {})
        .await
        .unwrap_or_else(|error| panic!("running job {job}: {error:?}"));
    assert_eq!(job.state.as_str(), "done", "{job:?}");
    job
}

fn ids(records: &[Record]) -> Vec<i64> {
    records.iter().map(|record| record.id).collect()
}

fn text(record: &Record, field: &str) -> Option<String> {
    match record.get(field) {
        Some(Value::Text(text)) => Some(text.clone()),
        _ => None,
    }
}

/// The records of the test and their ids.
struct Data {
    keep: i64,
    doomed: i64,
    held: i64,
    alice: i64,
    bob: i64,
    dora: i64,
    hank: i64,
    dora_order: i64,
    cut: i64,
    comment: i64,
    file: std::path::PathBuf,
}

/// Three groups: `keep` with Alice (two orders) and Bob, `doomed` with Dora (an order, a
/// file, a `window` that points at her, a `table` that points at the group), `held` with
/// Hank, whom a `constraint` protects. Dora and Alice share their `where` value, so a kept
/// record explains it when the purge looks for Dora's values afterwards.
async fn populate(store: &Store, database: &TestDatabase) -> Data {
    let keep = create(store, "group", json!({"select": "keep"})).await;
    let doomed = create(store, "group", json!({"select": "doomed"})).await;
    let held = create(store, "group", json!({"select": "held", "check": "closed"})).await;
    let alice = create(
        store,
        "user",
        json!({"group": keep, "from": "Alice Keeper", "to": "alice.to@example.org",
               "where": "shared.address@example.org", "limit": 7, "default": true,
               "desc": {"note": "alice"}}),
    )
    .await;
    let bob = create(
        store,
        "user",
        json!({"group": keep, "from": "Bob Keeper", "where": "bob.keeper@example.org", "limit": 2}),
    )
    .await;
    let dora = create(
        store,
        "user",
        json!({"group": doomed, "from": "Dora Doomed", "to": "dora.to@example.org",
               "where": "shared.address@example.org", "limit": 5, "desc": {"note": "dora"}}),
    )
    .await;
    let hank = create(
        store,
        "user",
        json!({"group": held, "from": "Hank Held", "where": "hank.held@example.org", "limit": 3}),
    )
    .await;
    for (table, column) in [("10.50", "2024-01-02"), ("99.00", "2024-03-04")] {
        create(
            store,
            "order",
            json!({"user": alice, "table": table, "column": column, "references": "alice order"}),
        )
        .await;
    }
    let dora_order = create(
        store,
        "order",
        json!({"user": dora, "table": "42.00", "column": "2024-02-03", "references": "dora private order reference"}),
    )
    .await;
    create(
        store,
        "constraint",
        json!({"user": hank, "primary": "keeps Hank"}),
    )
    .await;
    let cut = create(
        store,
        "table",
        json!({"group": doomed, "unique": "cut from doomed"}),
    )
    .await;
    let comment = create(
        store,
        "window",
        json!({"user": dora, "union": "Dora wrote this long comment"}),
    )
    .await;
    let attached = support::attach_file(
        store,
        database,
        "with",
        json!({"using_entity": "user", "using_id": dora, "file_name": "dora-secret.txt"}),
        b"dora's file",
    )
    .await;
    Data {
        keep,
        doomed,
        held,
        alice,
        bob,
        dora,
        hank,
        dora_order,
        cut,
        comment,
        file: support::file_path(store, &attached),
    }
}

both_backends!(
    every_operation_works_when_names_are_reserved_words,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let data = populate(&store, &database).await;
        let Data {
            keep,
            doomed,
            held,
            alice,
            bob,
            dora,
            hank,
            dora_order,
            cut,
            comment,
            ..
        } = data;

        // Reading back a record names every column.
        let read = store.get_record("user", alice).await.unwrap();
        assert_eq!(text(&read, "from").as_deref(), Some("Alice Keeper"));
        assert_eq!(read.get("limit"), Some(&Value::Integer(7)));
        assert_eq!(read.get("default"), Some(&Value::Boolean(true)));
        assert_eq!(
            store.get_record("user", bob).await.unwrap().get("default"),
            Some(&Value::Boolean(false)),
            "the schema's default"
        );
        let updated = store
            .update_record(
                "user",
                bob,
                json!({"to": "bob.to@example.org"}).as_object().unwrap(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(text(&updated, "to").as_deref(), Some("bob.to@example.org"));

        // Filters name the reserved-word fields, parents, children and duplicates.
        let cases = [
            (
                "user",
                r#"where = "shared.address@example.org" and limit >= 5"#,
                2,
            ),
            ("user", r#"group.select = "keep" and limit > 1"#, 2),
            ("user", r#"group.check = "closed""#, 1),
            ("user", r#"from starts_with "D" or to is null"#, 2),
            ("user", r#"where contains "keeper" and default = false"#, 1),
            (
                "user",
                "exists order(table > 20 and column >= 2024-01-01)",
                2,
            ),
            ("user", "count(order) >= 2", 1),
            ("user", "none constraint", 3),
            ("user", "exists window", 1),
            ("user", "exists with", 1),
            ("user", "duplicate(where)", 2),
            ("user", "duplicate(where, keep oldest)", 1),
            ("user", "duplicate(limit)", 0),
            ("order", r#"user.from = "Alice Keeper" and table < 50"#, 1),
            ("order", r#"user.group.select = "doomed""#, 1),
            (
                "group",
                r#"exists user(where = "shared.address@example.org")"#,
                2,
            ),
            ("group", "exists table", 1),
            ("with", r#"file_name = "dora-secret.txt""#, 1),
        ];
        for (entity, filter, expected) in cases {
            assert_eq!(
                count(&store, entity, filter, Scope::Active).await,
                expected,
                "{entity}: {filter}"
            );
        }
        let filter = store.parse_filter("user", "limit >= 0").unwrap();
        let explained = store.explain(&filter, Scope::Active).await.unwrap();
        assert!(!explained.plan.is_empty(), "{explained:?}");

        // Sorting and paging by reserved-word columns.
        let by_limit = ListQuery {
            sort: Some("limit".to_owned()),
            order: SortOrder::Desc,
            limit: Some(3),
            cursor: None,
        };
        let page = store
            .select_page(&filter, Scope::Active, &by_limit)
            .await
            .unwrap();
        assert_eq!(ids(&page.records), [alice, dora, hank]);
        let next = store
            .select_page(
                &filter,
                Scope::Active,
                &ListQuery {
                    cursor: page.next_cursor.clone(),
                    ..by_limit.clone()
                },
            )
            .await
            .unwrap();
        assert_eq!(ids(&next.records), [bob]);
        let by_column = store
            .list_records(
                "order",
                &ListQuery {
                    sort: Some("column".to_owned()),
                    order: SortOrder::Asc,
                    limit: Some(2),
                    cursor: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(by_column.records.len(), 2);
        assert_eq!(by_column.records[1].id, dora_order, "2024-02-03 is second");
        let by_table = store
            .list_records(
                "order",
                &ListQuery {
                    sort: Some("table".to_owned()),
                    order: SortOrder::Desc,
                    limit: Some(1),
                    cursor: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            text(&by_table.records[0], "references").as_deref(),
            Some("alice order")
        );

        // A saved selection, counted and paged.
        let shared = store
            .parse_filter("user", r#"where = "shared.address@example.org""#)
            .unwrap();
        store
            .save_selection(
                "shared",
                "user",
                &SelectionDefinition::Dynamic(shared),
                "",
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .count_selection("shared", Scope::Active)
                .await
                .unwrap(),
            2
        );
        let page = store
            .selection_page(
                "shared",
                Scope::Active,
                &ListQuery {
                    sort: Some("from".to_owned()),
                    order: SortOrder::Desc,
                    limit: None,
                    cursor: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(ids(&page.records), [dora, alice]);

        // A snapshot's note keeps no personal value of its members (the values are looked
        // up by the reserved-word columns).
        let noted = snapshot(
            &store,
            "user",
            r#"from = "Hank Held""#,
            "asked by Hank Held",
        )
        .await;
        assert_eq!(noted.member_count, 1);
        assert!(!noted.note.contains("Hank Held"), "{}", noted.note);

        // Trash: the doomed group goes with Dora, her order and her file; the held group
        // stays, blocked by the `restrict` rule.
        let before = database.dump_entities(&schema()).await;
        let members = snapshot(&store, "group", r#"select in ["doomed", "held"]"#, "").await;
        let preview = store.preview_trash(members.id).await.unwrap();
        assert_eq!((preview.members, preview.blocked), (2, 1), "{preview:?}");
        let acted: Vec<(&str, u64)> = preview
            .acted_on
            .iter()
            .map(|count| (count.entity.as_str(), count.records))
            .collect();
        for expected in [("group", 1), ("user", 1), ("order", 1), ("with", 1)] {
            assert!(acted.contains(&expected), "{acted:?}");
        }
        let job = store
            .start_trash(
                members.id,
                Some("Dora Doomed left"),
                &Actor::operator(),
                None,
            )
            .await
            .unwrap();
        let trashed = run(&store, job.id).await;
        assert_eq!(trashed.blocked, 1);
        for (entity, records) in [("group", 1), ("user", 1), ("order", 1), ("with", 1)] {
            assert_eq!(trashed.counts[entity], records, "{entity}: {trashed:?}");
        }
        assert!(matches!(
            store.get_record("user", dora).await,
            Err(StoreError::InTrash { .. })
        ));
        assert!(store.get_record("group", held).await.is_ok());
        assert_eq!(count(&store, "user", "all", Scope::Trashed).await, 1);
        database
            .assert_no_active_child_under_trashed_parent(&schema())
            .await;

        // Restore brings back exactly what the trash took.
        let batch = trashed.batch_id.unwrap();
        let restore = store
            .start_restore(batch, None, &Actor::operator(), None)
            .await
            .unwrap();
        let restored = run(&store, restore.id).await;
        assert_eq!(restored.counts["user"], 1);
        assert_eq!(
            database.dump_entities(&schema()).await,
            before,
            "restore is exact"
        );

        // Trash again, then an urgent purge (no grace) runs to its end.
        let again = snapshot(&store, "group", r#"select = "doomed""#, "").await;
        let job = store
            .start_trash(again.id, None, &Actor::operator(), None)
            .await
            .unwrap();
        let batch = run(&store, job.id).await.batch_id.unwrap();
        let preview = store.preview_purge(batch).await.unwrap();
        let rewritten: Vec<(&str, u64)> = preview
            .rewritten
            .iter()
            .map(|count| (count.entity.as_str(), count.records))
            .collect();
        assert!(rewritten.contains(&("table", 1)), "{preview:?}");
        assert!(rewritten.contains(&("window", 1)), "{preview:?}");
        let purge = store
            .request_purge(
                batch,
                &Actor::operator(),
                Some(time::Duration::ZERO),
                false,
                Some("erasure request"),
                None,
            )
            .await
            .unwrap();
        let done = run(&store, purge.id).await;
        for (entity, records) in [("group", 1), ("user", 1), ("order", 1), ("with", 1)] {
            assert_eq!(done.counts[entity], records, "{entity}: {done:?}");
        }
        assert_eq!(done.rewritten["table"], 1, "{done:?}");
        assert_eq!(done.rewritten["window"], 1, "{done:?}");
        assert_eq!(
            store.deletion_batch(batch).await.unwrap().state.as_str(),
            "purged"
        );
        for (entity, id) in [("group", doomed), ("user", dora), ("order", dora_order)] {
            assert!(
                matches!(
                    store.get_record(entity, id).await,
                    Err(StoreError::NotFound { .. })
                ),
                "{entity} {id} is erased"
            );
        }
        assert_eq!(
            store.get_record("table", cut).await.unwrap().get("group"),
            Some(&Value::Null),
            "set_null cut the link"
        );
        let kept = store.get_record("window", comment).await.unwrap();
        assert_eq!(kept.get("user"), Some(&Value::Integer(PLACEHOLDER_ID)));
        assert_eq!(text(&kept, "union").as_deref(), Some("[removed]"));
        assert!(!data.file.exists(), "the file is removed");
        let receipt = done.receipt.clone().expect("a receipt");
        assert_eq!(receipt["erased"]["user"], 1, "{receipt}");
        assert_eq!(receipt["files"]["removed"], 1, "{receipt}");
        assert_eq!(receipt["database"]["backend"], store.backend().as_str());
        if store.backend() == Backend::Postgres {
            let rewritten = receipt["database"]["tables_rewritten"]
                .as_array()
                .unwrap_or_else(|| panic!("{receipt}"));
            for table in ["user", "order", "with", "window"] {
                assert!(rewritten.contains(&json!(table)), "{table}: {receipt}");
            }
        }
        database.assert_no_dangling_references(&schema()).await;

        // A user erased on her own: her personal values are looked for afterwards (SQLite:
        // in the files; PostgreSQL: in the planner statistics), and one of them, which Alice
        // holds too, is explained by a query on the reserved-word columns. Her name in the
        // reasons is not kept.
        let erin = create(
            &store,
            "user",
            json!({"group": keep, "from": "Erin Erased", "to": "erin.unique@example.org",
                   "where": "shared.address@example.org", "limit": 1}),
        )
        .await;
        if store.backend() == Backend::Sqlite {
            // Planner statistics that sample her values: the purge finds them there and
            // takes the statistics again (`ANALYZE` of the touched tables).
            database.execute("ANALYZE").await;
            assert!(database.scalar("SELECT COUNT(*) FROM sqlite_stat4").await > 0);
        }
        let members = snapshot(&store, "user", &format!("id = {erin}"), "").await;
        let job = store
            .start_trash(
                members.id,
                Some("Erin Erased asked"),
                &Actor::operator(),
                None,
            )
            .await
            .unwrap();
        assert!(!job.reason.clone().unwrap().contains("Erin"), "{job:?}");
        let batch = run(&store, job.id).await.batch_id.unwrap();
        let purge = store
            .request_purge(
                batch,
                &Actor::operator(),
                Some(time::Duration::ZERO),
                false,
                Some("erasure request of Erin Erased"),
                None,
            )
            .await
            .unwrap();
        assert!(!purge.reason.clone().unwrap().contains("Erin"), "{purge:?}");
        let done = run(&store, purge.id).await;
        assert_eq!(done.counts["user"], 1, "{done:?}");
        assert!(matches!(
            store.get_record("user", erin).await,
            Err(StoreError::NotFound { .. })
        ));
        let receipt = done.receipt.clone().expect("a receipt");
        match store.backend() {
            Backend::Sqlite => {
                let scan = &receipt["database"]["scan"];
                assert!(scan["values_checked"].as_u64().unwrap() >= 3, "{receipt}");
                assert!(
                    scan["explained"]["values"].as_u64().unwrap() >= 1,
                    "Alice holds the shared value: {receipt}"
                );
                let steps = scan["remedy"]["steps"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                assert!(
                    steps
                        .first()
                        .and_then(Json::as_str)
                        .is_some_and(|step| step.starts_with("ANALYZE of ")),
                    "{receipt}"
                );
                assert_eq!(scan["residue_after_remedy"]["values"], 0, "{receipt}");
            }
            Backend::Postgres => {
                let names = |value: &Json| value.as_array().cloned().unwrap_or_default();
                let database = &receipt["database"];
                assert!(
                    names(&database["tables_rewritten"]).contains(&json!("user")),
                    "{receipt}"
                );
                let statistics = &database["statistics"];
                assert!(
                    names(&statistics["analyzed"]).contains(&json!("user")),
                    "{receipt}"
                );
                assert!(
                    statistics["erased_values_sampled_and_held_by_kept_records"]
                        .as_u64()
                        .unwrap()
                        >= 1,
                    "Alice holds the shared value: {receipt}"
                );
                assert_eq!(statistics["erased_values_in_statistics"], 0, "{receipt}");
            }
        }
        database.assert_no_dangling_references(&schema()).await;

        // Anonymise the keep group's users: their personal fields are overwritten, the rest
        // stays.
        let members = snapshot(&store, "user", r#"group.select = "keep""#, "").await;
        let job = store
            .start_anonymize(members.id, &Actor::operator(), None)
            .await
            .unwrap();
        let anonymised = run(&store, job.id).await;
        assert_eq!(anonymised.rewritten["user"], 2, "{anonymised:?}");
        let alice_now = store.get_record("user", alice).await.unwrap();
        assert_eq!(text(&alice_now, "from").as_deref(), Some("Deleted"));
        assert_eq!(alice_now.get("to"), Some(&Value::Null));
        assert_eq!(alice_now.get("desc"), Some(&Value::Null));
        assert!(
            text(&alice_now, "where").unwrap().starts_with("hash:"),
            "{alice_now:?}"
        );
        assert_eq!(alice_now.get("limit"), Some(&Value::Integer(7)));
        assert_eq!(
            text(&store.get_record("user", hank).await.unwrap(), "from").as_deref(),
            Some("Hank Held"),
            "not a member"
        );

        // A bulk update sets reserved-word fields on every member.
        let members = snapshot(&store, "order", "table >= 10", "").await;
        assert_eq!(members.member_count, 2);
        let changes = json!({"offset": 3, "column": "2025-06-30"});
        let changes = changes.as_object().unwrap();
        let preview = store.preview_update(members.id, changes).await.unwrap();
        assert_eq!(preview.acted_on[0].records, 2);
        let job = store
            .start_update(members.id, changes, &Actor::operator(), None)
            .await
            .unwrap();
        let updated = run(&store, job.id).await;
        assert_eq!(updated.rewritten["order"], 2, "{updated:?}");
        assert_eq!(
            count(
                &store,
                "order",
                "offset = 3 and column = 2025-06-30",
                Scope::Active
            )
            .await,
            2
        );

        // The consolidated table counts every entity.
        let stats = store.stats().await.unwrap();
        let line = |entity: &str| {
            stats
                .entities
                .iter()
                .find(|line| line.entity == entity)
                .unwrap_or_else(|| panic!("{entity} in {stats:?}"))
                .records
        };
        assert_eq!(line("group").active, 2);
        assert_eq!(line("user").active, 3);
        assert_eq!(line("order").active, 2);
        assert_eq!(line("table").active, 1);
        assert_eq!(line("window").active, 1);
        assert_eq!(line("with").total(), 0);
        assert_eq!(stats.totals.records.trashed, 0);
        assert!(store.get_record("group", keep).await.is_ok());
    }
);

both_backends!(
    a_bulk_load_and_a_large_update_work_when_names_are_reserved_words,
    |database: TestDatabase| async move {
        const ROWS: usize = 1_000;
        let store = open(&database).await;
        let group = create(&store, "group", json!({"select": "load"})).await;
        let user = create(
            &store,
            "user",
            json!({"group": group, "from": "Loader", "limit": 1}),
        )
        .await;
        let now = Value::Timestamp(store.now());
        let rows: Vec<Vec<Value>> = (0..ROWS)
            .map(|index| {
                vec![
                    now.clone(),
                    now.clone(),
                    Value::Integer(user),
                    Value::Integer(index as i64),
                    Value::Text(format!("reference {index}")),
                ]
            })
            .collect();
        store.begin_bulk_load().await.unwrap();
        let loaded = store
            .bulk_insert(
                "order",
                &["created_at", "updated_at", "user", "offset", "references"],
                rows,
            )
            .await
            .unwrap();
        assert_eq!(loaded, ROWS as u64);
        store.finish_bulk_load().await.unwrap();
        assert_eq!(store.count_records("order").await.unwrap(), ROWS as u64);
        assert_eq!(
            count(
                &store,
                "order",
                "user.from = \"Loader\" and offset >= 500",
                Scope::Active
            )
            .await,
            500
        );
        // A new order gets an id after the loaded ones (the sequence was moved past them).
        let next = create(&store, "order", json!({"user": user})).await;
        assert!(next > ROWS as i64, "{next}");

        // Changing many rows, by an update or a trash: on PostgreSQL the table's statistics
        // are taken again at once (`ANALYZE "order"`), since the next statements select by
        // the columns changed.
        let postgres = store.backend() == Backend::Postgres;
        let started = analysis_clock(&database, postgres).await;
        let members = snapshot(&store, "order", "offset >= 0", "").await;
        assert_eq!(members.member_count, ROWS as u64);
        let changes = json!({"table": "1.25"});
        let job = store
            .start_update(
                members.id,
                changes.as_object().unwrap(),
                &Actor::operator(),
                None,
            )
            .await
            .unwrap();
        let updated = run(&store, job.id).await;
        assert_eq!(updated.rewritten["order"], ROWS as u64);
        assert_eq!(
            count(&store, "order", "table = 1.25", Scope::Active).await,
            ROWS as u64
        );
        if postgres {
            assert!(
                analysed_since(&database, "order", started).await,
                "the update analysed \"order\""
            );
        }

        let started = analysis_clock(&database, postgres).await;
        let members = snapshot(&store, "order", "table = 1.25", "").await;
        let job = store
            .start_trash(members.id, None, &Actor::operator(), None)
            .await
            .unwrap();
        let trashed = run(&store, job.id).await;
        assert_eq!(trashed.counts["order"], ROWS as u64);
        assert_eq!(count(&store, "order", "all", Scope::Active).await, 1);
        if postgres {
            assert!(
                analysed_since(&database, "order", started).await,
                "the trash analysed \"order\""
            );
        }
    }
);

/// PostgreSQL's clock in microseconds (0 on SQLite).
async fn analysis_clock(database: &TestDatabase, postgres: bool) -> i64 {
    if !postgres {
        return 0;
    }
    database
        .scalar("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")
        .await
}

/// Whether `table` was analysed after `started` (the statistics collector reports with a
/// small delay, so this waits up to five seconds).
async fn analysed_since(database: &TestDatabase, table: &str, started: i64) -> bool {
    let query = format!(
        "SELECT COUNT(*) FROM pg_stat_user_tables WHERE relname = '{table}' \
         AND extract(epoch FROM last_analyze) * 1000000 >= {started}"
    );
    for _ in 0..50 {
        if database.scalar(&query).await > 0 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}
