//! Trash and restore as jobs, on both backends: cascade, restrict, batches that never steal
//! each other's records, hidden parents, permissions, history, and trash∘restore = identity.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lethe_schema::Schema;
use lethe_store::{
    Actor, DatabaseUrl, JobRunner, MemberPick, PickSource, Role, Scope, Store, StoreError,
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

/// A contact with a note, two activities, a consent, a ticket with a comment (written by
/// `commenter`), and an attachment on the contact and one on the ticket.
async fn contact_with_children(
    store: &Store,
    database: &TestDatabase,
    company: Option<i64>,
    name: &str,
) -> i64 {
    let contact = create(
        store,
        "contact",
        json!({"last_name": name, "email": format!("{name}@example.org"), "company_id": company}),
    )
    .await;
    create(
        store,
        "note",
        json!({"contact_id": contact, "body": "met at the fair"}),
    )
    .await;
    for kind in ["call", "task"] {
        create(
            store,
            "activity",
            json!({"contact_id": contact, "kind": kind, "subject": "hello"}),
        )
        .await;
    }
    create(
        store,
        "consent",
        json!({"contact_id": contact, "purpose": "marketing", "granted_at": "2024-01-01T00:00:00Z"}),
    )
    .await;
    let ticket = create(
        store,
        "ticket",
        json!({"contact_id": contact, "subject": "broken"}),
    )
    .await;
    create(
        store,
        "ticket_comment",
        json!({"ticket_id": ticket, "contact_id": contact, "body": "still broken"}),
    )
    .await;
    for (entity, id) in [("contact", contact), ("ticket", ticket)] {
        support::attach_file(
            store,
            database,
            "attachment",
            json!({"owner_entity": entity, "owner_id": id, "file_name": "a.pdf"}),
            name.as_bytes(),
        )
        .await;
    }
    contact
}

async fn snapshot(store: &Store, entity: &str, filter: &str) -> i64 {
    snapshot_by(store, entity, filter, None).await
}

/// A snapshot made by user `maker` (`None`: the operator).
async fn snapshot_by(store: &Store, entity: &str, filter: &str, maker: Option<i64>) -> i64 {
    let pick = MemberPick {
        entity: entity.to_owned(),
        source: PickSource::Filter(store.parse_filter(entity, filter).unwrap()),
        all_matching: true,
        include: Vec::new(),
        exclude: Vec::new(),
        scope: Scope::Active,
    };
    store.create_snapshot(&pick, "", maker).await.unwrap().id
}

async fn run(store: &Store, job: i64) -> lethe_store::Job {
    store
        .run_job(job, &JobRunner::default(), &mut |_| {})
        .await
        .unwrap()
}

async fn trash(store: &Store, entity: &str, filter: &str, batch_size: u64) -> lethe_store::Job {
    let snapshot = snapshot(store, entity, filter).await;
    let job = store
        .start_trash(
            snapshot,
            Some("tidy up"),
            &Actor::operator(),
            Some(batch_size),
        )
        .await
        .unwrap();
    run(store, job.id).await
}

async fn restore(store: &Store, batch: i64) -> lethe_store::Job {
    let job = store
        .start_restore(batch, None, &Actor::operator(), None)
        .await
        .unwrap();
    run(store, job.id).await
}

async fn active(store: &Store, entity: &str) -> u64 {
    let all = store.parse_filter(entity, "all").unwrap();
    store.count_matching(&all, Scope::Active).await.unwrap()
}

both_backends!(
    jobs_without_a_batch_size_take_the_backends_default,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let expected = if database.url.starts_with("postgres") {
            lethe_store::DEFAULT_POSTGRES_BATCH_SIZE
        } else {
            lethe_store::DEFAULT_BATCH_SIZE
        };
        assert_eq!(store.default_batch_size(), expected);
        contact_with_children(&store, &database, None, "one").await;
        contact_with_children(&store, &database, None, "two").await;
        let members = snapshot(&store, "contact", "all").await;
        let trash = store
            .start_trash(members, None, &Actor::operator(), None)
            .await
            .unwrap();
        assert_eq!(trash.batch_size, expected);
        let trash = run(&store, trash.id).await;
        let batch = trash.batch_id.unwrap();
        let restore = store
            .start_restore(batch, None, &Actor::operator(), None)
            .await
            .unwrap();
        assert_eq!(restore.batch_size, expected);
        run(&store, restore.id).await;
        // A size given wins; zero is refused.
        let members = snapshot(&store, "contact", "all").await;
        let anonymize = store
            .start_anonymize(members, &Actor::operator(), Some(7))
            .await
            .unwrap();
        assert_eq!(anonymize.batch_size, 7);
        let error = store
            .start_trash(members, None, &Actor::operator(), Some(0))
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("between 1 and 100000"),
            "{error}"
        );
    }
);

