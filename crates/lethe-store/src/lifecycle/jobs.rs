//! Persisted jobs: creation, leases, the batch loop, resume after a crash.
//!
//! A job row holds its payload (what to do, for whom), a cursor (the last member id whose
//! batch committed), running totals and a lease (`lease_owner`, `lease_expires_at`). A worker
//! claims a job by taking its lease; every batch re-checks the lease and the cursor inside
//! the batch's own transaction, so two workers can never both apply a batch. A worker that
//! dies leaves its lease behind: it is taken over when it expires, or at once when the owner
//! was a process on this machine that no longer exists (`kill -9` of the CLI).

use std::sync::OnceLock;
use std::time::Duration;

use lethe_schema::Schema;
use sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, Order, Query, SelectStatement};
use sqlx::Pool;
use time::OffsetDateTime;

use super::paths::col;
use super::{Job, JobKind, JobPayload, JobState, Skip, Totals, Work};
use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::rows;
use crate::users::Actor;
use crate::value::format_timestamp;
use lethe_domain::state::{Claim, Resume};

/// How long a claimed job stays reserved without a batch committing.
const LEASE: Duration = Duration::from_secs(60);

/// This process's name as a job worker: `host:pid:nonce`.
pub fn lease_owner() -> String {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER
        .get_or_init(|| {
            let nonce: u32 = rand::random();
            format!("{}:{}:{nonce:08x}", host_name(), std::process::id())
        })
        .clone()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty() && !name.contains(':'))
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether a lease owner was a process on this machine that has exited.
fn owner_is_gone(owner: &str) -> bool {
    let mut parts = owner.split(':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    if host != host_name() {
        return false;
    }
    match pid.parse::<u32>() {
        Ok(pid) if pid != std::process::id() => {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

/// Real time for leases: they guard against dead processes, so they follow the wall clock,
/// not the injectable business clock.
fn wall_clock() -> OffsetDateTime {
    crate::value::truncate_to_micros(OffsetDateTime::now_utc())
}

const JOB_COLUMNS: [&str; 16] = [
    "id",
    "kind",
    "state",
    "payload",
    "cursor",
    "done",
    "total",
    "result",
    "error",
    "created_at",
    "started_at",
    "finished_at",
    "lease_owner",
    "lease_expires_at",
    "batch_size",
    "not_before",
];

/// A job row, decoded.
#[derive(Debug, Clone)]
pub(crate) struct JobRow {
    pub id: i64,
    pub kind: JobKind,
    pub state: JobState,
    pub payload: JobPayload,
    pub cursor: i64,
    pub done: u64,
    pub total: u64,
    pub totals: Totals,
    pub error: Option<String>,
    pub created_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<OffsetDateTime>,
    pub batch_size: u64,
    pub not_before: Option<OffsetDateTime>,
}

impl JobRow {
    pub(crate) fn to_job(&self, now: OffsetDateTime) -> Job {
        let rate = self.started_at.and_then(|started| {
            let until = self.finished_at.unwrap_or(now);
            let seconds = (until - started).as_seconds_f64();
            (seconds > 0.0 && self.done > 0).then(|| self.done as f64 / seconds)
        });
        let seconds_left = rate.and_then(|rate| {
            (!self.state.is_finished() && rate > 0.0)
                .then(|| self.total.saturating_sub(self.done) as f64 / rate)
        });
        Job {
            id: self.id,
            kind: self.kind,
            state: self.state,
            entity: self.payload.entity.clone(),
            batch_id: self.payload.deletion_batch(),
            snapshot_id: self.payload.snapshot_id,
            done: self.done,
            total: self.total,
            counts: self.totals.counts.clone(),
            skipped: self.totals.skipped,
            blocked: self.totals.blocked,
            rewritten: self.totals.rewritten.clone(),
            not_before: self.not_before.map(format_timestamp),
            receipt: self.totals.receipt.clone(),
            reason: self.payload.reason.clone(),
            source: self.payload.source.clone(),
            actor: self.payload.actor.name.clone(),
            started_by: self.payload.actor.user_id,
            batch_size: self.batch_size,
            created_at: format_timestamp(self.created_at),
            started_at: self.started_at.map(format_timestamp),
            finished_at: self.finished_at.map(format_timestamp),
            error: self.error.clone(),
            rate_per_second: rate,
            seconds_left,
        }
    }
}

fn decode_job<DB: Dialect>(row: &DB::Row) -> Result<JobRow, StoreError> {
    let corrupt = |what: &str| StoreError::Internal(format!("a job row has no valid {what}"));
    let id = rows::int::<DB>(row, 0)?.ok_or_else(|| corrupt("id"))?;
    let kind = rows::text::<DB>(row, 1)?
        .and_then(|kind| JobKind::parse(&kind))
        .ok_or_else(|| corrupt("kind"))?;
    let payload = rows::json::<DB>(row, 3)?.ok_or_else(|| corrupt("payload"))?;
    let payload = JobPayload::from_stored(kind, payload)
        .map_err(|damaged| StoreError::Internal(format!("job {id}: {damaged}")))?;
    let state = rows::text::<DB>(row, 2)?.ok_or_else(|| corrupt("state"))?;
    let state = JobState::parse(&state)
        .map_err(|unknown| StoreError::Internal(format!("job {id}: {unknown}")))?;
    let cursor = rows::json::<DB>(row, 4)?
        .and_then(|json| json.as_i64())
        .unwrap_or(0);
    let totals: Totals = rows::json::<DB>(row, 7)?
        .and_then(|json| serde_json::from_value(json).ok())
        .unwrap_or_default();
    Ok(JobRow {
        id,
        kind,
        state,
        payload,
        cursor,
        done: rows::count::<DB>(row, 5)?,
        total: rows::count::<DB>(row, 6)?,
        totals,
        error: rows::text::<DB>(row, 8)?,
        created_at: rows::timestamp::<DB>(row, 9)?.ok_or_else(|| corrupt("creation time"))?,
        started_at: rows::timestamp::<DB>(row, 10)?,
        finished_at: rows::timestamp::<DB>(row, 11)?,
        lease_owner: rows::text::<DB>(row, 12)?,
        lease_expires_at: rows::timestamp::<DB>(row, 13)?,
        batch_size: rows::count::<DB>(row, 14)?,
        not_before: rows::timestamp::<DB>(row, 15)?,
    })
}

fn select_jobs() -> SelectStatement {
    let mut query = Query::select();
    query
        .columns(JOB_COLUMNS.map(Alias::new))
        .from(Alias::new("lethe_job"));
    query
}

pub(crate) async fn load_job<DB: Dialect>(
    connection: &mut DB::Connection,
    id: i64,
) -> Result<JobRow, StoreError> {
    let mut query = select_jobs();
    query.and_where(col("id").eq(id));
    let (sql, values) = DB::build(&query);
    let row = DB::fetch_optional(connection, sql, values)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            entity: "job".to_owned(),
            id,
        })?;
    decode_job::<DB>(&row)
}

pub(crate) async fn list_jobs<DB: Dialect>(
    pool: &Pool<DB>,
    limit: u64,
) -> Result<Vec<JobRow>, StoreError> {
    fetch_jobs::<DB>(pool, None, Order::Desc, limit).await
}

/// The jobs `user` started, newest first.
pub(crate) async fn list_started_by<DB: Dialect>(
    pool: &Pool<DB>,
    user: i64,
    limit: u64,
) -> Result<Vec<JobRow>, StoreError> {
    fetch_jobs::<DB>(pool, Some(col("created_by").eq(user)), Order::Desc, limit).await
}

/// Jobs matching `condition`, oldest first.
pub(crate) async fn list_where<DB: Dialect>(
    pool: &Pool<DB>,
    condition: Expr,
    limit: u64,
) -> Result<Vec<JobRow>, StoreError> {
    fetch_jobs::<DB>(pool, Some(condition), Order::Asc, limit).await
}

async fn fetch_jobs<DB: Dialect>(
    pool: &Pool<DB>,
    condition: Option<Expr>,
    order: Order,
    limit: u64,
) -> Result<Vec<JobRow>, StoreError> {
    let mut connection = pool.acquire().await?;
    let mut query = select_jobs();
    if let Some(condition) = condition {
        query.and_where(condition);
    }
    query.order_by(Alias::new("id"), order).limit(limit);
    let (sql, values) = DB::build(&query);
    let rows = DB::fetch_all(&mut connection, sql, values).await?;
    rows.iter().map(decode_job::<DB>).collect()
}

/// Ids of jobs a worker could run now: queued, or running under a lease that has run out or
/// whose owner is gone.
pub(crate) async fn runnable_jobs<DB: Dialect>(
    pool: &Pool<DB>,
    now: OffsetDateTime,
) -> Result<Vec<i64>, StoreError> {
    let mut connection = pool.acquire().await?;
    let mut query = select_jobs();
    query
        .and_where(
            col("state")
                .is_in([JobState::Queued.as_str(), JobState::Running.as_str()])
                .or(col("state")
                    .eq(JobState::Pending.as_str())
                    .and(col("not_before").lte(Expr::val(rows::bind_time::<DB>(now))))),
        )
        .order_by(Alias::new("id"), Order::Asc)
        .limit(100);
    let (sql, values) = DB::build(&query);
    let rows = DB::fetch_all(&mut connection, sql, values).await?;
    let now = wall_clock();
    let mut ids = Vec::new();
    for row in &rows {
        let job = decode_job::<DB>(row)?;
        if lease_is_free(&job, now, &lease_owner()) {
            ids.push(job.id);
        }
    }
    Ok(ids)
}

fn lease_is_free(job: &JobRow, now: OffsetDateTime, owner: &str) -> bool {
    match (&job.lease_owner, job.lease_expires_at) {
        (None, _) => true,
        (Some(current), _) if current == owner => true,
        (Some(_), Some(expires)) if expires < now => true,
        (Some(current), _) => owner_is_gone(current),
    }
}

/// Inserts a new job and returns its id.
pub(crate) async fn insert_job<DB: Dialect>(
    connection: &mut DB::Connection,
    payload: &JobPayload,
    total: u64,
    batch_size: u64,
    now: OffsetDateTime,
    not_before: Option<OffsetDateTime>,
) -> Result<i64, StoreError> {
    let payload_json = payload.to_stored();
    let totals = serde_json::to_value(Totals::default())
        .map_err(|error| StoreError::Internal(format!("job totals: {error}")))?;
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_job"))
            .columns(
                [
                    "kind",
                    "state",
                    "payload",
                    "cursor",
                    "done",
                    "total",
                    "result",
                    "created_at",
                    "created_by",
                    "batch_size",
                    "not_before",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Expr::val(payload.kind().as_str()),
                Expr::val(JobState::new_job(not_before.is_some()).as_str()),
                Expr::val(rows::bind_json::<DB>(payload_json)),
                Expr::val(rows::bind_json::<DB>(serde_json::json!(0))),
                Expr::val(0i64),
                Expr::val(i64::try_from(total).unwrap_or(i64::MAX)),
                Expr::val(rows::bind_json::<DB>(totals)),
                Expr::val(rows::bind_time::<DB>(now)),
                Expr::val(rows::bind_opt_int::<DB>(payload.actor.user_id)),
                Expr::val(i64::try_from(batch_size).unwrap_or(i64::MAX)),
                Expr::val(rows::bind_opt_time::<DB>(not_before)),
            ])
            .returning_col(Alias::new("id")),
    );
    let row = DB::fetch_optional(connection, sql, values)
        .await?
        .ok_or_else(|| StoreError::Internal("creating a job returned no id".to_owned()))?;
    rows::int::<DB>(&row, 0)?
        .ok_or_else(|| StoreError::Internal("creating a job returned no id".to_owned()))
}

