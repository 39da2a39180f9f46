//! Trash (soft delete): members and their `cascade` children leave every normal read as one
//! deletion batch. Members blocked by a `restrict` child are skipped and reported; records
//! already in the trash keep their own batch (SPEC §11).

use lethe_plan::{Check, Plan};
use lethe_schema::{ValueType, builtin};
use sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sqlx::Pool;
use time::OffsetDateTime;

use super::jobs::{Batch, JobRow, NewJob, insert_skips};
use super::paths::{
    StepFilter, and_all, block_reason, blocking_counts, blocking_joins, col, qualified, reached_by,
};
use super::{BatchState, EntityCount, JobPayload, PREVIEW_SAMPLE, Preview, Skip, Totals, Work};
use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::kept::keep_ids;
use crate::rows;
use crate::snapshots::Snapshot;
use crate::value::Value;

/// The members a check blocks among `roots_condition` (on `t0`), with the reason columns
/// `(record_id, count, job_id, kind, entity, reason)` for `lethe_job_skip`.
pub(super) fn blocked_rows(
    plan: &Plan,
    check: &Check,
    roots_condition: Expr,
    job: i64,
    filter: StepFilter,
) -> SelectStatement {
    let mut query = blocking_counts(plan.root.as_str(), check, roots_condition, filter, filter);
    query
        .expr(Expr::val(job))
        .expr(Expr::val("blocked"))
        .expr(Expr::val(check.target.entity.as_str()))
        .expr(Expr::val(block_reason(check)));
    query
}

fn set_trashed<DB: Dialect>(
    update: &mut sea_query::UpdateStatement,
    batch: i64,
    now: OffsetDateTime,
    actor: Option<i64>,
) {
    update
        .value(Alias::new(builtin::TRASH_BATCH_ID), batch)
        .value(
            Alias::new(builtin::TRASHED_AT),
            Expr::val(DB::bind_value(
                &ValueType::Timestamp,
                &Value::Timestamp(now),
            )),
        )
        .value(
            Alias::new(builtin::TRASHED_BY),
            Expr::val(rows::bind_opt_int::<DB>(actor)),
        );
}

/// One batch of a trash job.
pub(super) async fn batch<DB: Dialect>(
    connection: &mut DB::Connection,
    batch: &Batch<'_>,
    deletion_batch: i64,
) -> Result<Totals, StoreError> {
    let root = batch.plan.root.as_str();
    let id = || col(builtin::ID);
    batch
        .skip_missing::<DB>(connection, None, "gone", "no longer exists")
        .await?;
    // Members already in the trash keep their own batch.
    batch
        .skip_matching::<DB>(
            connection,
            col(builtin::TRASH_BATCH_ID).is_not_null(),
            "state",
            "already in the trash",
        )
        .await?;

    // Members a restrict rule blocks (only active children block a trash).
    for check in &batch.plan.checks {
        let roots = and_all([
            qualified("t0", builtin::ID).in_subquery(batch.members()),
            qualified("t0", builtin::TRASH_BATCH_ID).is_null(),
        ]);
        let rows = blocked_rows(batch.plan, check, roots, batch.job, StepFilter::Active);
        insert_skips::<DB>(connection, rows).await?;
    }

    let mut totals = batch.skip_totals::<DB>(connection).await?;

    let actor = batch.actor().user_id;
    let mut update = Query::update();
    update
        .table(Alias::new(root))
        .and_where(id().in_subquery(batch.members()))
        .and_where(col(builtin::TRASH_BATCH_ID).is_null())
        .and_where(id().not_in_subquery(batch.skipped()));
    set_trashed::<DB>(&mut update, deletion_batch, batch.now, actor);
    let (sql, values) = DB::build(&update);
    let members = DB::execute(connection, sql, values).await?;
    totals.counts.insert(root.to_owned(), members);

    // The roots this batch trashed — its members less the skipped ones, found through the
    // snapshot — then each cascade path from them, parents first. A path may pass through
    // records trashed earlier in other batches: their children are in the trash with them,
    // and only active records are taken.
    let mut roots = batch.members();
    roots.and_where(col("record_id").not_in_subquery(batch.skipped()));
    for reach in &batch.plan.cascade {
        let mut update = Query::update();
        update
            .table(Alias::new(reach.entity.as_str()))
            .and_where(col(builtin::TRASH_BATCH_ID).is_null())
            .and_where(reached_by(reach, roots.clone(), StepFilter::Any));
        set_trashed::<DB>(&mut update, deletion_batch, batch.now, actor);
        let (sql, values) = DB::build(&update);
        let changed = DB::execute(connection, sql, values).await?;
        *totals
            .counts
            .entry(reach.entity.as_str().to_owned())
            .or_default() += changed;
    }
    Ok(totals)
}

