//! The two SQL backends behind one trait. Everything that differs between SQLite and
//! PostgreSQL — the sea-query builder, how values are bound, how columns are decoded, column
//! types — lives here; the rest of the crate is written once, generic over [`Dialect`].

use std::future::Future;

use lethe_schema::ValueType;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};
use sea_query_sqlx::{SqlxBinder, SqlxValues};
use sqlx::{AssertSqlSafe, Postgres, Row, Sqlite};
use time::{Date, OffsetDateTime};

use lethe_domain::value::{Value, format_date, format_timestamp, parse_date, parse_timestamp};

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// One SQL dialect: the sqlx database plus what Lethe needs to know about it.
pub trait Dialect: sqlx::Database {
    const BACKEND: Backend;

    /// Renders a sea-query statement for this dialect with its bound values.
    fn build<S: SqlxBinder>(statement: &S) -> (String, SqlxValues);

    /// Renders a schema (DDL) statement for this dialect.
    fn build_schema<S: sea_query::SchemaStatementBuilder>(statement: &S) -> String;

    /// The SQL column type for a value type.
    fn column_type(value_type: &ValueType) -> &'static str;

    /// Converts a value into a bound parameter for a column of `value_type`. `NULL` is typed
    /// too, because PostgreSQL refuses an untyped text `NULL` for a `bigint` column.
    fn bind_value(value_type: &ValueType, value: &Value) -> sea_query::Value;

    /// Decodes column `index` of a row as a value of `value_type`.
    fn decode(row: &Self::Row, index: usize, value_type: &ValueType) -> Result<Value, sqlx::Error>;

    fn fetch_all<'c>(
        connection: &'c mut Self::Connection,
        sql: String,
        values: SqlxValues,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + 'c;

    fn fetch_optional<'c>(
        connection: &'c mut Self::Connection,
        sql: String,
        values: SqlxValues,
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + 'c;

    fn execute<'c>(
        connection: &'c mut Self::Connection,
        sql: String,
        values: SqlxValues,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c;

    /// Like [`Dialect::execute`], but the prepared statement is not kept in the connection's
    /// statement cache. For one-off giant statements (multi-row inserts), which would
    /// otherwise pin megabytes of memory per connection.
    fn execute_transient<'c>(
        connection: &'c mut Self::Connection,
        sql: String,
        values: SqlxValues,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c;

    /// Runs fixed SQL text (DDL, pragmas) that takes no parameters.
    fn execute_plain<'c>(
        connection: &'c mut Self::Connection,
        sql: String,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c;

    /// Stops any statement on `connection` that runs longer than `limit` from now on (until
    /// [`Dialect::unlimit_time`]): a progress handler on SQLite, `statement_timeout` on
    /// PostgreSQL. The statement then fails with an error [`is_out_of_time`] recognises.
    fn limit_time<'c>(
        connection: &'c mut Self::Connection,
        limit: std::time::Duration,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c;

    fn unlimit_time<'c>(
        connection: &'c mut Self::Connection,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c;

    /// The connection as a PostgreSQL one, for what only PostgreSQL has (`COPY … FROM
    /// STDIN`); `None` on SQLite.
    fn postgres(connection: &mut Self::Connection) -> Option<&mut sqlx::PgConnection>;
}

/// Whether a database error is a statement stopped by [`Dialect::limit_time`]: SQLite's
/// `SQLITE_INTERRUPT` (9), PostgreSQL's `query_canceled` (57014).
pub fn is_out_of_time(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(database) => {
            let code = database
                .code()
                .map(|code| code.into_owned())
                .unwrap_or_default();
            code == "57014" || code.parse::<u32>().is_ok_and(|number| number & 0xff == 9)
        }
        _ => false,
    }
}

