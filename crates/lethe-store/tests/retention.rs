//! Retention policies on both backends: bad parts are refused and nothing is made; a
//! destructive policy is enabled only after a second admin approved it; a run from a dry run
//! acts on exactly the dry run's members, whatever changed since; a policy that notifies
//! tells its owner; the schedule runs a policy once per due time, however many instances look
//! at once; the shipped policies come disabled.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_schema::Schema;
use lethe_store::{Actor, DatabaseUrl, JobRunner, NewPolicy, PolicyEdit, Role, Store, StoreError};
use lethe_testkit::{TestDatabase, both_backends};
use serde_json::json;

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

fn stale_prospects(name: &str, action: &str) -> NewPolicy {
    NewPolicy {
        name: name.to_owned(),
        entity: "contact".to_owned(),
        filter: "category = \"prospect\" and last_name starts_with \"Stale\"".to_owned(),
        selection: None,
        action: action.to_owned(),
        schedule: "0 3 * * *".to_owned(),
        time_zone: "Europe/Oslo".to_owned(),
        legal_basis: "prospects are kept three years".to_owned(),
        owner: None,
    }
}

async fn contacts(store: &Store, prefix: &str, count: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for index in 0..count {
        let record = store
            .create_record(
                "contact",
                json!({"last_name": format!("{prefix}{index}"), "category": "prospect"})
                    .as_object()
                    .unwrap(),
                None,
            )
            .await
            .unwrap();
        ids.push(record.id);
    }
    ids
}

both_backends!(
    bad_policies_are_refused_and_four_eyes_guard_the_destructive_ones,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-03-01T12:00:00Z");
        let store = open(&database, &clock).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        let (bob, _) = store.add_user("bob", Role::Admin).await.unwrap();
        let (ula, _) = store.add_user("ula", Role::User).await.unwrap();
        let ann = ann.actor();
        let bob = bob.actor();

        // Each wrong part says what is wrong; nothing is made.
        let wrong = |change: fn(&mut NewPolicy), expected: &'static str| {
            let store = store.clone();
            let ann = ann.clone();
            async move {
                let mut policy = stale_prospects("p", "trash");
                change(&mut policy);
                let error = store.add_policy(&policy, &ann).await.unwrap_err();
                assert!(error.to_string().contains(expected), "{expected}: {error}");
            }
        };
        wrong(
            |p| p.schedule = "0 25 * * *".to_owned(),
            "is not a cron schedule",
        )
        .await;
        wrong(
            |p| p.time_zone = "Mars/Olympus".to_owned(),
            "is not a time zone",
        )
        .await;
        wrong(
            |p| p.filter = "category = \"prospekt\"".to_owned(),
            "prospect",
        )
        .await;
        wrong(|p| p.entity = "planet".to_owned(), "planet").await;
        wrong(|p| p.action = "delete".to_owned(), "is not a policy action").await;
        wrong(|p| p.legal_basis = " ".to_owned(), "legal basis").await;
        wrong(|p| p.name = "no spaces".to_owned(), "is not a policy name").await;
        wrong(|p| p.filter = " ".to_owned(), "give the filter").await;
        wrong(|p| p.selection = Some("nowhere".to_owned()), "not both").await;
        wrong(
            |p| {
                p.filter = String::new();
                p.selection = Some("nowhere".to_owned());
            },
            "nowhere",
        )
        .await;
        assert!(matches!(
            store
                .add_policy(&stale_prospects("p", "trash"), &ula.actor())
                .await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(store.policies(&ann).await.unwrap().is_empty());

        // Added disabled; enabling waits for a second admin's approval.
        let added = store
            .add_policy(&stale_prospects("stale", "trash"), &ann)
            .await
            .unwrap();
        assert!(!added.enabled && added.next_run_at.is_none());
        assert_eq!(added.owner.as_deref(), Some("ann"));
        // Every admin hears that it waits for a second admin's approval; a plain user does not.
        for (user, expected) in [(&ann, 1), (&bob, 1), (&ula.actor(), 0)] {
            let feed = store
                .notifications(user.user_id.unwrap(), false, 10)
                .await
                .unwrap();
            let asked: Vec<_> = feed
                .iter()
                .filter(|note| note.kind == "policy_approval")
                .collect();
            assert_eq!(asked.len(), expected, "{} {feed:?}", user.name);
            if let Some(note) = asked.first() {
                assert!(note.message.contains("policy approve stale"), "{note:?}");
            }
        }
        assert!(matches!(
            store
                .add_policy(&stale_prospects("stale", "trash"), &ann)
                .await,
            Err(StoreError::Conflict(_))
        ));
        let not_yet = store.enable_policy("stale", &ann).await.unwrap_err();
        assert!(not_yet.to_string().contains("second admin"), "{not_yet}");
        let own = store.approve_policy("stale", &ann).await.unwrap_err();
        assert!(matches!(own, StoreError::Forbidden(_)), "{own}");
        let approved = store.approve_policy("stale", &bob).await.unwrap();
        assert_eq!(approved.approved_by.as_deref(), Some("bob"));
        let approver = store.enable_policy("stale", &bob).await.unwrap_err();
        assert!(
            approver.to_string().contains("may not also enable"),
            "{approver}"
        );
        let enabled = store.enable_policy("stale", &ann).await.unwrap();
        assert!(enabled.enabled);
        // 03:00 in Oslo on 2 March is 02:00 UTC.
        assert_eq!(
            enabled.next_run_at.as_deref(),
            Some("2026-03-02T02:00:00.000000Z")
        );

        // A change takes the approval back and stops a destructive policy.
        let edit = PolicyEdit {
            filter: Some("category = \"prospect\"".to_owned()),
            ..PolicyEdit::default()
        };
        let changed = store.edit_policy("stale", &edit, &bob).await.unwrap();
        assert!(!changed.enabled && changed.approved_by.is_none());
        assert_eq!(changed.changed_by.as_deref(), Some("bob"));
        assert!(store.enable_policy("stale", &ann).await.is_err());

        // A policy that only notifies needs no second admin.
        store
            .add_policy(&stale_prospects("review", "notify"), &ann)
            .await
            .unwrap();
        assert!(store.enable_policy("review", &ann).await.unwrap().enabled);

        let history = store.history(None, 100).await.unwrap();
        let actions: Vec<&str> = history.iter().map(|entry| entry.action.as_str()).collect();
        for action in [
            "policy.added",
            "policy.approved",
            "policy.enabled",
            "policy.changed",
        ] {
            assert!(actions.contains(&action), "{action} in {actions:?}");
        }
    }
);

