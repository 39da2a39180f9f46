//! Lethe's storage: the tables generated from a [`Schema`], records, users and tokens, and
//! Lethe's own system tables, on SQLite or PostgreSQL (SPEC §9).
//!
//! **Architecture invariant:** this crate knows nothing of HTTP or of the command line. It
//! takes typed requests and returns typed results and [`StoreError`]s.
//!
//! **Architecture invariant:** every SQL statement built from the schema or from input is
//! built with sea-query and every value is bound; identifiers come only from a validated
//! schema.

mod access;
mod bulk;
mod clock;
mod ddl;
mod dialect;
mod error;
mod files;
mod history;
mod lifecycle;
mod notifications;
mod options;
mod placeholder;
mod records;
mod redact;
mod rows;
mod select;
mod selections;
mod statistics;
mod stats;
mod system;
mod users;
mod visibility;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use lethe_schema::{Entity, Schema, suggest};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use access::TokenInfo;
pub use clock::Clock;
pub use ddl::MigrationReport;
pub use dialect::Backend;
pub use error::{ErrorClass, StoreError};
pub use files::{IncomingFile, STORAGE_KEY, holds_files, is_managed as is_managed_file_column};
pub use history::{
    HistoryAnchor, HistoryEntry, HistoryKey, HistoryProblem, HistoryVerification, MAX_HISTORY_PAGE,
    MIN_HISTORY_KEY_BYTES,
};
pub use lethe_domain::policy;
pub(crate) use lethe_domain::value;
pub use lethe_filter::Filter;
pub use lifecycle::{
    BatchState, DEFAULT_BATCH_SIZE, DEFAULT_POSTGRES_BATCH_SIZE, DEFAULT_PURGE_BATCH_SIZE,
    DEFAULT_QUERY_TIMEOUT, DeletionBatch, EntityCount, Job, JobKind, JobRunner, JobState,
    LifecycleSettings, MAX_BATCH_SIZE, MAX_GRACE, PREVIEW_SAMPLE, Preview, Rewrite, Skip,
    lease_owner,
};
pub use notifications::Notification;
pub use options::{KeySource, StoreOptions};
pub use placeholder::PLACEHOLDER_ID;
pub use records::{ListQuery, Page, Record, SortOrder};
pub use select::{Explanation, Scope};
pub use selections::{
    MAX_LISTED_IDS, MemberPick, PickSource, SavedSelection, SelectionDefinition, SetOperator,
    Snapshot,
};
pub use stats::{
    EntityStats, FileStats, HELD_BATCHES_SHOWN, HeldBatch, HeldReason, SIZE_COLUMN, StateCounts,
    Stats, StatsTotals,
};
pub use users::{Actor, Role, User};
pub use value::{Value, ValueError, format_date, format_timestamp, parse_date, parse_timestamp};
pub use visibility::may_see;

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
pub(crate) enum Pools {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Debug)]
struct Inner {
    pools: Pools,
    schema: Schema,
    clock: Clock,
    url: DatabaseUrl,
    settings: std::sync::RwLock<LifecycleSettings>,
    /// The key of the `hash` anonymisation, when one was given.
    hash_key: Option<String>,
    /// Seals the history; never stored in the database.
    history_key: std::sync::RwLock<HistoryKey>,
    /// Where the history's head is written down outside the database.
    history_anchor: std::sync::RwLock<HistoryAnchor>,
    /// The number of the last head written to the anchor file (-1: not read yet).
    anchored: std::sync::atomic::AtomicI64,
}

/// A handle on one Lethe database. Cheap to clone; clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// Runs `$body` with `$pool` bound to the concrete pool, so generic code over [`Dialect`]
/// is instantiated once per backend.
macro_rules! dispatch {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.inner.pools {
            Pools::Sqlite($pool) => $body,
            Pools::Postgres($pool) => $body,
        }
    };
}
pub(crate) use dispatch;

/// The default of SQLite's memory budget for the whole process (page caches, statements),
/// in MiB ([`StoreOptions::sqlite_heap_mib`]).
pub const DEFAULT_SQLITE_HEAP_MIB: u64 = 96;

