//! Monitors on both backends: bad input is refused and nothing is made; a new monitor takes
//! a baseline and tells nobody; later runs tell the subscribers which records entered (and,
//! when asked, left), by id only; a run that finds nothing tells nobody; the schedule
//! evaluates a monitor once per due time however many instances look, and a run an instance
//! claimed and never finished is finished, once, by another; a purge leaves no member or hit
//! of an erased record.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_schema::Schema;
use lethe_store::{
    Actor, Clock, DatabaseUrl, JobRunner, MemberPick, MonitorEdit, NewMonitor, PickSource, Role,
    Scope, SelectionDefinition, Store, StoreError,
};
use lethe_testkit::{TestDatabase, both_backends};
use serde_json::json;

async fn open(database: &TestDatabase, clock: &Clock) -> Store {
    let store = Store::open(
        &DatabaseUrl::parse(&database.url).unwrap(),
        Schema::default_crm(),
        &support::options(clock.clone()),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    support::use_files_folder(&store, database);
    store
}

fn clock_at(at: &str) -> Clock {
    Clock::fixed(lethe_store::parse_timestamp(at).unwrap())
}

async fn contact(store: &Store, last_name: &str) -> i64 {
    store
        .create_record(
            "contact",
            json!({"last_name": last_name, "category": "prospect", "email": format!("{last_name}@example.com")})
                .as_object()
                .unwrap(),
            None,
        )
        .await
        .unwrap()
        .id
}

async fn rename(store: &Store, id: i64, last_name: &str) {
    store
        .update_record(
            "contact",
            id,
            json!({"last_name": last_name}).as_object().unwrap(),
            None,
        )
        .await
        .unwrap();
}

/// The saved selection `watched`: contacts whose last name starts with "Watch".
async fn watched_selection(store: &Store) {
    let filter = store
        .parse_filter("contact", "last_name starts_with \"Watch\"")
        .unwrap();
    store
        .save_selection(
            "watched",
            "contact",
            &SelectionDefinition::Dynamic(filter),
            "",
            None,
        )
        .await
        .unwrap();
}

fn new_monitor(subscribers: &[&str]) -> NewMonitor {
    NewMonitor {
        name: "watch".to_owned(),
        selection: "watched".to_owned(),
        schedule: "0 3 * * *".to_owned(),
        time_zone: "UTC".to_owned(),
        notify_on_leave: true,
        subscribers: subscribers.iter().map(|name| (*name).to_owned()).collect(),
    }
}

both_backends!(
    bad_input_is_refused_and_writes_nothing,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-03-01T12:00:00Z");
        let store = open(&database, &clock).await;
        watched_selection(&store).await;
        let (ann, _) = store.add_user("ann", Role::User).await.unwrap();
        let (bob, _) = store.add_user("bob", Role::User).await.unwrap();
        let ann = ann.actor();

        let wrong = |change: fn(&mut NewMonitor), expected: &'static str| {
            let store = store.clone();
            let ann = ann.clone();
            async move {
                let mut monitor = new_monitor(&["ann"]);
                change(&mut monitor);
                let error = store.add_monitor(&monitor, &ann).await.unwrap_err();
                assert!(error.to_string().contains(expected), "{expected}: {error}");
            }
        };
        wrong(
            |m| m.schedule = "0 25 * * *".to_owned(),
            "is not a cron schedule",
        )
        .await;
        wrong(
            |m| m.time_zone = "Mars/Olympus".to_owned(),
            "is not a time zone",
        )
        .await;
        wrong(
            |m| m.selection = "watchd".to_owned(),
            "did you mean `watched`",
        )
        .await;
        wrong(
            |m| m.subscribers = vec!["zed".to_owned()],
            "there is no user `zed`",
        )
        .await;
        wrong(|m| m.name = "no spaces".to_owned(), "is not a monitor name").await;
        assert!(store.monitors().await.unwrap().is_empty());

        // A plain user may monitor a shared selection, and owns what they add.
        let added = store
            .add_monitor(&new_monitor(&["ann"]), &ann)
            .await
            .unwrap();
        assert_eq!(added.owner.as_deref(), Some("ann"));
        assert!(added.enabled);
        assert_eq!(
            added.next_run_at.as_deref(),
            Some("2026-03-02T03:00:00.000000Z")
        );
        let twice = store
            .add_monitor(&new_monitor(&[]), &ann)
            .await
            .unwrap_err();
        assert!(matches!(twice, StoreError::Conflict(_)), "{twice}");

        // Another plain user may subscribe themselves, but not change it or subscribe others.
        let bob = bob.actor();
        store
            .subscribe_monitor("watch", "bob", true, &bob)
            .await
            .unwrap();
        let refused = store.run_monitor("watch", &bob).await.unwrap_err();
        assert!(matches!(refused, StoreError::Forbidden(_)), "{refused}");
        let refused = store
            .subscribe_monitor("watch", "ann", false, &bob)
            .await
            .unwrap_err();
        assert!(matches!(refused, StoreError::Forbidden(_)), "{refused}");
        let edit = MonitorEdit {
            schedule: Some("61 * * * *".to_owned()),
            ..MonitorEdit::default()
        };
        let error = store.edit_monitor("watch", &edit, &ann).await.unwrap_err();
        assert!(
            error.to_string().contains("is not a cron schedule"),
            "{error}"
        );
        assert_eq!(store.monitor("watch").await.unwrap().schedule, "0 3 * * *");

        // The selection cannot be deleted from under the monitor.
        let error = store
            .delete_selection("watched", &Actor::operator())
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("watched by monitor watch"),
            "{error}"
        );
        store.remove_monitor("watch", &ann).await.unwrap();
        assert!(store.monitors().await.unwrap().is_empty());
    }
);

