//! A job as stored in `lethe_job` and as users see it: decoding, listing, inserting.

use schemars::JsonSchema;
use std::collections::BTreeMap;

use lethe_db::dialect::Dialect;
use lethe_db::{StoreError, col, rows};
use lethe_domain::job::{JobKind, JobPayload};
use lethe_domain::state::JobState;
use lethe_domain::value::format_timestamp;
use sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use serde::{Deserialize, Serialize};
use sqlx::Pool;
use time::OffsetDateTime;

/// A job as users see it: what it does, how far it is, what it did.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Job {
    /// Follow the job at `/api/v1/jobs/{id}`.
    pub id: i64,
    pub kind: JobKind,
    pub state: JobState,
    /// The entity of the members.
    pub entity: String,
    /// The deletion batch the job fills (trash) or empties (restore).
    pub batch_id: Option<i64>,
    /// The snapshot of the members; none for an import (it writes staged rows).
    pub snapshot_id: Option<i64>,
    /// Members handled so far (acted on, skipped or blocked).
    pub done: u64,
    /// Members in the snapshot.
    pub total: u64,
    /// Records changed so far, per entity type.
    pub counts: BTreeMap<String, u64>,
    /// Members skipped because their state changed since the snapshot.
    pub skipped: u64,
    /// Members blocked by a rule (`restrict`, a purge precondition, a parent in the trash).
    pub blocked: u64,
    /// Records kept but changed, per entity type: links cut (`set_null`) or pointed at the
    /// "Deleted User" with personal fields anonymised, and anonymised members.
    pub rewritten: BTreeMap<String, u64>,
    /// For a purge: when its grace period ends and it may run.
    #[schemars(extend("format" = "date-time"))]
    pub not_before: Option<String>,
    /// For a purge, once it has run: the erasure receipt, an object saying what was erased
    /// and what was checked (the history's head, files removed, what the database files
    /// still held).
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub receipt: Option<serde_json::Value>,
    /// Why, as given. A personal value of the members it was about is replaced by
    /// `[erased]`, because the reason outlives them.
    pub reason: Option<String>,
    /// What the members were picked from, in words; values compared with personal fields are
    /// keyed tags (`hash:…`), never the values.
    pub source: String,
    /// Who started it, by name (`operator`, `scheduler` or a user's name).
    pub actor: String,
    /// The user who started the job; null: the operator or Lethe itself (the scheduler). A
    /// user sees only their own jobs, an admin every job.
    pub started_by: Option<i64>,
    /// Members per transaction.
    pub batch_size: u64,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub started_at: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub finished_at: Option<String>,
    /// Why the job failed, when it has.
    pub error: Option<String>,
    /// Members per second since the job started.
    pub rate_per_second: Option<f64>,
    /// At that rate, the time left.
    pub seconds_left: Option<f64>,
}

impl Job {
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }
}

/// Running totals, kept in the job's `result`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub counts: BTreeMap<String, u64>,
    pub skipped: u64,
    pub blocked: u64,
    #[serde(default)]
    pub rewritten: BTreeMap<String, u64>,
    #[serde(default)]
    pub receipt: Option<serde_json::Value>,
}

impl Totals {
    pub fn add(&mut self, other: &Totals) {
        for (entity, count) in &other.counts {
            *self.counts.entry(entity.clone()).or_default() += count;
        }
        for (entity, count) in &other.rewritten {
            *self.rewritten.entry(entity.clone()).or_default() += count;
        }
        self.skipped += other.skipped;
        self.blocked += other.blocked;
    }
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
pub struct JobRow {
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
    pub fn to_job(&self, now: OffsetDateTime) -> Job {
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

pub fn decode_job<DB: Dialect>(row: &DB::Row) -> Result<JobRow, StoreError> {
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

pub fn select_jobs() -> SelectStatement {
    let mut query = Query::select();
    query
        .columns(JOB_COLUMNS.map(Alias::new))
        .from(Alias::new("lethe_job"));
    query
}

pub async fn load_job<DB: Dialect>(
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

pub async fn list_jobs<DB: Dialect>(
    pool: &Pool<DB>,
    limit: u64,
) -> Result<Vec<JobRow>, StoreError> {
    fetch_jobs::<DB>(pool, None, Order::Desc, limit).await
}

/// The jobs `user` started, newest first.
pub async fn list_started_by<DB: Dialect>(
    pool: &Pool<DB>,
    user: i64,
    limit: u64,
) -> Result<Vec<JobRow>, StoreError> {
    fetch_jobs::<DB>(pool, Some(col("created_by").eq(user)), Order::Desc, limit).await
}

/// Jobs matching `condition`, oldest first.
pub async fn list_where<DB: Dialect>(
    pool: &Pool<DB>,
    condition: Expr,
    limit: u64,
) -> Result<Vec<JobRow>, StoreError> {
    fetch_jobs::<DB>(pool, Some(condition), Order::Asc, limit).await
}

/// Jobs matching `condition`, newest first.
pub async fn list_where_newest_first<DB: Dialect>(
    pool: &Pool<DB>,
    condition: Expr,
    limit: u64,
) -> Result<Vec<JobRow>, StoreError> {
    fetch_jobs::<DB>(pool, Some(condition), Order::Desc, limit).await
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

/// Inserts a new job and returns its id.
pub async fn insert_job<DB: Dialect>(
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