/// A table or column name quoted as an identifier, the same way in both dialects (`"name"`,
/// an embedded `"` doubled), for SQL that sea-query does not build (`ANALYZE`, `VACUUM FULL`,
/// custom expressions). A schema's names are validated but may be reserved words (`order`,
/// `from`, `user`), which neither database accepts unquoted.
pub fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Runs `work` on `connection` under a time limit (none when `limit` is `None`); a statement
/// that runs out of time becomes [`StoreError::TooExpensive`].
pub async fn within_time<DB: Dialect, T>(
    connection: &mut DB::Connection,
    limit: Option<std::time::Duration>,
    work: impl AsyncFnOnce(&mut DB::Connection) -> Result<T, crate::StoreError>,
) -> Result<T, crate::StoreError> {
    let Some(limit) = limit else {
        return work(connection).await;
    };
    DB::limit_time(connection, limit).await?;
    let outcome = work(connection).await;
    // On PostgreSQL the `RESET` is itself a statement under the limit, and a short limit on a
    // busy server can stop it too; it is asked again (a fresh limit each time) rather than
    // giving the connection back to the pool still limited.
    let mut attempts = 0;
    loop {
        match DB::unlimit_time(connection).await {
            Ok(()) => break,
            Err(error) if is_out_of_time(&error) && attempts < 10 => attempts += 1,
            Err(error) => return Err(error.into()),
        }
    }
    outcome.map_err(|error| match error {
        crate::StoreError::Database(inner) if is_out_of_time(&inner) => {
            crate::StoreError::TooExpensive {
                seconds: limit.as_secs_f64(),
            }
        }
        other => other,
    })
}

/// The execution methods are the same text for both dialects; sqlx's executor traits are
/// implemented for each connection type separately, so the body is stamped out twice.
macro_rules! execution_methods {
    ($db:ty) => {
        fn fetch_all<'c>(
            connection: &'c mut <$db as sqlx::Database>::Connection,
            sql: String,
            values: SqlxValues,
        ) -> impl Future<Output = Result<Vec<<$db as sqlx::Database>::Row>, sqlx::Error>> + Send + 'c
        {
            // The SQL text comes from sea-query (or a fixed literal); every value is bound.
            async move { sqlx::query_with(AssertSqlSafe(sql), values).fetch_all(connection).await }
        }

        fn fetch_optional<'c>(
            connection: &'c mut <$db as sqlx::Database>::Connection,
            sql: String,
            values: SqlxValues,
        ) -> impl Future<Output = Result<Option<<$db as sqlx::Database>::Row>, sqlx::Error>> + Send + 'c
        {
            async move {
                sqlx::query_with(AssertSqlSafe(sql), values).fetch_optional(connection).await
            }
        }

        fn execute<'c>(
            connection: &'c mut <$db as sqlx::Database>::Connection,
            sql: String,
            values: SqlxValues,
        ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c {
            async move {
                let done = sqlx::query_with(AssertSqlSafe(sql), values).execute(connection).await?;
                Ok(done.rows_affected())
            }
        }

        fn execute_transient<'c>(
            connection: &'c mut <$db as sqlx::Database>::Connection,
            sql: String,
            values: SqlxValues,
        ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c {
            async move {
                let done = sqlx::query_with(AssertSqlSafe(sql), values)
                    .persistent(false)
                    .execute(connection)
                    .await?;
                Ok(done.rows_affected())
            }
        }

        fn execute_plain<'c>(
            connection: &'c mut <$db as sqlx::Database>::Connection,
            sql: String,
        ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c {
            async move {
                let done = sqlx::raw_sql(AssertSqlSafe(sql)).execute(connection).await?;
                Ok(done.rows_affected())
            }
        }
    };
}

/// A decimal as a whole number of 10^-scale units, for SQLite. Stored values fit (see
/// [`lethe_domain::value::MAX_DECIMAL_DIGITS`]); a larger filter bound is clamped to the ends of
/// `i64`, which no stored value reaches, so comparisons with it keep their meaning.
fn scaled_integer(decimal: Decimal, scale: u32) -> i64 {
    let mut rounded = decimal.round_dp(scale);
    rounded.rescale(scale);
    let units = rounded.mantissa();
    i64::try_from(units).unwrap_or(if units < 0 { i64::MIN } else { i64::MAX })
}

fn decode_error(index: usize, message: impl Into<String>) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source: message.into().into(),
    }
}

impl Dialect for Sqlite {
    const BACKEND: Backend = Backend::Sqlite;

    async fn limit_time(
        connection: &mut sqlx::SqliteConnection,
        limit: std::time::Duration,
    ) -> Result<(), sqlx::Error> {
        let deadline = std::time::Instant::now() + limit;
        // Asked every 10,000 virtual machine steps (well under a millisecond).
        connection
            .lock_handle()
            .await?
            .set_progress_handler(10_000, move || std::time::Instant::now() < deadline);
        Ok(())
    }