both_backends!(
    subscribers_hear_of_records_that_entered_and_left_by_id_only,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-03-01T12:00:00Z");
        let store = open(&database, &clock).await;
        watched_selection(&store).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        let stay = contact(&store, "Watch-stay").await;
        let going = contact(&store, "Watch-going").await;
        contact(&store, "Other").await;

        let added = store
            .add_monitor(&new_monitor(&["ann"]), &ann.actor())
            .await
            .unwrap();
        assert_eq!(added.members, 2, "the baseline");
        assert!(
            store
                .notifications(ann.id, true, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let history = store.monitor_history("watch", 10).await.unwrap();
        assert_eq!(history[0].kind, "baseline");
        assert_eq!(history[0].entered, 2);

        // Nothing changed: nobody is told.
        let run = store.run_monitor("watch", &ann.actor()).await.unwrap();
        assert_eq!((run.entered, run.left, run.notified), (0, 0, 0));
        assert!(
            store
                .notifications(ann.id, true, 10)
                .await
                .unwrap()
                .is_empty()
        );

        let first = contact(&store, "Watch-new-1").await;
        let second = contact(&store, "Watch-new-2").await;
        rename(&store, going, "Gone").await;
        let run = store.run_monitor("watch", &ann.actor()).await.unwrap();
        assert_eq!((run.entered, run.left, run.notified), (2, 1, 1));
        assert_eq!(run.state, "done");
        let feed = store.notifications(ann.id, true, 10).await.unwrap();
        assert_eq!(feed.len(), 1);
        assert_eq!(feed[0].kind, "monitor_hit");
        let message = &feed[0].message;
        assert!(
            message.contains(&format!(
                "2 contact record(s) entered monitor watch (run {}): {first}, {second}.",
                run.id
            )),
            "{message}"
        );
        assert!(
            message.contains(&format!(
                "1 contact record(s) left monitor watch (run {}): {going}.",
                run.id
            )),
            "{message}"
        );
        assert!(
            message.contains(&format!("lethe monitor hits watch --run {}", run.id)),
            "{message}"
        );
        assert!(
            !message.contains("Watch-new") && !message.contains("example.com"),
            "no field values: {message}"
        );

        let hits = store.monitor_hits("watch", None, None, 10).await.unwrap();
        assert_eq!(hits.run.id, run.id);
        let listed: Vec<(i64, &str)> = hits
            .hits
            .iter()
            .map(|hit| (hit.record_id, hit.change.as_str()))
            .collect();
        let mut expected = vec![(first, "entered"), (second, "entered"), (going, "left")];
        expected.sort();
        assert_eq!(listed, expected);
        let page = store
            .monitor_hits("watch", Some(run.id), None, 2)
            .await
            .unwrap();
        assert_eq!(page.hits.len(), 2);
        let rest = store
            .monitor_hits("watch", Some(run.id), page.next_after, 2)
            .await
            .unwrap();
        assert_eq!(rest.hits.len(), 1);
        assert_eq!(store.monitor("watch").await.unwrap().members, 3);

        // Without leave notices, leaving alone tells nobody (it is still recorded).
        let edit = MonitorEdit {
            notify_on_leave: Some(false),
            ..MonitorEdit::default()
        };
        store
            .edit_monitor("watch", &edit, &ann.actor())
            .await
            .unwrap();
        store
            .mark_notifications_read(ann.id, i64::MAX)
            .await
            .unwrap();
        rename(&store, stay, "Gone too").await;
        let run = store.run_monitor("watch", &ann.actor()).await.unwrap();
        assert_eq!((run.entered, run.left, run.notified), (0, 1, 0));
        assert!(
            store
                .notifications(ann.id, true, 10)
                .await
                .unwrap()
                .is_empty()
        );

        // A trashed member leaves (monitors see what every normal view sees).
        let pick = MemberPick {
            entity: "contact".to_owned(),
            source: PickSource::Filter(
                store
                    .parse_filter("contact", &format!("id = {first}"))
                    .unwrap(),
            ),
            all_matching: true,
            include: Vec::new(),
            exclude: Vec::new(),
            scope: Scope::Active,
        };
        let snapshot = store.create_snapshot(&pick, "", None).await.unwrap();
        let job = store
            .start_trash(snapshot.id, None, &Actor::operator(), None)
            .await
            .unwrap();
        store
            .run_job(job.id, &JobRunner::default(), &mut |_| {})
            .await
            .unwrap();
        let run = store.run_monitor("watch", &ann.actor()).await.unwrap();
        assert_eq!((run.entered, run.left), (0, 1));
    }
);

both_backends!(
    the_schedule_evaluates_once_per_due_time_and_a_killed_run_is_finished_once,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-03-01T12:00:00Z");
        let store = open(&database, &clock).await;
        // A second instance: its own handle (and pool) on the same database and clock.
        let other = open(&database, &clock).await;
        watched_selection(&store).await;
        let (ann, _) = store.add_user("ann", Role::User).await.unwrap();
        store
            .add_monitor(&new_monitor(&["ann"]), &ann.actor())
            .await
            .unwrap();
        assert!(
            store.run_due_monitors().await.unwrap().is_empty(),
            "not due yet"
        );

        let entered = contact(&store, "Watch-1").await;
        clock.set(lethe_store::parse_timestamp("2026-03-02T03:00:01Z").unwrap());
        let (here, there) = tokio::join!(store.run_due_monitors(), other.run_due_monitors());
        let runs: Vec<_> = here.unwrap().into_iter().chain(there.unwrap()).collect();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].kind, "scheduled");
        assert_eq!(
            runs[0].due_at.as_deref(),
            Some("2026-03-02T03:00:00.000000Z")
        );
        assert_eq!(runs[0].entered, 1);
        assert!(store.run_due_monitors().await.unwrap().is_empty());
        let feed = store.notifications(ann.id, true, 10).await.unwrap();
        assert_eq!(feed.len(), 1);
        assert!(feed[0].message.contains(&entered.to_string()));

        // An instance claims the next due time and is killed before it evaluates: the run
        // stays due, and another instance finishes it, once.
        contact(&store, "Watch-2").await;
        clock.set(lethe_store::parse_timestamp("2026-03-03T03:00:05Z").unwrap());
        let claimed = store.claim_due_monitors().await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(
            store.claim_due_monitors().await.unwrap().is_empty(),
            "claimed once"
        );
        assert_eq!(store.monitor_run(claimed[0]).await.unwrap().state, "due");
        let (here, there) = tokio::join!(other.run_due_monitors(), other.run_due_monitors());
        let finished: Vec<_> = here.unwrap().into_iter().chain(there.unwrap()).collect();
        assert_eq!(finished.len(), 1, "{finished:?}");
        assert_eq!(finished[0].id, claimed[0]);
        assert_eq!(finished[0].entered, 1);
        assert!(store.run_due_monitors().await.unwrap().is_empty());
        assert_eq!(
            store.notifications(ann.id, true, 10).await.unwrap().len(),
            2
        );
        let history = store.monitor_history("watch", 10).await.unwrap();
        assert_eq!(
            history.len(),
            3,
            "baseline and two scheduled runs: {history:?}"
        );

        // Disabled, it is not due; enabled again, it is due at the next time from now.
        let disabled = store
            .enable_monitor("watch", false, &ann.actor())
            .await
            .unwrap();
        assert!(!disabled.enabled && disabled.next_run_at.is_none());
        clock.set(lethe_store::parse_timestamp("2026-03-05T03:00:05Z").unwrap());
        assert!(store.run_due_monitors().await.unwrap().is_empty());
        let enabled = store
            .enable_monitor("watch", true, &ann.actor())
            .await
            .unwrap();
        assert_eq!(
            enabled.next_run_at.as_deref(),
            Some("2026-03-06T03:00:00.000000Z")
        );
    }
);

