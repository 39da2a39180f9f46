//! Purge (permanent deletion, SPEC §3, §6, §11) and anonymise-instead-of-delete: requests,
//! the grace period and cancelling, the end of a purge, and the scheduler's overdue batches.
//!
//! A purge is requested for a deletion batch by an admin; it stays *pending* for a grace
//! period during which any admin may cancel it; then a job erases the batch's members that
//! are still in it ([`erase`]), removes their files ([`files`]) and makes the erasure
//! physical, with a receipt ([`physical`]).

mod erase;
mod files;
mod physical;

pub(in crate::lifecycle) use erase::{anonymize_batch, batch};
pub(in crate::lifecycle) use files::{check_files_folder, erase_files};
pub(in crate::lifecycle) use physical::{ErasureProbe, make_physical};

use lethe_plan::Plan;
use lethe_schema::builtin;
use sea_query::{Alias, Expr, ExprTrait, Order, Query};

use sqlx::Pool;
use time::OffsetDateTime;

use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::lifecycle::jobs::{JobRow, NewJob};
use crate::lifecycle::paths::{col, qualified};
use crate::lifecycle::{BatchState, JobKind, JobPayload, JobState, Work};
use crate::notifications::{Recipients, notify};
use crate::rows;
use crate::users::Actor;
use crate::value::format_timestamp;
use lethe_domain::notification::NotificationKind;

