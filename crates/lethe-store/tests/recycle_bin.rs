//! The recycle bin's list, on both backends: the batches still in the trash, newest first in
//! keyset pages, an admin seeing every one and a user their own, with the counts the trash
//! moved, a pending purge's time left and the retention window's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use lethe_schema::Schema;
use lethe_store::{
    Actor, BatchState, DatabaseUrl, JobRunner, MemberPick, PickSource, Role, Scope, Store,
};
use lethe_testkit::{TestDatabase, both_backends};
use serde_json::json;

async fn open(database: &TestDatabase) -> Store {
    let clock =
        lethe_store::Clock::fixed(lethe_store::parse_timestamp("2026-03-01T12:00:00Z").unwrap());
    let store = Store::open(
        &DatabaseUrl::parse(&database.url).unwrap(),
        Schema::default_crm(),
        &support::options(clock),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
}

/// Trashes contact `contact` (with its notes) as `actor`; returns the deletion batch.
async fn trash_one(store: &Store, actor: &Actor, contact: i64, reason: &str) -> i64 {
    let pick = MemberPick {
        entity: "contact".to_owned(),
        source: PickSource::Filter(store.parse_filter("contact", "all").unwrap()),
        all_matching: false,
        include: vec![contact],
        exclude: Vec::new(),
        scope: Scope::Active,
    };
    let snapshot = store
        .create_snapshot(&pick, "", actor.user_id)
        .await
        .unwrap();
    let job = store
        .start_trash(snapshot.id, Some(reason), actor, None)
        .await
        .unwrap();
    let job = store
        .run_job(job.id, &JobRunner::default(), &mut |_| {})
        .await
        .unwrap();
    job.batch_id.unwrap()
}

async fn contact_with_notes(store: &Store, name: &str, notes: usize) -> i64 {
    let contact = store
        .create_record(
            "contact",
            json!({"last_name": name}).as_object().unwrap(),
            None,
        )
        .await
        .unwrap()
        .id;
    for _ in 0..notes {
        store
            .create_record(
                "note",
                json!({"contact_id": contact, "body": "a note"})
                    .as_object()
                    .unwrap(),
                None,
            )
            .await
            .unwrap();
    }
    contact
}

both_backends!(
    the_recycle_bin_lists_what_each_person_may_see_newest_first_in_pages,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let (admin, _) = store.add_user("ada", Role::Admin).await.unwrap();
        let (clerk, _) = store.add_user("clerk", Role::User).await.unwrap();
        let (admin, clerk) = (admin.actor(), clerk.actor());

        let first = contact_with_notes(&store, "first", 2).await;
        let second = contact_with_notes(&store, "second", 0).await;
        let third = contact_with_notes(&store, "third", 1).await;
        let restored = contact_with_notes(&store, "restored", 0).await;
        let clerks = trash_one(&store, &clerk, first, "duplicate").await;
        let admins = trash_one(&store, &admin, second, "stale").await;
        let operators = trash_one(&store, &Actor::operator(), third, "old").await;
        let gone = trash_one(&store, &admin, restored, "by mistake").await;
        let job = store.start_restore(gone, None, &admin, None).await.unwrap();
        store
            .run_job(job.id, &JobRunner::default(), &mut |_| {})
            .await
            .unwrap();

        // An admin sees every batch still in the trash, newest first; not the restored one.
        let page = store.recycle_bin(&admin, None, 50).await.unwrap();
        let ids: Vec<i64> = page.entries.iter().map(|entry| entry.batch.id).collect();
        assert_eq!(ids, vec![operators, admins, clerks]);
        assert_eq!(page.next_before, None);
        let oldest = &page.entries[2];
        assert_eq!(oldest.trashed_by, "clerk");
        assert_eq!(oldest.batch.reason.as_deref(), Some("duplicate"));
        assert_eq!(oldest.trashed.get("contact"), Some(&1));
        assert_eq!(oldest.trashed.get("note"), Some(&2));
        assert_eq!(oldest.pending_purge, None);
        // The clock stands still: the whole retention window (30 days) is left.
        assert_eq!(oldest.seconds_until_auto_purge, Some(30 * 24 * 3600));
        assert_eq!(page.entries[0].trashed_by, "operator");

        // A user sees only the batches they trashed.
        let page = store.recycle_bin(&clerk, None, 50).await.unwrap();
        let ids: Vec<i64> = page.entries.iter().map(|entry| entry.batch.id).collect();
        assert_eq!(ids, vec![clerks]);

        // Keyset pages: one at a time, each older than the last.
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = store.recycle_bin(&admin, before, 1).await.unwrap();
            seen.extend(page.entries.iter().map(|entry| entry.batch.id));
            match page.next_before {
                Some(next) => before = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, vec![operators, admins, clerks]);

        // A pending purge shows with its time left; cancelled, the batch is plain trash.
        let purge = store
            .request_purge(
                admins,
                &admin,
                Some(time::Duration::days(7)),
                false,
                None,
                None,
            )
            .await
            .unwrap();
        let page = store.recycle_bin(&admin, None, 50).await.unwrap();
        let entry = &page.entries[1];
        assert_eq!(entry.batch.state, BatchState::PurgePending);
        let pending = entry.pending_purge.as_ref().unwrap();
        assert_eq!(pending.job, purge.id);
        assert_eq!(pending.requested_by, "ada");
        assert_eq!(pending.seconds_left, 7 * 24 * 3600);
        store.cancel_purge(purge.id, &admin).await.unwrap();
        let page = store.recycle_bin(&admin, None, 50).await.unwrap();
        assert_eq!(page.entries[1].pending_purge, None);
        assert_eq!(page.entries[1].batch.state, BatchState::Trashed);
    }
);
