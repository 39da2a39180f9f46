//! Restore: bring back exactly what one deletion batch hid — the whole batch (one-click undo)
//! or chosen members of it with their cascade children — parents before children. Records
//! trashed separately, in other batches, stay in the trash. A member whose parent is in the
//! trash in another batch is not restored: that would show a child under a hidden parent
//! (SPEC §11); the message names the batch to restore first.

use lethe_plan::Plan;
use lethe_schema::{OnDelete, Schema, ValueType, builtin};
use sea_query::{Alias, Expr, ExprTrait, Query};
use sqlx::Pool;
use time::OffsetDateTime;

use super::jobs::{Batch, JobRow, NewJob, insert_skips};
use super::paths::{StepFilter, batch_is, col, qualified, reached_by};
use super::{BatchState, JobPayload, Totals, Work};
use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::rows;
use crate::users::Actor;
use crate::value::Value;

/// What one trash operation hid; restoring it brings back exactly that.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct DeletionBatch {
    pub id: i64,
    /// The entity of its members.
    pub entity: Option<String>,
    pub state: BatchState,
    /// Why it was trashed, as given.
    pub reason: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    /// The user who trashed it; null: the operator or Lethe itself.
    pub created_by: Option<i64>,
    /// The snapshot of the members the trash was confirmed with.
    pub snapshot_id: Option<i64>,
    /// The trash job that filled it.
    pub job_id: Option<i64>,
}

pub(crate) async fn load_batch<DB: Dialect>(
    connection: &mut DB::Connection,
    id: i64,
) -> Result<DeletionBatch, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .columns(
                [
                    "id",
                    "entity",
                    "state",
                    "reason",
                    "created_at",
                    "created_by",
                    "snapshot_id",
                    "job_id",
                ]
                .map(Alias::new),
            )
            .from(Alias::new("lethe_deletion_batch"))
            .and_where(col("id").eq(id)),
    );
    let row = DB::fetch_optional(connection, sql, values)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            entity: "deletion batch".to_owned(),
            id,
        })?;
    Ok(DeletionBatch {
        id,
        entity: rows::text::<DB>(&row, 1)?,
        state: BatchState::parse(&rows::text::<DB>(&row, 2)?.unwrap_or_default())
            .map_err(|unknown| StoreError::Internal(format!("deletion batch {id}: {unknown}")))?,
        reason: rows::text::<DB>(&row, 3)?,
        created_at: rows::timestamp::<DB>(&row, 4)?
            .map(crate::value::format_timestamp)
            .unwrap_or_default(),
        created_by: rows::int::<DB>(&row, 5)?,
        snapshot_id: rows::int::<DB>(&row, 6)?,
        job_id: rows::int::<DB>(&row, 7)?,
    })
}

fn clear_trash<DB: Dialect>(update: &mut sea_query::UpdateStatement) {
    update
        .value(
            Alias::new(builtin::TRASH_BATCH_ID),
            Expr::val(rows::bind_opt_int::<DB>(None)),
        )
        .value(
            Alias::new(builtin::TRASHED_AT),
            Expr::val(DB::bind_value(&ValueType::Timestamp, &Value::Null)),
        )
        .value(
            Alias::new(builtin::TRASHED_BY),
            Expr::val(rows::bind_opt_int::<DB>(None)),
        );
}

/// Restricts a select on `t0` (the batch's root entity) to members whose `cascade` parent
/// is in the trash, yielding skip rows.
fn hidden_parent_rows(
    schema: &Schema,
    root: &str,
    members_condition: Expr,
    job: i64,
    deletion_batch: i64,
) -> Vec<sea_query::SelectStatement> {
    let mut selects = Vec::new();
    let Some(entity) = schema.entity(root) else {
        return selects;
    };
    for relation in schema.relations_from(&entity.name) {
        if relation.on_delete != OnDelete::Cascade {
            continue;
        }
        for parent in &relation.parents {
            let mut on = qualified("p", builtin::ID)
                .equals((Alias::new("t0"), Alias::new(relation.column.as_str())));
            if let Some(discriminator) = &relation.discriminator {
                on = on.and(qualified("t0", discriminator.as_str()).eq(parent.as_str()));
            }
            let mut query = Query::select();
            query
                .expr(qualified("t0", builtin::ID))
                .expr(Expr::val(1i64))
                .expr(Expr::val(job))
                .expr(Expr::val("blocked"))
                .expr(Expr::val(parent.as_str()))
                .expr(Expr::val(format!(
                    "its {parent} is in the trash in another deletion batch; restore that batch first"
                )))
                .from_as(Alias::new(root), Alias::new("t0"))
                .join_as(
                    sea_query::JoinType::InnerJoin,
                    Alias::new(parent.as_str()),
                    Alias::new("p"),
                    on,
                )
                .and_where(members_condition.clone())
                .and_where(qualified("p", builtin::TRASH_BATCH_ID).is_not_null())
                .and_where(qualified("p", builtin::TRASH_BATCH_ID).ne(deletion_batch));
            selects.push(query);
        }
    }
    selects
}

