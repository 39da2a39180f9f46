//! Creating, reading, updating and listing records of any entity.
//!
//! Input arrives as a JSON object and is parsed against the entity's columns before anything
//! touches the database; every problem is reported with the field it is about. Writes happen
//! in one transaction together with the checks they depend on, so an error writes nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lethe_schema::{Column, DefaultValue, Entity, Schema, ValueType, builtin, suggest};
use sea_query::{Alias, Expr, ExprTrait, Order, Query, SimpleExpr};
use serde::{Deserialize, Serialize};
use sqlx::Pool;
use time::OffsetDateTime;

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::value::Value;
use crate::{Pools, Store, dispatch};

/// A record as read from its table: the built-in columns and the entity's own columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub entity: String,
    pub id: i64,
    pub created_at: OffsetDateTime,
    pub created_by: Option<i64>,
    pub updated_at: OffsetDateTime,
    /// The entity's columns in schema order.
    pub values: Vec<(String, Value)>,
}

impl Record {
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, value)| value)
    }

    /// The record as a JSON object: `id`, the built-in columns, then the fields.
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        object.insert(builtin::ID.to_owned(), self.id.into());
        object.insert(
            builtin::CREATED_AT.to_owned(),
            Value::Timestamp(self.created_at).to_json(),
        );
        object.insert(builtin::CREATED_BY.to_owned(), self.created_by.into());
        object.insert(
            builtin::UPDATED_AT.to_owned(),
            Value::Timestamp(self.updated_at).to_json(),
        );
        for (name, value) in &self.values {
            object.insert(name.clone(), value.to_json());
        }
        serde_json::Value::Object(object)
    }
}

/// Direction of a sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

/// A request for one page of records.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// The column to sort by (default `id`); must be the id, a timestamp or an indexed column.
    pub sort: Option<String>,
    pub order: SortOrder,
    /// Page size, 1 to [`MAX_PAGE_SIZE`]; default [`DEFAULT_PAGE_SIZE`].
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// One page of records and the cursor of the next one, if there is more.
#[derive(Debug, Clone)]
pub struct Page {
    pub records: Vec<Record>,
    pub next_cursor: Option<String>,
}

/// The content of a page cursor. Opaque to clients; checked against the request it is used
/// with so a cursor from another sort cannot silently skip records.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    entity: String,
    sort: String,
    order: SortOrder,
    value: serde_json::Value,
    id: i64,
}

/// The columns selected for a record, in decoding order: the built-ins we return, then the
/// entity's columns.
const SELECTED_BUILTINS: [&str; 5] = [
    builtin::ID,
    builtin::CREATED_AT,
    builtin::CREATED_BY,
    builtin::UPDATED_AT,
    builtin::TRASH_BATCH_ID,
];

pub(crate) fn selected_columns(entity: &Entity) -> Vec<Alias> {
    SELECTED_BUILTINS
        .iter()
        .map(|name| Alias::new(*name))
        .chain(
            entity
                .columns
                .iter()
                .map(|column| Alias::new(column.name.as_str())),
        )
        .collect()
}

/// Decodes a row selected with [`selected_columns`]; returns the record and its trash batch.
pub(crate) fn decode_record<DB: Dialect>(
    entity: &Entity,
    row: &DB::Row,
) -> Result<(Record, Option<i64>), StoreError> {
    let integer = |index: usize| -> Result<Option<i64>, StoreError> {
        match DB::decode(row, index, &ValueType::Integer)? {
            Value::Integer(number) => Ok(Some(number)),
            _ => Ok(None),
        }
    };
    let timestamp = |index: usize| -> Result<OffsetDateTime, StoreError> {
        match DB::decode(row, index, &ValueType::Timestamp)? {
            Value::Timestamp(at) => Ok(at),
            _ => Err(StoreError::Internal(format!(
                "{} has a record without a timestamp",
                entity.name
            ))),
        }
    };
    let id = integer(0)?.ok_or_else(|| {
        StoreError::Internal(format!("{} has a record without an id", entity.name))
    })?;
    let mut values = Vec::with_capacity(entity.columns.len());
    for (offset, column) in entity.columns.iter().enumerate() {
        let value = DB::decode(row, SELECTED_BUILTINS.len() + offset, &column.value_type)?;
        values.push((column.name.to_string(), value));
    }
    let record = Record {
        entity: entity.name.to_string(),
        id,
        created_at: timestamp(1)?,
        created_by: integer(2)?,
        updated_at: timestamp(3)?,
        values,
    };
    Ok((record, integer(4)?))
}

