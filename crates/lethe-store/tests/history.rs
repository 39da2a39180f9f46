//! The tamper-evident history on both backends: entries chain, and any edit or removal is
//! found by verification.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use lethe_schema::Schema;
use lethe_store::{Actor, DatabaseUrl, HistoryAnchor, HistoryKey, Store};
use lethe_testkit::{TestDatabase, both_backends};
use serde_json::json;

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

/// The store's anchor file: next to a SQLite database by default, in the test's scratch
/// folder for PostgreSQL.
fn use_anchor(store: &Store, database: &TestDatabase) -> std::path::PathBuf {
    let file = database.scratch_dir().join("history-anchor");
    store.set_history_anchor(HistoryAnchor {
        file: Some(file.clone()),
    });
    file
}

both_backends!(
    a_history_rewritten_without_the_key_is_found,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        three_entries(&store).await;
        // Someone with write access to the database, but not the server's key, replaces the
        // history with one of their own making, sealed with their own key.
        database.execute("DELETE FROM lethe_history").await;
        database.execute("DELETE FROM lethe_history_seal").await;
        let forger = open(&database).await;
        forger.set_history_key(HistoryKey::new(b"a key the forger made up").unwrap());
        three_entries(&forger).await;
        assert!(forger.verify_history().await.unwrap().is_intact());
        let verification = store.verify_history().await.unwrap();
        let problem = verification.first_problem.expect("the forgery is found");
        assert!(
            problem.problem.contains("another key"),
            "{}",
            problem.problem
        );
        // And the server refuses to write on under a key that is not the history's.
        let refused = store
            .record_history(&Actor::operator(), "trash", None, json!({}))
            .await
            .expect_err("refused");
        assert!(refused.to_string().contains("another key"), "{refused}");
        assert_eq!(forger.history(None, 100).await.unwrap().len(), 3);
        // Removing the key's record as well leaves nothing to trust.
        database.execute("DELETE FROM lethe_history_seal").await;
        let problem = store.verify_history().await.unwrap().first_problem.unwrap();
        assert!(problem.problem.contains("missing"), "{}", problem.problem);
    }
);

both_backends!(
    removing_the_newest_entries_is_found_through_the_anchor,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let anchor = use_anchor(&store, &database);
        let ids = three_entries(&store).await;
        store.anchor_history().await.unwrap();
        store.anchor_history().await.unwrap();
        let written = std::fs::read_to_string(&anchor).unwrap();
        assert_eq!(
            written.lines().count(),
            1,
            "the head did not move: {written}"
        );
        let verification = store.verify_history().await.unwrap();
        assert!(verification.is_intact(), "{verification:?}");
        assert_eq!((verification.head_seq, verification.anchored_heads), (3, 1));
        assert!(
            written.starts_with(&format!("3 {} ", verification.head)),
            "{written}"
        );
        // The newest entry goes: the chain that is left fits, but the anchor remembers it.
        database
            .execute(&format!("DELETE FROM lethe_history WHERE id = {}", ids[2]))
            .await;
        let problem = store
            .verify_history()
            .await
            .unwrap()
            .first_problem
            .expect("found");
        assert!(
            problem
                .problem
                .contains("entry 3 was written down in the anchor file"),
            "{}",
            problem.problem
        );
        assert!(
            problem.problem.contains("removed from its end"),
            "{}",
            problem.problem
        );
    }
);

both_backends!(
    a_gap_in_the_numbers_is_named,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let ids = three_entries(&store).await;
        database
            .execute(&format!("DELETE FROM lethe_history WHERE id = {}", ids[0]))
            .await;
        let problem = store
            .verify_history()
            .await
            .unwrap()
            .first_problem
            .expect("found");
        assert_eq!(problem.id, ids[1]);
        assert!(
            problem
                .problem
                .contains("entries 1 to 1 of the history are missing"),
            "{}",
            problem.problem
        );
    }
);

#[test]
fn a_history_key_file_is_made_once_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("keys").join("history.key");
    let first = HistoryKey::from_file(&file).unwrap();
    let again = HistoryKey::from_file(&file).unwrap();
    assert_eq!(first.fingerprint(), again.fingerprint());
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let other = HistoryKey::new(b"another key of enough length").unwrap();
    assert_ne!(first.fingerprint(), other.fingerprint());
    let short = HistoryKey::new(b"short").expect_err("refused");
    assert!(short.to_string().contains("at least 16"), "{short}");
}