/// One batch of a restore job.
pub(super) async fn batch<DB: Dialect>(
    connection: &mut DB::Connection,
    batch: &Batch<'_>,
    deletion_batch: i64,
) -> Result<Totals, StoreError> {
    let root = batch.plan.root.as_str();
    let id = || col(builtin::ID);
    // Members that are no longer in this batch (gone, or restored meanwhile).
    batch
        .skip_missing::<DB>(
            connection,
            Some(batch_is(None, deletion_batch)),
            "state",
            "no longer in this deletion batch",
        )
        .await?;

    let members_condition = qualified("t0", builtin::ID)
        .in_subquery(batch.members())
        .and(batch_is(Some("t0"), deletion_batch));
    for rows in hidden_parent_rows(
        batch.schema,
        root,
        members_condition,
        batch.job,
        deletion_batch,
    ) {
        insert_skips::<DB>(connection, rows).await?;
    }
    let mut totals = batch.skip_totals::<DB>(connection).await?;

    let mut update = Query::update();
    update
        .table(Alias::new(root))
        .and_where(id().in_subquery(batch.members()))
        .and_where(batch_is(None, deletion_batch))
        .and_where(id().not_in_subquery(batch.skipped()));
    clear_trash::<DB>(&mut update);
    let (sql, values) = DB::build(&update);
    totals
        .counts
        .insert(root.to_owned(), DB::execute(connection, sql, values).await?);

    // Members restored by this batch; then what the deletion batch hid under them, parents
    // first. Only records of this deletion batch are touched.
    let mut roots = Query::select();
    roots
        .column(Alias::new(builtin::ID))
        .from(Alias::new(root))
        .and_where(id().in_subquery(batch.members()))
        .and_where(id().not_in_subquery(batch.skipped()))
        .and_where(col(builtin::TRASH_BATCH_ID).is_null());
    for reach in &batch.plan.cascade {
        let mut update = Query::update();
        update
            .table(Alias::new(reach.entity.as_str()))
            .and_where(batch_is(None, deletion_batch))
            .and_where(reached_by(reach, roots.clone(), StepFilter::Active));
        clear_trash::<DB>(&mut update);
        let (sql, values) = DB::build(&update);
        let changed = DB::execute(connection, sql, values).await?;
        *totals
            .counts
            .entry(reach.entity.as_str().to_owned())
            .or_default() += changed;
    }
    Ok(totals)
}

/// After the last batch: the deletion batch is `restored` when nothing of it is left in the
/// trash.
pub(super) async fn left_in_batch<DB: Dialect>(
    connection: &mut DB::Connection,
    plan: &Plan,
    deletion_batch: i64,
) -> Result<u64, StoreError> {
    let mut left = 0;
    for entity in plan.entities() {
        let (sql, values) = DB::build(
            Query::select()
                .expr(Expr::cust("COUNT(*)"))
                .from(Alias::new(entity.as_str()))
                .and_where(col(builtin::TRASH_BATCH_ID).eq(deletion_batch)),
        );
        if let Some(row) = DB::fetch_optional(connection, sql, values).await? {
            left += rows::count::<DB>(&row, 0)?;
        }
    }
    Ok(left)
}

pub(super) async fn finish<DB: Dialect>(
    connection: &mut DB::Connection,
    plan: &Plan,
    job: &JobRow,
    deletion_batch: i64,
) -> Result<(), StoreError> {
    super::claims::release_batch::<DB>(connection, job.id).await?;
    let left = left_in_batch::<DB>(connection, plan, deletion_batch).await?;
    let state = load_batch::<DB>(connection, deletion_batch).await?.state;
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_deletion_batch"))
            .value(Alias::new("state"), state.restored(left).as_str())
            .and_where(col("id").eq(deletion_batch))
            .and_where(col("state").eq(state.as_str())),
    );
    DB::execute(connection, sql, values).await?;
    Ok(())
}

