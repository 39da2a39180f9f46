//! The tamper-evident history on both backends: entries chain, and any edit or removal is
//! found by verification.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lethe_schema::Schema;
use lethe_store::{Actor, DatabaseUrl, Store};
use lethe_testkit::{TestDatabase, both_backends};
use serde_json::json;

async fn open(database: &TestDatabase) -> Store {
    let store = Store::open(
        &DatabaseUrl::parse(&database.url).unwrap(),
        Schema::default_crm(),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn three_entries(store: &Store) -> Vec<i64> {
    let operator = Actor::operator();
    let mut ids = Vec::new();
    for (action, count) in [("trash", 3), ("restore", 2), ("purge", 1)] {
        ids.push(
            store
                .record_history(
                    &operator,
                    action,
                    Some("contact"),
                    json!({"counts": {"contact": count, "note": count * 2}, "reason": "tidy up"}),
                )
                .await
                .unwrap(),
        );
    }
    ids
}

both_backends!(
    an_untouched_history_verifies_and_entries_chain,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let ids = three_entries(&store).await;
        let entries = store.history(None, 100).await.unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
        assert_eq!(entries[1].prev_hash, entries[0].hash);
        assert_eq!(entries[2].prev_hash, entries[1].hash);
        assert_eq!(entries[0].details["counts"]["note"], 6);
        let verification = store.verify_history().await.unwrap();
        assert!(verification.is_intact(), "{verification:?}");
        assert_eq!(verification.entries, 3);
        assert_eq!(verification.head, entries[2].hash);
        // Paging continues after an id.
        let rest = store.history(Some(ids[0]), 100).await.unwrap();
        assert_eq!(rest.len(), 2);
    }
);

both_backends!(
    an_edited_entry_is_found,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let ids = three_entries(&store).await;
        let details = if store.backend() == lethe_store::Backend::Postgres {
            "'{\"counts\": {\"contact\": 30, \"note\": 4}, \"reason\": \"tidy up\"}'::jsonb"
        } else {
            "'{\"counts\": {\"contact\": 30, \"note\": 4}, \"reason\": \"tidy up\"}'"
        };
        database
            .execute(&format!(
                "UPDATE lethe_history SET details = {details} WHERE id = {}",
                ids[1]
            ))
            .await;
        let verification = store.verify_history().await.unwrap();
        let problem = verification.first_problem.expect("the edit is found");
        assert_eq!(problem.id, ids[1]);
        assert!(problem.problem.contains("edited"), "{}", problem.problem);
    }
);

both_backends!(
    a_removed_entry_is_found,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let ids = three_entries(&store).await;
        database
            .execute(&format!("DELETE FROM lethe_history WHERE id = {}", ids[1]))
            .await;
        let verification = store.verify_history().await.unwrap();
        let problem = verification.first_problem.expect("the removal is found");
        assert_eq!(
            problem.id, ids[2],
            "the entry after the gap no longer links"
        );
    }
);

both_backends!(
    an_edited_actor_or_time_is_found,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let ids = three_entries(&store).await;
        database
            .execute(&format!(
                "UPDATE lethe_history SET actor_name = 'someone else' WHERE id = {}",
                ids[0]
            ))
            .await;
        let verification = store.verify_history().await.unwrap();
        assert_eq!(verification.first_problem.expect("found").id, ids[0]);
    }
);
