//! Records on both backends: create, read, update, list, and every class of bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lethe_schema::Schema;
use lethe_store::{DatabaseUrl, ListQuery, Role, SortOrder, Store, StoreError};
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
    .expect("open the store");
    store.migrate().await.expect("migrate");
    store
}

fn object(value: Json) -> serde_json::Map<String, Json> {
    value.as_object().cloned().expect("an object")
}

async fn total_rows(store: &Store) -> u64 {
    let mut total = 0;
    for entity in store.schema().entity_names() {
        total += store.count_records(entity).await.unwrap();
    }
    total
}

both_backends!(
    every_entity_type_can_be_created_read_updated_and_listed,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let company = store
            .create_record(
                "company",
                &object(json!({"name": "Acme", "org_number": "NO-1", "category": "customer"})),
                None,
            )
            .await
            .unwrap();
        let contact = store
        .create_record("contact", &object(json!({"company_id": company.id, "first_name": "Anna", "last_name": "Berg", "email": "anna@example.com", "custom": {"shoe": 38}})), Some(7))
        .await
        .unwrap();
        assert_eq!(contact.created_by, Some(7));
        assert_eq!(
            contact.to_json()["category"],
            "prospect",
            "the schema default applies"
        );
        let ticket = store
            .create_record(
                "ticket",
                &object(json!({"contact_id": contact.id, "subject": "Help"})),
                None,
            )
            .await
            .unwrap();
        let project = store
            .create_record(
                "project",
                &object(json!({"company_id": company.id, "name": "Roll-out"})),
                None,
            )
            .await
            .unwrap();
        let deal = store
            .create_record(
                "deal",
                &object(json!({"contact_id": contact.id, "title": "Big", "amount": "1234.5"})),
                None,
            )
            .await
            .unwrap();
        let invoice = store.create_record("invoice", &object(json!({"company_id": company.id, "number": "INV-1", "amount": 99.9, "issued_at": "2024-02-29"})), None).await.unwrap();
        let inputs = [
            (
                "consent",
                json!({"contact_id": contact.id, "purpose": "marketing", "granted_at": "2023-01-01T10:00:00Z"}),
            ),
            (
                "activity",
                json!({"contact_id": contact.id, "kind": "call", "happened_at": "2024-01-01T09:00:00+01:00"}),
            ),
            (
                "note",
                json!({"contact_id": contact.id, "body": "Met at the fair"}),
            ),
            (
                "message",
                json!({"contact_id": contact.id, "channel": "email", "direction": "inbound", "sent_at": "2024-03-01T00:00:00Z"}),
            ),
            (
                "ticket_comment",
                json!({"ticket_id": ticket.id, "contact_id": contact.id, "body": "Still broken"}),
            ),
            (
                "survey_rating",
                json!({"ticket_id": ticket.id, "contact_id": contact.id, "score": 4}),
            ),
            (
                "time_entry",
                json!({"project_id": project.id, "minutes": 90, "spent_on": "2024-03-02"}),
            ),
            (
                "campaign_membership",
                json!({"contact_id": contact.id, "campaign": "spring", "joined_at": "2024-03-01T00:00:00Z"}),
            ),
        ];
        for (entity, input) in inputs {
            let created = store
                .create_record(entity, &object(input.clone()), None)
                .await
                .unwrap();
            let read = store.get_record(entity, created.id).await.unwrap();
            assert_eq!(created, read, "{entity} reads back as created");
            let page = store
                .list_records(entity, &ListQuery::default())
                .await
                .unwrap();
            assert_eq!(page.records.len(), 1, "{entity} is listed");
        }
        // A record that is a file is created with its file: the key is Lethe's, the size
        // measured.
        let attachment = support::attach_file(
            &store,
            &database,
            "attachment",
            json!({"owner_entity": "deal", "owner_id": deal.id, "file_name": "offer.pdf"}),
            &[7u8; 1200],
        )
        .await;
        assert_eq!(
            store.get_record("attachment", attachment.id).await.unwrap(),
            attachment
        );
        assert_eq!(attachment.to_json()["size_bytes"], 1200);
        let key = attachment.to_json()["storage_key"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(key.starts_with("attachment/"), "{key}");
        assert_eq!(
            std::fs::read(support::file_path(&store, &attachment)).unwrap(),
            vec![7u8; 1200]
        );
        assert_eq!(deal.to_json()["amount"], "1234.50");
        assert_eq!(invoice.to_json()["issued_at"], "2024-02-29");
        let activity = store
            .list_records("activity", &ListQuery::default())
            .await
            .unwrap()
            .records
            .remove(0);
        assert_eq!(
            activity.to_json()["happened_at"],
            "2024-01-01T08:00:00.000000Z"
        );
        assert_eq!(
            store
                .get_record("contact", contact.id)
                .await
                .unwrap()
                .to_json()["custom"],
            json!({"shoe": 38})
        );

        let updated = store
            .update_record(
                "contact",
                contact.id,
                &object(json!({"legal_basis": "consent", "phone": "+47 123"})),
                None,
            )
            .await
            .unwrap();
        assert_eq!(updated.to_json()["legal_basis"], "consent");
        assert_eq!(
            updated.to_json()["first_name"],
            "Anna",
            "fields not given stay"
        );
        assert!(updated.updated_at >= contact.updated_at);
    }
);