both_backends!(
    a_purge_leaves_no_member_or_hit_of_an_erased_record,
    |database: TestDatabase| async move {
        let clock = clock_at("2026-03-01T12:00:00Z");
        let store = open(&database, &clock).await;
        watched_selection(&store).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        let kept = contact(&store, "Watch-kept").await;
        store
            .add_monitor(&new_monitor(&["ann"]), &ann.actor())
            .await
            .unwrap();
        let doomed = contact(&store, "Watch-doomed").await;
        let run = store.run_monitor("watch", &ann.actor()).await.unwrap();
        assert_eq!(run.entered, 1);
        assert_eq!(store.monitor("watch").await.unwrap().members, 2);

        // Trashed and purged before any run sees it leave.
        let pick = MemberPick {
            entity: "contact".to_owned(),
            source: PickSource::Filter(
                store
                    .parse_filter("contact", &format!("id = {doomed}"))
                    .unwrap(),
            ),
            all_matching: true,
            include: Vec::new(),
            exclude: Vec::new(),
            scope: Scope::Active,
        };
        let snapshot = store.create_snapshot(&pick, "", None).await.unwrap();
        let job = store
            .start_trash(snapshot.id, None, &Actor::operator(), None)
            .await
            .unwrap();
        let batch = store
            .run_job(job.id, &JobRunner::default(), &mut |_| {})
            .await
            .unwrap()
            .batch_id
            .unwrap();
        let purge = store
            .request_purge(
                batch,
                &ann.actor(),
                Some(time::Duration::ZERO),
                false,
                Some("erasure request"),
                None,
            )
            .await
            .unwrap();
        store
            .run_job(purge.id, &JobRunner::default(), &mut |_| {})
            .await
            .unwrap();

        assert_eq!(store.monitor("watch").await.unwrap().members, 1);
        let hits = store
            .monitor_hits("watch", Some(run.id), None, 10)
            .await
            .unwrap();
        assert!(hits.hits.is_empty(), "{hits:?}");
        // The next run does not see the erased record leave: it is gone already.
        let next = store.run_monitor("watch", &ann.actor()).await.unwrap();
        assert_eq!((next.entered, next.left), (0, 0));
        assert_eq!(store.monitor("watch").await.unwrap().members, 1);
        let _ = kept;
    }
);

