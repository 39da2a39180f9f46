//! Test support shared by the crates' integration tests: each test gets its own database, a
//! temporary SQLite file or a uniquely named PostgreSQL database that is dropped afterwards.
//!
//! PostgreSQL is found at `LETHE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432`). When it cannot be reached, PostgreSQL tests are
//! skipped with a message — unless `LETHE_REQUIRE_POSTGRES=1` (as in CI), where that is a
//! failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::str::FromStr;

use rand::Rng;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Column, Connection, Row};

/// The backends every storage test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// A fresh database for one test. Dropping it removes the database.
#[derive(Debug)]
pub struct TestDatabase {
    /// What to pass as `--db`.
    pub url: String,
    /// For SQLite: the folder holding the file (removed on drop).
    pub dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

fn server_url() -> String {
    std::env::var("LETHE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

fn postgres_required() -> bool {
    std::env::var("LETHE_REQUIRE_POSTGRES").is_ok_and(|value| value == "1")
}

async fn admin_connection() -> Option<PgConnection> {
    let options = PgConnectOptions::from_str(&format!("{}/postgres", server_url())).ok()?;
    match PgConnection::connect_with(&options).await {
        Ok(connection) => Some(connection),
        Err(error) => {
            if postgres_required() {
                panic!(
                    "PostgreSQL is required (LETHE_REQUIRE_POSTGRES=1) but unreachable: {error}"
                );
            }
            eprintln!("skipping a PostgreSQL test: PostgreSQL is unreachable ({error})");
            None
        }
    }
}

impl TestDatabase {
    /// A new database on `backend`, or `None` when PostgreSQL is unavailable and not required.
    pub async fn new(backend: TestBackend) -> Option<TestDatabase> {
        match backend {
            TestBackend::Sqlite => Some(TestDatabase::sqlite()),
            TestBackend::Postgres => TestDatabase::postgres().await,
        }
    }

    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("lethe.db");
        TestDatabase {
            url: path.display().to_string(),
            dir: Some(dir),
            postgres_name: None,
        }
    }

    pub async fn postgres() -> Option<TestDatabase> {
        let mut connection = admin_connection().await?;
        let suffix: u64 = rand::rng().random();
        let name = format!("lethe_test_{suffix:016x}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut connection)
            .await
            .expect("create a test database");
        Some(TestDatabase {
            url: format!("{}/{name}", server_url()),
            dir: Some(tempfile::tempdir().expect("a temporary folder")),
            postgres_name: Some(name),
        })
    }

    /// A scratch folder that lives as long as the database (for attachment files, configs).
    pub fn scratch_dir(&self) -> PathBuf {
        self.dir
            .as_ref()
            .map(|dir| dir.path().to_path_buf())
            .unwrap_or_else(std::env::temp_dir)
    }
}

impl TestDatabase {
    /// Runs raw SQL on the database behind Lethe's back (to tamper with it in tests).
    pub async fn execute(&self, sql: &str) {
        if self.postgres_name.is_some() {
            let mut connection = PgConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut connection)
                .await
                .expect("raw SQL runs");
        } else {
            let mut connection = sqlite_connection(&self.url).await;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut connection)
                .await
                .expect("raw SQL runs");
        }
    }

    /// The first column of the first row of a query, as an integer (counts in checks).
    pub async fn scalar(&self, sql: &str) -> i64 {
        if self.postgres_name.is_some() {
            let mut connection = PgConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_one(&mut connection)
                .await
                .unwrap_or_else(|error| panic!("{sql}: {error}"));
            row.get::<i64, _>(0)
        } else {
            let mut connection = sqlite_connection(&self.url).await;
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_one(&mut connection)
                .await
                .unwrap_or_else(|error| panic!("{sql}: {error}"));
            row.get::<i64, _>(0)
        }
    }

    /// Every row of `table` as text, ordered by `order_by`: two dumps are equal exactly when
    /// the table's content is.
    pub async fn dump(&self, table: &str, order_by: &str) -> Vec<String> {
        if self.postgres_name.is_some() {
            let mut connection = PgConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            let sql = format!("SELECT row_to_json(t)::text FROM {table} t ORDER BY {order_by}");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut connection)
                .await
                .expect("dump a table");
            rows.iter().map(|row| row.get::<String, _>(0)).collect()
        } else {
            let mut connection = sqlite_connection(&self.url).await;
            let sql = format!("SELECT * FROM {table} ORDER BY {order_by}");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut connection)
                .await
                .expect("dump a table");
            rows.iter().map(sqlite_row_text).collect()
        }
    }
}