both_backends!(
    a_run_from_a_dry_run_acts_on_exactly_what_the_dry_run_listed,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-03-01T12:00:00Z");
        let store = open(&database, &clock).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        let ann = ann.actor();
        let stale = contacts(&store, "Stale", 6).await;
        contacts(&store, "Fresh", 3).await;
        // One stale contact has a deal: a rule blocks its trash.
        store
            .create_record(
                "deal",
                json!({"contact_id": stale[0], "title": "open deal"})
                    .as_object()
                    .unwrap(),
                None,
            )
            .await
            .unwrap();
        store
            .add_policy(&stale_prospects("stale", "trash"), &ann)
            .await
            .unwrap();
        let dry = store.dry_run_policy("stale", &ann).await.unwrap();
        assert_eq!(dry.kind, "dry_run");
        assert_eq!(dry.members, 6);
        assert_eq!(dry.counts["blocked"], 1, "{}", dry.counts);
        assert_eq!(
            dry.counts["blocked_sample"][0]["record_id"],
            json!(stale[0])
        );

        // After the dry run, two more stale contacts appear and one listed goes: the run from
        // the dry run acts on the dry run's members, not on what the filter finds now.
        let late = contacts(&store, "Stale-late", 2).await;
        let run = store.run_policy("stale", Some(dry.id), &ann).await.unwrap();
        assert_eq!(run.snapshot_id, dry.snapshot_id);
        assert_eq!(run.dry_run_id, Some(dry.id));
        assert_eq!(run.counts, dry.counts);
        let job = store
            .run_job(run.job_id.unwrap(), &JobRunner::default(), &mut |_| {})
            .await
            .unwrap();
        assert_eq!(job.total, 6);
        assert_eq!(job.blocked, 1);
        assert_eq!(job.counts["contact"], 5);
        for id in &stale[1..] {
            assert!(
                store.get_record("contact", *id).await.is_err(),
                "{id} trashed"
            );
        }
        for id in late.iter().chain(&stale[..1]) {
            assert!(store.get_record("contact", *id).await.is_ok(), "{id} kept");
        }
        // A dry run of another policy cannot be run as this one's.
        store
            .add_policy(&stale_prospects("other", "notify"), &ann)
            .await
            .unwrap();
        assert!(store.run_policy("other", Some(dry.id), &ann).await.is_err());

        // The history names the policy, the filter and the counts — the filter as the
        // snapshot keeps it, a value compared with a personal field as a keyed tag.
        let history = store.history(None, 100).await.unwrap();
        let entry = history
            .iter()
            .find(|entry| entry.action == "policy.run")
            .unwrap();
        let text = serde_json::to_string(entry).unwrap();
        assert!(
            text.contains("\"stale\"") && text.contains("last_name starts_with hash:"),
            "{text}"
        );
        assert!(!text.contains("Stale"), "{text}");

        // A policy that notifies tells its owner how many records are due for review.
        let review = store.run_policy("other", None, &ann).await.unwrap();
        assert_eq!(
            review.members, 3,
            "the two late stale contacts and the one a deal holds are left"
        );
        assert!(review.job_id.is_none());
        let feed = store
            .notifications(ann.user_id.unwrap(), false, 10)
            .await
            .unwrap();
        assert_eq!(feed[0].kind, "policy_review");
        assert!(
            feed[0].message.contains("3 contact record(s)"),
            "{}",
            feed[0].message
        );
    }
);

