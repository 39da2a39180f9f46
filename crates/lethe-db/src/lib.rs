//! Lethe's database plumbing, shared by every storage crate: where the data lives
//! ([`DatabaseUrl`]) and the connection pools ([`Pools`]); the two dialects ([`dialect`]);
//! decoding rows ([`rows`]); the tables made from a schema ([`ddl`]); Lethe's own tables and
//! their migrations ([`system`]); the "Deleted User" placeholders ([`placeholder`]); planner
//! statistics after large writes ([`statistics`]); and the error they all return
//! ([`StoreError`]).
//!
//! **Architecture invariant:** this crate knows nothing of HTTP, of the command line or of
//! the lifecycle rules; it builds every statement with sea-query, binds every value, and
//! quotes every identifier.

pub mod ddl;
pub mod dialect;
pub mod error;
pub mod placeholder;
pub mod rows;
pub mod statistics;
pub mod system;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use dialect::{Backend, Dialect};
pub use error::{ErrorClass, StoreError};

/// What went wrong connecting, in words that say what to do; never the server's internal
/// source position (PostgreSQL's error carries the line of its own C code).
fn explain_connect_error(url: &DatabaseUrl, error: &sqlx::Error) -> String {
    if let sqlx::Error::Database(database) = error {
        let code = database
            .code()
            .map(|code| code.into_owned())
            .unwrap_or_default();
        if code == "3D000" {
            let name = match url {
                DatabaseUrl::Postgres(raw) => raw
                    .rsplit('/')
                    .next()
                    .and_then(|tail| tail.split('?').next())
                    .unwrap_or("")
                    .to_owned(),
                DatabaseUrl::Sqlite(_) => String::new(),
            };
            return format!(
                "the database `{name}` does not exist on that server: create it first (`createdb {name}`, or `psql -c 'CREATE DATABASE {name}'`), then run `lethe migrate`"
            );
        }
        return database.message().to_owned();
    }
    error.to_string()
}

/// Where the data lives: a SQLite file or a PostgreSQL URL (`--db`, `LETHE_DATABASE_URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    /// `postgres://…` or `postgresql://…` is PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or
    /// anything else is the path of a SQLite file.
    pub fn parse(raw: &str) -> Result<DatabaseUrl, StoreError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(StoreError::BadRequest(
                "the database is empty: give a file path or a postgres:// URL".to_owned(),
            ));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(raw.to_owned()));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .unwrap_or(raw);
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }

    /// A description safe to print: the password of a PostgreSQL URL is hidden.
    pub fn display_safe(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => path.display().to_string(),
            DatabaseUrl::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(scheme_end), Some(at)) if at > scheme_end => {
                    let credentials = &url[scheme_end + 3..at];
                    match credentials.split_once(':') {
                        Some((user, _)) => {
                            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
                        }
                        None => url.clone(),
                    }
                }
                _ => url.clone(),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub enum Pools {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pools {
    /// Connects to the database at `url`; on SQLite the whole process keeps at most
    /// `sqlite_heap_bytes` of page caches and statements. Nothing is created in it.
    pub async fn connect(url: &DatabaseUrl, sqlite_heap_bytes: u64) -> Result<Pools, StoreError> {
        let connect_error = |error: sqlx::Error| StoreError::Connect {
            target: url.display_safe(),
            message: explain_connect_error(url, &error),
        };
        let pools = match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
                    && !parent.exists()
                {
                    return Err(StoreError::Connect {
                        target: url.display_safe(),
                        message: format!("the folder {} does not exist", parent.display()),
                    });
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30))
                    // Erased values must not linger in free pages (SPEC §6); the SQLite that
                    // sqlx bundles does not turn this on by itself.
                    .pragma("secure_delete", "on")
                    // 32 MiB of page cache per connection; sorts and temporary tables spill
                    // to disk, so memory stays bounded whatever the data size.
                    .pragma("cache_size", "-32768")
                    // The bundled SQLite keeps the pool's page caches in one group that one
                    // busy connection may fill up to the sum of all of them (8 × 32 MiB);
                    // the process-wide soft heap limit recycles cached pages beyond it.
                    .pragma("soft_heap_limit", sqlite_heap_bytes.to_string());
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await
                    .map_err(connect_error)?;
                Pools::Sqlite(pool)
            }
            DatabaseUrl::Postgres(raw) => {
                let options = PgConnectOptions::from_str(raw).map_err(connect_error)?;
                let pool = PgPoolOptions::new()
                    .max_connections(10)
                    // A database that is away is reported within seconds (503 over HTTP), not
                    // after half a minute.
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .map_err(connect_error)?;
                Pools::Postgres(pool)
            }
        };
        Ok(pools)
    }
}

/// A column by its name, unqualified.
pub fn col(name: &str) -> sea_query::Expr {
    sea_query::Expr::col(sea_query::Alias::new(name))
}

/// A column of the table under `alias`.
pub fn qualified(alias: &str, name: &str) -> sea_query::Expr {
    sea_query::Expr::col((sea_query::Alias::new(alias), sea_query::Alias::new(name)))
}