    async fn unlimit_time(connection: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
        connection.lock_handle().await?.remove_progress_handler();
        Ok(())
    }

    fn postgres(_connection: &mut sqlx::SqliteConnection) -> Option<&mut sqlx::PgConnection> {
        None
    }

    fn build<S: SqlxBinder>(statement: &S) -> (String, SqlxValues) {
        statement.build_sqlx(SqliteQueryBuilder)
    }

    fn build_schema<S: sea_query::SchemaStatementBuilder>(statement: &S) -> String {
        statement.to_string(SqliteQueryBuilder)
    }

    fn column_type(value_type: &ValueType) -> &'static str {
        match value_type {
            // Dates and timestamps are fixed-width ISO 8601 text, so text order is time order.
            ValueType::Text
            | ValueType::Enum { .. }
            | ValueType::OwnerEntity { .. }
            | ValueType::Date
            | ValueType::Timestamp
            | ValueType::Json => "text",
            ValueType::Integer | ValueType::Reference | ValueType::Boolean => "integer",
            // Decimals are stored as integers in units of 10^-scale (cents for scale 2):
            // exact, ordered, and summable, where `real` loses digits beyond 15.
            ValueType::Decimal { .. } => "integer",
        }
    }

    fn bind_value(value_type: &ValueType, value: &Value) -> sea_query::Value {
        use sea_query::Value as S;
        match (value_type, value) {
            (_, Value::Text(text)) => S::String(Some(text.clone())),
            (_, Value::Integer(number)) => S::BigInt(Some(*number)),
            (ValueType::Decimal { scale }, Value::Decimal(decimal)) => {
                S::BigInt(Some(scaled_integer(*decimal, *scale)))
            }
            (_, Value::Decimal(decimal)) => S::Double(decimal.to_f64()),
            (_, Value::Boolean(flag)) => S::BigInt(Some(i64::from(*flag))),
            (_, Value::Date(date)) => S::String(Some(format_date(*date))),
            (_, Value::Timestamp(at)) => S::String(Some(format_timestamp(*at))),
            (_, Value::Json(json)) => S::String(Some(json.to_string())),
            (ValueType::Integer | ValueType::Reference | ValueType::Boolean, Value::Null) => {
                S::BigInt(None)
            }
            (ValueType::Decimal { .. }, Value::Null) => S::BigInt(None),
            (_, Value::Null) => S::String(None),
        }
    }

    fn decode(row: &Self::Row, index: usize, value_type: &ValueType) -> Result<Value, sqlx::Error> {
        let value = match value_type {
            ValueType::Text | ValueType::Enum { .. } | ValueType::OwnerEntity { .. } => {
                row.try_get::<Option<String>, _>(index)?.map(Value::Text)
            }
            ValueType::Integer | ValueType::Reference => {
                row.try_get::<Option<i64>, _>(index)?.map(Value::Integer)
            }
            ValueType::Boolean => row
                .try_get::<Option<i64>, _>(index)?
                .map(|n| Value::Boolean(n != 0)),
            ValueType::Decimal { scale } => row
                .try_get::<Option<i64>, _>(index)?
                .map(|units| Value::Decimal(Decimal::new(units, *scale))),
            ValueType::Date => match row.try_get::<Option<String>, _>(index)? {
                None => None,
                Some(text) => Some(Value::Date(
                    parse_date(&text).map_err(|error| decode_error(index, error.0))?,
                )),
            },
            ValueType::Timestamp => match row.try_get::<Option<String>, _>(index)? {
                None => None,
                Some(text) => Some(Value::Timestamp(
                    parse_timestamp(&text).map_err(|error| decode_error(index, error.0))?,
                )),
            },
            ValueType::Json => match row.try_get::<Option<String>, _>(index)? {
                None => None,
                Some(text) => Some(Value::Json(
                    serde_json::from_str(&text)
                        .map_err(|error| decode_error(index, error.to_string()))?,
                )),
            },
        };
        Ok(value.unwrap_or(Value::Null))
    }

    execution_methods!(Sqlite);
}

impl Dialect for Postgres {
    const BACKEND: Backend = Backend::Postgres;