/// After any sequence of changes to the data and evaluations, the stored members are the
/// selection's matches at the last evaluation, and each run's entered and left are exactly
/// the set differences between the matches and the members before it.
mod members_follow_the_selection {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[derive(Debug, Clone)]
    enum Step {
        /// A new contact, matching or not.
        Create(bool),
        /// The contact at this index (modulo their number) comes to match, or not.
        Rename(usize, bool),
        /// The contact at this index goes to the trash (and leaves every normal view).
        Trash(usize),
        /// The monitor is run.
        Evaluate,
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let step = prop_oneof![
            any::<bool>().prop_map(Step::Create),
            (any::<usize>(), any::<bool>()).prop_map(|(index, on)| Step::Rename(index, on)),
            any::<usize>().prop_map(Step::Trash),
            Just(Step::Evaluate),
            Just(Step::Evaluate),
        ];
        prop::collection::vec(step, 1..14)
    }

    fn name(matches: bool, index: usize) -> String {
        if matches {
            format!("Watch-{index}")
        } else {
            format!("Other-{index}")
        }
    }

    fn check(steps: Vec<Step>, postgres: bool) {
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
            watched_selection(&store).await;
            let operator = Actor::operator();
            store.add_monitor(&new_monitor(&[]), &operator).await.unwrap();
            // The model: every contact (id, matching, trashed), and the members.
            let mut contacts: Vec<(i64, bool, bool)> = Vec::new();
            let mut members: BTreeSet<i64> = BTreeSet::new();
            for step in steps {
                match step {
                    Step::Create(matches) => {
                        let id = contact(&store, &name(matches, contacts.len())).await;
                        contacts.push((id, matches, false));
                    }
                    Step::Rename(index, matches) if !contacts.is_empty() => {
                        let index = index % contacts.len();
                        let (id, _, trashed) = contacts[index];
                        if !trashed {
                            rename(&store, id, &name(matches, index)).await;
                            contacts[index].1 = matches;
                        }
                    }
                    Step::Trash(index) if !contacts.is_empty() => {
                        let index = index % contacts.len();
                        let (id, _, trashed) = contacts[index];
                        if !trashed {
                            let pick = MemberPick {
                                entity: "contact".to_owned(),
                                source: PickSource::Filter(store.parse_filter("contact", &format!("id = {id}")).unwrap()),
                                all_matching: true,
                                include: Vec::new(),
                                exclude: Vec::new(),
                                scope: Scope::Active,
                            };
                            let snapshot = store.create_snapshot(&pick, "", None).await.unwrap();
                            let job = store.start_trash(snapshot.id, None, &operator, None).await.unwrap();
                            store.run_job(job.id, &JobRunner::default(), &mut |_| {}).await.unwrap();
                            contacts[index].2 = true;
                        }
                    }
                    Step::Evaluate => {
                        let matching: BTreeSet<i64> = contacts
                            .iter()
                            .filter(|(_, matches, trashed)| *matches && !*trashed)
                            .map(|(id, _, _)| *id)
                            .collect();
                        let entered: BTreeSet<i64> = matching.difference(&members).copied().collect();
                        let left: BTreeSet<i64> = members.difference(&matching).copied().collect();
                        let run = store.run_monitor("watch", &operator).await.unwrap();
                        assert_eq!((run.entered, run.left), (entered.len() as u64, left.len() as u64));
                        let hits = store.monitor_hits("watch", Some(run.id), None, 1_000).await.unwrap();
                        let listed = |change: &str| -> BTreeSet<i64> {
                            hits.hits.iter().filter(|hit| hit.change == change).map(|hit| hit.record_id).collect()
                        };
                        assert_eq!(listed("entered"), entered);
                        assert_eq!(listed("left"), left);
                        members = matching;
                        let stored = database.scalar("SELECT COUNT(*) FROM lethe_monitor_member").await;
                        assert_eq!(stored, members.len() as i64);
                        if !members.is_empty() {
                            let ids = members.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                            let among = database
                                .scalar(&format!("SELECT COUNT(*) FROM lethe_monitor_member WHERE record_id IN ({ids})"))
                                .await;
                            assert_eq!(among, members.len() as i64, "the stored members are the matches");
                        }
                        assert_eq!(store.monitor("watch").await.unwrap().members, members.len() as u64);
                    }
                    _ => {}
                }
            }
            store.close().await;
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 8, .. ProptestConfig::default() })]

        #[test]
        fn members_follow_the_selection_on_sqlite(steps in steps()) {
            check(steps, false);
        }

        #[test]
        fn members_follow_the_selection_on_postgres(steps in steps()) {
            check(steps, true);
        }
    }
}
