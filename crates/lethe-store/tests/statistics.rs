//! SQLite's planner statistics for the partial trash indexes: an `ANALYZE` taken while the
//! trash is empty says they hold no rows, and the planner then finds "the members of this
//! deletion batch" by scanning the whole trash instead of looking members up by id. Opening
//! the store forgets those statistics (and only those).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lethe_schema::Schema;
use lethe_store::{DatabaseUrl, Store};
use lethe_testkit::TestDatabase;
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
