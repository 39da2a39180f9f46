//! The life of a record after someone decides it should go (SPEC §3, §5, §11): preview,
//! trash and restore, run as persisted, resumable jobs in bounded batches.
//!
//! Every bulk operation acts on a snapshot of members. A job walks the snapshot in ascending
//! id order, a bounded batch at a time; each batch is one transaction that applies the data
//! change for those members and all of their descendants, records members that were skipped
//! (changed state since the snapshot, or blocked by a rule) with the reason, advances the
//! job's cursor and counts, and appends the history entry for that batch. A crash loses at
//! most the batch in flight, which the next run redoes; the cursor and a lease check make
//! sure no batch is applied or counted twice.

mod claims;
mod jobs;
pub(crate) mod paths;
mod purge;
mod restore;
mod trash;
mod update;

use schemars::JsonSchema;
use serde::Serialize;

pub(crate) use lethe_jobs::Totals;
pub use lethe_jobs::{Job, JobRunner, Skip, lease_owner};

pub use lethe_domain::job::{JobKind, JobPayload, Work};
pub use lethe_domain::state::{BatchState, JobState};

/// How many records of one entity type an operation reaches.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct EntityCount {
    pub entity: String,
    pub records: u64,
}

/// What an operation would do, before it is confirmed (SPEC §5).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Preview {
    /// `trash`, `purge` or `update`.
    pub operation: String,
    /// The entity of the members.
    pub entity: String,
    /// Confirm the operation with this snapshot: it is what the preview counted (0 for a
    /// purge preview, which is of a deletion batch).
    pub snapshot_id: i64,
    /// Members in the snapshot (or the deletion batch).
    pub members: u64,
    /// Members that are not in the state the operation needs (already trashed, gone).
    pub not_applicable: u64,
    /// Members a rule blocks; they are skipped and reported.
    pub blocked: u64,
    /// Up to 20 blocked members (`PREVIEW_SAMPLE`), with the reason.
    pub blocked_sample: Vec<Skip>,
    /// The records acted on, per entity type: the members first, then cascaded children.
    pub acted_on: Vec<EntityCount>,
    /// For a purge: records that stay but whose link to an erased record is cut or pointed
    /// at the "Deleted User" (with their own personal fields anonymised), per entity type.
    pub rewritten: Vec<EntityCount>,
}

/// The rules that depend on time and place (SPEC §3): the purge grace period, the trash's
/// retention window, and where attachment files live.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LifecycleSettings {
    /// How long a purge request stays pending when no grace is asked for.
    #[serde(with = "seconds")]
    pub default_grace: time::Duration,
    /// The shortest grace the HTTP API accepts (the operator's CLI may go below it).
    #[serde(with = "seconds")]
    pub minimum_grace: time::Duration,
    /// Records trashed longer than this are purged by the scheduler (auto-purge).
    #[serde(with = "seconds")]
    pub retention: time::Duration,
    /// Where attachment files live (`storage_key` is a path below it).
    pub files_dir: Option<std::path::PathBuf>,
    /// On PostgreSQL, which tables a purge rewrites (`VACUUM FULL`) so erased values leave
    /// the data files; a rewrite locks its table while it runs.
    pub rewrite: Rewrite,
    /// The SQLite database file, scanned for erased values after a purge (set by the store).
    #[serde(skip)]
    pub database_file: Option<std::path::PathBuf>,
    /// The key of the `hash` anonymisation (set by the store from
    /// [`crate::StoreOptions::hash_key`]).
    #[serde(skip)]
    pub hash_key: Option<String>,
    /// The longest a read driven by a filter (a count, a page of a selection) may run before
    /// it is stopped (`LETHE_QUERY_TIMEOUT`); `None`: no limit.
    #[serde(skip)]
    pub query_timeout: Option<std::time::Duration>,
}

/// How long a filter may run by default.
pub const DEFAULT_QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

mod seconds {
    pub fn serialize<S: serde::Serializer>(
        duration: &time::Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(duration.whole_seconds())
    }
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        LifecycleSettings {
            default_grace: time::Duration::days(7),
            minimum_grace: time::Duration::days(7),
            retention: time::Duration::days(30),
            files_dir: None,
            rewrite: Rewrite::Personal,
            database_file: None,
            hash_key: None,
            query_timeout: Some(DEFAULT_QUERY_TIMEOUT),
        }
    }
}

