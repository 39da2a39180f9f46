//! Small typed readers for Lethe's own tables, on top of [`Dialect::decode`].

use lethe_schema::ValueType;
use time::OffsetDateTime;

use crate::dialect::Dialect;
use crate::error::StoreError;
use lethe_domain::value::Value;

pub fn int<DB: Dialect>(row: &DB::Row, index: usize) -> Result<Option<i64>, StoreError> {
    Ok(match DB::decode(row, index, &ValueType::Integer)? {
        Value::Integer(number) => Some(number),
        _ => None,
    })
}

pub fn text<DB: Dialect>(row: &DB::Row, index: usize) -> Result<Option<String>, StoreError> {
    Ok(match DB::decode(row, index, &ValueType::Text)? {
        Value::Text(text) => Some(text),
        _ => None,
    })
}

pub fn timestamp<DB: Dialect>(
    row: &DB::Row,
    index: usize,
) -> Result<Option<OffsetDateTime>, StoreError> {
    Ok(match DB::decode(row, index, &ValueType::Timestamp)? {
        Value::Timestamp(at) => Some(at),
        _ => None,
    })
}

pub fn json<DB: Dialect>(
    row: &DB::Row,
    index: usize,
) -> Result<Option<serde_json::Value>, StoreError> {
    Ok(match DB::decode(row, index, &ValueType::Json)? {
        Value::Json(json) => Some(json),
        _ => None,
    })
}

/// A non-negative count read from an integer column.
pub fn count<DB: Dialect>(row: &DB::Row, index: usize) -> Result<u64, StoreError> {
    Ok(int::<DB>(row, index)?.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

/// Binds a timestamp for a column of Lethe's own tables.
pub fn bind_time<DB: Dialect>(at: OffsetDateTime) -> sea_query::Value {
    DB::bind_value(&ValueType::Timestamp, &Value::Timestamp(at))
}

pub fn bind_opt_time<DB: Dialect>(at: Option<OffsetDateTime>) -> sea_query::Value {
    DB::bind_value(
        &ValueType::Timestamp,
        &at.map_or(Value::Null, Value::Timestamp),
    )
}

pub fn bind_opt_int<DB: Dialect>(number: Option<i64>) -> sea_query::Value {
    DB::bind_value(
        &ValueType::Integer,
        &number.map_or(Value::Null, Value::Integer),
    )
}

pub fn bind_opt_text<DB: Dialect>(text: Option<&str>) -> sea_query::Value {
    DB::bind_value(
        &ValueType::Text,
        &text.map_or(Value::Null, |text| Value::Text(text.to_owned())),
    )
}

pub fn bind_json<DB: Dialect>(json: serde_json::Value) -> sea_query::Value {
    DB::bind_value(&ValueType::Json, &Value::Json(json))
}

/// Runs `insert` (one row) and returns the id the database gave it; `what` names the row in
/// the error should none come back.
pub async fn insert_id<DB: Dialect>(
    connection: &mut DB::Connection,
    insert: &mut sea_query::InsertStatement,
    what: &str,
) -> Result<i64, StoreError> {
    let (sql, values) = DB::build(insert.returning_col(sea_query::Alias::new("id")));
    match DB::fetch_optional(connection, sql, values).await? {
        Some(row) => Ok(int::<DB>(&row, 0)?.unwrap_or_default()),
        None => Err(StoreError::Internal(format!("the new {what} got no id"))),
    }
}