both_backends!(
    trash_takes_cascade_children_and_skips_restricted_members,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let free = contact_with_children(&store, &database, None, "free").await;
        let invoiced = contact_with_children(&store, &database, None, "invoiced").await;
        create(
            &store,
            "invoice",
            json!({"contact_id": invoiced, "number": "F-1", "amount": "10.00", "issued_at": "2024-02-01"}),
        )
        .await;

        let snapshot = snapshot(&store, "contact", "all").await;
        let preview = store.preview_trash(snapshot).await.unwrap();
        assert_eq!(preview.members, 2);
        assert_eq!(preview.blocked, 1);
        assert_eq!(preview.blocked_sample.len(), 1);
        assert_eq!(preview.blocked_sample[0].record_id, invoiced);
        assert_eq!(preview.blocked_sample[0].entity.as_deref(), Some("invoice"));
        let counted = |entity: &str| {
            preview
                .acted_on
                .iter()
                .find(|count| count.entity == entity)
                .map_or(0, |count| count.records)
        };
        assert_eq!(counted("contact"), 1);
        assert_eq!(counted("activity"), 2);
        assert_eq!(counted("ticket_comment"), 1);
        assert_eq!(counted("attachment"), 2);

        let job = store
            .start_trash(snapshot, Some("tidy up"), &Actor::operator(), Some(1))
            .await
            .unwrap();
        let job = run(&store, job.id).await;
        assert!(job.is_finished());
        assert_eq!(job.done, 2);
        assert_eq!(job.blocked, 1);
        assert_eq!(job.counts["contact"], 1);
        assert_eq!(job.counts["note"], 1);
        assert_eq!(job.counts["activity"], 2);
        assert_eq!(job.counts["ticket"], 1);
        assert_eq!(job.counts["ticket_comment"], 1);
        assert_eq!(job.counts["attachment"], 2);
        // What the preview promised is what the job did.
        for count in &preview.acted_on {
            assert_eq!(
                job.counts.get(&count.entity).copied().unwrap_or(0),
                count.records,
                "{}",
                count.entity
            );
        }

        match store.get_record("contact", free).await {
            Err(StoreError::InTrash { batch, .. }) => assert_eq!(Some(batch), job.batch_id),
            other => panic!("expected the contact in the trash, got {other:?}"),
        }
        assert!(store.get_record("contact", invoiced).await.is_ok());
        assert_eq!(active(&store, "note").await, 1);
        assert_eq!(active(&store, "attachment").await, 2);

        let skips = store.job_skips(job.id, 100).await.unwrap();
        assert_eq!(skips.len(), 1);
        assert_eq!(skips[0].record_id, invoiced);
        let message = skips[0].message("contact");
        assert!(
            message.contains(&format!("contact {invoiced}")),
            "{message}"
        );
        assert!(message.contains("invoice"), "{message}");

        let actions: Vec<String> = store
            .history(None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|entry| entry.action)
            .collect();
        assert_eq!(actions.first().map(String::as_str), Some("trash.requested"));
        assert_eq!(actions.last().map(String::as_str), Some("trash.executed"));
        assert_eq!(actions.iter().filter(|a| *a == "trash.batch").count(), 2);
        assert!(store.verify_history().await.unwrap().is_intact());
    }
);