/// Parses a JSON object of field values against an entity. Every key must be a writable
/// column; every value must fit it.
pub(crate) fn parse_input<'e>(
    entity: &'e Entity,
    input: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<(&'e Column, Value)>, StoreError> {
    let mut parsed = Vec::with_capacity(input.len());
    for (key, json) in input {
        if builtin::is_builtin(key) {
            return Err(StoreError::ReadOnlyField { field: key.clone() });
        }
        if crate::files::is_managed(entity, key) {
            return Err(StoreError::FileField {
                entity: entity.name.to_string(),
                field: key.clone(),
            });
        }
        let Some(column) = entity.column(key) else {
            return Err(StoreError::UnknownField {
                entity: entity.name.to_string(),
                field: key.clone(),
                suggestion: suggest(key, entity.column_names()),
            });
        };
        let value = Value::from_json(&column.value_type, json).map_err(|error| {
            StoreError::InvalidValue {
                entity: entity.name.to_string(),
                field: key.clone(),
                message: error.0,
            }
        })?;
        parsed.push((column, value));
    }
    Ok(parsed)
}

pub(crate) fn default_value(column: &Column) -> Option<Value> {
    let default = column.default.as_ref()?;
    Some(match default {
        DefaultValue::Text(text) => Value::Text(text.clone()),
        DefaultValue::Integer(number) => Value::Integer(*number),
        DefaultValue::Boolean(flag) => Value::Boolean(*flag),
        DefaultValue::Decimal(text) => {
            let mut decimal = text.parse::<rust_decimal::Decimal>().ok()?;
            if let ValueType::Decimal { scale } = column.value_type {
                decimal.rescale(scale);
            }
            Value::Decimal(decimal)
        }
    })
}

/// Checks that every link a write sets points at a record that exists and is not in the
/// trash (SPEC §11: nothing new may point at the trash).
pub(crate) async fn check_references<DB: Dialect>(
    connection: &mut DB::Connection,
    schema: &Schema,
    entity: &Entity,
    values: &[(&Column, Value)],
) -> Result<(), StoreError> {
    for relation in schema.relations_from(&entity.name) {
        let Some((_, Value::Integer(parent_id))) = values
            .iter()
            .find(|(column, _)| column.name == relation.column)
        else {
            continue;
        };
        let parent = match &relation.discriminator {
            None => relation.parents.first().map(|parent| parent.to_string()),
            Some(discriminator) => {
                match values
                    .iter()
                    .find(|(column, _)| &column.name == discriminator)
                {
                    Some((_, Value::Text(name))) => Some(name.clone()),
                    _ => {
                        return Err(StoreError::InvalidValue {
                            entity: entity.name.to_string(),
                            field: discriminator.to_string(),
                            message: format!(
                                "is needed together with {} to say which entity the id belongs to",
                                relation.column
                            ),
                        });
                    }
                }
            }
        };
        let Some(parent) = parent else { continue };
        let (sql, bound) = DB::build(
            Query::select()
                .column(Alias::new(builtin::TRASH_BATCH_ID))
                .from(Alias::new(parent.as_str()))
                .and_where(Expr::col(Alias::new(builtin::ID)).eq(*parent_id)),
        );
        let Some(row) = DB::fetch_optional(connection, sql, bound).await? else {
            return Err(StoreError::MissingReference {
                entity: entity.name.to_string(),
                field: relation.column.to_string(),
                target: parent,
                id: *parent_id,
            });
        };
        if let Value::Integer(_) = DB::decode(&row, 0, &ValueType::Integer)? {
            return Err(StoreError::ReferenceInTrash {
                entity: entity.name.to_string(),
                field: relation.column.to_string(),
                target: parent,
                id: *parent_id,
            });
        }
    }
    Ok(())
}

/// Turns a database constraint error into the field-level error a user can act on.
pub(crate) fn explain_constraint(entity: &Entity, error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(database_error) = &error {
        if database_error.is_unique_violation() {
            let message = database_error.message();
            let constraint = database_error.constraint().unwrap_or_default();
            let column = entity.columns.iter().find(|column| {
                let index =
                    crate::ddl::index_name("ux", entity.name.as_str(), column.name.as_str());
                constraint == index || message.contains(&format!("{}.{}", entity.name, column.name))
            });
            if let Some(column) = column {
                return StoreError::UniqueViolation {
                    entity: entity.name.to_string(),
                    field: column.name.to_string(),
                };
            }
        }
        if database_error.is_foreign_key_violation() {
            return StoreError::BadRequest(format!(
                "{}: a record this one refers to no longer exists",
                entity.name
            ));
        }
    }
    StoreError::Database(error)
}