/// How many skipped members a notification lists by name.
const NOTIFIED_SKIPS: u64 = 10;

/// After the last batch: the deletion batch is complete; the requester hears about blocked
/// members.
pub(super) async fn finish<DB: Dialect>(
    connection: &mut DB::Connection,
    job: &JobRow,
    deletion_batch: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let filling = BatchState::Trashing;
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_deletion_batch"))
            .value(
                Alias::new("state"),
                filling.filled(deletion_batch)?.as_str(),
            )
            .and_where(col("id").eq(deletion_batch))
            .and_where(col("state").eq(filling.as_str())),
    );
    DB::execute(connection, sql, values).await?;
    if (job.totals.blocked > 0 || job.totals.skipped > 0)
        && let Some(user) = job.payload.actor.user_id
    {
        let listed = super::jobs::skips_of::<DB>(connection, job.id, NOTIFIED_SKIPS).await?;
        let mut message = format!(
            "Trash of {} {} into deletion batch {}: {} not trashed because a rule blocks them, {} skipped because they changed since the preview (job {}).",
            job.total,
            job.payload.entity,
            deletion_batch,
            job.totals.blocked,
            job.totals.skipped,
            job.id
        );
        for skip in &listed {
            message.push('\n');
            message.push_str(&skip.message(&job.payload.entity));
        }
        let left = (job.totals.blocked + job.totals.skipped).saturating_sub(listed.len() as u64);
        if left > 0 {
            message.push_str(&format!(
                "\n… and {left} more in the job's list of skipped members."
            ));
        }
        crate::notifications::notify::<DB>(
            connection,
            crate::notifications::Recipients::User(user),
            lethe_domain::notification::NotificationKind::RecordsBlocked,
            &message,
            Some(job.id),
            now,
        )
        .await?;
    }
    Ok(())
}

/// What a preview looks at: the members, the state they must be in, and which records the
/// plan's paths may pass through.
pub(super) struct PreviewScope {
    pub operation: &'static str,
    /// Yields the member ids.
    pub members: SelectStatement,
    pub member_count: u64,
    pub snapshot_id: i64,
    /// The state a member must be in (on `t0`).
    pub root_state: Expr,
    /// Which records intermediate steps and blocking records may be in.
    pub filter: StepFilter,
    /// The state reached records must be in to be acted on.
    pub target_state: Option<Expr>,
}

/// The preview's temporary table of the members it would act on.
const PREVIEW_ELIGIBLE: &str = "lethe_preview_eligible";
/// The preview's temporary table of the blocked members.
const PREVIEW_BLOCKED: &str = "lethe_preview_blocked";