/// Which tables a PostgreSQL purge rewrites (`VACUUM FULL`) after its last batch.
///
/// PostgreSQL's `DELETE` and `UPDATE` leave the old row versions in the table and index files
/// until their space is reused; only a rewrite removes them. A rewrite takes time in
/// proportion to the table's size, not to what was erased, and holds the table's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rewrite {
    /// No rewrite: erased rows may stay readable in the data files until their space is
    /// reused.
    Off,
    /// The tables the purge touched that have personal fields (the default). The others
    /// hold ids, dates, amounts and choices; with the erased record gone, nothing in the
    /// database ties their old rows to a person.
    Personal,
    /// Every table the purge touched.
    All,
}

impl Rewrite {
    /// The setting's name, as `LETHE_PG_REWRITE` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Rewrite::Off => "off",
            Rewrite::Personal => "personal",
            Rewrite::All => "all",
        }
    }
}

impl std::str::FromStr for Rewrite {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "off" | "0" | "none" => Ok(Rewrite::Off),
            "personal" => Ok(Rewrite::Personal),
            "all" => Ok(Rewrite::All),
            _ => Err(format!(
                "`{text}` is not a rewrite setting; use `personal` (the tables with personal fields, the default), `all` (every table the purge touched) or `off`"
            )),
        }
    }
}

/// The longest grace period a purge may wait.
pub const MAX_GRACE: time::Duration = time::Duration::days(3_660);

/// How many blocked members a preview lists.
pub const PREVIEW_SAMPLE: u64 = 20;

/// The default number of members per batch (one transaction each) on SQLite, where a batch
/// holds the database's one write lock: API writes wait for it, so batches stay short. Larger
/// batches did not make trash or restore faster there (300,000 contacts of the
/// 1,000,000-contact demo: 20–22 s either way with 5,000 or 25,000, BENCHMARKS.md).
pub const DEFAULT_BATCH_SIZE: u64 = 5_000;
/// The default on PostgreSQL, for every job. A batch there locks only the rows it changes, and
/// every row it changes gets new entries in each index of its table: fewer, larger batches
/// touch each heap and index page fewer times. Measured on the same 300,000 contacts: trash
/// 224 → 189 s, restore 225 → 199 s with 25,000 instead of 5,000 (BENCHMARKS.md).
pub const DEFAULT_POSTGRES_BATCH_SIZE: u64 = 25_000;
/// The default for purges. A purge deletes whole rows, so every batch rewrites pages of
/// every index of every table it touches (a `created_at` index, say, whose pages hold the
/// erased rows spread all over it); fewer, larger batches write each such page fewer times.
/// Measured on SQLite, 300,078 contacts of the 1,000,000-contact demo: 96.5 s in batches of
/// 5,000 against 34.4 s for the same deletes in one transaction (BENCHMARKS.md). A batch
/// holds the write lock only: readers are never blocked (SQLite's WAL, PostgreSQL's MVCC).
pub const DEFAULT_PURGE_BATCH_SIZE: u64 = 25_000;
/// The most members per batch: larger batches hold the write lock too long.
pub const MAX_BATCH_SIZE: u64 = 100_000;

pub use restore::DeletionBatch;

use sea_query::ExprTrait;

use crate::error::StoreError;
use crate::users::Actor;
use crate::{Pools, Store, dispatch};

async fn job_row<DB: crate::dialect::Dialect>(
    pool: &sqlx::Pool<DB>,
    id: i64,
) -> Result<jobs::JobRow, StoreError> {
    let mut connection = pool.acquire().await?;
    jobs::load_job::<DB>(&mut connection, id).await
}

async fn count_in<DB: crate::dialect::Dialect>(
    pool: &sqlx::Pool<DB>,
    entity: &str,
    condition: sea_query::Expr,
) -> Result<u64, StoreError> {
    let mut connection = pool.acquire().await?;
    crate::select::count_where::<DB>(&mut connection, entity, condition).await
}

