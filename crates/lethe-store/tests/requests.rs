//! People's erasure and access requests on both backends: the deadline is one calendar month
//! after receipt and an extension adds at most two; bad input is refused and writes nothing;
//! statuses only move forward; reminders go out once five days before the deadline and once
//! when it passes, however many instances look at once; a closed request keeps no address
//! anywhere Lethe writes, only a keyed tag that a later request of the same person matches;
//! links need a batch or purge that exists.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_schema::Schema;
use lethe_store::{
    Actor, DatabaseUrl, JobRunner, MemberPick, NewSubjectRequest, PickSource, RequestChange,
    RequestListing, Role, Scope, Store, StoreError,
};
use lethe_testkit::{TestDatabase, both_backends};
use serde_json::json;

const ADDRESS: &str = "ann.subject@example.org";

async fn open(database: &TestDatabase, clock: &lethe_store::Clock) -> Store {
    let store = Store::open(
        &DatabaseUrl::parse(&database.url).unwrap(),
        Schema::default_crm(),
        &support::options(clock.clone()),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
}

fn clock_at(at: &str) -> lethe_store::Clock {
    lethe_store::Clock::fixed(lethe_store::parse_timestamp(at).unwrap())
}

fn erasure_of(email: &str) -> NewSubjectRequest {
    NewSubjectRequest {
        kind: "erasure".to_owned(),
        email: Some(email.to_owned()),
        ..NewSubjectRequest::default()
    }
}

/// Trashes the contacts named "Gone"; returns their deletion batch.
async fn trash_the_gone(store: &Store, by: &Actor) -> i64 {
    let pick = MemberPick {
        entity: "contact".to_owned(),
        source: PickSource::Filter(
            store
                .parse_filter("contact", "last_name = \"Gone\"")
                .unwrap(),
        ),
        all_matching: true,
        include: Vec::new(),
        exclude: Vec::new(),
        scope: Scope::Active,
    };
    let snapshot = store.create_snapshot(&pick, "", None).await.unwrap();
    let trash = store
        .start_trash(snapshot.id, None, by, None)
        .await
        .unwrap();
    let trash = store
        .run_job(trash.id, &JobRunner::default(), &mut |_| {})
        .await
        .unwrap();
    trash.batch_id.unwrap()
}

fn is_postgres(database: &TestDatabase) -> bool {
    database.url.starts_with("postgres")
}

/// How many rows of Lethe's own tables hold `needle` anywhere in their text.
async fn rows_holding(database: &TestDatabase, needle: &str) -> i64 {
    let mut total = 0;
    let tables = [
        (
            "lethe_request",
            "coalesce(subject_email, '') || coalesce(extension_reason, '') || coalesce(refusal_reason, '') || subject_tag",
        ),
        ("lethe_history", "CAST(details AS TEXT)"),
        ("lethe_notification", "message"),
        ("lethe_outbox", "address || subject || body"),
    ];
    for (table, text) in tables {
        let like = if is_postgres(database) {
            "ILIKE"
        } else {
            "LIKE"
        };
        total += database
            .scalar(&format!(
                "SELECT COUNT(*) FROM {table} WHERE {text} {like} '%{needle}%'"
            ))
            .await;
    }
    total
}

both_backends!(
    a_request_is_due_a_calendar_month_after_receipt_and_bad_input_writes_nothing,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-02-10T12:00:00Z");
        let store = open(&database, &clock).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        let (ula, _) = store.add_user("ula", Role::User).await.unwrap();
        let ann = ann.actor();

        // Received 31 January: due on the last day of February.
        let mut new = erasure_of(ADDRESS);
        new.received = Some("2026-01-31".to_owned());
        new.assignee = Some("ula".to_owned());
        let added = store.add_request(&new, &ann).await.unwrap();
        assert_eq!(added.status, "received");
        assert_eq!(added.due_at, "2026-02-28T00:00:00.000000Z");
        assert_eq!(added.deadline, added.due_at);
        assert_eq!(added.days_left, 18);
        assert_eq!(added.subject_email.as_deref(), Some(ADDRESS));
        assert!(added.subject_tag.starts_with("hash:"));
        assert_eq!(added.assignee.as_deref(), Some("ula"));
        let history_before = store.history(None, 100).await.unwrap().len();

        // Each wrong part says what is wrong; nothing is written.
        let wrong = |change: fn(&mut NewSubjectRequest), expected: &'static str| {
            let store = store.clone();
            let ann = ann.clone();
            async move {
                let mut new = erasure_of(ADDRESS);
                change(&mut new);
                let error = store.add_request(&new, &ann).await.unwrap_err();
                assert!(error.to_string().contains(expected), "{expected}: {error}");
            }
        };
        wrong(
            |n| n.email = Some("ann.example.org".to_owned()),
            "is not an e-mail address",
        )
        .await;
        wrong(|n| n.email = Some("ann@example".to_owned()), "needs a dot").await;
        wrong(
            |n| {
                n.email = None;
                n.contact_id = Some(4242);
            },
            "contact 4242 does not exist",
        )
        .await;
        wrong(|n| n.contact_id = Some(1), "not both").await;
        wrong(|n| n.email = None, "say whose request").await;
        wrong(
            |n| n.kind = "deletion".to_owned(),
            "is not a kind of request",
        )
        .await;
        wrong(
            |n| n.received = Some("2026-03-01".to_owned()),
            "in the future",
        )
        .await;
        wrong(|n| n.received = Some("31.01.2026".to_owned()), "is not").await;
        wrong(
            |n| n.assignee = Some("nobody".to_owned()),
            "there is no user `nobody`",
        )
        .await;
        let forbidden = store.add_request(&erasure_of(ADDRESS), &ula.actor()).await;
        assert!(
            matches!(forbidden, Err(StoreError::Forbidden(_))),
            "{forbidden:?}"
        );
        assert_eq!(
            database.scalar("SELECT COUNT(*) FROM lethe_request").await,
            1
        );
        assert_eq!(
            store.history(None, 100).await.unwrap().len(),
            history_before
        );

        // By contact id: the contact must exist; the request is due a month after now.
        let contact = store
            .create_record(
                "contact",
                json!({"last_name": "Subject", "email": "Contact.Person@example.org"})
                    .as_object()
                    .unwrap(),
                None,
            )
            .await
            .unwrap();
        let by_contact = store
            .add_request(
                &NewSubjectRequest {
                    kind: "access".to_owned(),
                    contact_id: Some(contact.id),
                    ..NewSubjectRequest::default()
                },
                &ann,
            )
            .await
            .unwrap();
        assert_eq!(by_contact.subject_contact_id, Some(contact.id));
        assert_eq!(by_contact.due_at, "2026-03-10T12:00:00.000000Z");
        // The contact's address gives the tag, so a request by that address matches it.
        assert_eq!(
            by_contact.subject_tag,
            store.request_tag_of("contact.person@EXAMPLE.org").unwrap()
        );

        // A plain user sees the requests assigned to them, and no other.
        let mine = store
            .subject_requests(RequestListing::All, None, &ula.actor())
            .await
            .unwrap();
        assert_eq!(mine.iter().map(|r| r.id).collect::<Vec<_>>(), [added.id]);
        assert!(matches!(
            store.subject_request(by_contact.id, &ula.actor()).await,
            Err(StoreError::Forbidden(_))
        ));
        assert_eq!(
            store
                .subject_requests(RequestListing::Open, None, &ann)
                .await
                .unwrap()
                .len(),
            2
        );
    }
);