both_backends!(
    bad_input_is_refused_clearly_and_writes_nothing,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let company = store
            .create_record(
                "company",
                &object(json!({"name": "Acme", "org_number": "NO-1"})),
                None,
            )
            .await
            .unwrap();
        let before = total_rows(&store).await;

        let cases: Vec<(&str, Json, &str, &str)> = vec![
            (
                "contcat",
                json!({}),
                "unknown_entity",
                "unknown entity `contcat`; did you mean `contact`?",
            ),
            (
                "contact",
                json!({"categroy": "lost"}),
                "unknown_field",
                "unknown field `categroy` on contact; did you mean `category`?",
            ),
            (
                "contact",
                json!({"category": "vip"}),
                "invalid_value",
                "contact.category: `vip` is not allowed; expected one of: prospect, customer, lost",
            ),
            (
                "contact",
                json!({"company_id": "Acme"}),
                "invalid_value",
                "contact.company_id: expected a whole number, got the text \"Acme\"",
            ),
            (
                "contact",
                json!({"id": 5}),
                "read_only_field",
                "`id` is managed by Lethe and cannot be written",
            ),
            (
                "company",
                json!({"org_number": "NO-2"}),
                "missing_required",
                "company: missing required field(s): name",
            ),
            (
                "company",
                json!({"name": "Other", "org_number": "NO-1"}),
                "unique_violation",
                "company.org_number: another company already has this value; it must be unique",
            ),
            (
                "contact",
                json!({"company_id": 999_999}),
                "missing_reference",
                "contact.company_id: company 999999 does not exist",
            ),
            (
                "invoice",
                json!({"number": "X", "amount": "1.234", "issued_at": "2024-01-01"}),
                "invalid_value",
                "invoice.amount: has more than 2 digits after the decimal point",
            ),
            (
                "invoice",
                json!({"number": "X", "amount": "1", "issued_at": "31.01.2024"}),
                "invalid_value",
                "invoice.issued_at: `31.01.2024` is not a date; expected the form 2024-05-31",
            ),
            (
                "attachment",
                json!({"owner_entity": "note", "owner_id": 1, "file_name": "x"}),
                "invalid_value",
                "attachment.owner_entity: expected the name of one of: company, contact, deal, project, ticket, invoice, got the text \"note\"",
            ),
            (
                "attachment",
                json!({"owner_entity": "company", "owner_id": 424242, "file_name": "x"}),
                "missing_reference",
                "attachment.owner_id: company 424242 does not exist",
            ),
        ];
        support::use_files_folder(&store, &database);
        let files = store.settings().files_dir.unwrap();
        for (entity, input, code, message) in cases {
            let error = if entity == "attachment" {
                let mut file = store.receive_file(entity).await.unwrap();
                file.write(b"content").await.unwrap();
                store
                    .create_record_with_file(entity, &object(input.clone()), None, file)
                    .await
                    .expect_err("refused")
            } else {
                store
                    .create_record(entity, &object(input.clone()), None)
                    .await
                    .expect_err("refused")
            };
            assert_eq!(error.code(), code, "{entity} {input}");
            assert_eq!(error.to_string(), message, "{entity} {input}");
        }
        let error = store
            .update_record("company", company.id, &object(json!({"name": null})), None)
            .await
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "company: missing required field(s): name"
        );
        let error = store
            .update_record("company", 424242, &object(json!({"name": "x"})), None)
            .await
            .expect_err("refused");
        assert!(matches!(error, StoreError::NotFound { .. }), "{error}");
        let error = store
            .get_record("company", 424242)
            .await
            .expect_err("refused");
        assert_eq!(error.to_string(), "company 424242 does not exist");

        // Where a file lives and how large it is are Lethe's to say, never a client's.
        let error = store
            .create_record(
                "attachment",
                &object(json!({"owner_entity": "company", "owner_id": company.id, "file_name": "x", "size_bytes": 1, "storage_key": "k"})),
                None,
            )
            .await
            .expect_err("refused");
        assert_eq!(error.code(), "file_required", "{error}");
        assert!(error.to_string().contains("--file PATH"), "{error}");
        for field in ["storage_key", "size_bytes"] {
            let mut file = store.receive_file("attachment").await.unwrap();
            file.write(b"content").await.unwrap();
            let error = store
                .create_record_with_file(
                    "attachment",
                    &object(json!({"owner_entity": "company", "owner_id": company.id, "file_name": "x", field: "1"})),
                    None,
                    file,
                )
                .await
                .expect_err("refused");
            assert_eq!(error.code(), "read_only_field", "{error}");
            assert_eq!(error.field(), Some(field), "{error}");
            assert!(error.to_string().contains("decided by Lethe"), "{error}");
        }
        let files_left = walk(&files);
        assert!(
            files_left.is_empty(),
            "a refused upload leaves no file: {files_left:?}"
        );
        assert_eq!(total_rows(&store).await, before, "nothing was written");
        assert_eq!(
            store
                .get_record("company", company.id)
                .await
                .unwrap()
                .to_json()["name"],
            "Acme"
        );
    }
);