impl Store {
    /// Creates a record from a JSON object of field values. Records of a file-holding entity
    /// are created with their file ([`Store::create_record_with_file`]).
    pub async fn create_record(
        &self,
        entity_name: &str,
        input: &serde_json::Map<String, serde_json::Value>,
        actor: Option<i64>,
    ) -> Result<Record, StoreError> {
        let entity = self.entity(entity_name)?;
        if crate::files::holds_files(entity) {
            return Err(StoreError::FileRequired {
                entity: entity.name.to_string(),
            });
        }
        self.create_record_managed(entity_name, input, actor, &[])
            .await
    }

    /// Creates a record from a JSON object of field values and the values Lethe decides
    /// (`managed`: a file's storage key and size).
    pub(crate) async fn create_record_managed(
        &self,
        entity: &str,
        input: &serde_json::Map<String, serde_json::Value>,
        actor: Option<i64>,
        managed: &[(&str, Value)],
    ) -> Result<Record, StoreError> {
        let entity = self.entity(entity)?;
        let mut values = parse_input(entity, input)?;
        values.extend(crate::files::managed_values(entity, managed));
        for column in &entity.columns {
            if !values.iter().any(|(given, _)| given.name == column.name)
                && let Some(default) = default_value(column)
            {
                values.push((column, default));
            }
        }
        let missing: Vec<String> = entity
            .columns
            .iter()
            .filter(|column| column.required)
            .filter(|column| {
                values
                    .iter()
                    .all(|(given, value)| given.name != column.name || value.is_null())
            })
            .map(|column| column.name.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(StoreError::MissingRequired {
                entity: entity.name.to_string(),
                fields: missing,
            });
        }
        let now = self.now();
        dispatch!(self, pool => create::<_>(pool, self.schema(), entity, &values, actor, now).await)
    }

    /// Reads one active record. A record in the trash is reported as such.
    pub async fn get_record(&self, entity: &str, id: i64) -> Result<Record, StoreError> {
        let entity = self.entity(entity)?;
        dispatch!(self, pool => get::<_>(pool, entity, id).await)
    }

    /// Changes the given fields of an active record.
    pub async fn update_record(
        &self,
        entity: &str,
        id: i64,
        input: &serde_json::Map<String, serde_json::Value>,
        _actor: Option<i64>,
    ) -> Result<Record, StoreError> {
        let entity = self.entity(entity)?;
        if id == crate::placeholder::PLACEHOLDER_ID {
            return Err(StoreError::Conflict(format!(
                "{} {id} is the built-in \"Deleted User\" placeholder, which cannot be changed",
                entity.name
            )));
        }
        let values = parse_input(entity, input)?;
        let cleared: Vec<String> = values
            .iter()
            .filter(|(column, value)| column.required && value.is_null())
            .map(|(column, _)| column.name.to_string())
            .collect();
        if !cleared.is_empty() {
            return Err(StoreError::MissingRequired {
                entity: entity.name.to_string(),
                fields: cleared,
            });
        }
        if values.is_empty() {
            return Err(StoreError::BadRequest(format!(
                "nothing to update: give at least one field of {}",
                entity.name
            )));
        }
        let now = self.now();
        dispatch!(self, pool => update::<_>(pool, self.schema(), entity, id, &values, now).await)
    }

    /// Lists active records, one page at a time (keyset paging: stable and fast at any depth).
    pub async fn list_records(&self, entity: &str, query: &ListQuery) -> Result<Page, StoreError> {
        let entity = self.entity(entity)?;
        let active = crate::select::scope_condition("t0", crate::select::Scope::Active)
            .unwrap_or_else(|| Expr::cust("1 = 1"));
        let limit = self.settings().query_timeout;
        dispatch!(self, pool => list::<_>(pool, entity, query, active.clone(), limit).await)
    }

    /// Number of records in an entity table, in every lifecycle state.
    pub async fn count_records(&self, entity: &str) -> Result<u64, StoreError> {
        let entity = self.entity(entity)?;
        dispatch!(self, pool => count::<_>(pool, entity).await)
    }
}

async fn count<DB: Dialect>(pool: &Pool<DB>, entity: &Entity) -> Result<u64, StoreError> {
    let mut connection = pool.acquire().await?;
    let real = Expr::col(Alias::new(builtin::ID)).ne(crate::placeholder::PLACEHOLDER_ID);
    crate::select::count_where::<DB>(&mut connection, entity.name.as_str(), real).await
}

