//! An import's job: each batch of staged lines creates its records (one `INSERT … SELECT`
//! from the staging table, in line order, defaults filled in), updates the records its
//! rows matched (one `UPDATE … FROM` the staging table, cells left empty keep the record's
//! value), and deletes those staged rows — all in the batch's transaction. The last step
//! drops the staging table.

use lethe_db::dialect::quoted;
use lethe_schema::{ValueType, builtin};
use sea_query::{Alias, Expr, ExprTrait, Func, Query};

use super::staging::{LINE, PROBLEM, TARGET};
use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::lifecycle::Totals;
use crate::value::Value;
use lethe_jobs::Batch;

/// The batch's rows that create a record: `_line` in `(lo, hi]`, no problem, no match.
fn to_create(batch: &Batch<'_>) -> Vec<sea_query::SimpleExpr> {
    let column = |name: &str| Expr::col((Alias::new("s"), Alias::new(name)));
    vec![
        column(LINE).gt(batch.lo),
        column(LINE).lte(batch.hi),
        column(PROBLEM).is_null(),
        column(TARGET).is_null(),
    ]
}

/// One batch of an import job.
pub(crate) async fn batch<DB: Dialect>(
    connection: &mut DB::Connection,
    batch: &Batch<'_>,
    staging: &str,
    update: &[String],
) -> Result<Totals, StoreError> {
    let root = batch.payload.entity.as_str();
    let entity = batch
        .schema
        .entity(root)
        .ok_or_else(|| StoreError::Internal(format!("unknown entity {root}")))?;
    let now = DB::bind_value(&ValueType::Timestamp, &Value::Timestamp(batch.now));
    let creator = match batch.actor().user_id {
        Some(id) => Value::Integer(id),
        None => Value::Null,
    };

    let mut rows = Query::select();
    rows.expr(Expr::val(now.clone()))
        .expr(Expr::val(DB::bind_value(&ValueType::Integer, &creator)))
        .expr(Expr::val(now.clone()));
    for column in &entity.columns {
        let staged = Expr::col((Alias::new("s"), Alias::new(column.name.as_str())));
        match crate::records::default_value(column) {
            Some(default) => rows.expr(Func::coalesce([
                staged,
                Expr::val(DB::bind_value(&column.value_type, &default)),
            ])),
            None => rows.expr(staged),
        };
    }
    rows.from_as(Alias::new(staging), Alias::new("s"));
    for condition in to_create(batch) {
        rows.and_where(condition);
    }
    rows.order_by((Alias::new("s"), Alias::new(LINE)), sea_query::Order::Asc);
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new(root))
        .columns(
            [
                builtin::CREATED_AT,
                builtin::CREATED_BY,
                builtin::UPDATED_AT,
            ]
            .into_iter()
            .chain(entity.columns.iter().map(|column| column.name.as_str()))
            .map(Alias::new),
        )
        .select_from(rows)
        .map_err(|error| StoreError::Internal(format!("building an import batch: {error}")))?;
    let (sql, values) = DB::build(&insert);
    let created = DB::execute(connection, sql, values)
        .await
        .map_err(|error| crate::records::explain_constraint(entity, error))?;

    let mut updated = 0;
    if !update.is_empty() {
        // One join of the batch's matched rows with their records (`UPDATE … FROM`); a cell
        // left empty keeps the record's value.
        let staged = |column: &str| Expr::col((Alias::new(staging), Alias::new(column)));
        let mut statement = Query::update();
        statement.table(Alias::new(root)).from(Alias::new(staging));
        for field in update {
            let Some(column) = entity.column(field) else {
                return Err(StoreError::Internal(format!(
                    "an import job updates {root}.{field}, which the schema no longer has"
                )));
            };
            let name = column.name.as_str();
            statement.value(
                Alias::new(name),
                Func::coalesce([
                    staged(name),
                    Expr::col((Alias::new(root), Alias::new(name))),
                ]),
            );
        }
        statement
            .value(Alias::new(builtin::UPDATED_AT), Expr::val(now))
            .and_where(
                Expr::col((Alias::new(root), Alias::new(builtin::ID)))
                    .equals((Alias::new(staging), Alias::new(TARGET))),
            )
            .and_where(staged(LINE).gt(batch.lo))
            .and_where(staged(LINE).lte(batch.hi))
            .and_where(staged(PROBLEM).is_null())
            .and_where(
                Expr::col((Alias::new(root), Alias::new(builtin::TRASH_BATCH_ID))).is_null(),
            );
        let (sql, values) = DB::build(&statement);
        updated = DB::execute(connection, sql, values)
            .await
            .map_err(|error| crate::records::explain_constraint(entity, error))?;
    }

    let (sql, values) = DB::build(
        Query::delete()
            .from_table(Alias::new(staging))
            .and_where(Expr::col(Alias::new(LINE)).gt(batch.lo))
            .and_where(Expr::col(Alias::new(LINE)).lte(batch.hi)),
    );
    let lines = DB::execute(connection, sql, values).await?;
    let mut totals = Totals::default();
    totals.counts.insert(root.to_owned(), created);
    if updated > 0 {
        totals.rewritten.insert(root.to_owned(), updated);
    }
    totals.skipped = lines.saturating_sub(created + updated);
    Ok(totals)
}

/// The import's last step: its staging table goes (every row of it was written or skipped).
pub(crate) async fn finish<DB: Dialect>(
    connection: &mut DB::Connection,
    staging: &str,
) -> Result<(), StoreError> {
    DB::execute_plain(
        connection,
        format!("DROP TABLE IF EXISTS {}", quoted(staging)),
    )
    .await?;
    Ok(())
}