both_backends!(
    statuses_move_only_forward_and_an_extension_adds_at_most_two_months_with_a_reason,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-02-10T12:00:00Z");
        let store = open(&database, &clock).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        let (ula, _) = store.add_user("ula", Role::User).await.unwrap();
        let (una, _) = store.add_user("una", Role::User).await.unwrap();
        let ann = ann.actor();
        let mut new = erasure_of(ADDRESS);
        new.received = Some("2026-01-31T09:00:00Z".to_owned());
        let request = store.add_request(&new, &ann).await.unwrap();
        let id = request.id;
        let history_before = store.history(None, 100).await.unwrap().len();

        let extend = |until: &str, reason: &str| RequestChange::Extend {
            until: until.to_owned(),
            reason: reason.to_owned(),
        };
        for (change, expected) in [
            (extend("2026-05-01", "many systems"), "more than 2 months"),
            (extend("2026-04-10", " "), "say why"),
            (
                extend("2026-02-20", "many systems"),
                "moves the deadline later",
            ),
            (extend("soon", "many systems"), "is not"),
            (
                RequestChange::Refuse {
                    reason: String::new(),
                },
                "say why request",
            ),
            (
                RequestChange::Assign("nobody".to_owned()),
                "there is no user `nobody`",
            ),
        ] {
            let error = store.change_request(id, &change, &ann).await.unwrap_err();
            assert!(error.to_string().contains(expected), "{expected}: {error}");
        }
        assert_eq!(
            store.history(None, 100).await.unwrap().len(),
            history_before,
            "nothing written"
        );

        // Within two further months, with a reason: the deadline moves; the address in the
        // reason is not kept.
        let extended = store
            .change_request(
                id,
                &extend(
                    "2026-04-30",
                    &format!("{} has records in three systems", ADDRESS.to_uppercase()),
                ),
                &ann,
            )
            .await
            .unwrap();
        assert_eq!(extended.deadline, "2026-04-30T09:00:00.000000Z");
        assert_eq!(extended.due_at, "2026-02-28T09:00:00.000000Z");
        assert_eq!(
            extended.extension_reason.as_deref(),
            Some("[erased] has records in three systems")
        );

        // The assignee moves it along; another plain user may not; extending is an admin's.
        store
            .change_request(id, &RequestChange::Assign("ula".to_owned()), &ann)
            .await
            .unwrap();
        let refused = store
            .change_request(id, &RequestChange::Start, &una.actor())
            .await;
        assert!(
            matches!(refused, Err(StoreError::Forbidden(_))),
            "{refused:?}"
        );
        let refused = store
            .change_request(id, &extend("2026-04-20", "x"), &ula.actor())
            .await;
        assert!(
            matches!(refused, Err(StoreError::Forbidden(_))),
            "{refused:?}"
        );
        let started = store
            .change_request(id, &RequestChange::Start, &ula.actor())
            .await
            .unwrap();
        assert_eq!(started.status, "in_progress");
        let again = store
            .change_request(id, &RequestChange::Start, &ula.actor())
            .await
            .unwrap_err();
        assert!(again.to_string().contains("in progress already"), "{again}");
        let done = store
            .change_request(id, &RequestChange::Done, &ula.actor())
            .await
            .unwrap();
        assert_eq!(done.status, "done");
        assert!(done.closed_at.is_some());

        // Nothing moves a closed request.
        for change in [
            RequestChange::Start,
            RequestChange::Done,
            RequestChange::Refuse {
                reason: "late".to_owned(),
            },
        ] {
            let error = store.change_request(id, &change, &ann).await.unwrap_err();
            assert!(matches!(error, StoreError::Transition(_)), "{error}");
        }
        let error = store
            .change_request(id, &extend("2026-04-29", "x"), &ann)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("closed"), "{error}");

        // A refusal needs its reason and closes the request.
        let other = store
            .add_request(&erasure_of("bo@example.org"), &ann)
            .await
            .unwrap();
        let refused = store
            .change_request(
                other.id,
                &RequestChange::Refuse {
                    reason: "manifestly unfounded (Art. 12(5))".to_owned(),
                },
                &ann,
            )
            .await
            .unwrap();
        assert_eq!(refused.status, "refused");
        assert_eq!(
            refused.refusal_reason.as_deref(),
            Some("manifestly unfounded (Art. 12(5))")
        );
        // An extension after the first month is too late.
        let late = store
            .add_request(&erasure_of("cy@example.org"), &ann)
            .await
            .unwrap();
        clock.set(lethe_store::parse_timestamp("2026-03-11T12:00:01Z").unwrap());
        let error = store
            .change_request(late.id, &extend("2026-04-20", "x"), &ann)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("within the first month"),
            "{error}"
        );
        let overdue = store
            .subject_requests(RequestListing::Overdue, None, &ann)
            .await
            .unwrap();
        assert_eq!(overdue.iter().map(|r| r.id).collect::<Vec<_>>(), [late.id]);
        assert!(overdue[0].overdue && overdue[0].days_left <= 0);
    }
);