both_backends!(
    restoring_a_batch_brings_back_exactly_what_it_hid,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let company = create(&store, "company", json!({"name": "Acme"})).await;
        let first = contact_with_children(&store, &database, Some(company), "first").await;
        let second = contact_with_children(&store, &database, Some(company), "second").await;
        let before = database.dump_entities(&Schema::default_crm()).await;

        // A note trashed on its own first keeps its own batch.
        let lone_note = create(
            &store,
            "note",
            json!({"contact_id": first, "body": "alone"}),
        )
        .await;
        let early = trash(&store, "note", &format!("id = {lone_note}"), 10).await;
        let after_early = database.dump_entities(&Schema::default_crm()).await;

        let job = trash(&store, "contact", &format!("id in [{first}, {second}]"), 1).await;
        assert_eq!(job.counts["contact"], 2);
        assert_eq!(
            job.counts["note"], 2,
            "the lone note stays in its own batch"
        );
        assert_eq!(active(&store, "contact").await, 0);
        assert_eq!(active(&store, "company").await, 1);

        let restored = restore(&store, job.batch_id.unwrap()).await;
        assert_eq!(restored.counts["contact"], 2);
        assert_eq!(restored.counts["attachment"], 4);
        assert_eq!(
            database.dump_entities(&Schema::default_crm()).await,
            after_early,
            "restore is exact"
        );
        let batch = store.deletion_batch(job.batch_id.unwrap()).await.unwrap();
        assert_eq!(batch.state.as_str(), "restored");

        // The early batch is still in the trash; restoring it too gives the first state back,
        // apart from the lone note itself.
        restore(&store, early.batch_id.unwrap()).await;
        let mut now = database.dump_entities(&Schema::default_crm()).await;
        let notes = now[6].iter().position(|row| row.contains("alone")).unwrap();
        now[6].remove(notes);
        assert_eq!(now, before);

        // Restoring again is refused: nothing of it is left in the trash.
        let again = store
            .start_restore(job.batch_id.unwrap(), None, &Actor::operator(), None)
            .await;
        assert!(matches!(again, Err(StoreError::Transition(_))), "{again:?}");
    }
);