impl Store {
    /// Connects to the database. Nothing is created until [`Store::migrate`] runs.
    pub async fn open(
        url: &DatabaseUrl,
        schema: Schema,
        options: &StoreOptions,
    ) -> Result<Store, StoreError> {
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
                    .pragma("soft_heap_limit", options.sqlite_heap_bytes().to_string());
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
        let history_key = HistoryKey::for_database(url, options.history_key.as_ref())?;
        let history_anchor = HistoryAnchor::for_database(url, options.history_anchor.as_deref());
        Ok(Store {
            inner: Arc::new(Inner {
                pools,
                schema,
                clock: options.clock.clone(),
                url: url.clone(),
                settings: std::sync::RwLock::new(LifecycleSettings::default()),
                hash_key: options.hash_key.clone(),
                history_key: std::sync::RwLock::new(history_key),
                history_anchor: std::sync::RwLock::new(history_anchor),
                anchored: std::sync::atomic::AtomicI64::new(-1),
            }),
        })
    }

    /// Creates or upgrades Lethe's system tables and the tables of the schema.
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let now = self.now();
        dispatch!(self, pool => {
            system::migrate(pool).await?;
            let report = ddl::migrate_schema(pool, &self.inner.schema, now).await?;
            placeholder::ensure_placeholders(pool, &self.inner.schema, now).await?;
            ddl::forget_trash_index_statistics(pool).await?;
            Ok(report)
        })
    }

    pub fn schema(&self) -> &Schema {
        &self.inner.schema
    }

    pub fn backend(&self) -> Backend {
        match self.inner.pools {
            Pools::Sqlite(_) => Backend::Sqlite,
            Pools::Postgres(_) => Backend::Postgres,
        }
    }

    /// Members per transaction of a trash, restore, anonymise or update job when none is
    /// given: [`DEFAULT_BATCH_SIZE`] on SQLite, [`DEFAULT_POSTGRES_BATCH_SIZE`] on PostgreSQL.
    /// (A purge uses [`DEFAULT_PURGE_BATCH_SIZE`] on both.)
    pub fn default_batch_size(&self) -> u64 {
        match self.backend() {
            Backend::Sqlite => DEFAULT_BATCH_SIZE,
            Backend::Postgres => DEFAULT_POSTGRES_BATCH_SIZE,
        }
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.inner.url
    }

    /// The grace period, retention window and file folder in force.
    pub fn settings(&self) -> LifecycleSettings {
        match self.inner.settings.read() {
            Ok(settings) => settings.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The key the history is sealed with.
    pub fn history_key(&self) -> HistoryKey {
        match self.inner.history_key.read() {
            Ok(key) => key.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Seals the history with `key` from now on (an embedder's own key management; the
    /// key opened with comes from [`StoreOptions::history_key`]).
    pub fn set_history_key(&self, key: HistoryKey) {
        match self.inner.history_key.write() {
            Ok(mut current) => *current = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }

    /// Where the history's head is written down outside the database.
    pub fn history_anchor(&self) -> HistoryAnchor {
        match self.inner.history_anchor.read() {
            Ok(anchor) => anchor.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set_history_anchor(&self, anchor: HistoryAnchor) {
        match self.inner.history_anchor.write() {
            Ok(mut current) => *current = anchor,
            Err(poisoned) => *poisoned.into_inner() = anchor,
        }
        self.inner
            .anchored
            .store(-1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn set_settings(&self, settings: LifecycleSettings) {
        match self.inner.settings.write() {
            Ok(mut current) => *current = settings,
            Err(poisoned) => *poisoned.into_inner() = settings,
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.inner.clock.now()
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        dispatch!(self, pool => pool.close().await)
    }

    pub(crate) fn inner_pools(&self) -> &Pools {
        &self.inner.pools
    }

    /// Looks up an entity by name, or says which one was probably meant.
    pub fn entity(&self, name: &str) -> Result<&Entity, StoreError> {
        let schema = &self.inner.schema;
        schema
            .entity(name)
            .ok_or_else(|| StoreError::UnknownEntity {
                name: name.to_owned(),
                suggestion: suggest(name, schema.entity_names()),
            })
    }
}