async fn batch_row<DB: crate::dialect::Dialect>(
    pool: &sqlx::Pool<DB>,
    id: i64,
) -> Result<DeletionBatch, StoreError> {
    let mut connection = pool.acquire().await?;
    restore::load_batch::<DB>(&mut connection, id).await
}

/// Creates a job that claims nothing (an import: the staged rows it writes are its own),
/// with its `KIND.requested` history entry, inside `connection`'s transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn start_unclaimed_job<DB: crate::dialect::Dialect>(
    connection: &mut DB::Connection,
    history_key: &crate::HistoryKey,
    payload: &JobPayload,
    members: u64,
    batch_size: u64,
    details: serde_json::Value,
    now: time::OffsetDateTime,
) -> Result<i64, StoreError> {
    jobs::start_job::<DB>(
        connection,
        history_key,
        jobs::NewJob {
            payload,
            members,
            batch_size,
            not_before: None,
            claim: None,
            details,
        },
        now,
    )
    .await
}

pub(crate) fn check_batch_size_or(
    batch_size: Option<u64>,
    default: u64,
) -> Result<u64, StoreError> {
    let size = batch_size.unwrap_or(default);
    if size == 0 || size > MAX_BATCH_SIZE {
        return Err(StoreError::invalid_option(
            "batch_size",
            format!("the batch size must be between 1 and {MAX_BATCH_SIZE}; {size} was given"),
        ));
    }
    Ok(size)
}

impl Store {
    /// The snapshot a bulk operation acts on. More than one member needs an admin (SPEC §7).
    async fn bulk_snapshot(
        &self,
        snapshot_id: i64,
        actor: &Actor,
        doing: &str,
        what: &str,
    ) -> Result<crate::Snapshot, StoreError> {
        let snapshot = self.get_snapshot(snapshot_id).await?;
        self.entity(&snapshot.entity)?;
        lethe_domain::policy::bulk(actor, snapshot.member_count, doing, what)?;
        // Acting on a snapshot needs seeing it: its maker's or an admin's.
        lethe_domain::policy::see_snapshot(actor, snapshot_id, snapshot.created_by)?;
        Ok(snapshot)
    }

    fn trash_plan(&self, entity: &str) -> Result<lethe_plan::Plan, StoreError> {
        self.entity(entity)?;
        lethe_plan::plan(self.schema(), entity, lethe_plan::Operation::Trash)
            .map_err(|error| StoreError::BadRequest(error.to_string()))
    }

    /// What trashing a snapshot's members would do: per entity type, the records acted on;
    /// members not applicable (already in the trash, gone) and blocked, with a sample.
    pub async fn preview_trash(&self, snapshot_id: i64) -> Result<Preview, StoreError> {
        let snapshot = self.get_snapshot(snapshot_id).await?;
        let plan = self.trash_plan(&snapshot.entity)?;
        dispatch!(self, pool => trash::preview::<_>(pool, &plan, trash::trash_scope(&snapshot)).await)
    }

    /// Creates a deletion batch and the job that trashes the snapshot's members into it. More
    /// than one member is a mass delete: admins only (SPEC §7).
    pub async fn start_trash(
        &self,
        snapshot_id: i64,
        reason: Option<&str>,
        actor: &Actor,
        batch_size: Option<u64>,
    ) -> Result<Job, StoreError> {
        let batch_size = check_batch_size_or(batch_size, self.default_batch_size())?;
        let snapshot = self
            .bulk_snapshot(snapshot_id, actor, "trashing", "a mass delete")
            .await?;
        self.trash_plan(&snapshot.entity)?;
        if let Some(reason) = reason
            && reason.chars().count() > 1_000
        {
            return Err(StoreError::invalid_option(
                "reason",
                "the reason is longer than 1000 characters",
            ));
        }
        // The reason outlives a purge of these records: it must not name them (SPEC §6).
        let reason = self
            .text_without_values_of(
                &snapshot.entity,
                crate::redact::snapshot_members(snapshot.id),
                reason,
            )
            .await?;
        let reason = reason.as_deref();
        let now = self.now();
        let history_key = self.history_key();
        let id = dispatch!(self, pool => trash::start::<_>(pool, &history_key, &snapshot, reason, actor, batch_size, now).await)?;
        self.job(id).await
    }

