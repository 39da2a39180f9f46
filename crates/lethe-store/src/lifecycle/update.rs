//! Bulk update of fields over a selection (SPEC §4; SuperOffice: set the legal basis for
//! everyone in a selection): checked up front, previewed as a count, run as a job in batches,
//! each batch recorded in the history with who, when, the selection and the count.

use lethe_schema::{Entity, Schema, ValueType, builtin};
use sea_query::{Alias, Expr, ExprTrait, Query};
use sqlx::Pool;
use time::OffsetDateTime;

use super::jobs::{Batch, NewJob};
use super::paths::col;
use super::{JobPayload, Totals, Work};
use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::placeholder::PLACEHOLDER_ID;
use crate::snapshots::Snapshot;
use crate::users::Actor;
use crate::value::Value;

/// Checks the changes against the entity: known, writable fields of the right type; no
/// required field cleared; no unique field set on more than one record; links that point at
/// existing, active records.
pub(super) fn check_changes<'e>(
    entity: &'e Entity,
    changes: &serde_json::Map<String, serde_json::Value>,
    members: u64,
) -> Result<Vec<(&'e lethe_schema::Column, Value)>, StoreError> {
    if changes.is_empty() {
        return Err(StoreError::BadRequest(
            "no field to change: give at least one FIELD=VALUE".to_owned(),
        ));
    }
    let values = crate::records::parse_input(entity, changes)?;
    for (column, value) in &values {
        if column.required && value.is_null() {
            return Err(StoreError::InvalidValue {
                entity: entity.name.to_string(),
                field: column.name.to_string(),
                message: "is required and cannot be cleared".to_owned(),
            });
        }
        if column.unique && members > 1 && !value.is_null() {
            return Err(StoreError::InvalidValue {
                entity: entity.name.to_string(),
                field: column.name.to_string(),
                message: format!(
                    "is unique, so it cannot be set to one value on {members} records"
                ),
            });
        }
    }
    Ok(values)
}

/// Checks that the links the changes set point at existing, active records.
pub(super) async fn check_links<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
    entity: &Entity,
    values: &[(&lethe_schema::Column, Value)],
) -> Result<(), StoreError> {
    let mut connection = pool.acquire().await?;
    crate::records::check_references::<DB>(&mut connection, schema, entity, values).await
}

/// One batch of an update job.
pub(super) async fn batch<DB: Dialect>(
    connection: &mut DB::Connection,
    batch: &Batch<'_>,
    changes: &serde_json::Map<String, serde_json::Value>,
) -> Result<Totals, StoreError> {
    let root = batch.plan.root.as_str();
    let entity = batch
        .schema
        .entity(root)
        .ok_or_else(|| StoreError::Internal(format!("unknown entity {root}")))?;
    let values = check_changes(entity, changes, 1)?;
    batch
        .skip_missing::<DB>(connection, None, "gone", "no longer exists")
        .await?;
    batch
        .skip_matching::<DB>(
            connection,
            col(builtin::TRASH_BATCH_ID).is_not_null(),
            "state",
            "in the trash since the preview",
        )
        .await?;

    let mut update = Query::update();
    update.table(Alias::new(root));
    for (column, value) in &values {
        update.value(
            Alias::new(column.name.as_str()),
            Expr::val(DB::bind_value(&column.value_type, value)),
        );
    }
    update
        .value(
            Alias::new(builtin::UPDATED_AT),
            Expr::val(DB::bind_value(
                &ValueType::Timestamp,
                &Value::Timestamp(batch.now),
            )),
        )
        .and_where(col(builtin::ID).in_subquery(batch.members()))
        .and_where(col(builtin::ID).ne(PLACEHOLDER_ID))
        .and_where(col(builtin::TRASH_BATCH_ID).is_null());
    let (sql, bound) = DB::build(&update);
    let changed = DB::execute(connection, sql, bound)
        .await
        .map_err(|error| crate::records::explain_constraint(entity, error))?;
    let mut totals = batch.skip_totals::<DB>(connection).await?;
    totals.rewritten.insert(root.to_owned(), changed);
    Ok(totals)
}

/// Checks the changes and the links they set, then creates the update job.
#[allow(clippy::too_many_arguments)]
pub(super) async fn start<DB: Dialect>(
    pool: &Pool<DB>,
    history_key: &crate::HistoryKey,
    schema: &Schema,
    snapshot: &Snapshot,
    changes: &serde_json::Map<String, serde_json::Value>,
    actor: &Actor,
    batch_size: u64,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let entity = schema
        .entity(&snapshot.entity)
        .ok_or_else(|| StoreError::Internal(format!("unknown entity {}", snapshot.entity)))?;
    let values = check_changes(entity, changes, snapshot.member_count)?;
    let mut transaction = begin_write(pool).await?;
    crate::records::check_references::<DB>(&mut transaction, schema, entity, &values).await?;
    let payload = JobPayload {
        entity: snapshot.entity.clone(),
        snapshot_id: Some(snapshot.id),
        reason: None,
        source: snapshot.source.clone(),
        actor: actor.clone(),
        work: Work::Update {
            changes: changes.clone(),
        },
    };
    let fields: Vec<&str> = values
        .iter()
        .map(|(column, _)| column.name.as_str())
        .collect();
    let job = super::jobs::start_job::<DB>(
        &mut transaction,
        history_key,
        NewJob {
            payload: &payload,
            members: snapshot.member_count,
            batch_size,
            not_before: None,
            claim: Some(super::claims::Subject::Snapshot(snapshot.id)),
            details: serde_json::json!({"fields": fields, "changes": changes}),
        },
        now,
    )
    .await?;
    transaction.commit().await?;
    Ok(job)
}