/// Checks who may restore, freezes the members to restore and creates the job.
#[allow(clippy::too_many_arguments)]
pub(super) async fn start<DB: Dialect>(
    pool: &Pool<DB>,
    history_key: &crate::HistoryKey,
    schema: &Schema,
    deletion_batch: i64,
    chosen: Option<&[i64]>,
    actor: &Actor,
    batch_size: u64,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let batch = load_batch::<DB>(&mut transaction, deletion_batch).await?;
    let Some(entity) = batch.entity.clone() else {
        return Err(StoreError::Conflict(format!(
            "deletion batch {deletion_batch} was not made by a trash job and cannot be restored"
        )));
    };
    batch.state.restore(deletion_batch, batch.job_id)?;
    schema.entity(&entity).ok_or_else(|| {
        StoreError::Internal(format!(
            "deletion batch {deletion_batch} names unknown entity {entity}"
        ))
    })?;

    // Members: the batch's records of its root entity, or the chosen ones among them.
    let mut members = Query::select();
    members
        .column(Alias::new(builtin::ID))
        .from(Alias::new(entity.as_str()))
        .and_where(col(builtin::TRASH_BATCH_ID).eq(deletion_batch));
    if let Some(chosen) = chosen {
        crate::snapshots::check_listed_ids(chosen, "the records to restore")?;
        if chosen.is_empty() {
            return Err(StoreError::invalid_option(
                "records",
                "no records are chosen to restore; leave the list out to restore the whole batch",
            ));
        }
        let mut found = members.clone();
        found.and_where(col(builtin::ID).is_in(chosen.iter().copied()));
        let (sql, values) = DB::build(&found);
        let mut in_batch = std::collections::HashSet::new();
        for row in DB::fetch_all(&mut transaction, sql, values).await? {
            if let Some(id) = rows::int::<DB>(&row, 0)? {
                in_batch.insert(id);
            }
        }
        let outside: Vec<String> = chosen
            .iter()
            .filter(|id| !in_batch.contains(id))
            .take(10)
            .map(ToString::to_string)
            .collect();
        if !outside.is_empty() {
            return Err(StoreError::invalid_option(
                "records",
                format!(
                    "these {entity} ids are not members of deletion batch {deletion_batch}: {}; a restore chooses the batch's {entity} records, and their cascade children come with them",
                    outside.join(", ")
                ),
            ));
        }
        members.and_where(col(builtin::ID).is_in(chosen.iter().copied()));
    }

    // Who may restore is the policy's to say; the store counts, only when the answer
    // depends on it, how many of the records restored someone else created.
    let mut made_by_others = None;
    if lethe_domain::policy::restore_needs_creators(actor, batch.created_by)
        && let Some(user) = actor.user_id
    {
        let mut others = Query::select();
        others
            .expr(Expr::cust("COUNT(*)"))
            .from_subquery(members.clone(), Alias::new("m"))
            .and_where(
                col(builtin::ID).not_in_subquery(
                    Query::select()
                        .column(Alias::new(builtin::ID))
                        .from(Alias::new(entity.as_str()))
                        .and_where(col(builtin::CREATED_BY).eq(user))
                        .to_owned(),
                ),
            );
        let (sql, values) = DB::build(&others);
        if let Some(row) = DB::fetch_optional(&mut transaction, sql, values).await? {
            made_by_others = Some(rows::count::<DB>(&row, 0)?);
        }
    }
    lethe_domain::policy::restore(actor, deletion_batch, batch.created_by, made_by_others)?;

    // A member under a parent that is in the trash in another batch is refused up front.
    let members_condition = qualified("t0", builtin::ID)
        .in_subquery(members.clone())
        .and(qualified("t0", builtin::TRASH_BATCH_ID).eq(deletion_batch));
    for mut select in hidden_parent_rows(schema, &entity, members_condition, 0, deletion_batch) {
        select.limit(1);
        let (sql, values) = DB::build(&select);
        if let Some(row) = DB::fetch_optional(&mut transaction, sql, values).await? {
            let member = rows::int::<DB>(&row, 0)?.unwrap_or(0);
            let parent = rows::text::<DB>(&row, 4)?.unwrap_or_default();
            let parent_batch =
                parent_batch::<DB>(&mut transaction, schema, &entity, member, &parent).await?;
            return Err(StoreError::ParentInTrash {
                parent_batch,
                message: format!(
                    "{entity} {member} of deletion batch {deletion_batch} belongs to a {parent} that is in the trash in deletion batch {parent_batch}; restore batch {parent_batch} first (the command line's `--with-parents` does that)"
                ),
            });
        }
    }

    let mut condition = qualified("t0", builtin::TRASH_BATCH_ID).eq(deletion_batch);
    let mut source = format!("deletion batch {deletion_batch}");
    if let Some(chosen) = chosen {
        condition = condition.and(qualified("t0", builtin::ID).is_in(chosen.iter().copied()));
        source.push_str(&format!(", {} chosen", chosen.len()));
    }
    let snapshot = crate::snapshots::snapshot_where::<DB>(
        &mut transaction,
        &entity,
        "trashed",
        &source,
        "",
        condition,
        actor.user_id,
        now,
    )
    .await?;
    let payload = JobPayload {
        entity: entity.clone(),
        snapshot_id: Some(snapshot.id),
        reason: batch.reason.clone(),
        source: snapshot.source.clone(),
        actor: actor.clone(),
        work: Work::Restore {
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
            claim: Some(super::claims::Subject::Batch(deletion_batch)),
            details: serde_json::json!({"whole_batch": chosen.is_none()}),
        },
        now,
    )
    .await?;
    transaction.commit().await?;
    crate::statistics::after_write(pool, "lethe_snapshot_member", snapshot.member_count).await;
    Ok(job)
}