both_backends!(
    the_schedule_runs_a_policy_once_per_due_time_whatever_the_number_of_instances,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-03-01T23:00:00Z");
        let store = open(&database, &clock).await;
        // A second instance: its own handle (and pool) on the same database and clock.
        let other = open(&database, &clock).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        contacts(&store, "Stale", 3).await;
        let mut policy = stale_prospects("review", "notify");
        policy.schedule = "30 0 * * *".to_owned();
        policy.time_zone = "UTC".to_owned();
        store.add_policy(&policy, &ann.actor()).await.unwrap();
        store.enable_policy("review", &ann.actor()).await.unwrap();
        assert!(
            store.run_due_policies().await.unwrap().is_empty(),
            "not due yet"
        );

        clock.set(lethe_store::parse_timestamp("2026-03-02T00:30:05Z").unwrap());
        let (here, there) = tokio::join!(store.run_due_policies(), other.run_due_policies());
        let (here, there) = (here.unwrap(), there.unwrap());
        assert_eq!(here.len() + there.len(), 1, "{here:?} {there:?}");
        let run = here.into_iter().chain(there).next().unwrap();
        assert_eq!(run.kind, "scheduled");
        assert_eq!(run.due_at.as_deref(), Some("2026-03-02T00:30:00.000000Z"));
        assert_eq!(run.members, 3);
        assert!(store.run_due_policies().await.unwrap().is_empty());
        let policy = store.policy("review", &Actor::operator()).await.unwrap();
        assert_eq!(
            policy.next_run_at.as_deref(),
            Some("2026-03-03T00:30:00.000000Z")
        );
        let history = store
            .policy_history("review", 10, &Actor::operator())
            .await
            .unwrap();
        assert_eq!(history.len(), 1);

        // Disabled, it does not run.
        store.disable_policy("review", &ann.actor()).await.unwrap();
        clock.set(lethe_store::parse_timestamp("2026-03-04T00:00:00Z").unwrap());
        assert!(store.run_due_policies().await.unwrap().is_empty());
    }
);

