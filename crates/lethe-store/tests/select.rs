//! Selections over the default CRM schema on both backends: each construct of the filter
//! language selects exactly the records it should, and `explain` shows a real plan.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lethe_schema::Schema;
use lethe_store::{Clock, DatabaseUrl, ListQuery, Scope, Store};
mod support;

use lethe_testkit::{TestDatabase, both_backends};
use serde_json::{Value as Json, json};

fn now() -> time::OffsetDateTime {
    lethe_store::parse_timestamp("2026-06-01T12:00:00Z").unwrap()
}

async fn open(database: &TestDatabase) -> Store {
    let store = Store::open(
        &DatabaseUrl::parse(&database.url).unwrap(),
        Schema::default_crm(),
        &support::options(Clock::fixed(now())),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn create(store: &Store, entity: &str, value: Json) -> i64 {
    store
        .create_record(entity, value.as_object().unwrap(), None)
        .await
        .unwrap()
        .id
}

/// Ids selected by a filter, through paging, after checking the count agrees.
async fn ids(store: &Store, entity: &str, text: &str) -> Vec<i64> {
    let filter = store
        .parse_filter(entity, text)
        .unwrap_or_else(|error| panic!("{text}: {error}"));
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let query = ListQuery {
            limit: Some(2),
            cursor: cursor.clone(),
            ..Default::default()
        };
        let page = store
            .select_page(&filter, Scope::Active, &query)
            .await
            .unwrap();
        ids.extend(page.records.iter().map(|record| record.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        store.count_matching(&filter, Scope::Active).await.unwrap(),
        ids.len() as u64,
        "{text}"
    );
    ids
}

both_backends!(
    each_construct_selects_exactly_its_records,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let acme = create(
            &store,
            "company",
            json!({"name": "Acme", "category": "customer"}),
        )
        .await;
        let other = create(
            &store,
            "company",
            json!({"name": "Other", "category": "prospect"}),
        )
        .await;
        // Contacts: created_at is "now" (the fixed clock) for all, so age tests use activities.
        let anna = create(&store, "contact", json!({"company_id": acme, "first_name": "Anna", "last_name": "Berg", "email": "Anna@Example.com", "category": "prospect"})).await;
        let anna2 = create(&store, "contact", json!({"first_name": "anna", "last_name": "berg", "email": "  anna@example.com ", "category": "prospect"})).await;
        let bo = create(&store, "contact", json!({"company_id": other, "first_name": "Bo", "last_name": "Ek", "email": "bo@example.org", "category": "customer"})).await;
        let cy = create(
            &store,
            "contact",
            json!({"last_name": "Cy 100%_off", "category": "lost"}),
        )
        .await;
        create(
            &store,
            "activity",
            json!({"contact_id": anna, "kind": "call", "happened_at": "2025-12-01T00:00:00Z"}),
        )
        .await;
        create(
            &store,
            "activity",
            json!({"contact_id": bo, "kind": "task", "happened_at": "2021-01-01T00:00:00Z"}),
        )
        .await;
        create(
            &store,
            "consent",
            json!({"contact_id": bo, "purpose": "marketing", "granted_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
        create(&store, "consent", json!({"contact_id": cy, "purpose": "marketing", "granted_at": "2020-01-01T00:00:00Z", "withdrawn_at": "2021-01-01T00:00:00Z"})).await;
        create(
            &store,
            "deal",
            json!({"contact_id": bo, "title": "A", "status": "won", "amount": "100.00"}),
        )
        .await;
        create(
            &store,
            "deal",
            json!({"contact_id": bo, "title": "B", "status": "lost", "amount": "50"}),
        )
        .await;
        support::attach_file(
            &store,
            &database,
            "attachment",
            json!({"owner_entity": "contact", "owner_id": cy, "file_name": "x"}),
            b"x",
        )
        .await;
        support::attach_file(
            &store,
            &database,
            "attachment",
            json!({"owner_entity": "company", "owner_id": other, "file_name": "y"}),
            b"y",
        )
        .await;

        let cases: Vec<(&str, Vec<i64>)> = vec![
            ("", vec![anna, anna2, bo, cy]),
            ("category = \"prospect\"", vec![anna, anna2]),
            ("category != \"prospect\"", vec![bo, cy]),
            ("category in [\"lost\", \"customer\"]", vec![bo, cy]),
            ("email is null", vec![cy]),
            ("not (email = \"bo@example.org\")", vec![anna, anna2]),
            ("last_name contains \"%_\"", vec![cy]),
            ("last_name starts_with \"Be\"", vec![anna]),
            ("company.category = \"customer\"", vec![anna]),
            ("company.name is null", vec![anna2, cy]),
            ("exists activity(happened_at > now - 2y)", vec![anna]),
            ("none activity(happened_at > now - 2y)", vec![anna2, bo, cy]),
            (
                "exists consent(purpose = \"marketing\" and withdrawn_at is null)",
                vec![bo],
            ),
            ("count(deal) >= 2", vec![bo]),
            ("count(deal(status = \"won\")) = 0", vec![anna, anna2, cy]),
            ("exists attachment", vec![cy]),
            ("duplicate(email)", vec![anna, anna2]),
            ("duplicate(email, keep oldest)", vec![anna2]),
            ("duplicate(email, keep newest)", vec![anna]),
            (
                "category = \"prospect\" and created_at < now + 1d and not exists consent(purpose = \"marketing\") and none activity(happened_at > now - 2y)",
                vec![anna2],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(ids(&store, "contact", text).await, expected, "{text}");
        }
        // Relative dates on date fields; decimal comparisons.
        assert_eq!(ids(&store, "deal", "amount > 60").await.len(), 1);
        assert_eq!(
            ids(
                &store,
                "company",
                "exists contact(exists deal(status = \"won\"))"
            )
            .await,
            vec![other]
        );
    }
);

both_backends!(
    trashed_records_are_outside_the_active_scope_and_inside_the_trash_scope,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let kept = create(&store, "contact", json!({"last_name": "Kept"})).await;
        let gone = create(&store, "contact", json!({"last_name": "Gone"})).await;
        create(&store, "note", json!({"contact_id": kept, "body": "x"})).await;
        let note = create(
            &store,
            "note",
            json!({"contact_id": kept, "body": "trashed note"}),
        )
        .await;
        // Put one contact and one note in the trash by hand, as the lifecycle will.
        let url = DatabaseUrl::parse(&database.url).unwrap();
        let mark =
            |table: &str, id: i64| format!("UPDATE {table} SET trash_batch_id = 1 WHERE id = {id}");
        let statements = [
        "INSERT INTO lethe_deletion_batch (id, created_at, state) VALUES (1, '2026-01-01T00:00:00.000000Z', 'trashed')".to_owned(),
        mark("contact", gone),
        mark("note", note),
    ];
        match url {
            DatabaseUrl::Sqlite(path) => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .unwrap();
                for statement in &statements {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                        .execute(&pool)
                        .await
                        .unwrap();
                }
            }
            DatabaseUrl::Postgres(raw) => {
                let pool = sqlx::PgPool::connect(&raw).await.unwrap();
                for statement in &statements {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                        .execute(&pool)
                        .await
                        .unwrap();
                }
            }
        }
        let all = store.parse_filter("contact", "").unwrap();
        assert_eq!(store.count_matching(&all, Scope::Active).await.unwrap(), 1);
        assert_eq!(store.count_matching(&all, Scope::Trashed).await.unwrap(), 1);
        assert_eq!(store.count_matching(&all, Scope::All).await.unwrap(), 2);
        let two_notes = store.parse_filter("contact", "count(note) = 2").unwrap();
        assert_eq!(
            store
                .count_matching(&two_notes, Scope::Active)
                .await
                .unwrap(),
            0,
            "the trashed note is not counted"
        );
        let one_note = store.parse_filter("contact", "count(note) = 1").unwrap();
        assert_eq!(ids(&store, "contact", "count(note) = 1").await, vec![kept]);
        assert_eq!(
            store.count_matching(&one_note, Scope::All).await.unwrap(),
            0
        );
    }
);

both_backends!(
    explain_shows_the_sql_and_a_plan_that_uses_the_indexes,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let filter = store
            .parse_filter(
                "contact",
                "category = \"prospect\" and none activity(happened_at > now - 2y)",
            )
            .unwrap();
        let explanation = store.explain(&filter, Scope::Active).await.unwrap();
        assert!(
            explanation.sql.contains("\"activity\""),
            "{}",
            explanation.sql
        );
        assert!(
            !explanation.sql.contains("prospect"),
            "values are bound, never spliced: {}",
            explanation.sql
        );
        assert!(!explanation.plan.is_empty());
        let plan = explanation.plan.join("\n");
        if store.backend() == lethe_store::Backend::Sqlite {
            assert!(plan.contains("ix_activity_contact_id"), "{plan}");
        }
    }
);

both_backends!(
    explain_shows_the_statement_the_count_runs,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        // A lone duplicate(…) is counted as a sum over its groups; with anything beside it
        // each record is ranked in its group.
        let alone = store.parse_filter("contact", "duplicate(email)").unwrap();
        let sql = store.explain(&alone, Scope::Active).await.unwrap().sql;
        assert!(sql.contains("GROUP BY") && sql.contains("SUM("), "{sql}");
        assert!(!sql.contains("OVER"), "{sql}");
        let combined = store
            .parse_filter("contact", "duplicate(email) and category = \"prospect\"")
            .unwrap();
        let sql = store.explain(&combined, Scope::Active).await.unwrap().sql;
        assert!(sql.contains("OVER"), "{sql}");
    }
);

both_backends!(
    a_bad_filter_is_a_clear_error,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let error = store
            .parse_filter("contact", "categroy = \"lost\"")
            .expect_err("misspelt");
        assert_eq!(
            error.to_string(),
            "1:1: unknown field `categroy` on contact; did you mean `category`?"
        );
        assert_eq!(error.code(), "invalid_filter");
        let error = store
            .parse_filter("contact", "created_at > \"abc\"")
            .expect_err("not a time");
        assert!(error.to_string().starts_with("1:14:"), "{error}");
        let error = store
            .parse_filter("contcat", "")
            .expect_err("unknown entity");
        assert_eq!(
            error.to_string(),
            "unknown entity `contcat`; did you mean `contact`?"
        );
    }
);

both_backends!(
    a_duplicate_count_is_the_number_of_records_it_selects_in_every_scope,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let mut ids = Vec::new();
        for (name, email) in [
            ("a", Some("Same@Example.org")),
            ("b", Some(" same@example.org ")),
            ("c", Some("same@example.org")),
            ("d", Some("other@example.org")),
            ("e", Some("OTHER@example.org")),
            ("f", Some("alone@example.org")),
            ("g", None),
            ("h", None),
            ("i", Some("   ")),
            ("j", Some("")),
        ] {
            ids.push(
                create(
                    &store,
                    "contact",
                    json!({"last_name": name, "email": email}),
                )
                .await,
            );
        }
        // Trash one member of each group so the scopes differ.
        for id in [ids[1], ids[4]] {
            let pick = lethe_store::MemberPick {
                entity: "contact".to_owned(),
                source: lethe_store::PickSource::Filter(
                    store.parse_filter("contact", "all").unwrap(),
                ),
                all_matching: false,
                include: vec![id],
                exclude: Vec::new(),
                scope: Scope::Active,
            };
            let snapshot = store.create_snapshot(&pick, "", None).await.unwrap();
            let job = store
                .start_trash(snapshot.id, None, &lethe_store::Actor::operator(), None)
                .await
                .unwrap();
            store
                .run_job(job.id, &lethe_store::JobRunner::default(), &mut |_| {})
                .await
                .unwrap();
        }
        for text in [
            "duplicate(email)",
            "duplicate(email, keep oldest)",
            "duplicate(email, keep newest)",
            "duplicate(last_name)",
            "not duplicate(email)",
        ] {
            let filter = store.parse_filter("contact", text).unwrap();
            for scope in [Scope::Active, Scope::All, Scope::Trashed] {
                let mut selected = 0u64;
                let mut cursor = None;
                loop {
                    let query = ListQuery {
                        limit: Some(3),
                        cursor: cursor.clone(),
                        ..Default::default()
                    };
                    let page = store.select_page(&filter, scope, &query).await.unwrap();
                    selected += page.records.len() as u64;
                    match page.next_cursor {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                }
                assert_eq!(
                    store.count_matching(&filter, scope).await.unwrap(),
                    selected,
                    "{text} in {scope:?}"
                );
            }
        }
        // The figures themselves, active scope: groups {a, c} and {d}, so 2 duplicates, 1
        // beyond the keeper.
        let count = |text: &'static str| {
            let store = store.clone();
            async move {
                let filter = store.parse_filter("contact", text).unwrap();
                store.count_matching(&filter, Scope::Active).await.unwrap()
            }
        };
        assert_eq!(count("duplicate(email)").await, 2);
        assert_eq!(count("duplicate(email, keep oldest)").await, 1);
        assert_eq!(count("duplicate(email, keep newest)").await, 1);
    }
);