/// The other deletion batches holding `cascade` parents of this batch's members: they must be
/// restored first.
pub(super) async fn parent_batches<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
    deletion_batch: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut connection = pool.acquire().await?;
    let batch = load_batch::<DB>(&mut connection, deletion_batch).await?;
    let Some(entity) = batch.entity.and_then(|name| schema.entity(&name)) else {
        return Ok(Vec::new());
    };
    let mut found = std::collections::BTreeSet::new();
    for relation in schema.relations_from(&entity.name) {
        if relation.on_delete != OnDelete::Cascade {
            continue;
        }
        for parent in &relation.parents {
            let mut on = qualified("p", builtin::ID)
                .equals((Alias::new("t0"), Alias::new(relation.column.as_str())));
            if let Some(discriminator) = &relation.discriminator {
                on = on.and(qualified("t0", discriminator.as_str()).eq(parent.as_str()));
            }
            let (sql, values) = DB::build(
                Query::select()
                    .distinct()
                    .expr(qualified("p", builtin::TRASH_BATCH_ID))
                    .from_as(Alias::new(entity.name.as_str()), Alias::new("t0"))
                    .join_as(
                        sea_query::JoinType::InnerJoin,
                        Alias::new(parent.as_str()),
                        Alias::new("p"),
                        on,
                    )
                    .and_where(qualified("t0", builtin::TRASH_BATCH_ID).eq(deletion_batch))
                    .and_where(qualified("p", builtin::TRASH_BATCH_ID).is_not_null())
                    .and_where(qualified("p", builtin::TRASH_BATCH_ID).ne(deletion_batch)),
            );
            for row in DB::fetch_all(&mut connection, sql, values).await? {
                if let Some(id) = rows::int::<DB>(&row, 0)? {
                    found.insert(id);
                }
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// The deletion batch holding the trashed parent of `member`.
async fn parent_batch<DB: Dialect>(
    connection: &mut DB::Connection,
    schema: &Schema,
    entity: &str,
    member: i64,
    parent: &str,
) -> Result<i64, StoreError> {
    let Some(child) = schema.entity(entity) else {
        return Ok(0);
    };
    for relation in schema.relations_from(&child.name) {
        if relation.on_delete != OnDelete::Cascade || !relation.parents.iter().any(|p| p == parent)
        {
            continue;
        }
        let mut link = Query::select();
        link.column(Alias::new(relation.column.as_str()))
            .from(Alias::new(entity))
            .and_where(col(builtin::ID).eq(member));
        let (sql, values) = DB::build(
            Query::select()
                .column(Alias::new(builtin::TRASH_BATCH_ID))
                .from(Alias::new(parent))
                .and_where(col(builtin::ID).in_subquery(link))
                .and_where(col(builtin::TRASH_BATCH_ID).is_not_null()),
        );
        if let Some(row) = DB::fetch_optional(connection, sql, values).await?
            && let Some(batch) = rows::int::<DB>(&row, 0)?
        {
            return Ok(batch);
        }
    }
    Ok(0)
}