async fn create<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
    entity: &Entity,
    values: &[(&Column, Value)],
    actor: Option<i64>,
    now: OffsetDateTime,
) -> Result<Record, StoreError> {
    let mut transaction = crate::dialect::begin_write(pool).await?;
    check_references::<DB>(&mut transaction, schema, entity, values).await?;
    let timestamp = DB::bind_value(&ValueType::Timestamp, &Value::Timestamp(now));
    let mut columns = vec![
        Alias::new(builtin::CREATED_AT),
        Alias::new(builtin::CREATED_BY),
        Alias::new(builtin::UPDATED_AT),
    ];
    let mut row: Vec<Expr> = vec![
        timestamp.clone().into(),
        DB::bind_value(
            &ValueType::Integer,
            &actor.map_or(Value::Null, Value::Integer),
        )
        .into(),
        timestamp.into(),
    ];
    for (column, value) in values {
        columns.push(Alias::new(column.name.as_str()));
        row.push(DB::bind_value(&column.value_type, value).into());
    }
    let mut statement = Query::insert();
    statement
        .into_table(Alias::new(entity.name.as_str()))
        .columns(columns)
        .values(row)
        .map_err(|error| StoreError::Internal(error.to_string()))?
        .returning(Query::returning().columns(selected_columns(entity)));
    let (sql, bound) = DB::build(&statement);
    let inserted = DB::fetch_optional(&mut transaction, sql, bound)
        .await
        .map_err(|error| explain_constraint(entity, error))?
        .ok_or_else(|| StoreError::Internal("an insert returned no row".to_owned()))?;
    let (record, _) = decode_record::<DB>(entity, &inserted)?;
    transaction.commit().await?;
    Ok(record)
}

async fn get<DB: Dialect>(pool: &Pool<DB>, entity: &Entity, id: i64) -> Result<Record, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .columns(selected_columns(entity))
            .from(Alias::new(entity.name.as_str()))
            .and_where(Expr::col(Alias::new(builtin::ID)).eq(id)),
    );
    let mut connection = pool.acquire().await?;
    let row = DB::fetch_optional(&mut connection, sql, values)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            entity: entity.name.to_string(),
            id,
        })?;
    let (record, trash_batch) = decode_record::<DB>(entity, &row)?;
    if let Some(batch) = trash_batch {
        return Err(StoreError::InTrash {
            entity: entity.name.to_string(),
            id,
            batch,
        });
    }
    Ok(record)
}

async fn update<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
    entity: &Entity,
    id: i64,
    values: &[(&Column, Value)],
    now: OffsetDateTime,
) -> Result<Record, StoreError> {
    let mut transaction = crate::dialect::begin_write(pool).await?;
    // An owner id is checked together with its entity name, so both must be given together.
    check_references::<DB>(&mut transaction, schema, entity, values).await?;
    let mut statement = Query::update();
    statement.table(Alias::new(entity.name.as_str()));
    for (column, value) in values {
        statement.value(
            Alias::new(column.name.as_str()),
            DB::bind_value(&column.value_type, value),
        );
    }
    statement
        .value(
            Alias::new(builtin::UPDATED_AT),
            DB::bind_value(&ValueType::Timestamp, &Value::Timestamp(now)),
        )
        .and_where(Expr::col(Alias::new(builtin::ID)).eq(id))
        .and_where(Expr::col(Alias::new(builtin::TRASH_BATCH_ID)).is_null())
        .returning(Query::returning().columns(selected_columns(entity)));
    let (sql, bound) = DB::build(&statement);
    let updated = DB::fetch_optional(&mut transaction, sql, bound)
        .await
        .map_err(|error| explain_constraint(entity, error))?;
    let Some(row) = updated else {
        transaction.rollback().await?;
        // Say why: the record does not exist, or it is in the trash.
        return Err(match get::<DB>(pool, entity, id).await {
            Err(error) => error,
            Ok(_) => {
                StoreError::Internal(format!("{} {id} changed during the update", entity.name))
            }
        });
    };
    let (record, _) = decode_record::<DB>(entity, &row)?;
    transaction.commit().await?;
    Ok(record)
}

fn sort_value_type(entity: &Entity, sort: &str) -> Option<(ValueType, bool)> {
    if !entity.is_sortable(sort) {
        return None;
    }
    match sort {
        builtin::ID => Some((ValueType::Integer, true)),
        builtin::CREATED_AT | builtin::UPDATED_AT => Some((ValueType::Timestamp, true)),
        _ => entity
            .column(sort)
            .map(|column| (column.value_type.clone(), column.required)),
    }
}