both_backends!(
    reminders_go_once_five_days_before_and_once_when_the_deadline_passes,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-03-01T08:00:00Z");
        let store = open(&database, &clock).await;
        // A second instance: its own handle (and pool) on the same database and clock.
        let other = open(&database, &clock).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        let (bob, _) = store.add_user("bob", Role::Admin).await.unwrap();
        let (ula, _) = store.add_user("ula", Role::User).await.unwrap();
        let mut new = erasure_of(ADDRESS);
        new.assignee = Some("ula".to_owned());
        let request = store.add_request(&new, &ann.actor()).await.unwrap();
        assert_eq!(request.deadline, "2026-04-01T08:00:00.000000Z");

        let race = || async {
            let (here, there) = tokio::join!(
                store.send_request_reminders(),
                other.send_request_reminders()
            );
            let (here, there) = (here.unwrap(), there.unwrap());
            (here.reminded + there.reminded, here.overdue + there.overdue)
        };
        let feed = |user: i64| {
            let store = store.clone();
            async move { store.notifications(user, false, 100).await.unwrap() }
        };
        // Six days before: nothing yet.
        clock.set(lethe_store::parse_timestamp("2026-03-26T08:00:00Z").unwrap());
        assert_eq!(race().await, (0, 0));
        // Five days before: the assignee, once.
        clock.set(lethe_store::parse_timestamp("2026-03-27T08:00:00Z").unwrap());
        assert_eq!(race().await, (1, 0));
        assert_eq!(race().await, (0, 0));
        let reminders = feed(ula.id).await;
        assert_eq!(reminders.len(), 1);
        assert_eq!(reminders[0].kind, "request_deadline");
        assert!(
            reminders[0]
                .message
                .contains(&format!("request {}", request.id)),
            "{}",
            reminders[0].message
        );
        assert!(
            reminders[0].message.contains("2026-04-01"),
            "{}",
            reminders[0].message
        );
        assert!(feed(ann.id).await.is_empty());

        // When it passes: every admin, once.
        clock.set(lethe_store::parse_timestamp("2026-04-01T08:00:00Z").unwrap());
        assert_eq!(race().await, (0, 1));
        assert_eq!(race().await, (0, 0));
        for admin in [ann.id, bob.id] {
            let told = feed(admin).await;
            assert_eq!(told.len(), 1, "{told:?}");
            assert!(
                told[0].message.contains("passed its deadline"),
                "{}",
                told[0].message
            );
        }
        assert_eq!(feed(ula.id).await.len(), 1);
        // No message names the subject.
        assert_eq!(
            rows_holding(&database, "ann.subject").await,
            1,
            "only the open request itself"
        );

        // A closed request is not reminded of.
        store
            .change_request(request.id, &RequestChange::Done, &ann.actor())
            .await
            .unwrap();
        let mut late = erasure_of("late@example.org");
        late.received = Some("2026-03-01".to_owned());
        let late = store.add_request(&late, &ann.actor()).await.unwrap();
        store
            .change_request(
                late.id,
                &RequestChange::Refuse {
                    reason: "no such customer".to_owned(),
                },
                &ann.actor(),
            )
            .await
            .unwrap();
        clock.set(lethe_store::parse_timestamp("2026-05-01T00:00:00Z").unwrap());
        assert_eq!(race().await, (0, 0));
    }
);