/// Takes the job's lease for `owner`. `None` when the job has nothing left to do.
async fn claim<DB: Dialect>(
    pool: &Pool<DB>,
    id: i64,
    owner: &str,
    now: OffsetDateTime,
) -> Result<Option<JobRow>, StoreError> {
    let mut transaction = begin_write(pool).await?;
    if DB::BACKEND == crate::dialect::Backend::Postgres {
        // Several instances on one database look at the same runnable jobs every second:
        // the one that locks the job's row claims it, the others pass it by at once instead
        // of queueing behind the lock. (SQLite's `BEGIN IMMEDIATE` already admits one
        // claimer at a time.)
        let (sql, values) = DB::build(
            Query::select()
                .column(Alias::new("id"))
                .from(Alias::new("lethe_job"))
                .and_where(col("id").eq(id))
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked),
        );
        if DB::fetch_optional(&mut transaction, sql, values)
            .await?
            .is_none()
        {
            // Locked by another claimer, or no such job (which `load_job` says).
            load_job::<DB>(&mut transaction, id).await?;
            return Err(StoreError::Conflict(format!(
                "job {id} is being claimed by another worker at this moment"
            )));
        }
    }
    let job = load_job::<DB>(&mut transaction, id).await?;
    let grace_until = job
        .not_before
        .filter(|due| job.state == JobState::Pending && *due > now)
        .map(format_timestamp);
    if job.state.claim(id, grace_until.as_deref())? == Claim::Finished {
        return Ok(None);
    }
    let wall = wall_clock();
    if !lease_is_free(&job, wall, owner) {
        return Err(StoreError::Conflict(format!(
            "job {id} is being run by {} (lease until {}); it is taken over if that worker stops",
            job.lease_owner.as_deref().unwrap_or("another worker"),
            job.lease_expires_at
                .map(format_timestamp)
                .unwrap_or_default()
        )));
    }
    let observed = match &job.lease_owner {
        Some(current) => col("lease_owner").eq(current.as_str()),
        None => col("lease_owner").is_null(),
    };
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_job"))
            .value(Alias::new("state"), JobState::Running.as_str())
            .value(Alias::new("lease_owner"), owner)
            .value(
                Alias::new("lease_expires_at"),
                Expr::val(rows::bind_time::<DB>(wall + LEASE)),
            )
            .value(
                Alias::new("started_at"),
                Expr::val(rows::bind_time::<DB>(job.started_at.unwrap_or(now))),
            )
            .value(
                Alias::new("error"),
                Expr::val(rows::bind_opt_text::<DB>(None)),
            )
            .and_where(col("id").eq(id))
            // Unchanged since it was read: a cancel or another instance's claim committed
            // in between makes this update match nothing (PostgreSQL reads committed data).
            .and_where(col("state").eq(job.state.as_str()))
            .and_where(observed),
    );
    if DB::execute(&mut transaction, sql, values).await? != 1 {
        return Err(StoreError::Conflict(format!(
            "job {id} was claimed by another worker at the same moment"
        )));
    }
    let job = load_job::<DB>(&mut transaction, id).await?;
    transaction.commit().await?;
    Ok(Some(job))
}