both_backends!(
    keyset_pages_cover_every_record_once_in_order,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let names = [
            "delta", "alpha", "echo", "bravo", "charlie", "alpha", "foxtrot",
        ];
        for (index, name) in names.iter().enumerate() {
            let mut input = json!({"campaign": name, "joined_at": "2024-01-01T00:00:00Z"});
            let contact = store
                .create_record(
                    "contact",
                    &object(json!({"last_name": format!("n{index}")})),
                    None,
                )
                .await
                .unwrap();
            input["contact_id"] = json!(contact.id);
            store
                .create_record("campaign_membership", &object(input), None)
                .await
                .unwrap();
        }
        for order in [SortOrder::Asc, SortOrder::Desc] {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let query = ListQuery {
                    sort: Some("campaign".into()),
                    order,
                    limit: Some(2),
                    cursor: cursor.clone(),
                };
                let page = store
                    .list_records("campaign_membership", &query)
                    .await
                    .unwrap();
                seen.extend(
                    page.records
                        .iter()
                        .map(|r| (r.to_json()["campaign"].as_str().unwrap().to_owned(), r.id)),
                );
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            let mut expected = seen.clone();
            expected.sort();
            if order == SortOrder::Desc {
                expected.reverse();
            }
            assert_eq!(seen, expected);
            assert_eq!(seen.len(), names.len());
        }
        // Nullable sort columns put NULLs last and still page through everything.
        let mut seen = 0;
        let mut cursor = None;
        loop {
            let query = ListQuery {
                sort: Some("email".into()),
                order: SortOrder::Asc,
                limit: Some(3),
                cursor: cursor.clone(),
            };
            let page = store.list_records("contact", &query).await.unwrap();
            seen += page.records.len();
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, names.len());

        let error = store
            .list_records(
                "contact",
                &ListQuery {
                    sort: Some("phone".into()),
                    ..Default::default()
                },
            )
            .await
            .expect_err("not indexed");
        assert!(
            error.to_string().starts_with(
                "cannot sort contact by `phone`; sortable fields are: id, created_at, updated_at"
            ),
            "{error}"
        );
        let error = store
            .list_records(
                "contact",
                &ListQuery {
                    cursor: Some("garbage".into()),
                    ..Default::default()
                },
            )
            .await
            .expect_err("bad cursor");
        assert_eq!(
            error.to_string(),
            "the cursor is damaged; start again without a cursor"
        );
        let error = store
            .list_records(
                "contact",
                &ListQuery {
                    limit: Some(0),
                    ..Default::default()
                },
            )
            .await
            .expect_err("bad limit");
        assert_eq!(error.to_string(), "limit must be between 1 and 1000, got 0");
    }
);