/// The lowest blocked members (in [`PREVIEW_BLOCKED`]), each with the first rule that blocks
/// it and the number of records blocking it by that rule.
async fn blocked_sample<DB: Dialect>(
    connection: &mut DB::Connection,
    plan: &Plan,
    filter: StepFilter,
) -> Result<Vec<Skip>, StoreError> {
    let lowest = qualified("t0", builtin::ID).in_subquery(
        Query::select()
            .column(Alias::new(builtin::ID))
            .from(Alias::new(PREVIEW_BLOCKED))
            .order_by(Alias::new(builtin::ID), sea_query::Order::Asc)
            .limit(PREVIEW_SAMPLE)
            .to_owned(),
    );
    let mut sample = Vec::new();
    for check in &plan.checks {
        let counts = blocking_counts(plan.root.as_str(), check, lowest.clone(), filter, filter);
        let (sql, values) = DB::build(&counts);
        for row in DB::fetch_all(connection, sql, values).await? {
            sample.push(Skip {
                record_id: rows::int::<DB>(&row, 0)?.unwrap_or(0),
                kind: "blocked".to_owned(),
                entity: Some(check.target.entity.as_str().to_owned()),
                count: rows::count::<DB>(&row, 1)?,
                reason: block_reason(check),
            });
        }
    }
    // Each member once, with the first rule (in the plan's order) that blocks it.
    sample.sort_by_key(|skip| skip.record_id);
    sample.dedup_by_key(|skip| skip.record_id);
    Ok(sample)
}

/// What an operation would do: the members acted on, blocked (with a sample and the
/// reasons) or not applicable, the records reached per entity type, and the links rewritten.
pub(super) async fn preview<DB: Dialect>(
    pool: &Pool<DB>,
    plan: &Plan,
    scope: PreviewScope,
) -> Result<Preview, StoreError> {
    // One transaction: the counts are of one moment, and the temporary table of eligible
    // members goes with it.
    let mut transaction = pool.begin().await?;
    let root = plan.root.as_str();
    let in_state = and_all([
        qualified("t0", builtin::ID).in_subquery(scope.members.clone()),
        scope.root_state.clone(),
    ]);

    // Members in the right state, kept once: every count below starts from them.
    let mut applicable_members = Query::select();
    applicable_members
        .column((Alias::new("t0"), Alias::new(builtin::ID)))
        .from_as(Alias::new(root), Alias::new("t0"))
        .and_where(in_state.clone());
    let (applicable, eligible) =
        keep_ids::<DB>(&mut transaction, PREVIEW_ELIGIBLE, applicable_members).await?;
    let in_eligible = qualified("t0", builtin::ID).in_subquery(eligible.clone());

    // The blocked ones, each once over all rules, kept; taking them out of the applicable
    // members leaves the eligible ones.
    let blocked_ids = plan
        .checks
        .iter()
        .map(|check| {
            let mut ids =
                blocking_joins(root, check, in_eligible.clone(), scope.filter, scope.filter);
            ids.distinct();
            ids
        })
        .reduce(|mut union, ids| {
            union.union(sea_query::UnionType::Distinct, ids);
            union
        });
    let (blocked, sample) = match blocked_ids {
        None => (0, Vec::new()),
        Some(union) => {
            let (_, blocked_members) =
                keep_ids::<DB>(&mut transaction, PREVIEW_BLOCKED, union).await?;
            let (sql, values) = DB::build(
                Query::delete()
                    .from_table(Alias::new(PREVIEW_ELIGIBLE))
                    .and_where(col(builtin::ID).in_subquery(blocked_members)),
            );
            let blocked = DB::execute(&mut transaction, sql, values).await?;
            (
                blocked,
                blocked_sample::<DB>(&mut transaction, plan, scope.filter).await?,
            )
        }
    };
    let count = async |connection: &mut DB::Connection, query: SelectStatement| {
        let (sql, values) = DB::build(&query);
        match DB::fetch_optional(connection, sql, values).await? {
            Some(row) => rows::count::<DB>(&row, 0),
            None => Ok::<u64, StoreError>(0),
        }
    };

    let mut acted_on = vec![EntityCount {
        entity: root.to_owned(),
        records: applicable - blocked,
    }];
    for entity in plan.entities().iter().skip(1) {
        let conditions: Vec<Expr> = plan
            .cascade
            .iter()
            .filter(|reach| &reach.entity == entity)
            .map(|reach| reached_by(reach, eligible.clone(), scope.filter))
            .collect();
        let any_path = conditions
            .into_iter()
            .reduce(|left, right| left.or(right))
            .unwrap_or_else(|| Expr::cust("1 = 0"));
        let mut query = Query::select();
        query
            .expr(Expr::cust("COUNT(*)"))
            .from(Alias::new(entity.as_str()))
            .and_where(any_path);
        if let Some(state) = &scope.target_state {
            query.and_where(state.clone());
        }
        let records = count(&mut transaction, query).await?;
        acted_on.push(EntityCount {
            entity: entity.as_str().to_owned(),
            records,
        });
    }

    let mut rewritten: Vec<EntityCount> = Vec::new();
    for rewrite in &plan.rewrites {
        let Some((last, before)) = rewrite.target.path.split_last() else {
            continue;
        };
        let mut query = Query::select();
        query
            .expr(Expr::cust("COUNT(*)"))
            .from(Alias::new(last.child.as_str()))
            .and_where(super::paths::link(
                last,
                super::paths::reached_ids(before, eligible.clone(), scope.filter),
            ));
        let records = count(&mut transaction, query).await?;
        match rewritten
            .iter_mut()
            .find(|count| count.entity == last.child.as_str())
        {
            Some(count) => count.records += records,
            None => rewritten.push(EntityCount {
                entity: last.child.as_str().to_owned(),
                records,
            }),
        }
    }
    // Nothing was changed but the temporary table, which goes with the transaction.
    transaction.rollback().await?;
    Ok(Preview {
        operation: scope.operation.to_owned(),
        entity: root.to_owned(),
        snapshot_id: scope.snapshot_id,
        members: scope.member_count,
        not_applicable: scope.member_count.saturating_sub(applicable),
        blocked,
        blocked_sample: sample,
        acted_on,
        rewritten,
    })
}