/// `record_id`s of the rows of `table` whose `owner` column is `key`, with ids in `(lo, hi]`.
fn record_ids_in(table: &str, owner: &str, key: i64, lo: i64, hi: i64) -> SelectStatement {
    let mut query = Query::select();
    query
        .column(Alias::new("record_id"))
        .from(Alias::new(table))
        .and_where(col(owner).eq(key))
        .and_where(col("record_id").gt(lo))
        .and_where(col("record_id").lte(hi));
    query
}

/// The members of a snapshot with ids in `(lo, hi]`.
pub(crate) fn members_in(snapshot: i64, lo: i64, hi: i64) -> SelectStatement {
    record_ids_in("lethe_snapshot_member", "snapshot_id", snapshot, lo, hi)
}

/// The members of this job in `(lo, hi]` that were skipped or blocked.
pub(crate) fn skipped_in(job: i64, lo: i64, hi: i64) -> SelectStatement {
    record_ids_in("lethe_job_skip", "job_id", job, lo, hi)
}

/// Records skipped members: `select` yields `(record_id, count, job_id, kind, entity,
/// reason)` rows.
pub(crate) async fn insert_skips<DB: Dialect>(
    connection: &mut DB::Connection,
    select: SelectStatement,
) -> Result<u64, StoreError> {
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("lethe_job_skip"))
        .columns(["record_id", "count", "job_id", "kind", "entity", "reason"].map(Alias::new))
        .select_from(select)
        .map_err(|error| StoreError::Internal(format!("building a skip insert: {error}")))?;
    let (sql, values) = DB::build(&insert);
    Ok(DB::execute(connection, sql, values).await?)
}

