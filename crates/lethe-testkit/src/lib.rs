//! Test support shared by the crates' integration tests: each test gets its own database, a
//! temporary SQLite file or a uniquely named PostgreSQL database that is dropped afterwards.
//!
//! PostgreSQL is found at `LETHE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432`). When it cannot be reached, PostgreSQL tests are
//! skipped with a message — unless `LETHE_REQUIRE_POSTGRES=1` (as in CI), where that is a
//! failure.
//!
//! [`openapi`] checks served values against the server's OpenAPI document; [`browser`] drives
//! a headless Chromium for tests of the web pages, with accessibility checks; [`smtp`] runs a
//! real SMTP server that keeps what it receives, for tests of e-mail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod browser;
pub mod openapi;
pub mod smtp;

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
    /// The PostgreSQL server the database lives on (to drop it afterwards).
    server: String,
}

fn server_url() -> String {
    std::env::var("LETHE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

fn postgres_required() -> bool {
    std::env::var("LETHE_REQUIRE_POSTGRES").is_ok_and(|value| value == "1")
}

async fn admin_connection(server: &str) -> Option<PgConnection> {
    let options = PgConnectOptions::from_str(&format!("{server}/postgres")).ok()?;
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
            server: String::new(),
        }
    }

    /// A SQLite database at `file` (in a folder the test manages, such as a small
    /// filesystem of its own); its scratch folder is a fresh temporary one.
    pub fn sqlite_at(file: PathBuf) -> TestDatabase {
        TestDatabase {
            url: file.display().to_string(),
            dir: Some(tempfile::tempdir().expect("a temporary folder")),
            postgres_name: None,
            server: String::new(),
        }
    }

    /// A new database on the shared PostgreSQL server.
    pub async fn postgres() -> Option<TestDatabase> {
        TestDatabase::postgres_on(&server_url()).await
    }

    /// A new database on the PostgreSQL server at `server` (`postgres://user@host:port`).
    pub async fn postgres_on(server: &str) -> Option<TestDatabase> {
        let mut connection = admin_connection(server).await?;
        let suffix: u64 = rand::rng().random();
        let name = format!("lethe_test_{suffix:016x}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut connection)
            .await
            .expect("create a test database");
        Some(TestDatabase {
            url: format!("{server}/{name}"),
            dir: Some(tempfile::tempdir().expect("a temporary folder")),
            postgres_name: Some(name),
            server: server.to_owned(),
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

    /// The first column of every row of a query, as integers (ids in checks), sorted.
    pub async fn integers(&self, sql: &str) -> Vec<i64> {
        let mut found: Vec<i64> = if self.postgres_name.is_some() {
            let mut connection = PgConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_all(&mut connection)
                .await
                .unwrap_or_else(|error| panic!("{sql}: {error}"))
                .iter()
                .map(|row| row.get::<i64, _>(0))
                .collect()
        } else {
            let mut connection = sqlite_connection(&self.url).await;
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_all(&mut connection)
                .await
                .unwrap_or_else(|error| panic!("{sql}: {error}"))
                .iter()
                .map(|row| row.get::<i64, _>(0))
                .collect()
        };
        found.sort_unstable();
        found
    }

    /// Every row of `table` as text, ordered by `order_by`: two dumps are equal exactly when
    /// the table's content is.
    pub async fn dump(&self, table: &str, order_by: &str) -> Vec<String> {
        if self.postgres_name.is_some() {
            let mut connection = PgConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            let sql = format!("SELECT row_to_json(t)::text FROM \"{table}\" t ORDER BY {order_by}");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut connection)
                .await
                .expect("dump a table");
            rows.iter().map(|row| row.get::<String, _>(0)).collect()
        } else {
            let mut connection = sqlite_connection(&self.url).await;
            let sql = format!("SELECT * FROM \"{table}\" ORDER BY {order_by}");
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
                    "SELECT COUNT(*) FROM \"{child}\" c WHERE c.\"{column}\" IS NOT NULL{discriminator} \
                     AND NOT EXISTS (SELECT 1 FROM \"{parent}\" p WHERE p.id = c.\"{column}\")",
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
                    "SELECT COUNT(*) FROM \"{child}\" c JOIN \"{parent}\" p ON p.id = c.\"{column}\"{discriminator} \
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
        .map(|column| format!(" AND c.\"{column}\" = '{parent}'"))
        .unwrap_or_default()
}

async fn sqlite_connection(path: &str) -> sqlx::SqliteConnection {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
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
        let server = std::mem::take(&mut self.server);
        // Drop runs outside any async context we can rely on; use a small runtime on its own
        // thread so this also works when the test's runtime is shutting down.
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async move {
                    if let Some(mut connection) = admin_connection(&server).await {
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

/// A PostgreSQL server of one test's own, in a temporary folder on a free port, for faults
/// that would disturb other tests on the shared server: stopping it as a crash would, and
/// starting it again. Found through `pg_config --bindir` or `/usr/lib/postgresql/*/bin`; when
/// the tests run as root (as in CI) the server runs as the `postgres` user. Stopped (as a
/// crash) and removed on drop.
#[derive(Debug)]
pub struct PrivateServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    run_as: Option<String>,
}

impl PrivateServer {
    /// A new server, started; `None` when PostgreSQL's programs are not installed and
    /// PostgreSQL is not required (a message says the test is skipped).
    pub fn start() -> Option<PrivateServer> {
        let Some(bin) = postgres_bin_dir() else {
            if postgres_required() {
                panic!(
                    "PostgreSQL is required (LETHE_REQUIRE_POSTGRES=1) but initdb and pg_ctl were not found"
                );
            }
            eprintln!("skipping a test that needs a private PostgreSQL server: initdb not found");
            return None;
        };
        // PostgreSQL refuses to run as root: check the effective user id.
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
        let run_as = root.then(|| "postgres".to_owned());
        let dir = tempfile::tempdir().expect("a temporary folder");
        if let Some(user) = &run_as {
            let status = std::process::Command::new("chown")
                .args([&format!("{user}:{user}"), dir.path().to_str().unwrap()])
                .status()
                .expect("run chown");
            assert!(status.success(), "chown of the private server's folder");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let server = PrivateServer {
            dir,
            bin,
            port,
            run_as,
        };
        let data = server.data_dir();
        server.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        server.start_again();
        Some(server)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one of PostgreSQL's programs (as the server's user), panicking with its output
    /// when it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut command = std::process::Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&path);
                command
            }
            None => std::process::Command::new(&path),
        };
        let output = command
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("run {program}: {error}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `postgres://postgres@127.0.0.1:PORT`, for [`TestDatabase::postgres_on`].
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Stops the server the way a crash or a power cut would (`pg_ctl stop -m immediate`):
    /// every connection is cut, nothing is shut down cleanly, the next start recovers.
    pub fn crash(&self) {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "stop",
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
            ],
        );
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start_again(&self) {
        let data = self.data_dir();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=32MB",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        self.run(
            "pg_ctl",
            &[
                "start",
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
            ],
        );
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let data = self.data_dir();
        let path = self.bin.join("pg_ctl");
        let args = [
            "stop",
            "-D",
            data.to_str().unwrap_or_default(),
            "-m",
            "immediate",
        ];
        let _ = match &self.run_as {
            Some(user) => std::process::Command::new("runuser")
                .args(["-u", user, "--"])
                .arg(&path)
                .args(args)
                .output(),
            None => std::process::Command::new(&path).args(args).output(),
        };
    }
}

/// Where PostgreSQL's server programs are: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian puts them there, off the `PATH`).
fn postgres_bin_dir() -> Option<PathBuf> {
    let from_config = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let mut candidates: Vec<PathBuf> = from_config.into_iter().collect();
    if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut found: Vec<PathBuf> = versions
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin"))
            .collect();
        found.sort();
        candidates.extend(found.into_iter().rev());
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

/// The history key stores open with in tests: the store needs one given on PostgreSQL.
pub const HISTORY_KEY: &str = "lethe test history key, not a secret";