both_backends!(
    the_shipped_policies_come_disabled_and_once,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-03-01T12:00:00Z");
        let store = open(&database, &clock).await;
        assert_eq!(store.add_shipped_policies().await.unwrap(), 2);
        assert_eq!(store.add_shipped_policies().await.unwrap(), 0);
        let policies = store.policies(&Actor::operator()).await.unwrap();
        let names: Vec<&str> = policies.iter().map(|policy| policy.name.as_str()).collect();
        assert_eq!(names, ["lost-customers-5y", "prospects-3y"]);
        assert!(
            policies
                .iter()
                .all(|policy| !policy.enabled && policy.action == "trash")
        );
        // Their dry runs work on this schema.
        for name in names {
            let dry = store
                .dry_run_policy(name, &Actor::operator())
                .await
                .unwrap();
            assert_eq!(dry.members, 0);
        }
    }
);

both_backends!(
    a_saved_selection_finds_a_policys_records_and_cannot_be_deleted_under_it,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-03-01T12:00:00Z");
        let store = open(&database, &clock).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        let ann = ann.actor();
        contacts(&store, "Stale", 4).await;
        contacts(&store, "Fresh", 2).await;
        let filter = store
            .parse_filter("contact", "last_name starts_with \"Stale\"")
            .unwrap();
        store
            .save_selection(
                "stale-leads",
                "contact",
                &lethe_store::SelectionDefinition::Dynamic(filter),
                "leads gone quiet",
                ann.user_id,
            )
            .await
            .unwrap();
        // A selection of another entity is refused, saying which.
        let mut wrong_entity = stale_prospects("by-company", "notify");
        wrong_entity.entity = "company".to_owned();
        wrong_entity.filter = String::new();
        wrong_entity.selection = Some("stale-leads".to_owned());
        let refused = store.add_policy(&wrong_entity, &ann).await.unwrap_err();
        assert!(
            refused.to_string().contains("holds contact records"),
            "{refused}"
        );

        let mut policy = stale_prospects("leads", "notify");
        policy.filter = String::new();
        policy.selection = Some("stale-leads".to_owned());
        let added = store.add_policy(&policy, &ann).await.unwrap();
        assert_eq!(added.selection.as_deref(), Some("stale-leads"));
        assert_eq!(
            store.dry_run_policy("leads", &ann).await.unwrap().members,
            4
        );

        // The policy follows the selection as it changes.
        let narrower = store
            .parse_filter("contact", "last_name in [\"Stale0\", \"Stale1\"]")
            .unwrap();
        store
            .update_selection(
                "stale-leads",
                &lethe_store::SelectionDefinition::Dynamic(narrower),
                "two",
                &ann,
            )
            .await
            .unwrap();
        assert_eq!(
            store.dry_run_policy("leads", &ann).await.unwrap().members,
            2
        );

        // The selection cannot go while the policy uses it; a filter instead frees it.
        let held = store
            .delete_selection("stale-leads", &ann)
            .await
            .unwrap_err();
        assert!(
            matches!(held, StoreError::Conflict(_)) && held.to_string().contains("leads"),
            "{held}"
        );
        let edit = PolicyEdit {
            filter: Some("last_name starts_with \"Fresh\"".to_owned()),
            ..PolicyEdit::default()
        };
        let changed = store.edit_policy("leads", &edit, &ann).await.unwrap();
        assert_eq!(changed.selection, None);
        assert_eq!(
            store.dry_run_policy("leads", &ann).await.unwrap().members,
            2
        );
        store.delete_selection("stale-leads", &ann).await.unwrap();
    }
);

