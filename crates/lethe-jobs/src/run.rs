//! Running a job: claim it, keep its lease alive, walk its snapshot a batch per transaction
//! (each kind's work, the cursor, the totals and the history entry commit together), finish
//! or fail it, and resume a failed one. What a batch does is the kind's ([`JobKinds`]).

use std::future::Future;
use std::time::Duration;

use lethe_db::dialect::{Dialect, begin_write};
use lethe_db::{StoreError, col, rows};
use lethe_domain::job::JobKind;
use lethe_domain::state::{JobState, Resume};
use lethe_domain::{Actor, Clock};
use lethe_history::HistoryKey;
use lethe_plan::Plan;
use lethe_schema::Schema;
use sea_query::{Alias, Expr, ExprTrait, Query};
use sqlx::Pool;
use time::OffsetDateTime;

use crate::batch::{Batch, next_batch};
use crate::lease::{Heartbeat, LEASE, check_lease, claim, wall_clock};
use crate::row::{Job, JobRow, Totals, load_job};

/// What each kind of job does; the queue runs it. One implementation answers for every kind
/// (it dispatches on the job's [`lethe_domain::job::Work`]), so a run is generic over it.
pub trait JobKinds<DB: Dialect>: Sync {
    /// What a run carries from batch to batch (for a purge: the erased values it looks for
    /// afterwards, the files removed).
    type Run: Send;

    /// The deletion plan the job's batches follow.
    fn plan(&self, job: &JobRow) -> Result<Plan, StoreError>;

    /// Before the first batch of this run: an error fails the job before anything changes.
    fn begin(&self, job: &JobRow, plan: &Plan) -> Result<Self::Run, StoreError>;

    /// Before each batch, outside its transaction (a purge removes the files of the records
    /// that committed batches erased).
    fn before_batch<'a>(
        &'a self,
        pool: &'a Pool<DB>,
        job: &'a JobRow,
        run: &'a mut Self::Run,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a;

    /// One batch, inside the transaction that also advances the cursor: the change for the
    /// batch's members and what the plan reaches from them, and the members skipped.
    fn batch<'a>(
        &'a self,
        connection: &'a mut DB::Connection,
        batch: &'a Batch<'a>,
        run: &'a mut Self::Run,
    ) -> impl Future<Output = Result<Totals, StoreError>> + Send + 'a;

    /// After the last batch, outside a transaction (a purge's physical step); returns what
    /// the job's result keeps as its receipt.
    fn after_last_batch<'a>(
        &'a self,
        pool: &'a Pool<DB>,
        plan: &'a Plan,
        job: &'a JobRow,
        run: &'a mut Self::Run,
    ) -> impl Future<Output = Result<Option<serde_json::Value>, StoreError>> + Send + 'a;

    /// Inside the transaction that marks the job done (the deletion batch's new state).
    fn finish<'a>(
        &'a self,
        connection: &'a mut DB::Connection,
        plan: &'a Plan,
        job: &'a JobRow,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a;

    /// Inside the transaction that marks the job failed (a purge tells every admin):
    /// `message` is the whole error, `said` Lethe's own words for it, without a database's
    /// text (for notifications, which leave Lethe).
    fn failed<'a>(
        &'a self,
        connection: &'a mut DB::Connection,
        job: &'a JobRow,
        message: &'a str,
        said: &'a str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a;

    /// After the job is done and committed (fresh planner statistics for what it changed).
    fn done<'a>(
        &'a self,
        pool: &'a Pool<DB>,
        job: &'a JobRow,
    ) -> impl Future<Output = ()> + Send + 'a;
}

/// What a run needs besides the job.
#[derive(Debug, Clone, Copy)]
pub struct RunWith<'a> {
    pub schema: &'a Schema,
    /// Seals the history entries the run appends.
    pub history_key: &'a HistoryKey,
    /// The worker's name on the lease.
    pub owner: &'a str,
}

/// What one step did.
enum Stepped {
    Batch(Box<JobRow>),
    /// No members are left: the job only needs finishing.
    Exhausted,
}