pub(crate) async fn list<DB: Dialect>(
    pool: &Pool<DB>,
    entity: &Entity,
    query: &ListQuery,
    condition: SimpleExpr,
    time_limit: Option<std::time::Duration>,
) -> Result<Page, StoreError> {
    let sort = query.sort.clone().unwrap_or_else(|| builtin::ID.to_owned());
    let Some((sort_type, sort_not_null)) = sort_value_type(entity, &sort) else {
        let sortable: Vec<&str> = entity.sortable_columns().collect();
        return Err(StoreError::BadRequest(format!(
            "cannot sort {} by `{sort}`; sortable fields are: {}",
            entity.name,
            sortable.join(", ")
        )));
    };
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(StoreError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}"
        )));
    }
    let order = match query.order {
        SortOrder::Asc => Order::Asc,
        SortOrder::Desc => Order::Desc,
    };
    let sort_column = (Alias::new("t0"), Alias::new(sort.as_str()));
    let id_column = (Alias::new("t0"), Alias::new(builtin::ID));

    let mut statement = Query::select();
    statement
        .columns(selected_columns(entity))
        .from_as(Alias::new(entity.name.as_str()), Alias::new("t0"))
        .and_where(condition);

    if let Some(raw_cursor) = &query.cursor {
        let cursor = decode_cursor(raw_cursor)?;
        if cursor.entity != entity.name.as_str()
            || cursor.sort != sort
            || cursor.order != query.order
        {
            return Err(StoreError::BadRequest(
                "the cursor belongs to another list (entity, sort or order differ); start again without a cursor".to_owned(),
            ));
        }
        let value = Value::from_json(&sort_type, &cursor.value).map_err(|_| {
            StoreError::BadRequest("the cursor is damaged; start again without a cursor".to_owned())
        })?;
        statement.and_where(keyset_condition::<DB>(
            &sort,
            &sort_type,
            sort_not_null,
            &value,
            cursor.id,
            query.order,
        ));
    }
    if sort == builtin::ID {
        statement.order_by(id_column, order);
    } else {
        statement
            .order_by_with_nulls(sort_column, order.clone(), sea_query::NullOrdering::Last)
            .order_by(id_column, order);
    }
    statement.limit(u64::from(limit) + 1);

    let (sql, values) = DB::build(&statement);
    let mut connection = pool.acquire().await?;
    let rows =
        crate::dialect::within_time::<DB, _>(&mut connection, time_limit, async |connection| {
            Ok(DB::fetch_all(connection, sql, values).await?)
        })
        .await?;
    let mut records = Vec::with_capacity(rows.len());
    for row in rows.iter().take(limit as usize) {
        records.push(decode_record::<DB>(entity, row)?.0);
    }
    let next_cursor = if rows.len() > limit as usize {
        records.last().map(|last| {
            let value = match sort.as_str() {
                builtin::ID => Value::Integer(last.id),
                builtin::CREATED_AT => Value::Timestamp(last.created_at),
                builtin::UPDATED_AT => Value::Timestamp(last.updated_at),
                column => last.get(column).cloned().unwrap_or(Value::Null),
            };
            encode_cursor(&Cursor {
                entity: entity.name.to_string(),
                sort: sort.clone(),
                order: query.order,
                value: value.to_json(),
                id: last.id,
            })
        })
    } else {
        None
    };
    Ok(Page {
        records,
        next_cursor,
    })
}

/// The condition "after the cursor row" for `ORDER BY sort <order> NULLS LAST, id <order>`.
fn keyset_condition<DB: Dialect>(
    sort: &str,
    sort_type: &ValueType,
    not_null: bool,
    value: &Value,
    last_id: i64,
    order: SortOrder,
) -> SimpleExpr {
    let column = || Expr::col((Alias::new("t0"), Alias::new(sort)));
    let id = || Expr::col((Alias::new("t0"), Alias::new(builtin::ID)));
    let bound = || Expr::val(DB::bind_value(sort_type, value));
    let beyond = |left: Expr, right: Expr| match order {
        SortOrder::Asc => left.gt(right),
        SortOrder::Desc => left.lt(right),
    };
    if sort == builtin::ID {
        return beyond(id(), Expr::val(last_id));
    }
    if value.is_null() {
        // Among the NULLs at the end, only the id orders.
        return column().is_null().and(beyond(id(), Expr::val(last_id)));
    }
    let after =
        beyond(column(), bound()).or(column().eq(bound()).and(beyond(id(), Expr::val(last_id))));
    if not_null {
        after
    } else {
        after.or(column().is_null())
    }
}

fn encode_cursor(cursor: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

fn decode_cursor(raw: &str) -> Result<Cursor, StoreError> {
    let damaged =
        || StoreError::BadRequest("the cursor is damaged; start again without a cursor".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| damaged())?;
    serde_json::from_slice(&bytes).map_err(|_| damaged())
}