impl Batch<'_> {
    /// Records as skipped (`kind`, `reason`) the members of this batch that have no row in
    /// the member entity matching `keep` (or no row at all when `keep` is `None`).
    pub(crate) async fn skip_missing<DB: Dialect>(
        &self,
        connection: &mut DB::Connection,
        keep: Option<Expr>,
        kind: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut present = Query::select();
        present
            .column(Alias::new(lethe_schema::builtin::ID))
            .from(Alias::new(self.plan.root.as_str()))
            .and_where(col(lethe_schema::builtin::ID).gt(self.lo))
            .and_where(col(lethe_schema::builtin::ID).lte(self.hi));
        if let Some(keep) = keep {
            present.and_where(keep);
        }
        let mut missing = self.members();
        missing
            .and_where(col("record_id").not_in_subquery(present))
            .expr(Expr::val(1i64))
            .expr(Expr::val(self.job))
            .expr(Expr::val(kind))
            .expr(Expr::val(rows::bind_opt_text::<DB>(None)))
            .expr(Expr::val(reason));
        insert_skips::<DB>(connection, missing).await?;
        Ok(())
    }

    /// Records as skipped (`kind`, `reason`) the members of this batch whose row matches
    /// `condition`.
    pub(crate) async fn skip_matching<DB: Dialect>(
        &self,
        connection: &mut DB::Connection,
        condition: Expr,
        kind: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut matching = Query::select();
        matching
            .column(Alias::new(lethe_schema::builtin::ID))
            .expr(Expr::val(1i64))
            .expr(Expr::val(self.job))
            .expr(Expr::val(kind))
            .expr(Expr::val(rows::bind_opt_text::<DB>(None)))
            .expr(Expr::val(reason))
            .from(Alias::new(self.plan.root.as_str()))
            .and_where(col(lethe_schema::builtin::ID).in_subquery(self.members()))
            .and_where(condition);
        insert_skips::<DB>(connection, matching).await?;
        Ok(())
    }

    /// The running totals of skipped and blocked members of this batch.
    pub(crate) async fn skip_totals<DB: Dialect>(
        &self,
        connection: &mut DB::Connection,
    ) -> Result<super::Totals, StoreError> {
        Ok(super::Totals {
            skipped: count_skips::<DB>(connection, self.job, self.lo, self.hi, false).await?,
            blocked: count_skips::<DB>(connection, self.job, self.lo, self.hi, true).await?,
            ..super::Totals::default()
        })
    }
}