both_backends!(
    a_child_is_not_restored_under_a_parent_in_another_batch,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let company = create(&store, "company", json!({"name": "Acme"})).await;
        let contact = contact_with_children(&store, &database, Some(company), "c").await;
        let contacts = trash(&store, "contact", &format!("id = {contact}"), 10).await;
        let companies = trash(&store, "company", &format!("id = {company}"), 10).await;
        assert_eq!(companies.counts["company"], 1);
        assert_eq!(
            companies.counts.get("contact").copied().unwrap_or(0),
            0,
            "the contact keeps its own batch"
        );
        let refused = store
            .start_restore(contacts.batch_id.unwrap(), None, &Actor::operator(), None)
            .await;
        match refused {
            Err(StoreError::ParentInTrash {
                parent_batch,
                message,
            }) => {
                let batch = companies.batch_id.unwrap();
                assert_eq!(parent_batch, batch);
                assert!(
                    message.contains(&format!("restore batch {batch} first")),
                    "{message}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let restored = restore(&store, companies.batch_id.unwrap()).await;
        assert_eq!(restored.counts["company"], 1);
        assert_eq!(
            active(&store, "contact").await,
            0,
            "the contact's own batch is separate"
        );
        restore(&store, contacts.batch_id.unwrap()).await;
        assert_eq!(active(&store, "contact").await, 1);
    }
);

both_backends!(
    who_may_trash_and_restore,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let (ann, _) = store.add_user("ann", Role::User).await.unwrap();
        let (bob, _) = store.add_user("bob", Role::User).await.unwrap();
        let ann_actor = ann.actor();
        let bob_actor = bob.actor();
        let input = json!({"last_name": "Mine"});
        let mine = store
            .create_record("contact", input.as_object().unwrap(), Some(ann.id))
            .await
            .unwrap()
            .id;
        contact_with_children(&store, &database, None, "other").await;

        // A mass delete is for admins.
        let everyone = snapshot(&store, "contact", "all").await;
        let refused = store.start_trash(everyone, None, &ann_actor, None).await;
        assert!(
            matches!(refused, Err(StoreError::Forbidden(_))),
            "{refused:?}"
        );
        assert_eq!(active(&store, "contact").await, 2, "nothing changed");

        // One record is fine for a user, through a snapshot of their own (another's is
        // theirs and admins' to see and act on).
        let others = snapshot(&store, "contact", &format!("id = {mine}")).await;
        let refused = store.start_trash(others, None, &bob_actor, None).await;
        assert!(
            matches!(refused, Err(StoreError::Forbidden(_))),
            "{refused:?}"
        );
        let one = snapshot_by(
            &store,
            "contact",
            &format!("id = {mine}"),
            bob_actor.user_id,
        )
        .await;
        let job = store
            .start_trash(one, None, &bob_actor, None)
            .await
            .unwrap();
        let job = run(&store, job.id).await;
        let batch = job.batch_id.unwrap();

        // Restore: not a user who neither trashed nor created the record.
        let (carl, _) = store.add_user("carl", Role::User).await.unwrap();
        let refused = store.start_restore(batch, None, &carl.actor(), None).await;
        assert!(
            matches!(refused, Err(StoreError::Forbidden(_))),
            "{refused:?}"
        );
        // The record's creator may restore it when she chooses it.
        let allowed = store
            .start_restore(batch, Some(&[mine]), &ann_actor, None)
            .await
            .unwrap();
        run(&store, allowed.id).await;
        assert!(store.get_record("contact", mine).await.is_ok());
        // … and the whole batch, when she created every record in it.
        let again = snapshot_by(
            &store,
            "contact",
            &format!("id = {mine}"),
            bob_actor.user_id,
        )
        .await;
        let job = store
            .start_trash(again, None, &bob_actor, None)
            .await
            .unwrap();
        let batch = run(&store, job.id).await.batch_id.unwrap();
        let refused = store.start_restore(batch, None, &carl.actor(), None).await;
        assert!(
            matches!(refused, Err(StoreError::Forbidden(_))),
            "{refused:?}"
        );
        let whole = store
            .start_restore(batch, None, &ann_actor, None)
            .await
            .unwrap();
        run(&store, whole.id).await;
        assert!(store.get_record("contact", mine).await.is_ok());
    }
);

both_backends!(
    bad_lifecycle_requests_are_refused_and_change_nothing,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let contact = contact_with_children(&store, &database, None, "x").await;
        let before = database.dump_entities(&Schema::default_crm()).await;
        let missing = store
            .start_trash(9_999, None, &Actor::operator(), None)
            .await;
        assert!(missing.is_err());
        let zero = snapshot(&store, "contact", "all").await;
        let bad_size = store
            .start_trash(zero, None, &Actor::operator(), Some(0))
            .await;
        assert!(
            matches!(
                bad_size,
                Err(StoreError::InvalidOption {
                    option: "batch_size",
                    ..
                })
            ),
            "{bad_size:?}"
        );
        let no_batch = store
            .start_restore(4_242, None, &Actor::operator(), None)
            .await;
        assert!(
            matches!(no_batch, Err(StoreError::NotFound { .. })),
            "{no_batch:?}"
        );
        assert_eq!(database.dump_entities(&Schema::default_crm()).await, before);

        let job = trash(&store, "contact", &format!("id = {contact}"), 10).await;
        let wrong = store
            .start_restore(
                job.batch_id.unwrap(),
                Some(&[contact + 1000]),
                &Actor::operator(),
                None,
            )
            .await;
        match wrong {
            Err(StoreError::InvalidOption {
                option: "records",
                message,
            }) => {
                assert!(message.contains("not members"), "{message}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
);

mod identity {
    use super::*;
    use proptest::prelude::*;

    /// Builds a small random CRM: `shape[i]` children kinds for contact i.
    async fn build(store: &Store, database: &TestDatabase, shape: &[(bool, u8, bool)]) {
        let company = create(store, "company", json!({"name": "Co"})).await;
        for (index, (with_children, notes, invoiced)) in shape.iter().enumerate() {
            let name = format!("p{index}");
            let contact = if *with_children {
                contact_with_children(store, database, Some(company), &name).await
            } else {
                create(
                    store,
                    "contact",
                    json!({"last_name": name, "company_id": company}),
                )
                .await
            };
            for n in 0..*notes {
                create(
                    store,
                    "note",
                    json!({"contact_id": contact, "body": format!("n{n}")}),
                )
                .await;
            }
            if *invoiced {
                create(
                    store,
                    "invoice",
                    json!({"contact_id": contact, "number": format!("F-{index}"), "amount": "1.00", "issued_at": "2024-02-01"}),
                )
                .await;
            }
        }
    }

    fn check(shape: Vec<(bool, u8, bool)>, filter: &'static str, batch_size: u64, postgres: bool) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let backend = if postgres {
                lethe_testkit::TestBackend::Postgres
            } else {
                lethe_testkit::TestBackend::Sqlite
            };
            let Some(database) = TestDatabase::new(backend).await else {
                return;
            };
            let store = open(&database).await;
            build(&store, &database, &shape).await;
            let before = database.dump_entities(&Schema::default_crm()).await;
            let job = trash(&store, "contact", filter, batch_size).await;
            if let Some(batch) = job.batch_id
                && job.counts.get("contact").copied().unwrap_or(0) > 0
            {
                restore(&store, batch).await;
            }
            assert_eq!(
                database.dump_entities(&Schema::default_crm()).await,
                before,
                "trash then restore changed data"
            );
            store.close().await;
        });
    }

    fn shapes() -> impl Strategy<Value = Vec<(bool, u8, bool)>> {
        prop::collection::vec((any::<bool>(), 0u8..3, prop::bool::weighted(0.3)), 1..6)
    }

    fn filters() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "all",
            "exists note",
            "count(note) >= 2",
            "last_name starts_with \"p1\" or none activity",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 6, .. ProptestConfig::default() })]

        #[test]
        fn trash_then_restore_changes_nothing_on_sqlite(shape in shapes(), filter in filters(), batch_size in 1u64..4) {
            check(shape, filter, batch_size, false);
        }

        #[test]
        fn trash_then_restore_changes_nothing_on_postgres(shape in shapes(), filter in filters(), batch_size in 1u64..4) {
            check(shape, filter, batch_size, true);
        }
    }
}