/// After the last batch: the batch is purged (or back to trashed when blocked members stay);
/// every admin hears about it.
pub(in crate::lifecycle) async fn finish<DB: Dialect>(
    connection: &mut DB::Connection,
    plan: &Plan,
    job: &JobRow,
    deletion_batch: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let left = super::restore::left_in_batch::<DB>(connection, plan, deletion_batch).await?;
    let erased: u64 = job.totals.counts.values().sum();
    // Members a rule kept (a `restrict` child, a purge precondition) leave the batch held:
    // still in the trash and restorable, but not purged again by the retention window until
    // an admin asks, and its requester is told once.
    let state = BatchState::purged(left, erased, job.totals.blocked);
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_deletion_batch"))
            .value(Alias::new("state"), state.as_str())
            .value(
                Alias::new("held_by_job"),
                Expr::val(rows::bind_opt_int::<DB>(
                    (state == BatchState::Held).then_some(job.id),
                )),
            )
            .and_where(col("id").eq(deletion_batch)),
    );
    DB::execute(connection, sql, values).await?;
    let message = format!(
        "Purge of deletion batch {deletion_batch} done (job {}): {erased} record(s) erased, {} member(s) kept in the trash (blocked {}, changed {}).",
        job.id,
        job.totals.blocked + job.totals.skipped,
        job.totals.blocked,
        job.totals.skipped
    );
    notify::<DB>(
        connection,
        Recipients::Admins,
        NotificationKind::PurgeExecuted,
        &message,
        Some(job.id),
        now,
    )
    .await?;
    if state == BatchState::Held
        && let Some(requester) = job.payload.actor.user_id
    {
        let message = format!(
            "{} member(s) of deletion batch {deletion_batch} are held in the trash: a rule keeps them (see `lethe job show {}` for which and why). They stay restorable and are not purged again by the retention window; an admin may request their purge once the rule no longer holds.",
            job.totals.blocked, job.id
        );
        notify::<DB>(
            connection,
            Recipients::User(requester),
            NotificationKind::PurgeHeld,
            &message,
            Some(job.id),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Requests a purge of a deletion batch: a pending job that runs when the grace ends.
#[allow(clippy::too_many_arguments)]
pub(in crate::lifecycle) async fn request<DB: Dialect>(
    pool: &Pool<DB>,
    history_key: &crate::HistoryKey,
    deletion_batch: i64,
    actor: &Actor,
    grace: time::Duration,
    reason: Option<&str>,
    batch_size: u64,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    lethe_domain::policy::request_purge(actor)?;
    let mut transaction = begin_write(pool).await?;
    let batch = super::restore::load_batch::<DB>(&mut transaction, deletion_batch).await?;
    let Some(entity) = batch.entity.clone() else {
        return Err(StoreError::Conflict(format!(
            "deletion batch {deletion_batch} was not made by a trash job"
        )));
    };
    // A held batch is purged again only when an admin asks (after lifting what held it).
    let pending = batch.state.request_purge(deletion_batch)?;
    // Taken first and only from `trashed`: of two requests at the same moment (two admins,
    // or the schedulers of two instances), the second waits here for the first and then
    // finds the batch no longer in the trash state.
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_deletion_batch"))
            .value(Alias::new("state"), pending.as_str())
            .and_where(col("id").eq(deletion_batch))
            .and_where(col("state").eq(batch.state.as_str())),
    );
    if DB::execute(&mut transaction, sql, values).await? != 1 {
        return Err(StoreError::Conflict(format!(
            "a purge of deletion batch {deletion_batch} was requested at the same moment; see `lethe purge list`"
        )));
    }
    let snapshot = crate::snapshots::snapshot_where::<DB>(
        &mut transaction,
        &entity,
        "trashed",
        &format!("deletion batch {deletion_batch}"),
        "purge",
        qualified("t0", builtin::TRASH_BATCH_ID).eq(deletion_batch),
        actor.user_id,
        now,
    )
    .await?;
    if snapshot.member_count == 0 {
        return Err(StoreError::Conflict(format!(
            "nothing of deletion batch {deletion_batch} is in the trash any more"
        )));
    }
    let due = now + grace;
    let payload = JobPayload {
        entity: entity.clone(),
        snapshot_id: Some(snapshot.id),
        reason: reason.map(str::to_owned),
        source: snapshot.source.clone(),
        actor: actor.clone(),
        work: Work::Purge {
            batch: deletion_batch,
            grace_seconds: grace.whole_seconds(),
        },
    };
    let urgent = grace.is_zero();
    let job = super::jobs::start_job::<DB>(
        &mut transaction,
        history_key,
        NewJob {
            payload: &payload,
            members: snapshot.member_count,
            batch_size,
            not_before: Some(due),
            claim: None,
            details: serde_json::json!({
                "grace_seconds": grace.whole_seconds(),
                "due": format_timestamp(due),
                "urgent": urgent,
                "reason": reason,
            }),
        },
        now,
    )
    .await?;
    let message = format!(
        "{} requested a purge of deletion batch {deletion_batch} ({} {entity}){}; it runs at {} unless an admin cancels job {job}.",
        actor.name,
        snapshot.member_count,
        if urgent {
            " as an urgent erasure with no grace period"
        } else {
            ""
        },
        format_timestamp(due)
    );
    notify::<DB>(
        &mut transaction,
        Recipients::Admins,
        NotificationKind::PurgeRequested,
        &message,
        Some(job),
        now,
    )
    .await?;
    transaction.commit().await?;
    crate::statistics::after_write(pool, "lethe_snapshot_member", snapshot.member_count).await;
    Ok(job)
}

/// Cancels a pending purge; its batch stays in the trash.
pub(in crate::lifecycle) async fn cancel<DB: Dialect>(
    pool: &Pool<DB>,
    history_key: &crate::HistoryKey,
    job_id: i64,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    lethe_domain::policy::cancel_purge(actor)?;
    let mut transaction = begin_write(pool).await?;
    let job = super::jobs::load_job::<DB>(&mut transaction, job_id).await?;
    if job.kind != JobKind::Purge {
        return Err(StoreError::Conflict(format!(
            "job {job_id} is a {}, not a purge",
            job.kind.as_str()
        )));
    }
    let cancelled = job.state.cancel(job_id)?;
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_job"))
            .value(Alias::new("state"), cancelled.as_str())
            .value(
                Alias::new("finished_at"),
                Expr::val(rows::bind_time::<DB>(now)),
            )
            .and_where(col("id").eq(job_id))
            .and_where(col("state").eq(job.state.as_str())),
    );
    if DB::execute(&mut transaction, sql, values).await? != 1 {
        return Err(StoreError::Conflict(format!(
            "purge job {job_id} started at this very moment and can no longer be cancelled"
        )));
    }
    if let Some(deletion_batch) = job.payload.deletion_batch() {
        let pending = BatchState::PurgePending;
        let (sql, values) = DB::build(
            Query::update()
                .table(Alias::new("lethe_deletion_batch"))
                .value(Alias::new("state"), pending.purge_cancelled().as_str())
                .and_where(col("id").eq(deletion_batch))
                .and_where(col("state").eq(pending.as_str())),
        );
        DB::execute(&mut transaction, sql, values).await?;
    }
    crate::history::append::<DB>(
        &mut transaction,
        history_key,
        now,
        actor,
        "purge.cancelled",
        Some(&job.payload.entity),
        serde_json::json!({
            "job": job_id,
            "batch": job.payload.deletion_batch(),
            "cancelled_by": actor.name,
            "requested_by": job.payload.actor.name,
        }),
    )
    .await?;
    let message = format!(
        "{} cancelled the purge of deletion batch {} (job {job_id}); its records stay in the trash.",
        actor.name,
        job.payload.deletion_batch().unwrap_or(0)
    );
    notify::<DB>(
        &mut transaction,
        Recipients::Admins,
        NotificationKind::PurgeCancelled,
        &message,
        Some(job_id),
        now,
    )
    .await?;
    transaction.commit().await?;
    Ok(())
}