    /// Creates the job that restores a deletion batch, or chosen members of it with their
    /// cascade children.
    pub async fn start_restore(
        &self,
        deletion_batch: i64,
        chosen: Option<&[i64]>,
        actor: &Actor,
        batch_size: Option<u64>,
    ) -> Result<Job, StoreError> {
        let batch_size = check_batch_size_or(batch_size, self.default_batch_size())?;
        let now = self.now();
        let history_key = self.history_key();
        let id = dispatch!(self, pool => restore::start::<_>(pool, &history_key, self.schema(), deletion_batch, chosen, actor, batch_size, now).await)?;
        self.job(id).await
    }

    /// The deletion batches that hold trashed `cascade` parents of this batch's members, which
    /// must be restored before it (SPEC §11, `--with-parents`).
    pub async fn parent_batches(&self, deletion_batch: i64) -> Result<Vec<i64>, StoreError> {
        dispatch!(self, pool => restore::parent_batches::<_>(pool, self.schema(), deletion_batch).await)
    }

    /// Runs job `job` to its end on a task of its own, for a server that answers at once and
    /// lets the caller follow the job's progress; the outcome is logged (the job itself
    /// records an error, and can be resumed).
    pub fn run_job_in_background(&self, job: i64) {
        let store = self.clone();
        tokio::spawn(async move {
            let runner = JobRunner::default();
            let mut progress = |_: &Job| {};
            match store.run_job(job, &runner, &mut progress).await {
                Ok(finished) if finished.is_finished() => tracing::info!(
                    job = finished.id,
                    done = finished.done,
                    total = finished.total,
                    "job finished"
                ),
                // Another worker holds it (the server's job worker picked it up first).
                Ok(other) => {
                    tracing::debug!(job = other.id, state = %other.state, "job runs elsewhere")
                }
                Err(StoreError::JobElsewhere { message, .. }) => {
                    tracing::info!(job, %message, "job runs elsewhere")
                }
                // Cancelled or failed meanwhile: nothing for this worker to do.
                Err(StoreError::Transition(refused)) => {
                    tracing::info!(job, %refused, "job not run")
                }
                Err(error) => tracing::error!(job, error = %error, "job stopped with an error"),
            }
        });
    }

    /// Runs a job to its end in this process, a batch per transaction, calling `progress`
    /// after each. A job another live worker holds is refused; a dead worker's is taken over.
    pub async fn run_job(
        &self,
        id: i64,
        runner: &JobRunner,
        progress: &mut (dyn FnMut(&Job) + Send),
    ) -> Result<Job, StoreError> {
        let clock = self.clock().clone();
        let mut settings = self.settings();
        settings.database_file = match self.url() {
            crate::DatabaseUrl::Sqlite(path) => Some(path.clone()),
            crate::DatabaseUrl::Postgres(_) => None,
        };
        settings.hash_key.clone_from(&self.inner.hash_key);
        let history_key = self.history_key();
        let kinds = jobs::Kinds {
            schema: self.schema(),
            settings: &settings,
        };
        let with = lethe_jobs::RunWith {
            schema: self.schema(),
            history_key: &history_key,
            owner: runner.owner(),
        };
        dispatch!(self, pool => lethe_jobs::run::run::<_, _>(pool, &kinds, with, &clock, id, progress).await)
    }

    pub async fn job(&self, id: i64) -> Result<Job, StoreError> {
        let now = self.now();
        let row = dispatch!(self, pool => job_row(pool, id).await)?;
        Ok(row.to_job(now))
    }

    /// The newest jobs `user` started, newest first.
    pub(crate) async fn jobs_started_by(
        &self,
        user: i64,
        limit: u64,
    ) -> Result<Vec<Job>, StoreError> {
        let now = self.now();
        let limit = limit.clamp(1, 1_000);
        let rows = dispatch!(self, pool => jobs::list_started_by::<_>(pool, user, limit).await)?;
        Ok(rows.iter().map(|row| row.to_job(now)).collect())
    }