both_backends!(
    a_scheduled_run_whose_instance_died_is_finished_once_by_another,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-03-01T23:00:00Z");
        let store = open(&database, &clock).await;
        let other = open(&database, &clock).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        contacts(&store, "Stale", 3).await;
        let mut policy = stale_prospects("review", "notify");
        policy.schedule = "30 0 * * *".to_owned();
        policy.time_zone = "UTC".to_owned();
        store.add_policy(&policy, &ann.actor()).await.unwrap();
        store.enable_policy("review", &ann.actor()).await.unwrap();

        // An instance took the run due at 00:30 and died before it ran it: the claim is
        // recorded, the policy's next run moved on, nothing else done.
        database
            .execute(
                "INSERT INTO lethe_policy_run (policy_id, kind, due_at, members, counts, actor_name, at, claimed_at, finished) \
                 SELECT id, 'scheduled', next_run_at, 0, '{}', 'ann', next_run_at, next_run_at, (1 = 0) \
                 FROM lethe_retention_policy WHERE name = 'review'",
            )
            .await;
        database
            .execute("UPDATE lethe_retention_policy SET next_run_at = NULL WHERE name = 'review'")
            .await;
        let listed = store
            .policy_history("review", 10, &Actor::operator())
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert!(!listed[0].finished, "{listed:?}");

        // Not yet stale: nobody takes it over.
        clock.set(lethe_store::parse_timestamp("2026-03-02T00:35:00Z").unwrap());
        assert!(store.run_due_policies().await.unwrap().is_empty());

        // Ten minutes after the claim, one of two instances finishes it, once.
        clock.set(lethe_store::parse_timestamp("2026-03-02T00:41:00Z").unwrap());
        let (here, there) = tokio::join!(store.run_due_policies(), other.run_due_policies());
        let (here, there) = (here.unwrap(), there.unwrap());
        assert_eq!(here.len() + there.len(), 1, "{here:?} {there:?}");
        let run = here.into_iter().chain(there).next().unwrap();
        assert_eq!(
            run.id, listed[0].id,
            "the claimed run is finished, not a new one"
        );
        assert!(run.finished);
        assert_eq!(run.members, 3);
        assert_eq!(run.due_at.as_deref(), Some("2026-03-02T00:30:00.000000Z"));
        assert!(store.run_due_policies().await.unwrap().is_empty());
        let history = store
            .policy_history("review", 10, &Actor::operator())
            .await
            .unwrap();
        assert_eq!(history.len(), 1);
        let feed = store.notifications(ann.id, false, 10).await.unwrap();
        let reviews = feed
            .iter()
            .filter(|note| note.kind == "policy_review")
            .count();
        assert_eq!(reviews, 1, "{feed:?}");
    }
);

/// For random contacts, policies and changes between a dry run and its run: the run acts on
/// the dry run's frozen members, exactly — those still active and not held by a rule are
/// trashed, nothing else is, and a new record that matches is left alone.
mod property {
    use super::*;
    use lethe_store::{MemberPick, PickSource, Scope};
    use proptest::prelude::*;

    const NAMES: [&str; 3] = ["Ash", "Birch", "Cedar"];

    /// A contact: its name, whether it is a prospect, whether an open deal holds it.
    type Shape = (usize, bool, bool);

    async fn add(store: &Store, index: usize, (name, prospect, deal): Shape) -> i64 {
        let category = if prospect { "prospect" } else { "customer" };
        let contact = store
            .create_record(
                "contact",
                json!({"last_name": format!("{}{index}", NAMES[name]), "category": category})
                    .as_object()
                    .unwrap(),
                None,
            )
            .await
            .unwrap()
            .id;
        if deal {
            store
                .create_record(
                    "deal",
                    json!({"contact_id": contact, "title": "open deal"})
                        .as_object()
                        .unwrap(),
                    None,
                )
                .await
                .unwrap();
        }
        contact
    }