both_backends!(
    a_filter_that_runs_too_long_is_stopped_with_a_clear_error_and_changes_nothing,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let contact = create(&store, "contact", json!({"last_name": "Busy"})).await;
        // Many notes, so that a filter reading all of them takes a while.
        database
            .execute(&format!(
                "INSERT INTO note (contact_id, body, created_at, updated_at) \
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) \
                 SELECT {contact}, 'note number ' || i, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z' FROM n"
            ))
            .await;
        let filter = store
            .parse_filter(
                "contact",
                r#"exists note(body contains "not there") or count(note(body starts_with "x")) > 3"#,
            )
            .unwrap();
        let mut settings = store.settings();
        settings.query_timeout = Some(std::time::Duration::from_millis(1));
        store.set_settings(settings.clone());
        let error = store
            .count_matching(&filter, Scope::All)
            .await
            .expect_err("stopped");
        assert_eq!(error.code(), "filter_too_expensive", "{error}");
        assert!(error.to_string().contains("LETHE_QUERY_TIMEOUT"), "{error}");
        let error = store
            .select_page(&filter, Scope::All, &ListQuery::default())
            .await
            .expect_err("stopped");
        assert_eq!(error.code(), "filter_too_expensive", "{error}");
        // The connection works on, without the limit, for what follows.
        settings.query_timeout = None;
        store.set_settings(settings);
        assert_eq!(store.count_matching(&filter, Scope::All).await.unwrap(), 0);
        assert_eq!(store.count_records("note").await.unwrap(), 200_000);
    }
);