/// How many distinct members of `(lo, hi]` were skipped with this kind.
pub(crate) async fn count_skips<DB: Dialect>(
    connection: &mut DB::Connection,
    job: i64,
    lo: i64,
    hi: i64,
    blocked: bool,
) -> Result<u64, StoreError> {
    let mut query = Query::select();
    query
        .expr(Expr::cust("COUNT(DISTINCT record_id)"))
        .from(Alias::new("lethe_job_skip"))
        .and_where(col("job_id").eq(job))
        .and_where(col("record_id").gt(lo))
        .and_where(col("record_id").lte(hi));
    if blocked {
        query.and_where(col("kind").eq("blocked"));
    } else {
        query.and_where(col("kind").ne("blocked"));
    }
    let (sql, values) = DB::build(&query);
    let row = DB::fetch_optional(connection, sql, values).await?;
    match row {
        Some(row) => rows::count::<DB>(&row, 0),
        None => Ok(0),
    }
}

pub(crate) async fn list_skips<DB: Dialect>(
    pool: &Pool<DB>,
    job: i64,
    limit: u64,
) -> Result<Vec<Skip>, StoreError> {
    let mut connection = pool.acquire().await?;
    skips_of::<DB>(&mut connection, job, limit).await
}

/// The first `limit` skipped members of a job, by member id.
pub(crate) async fn skips_of<DB: Dialect>(
    connection: &mut DB::Connection,
    job: i64,
    limit: u64,
) -> Result<Vec<Skip>, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .columns(["record_id", "kind", "entity", "count", "reason"].map(Alias::new))
            .from(Alias::new("lethe_job_skip"))
            .and_where(col("job_id").eq(job))
            .order_by(Alias::new("record_id"), Order::Asc)
            .limit(limit),
    );
    let found = DB::fetch_all(connection, sql, values).await?;
    found
        .iter()
        .map(|row| {
            Ok(Skip {
                record_id: rows::int::<DB>(row, 0)?.unwrap_or(0),
                kind: rows::text::<DB>(row, 1)?.unwrap_or_default(),
                entity: rows::text::<DB>(row, 2)?,
                count: rows::count::<DB>(row, 3)?,
                reason: rows::text::<DB>(row, 4)?.unwrap_or_default(),
            })
        })
        .collect()
}

/// What one batch works on.
pub(crate) struct Batch<'a> {
    pub schema: &'a Schema,
    pub plan: &'a lethe_plan::Plan,
    pub payload: &'a JobPayload,
    pub job: i64,
    /// The key of the `hash` anonymisation, when one was given.
    pub hash_key: Option<&'a str>,
    /// Member ids in `(lo, hi]`.
    pub lo: i64,
    pub hi: i64,
    pub now: OffsetDateTime,
}

impl Batch<'_> {
    pub(crate) fn members(&self) -> SelectStatement {
        members_in(self.payload.snapshot_id, self.lo, self.hi)
    }

    pub(crate) fn skipped(&self) -> SelectStatement {
        skipped_in(self.job, self.lo, self.hi)
    }

    pub(crate) fn actor(&self) -> &Actor {
        &self.payload.actor
    }
}

/// The next batch after `cursor`: its last member id and its size.
async fn next_batch<DB: Dialect>(
    connection: &mut DB::Connection,
    snapshot: i64,
    cursor: i64,
    size: u64,
) -> Result<Option<(i64, u64)>, StoreError> {
    let mut inner = Query::select();
    inner
        .column(Alias::new("record_id"))
        .from(Alias::new("lethe_snapshot_member"))
        .and_where(col("snapshot_id").eq(snapshot))
        .and_where(col("record_id").gt(cursor))
        .order_by(Alias::new("record_id"), Order::Asc)
        .limit(size);
    let (sql, values) = DB::build(
        Query::select()
            .expr(Expr::cust("MAX(record_id)"))
            .expr(Expr::cust("COUNT(*)"))
            .from_subquery(inner, Alias::new("next_batch")),
    );
    let Some(row) = DB::fetch_optional(connection, sql, values).await? else {
        return Ok(None);
    };
    let count = rows::count::<DB>(&row, 1)?;
    match rows::int::<DB>(&row, 0)? {
        Some(hi) if count > 0 => Ok(Some((hi, count))),
        _ => Ok(None),
    }
}

/// Runs jobs to completion, a batch per transaction.
#[derive(Debug, Clone)]
pub struct JobRunner {
    owner: String,
}

impl Default for JobRunner {
    /// A runner with a name of its own (`host:pid:nonce:n`): two runners in one process (the
    /// server's worker loop and a request that starts a job) never both hold a job.
    fn default() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        JobRunner {
            owner: format!("{}:{number}", lease_owner()),
        }
    }
}

