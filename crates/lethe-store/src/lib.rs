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
mod due_runs;
mod export;
mod files;
mod history;
mod import;
mod kept;
mod lifecycle;
mod monitors;
mod names;
mod notifications;
mod options;
mod passwords;
mod records;
mod recycle_bin;
mod redact;
mod requests;
mod retention;
mod sealed;
mod select;
mod selections;
mod sessions;
mod set_columns;
mod snapshots;
mod stats;
mod users;
mod visibility;

use std::sync::Arc;

use lethe_schema::{Entity, Schema, suggest};

pub use access::TokenInfo;
pub use ddl::MigrationReport;
pub use dialect::Backend;
pub use error::{ErrorClass, StoreError};
pub use export::{EXPORT_PAGE, Export, ExportPage, ExportSource, PersonKey};
pub use files::{IncomingFile, STORAGE_KEY, holds_files, is_managed as is_managed_file_column};
pub use import::{
    ImportCheck, ImportField, ImportOptions, ImportOutcome, ImportProblem, ImportRow, ImportRows,
    MatchRule, PROBLEMS_SHOWN,
};
pub use lethe_db::DatabaseUrl;
pub(crate) use lethe_db::Pools;
pub(crate) use lethe_db::{ddl, dialect, error, placeholder, rows, statistics, system};
pub use lethe_domain::Clock;
pub use lethe_domain::notification;
pub use lethe_domain::policy;
pub(crate) use lethe_domain::value;
pub use lethe_filter::Filter;
pub use lethe_history::{
    HistoryAnchor, HistoryEntry, HistoryFilter, HistoryKey, HistoryProblem, HistoryVerification,
    MAX_HISTORY_PAGE, MIN_HISTORY_KEY_BYTES,
};
pub use lethe_query::{Explanation, Scope};
pub use lifecycle::{
    BatchState, DEFAULT_BATCH_SIZE, DEFAULT_POSTGRES_BATCH_SIZE, DEFAULT_PURGE_BATCH_SIZE,
    DEFAULT_QUERY_TIMEOUT, DeletionBatch, EntityCount, Job, JobKind, JobRunner, JobState,
    LifecycleSettings, MAX_BATCH_SIZE, MAX_GRACE, PREVIEW_SAMPLE, Preview, Rewrite, Skip,
    lease_owner,
};
pub use monitors::{
    MAX_HITS_PAGE, Monitor, MonitorEdit, MonitorHit, MonitorHits, MonitorRun, NewMonitor,
};
pub use notifications::Notification;
pub use notifications::channels::{
    DeliveryChange, DeliverySettings, KindChoice, Webhook, check_email, check_webhook_url,
};
pub use notifications::outbox::{
    Channel, Delivery, DeliveryCounts, DeliveryState, Outgoing, TryResult,
};
pub use options::{KeySource, StoreOptions};
pub use passwords::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
pub use placeholder::PLACEHOLDER_ID;
pub use records::{ListQuery, Page, Record, SortOrder};
pub use recycle_bin::{MAX_RECYCLE_BIN_PAGE, PendingPurge, RecycleBinEntry, RecycleBinPage};
pub use requests::{
    NewSubjectRequest, RemindersSent, RequestChange, RequestLink, RequestListing, SubjectRequest,
};
pub use retention::{NewPolicy, PolicyEdit, PolicyRun, RetentionPolicy};
pub use selections::{MAX_LISTED_IDS, SavedSelection, SelectionDefinition, SetOperator};
pub use sessions::{Session, SessionInfo, SignIn};
pub use snapshots::{MemberPick, PickSource, Snapshot};
pub use stats::{
    EntityStats, FileStats, HELD_BATCHES_SHOWN, HeldBatch, HeldReason, SIZE_COLUMN, StateCounts,
    Stats, StatsTotals, human_bytes,
};
pub use users::{Actor, Role, User, random_token};
pub use value::{Value, ValueError, format_date, format_timestamp, parse_date, parse_timestamp};
pub use visibility::may_see;

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
        let pools = Pools::connect(url, options.sqlite_heap_bytes()).await?;
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
            notifications::channels::seal_stored_secrets(pool, &self.history_key()).await?;
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
