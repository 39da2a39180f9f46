//! Lethe's own tables are migrated by sqlx's migrator: a database made before it (versions
//! recorded in `lethe_migration`) is adopted in place with its data, once, and a database
//! made by a newer Lethe is refused with a clear message, on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use lethe_schema::Schema;
use lethe_store::{DatabaseUrl, Store, StoreError};
use lethe_testkit::{TestDatabase, both_backends};

fn is_postgres(database: &TestDatabase) -> bool {
    database.url.starts_with("postgres")
}

async fn open(database: &TestDatabase) -> Store {
    Store::open(
        &DatabaseUrl::parse(&database.url).unwrap(),
        Schema::default_crm(),
        &support::options(lethe_store::Clock::system()),
    )
    .await
    .unwrap()
}

async fn tables_named(database: &TestDatabase, table: &str) -> i64 {
    if is_postgres(database) {
        database
            .scalar(&format!(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '{table}'"
            ))
            .await
    } else {
        database
            .scalar(&format!(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
            ))
            .await
    }
}

/// Makes the database as Lethe did before it used sqlx's migrator: the same SQL, versions
/// recorded in `lethe_migration`.
async fn make_legacy_database(database: &TestDatabase) {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lethe-db/migrations")
        .join(if is_postgres(database) {
            "postgres"
        } else {
            "sqlite"
        });
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    // The versions released while Lethe recorded them in lethe_migration.
    files.truncate(8);
    let legacy = if is_postgres(database) {
        "CREATE TABLE lethe_migration (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    } else {
        "CREATE TABLE lethe_migration (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    };
    database.execute(legacy).await;
    for (index, file) in files.iter().enumerate() {
        database
            .execute(&std::fs::read_to_string(file).unwrap())
            .await;
        database
            .execute(&format!(
                "INSERT INTO lethe_migration (version, name) VALUES ({}, 'v')",
                index + 1
            ))
            .await;
    }
    database
        .execute("INSERT INTO lethe_user (name, role, created_at) VALUES ('ann', 'admin', '2026-01-01T00:00:00.000000Z')")
        .await;
}

both_backends!(
    a_database_made_before_the_migrator_is_adopted_in_place,
    |database: TestDatabase| async move {
        make_legacy_database(&database).await;
        let store = open(&database).await;
        store.migrate().await.unwrap();
        // The data survived and the versions moved to the migrator's table.
        let ann = store.find_user("ann").await.unwrap().expect("ann is kept");
        assert!(ann.is_admin());
        // The old table stays, with its versions, for the Lethe that made the database.
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_migration")
                .await,
            8
        );
        // Versions 1 to 8 adopted, and every later one applied by the migrator.
        let applied = "SELECT COUNT(*) FROM lethe_system_migration WHERE success";
        assert!(database.scalar(applied).await > 8);
        assert_eq!(
            database
                .scalar("SELECT MIN(version) FROM lethe_system_migration")
                .await,
            1
        );
        // The schema's tables were made after the adoption, and a second run changes nothing.
        store.migrate().await.unwrap();
        assert_eq!(tables_named(&database, "contact").await, 1);
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_system_migration")
                .await,
            database.scalar(applied).await
        );
    }
);

both_backends!(
    a_database_migrated_by_a_newer_lethe_is_refused,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        store.migrate().await.unwrap();
        let checksum = if is_postgres(&database) {
            "'\\x00'::bytea"
        } else {
            "X'00'"
        };
        database
            .execute(&format!(
                "INSERT INTO lethe_system_migration (version, description, success, checksum, execution_time) VALUES (999, 'from the future', TRUE, {checksum}, 0)"
            ))
            .await;
        let refused = store.migrate().await.unwrap_err();
        assert!(
            matches!(&refused, StoreError::IncompatibleSchema(_)),
            "{refused:?}"
        );
        assert!(
            refused.to_string().contains("made by a newer Lethe"),
            "{refused}"
        );
    }
);