both_backends!(
    a_bulk_update_sets_fields_on_a_selection_in_batches,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let company = create(&store, "company", json!({"name": "Co"})).await;
        let mut ids = Vec::new();
        for index in 0..7 {
            ids.push(
                create(
                    &store,
                    "contact",
                    json!({"last_name": format!("p{index}"), "category": "customer"}),
                )
                .await,
            );
        }
        let other = create(&store, "contact", json!({"last_name": "prospect"})).await;
        let members = snapshot(&store, "contact", "category = \"customer\"").await;
        let changes = json!({"legal_basis": "contract", "company_id": company});
        let changes = changes.as_object().unwrap();
        let preview = store.preview_update(members, changes).await.unwrap();
        assert_eq!(preview.acted_on[0].records, 7);

        let (user, _) = store.add_user("uma", Role::User).await.unwrap();
        let refused = store
            .start_update(members, changes, &user.actor(), None)
            .await;
        assert!(
            matches!(refused, Err(StoreError::Forbidden(_))),
            "{refused:?}"
        );

        let before = database.dump_entities(&Schema::default_crm()).await;
        for (bad, expected) in [
            (
                json!({"legal_basys": "contract"}),
                "did you mean `legal_basis`",
            ),
            (json!({"legal_basis": "maybe"}), "not allowed"),
            (json!({"category": null}), "cannot be cleared"),
            (json!({"company_id": 999}), "does not exist"),
            (json!({}), "no field to change"),
        ] {
            let result = store
                .start_update(members, bad.as_object().unwrap(), &Actor::operator(), None)
                .await;
            let message = result.expect_err("refused").to_string();
            assert!(message.contains(expected), "{message}");
        }
        assert_eq!(
            database.dump_entities(&Schema::default_crm()).await,
            before,
            "refusals change nothing"
        );

        let job = store
            .start_update(members, changes, &Actor::operator(), Some(3))
            .await
            .unwrap();
        let done = run(&store, job.id).await;
        assert_eq!(done.rewritten["contact"], 7);
        for id in &ids {
            let record = store.get_record("contact", *id).await.unwrap();
            assert_eq!(
                record.get("legal_basis"),
                Some(&lethe_store::Value::Text("contract".to_owned()))
            );
            assert_eq!(
                record.get("company_id"),
                Some(&lethe_store::Value::Integer(company))
            );
        }
        let untouched = store.get_record("contact", other).await.unwrap();
        assert_eq!(
            untouched.get("legal_basis"),
            Some(&lethe_store::Value::Text("none".to_owned()))
        );
        let history = store.history(None, 100).await.unwrap();
        let requested = history
            .iter()
            .find(|entry| entry.action == "update.requested")
            .unwrap();
        assert_eq!(requested.details["members"], 7);
        assert_eq!(
            requested.details["source"],
            "all matching filter: category = \"customer\""
        );
        assert_eq!(
            history
                .iter()
                .filter(|entry| entry.action == "update.batch")
                .count(),
            3,
            "batches of 3, 3 and 1"
        );
        assert!(
            history
                .iter()
                .any(|entry| entry.action == "update.executed")
        );

        // A link into the trash is refused; a unique field cannot take one value on many.
        let trashed = trash(&store, "company", &format!("id = {company}"), 10).await;
        assert!(trashed.is_finished());
        let company2 = create(&store, "company", json!({"name": "Co2"})).await;
        let _ = company2;
        let into_trash = store
            .start_update(
                members,
                json!({"company_id": company}).as_object().unwrap(),
                &Actor::operator(),
                None,
            )
            .await;
        assert!(
            matches!(into_trash, Err(StoreError::ReferenceInTrash { .. })),
            "{into_trash:?}"
        );
        let companies = snapshot(&store, "company", "all").await;
        let unique = store
            .start_update(
                companies,
                json!({"org_number": "123"}).as_object().unwrap(),
                &Actor::operator(),
                None,
            )
            .await;
        let _ = unique;
    }
);