/// Checks of the data a lifecycle operation leaves behind, for any schema.
impl TestDatabase {
    /// Every entity table of `schema`, dumped in id order: equal dumps mean equal data.
    pub async fn dump_entities(&self, schema: &lethe_schema::Schema) -> Vec<Vec<String>> {
        let mut all = Vec::new();
        for entity in schema.entities() {
            all.push(self.dump(entity.name.as_str(), "id").await);
        }
        all
    }

    /// Every link points at an existing record (or the placeholder), for every relation.
    pub async fn assert_no_dangling_references(&self, schema: &lethe_schema::Schema) {
        for relation in schema.relations() {
            for parent in &relation.parents {
                let sql = format!(
                    "SELECT COUNT(*) FROM {child} c WHERE c.{column} IS NOT NULL{discriminator} \
                     AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = c.{column})",
                    child = relation.child,
                    column = relation.column,
                    discriminator = discriminator_test(relation, parent),
                );
                assert_eq!(
                    self.scalar(&sql).await,
                    0,
                    "{}.{} points at a missing {parent}",
                    relation.child,
                    relation.column
                );
            }
        }
    }

    /// No active record sits under a `cascade` parent that is in the trash.
    pub async fn assert_no_active_child_under_trashed_parent(&self, schema: &lethe_schema::Schema) {
        for relation in schema.relations() {
            if relation.on_delete != lethe_schema::OnDelete::Cascade {
                continue;
            }
            for parent in &relation.parents {
                let sql = format!(
                    "SELECT COUNT(*) FROM {child} c JOIN {parent} p ON p.id = c.{column}{discriminator} \
                     WHERE c.trash_batch_id IS NULL AND p.trash_batch_id IS NOT NULL",
                    child = relation.child,
                    column = relation.column,
                    discriminator = discriminator_test(relation, parent),
                );
                assert_eq!(
                    self.scalar(&sql).await,
                    0,
                    "an active {} under a trashed {parent}",
                    relation.child
                );
            }
        }
    }
}

fn discriminator_test(
    relation: &lethe_schema::Relation,
    parent: &lethe_schema::EntityName,
) -> String {
    relation
        .discriminator
        .as_ref()
        .map(|column| format!(" AND c.{column} = '{parent}'"))
        .unwrap_or_default()
}

async fn sqlite_connection(path: &str) -> sqlx::SqliteConnection {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(std::time::Duration::from_secs(30));
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("open the test database")
}

fn sqlite_row_text(row: &sqlx::sqlite::SqliteRow) -> String {
    let mut cells = Vec::new();
    for index in 0..row.columns().len() {
        let name = row.columns()[index].name().to_owned();
        let cell = if let Ok(value) = row.try_get::<Option<i64>, _>(index) {
            format!("{value:?}")
        } else if let Ok(value) = row.try_get::<Option<f64>, _>(index) {
            format!("{value:?}")
        } else if let Ok(value) = row.try_get::<Option<String>, _>(index) {
            format!("{value:?}")
        } else if let Ok(value) = row.try_get::<Option<Vec<u8>>, _>(index) {
            format!("{value:?}")
        } else {
            "?".to_owned()
        };
        cells.push(format!("{name}={cell}"));
    }
    cells.join(", ")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs outside any async context we can rely on; use a small runtime on its own
        // thread so this also works when the test's runtime is shutting down.
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async move {
                    if let Some(mut connection) = admin_connection().await {
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut connection)
                        .await;
                    }
                });
            }
        });
        let _ = handle.join();
    }
}

/// Defines one `#[tokio::test]` per backend for an async test body taking a `TestDatabase`:
///
/// ```ignore
/// both_backends!(creating_a_contact_works, |db| async move { ... });
/// ```
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                let database = $crate::TestDatabase::new($crate::TestBackend::Sqlite)
                    .await
                    .expect("SQLite is always available");
                ($body)(database).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                let Some(database) = $crate::TestDatabase::new($crate::TestBackend::Postgres).await
                else {
                    return;
                };
                ($body)(database).await;
            }
        }
    };
}