both_backends!(
    tokens_authenticate_their_user_and_are_stored_hashed,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let (admin, token) = store.add_user("alice", Role::Admin).await.unwrap();
        assert_eq!(
            store.authenticate(&token).await.unwrap(),
            Some(admin.clone())
        );
        assert_eq!(store.authenticate("lethe_wrong").await.unwrap(), None);
        assert_eq!(store.authenticate("").await.unwrap(), None);
        let (_, second) = store.issue_token("alice", "laptop").await.unwrap();
        assert_ne!(second, token);
        assert_eq!(store.authenticate(&second).await.unwrap(), Some(admin));
        let error = store
            .add_user("alice", Role::User)
            .await
            .expect_err("duplicate");
        assert_eq!(error.to_string(), "a user named `alice` already exists");
        let error = store
            .add_user("bad name!", Role::User)
            .await
            .expect_err("bad name");
        assert!(error.to_string().contains("not a valid user name"));
    }
);

both_backends!(
    migrating_twice_changes_nothing_and_new_fields_are_added,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        store
            .create_record("company", &object(json!({"name": "Acme"})), None)
            .await
            .unwrap();
        let again = store.migrate().await.unwrap();
        assert!(again.created_tables.is_empty());
        store.close().await;

        let extended = lethe_schema::DEFAULT_SCHEMA_TOML.replace(
        "fields.website = { type = \"text\" }",
        "fields.website = { type = \"text\" }\nfields.vat_id = { type = \"text\", indexed = true }",
    );
        let schema = Schema::from_toml(&extended).unwrap();
        let store = Store::open(
            &DatabaseUrl::parse(&database.url).unwrap(),
            schema,
            &support::options(lethe_store::Clock::system()),
        )
        .await
        .unwrap();
        let report = store.migrate().await.unwrap();
        assert_eq!(report.added_columns, ["company.vat_id"]);
        let updated = store
            .update_record("company", 1, &object(json!({"vat_id": "X1"})), None)
            .await
            .unwrap();
        assert_eq!(updated.to_json()["vat_id"], "X1");
        store.close().await;

        let shrunk =
            lethe_schema::DEFAULT_SCHEMA_TOML.replace("fields.website = { type = \"text\" }\n", "");
        let store = Store::open(
            &DatabaseUrl::parse(&database.url).unwrap(),
            Schema::from_toml(&shrunk).unwrap(),
            &support::options(lethe_store::Clock::system()),
        )
        .await
        .unwrap();
        let error = store
            .migrate()
            .await
            .expect_err("dropping a column is refused");
        assert!(
            error
                .to_string()
                .contains("company.website is no longer in the schema"),
            "{error}"
        );
    }
);

both_backends!(
    bulk_loaded_rows_read_back_exactly,
    |database: TestDatabase| async move {
        use lethe_store::Value;
        let store = open(&database).await;
        let at = lethe_store::parse_timestamp("2020-02-29T12:34:56.789012Z").unwrap();
        let tricky = "tab\there, back\\slash, new\nline, quote \" and 'ø'".to_owned();
        let rows = vec![
            vec![
                Value::Integer(10),
                Value::Timestamp(at),
                Value::Null,
                Value::Timestamp(at),
                Value::Text(tricky.clone()),
                Value::Text("customer".into()),
                Value::Null,
            ],
            vec![
                Value::Integer(11),
                Value::Timestamp(at),
                Value::Integer(1),
                Value::Timestamp(at),
                Value::Text("Plain".into()),
                Value::Text("lost".into()),
                Value::Text("\\N".into()),
            ],
        ];
        let inserted = store
            .bulk_insert(
                "company",
                &[
                    "id",
                    "created_at",
                    "created_by",
                    "updated_at",
                    "name",
                    "category",
                    "website",
                ],
                rows,
            )
            .await
            .unwrap();
        assert_eq!(inserted, 2);
        store
            .bulk_insert(
                "contact",
                &[
                    "id",
                    "created_at",
                    "updated_at",
                    "company_id",
                    "last_name",
                    "category",
                    "legal_basis",
                    "custom",
                ],
                vec![vec![
                    Value::Integer(5),
                    Value::Timestamp(at),
                    Value::Timestamp(at),
                    Value::Integer(10),
                    Value::Text("Berg".into()),
                    Value::Text("prospect".into()),
                    Value::Text("none".into()),
                    Value::Json(json!({"a": "x\ty"})),
                ]],
            )
            .await
            .unwrap();
        store.finish_bulk_load().await.unwrap();

        let first = store.get_record("company", 10).await.unwrap();
        assert_eq!(first.get("name"), Some(&Value::Text(tricky)));
        assert_eq!(first.get("website"), Some(&Value::Null));
        assert_eq!(first.created_at, at);
        let second = store.get_record("company", 11).await.unwrap();
        assert_eq!(
            second.get("website"),
            Some(&Value::Text("\\N".into())),
            "a literal backslash-N is text, not NULL"
        );
        assert_eq!(second.created_by, Some(1));
        assert_eq!(
            store.get_record("contact", 5).await.unwrap().to_json()["custom"],
            json!({"a": "x\ty"})
        );
        // New records continue after the loaded ids.
        let next = store
            .create_record("company", &object(json!({"name": "After"})), None)
            .await
            .unwrap();
        assert!(next.id > 11, "id {} follows the bulk-loaded ids", next.id);

        let error = store
            .bulk_insert("company", &["id", "nmae"], vec![])
            .await
            .expect_err("unknown column");
        assert_eq!(
            error.to_string(),
            "unknown field `nmae` on company; did you mean `name`?"
        );
    }
);

