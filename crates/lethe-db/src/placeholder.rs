//! The built-in "Deleted User" placeholder (SPEC §2, §11): one record per entity type, with
//! id 0, that `anonymize` links point to after their parent is purged. It never appears in
//! selections, counts or exports, and it cannot be changed or deleted.

use lethe_schema::{Anonymize, Column, DefaultValue, Entity, Schema, ValueType, builtin};
use sea_query::{Alias, Expr, ExprTrait, Query};
use sqlx::Pool;
use time::OffsetDateTime;

use crate::dialect::Dialect;
use crate::error::StoreError;
use lethe_domain::value::Value;

/// The id of the placeholder record in every entity table. Real records start at 1.
pub const PLACEHOLDER_ID: i64 = 0;

/// What the placeholder holds in a column: the anonymised value for personal fields, a
/// neutral value where one is required, and nothing otherwise.
fn placeholder_value(column: &Column, schema: &Schema) -> Value {
    if let Some(Anonymize::Fixed(text)) = &column.anonymize {
        return Value::Text(text.clone());
    }
    if !column.required {
        return Value::Null;
    }
    match (&column.value_type, &column.default) {
        (_, Some(DefaultValue::Text(text))) => Value::Text(text.clone()),
        (_, Some(DefaultValue::Integer(number))) => Value::Integer(*number),
        (_, Some(DefaultValue::Boolean(flag))) => Value::Boolean(*flag),
        (ValueType::Text, _) => {
            if column.unique {
                Value::Text("lethe:deleted-user".to_owned())
            } else {
                Value::Text("Deleted User".to_owned())
            }
        }
        (ValueType::Enum { values }, _) => Value::Text(values.first().cloned().unwrap_or_default()),
        (ValueType::OwnerEntity { entities }, _) => Value::Text(
            entities
                .iter()
                .find(|name| schema.entity(name.as_str()).is_some())
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        (ValueType::Integer | ValueType::Reference, _) => Value::Integer(PLACEHOLDER_ID),
        (ValueType::Decimal { .. }, _) => Value::Decimal(rust_decimal::Decimal::ZERO),
        (ValueType::Boolean, _) => Value::Boolean(false),
        (ValueType::Date, _) => Value::Date(OffsetDateTime::UNIX_EPOCH.date()),
        (ValueType::Timestamp, _) => Value::Timestamp(OffsetDateTime::UNIX_EPOCH),
        (ValueType::Json, _) => Value::Json(serde_json::json!({})),
    }
}

async fn ensure_one<DB: Dialect>(
    connection: &mut DB::Connection,
    schema: &Schema,
    entity: &Entity,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let table = Alias::new(entity.name.as_str());
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new(builtin::ID))
            .from(table.clone())
            .and_where(Expr::col(Alias::new(builtin::ID)).eq(PLACEHOLDER_ID)),
    );
    if DB::fetch_optional(connection, sql, values).await?.is_some() {
        return Ok(());
    }
    let timestamp = DB::bind_value(&ValueType::Timestamp, &Value::Timestamp(now));
    let mut columns = vec![
        Alias::new(builtin::ID),
        Alias::new(builtin::CREATED_AT),
        Alias::new(builtin::UPDATED_AT),
    ];
    let mut values = vec![
        Expr::val(PLACEHOLDER_ID),
        Expr::val(timestamp.clone()),
        Expr::val(timestamp),
    ];
    for column in &entity.columns {
        let value = placeholder_value(column, schema);
        if value.is_null() {
            continue;
        }
        columns.push(Alias::new(column.name.as_str()));
        values.push(Expr::val(DB::bind_value(&column.value_type, &value)));
    }
    let (sql, bound) = DB::build(
        Query::insert()
            .into_table(table)
            .columns(columns)
            .values_panic(values),
    );
    DB::execute(connection, sql, bound).await?;
    Ok(())
}

/// Creates the placeholder of every entity that lacks one, parents first (a placeholder's
/// required links point at its parents' placeholders).
pub async fn ensure_placeholders<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = crate::dialect::begin_write(pool).await?;
    for entity in schema.entities() {
        ensure_one::<DB>(&mut transaction, schema, entity, now).await?;
    }
    transaction.commit().await?;
    Ok(())
}
