//! Who runs a job: a worker takes a job's lease (`lease_owner`, `lease_expires_at`) when it
//! claims it, renews it with a heartbeat while it runs, and every batch checks it again
//! inside its own transaction, so two workers never both apply a batch. A worker that dies
//! leaves its lease behind: it is taken over when it expires, or at once when the owner was
//! a process on this machine that no longer exists (`kill -9` of the CLI).

use std::sync::OnceLock;
use std::time::Duration;

use lethe_db::dialect::{Backend, Dialect, begin_write};
use lethe_db::{StoreError, col, rows};
use lethe_domain::state::{Claim, JobState};
use lethe_domain::value::{format_timestamp, truncate_to_micros};
use sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, Order, Query};
use sqlx::Pool;
use time::OffsetDateTime;

use crate::row::{JobRow, decode_job, load_job, select_jobs};

/// How long a claimed job stays reserved without a batch committing.
pub const LEASE: Duration = Duration::from_secs(60);

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
pub fn wall_clock() -> OffsetDateTime {
    truncate_to_micros(OffsetDateTime::now_utc())
}

/// Ids of jobs a worker could run now: queued, or running under a lease that has run out or
/// whose owner is gone.
pub async fn runnable_jobs<DB: Dialect>(
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

/// Takes the job's lease for `owner`. `None` when the job has nothing left to do.
pub async fn claim<DB: Dialect>(
    pool: &Pool<DB>,
    id: i64,
    owner: &str,
    now: OffsetDateTime,
) -> Result<Option<JobRow>, StoreError> {
    let mut transaction = begin_write(pool).await?;
    if DB::BACKEND == Backend::Postgres {
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
            return Err(StoreError::JobElsewhere {
                job: id,
                message: format!("job {id} is being claimed by another worker at this moment"),
            });
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
        return Err(StoreError::JobElsewhere {
            job: id,
            message: format!(
                "job {id} is being run by {} (lease until {}); it is taken over if that worker stops",
                job.lease_owner.as_deref().unwrap_or("another worker"),
                job.lease_expires_at
                    .map(format_timestamp)
                    .unwrap_or_default()
            ),
        });
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
        return Err(StoreError::JobElsewhere {
            job: id,
            message: format!("job {id} was claimed by another worker at the same moment"),
        });
    }
    let job = load_job::<DB>(&mut transaction, id).await?;
    transaction.commit().await?;
    Ok(Some(job))
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

/// Keeps a claimed job's lease alive while this worker runs it, also through steps longer
/// than the lease (a PostgreSQL table rewrite after a purge, a slow batch); stops when
/// dropped. A worker that dies stops renewing, and its job is taken over when the lease
/// runs out.
#[derive(Debug)]
pub struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    pub fn start<DB: Dialect>(pool: Pool<DB>, id: i64, owner: String) -> Heartbeat {
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
pub async fn check_lease<DB: Dialect>(
    connection: &mut DB::Connection,
    job: &JobRow,
    owner: &str,
) -> Result<(), StoreError> {
    let current = load_job::<DB>(connection, job.id).await?;
    if current.lease_owner.as_deref() != Some(owner) || current.done != job.done {
        return Err(StoreError::JobElsewhere {
            job: job.id,
            message: format!(
                "job {} was taken over by another worker; it continues there",
                job.id
            ),
        });
    }
    Ok(())
}