both_backends!(
    a_bulk_load_rebuilds_its_indexes_and_foreign_keys,
    |database: TestDatabase| async move {
        use lethe_store::Value;
        let store = open(&database).await;
        store.begin_bulk_load().await.unwrap();
        let at = lethe_store::parse_timestamp("2024-01-01T00:00:00Z").unwrap();
        store
            .bulk_insert(
                "company",
                &["id", "created_at", "updated_at", "name", "category"],
                vec![vec![
                    Value::Integer(1),
                    Value::Timestamp(at),
                    Value::Timestamp(at),
                    Value::Text("A".into()),
                    Value::Text("lost".into()),
                ]],
            )
            .await
            .unwrap();
        store
            .bulk_insert(
                "contact",
                &[
                    "id",
                    "created_at",
                    "updated_at",
                    "company_id",
                    "category",
                    "legal_basis",
                ],
                vec![vec![
                    Value::Integer(1),
                    Value::Timestamp(at),
                    Value::Timestamp(at),
                    Value::Integer(1),
                    Value::Text("lost".into()),
                    Value::Text("none".into()),
                ]],
            )
            .await
            .unwrap();
        store.finish_bulk_load().await.unwrap();

        // The foreign key is back: a dangling reference is refused by the database itself.
        let dangling = store
            .bulk_insert(
                "contact",
                &[
                    "id",
                    "created_at",
                    "updated_at",
                    "company_id",
                    "category",
                    "legal_basis",
                ],
                vec![vec![
                    Value::Integer(2),
                    Value::Timestamp(at),
                    Value::Timestamp(at),
                    Value::Integer(99),
                    Value::Text("lost".into()),
                    Value::Text("none".into()),
                ]],
            )
            .await;
        assert!(
            dangling.is_err(),
            "a contact pointing at company 99 was accepted"
        );
        // The indexes are back.
        assert!(index_exists(&database, "ix_contact_company_id").await);
        assert!(index_exists(&database, "ux_invoice_number").await);
        // An interrupted load is repaired by the next migration.
        store.begin_bulk_load().await.unwrap();
        assert!(!index_exists(&database, "ix_contact_company_id").await);
        store.migrate().await.unwrap();
        assert!(index_exists(&database, "ix_contact_company_id").await);
        let dangling = store
            .bulk_insert(
                "contact",
                &[
                    "id",
                    "created_at",
                    "updated_at",
                    "company_id",
                    "category",
                    "legal_basis",
                ],
                vec![vec![
                    Value::Integer(3),
                    Value::Timestamp(at),
                    Value::Timestamp(at),
                    Value::Integer(98),
                    Value::Text("lost".into()),
                    Value::Text("none".into()),
                ]],
            )
            .await;
        assert!(dangling.is_err(), "the foreign key is back after migrate");
    }
);

/// Whether the database has an index of this name (read from the catalogue directly).
async fn index_exists(database: &TestDatabase, name: &str) -> bool {
    match DatabaseUrl::parse(&database.url).unwrap() {
        DatabaseUrl::Sqlite(path) => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?",
            )
            .bind(name)
            .fetch_one(&pool)
            .await
            .unwrap();
            count == 1
        }
        DatabaseUrl::Postgres(raw) => {
            let pool = sqlx::PgPool::connect(&raw).await.unwrap();
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM pg_indexes WHERE indexname = $1")
                    .bind(name)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            count == 1
        }
    }
}

/// Every file below `folder` (none when it does not exist).
fn walk(folder: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
