//! Loading many rows at once (the demo data set, imports). Rows go in as multi-row `INSERT`
//! statements sized to the dialect's parameter limit, all in one transaction per call.

use lethe_schema::{Entity, ValueType, builtin};
use sea_query::{Alias, Expr, Query};
use sqlx::Pool;

use crate::dialect::{Backend, Dialect};
use crate::error::StoreError;
use crate::value::Value;
use crate::{Pools, Store, dispatch};

/// SQLite allows 32,766 bound parameters per statement, PostgreSQL 65,535; stay below both.
const MAX_PARAMETERS_PER_STATEMENT: usize = 30_000;

fn column_type(entity: &Entity, column: &str) -> Result<ValueType, StoreError> {
    match column {
        builtin::ID | builtin::CREATED_BY | builtin::TRASH_BATCH_ID | builtin::TRASHED_BY => {
            Ok(ValueType::Integer)
        }
        builtin::CREATED_AT | builtin::UPDATED_AT | builtin::TRASHED_AT => Ok(ValueType::Timestamp),
        _ => entity.column(column).map(|c| c.value_type.clone()).ok_or_else(|| {
            StoreError::UnknownField {
                entity: entity.name.to_string(),
                field: column.to_owned(),
                suggestion: lethe_schema::suggest(column, entity.column_names()),
            }
        }),
    }
}

impl Store {
    /// Inserts rows into an entity table in one transaction. `columns` may name built-in
    /// columns (`id`, `created_at`, …) as well as the entity's own; each row holds one value
    /// per column, already of the right type. This is a loader for trusted, generated data:
    /// references are checked by the database's foreign keys, not one by one.
    pub async fn bulk_insert(
        &self,
        entity: &str,
        columns: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> Result<u64, StoreError> {
        let entity = self.entity(entity)?;
        let types = columns
            .iter()
            .map(|column| column_type(entity, column))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(bad) = rows.iter().position(|row| row.len() != columns.len()) {
            return Err(StoreError::BadRequest(format!(
                "row {bad} has {} values for {} columns",
                rows[bad].len(),
                columns.len()
            )));
        }
        dispatch!(self, pool => insert_rows::<_>(pool, entity, columns, &types, rows).await)
    }

    /// After a bulk load with explicit ids: moves PostgreSQL's id sequences past the highest
    /// id, and refreshes the query planner's statistics on both backends.
    pub async fn finish_bulk_load(&self) -> Result<(), StoreError> {
        dispatch!(self, pool => finish::<_>(pool, self.schema()).await)
    }
}

async fn insert_rows<DB: Dialect>(
    pool: &Pool<DB>,
    entity: &Entity,
    columns: &[&str],
    types: &[ValueType],
    rows: Vec<Vec<Value>>,
) -> Result<u64, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let rows_per_statement = (MAX_PARAMETERS_PER_STATEMENT / columns.len().max(1)).max(1);
    let mut transaction = pool.begin().await?;
    let mut inserted = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut statement = Query::insert();
        statement
            .into_table(Alias::new(entity.name.as_str()))
            .columns(columns.iter().map(|column| Alias::new(*column)));
        for row in rows.by_ref().take(rows_per_statement) {
            let values: Vec<Expr> = row
                .iter()
                .zip(types)
                .map(|(value, value_type)| Expr::val(DB::bind_value(value_type, value)))
                .collect();
            statement.values(values).map_err(|error| StoreError::Internal(error.to_string()))?;
        }
        let (sql, values) = DB::build(&statement);
        inserted += DB::execute(&mut transaction, sql, values).await?;
    }
    transaction.commit().await?;
    Ok(inserted)
}

async fn finish<DB: Dialect>(pool: &Pool<DB>, schema: &lethe_schema::Schema) -> Result<(), StoreError> {
    let mut connection = pool.acquire().await?;
    if DB::BACKEND == Backend::Postgres {
        for entity in schema.entities() {
            // The table name comes from the validated schema (lower snake_case only).
            let table = entity.name.as_str();
            let statement = format!(
                "SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), GREATEST((SELECT COALESCE(MAX(id), 0) FROM \"{table}\"), 1))"
            );
            DB::execute_plain(&mut connection, statement).await?;
        }
    }
    DB::execute_plain(&mut connection, "ANALYZE".to_owned()).await?;
    Ok(())
}