    async fn limit_time(
        connection: &mut sqlx::PgConnection,
        limit: std::time::Duration,
    ) -> Result<(), sqlx::Error> {
        let millis = limit.as_millis().max(1);
        sqlx::raw_sql(AssertSqlSafe(format!("SET statement_timeout = {millis}")))
            .execute(connection)
            .await?;
        Ok(())
    }

    async fn unlimit_time(connection: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(AssertSqlSafe("RESET statement_timeout".to_owned()))
            .execute(connection)
            .await?;
        Ok(())
    }

    fn postgres(connection: &mut sqlx::PgConnection) -> Option<&mut sqlx::PgConnection> {
        Some(connection)
    }

    fn build<S: SqlxBinder>(statement: &S) -> (String, SqlxValues) {
        statement.build_sqlx(PostgresQueryBuilder)
    }

    fn build_schema<S: sea_query::SchemaStatementBuilder>(statement: &S) -> String {
        statement.to_string(PostgresQueryBuilder)
    }

    fn column_type(value_type: &ValueType) -> &'static str {
        match value_type {
            ValueType::Text | ValueType::Enum { .. } | ValueType::OwnerEntity { .. } => "text",
            ValueType::Integer | ValueType::Reference => "bigint",
            ValueType::Boolean => "boolean",
            ValueType::Decimal { .. } => "numeric",
            ValueType::Date => "date",
            ValueType::Timestamp => "timestamptz",
            ValueType::Json => "jsonb",
        }
    }

    fn bind_value(value_type: &ValueType, value: &Value) -> sea_query::Value {
        use sea_query::Value as S;
        match (value_type, value) {
            (_, Value::Text(text)) => S::String(Some(text.clone())),
            (_, Value::Integer(number)) => S::BigInt(Some(*number)),
            (_, Value::Decimal(decimal)) => S::Decimal(Some(*decimal)),
            (_, Value::Boolean(flag)) => S::Bool(Some(*flag)),
            (_, Value::Date(date)) => S::TimeDate(Some(*date)),
            (_, Value::Timestamp(at)) => S::TimeDateTimeWithTimeZone(Some(*at)),
            (_, Value::Json(json)) => S::Json(Some(Box::new(json.clone()))),
            (ValueType::Integer | ValueType::Reference, Value::Null) => S::BigInt(None),
            (ValueType::Boolean, Value::Null) => S::Bool(None),
            (ValueType::Decimal { .. }, Value::Null) => S::Decimal(None),
            (ValueType::Date, Value::Null) => S::TimeDate(None),
            (ValueType::Timestamp, Value::Null) => S::TimeDateTimeWithTimeZone(None),
            (ValueType::Json, Value::Null) => S::Json(None),
            (_, Value::Null) => S::String(None),
        }
    }

    fn decode(row: &Self::Row, index: usize, value_type: &ValueType) -> Result<Value, sqlx::Error> {
        let value = match value_type {
            ValueType::Text | ValueType::Enum { .. } | ValueType::OwnerEntity { .. } => {
                row.try_get::<Option<String>, _>(index)?.map(Value::Text)
            }
            ValueType::Integer | ValueType::Reference => {
                row.try_get::<Option<i64>, _>(index)?.map(Value::Integer)
            }
            ValueType::Boolean => row.try_get::<Option<bool>, _>(index)?.map(Value::Boolean),
            ValueType::Decimal { scale } => row.try_get::<Option<Decimal>, _>(index)?.map(|d| {
                let mut decimal = d.round_dp(*scale);
                decimal.rescale(*scale);
                Value::Decimal(decimal)
            }),
            ValueType::Date => row.try_get::<Option<Date>, _>(index)?.map(Value::Date),
            ValueType::Timestamp => row
                .try_get::<Option<OffsetDateTime>, _>(index)?
                .map(Value::Timestamp),
            ValueType::Json => row
                .try_get::<Option<serde_json::Value>, _>(index)?
                .map(Value::Json),
        };
        Ok(value.unwrap_or(Value::Null))
    }

    execution_methods!(Postgres);
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`): a transaction that reads first and writes later could otherwise fail
/// with "database is locked" when another writer commits in between, whatever the busy
/// timeout. PostgreSQL's row locks need nothing special.
pub async fn begin_write<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
) -> Result<sqlx::Transaction<'static, DB>, sqlx::Error> {
    match DB::BACKEND {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
}