/// Runs job `id` to its end in this process, a batch per transaction, calling `progress`
/// after each. A job another live worker holds is refused; a dead worker's is taken over.
pub async fn run<DB: Dialect, K: JobKinds<DB>>(
    pool: &Pool<DB>,
    kinds: &K,
    with: RunWith<'_>,
    clock: &Clock,
    id: i64,
    progress: &mut (dyn FnMut(&Job) + Send),
) -> Result<Job, StoreError> {
    let Some(mut job) = claim::<DB>(pool, id, with.owner, clock.now()).await? else {
        let mut connection = pool.acquire().await?;
        return Ok(load_job::<DB>(&mut connection, id)
            .await?
            .to_job(clock.now()));
    };
    let _heartbeat = Heartbeat::start::<DB>(pool.clone(), id, with.owner.to_owned());
    let plan = kinds.plan(&job)?;
    progress(&job.to_job(clock.now()));
    let mut run = match kinds.begin(&job, &plan) {
        Ok(run) => run,
        Err(error) => {
            fail::<DB, K>(pool, kinds, with, &job, &error, clock.now()).await;
            return Err(error);
        }
    };
    loop {
        let outcome: Result<JobRow, StoreError> = async {
            kinds.before_batch(pool, &job, &mut run).await?;
            match step::<DB, K>(pool, kinds, with, &plan, &job, clock.now(), &mut run).await? {
                Stepped::Batch(next) => Ok(*next),
                Stepped::Exhausted => {
                    let receipt = kinds.after_last_batch(pool, &plan, &job, &mut run).await?;
                    finish::<DB, K>(pool, kinds, with, &plan, &job, clock.now(), receipt).await
                }
            }
        }
        .await;
        match outcome {
            Ok(next) => {
                job = next;
                progress(&job.to_job(clock.now()));
                if job.state.is_finished() {
                    kinds.done(pool, &job).await;
                    return Ok(job.to_job(clock.now()));
                }
            }
            Err(error) => {
                fail::<DB, K>(pool, kinds, with, &job, &error, clock.now()).await;
                return Err(error);
            }
        }
    }
}

