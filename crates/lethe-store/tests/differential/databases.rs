//! The two stores under test, each on its own fresh database, reloaded with a new data set
//! for every proptest case instead of being created again (a PostgreSQL database per case
//! would take most of the test's time).

use std::sync::atomic::{AtomicBool, Ordering};

use lethe_schema::Schema;
use lethe_store::{Clock, DatabaseUrl, ListQuery, Scope, Store, StoreError};
use lethe_testkit::{TestBackend, TestDatabase};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};

use crate::model::{Dataset, Ent, NOW, SCHEMA_TOML, TRASH_BATCHES};

/// A small page size, so that most selections take several pages and the keyset cursor is
/// exercised together with the compiled condition.
const PAGE_SIZE: u32 = 16;

/// Plain SQL access to the same database, for what the store has no API for: creating
/// deletion batches and emptying the tables between cases.
enum Admin {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Admin {
    async fn execute(&self, sql: &'static str) {
        let result = match self {
            Admin::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
            Admin::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
        };
        result.unwrap_or_else(|error| panic!("`{sql}` failed: {error}"));
    }
}

/// One backend: a store on a fresh database and a plain connection pool on it.
pub struct Backend {
    pub label: &'static str,
    pub store: Store,
    admin: Admin,
    /// Whether the planner's statistics were gathered after a load.
    analyzed: AtomicBool,
    /// Dropped last: removes the database.
    _database: TestDatabase,
}

pub fn schema() -> Schema {
    Schema::from_toml(SCHEMA_TOML).expect("the test schema is valid")
}

impl Backend {
    /// A store on a new database of `backend`, migrated, with the deletion batches that
    /// trashed records refer to; `None` when PostgreSQL is unavailable and not required.
    pub async fn open(backend: TestBackend) -> Option<Backend> {
        let database = TestDatabase::new(backend).await?;
        let url = DatabaseUrl::parse(&database.url).expect("a database URL");
        let store = Store::open(&url, schema(), &crate::support::options(Clock::fixed(NOW)))
            .await
            .expect("open the store");
        store.migrate().await.expect("migrate");
        let (label, admin) = match backend {
            TestBackend::Sqlite => {
                let options = SqliteConnectOptions::new()
                    .filename(&database.url)
                    .foreign_keys(true)
                    .busy_timeout(std::time::Duration::from_secs(30));
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .expect("connect to SQLite");
                ("sqlite", Admin::Sqlite(pool))
            }
            TestBackend::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&database.url)
                    .await
                    .expect("connect to PostgreSQL");
                ("postgres", Admin::Postgres(pool))
            }
        };
        // The same text works on both: SQLite stores the timestamp as this text, PostgreSQL
        // reads it as a timestamptz.
        assert_eq!(TRASH_BATCHES, [1, 2]);
        admin
            .execute(
                "INSERT INTO lethe_deletion_batch (id, created_at, state) VALUES \
                 (1, '2024-01-01T00:00:00.000000Z', 'trashed'), \
                 (2, '2024-02-01T00:00:00.000000Z', 'trashed')",
            )
            .await;
        Some(Backend {
            label,
            store,
            admin,
            analyzed: AtomicBool::new(false),
            _database: database,
        })
    }

    /// Replaces every record with those of `data`.
    pub async fn load(&self, data: &Dataset) {
        self.admin
            .execute("DELETE FROM file; DELETE FROM event; DELETE FROM person; DELETE FROM org;")
            .await;
        for ent in Ent::ALL {
            let mut columns = vec![
                "id",
                "created_at",
                "created_by",
                "updated_at",
                "trash_batch_id",
                "trashed_at",
            ];
            columns.extend(ent.columns().iter().map(|column| column.name));
            let rows = data
                .rows(ent)
                .iter()
                .map(|row| {
                    let mut values = vec![
                        lethe_store::Value::Integer(row.id),
                        lethe_store::Value::Timestamp(row.created_at),
                        row.created_by
                            .map_or(lethe_store::Value::Null, lethe_store::Value::Integer),
                        lethe_store::Value::Timestamp(row.updated_at),
                        row.trash_batch_id
                            .map_or(lethe_store::Value::Null, lethe_store::Value::Integer),
                        row.trash_batch_id.map_or(lethe_store::Value::Null, |_| {
                            lethe_store::Value::Timestamp(NOW)
                        }),
                    ];
                    values.extend(row.cells.iter().map(|cell| cell.to_value()));
                    values
                })
                .collect();
            self.store
                .bulk_insert(ent.name(), &columns, rows)
                .await
                .unwrap_or_else(|error| panic!("{}: load {}: {error:?}", self.label, ent.name()));
        }
        // Statistics once, from a typical data set; refreshing them for every case would
        // double the time a case takes on PostgreSQL (a whole-database ANALYZE).
        if !self.analyzed.swap(true, Ordering::SeqCst) {
            self.store
                .finish_bulk_load()
                .await
                .unwrap_or_else(|error| panic!("{}: finish the load: {error:?}", self.label));
        }
    }

    /// The ids the store selects (every page, ascending) and the count it reports.
    pub async fn select(
        &self,
        filter: &lethe_store::Filter,
        scope: Scope,
    ) -> Result<(Vec<i64>, u64), StoreError> {
        let mut ids = Vec::new();
        let mut cursor = None;
        loop {
            let query = ListQuery {
                limit: Some(PAGE_SIZE),
                cursor,
                ..ListQuery::default()
            };
            let page = self.store.select_page(filter, scope, &query).await?;
            ids.extend(page.records.iter().map(|record| record.id));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        let count = self.store.count_matching(filter, scope).await?;
        Ok((ids, count))
    }

    /// The SQL of the selection and its parameters, for failure reports.
    pub async fn explain(&self, filter: &lethe_store::Filter, scope: Scope) -> String {
        match self.store.explain(filter, scope).await {
            Ok(explanation) => format!(
                "{}\n    parameters: {:?}",
                explanation.sql, explanation.parameters
            ),
            Err(error) => format!("(no explanation: {error})"),
        }
    }
}