    /// The newest jobs first.
    pub async fn jobs(&self, limit: u64) -> Result<Vec<Job>, StoreError> {
        let now = self.now();
        let limit = limit.clamp(1, 1_000);
        let rows = dispatch!(self, pool => jobs::list_jobs::<_>(pool, limit).await)?;
        Ok(rows.iter().map(|row| row.to_job(now)).collect())
    }

    /// Members a job did not act on, with the reason, by member id.
    pub async fn job_skips(&self, id: i64, limit: u64) -> Result<Vec<Skip>, StoreError> {
        self.job(id).await?;
        let limit = limit.clamp(1, 10_000);
        dispatch!(self, pool => jobs::list_skips::<_>(pool, id, limit).await)
    }

    /// Jobs that a worker could pick up now (queued, due purges, or abandoned by a dead
    /// worker).
    pub async fn runnable_jobs(&self) -> Result<Vec<i64>, StoreError> {
        let now = self.now();
        dispatch!(self, pool => jobs::runnable_jobs::<_>(pool, now).await)
    }

    /// Requests the purge of a deletion batch (admins only). It stays pending for `grace`
    /// (the configured default when `None`); with `enforce_minimum` (the HTTP API) a grace
    /// shorter than the configured minimum is refused. A grace of zero is an urgent erasure
    /// and is recorded as such.
    pub async fn request_purge(
        &self,
        deletion_batch: i64,
        actor: &Actor,
        grace: Option<time::Duration>,
        enforce_minimum: bool,
        reason: Option<&str>,
        batch_size: Option<u64>,
    ) -> Result<Job, StoreError> {
        lethe_domain::policy::request_purge(actor)?;
        let batch_size = check_batch_size_or(batch_size, DEFAULT_PURGE_BATCH_SIZE)?;
        let settings = self.settings();
        let grace = grace.unwrap_or(settings.default_grace);
        if grace.is_negative() {
            return Err(StoreError::invalid_option(
                "grace",
                "the grace period cannot be negative",
            ));
        }
        if grace > MAX_GRACE {
            return Err(StoreError::invalid_option(
                "grace",
                format!(
                    "the grace period can be at most {} days; {} days was asked for",
                    MAX_GRACE.whole_days(),
                    grace.whole_days()
                ),
            ));
        }
        if let Some(reason) = reason
            && reason.chars().count() > 1_000
        {
            return Err(StoreError::invalid_option(
                "reason",
                "the reason is longer than 1000 characters",
            ));
        }
        if enforce_minimum && grace < settings.minimum_grace {
            return Err(StoreError::invalid_option(
                "grace",
                format!(
                    "the grace period must be at least {} s (the configured minimum); {} s was asked for",
                    settings.minimum_grace.whole_seconds(),
                    grace.whole_seconds()
                ),
            ));
        }
        // The reason is kept after the records are gone: it must not name them (SPEC §6).
        let reason = match self.deletion_batch(deletion_batch).await?.entity {
            Some(entity) => {
                self.text_without_values_of(
                    &entity,
                    paths::qualified("t0", lethe_schema::builtin::TRASH_BATCH_ID)
                        .eq(deletion_batch),
                    reason,
                )
                .await?
            }
            None => reason.map(str::to_owned),
        };
        let reason = reason.as_deref();
        let now = self.now();
        let history_key = self.history_key();
        let id = dispatch!(self, pool => purge::request::<_>(pool, &history_key, deletion_batch, actor, grace, reason, batch_size, now).await)?;
        self.job(id).await
    }