/// Creates the job that anonymises a snapshot's members.
pub(in crate::lifecycle) async fn start_anonymize<DB: Dialect>(
    pool: &Pool<DB>,
    history_key: &crate::HistoryKey,
    snapshot: &crate::snapshots::Snapshot,
    actor: &Actor,
    batch_size: u64,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let payload = JobPayload {
        entity: snapshot.entity.clone(),
        snapshot_id: Some(snapshot.id),
        reason: None,
        source: snapshot.source.clone(),
        actor: actor.clone(),
        work: Work::Anonymize,
    };
    let job = super::jobs::start_job::<DB>(
        &mut transaction,
        history_key,
        NewJob {
            payload: &payload,
            members: snapshot.member_count,
            batch_size,
            not_before: None,
            claim: Some(super::claims::Subject::Snapshot(snapshot.id)),
            details: serde_json::json!({}),
        },
        now,
    )
    .await?;
    transaction.commit().await?;
    Ok(job)
}

/// Batches in the trash longer than the retention window, with no purge pending.
pub(in crate::lifecycle) async fn overdue_batches<DB: Dialect>(
    pool: &Pool<DB>,
    cutoff: OffsetDateTime,
) -> Result<Vec<i64>, StoreError> {
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("lethe_deletion_batch"))
            .and_where(
                col("state").is_in(
                    BatchState::ALL
                        .into_iter()
                        .filter(|state| state.auto_purged())
                        .map(BatchState::as_str),
                ),
            )
            .and_where(col("entity").is_not_null())
            .and_where(col("created_at").lt(Expr::val(rows::bind_time::<DB>(cutoff))))
            .order_by(Alias::new("id"), Order::Asc)
            .limit(1_000),
    );
    let found = DB::fetch_all(&mut connection, sql, values).await?;
    let mut ids = Vec::new();
    for row in &found {
        if let Some(id) = rows::int::<DB>(row, 0)? {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Pending purges, oldest first.
pub(in crate::lifecycle) fn pending_filter() -> Expr {
    col("kind")
        .eq(JobKind::Purge.as_str())
        .and(col("state").eq(JobState::Pending.as_str()))
}

/// Purges past their grace period: every state but pending.
pub(in crate::lifecycle) fn not_pending_filter() -> Expr {
    col("kind")
        .eq(JobKind::Purge.as_str())
        .and(col("state").ne(JobState::Pending.as_str()))
}