impl JobRunner {
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

/// What a run carries from batch to batch: the settings, and the erased values a purge
/// looks for in the database files afterwards (in memory only, bounded).
pub(crate) struct RunContext {
    pub settings: super::LifecycleSettings,
    /// Seals the history entries the run appends.
    pub history_key: crate::HistoryKey,
    pub probe: super::purge::ErasureProbe,
    /// Whether this run continued a job that had already committed batches (after a stop):
    /// then the erased values of those batches are not known to it.
    pub resumed: bool,
}

/// What one step did.
enum Stepped {
    Batch(Box<JobRow>),
    /// No members are left: the job only needs finishing.
    Exhausted,
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
    clock: &crate::Clock,
    settings: &super::LifecycleSettings,
    history_key: &crate::HistoryKey,
    id: i64,
    owner: &str,
    progress: &mut (dyn FnMut(&Job) + Send),
) -> Result<Job, StoreError> {
    let Some(mut job) = claim::<DB>(pool, id, owner, clock.now()).await? else {
        let mut connection = pool.acquire().await?;
        return Ok(load_job::<DB>(&mut connection, id)
            .await?
            .to_job(clock.now()));
    };
    let _heartbeat = Heartbeat::start::<DB>(pool.clone(), id, owner.to_owned());
    let operation = match job.kind {
        JobKind::Purge => lethe_plan::Operation::Purge,
        _ => lethe_plan::Operation::Trash,
    };
    let plan = lethe_plan::plan(schema, &job.payload.entity, operation)
        .map_err(|error| StoreError::BadRequest(error.to_string()))?;
    let mut context = RunContext {
        settings: settings.clone(),
        history_key: history_key.clone(),
        probe: super::purge::ErasureProbe::default(),
        resumed: job.done > 0,
    };
    progress(&job.to_job(clock.now()));
    if job.kind == JobKind::Purge
        && let Err(error) =
            super::purge::check_files_folder(schema, &plan, &context.settings, job.id)
    {
        fail::<DB>(pool, history_key, &job, owner, &error, clock.now()).await;
        return Err(error);
    }
    loop {
        let outcome: Result<JobRow, StoreError> = async {
            if job.kind == JobKind::Purge {
                let tally =
                    super::purge::erase_files::<DB>(pool, schema, job.id, &context.settings)
                        .await?;
                context.probe.files.merge(tally);
            }
            match step::<DB>(pool, schema, &plan, &job, owner, clock.now(), &mut context).await? {
                Stepped::Batch(next) => Ok(*next),
                Stepped::Exhausted => {
                    let receipt = if job.kind == JobKind::Purge {
                        Some(
                            super::purge::make_physical::<DB>(
                                pool,
                                schema,
                                &plan,
                                &job,
                                &mut context,
                            )
                            .await?,
                        )
                    } else {
                        None
                    };
                    finish::<DB>(pool, history_key, &plan, &job, owner, clock.now(), receipt).await
                }
            }
        }
        .await;
        match outcome {
            Ok(next) => {
                job = next;
                progress(&job.to_job(clock.now()));
                if job.state.is_finished() {
                    // A purge analyses the tables it touched itself (for its receipt). An
                    // update or anonymise counts what it changed as `rewritten`.
                    if job.kind != JobKind::Purge {
                        let mut changed = job.totals.counts.clone();
                        for (entity, count) in &job.totals.rewritten {
                            *changed.entry(entity.clone()).or_default() += count;
                        }
                        for (entity, count) in &changed {
                            if let Some(entity) = schema.entity(entity) {
                                let table = entity.name.as_str();
                                crate::statistics::after_write(pool, table, *count).await;
                            }
                        }
                    }
                    return Ok(job.to_job(clock.now()));
                }
            }
            Err(error) => {
                fail::<DB>(pool, history_key, &job, owner, &error, clock.now()).await;
                return Err(error);
            }
        }
    }
}

/// Keeps a claimed job's lease alive while this worker runs it, also through steps longer
/// than the lease (a PostgreSQL table rewrite after a purge, a slow batch); stops when
/// dropped. A worker that dies stops renewing, and its job is taken over when the lease
/// runs out.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    fn start<DB: Dialect>(pool: Pool<DB>, id: i64, owner: String) -> Heartbeat {
        Heartbeat(tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE / 4).await;
                let (sql, values) = DB::build(
                    Query::update()
                        .table(Alias::new("lethe_job"))
                        .value(
                            Alias::new("lease_expires_at"),
                            Expr::val(rows::bind_time::<DB>(wall_clock() + LEASE)),
                        )
                        .and_where(col("id").eq(id))
                        .and_where(col("lease_owner").eq(owner.as_str())),
                );
                let renewed = match pool.acquire().await {
                    Ok(mut connection) => DB::execute(&mut connection, sql, values).await,
                    Err(error) => Err(error),
                };
                match renewed {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(job = id, %error, "could not renew the job's lease");
                    }
                }
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Checks, inside a batch's transaction, that this worker still holds the job and nobody
/// has moved it on.
async fn check_lease<DB: Dialect>(
    connection: &mut DB::Connection,
    job: &JobRow,
    owner: &str,
) -> Result<(), StoreError> {
    let current = load_job::<DB>(connection, job.id).await?;
    if current.lease_owner.as_deref() != Some(owner) || current.done != job.done {
        return Err(StoreError::Conflict(format!(
            "job {} was taken over by another worker; it continues there",
            job.id
        )));
    }
    Ok(())
}