/// The last step: the kind's completion, the job marked done and the `executed` history
/// entry, in one transaction.
async fn finish<DB: Dialect, K: JobKinds<DB>>(
    pool: &Pool<DB>,
    kinds: &K,
    with: RunWith<'_>,
    plan: &Plan,
    job: &JobRow,
    now: OffsetDateTime,
    receipt: Option<serde_json::Value>,
) -> Result<JobRow, StoreError> {
    let mut transaction = begin_write(pool).await?;
    check_lease::<DB>(&mut transaction, job, with.owner).await?;
    kinds.finish(&mut transaction, plan, job, now).await?;
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
            .values(released_lease::<DB>())
            .and_where(col("id").eq(job.id)),
    );
    DB::execute(&mut transaction, sql, values).await?;
    job_event::<DB>(
        &mut transaction,
        with.history_key,
        now,
        &job.payload.actor,
        job,
        "executed",
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
async fn step<DB: Dialect, K: JobKinds<DB>>(
    pool: &Pool<DB>,
    kinds: &K,
    with: RunWith<'_>,
    plan: &Plan,
    job: &JobRow,
    now: OffsetDateTime,
    run: &mut K::Run,
) -> Result<Stepped, StoreError> {
    let mut transaction = begin_write(pool).await?;
    check_lease::<DB>(&mut transaction, job, with.owner).await?;
    let next = next_batch::<DB>(
        &mut transaction,
        &job.payload,
        job.cursor,
        std::cmp::Ord::max(job.batch_size, 1),
    )
    .await?;
    let Some((hi, members)) = next else {
        transaction.rollback().await?;
        return Ok(Stepped::Exhausted);
    };
    let batch = Batch {
        schema: with.schema,
        plan,
        payload: &job.payload,
        job: job.id,
        lo: job.cursor,
        hi,
        now,
    };
    let totals = kinds.batch(&mut transaction, &batch, run).await?;
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
            .and_where(col("lease_owner").eq(with.owner))
            .and_where(col("done").eq(i64::try_from(job.done).unwrap_or(i64::MAX))),
    );
    if DB::execute(&mut transaction, sql, values).await? != 1 {
        return Err(StoreError::JobElsewhere {
            job: job.id,
            message: format!(
                "job {} was taken over by another worker; it continues there",
                job.id
            ),
        });
    }
    job_event::<DB>(
        &mut transaction,
        with.history_key,
        now,
        &job.payload.actor,
        job,
        "batch",
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
async fn fail<DB: Dialect, K: JobKinds<DB>>(
    pool: &Pool<DB>,
    kinds: &K,
    with: RunWith<'_>,
    job: &JobRow,
    error: &StoreError,
    now: OffsetDateTime,
) {
    if matches!(
        error,
        StoreError::JobElsewhere { .. } | StoreError::Transition(_)
    ) {
        // Another worker has the job, or its state moved on: it is not failed.
        return;
    }
    // A database error's own text (which can quote a value) follows Lethe's words in the
    // job's error only; notifications say Lethe's words.
    let said = error.to_string();
    let message = match error {
        StoreError::Database(inner) => format!("{said}: {inner}"),
        _ => said.clone(),
    };
    // The error that stopped the job may be the database going away; recording the failure
    // then waits for it to come back a little while, so that the job reads as failed (and can
    // be resumed) rather than as running under this worker's lease until the lease runs out.
    let mut wait = Duration::from_millis(50);
    let started = std::time::Instant::now();
    loop {
        match record_failure(pool, kinds, with, job, &message, &said, now).await {
            Ok(()) => return,
            Err(inner) if inner.connection_lost() && started.elapsed() < FAILURE_PATIENCE => {
                tracing::warn!(job = job.id, error = %inner, "recording a job's failure; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            Err(inner) => {
                tracing::error!(job = job.id, error = %inner, "could not record a job's failure");
                return;
            }
        }
    }
}

/// How long a worker keeps trying to record a job's failure while its connections to the
/// database are lost: well under [`LEASE`], after which another worker takes the job over.
const FAILURE_PATIENCE: Duration = Duration::from_secs(15);

async fn record_failure<DB: Dialect, K: JobKinds<DB>>(
    pool: &Pool<DB>,
    kinds: &K,
    with: RunWith<'_>,
    job: &JobRow,
    message: &str,
    said: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = begin_write(pool).await?;
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_job"))
            .value(Alias::new("state"), JobState::Failed.as_str())
            .value(Alias::new("error"), message)
            .values(released_lease::<DB>())
            .and_where(col("id").eq(job.id))
            .and_where(col("lease_owner").eq(with.owner)),
    );
    DB::execute(&mut transaction, sql, values).await?;
    job_event::<DB>(
        &mut transaction,
        with.history_key,
        now,
        &job.payload.actor,
        job,
        "failed",
        serde_json::json!({"job": job.id, "batch": job.payload.deletion_batch(), "error": message}),
    )
    .await?;
    kinds
        .failed(&mut transaction, job, message, said, now)
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// Makes a failed job runnable again: it continues after its last committed batch, and the
/// history records who resumed it (the policy says who may). A queued or running job is left
/// as it is; a finished, cancelled or still pending one is refused.
pub async fn resume<DB: Dialect>(
    pool: &Pool<DB>,
    history_key: &HistoryKey,
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
        job_event::<DB>(
            &mut transaction,
            history_key,
            now,
            actor,
            &job,
            "resumed",
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

/// The lease columns of a job that no worker holds any more.
fn released_lease<DB: Dialect>() -> [(Alias, Expr); 2] {
    [
        (
            Alias::new("lease_owner"),
            Expr::val(rows::bind_opt_text::<DB>(None)),
        ),
        (
            Alias::new("lease_expires_at"),
            Expr::val(rows::bind_opt_time::<DB>(None)),
        ),
    ]
}

/// Appends `KIND.EVENT` about `job` to the history (`batch`, `executed`, `failed`,
/// `resumed`), by `actor`, with `details`.
async fn job_event<DB: Dialect>(
    connection: &mut DB::Connection,
    history_key: &HistoryKey,
    now: OffsetDateTime,
    actor: &Actor,
    job: &JobRow,
    event: &str,
    details: serde_json::Value,
) -> Result<(), StoreError> {
    lethe_history::append::<DB>(
        connection,
        history_key,
        now,
        actor,
        &format!("{}.{event}", job.kind.as_str()),
        Some(&job.payload.entity),
        details,
    )
    .await?;
    Ok(())
}