    /// What purging a deletion batch now would do: the members still in it that would be
    /// erased, those a rule keeps (with reasons), the descendants erased with them through
    /// the trash, and the links rewritten.
    pub async fn preview_purge(&self, deletion_batch: i64) -> Result<Preview, StoreError> {
        let batch = self.deletion_batch(deletion_batch).await?;
        let entity = batch.entity.clone().ok_or_else(|| {
            StoreError::Conflict(format!(
                "deletion batch {deletion_batch} was not made by a trash job"
            ))
        })?;
        self.entity(&entity)?;
        let plan = lethe_plan::plan(self.schema(), &entity, lethe_plan::Operation::Purge)
            .map_err(|error| StoreError::BadRequest(error.to_string()))?;
        let mut members = sea_query::Query::select();
        members
            .column(sea_query::Alias::new(lethe_schema::builtin::ID))
            .from(sea_query::Alias::new(entity.as_str()))
            .and_where(paths::col(lethe_schema::builtin::TRASH_BATCH_ID).eq(deletion_batch));
        let in_batch = paths::col(lethe_schema::builtin::TRASH_BATCH_ID).eq(deletion_batch);
        let member_count =
            dispatch!(self, pool => count_in(pool, &entity, in_batch.clone()).await)?;
        let scope = trash::PreviewScope {
            operation: "purge",
            members,
            member_count,
            snapshot_id: 0,
            root_state: paths::qualified("t0", lethe_schema::builtin::TRASH_BATCH_ID)
                .eq(deletion_batch),
            filter: paths::StepFilter::Any,
            target_state: None,
        };
        dispatch!(self, pool => trash::preview::<_>(pool, &plan, scope).await)
    }

    /// Cancels a pending purge (admins only), before it starts.
    pub async fn cancel_purge(&self, job: i64, actor: &Actor) -> Result<Job, StoreError> {
        let now = self.now();
        let history_key = self.history_key();
        dispatch!(self, pool => purge::cancel::<_>(pool, &history_key, job, actor, now).await)?;
        self.job(job).await
    }

    /// Purges waiting for their grace period, oldest first.
    pub async fn pending_purges(&self) -> Result<Vec<Job>, StoreError> {
        let now = self.now();
        let rows = dispatch!(self, pool => jobs::list_where::<_>(pool, purge::pending_filter(), 1_000).await)?;
        Ok(rows.iter().map(|row| row.to_job(now)).collect())
    }

    /// Purges that are no longer waiting (queued, running, done, failed or cancelled), newest
    /// first, at most `limit` (1 to 1,000): the finished ones carry their erasure receipt.
    pub async fn purges_past_their_grace(&self, limit: u64) -> Result<Vec<Job>, StoreError> {
        let now = self.now();
        let limit = limit.clamp(1, 1_000);
        let rows = dispatch!(self, pool => jobs::list_where_newest_first::<_>(pool, purge::not_pending_filter(), limit).await)?;
        Ok(rows.iter().map(|row| row.to_job(now)).collect())
    }