/// What trashing a snapshot's members would do.
pub(super) fn trash_scope(snapshot: &Snapshot) -> PreviewScope {
    PreviewScope {
        operation: "trash",
        members: super::jobs::members_in(snapshot.id, i64::MIN, i64::MAX),
        member_count: snapshot.member_count,
        snapshot_id: snapshot.id,
        root_state: qualified("t0", builtin::TRASH_BATCH_ID).is_null(),
        filter: StepFilter::Active,
        target_state: Some(col(builtin::TRASH_BATCH_ID).is_null()),
    }
}

/// Creates the deletion batch and the job that fills it, in one transaction.
pub(super) async fn start<DB: Dialect>(
    pool: &Pool<DB>,
    history_key: &crate::HistoryKey,
    snapshot: &Snapshot,
    reason: Option<&str>,
    actor: &crate::users::Actor,
    batch_size: u64,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_deletion_batch"))
            .columns(
                [
                    "created_at",
                    "created_by",
                    "reason",
                    "state",
                    "entity",
                    "snapshot_id",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Expr::val(rows::bind_time::<DB>(now)),
                Expr::val(rows::bind_opt_int::<DB>(actor.user_id)),
                Expr::val(rows::bind_opt_text::<DB>(reason)),
                Expr::val(BatchState::Trashing.as_str()),
                Expr::val(snapshot.entity.as_str()),
                Expr::val(snapshot.id),
            ])
            .returning_col(Alias::new("id")),
    );
    let row = DB::fetch_optional(&mut transaction, sql, values)
        .await?
        .ok_or_else(|| {
            StoreError::Internal("creating a deletion batch returned no id".to_owned())
        })?;
    let deletion_batch = rows::int::<DB>(&row, 0)?.ok_or_else(|| {
        StoreError::Internal("creating a deletion batch returned no id".to_owned())
    })?;
    let payload = JobPayload {
        entity: snapshot.entity.clone(),
        snapshot_id: Some(snapshot.id),
        reason: reason.map(str::to_owned),
        source: snapshot.source.clone(),
        actor: actor.clone(),
        work: Work::Trash {
            batch: deletion_batch,
        },
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
            details: serde_json::json!({"reason": reason}),
        },
        now,
    )
    .await?;
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_deletion_batch"))
            .value(Alias::new("job_id"), job)
            .and_where(col("id").eq(deletion_batch)),
    );
    DB::execute(&mut transaction, sql, values).await?;
    transaction.commit().await?;
    Ok(job)
}