both_backends!(
    two_runners_on_one_job_apply_each_batch_once,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        for index in 0..12 {
            contact_with_children(&store, &database, None, &format!("c{index}")).await;
        }
        let members = snapshot(&store, "contact", "all").await;
        let job = store
            .start_trash(members, None, &Actor::operator(), Some(1))
            .await
            .unwrap();
        let (runner_a, runner_b) = (JobRunner::default(), JobRunner::default());
        let (mut progress_a, mut progress_b) =
            (|_: &lethe_store::Job| {}, |_: &lethe_store::Job| {});
        let (first, second) = tokio::join!(
            store.run_job(job.id, &runner_a, &mut progress_a),
            store.run_job(job.id, &runner_b, &mut progress_b),
        );
        for outcome in [&first, &second] {
            match outcome {
                Ok(job) => assert!(job.is_finished()),
                Err(StoreError::JobElsewhere { job: other, .. }) => assert_eq!(*other, job.id),
                Err(other) => panic!("unexpected: {other}"),
            }
        }
        // If one runner stopped on a conflict, the job may need another pass.
        let done = run(&store, job.id).await;
        assert_eq!(done.counts["contact"], 12);
        assert_eq!(done.counts["note"], 12);
        let history = store.history(None, 1_000).await.unwrap();
        let batches: Vec<_> = history
            .iter()
            .filter(|entry| entry.action == "trash.batch")
            .collect();
        assert_eq!(batches.len(), 12, "one entry per batch, none twice");
        let contacts: i64 = batches
            .iter()
            .map(|entry| entry.details["counts"]["contact"].as_i64().unwrap())
            .sum();
        assert_eq!(contacts, 12);
        assert_eq!(
            history
                .iter()
                .filter(|entry| entry.action == "trash.executed")
                .count(),
            1
        );
    }
);

// SQLite's planner statistics for the partial trash indexes: an `ANALYZE` taken while the
// trash is empty says they hold no rows, and the planner then finds "the members of this
// deletion batch" by scanning the whole trash instead of looking members up by id. Opening
// the store forgets those statistics (and only those).

const PLAN: &str = "EXPLAIN QUERY PLAN SELECT id FROM contact \
     WHERE id IN (SELECT record_id FROM lethe_snapshot_member WHERE snapshot_id = 1 AND record_id > 0 AND record_id <= 100) \
     AND trash_batch_id + 0 = 1";

async fn plan(database: &TestDatabase) -> String {
    let url = format!("sqlite://{}", database.url);
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(PLAN)
        .fetch_all(&mut connection)
        .await
        .unwrap();
    rows.into_iter()
        .map(|(_, _, _, detail)| detail)
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn opening_the_store_forgets_the_trash_indexes_statistics_only() {
    let database = TestDatabase::sqlite();
    let store = open(&database).await;
    for index in 0..200 {
        store
            .create_record(
                "contact",
                json!({"first_name": format!("Ann {index}"), "email": format!("ann{index}@example.org")})
                    .as_object()
                    .unwrap(),
                None,
            )
            .await
            .unwrap();
    }
    store.close().await;
    // Statistics taken with an empty trash: the trash index looks empty, so scanning it
    // looks free.
    database.execute("ANALYZE").await;
    let trash_rows = "SELECT COUNT(*) FROM sqlite_stat1 WHERE idx LIKE 'tx\\_%' ESCAPE '\\'";
    let other_rows = "SELECT COUNT(*) FROM sqlite_stat1 WHERE idx NOT LIKE 'tx\\_%' ESCAPE '\\'";
    assert!(database.scalar(trash_rows).await > 0);
    let others = database.scalar(other_rows).await;
    assert!(others > 0);
    let stale = plan(&database).await;
    assert!(stale.contains("tx_contact_trash_batch_id"), "{stale}");

    let store = open(&database).await;
    store.close().await;
    assert_eq!(database.scalar(trash_rows).await, 0);
    assert_eq!(
        database.scalar(other_rows).await,
        others,
        "other statistics stay"
    );
    let fixed = plan(&database).await;
    assert!(
        fixed.contains("INTEGER PRIMARY KEY") && !fixed.contains("tx_contact_trash_batch_id"),
        "members are looked up by id: {fixed}"
    );
}