both_backends!(
    a_closed_request_keeps_no_address_and_a_later_one_of_the_same_person_is_matched,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-03-01T08:00:00Z");
        let store = open(&database, &clock).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        let delivery = lethe_store::DeliveryChange {
            email: Some(Some("ann.admin@lethe.test".to_owned())),
            email_kinds: vec![(
                lethe_store::notification::NotificationKind::RequestDeadline,
                true,
            )],
        };
        store
            .change_delivery("ann", &delivery, &Actor::operator())
            .await
            .unwrap();
        let ann = ann.actor();
        let mut new = erasure_of(ADDRESS);
        new.assignee = Some("ann".to_owned());
        let request = store.add_request(&new, &ann).await.unwrap();
        store
            .change_request(
                request.id,
                &RequestChange::Extend {
                    until: "2026-05-01".to_owned(),
                    reason: format!("{ADDRESS} is in the archive too"),
                },
                &ann,
            )
            .await
            .unwrap();
        clock.set(lethe_store::parse_timestamp("2026-04-27T08:00:00Z").unwrap());
        assert_eq!(store.send_request_reminders().await.unwrap().reminded, 1);
        assert!(
            rows_holding(&database, "ann.subject").await >= 1,
            "held while open"
        );

        let done = store
            .change_request(request.id, &RequestChange::Done, &ann)
            .await
            .unwrap();
        assert!(done.subject_email.is_none() && done.subject_contact_id.is_none());
        assert_eq!(done.subject_tag, request.subject_tag);
        assert_eq!(
            rows_holding(&database, "ann.subject").await,
            0,
            "no address anywhere"
        );
        assert_eq!(
            rows_holding(&database, "example.org").await,
            0,
            "no part of it either"
        );

        // The same person asks again, writing the address otherwise: matched by the tag.
        let again = store
            .add_request(&erasure_of(&ADDRESS.to_uppercase()), &ann)
            .await
            .unwrap();
        assert_eq!(again.subject_tag, request.subject_tag);
        let earlier = store
            .subject_requests(RequestListing::All, Some(ADDRESS), &ann)
            .await
            .unwrap();
        let ids: Vec<i64> = earlier.iter().map(|r| r.id).collect();
        assert_eq!(ids, [again.id, request.id], "the open one first");
        assert_eq!(earlier[1].status, "done");
        let history = serde_json::to_string(&store.history(None, 100).await.unwrap()).unwrap();
        assert!(
            history.contains(&request.subject_tag),
            "the history carries the tag"
        );
    }
);

