//! Loading many rows at once (the demo data set, imports). Rows go in as multi-row `INSERT`
//! statements sized to the dialect's parameter limit, all in one transaction per call.

use lethe_schema::{Entity, ValueType, builtin};
use sea_query::{Alias, Expr, Query};
use sqlx::Pool;

use crate::dialect::{Backend, Dialect};
use crate::error::StoreError;
use crate::value::Value;
use crate::value::{format_date, format_timestamp};
use crate::{Pools, Store, dispatch};

/// SQLite allows 32,766 bound parameters per statement, PostgreSQL 65,535; stay below both.
const MAX_PARAMETERS_PER_STATEMENT: usize = 30_000;

fn column_type(entity: &Entity, column: &str) -> Result<ValueType, StoreError> {
    match column {
        builtin::ID | builtin::CREATED_BY | builtin::TRASH_BATCH_ID | builtin::TRASHED_BY => {
            Ok(ValueType::Integer)
        }
        builtin::CREATED_AT | builtin::UPDATED_AT | builtin::TRASHED_AT => Ok(ValueType::Timestamp),
        _ => entity
            .column(column)
            .map(|c| c.value_type.clone())
            .ok_or_else(|| StoreError::UnknownField {
                entity: entity.name.to_string(),
                field: column.to_owned(),
                suggestion: lethe_schema::suggest(column, entity.column_names()),
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
        match &self.inner_pools() {
            // PostgreSQL loads fastest through COPY, which also skips statement parsing.
            Pools::Postgres(pool) => copy_rows(pool, entity, columns, rows).await,
            Pools::Sqlite(pool) => insert_rows(pool, entity, columns, &types, rows).await,
        }
    }

    /// Before loading many rows into empty tables: drops the secondary indexes, so rows are
    /// appended without updating a dozen B-trees at random places each time.
    /// [`Store::finish_bulk_load`] builds them again; should the load be interrupted,
    /// the next [`Store::migrate`] does.
    pub async fn begin_bulk_load(&self) -> Result<(), StoreError> {
        dispatch!(self, pool => crate::ddl::drop_secondary_indexes::<_>(pool, self.schema()).await)
    }

    /// After a bulk load with explicit ids: builds the secondary indexes, moves PostgreSQL's
    /// id sequences past the highest id, and refreshes the query planner's statistics.
    pub async fn finish_bulk_load(&self) -> Result<(), StoreError> {
        dispatch!(self, pool => crate::ddl::ensure_indexes::<_>(pool, self.schema()).await)?;
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
            statement
                .values(values)
                .map_err(|error| StoreError::Internal(error.to_string()))?;
        }
        let (sql, values) = DB::build(&statement);
        inserted += DB::execute_transient(&mut transaction, sql, values).await?;
    }
    transaction.commit().await?;
    Ok(inserted)
}

async fn finish<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &lethe_schema::Schema,
) -> Result<(), StoreError> {
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
    drop(connection);
    crate::ddl::forget_trash_index_statistics(pool).await?;
    let mut connection = pool.acquire().await?;
    if DB::BACKEND == Backend::Sqlite {
        // Fold the load into the database file and give the WAL's space back.
        DB::execute_plain(
            &mut connection,
            "PRAGMA wal_checkpoint(TRUNCATE)".to_owned(),
        )
        .await?;
    }
    Ok(())
}

/// Appends `text` to a COPY text-format buffer, escaping what the format treats specially.
fn push_copy_text(buffer: &mut Vec<u8>, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'\\' => buffer.extend_from_slice(b"\\\\"),
            b'\n' => buffer.extend_from_slice(b"\\n"),
            b'\r' => buffer.extend_from_slice(b"\\r"),
            b'\t' => buffer.extend_from_slice(b"\\t"),
            other => buffer.push(other),
        }
    }
}

fn push_copy_value(buffer: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => buffer.extend_from_slice(b"\\N"),
        Value::Text(text) => push_copy_text(buffer, text),
        Value::Integer(number) => buffer.extend_from_slice(number.to_string().as_bytes()),
        Value::Decimal(decimal) => buffer.extend_from_slice(decimal.to_string().as_bytes()),
        Value::Boolean(flag) => buffer.push(if *flag { b't' } else { b'f' }),
        Value::Date(date) => buffer.extend_from_slice(format_date(*date).as_bytes()),
        Value::Timestamp(at) => buffer.extend_from_slice(format_timestamp(*at).as_bytes()),
        Value::Json(json) => push_copy_text(buffer, &json.to_string()),
    }
}

/// How much COPY data is buffered before it is sent.
const COPY_CHUNK_BYTES: usize = 1 << 20;

async fn copy_rows(
    pool: &sqlx::PgPool,
    entity: &Entity,
    columns: &[&str],
    rows: Vec<Vec<Value>>,
) -> Result<u64, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    // Identifiers: the table comes from the validated schema and every column was checked
    // against it (or the built-ins) before we got here.
    let column_list = columns
        .iter()
        .map(|column| format!("\"{column}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let statement = format!(
        "COPY \"{}\" ({column_list}) FROM STDIN (FORMAT text)",
        entity.name
    );
    let mut transaction = pool.begin().await?;
    let mut copy = transaction.copy_in_raw(&statement).await?;
    let mut buffer = Vec::with_capacity(COPY_CHUNK_BYTES + 4096);
    for row in &rows {
        for (index, value) in row.iter().enumerate() {
            if index > 0 {
                buffer.push(b'\t');
            }
            push_copy_value(&mut buffer, value);
        }
        buffer.push(b'\n');
        if buffer.len() >= COPY_CHUNK_BYTES {
            copy.send(std::mem::take(&mut buffer)).await?;
            buffer.reserve(COPY_CHUNK_BYTES + 4096);
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer).await?;
    }
    let copied = copy.finish().await?;
    transaction.commit().await?;
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_the_characters_the_format_reserves() {
        let mut buffer = Vec::new();
        push_copy_value(&mut buffer, &Value::Text("a\tb\\c\nd".to_owned()));
        buffer.push(b'|');
        push_copy_value(&mut buffer, &Value::Null);
        assert_eq!(
            String::from_utf8(buffer).expect("utf-8"),
            "a\\tb\\\\c\\nd|\\N"
        );
    }
}