    /// Requests, with no grace, the purge of every batch trashed longer than the retention
    /// window (auto-purge); returns the purge jobs made.
    pub async fn schedule_auto_purges(&self) -> Result<Vec<Job>, StoreError> {
        let settings = self.settings();
        let cutoff = self.now() - settings.retention;
        let overdue = dispatch!(self, pool => purge::overdue_batches::<_>(pool, cutoff).await)?;
        let scheduler = Actor {
            user_id: None,
            name: "scheduler".to_owned(),
            admin: true,
        };
        let reason = format!(
            "in the trash longer than the retention window ({} days)",
            settings.retention.whole_days()
        );
        let mut jobs = Vec::new();
        for batch in overdue {
            match self
                .request_purge(
                    batch,
                    &scheduler,
                    Some(time::Duration::ZERO),
                    false,
                    Some(&reason),
                    None,
                )
                .await
            {
                Ok(job) => jobs.push(job),
                // Restored or requested by someone else meanwhile.
                Err(StoreError::Conflict(_) | StoreError::Transition(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(jobs)
    }

    /// One pass of the scheduler: auto-purges are requested, then every due or interrupted
    /// job runs. Returns (purges scheduled, jobs finished).
    pub async fn run_due(&self, runner: &JobRunner) -> Result<(usize, usize), StoreError> {
        let scheduled = self.schedule_auto_purges().await?.len();
        let finished = self.run_runnable_jobs(runner).await?;
        Ok((scheduled, finished))
    }

    /// How many of a snapshot's members a bulk update would change (those still active), after
    /// checking the changes; nothing is written.
    pub async fn preview_update(
        &self,
        snapshot_id: i64,
        changes: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Preview, StoreError> {
        let snapshot = self.get_snapshot(snapshot_id).await?;
        let entity = self.entity(&snapshot.entity)?;
        let values = update::check_changes(entity, changes, snapshot.member_count)?;
        dispatch!(self, pool => update::check_links::<_>(pool, self.schema(), entity, &values).await)?;
        let condition = paths::qualified("t0", lethe_schema::builtin::ID)
            .in_subquery(jobs::members_in(snapshot_id, i64::MIN, i64::MAX))
            .and(
                crate::select::scope_condition("t0", crate::Scope::Active)
                    .unwrap_or_else(|| sea_query::Expr::cust("1 = 1")),
            );
        let active =
            dispatch!(self, pool => count_in(pool, &snapshot.entity, condition.clone()).await)?;
        Ok(Preview {
            operation: "update".to_owned(),
            entity: snapshot.entity.clone(),
            snapshot_id,
            members: snapshot.member_count,
            not_applicable: snapshot.member_count.saturating_sub(active),
            blocked: 0,
            blocked_sample: Vec::new(),
            acted_on: vec![EntityCount {
                entity: snapshot.entity.clone(),
                records: active,
            }],
            rewritten: Vec::new(),
        })
    }

    /// Creates the job that sets fields on a snapshot's members (admins only for more than
    /// one record). The changes are checked before anything is written.
    pub async fn start_update(
        &self,
        snapshot_id: i64,
        changes: &serde_json::Map<String, serde_json::Value>,
        actor: &Actor,
        batch_size: Option<u64>,
    ) -> Result<Job, StoreError> {
        let batch_size = check_batch_size_or(batch_size, self.default_batch_size())?;
        let snapshot = self
            .bulk_snapshot(snapshot_id, actor, "updating", "a bulk operation")
            .await?;
        let now = self.now();
        let history_key = self.history_key();
        let id = dispatch!(self, pool => update::start::<_>(pool, &history_key, self.schema(), &snapshot, changes, actor, batch_size, now).await)?;
        self.job(id).await
    }

    /// Creates the job that anonymises the snapshot's members: their personal fields are
    /// overwritten by the schema's strategies and the records stay (admins only for more
    /// than one record).
    pub async fn start_anonymize(
        &self,
        snapshot_id: i64,
        actor: &Actor,
        batch_size: Option<u64>,
    ) -> Result<Job, StoreError> {
        let batch_size = check_batch_size_or(batch_size, self.default_batch_size())?;
        let snapshot = self
            .bulk_snapshot(snapshot_id, actor, "anonymising", "a bulk operation")
            .await?;
        let now = self.now();
        let history_key = self.history_key();
        let id = dispatch!(self, pool => purge::start_anonymize::<_>(pool, &history_key, &snapshot, actor, batch_size, now).await)?;
        self.job(id).await
    }

    /// Runs every job a worker could pick up now, one after the other; returns how many it
    /// finished. Jobs another live worker holds are left to it. For `lethe serve`'s worker
    /// loop and `lethe job resume`.
    pub async fn run_runnable_jobs(&self, runner: &JobRunner) -> Result<usize, StoreError> {
        let mut finished = 0;
        for id in self.runnable_jobs().await? {
            match self.run_job(id, runner, &mut |_| {}).await {
                Ok(job) if job.is_finished() => finished += 1,
                Ok(_) | Err(StoreError::JobElsewhere { .. } | StoreError::Transition(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(finished)
    }

    /// Makes a failed job runnable again: it continues after its last committed batch, and
    /// the history records who resumed it. An admin may resume any job; the user who started
    /// a job other than a purge may resume it too. A queued or running job is left as it is
    /// (it runs, or a worker takes it up); a finished, cancelled or still pending one is
    /// refused as a conflict.
    pub async fn resume_job(&self, id: i64, actor: &Actor) -> Result<Job, StoreError> {
        let now = self.now();
        let history_key = self.history_key();
        dispatch!(self, pool => jobs::resume::<_>(pool, &history_key, id, actor, now).await)?;
        self.job(id).await
    }

    pub async fn deletion_batch(&self, id: i64) -> Result<DeletionBatch, StoreError> {
        dispatch!(self, pool => batch_row(pool, id).await)
    }
}