both_backends!(
    links_need_a_batch_or_job_that_exists_and_show_their_state,
    |database: TestDatabase| async move {
        let clock = lethe_store::Clock::system();
        let store = open(&database, &clock).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        let ann = ann.actor();
        let contact = store
            .create_record(
                "contact",
                json!({"last_name": "Gone", "email": ADDRESS})
                    .as_object()
                    .unwrap(),
                None,
            )
            .await
            .unwrap();
        let request = store
            .add_request(
                &NewSubjectRequest {
                    kind: "erasure".to_owned(),
                    contact_id: Some(contact.id),
                    ..NewSubjectRequest::default()
                },
                &ann,
            )
            .await
            .unwrap();
        let batch = trash_the_gone(&store, &ann).await;

        let history_before = store.history(None, 100).await.unwrap().len();
        let missing = store
            .link_request(request.id, Some(batch + 100), None, &ann)
            .await
            .unwrap_err();
        assert!(
            missing
                .to_string()
                .contains(&format!("deletion batch {} does not exist", batch + 100)),
            "{missing}"
        );
        let missing = store
            .link_request(request.id, None, Some(9_999), &ann)
            .await
            .unwrap_err();
        assert!(
            missing.to_string().contains("job 9999 does not exist"),
            "{missing}"
        );
        let missing = store
            .link_request(4_242, Some(batch), None, &ann)
            .await
            .unwrap_err();
        assert!(missing.to_string().contains("no request 4242"), "{missing}");
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_request_link")
                .await,
            0
        );
        assert_eq!(
            store.history(None, 100).await.unwrap().len(),
            history_before
        );

        let linked = store
            .link_request(request.id, Some(batch), None, &ann)
            .await
            .unwrap();
        assert_eq!(linked.links.len(), 1);
        assert_eq!(linked.links[0].state, "trashed");
        // Linking the same batch again makes no second link.
        assert_eq!(
            store
                .link_request(request.id, Some(batch), None, &ann)
                .await
                .unwrap()
                .links
                .len(),
            1
        );
        assert!(!linked.ready_to_close);

        let purge = store
            .request_purge(batch, &ann, Some(time::Duration::ZERO), false, None, None)
            .await
            .unwrap();
        let linked = store
            .link_request(request.id, None, Some(purge.id), &ann)
            .await
            .unwrap();
        assert_eq!(linked.links[1].state, "pending");
        store
            .run_job(purge.id, &JobRunner::default(), &mut |_| {})
            .await
            .unwrap();
        let shown = store.subject_request(request.id, &ann).await.unwrap();
        assert_eq!(shown.links[0].state, "purged");
        assert_eq!(shown.links[1].state, "done");
        assert_eq!(
            shown.links[1].receipt.as_deref(),
            Some(format!("/purges/{}/receipt", purge.id).as_str())
        );
        assert!(shown.ready_to_close, "every linked purge ran");
        assert_eq!(
            shown.status, "received",
            "Lethe does not close it by itself"
        );

        let done = store
            .change_request(request.id, &RequestChange::Done, &ann)
            .await
            .unwrap();
        assert!(done.subject_contact_id.is_none());
        let closed = store
            .link_request(request.id, Some(batch), None, &ann)
            .await
            .unwrap_err();
        assert!(closed.to_string().contains("closed"), "{closed}");
    }
);