/// The last step: kind-specific completion, the job marked done and the `executed` history
/// entry, in one transaction.
#[allow(clippy::too_many_arguments)]
async fn finish<DB: Dialect>(
    pool: &Pool<DB>,
    history_key: &crate::HistoryKey,
    plan: &lethe_plan::Plan,
    job: &JobRow,
    owner: &str,
    now: OffsetDateTime,
    receipt: Option<serde_json::Value>,
) -> Result<JobRow, StoreError> {
    let mut transaction = begin_write(pool).await?;
    check_lease::<DB>(&mut transaction, job, owner).await?;
    match &job.payload.work {
        Work::Trash { batch } => {
            super::trash::finish::<DB>(&mut transaction, job, *batch, now).await?
        }
        Work::Restore { batch } => {
            super::restore::finish::<DB>(&mut transaction, plan, job, *batch).await?
        }
        Work::Purge { batch, .. } => {
            super::purge::finish::<DB>(&mut transaction, plan, job, *batch, now).await?
        }
        Work::Anonymize | Work::Update { .. } => {}
    }
    let mut totals = job.totals.clone();
    totals.receipt = receipt.clone();
    let totals_json = serde_json::to_value(&totals)
        .map_err(|error| StoreError::Internal(format!("job totals: {error}")))?;
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_job"))
            .value(Alias::new("state"), JobState::Done.as_str())
            .value(
                Alias::new("result"),
                Expr::val(rows::bind_json::<DB>(totals_json)),
            )
            .value(
                Alias::new("finished_at"),
                Expr::val(rows::bind_time::<DB>(now)),
            )
            .value(
                Alias::new("lease_owner"),
                Expr::val(rows::bind_opt_text::<DB>(None)),
            )
            .value(
                Alias::new("lease_expires_at"),
                Expr::val(rows::bind_opt_time::<DB>(None)),
            )
            .and_where(col("id").eq(job.id)),
    );
    DB::execute(&mut transaction, sql, values).await?;
    crate::history::append::<DB>(
        &mut transaction,
        history_key,
        now,
        &job.payload.actor,
        &format!("{}.executed", job.kind.as_str()),
        Some(&job.payload.entity),
        serde_json::json!({
            "job": job.id,
            "batch": job.payload.deletion_batch(),
            "members": job.total,
            "counts": job.totals.counts,
            "rewritten": job.totals.rewritten,
            "skipped": job.totals.skipped,
            "blocked": job.totals.blocked,
            "receipt": receipt,
        }),
    )
    .await?;
    let finished = load_job::<DB>(&mut transaction, job.id).await?;
    transaction.commit().await?;
    Ok(finished)
}

/// One batch in its own transaction; returns the job as committed.
async fn step<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
    plan: &lethe_plan::Plan,
    job: &JobRow,
    owner: &str,
    now: OffsetDateTime,
    context: &mut RunContext,
) -> Result<Stepped, StoreError> {
    let mut transaction = begin_write(pool).await?;
    check_lease::<DB>(&mut transaction, job, owner).await?;
    let next = next_batch::<DB>(
        &mut transaction,
        job.payload.snapshot_id,
        job.cursor,
        std::cmp::Ord::max(job.batch_size, 1),
    )
    .await?;
    let Some((hi, members)) = next else {
        transaction.rollback().await?;
        return Ok(Stepped::Exhausted);
    };
    let hash_key = context.settings.hash_key.clone();
    let batch = Batch {
        schema,
        plan,
        payload: &job.payload,
        job: job.id,
        hash_key: hash_key.as_deref(),
        lo: job.cursor,
        hi,
        now,
    };
    let totals = match &job.payload.work {
        Work::Trash { batch: into } => {
            super::trash::batch::<DB>(&mut transaction, &batch, *into).await?
        }
        Work::Restore { batch: from } => {
            super::restore::batch::<DB>(&mut transaction, &batch, *from).await?
        }
        Work::Purge { batch: erasing, .. } => {
            super::purge::batch::<DB>(&mut transaction, &batch, *erasing, context).await?
        }
        Work::Anonymize => super::purge::anonymize_batch::<DB>(&mut transaction, &batch).await?,
        Work::Update { changes } => {
            super::update::batch::<DB>(&mut transaction, &batch, changes).await?
        }
    };
    let mut running = job.totals.clone();
    running.add(&totals);
    let running_json = serde_json::to_value(&running)
        .map_err(|error| StoreError::Internal(format!("job totals: {error}")))?;
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_job"))
            .value(
                Alias::new("cursor"),
                Expr::val(rows::bind_json::<DB>(serde_json::json!(hi))),
            )
            .value(
                Alias::new("done"),
                Expr::val(i64::try_from(job.done + members).unwrap_or(i64::MAX)),
            )
            .value(
                Alias::new("result"),
                Expr::val(rows::bind_json::<DB>(running_json)),
            )
            .value(
                Alias::new("lease_expires_at"),
                Expr::val(rows::bind_time::<DB>(wall_clock() + LEASE)),
            )
            .and_where(col("id").eq(job.id))
            .and_where(col("lease_owner").eq(owner))
            .and_where(col("done").eq(i64::try_from(job.done).unwrap_or(i64::MAX))),
    );
    if DB::execute(&mut transaction, sql, values).await? != 1 {
        return Err(StoreError::Conflict(format!(
            "job {} was taken over by another worker; it continues there",
            job.id
        )));
    }
    crate::history::append::<DB>(
        &mut transaction,
        &context.history_key,
        now,
        &job.payload.actor,
        &format!("{}.batch", job.kind.as_str()),
        Some(&job.payload.entity),
        serde_json::json!({
            "job": job.id,
            "batch": job.payload.deletion_batch(),
            "members": members,
            "member_ids": {"after": job.cursor, "up_to": hi},
            "counts": totals.counts,
            "rewritten": totals.rewritten,
            "skipped": totals.skipped,
            "blocked": totals.blocked,
        }),
    )
    .await?;
    let updated = load_job::<DB>(&mut transaction, job.id).await?;
    transaction.commit().await?;
    Ok(Stepped::Batch(Box::new(updated)))
}