    async fn count(database: &TestDatabase, condition: &str, ids: &[i64]) -> usize {
        if ids.is_empty() {
            return 0;
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        database
            .scalar(&format!(
                "SELECT COUNT(*) FROM contact WHERE {condition} AND id IN ({list})"
            ))
            .await as usize
    }

    fn check(
        shape: Vec<Shape>,
        filter: &'static str,
        later: Vec<Shape>,
        trash_first: Option<usize>,
        postgres: bool,
    ) {
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
            let clock = clock_at("2026-03-01T12:00:00Z");
            let store = open(&database, &clock).await;
            let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
            let ann = ann.actor();
            let mut contacts = Vec::new();
            let mut held = Vec::new();
            for (index, contact) in shape.iter().enumerate() {
                let id = add(&store, index, *contact).await;
                contacts.push(id);
                if contact.2 {
                    held.push(id);
                }
            }
            let mut policy = stale_prospects("random", "trash");
            policy.filter = filter.to_owned();
            store.add_policy(&policy, &ann).await.unwrap();
            let dry = store.dry_run_policy("random", &ann).await.unwrap();
            let snapshot = dry.snapshot_id.unwrap();
            let members: Vec<i64> = store
                .snapshot_page(
                    snapshot,
                    &lethe_store::ListQuery {
                        limit: Some(1_000),
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .records
                .iter()
                .map(|record| record.id)
                .collect();
            assert_eq!(members.len() as u64, dry.members);
            let held_members = members.iter().filter(|id| held.contains(id)).count();
            assert_eq!(dry.counts["blocked"], held_members as u64, "{}", dry.counts);

            // Between the dry run and the run: new contacts (matching or not), and perhaps
            // one contact trashed by hand.
            for (index, contact) in later.iter().enumerate() {
                add(&store, shape.len() + index, *contact).await;
            }
            let mut trashed_before = Vec::new();
            if let Some(pick) = trash_first.map(|pick| contacts[pick % contacts.len()]) {
                let one = MemberPick {
                    entity: "contact".to_owned(),
                    source: PickSource::Filter(
                        store
                            .parse_filter("contact", &format!("id = {pick}"))
                            .unwrap(),
                    ),
                    all_matching: true,
                    include: Vec::new(),
                    exclude: Vec::new(),
                    scope: Scope::Active,
                };
                let frozen = store
                    .create_snapshot(&one, "by hand", ann.user_id)
                    .await
                    .unwrap();
                let job = store
                    .start_trash(frozen.id, Some("by hand"), &ann, None)
                    .await
                    .unwrap();
                store
                    .run_job(job.id, &JobRunner::default(), &mut |_| {})
                    .await
                    .unwrap();
                if count(&database, "trashed_at IS NOT NULL", &[pick]).await == 1 {
                    trashed_before.push(pick);
                }
            }
            let all_trashed_before = database
                .scalar("SELECT COUNT(*) FROM contact WHERE trashed_at IS NOT NULL")
                .await as usize;
            assert_eq!(all_trashed_before, trashed_before.len());

            let run = store
                .run_policy("random", Some(dry.id), &ann)
                .await
                .unwrap();
            assert_eq!(
                (run.snapshot_id, run.members),
                (dry.snapshot_id, dry.members)
            );
            if let Some(job) = run.job_id {
                store
                    .run_job(job, &JobRunner::default(), &mut |_| {})
                    .await
                    .unwrap();
            }
            // Expected: the dry run's members still active and not held.
            let expected: Vec<i64> = members
                .iter()
                .copied()
                .filter(|id| !held.contains(id) && !trashed_before.contains(id))
                .collect();
            let trashed_now = database
                .scalar("SELECT COUNT(*) FROM contact WHERE trashed_at IS NOT NULL")
                .await as usize;
            assert_eq!(
                trashed_now,
                trashed_before.len() + expected.len(),
                "{filter}"
            );
            assert_eq!(
                count(&database, "trashed_at IS NOT NULL", &expected).await,
                expected.len()
            );
            assert_eq!(
                count(&database, "trashed_at IS NOT NULL", &trashed_before).await,
                trashed_before.len()
            );
            store.close().await;
        });
    }

    fn shapes(most: usize) -> impl Strategy<Value = Vec<Shape>> {
        prop::collection::vec(
            (0usize..3, any::<bool>(), prop::bool::weighted(0.25)),
            1..most,
        )
    }

    fn filters() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "category = \"prospect\"",
            "last_name starts_with \"Ash\" or last_name starts_with \"Cedar\"",
            "category = \"prospect\" and none deal",
            "exists deal or last_name starts_with \"Birch\"",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 6, .. ProptestConfig::default() })]

        #[test]
        fn a_run_from_a_dry_run_acts_on_its_members_on_sqlite(
            shape in shapes(8), filter in filters(), later in shapes(3), trash_first in prop::option::of(0usize..8),
        ) {
            check(shape, filter, later, trash_first, false);
        }

        #[test]
        fn a_run_from_a_dry_run_acts_on_its_members_on_postgres(
            shape in shapes(8), filter in filters(), later in shapes(3), trash_first in prop::option::of(0usize..8),
        ) {
            check(shape, filter, later, trash_first, true);
        }
    }
}
