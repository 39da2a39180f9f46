//! An import's job: each batch of staged lines creates its records (one `INSERT … SELECT`
//! from the staging table, in line order, defaults filled in), updates the records its
//! rows matched (one `UPDATE`, cells left empty keep the record's value), and deletes those
//! staged rows — all in the batch's transaction. The last step drops the staging table.

use lethe_db::dialect::quoted;
use lethe_schema::{ValueType, builtin};
use sea_query::{Alias, Expr, ExprTrait, Func, Query};

use super::staging::{LINE, PROBLEM, TARGET};
use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::lifecycle::Totals;
use crate::value::Value;
use lethe_jobs::Batch;

/// `_line` in `(lo, hi]`, no problem, and `_target` set or not.
fn in_batch(batch: &Batch<'_>, matched: bool) -> Vec<sea_query::SimpleExpr> {
    let line = || Expr::col((Alias::new("s"), Alias::new(LINE)));
    let target = Expr::col((Alias::new("s"), Alias::new(TARGET)));
    vec![
        line().gt(batch.lo),
        line().lte(batch.hi),
        Expr::col((Alias::new("s"), Alias::new(PROBLEM))).is_null(),
        if matched {
            target.is_not_null()
        } else {
            target.is_null()
        },
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
    for condition in in_batch(batch, false) {
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
        let table = quoted(root);
        let id = quoted(builtin::ID);
        let mut matched = Query::select();
        matched
            .column((Alias::new("s"), Alias::new(TARGET)))
            .from_as(Alias::new(staging), Alias::new("s"));
        for condition in in_batch(batch, true) {
            matched.and_where(condition);
        }
        let mut statement = Query::update();
        statement.table(Alias::new(root));
        for field in update {
            let Some(column) = entity.column(field) else {
                return Err(StoreError::Internal(format!(
                    "an import job updates {root}.{field}, which the schema no longer has"
                )));
            };
            let name = quoted(column.name.as_str());
            statement.value(
                Alias::new(column.name.as_str()),
                Expr::cust(format!(
                    "COALESCE((SELECT s.{name} FROM {staged} s WHERE s.{target} = {table}.{id} AND s.{line} > {lo} AND s.{line} <= {hi} AND s.{problem} IS NULL), {table}.{name})",
                    staged = quoted(staging),
                    target = quoted(TARGET),
                    line = quoted(LINE),
                    problem = quoted(PROBLEM),
                    lo = batch.lo,
                    hi = batch.hi,
                )),
            );
        }
        statement
            .value(Alias::new(builtin::UPDATED_AT), Expr::val(now))
            .and_where(Expr::col(Alias::new(builtin::ID)).in_subquery(matched))
            .and_where(Expr::col(Alias::new(builtin::TRASH_BATCH_ID)).is_null());
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