/// Marks a job failed after an error (best effort: the error itself is what is reported).
async fn fail<DB: Dialect>(
    pool: &Pool<DB>,
    history_key: &crate::HistoryKey,
    job: &JobRow,
    owner: &str,
    error: &StoreError,
    now: OffsetDateTime,
) {
    if matches!(error, StoreError::Conflict(_) | StoreError::Transition(_)) {
        // Another worker has the job; it is not failed.
        return;
    }
    let message = match error {
        StoreError::Database(inner) => format!("{error}: {inner}"),
        other => other.to_string(),
    };
    let result: Result<(), StoreError> = async {
        let mut transaction = begin_write(pool).await?;
        let (sql, values) = DB::build(
            Query::update()
                .table(Alias::new("lethe_job"))
                .value(Alias::new("state"), JobState::Failed.as_str())
                .value(Alias::new("error"), message.as_str())
                .value(
                    Alias::new("lease_owner"),
                    Expr::val(rows::bind_opt_text::<DB>(None)),
                )
                .value(
                    Alias::new("lease_expires_at"),
                    Expr::val(rows::bind_opt_time::<DB>(None)),
                )
                .and_where(col("id").eq(job.id))
                .and_where(col("lease_owner").eq(owner)),
        );
        DB::execute(&mut transaction, sql, values).await?;
        crate::history::append::<DB>(
            &mut transaction,
            history_key,
            now,
            &job.payload.actor,
            &format!("{}.failed", job.kind.as_str()),
            Some(&job.payload.entity),
            serde_json::json!({"job": job.id, "batch": job.payload.deletion_batch(), "error": message}),
        )
        .await?;
        if job.kind == JobKind::Purge {
            // Every admin hears of it: a purge that stopped leaves erased records' files or
            // whole members waiting until someone fixes the cause and resumes it.
            let notice = format!(
                "Purge of deletion batch {} failed (job {}) after {} of {} member(s): {message}",
                job.payload
                    .deletion_batch()
                    .map_or_else(|| "?".to_owned(), |batch| batch.to_string()),
                job.id,
                job.done,
                job.total,
            );
            super::purge::notify_admins::<DB>(
                &mut transaction,
                "purge_failed",
                &notice,
                job.id,
                now,
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }
    .await;
    if let Err(inner) = result {
        tracing::error!(job = job.id, error = %inner, "could not record a job's failure");
    }
}

/// Makes a failed job runnable again.
pub(crate) async fn resume<DB: Dialect>(
    pool: &Pool<DB>,
    history_key: &crate::HistoryKey,
    id: i64,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = begin_write(pool).await?;
    let job = load_job::<DB>(&mut transaction, id).await?;
    lethe_domain::policy::resume_job(
        actor,
        id,
        job.kind == JobKind::Purge,
        job.payload.actor.user_id,
    )?;
    if job.state.resume(id)? == Resume::AlreadyRunnable {
        return Ok(());
    }
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_job"))
            .value(Alias::new("state"), JobState::Queued.as_str())
            .value(
                Alias::new("error"),
                Expr::val(rows::bind_opt_text::<DB>(None)),
            )
            .and_where(col("id").eq(id))
            .and_where(col("state").eq(JobState::Failed.as_str())),
    );
    if DB::execute(&mut transaction, sql, values).await? == 1 {
        crate::history::append::<DB>(
            &mut transaction,
            history_key,
            now,
            actor,
            &format!("{}.resumed", job.kind.as_str()),
            Some(&job.payload.entity),
            serde_json::json!({
                "job": id,
                "batch": job.payload.deletion_batch(),
                "done": job.done,
                "total": job.total,
                "error": job.error,
            }),
        )
        .await?;
    }
    transaction.commit().await?;
    Ok(())
}
