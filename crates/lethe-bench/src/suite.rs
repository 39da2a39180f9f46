//! `lethe-bench suite`: the whole benchmark for one backend in one command. It builds the
//! demo data set with the real `lethe` binary when it is not there yet (and reuses it when
//! it is), then runs the selection counts, the lifecycle benchmark and the export benchmark
//! against it, each side in processes of its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;
use clap::ValueEnum;
use lethe_store::DatabaseUrl;
use sqlx::Connection as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, clap::Args)]
pub struct SuiteArgs {
    /// Which database to measure.
    #[arg(long, value_enum)]
    backend: Backend,
    /// Contacts in the demo data set (built once, then reused).
    #[arg(long, default_value_t = 1_000_000)]
    contacts: u64,
    /// The data set: a SQLite path or a postgres:// URL (default:
    /// `/tmp/lethe-bench-{contacts}.db`, or the database `lethe_bench_{contacts}` on
    /// `postgres://postgres@127.0.0.1:5432`).
    #[arg(long)]
    db: Option<String>,
    /// The data set's attachment folder (default: `/tmp/lethe-bench-{sqlite|postgres}-{contacts}-files`).
    #[arg(long)]
    files_dir: Option<PathBuf>,
    /// The `lethe` binary that builds the data set (default: the one next to this program).
    #[arg(long)]
    lethe: Option<PathBuf>,
    /// Timed runs of each selection count (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Passed on to `lifecycle --parts` (all of them by default).
    #[arg(long, default_value = "lethe,hand,hand-purge")]
    parts: String,
}

fn default_db(backend: Backend, contacts: u64) -> String {
    match backend {
        Backend::Sqlite => format!("/tmp/lethe-bench-{contacts}.db"),
        Backend::Postgres => {
            format!("postgres://postgres@127.0.0.1:5432/lethe_bench_{contacts}")
        }
    }
}

fn default_files(backend: Backend, contacts: u64) -> PathBuf {
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    PathBuf::from(format!("/tmp/lethe-bench-{name}-{contacts}-files"))
}

/// How many contacts the data set holds, or `None` when there is no data set yet.
async fn existing_contacts(url: &DatabaseUrl, raw: &str) -> anyhow::Result<Option<i64>> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            if !path.exists() {
                return Ok(None);
            }
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .read_only(true);
            let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
            contact_count(
                sqlx::query_scalar(COUNT_CONTACTS)
                    .fetch_one(&mut connection)
                    .await,
            )
        }
        DatabaseUrl::Postgres(_) => {
            let (admin, name) = split_postgres(raw)?;
            let mut connection = sqlx::PgConnection::connect(&admin).await?;
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(&name)
                    .fetch_optional(&mut connection)
                    .await?;
            if exists.is_none() {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut connection)
                    .await
                    .with_context(|| format!("creating the database {name}"))?;
                return Ok(None);
            }
            let mut connection = sqlx::PgConnection::connect(raw).await?;
            contact_count(
                sqlx::query_scalar(COUNT_CONTACTS)
                    .fetch_one(&mut connection)
                    .await,
            )
        }
    }
}

const COUNT_CONTACTS: &str = "SELECT COUNT(*) FROM contact";

/// The data set's contacts from the answer to [`COUNT_CONTACTS`].
fn contact_count(answer: Result<i64, sqlx::Error>) -> anyhow::Result<Option<i64>> {
    match answer {
        Ok(count) if count > 0 => Ok(Some(count)),
        // No contact table, or an empty one: there is no data set yet.
        Ok(_) | Err(sqlx::Error::Database(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The URL of the `postgres` maintenance database on the same server, and the database name.
fn split_postgres(raw: &str) -> anyhow::Result<(String, String)> {
    let without_query = raw.split_once('?').map_or(raw, |(base, _)| base);
    let (server, name) = without_query
        .rsplit_once('/')
        .filter(|(server, name)| server.contains("://") && !name.is_empty())
        .with_context(|| format!("{raw} names no database (postgres://user@host:port/NAME)"))?;
    anyhow::ensure!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "the database name {name:?} may hold only letters, digits, _ and -"
    );
    Ok((format!("{server}/postgres"), name.to_owned()))
}

fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("finding this program's path")?;
    let path = me.with_file_name(name);
    anyhow::ensure!(
        path.exists(),
        "{} is not built; run `cargo build --release -p lethe-cli -p lethe-bench` first, or pass --lethe PATH",
        path.display()
    );
    Ok(path)
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("starting {what}"))?;
    anyhow::ensure!(status.success(), "{what} failed ({status})");
    Ok(())
}

fn build_data_set(lethe: &Path, db: &str, files: &Path, contacts: u64) -> anyhow::Result<()> {
    eprintln!(
        "[suite] building the {contacts}-contact demo data set into {db} (files in {})",
        files.display()
    );
    let started = Instant::now();
    run(
        Command::new(lethe)
            .args(["--db", db, "demo", "--no-serve", "--contacts"])
            .arg(contacts.to_string())
            .arg("--files")
            .arg(files),
        "lethe demo",
    )?;
    eprintln!(
        "[suite] data set built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub async fn run_suite(args: SuiteArgs) -> anyhow::Result<()> {
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| default_db(args.backend, args.contacts));
    let files = args
        .files_dir
        .clone()
        .unwrap_or_else(|| default_files(args.backend, args.contacts));
    let url = DatabaseUrl::parse(&db)?;
    anyhow::ensure!(
        matches!(
            (&url, args.backend),
            (DatabaseUrl::Sqlite(_), Backend::Sqlite)
                | (DatabaseUrl::Postgres(_), Backend::Postgres)
        ),
        "--db {db} is not a {:?} database",
        args.backend
    );
    match existing_contacts(&url, &db).await? {
        Some(count) => {
            eprintln!(
                "[suite] reusing {db}: {count} contacts (files in {})",
                files.display()
            );
            anyhow::ensure!(
                files.is_dir(),
                "the data set's attachment folder {} is missing; pass --files-dir, or remove the data set to build it again",
                files.display()
            );
        }
        None => {
            let lethe = match &args.lethe {
                Some(path) => path.clone(),
                None => sibling_binary("lethe")?,
            };
            build_data_set(&lethe, &db, &files, args.contacts)?;
        }
    }
    let me = std::env::current_exe().context("finding this program's path")?;
    println!("## {} — selection counts\n", backend_name(args.backend));
    run(
        Command::new(&me).args([
            "select",
            "--db",
            &db,
            "--isolate",
            "--repeat",
            &args.repeat.to_string(),
        ]),
        "the selection benchmark",
    )?;
    println!(
        "\n## {} — trash, restore, purge\n",
        backend_name(args.backend)
    );
    run(
        Command::new(&me)
            .args(["lifecycle", "--db", &db, "--files-dir"])
            .arg(&files)
            .args(["--parts", &args.parts]),
        "the lifecycle benchmark",
    )?;
    println!("\n## {} — export\n", backend_name(args.backend));
    run(
        Command::new(&me).args(["export", "--db", &db]),
        "the export benchmark",
    )?;
    Ok(())
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}