/// An open erasure request keeps the address it was registered with, on purpose, also after
/// a purge erased the contact that had it: the SQLite erasure receipt finds the address in
/// `lethe_request` and explains it by the open request instead of reporting residue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_explains_an_address_an_open_request_keeps() {
    let database = TestDatabase::sqlite();
    let clock = lethe_store::Clock::system();
    let store = open(&database, &clock).await;
    let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
    let ann = ann.actor();
    store
        .create_record(
            "contact",
            json!({"last_name": "Gone", "email": ADDRESS})
                .as_object()
                .unwrap(),
            None,
        )
        .await
        .unwrap();
    let request = store.add_request(&erasure_of(ADDRESS), &ann).await.unwrap();
    let batch = trash_the_gone(&store, &ann).await;
    let purge = store
        .request_purge(batch, &ann, Some(time::Duration::ZERO), false, None, None)
        .await
        .unwrap();
    let done = store
        .run_job(purge.id, &JobRunner::default(), &mut |_| {})
        .await
        .unwrap();
    let receipt = done.receipt.expect("a receipt");
    let scan = &receipt["database"]["scan"];
    let why = format!(
        "lethe_request.subject_email (kept by open request {} until it is closed)",
        request.id
    );
    assert_eq!(scan["explained"]["by_field"][&why], 1, "{receipt}");
    assert_eq!(scan["residue"]["values"], 0, "{receipt}");
    assert_eq!(scan["residue_after_remedy"]["values"], 0, "{receipt}");
    assert_eq!(
        rows_holding(&database, ADDRESS).await,
        1,
        "only the open request"
    );
}
