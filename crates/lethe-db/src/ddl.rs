//! Entity tables generated from the schema, and bringing an existing database up to a changed
//! schema. The schema that was last applied is stored in `lethe_schema_state`; a new schema
//! may add entities, fields and indexes. Anything that would lose or reinterpret data
//! (dropping or retyping a column) is refused with a list of what changed, for an operator
//! to handle deliberately.

use lethe_schema::{Column, Entity, Schema, ValueType, builtin};
use sea_query::{Alias, ColumnDef, Expr, ExprTrait, ForeignKey, Index, Query, Table};
use serde::Serialize;
use sqlx::Pool;
use time::OffsetDateTime;

use crate::dialect::{Backend, Dialect};
use crate::error::StoreError;
use lethe_domain::value::Value;

/// What a migration did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MigrationReport {
    pub system_version: i64,
    pub created_tables: Vec<String>,
    pub added_columns: Vec<String>,
    pub created_indexes: Vec<String>,
}

/// An index name that stays within PostgreSQL's 63-byte identifier limit and is unique for a
/// (table, column) pair.
pub fn index_name(prefix: &str, table: &str, column: &str) -> String {
    let name = format!("{prefix}_{table}_{column}");
    if name.len() <= 60 {
        return name;
    }
    let digest = sha2_hex(&name);
    format!("{}_{}", &name[..48], &digest[..8])
}

fn sha2_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn column_def<DB: Dialect>(column: &Column, schema: &Schema, entity: &Entity) -> ColumnDef {
    let mut definition = ColumnDef::new(Alias::new(column.name.as_str()));
    definition.custom(Alias::new(DB::column_type(&column.value_type)));
    if column.required {
        definition.not_null();
    }
    // Plain references get a real foreign key, so the database itself guarantees that no
    // record is ever left pointing at a record that is gone (SPEC §10). Deletion order is
    // Lethe's job: the key has no ON DELETE action of its own.
    if column.value_type == ValueType::Reference
        && let Some(relation) = schema.relation_for_column(&entity.name, column.name.as_str())
        && relation.discriminator.is_none()
        && let Some(parent) = relation.parents.first()
    {
        // Identifiers come from the validated schema (lower snake_case only). The constraint
        // is named so a bulk load can drop it and build it again.
        let constraint = index_name("fk", entity.name.as_str(), column.name.as_str());
        definition.extra(format!(
            "CONSTRAINT \"{constraint}\" REFERENCES \"{parent}\" (\"id\")"
        ));
    }
    definition
}

fn create_table<DB: Dialect>(schema: &Schema, entity: &Entity) -> String {
    let table_name = Alias::new(entity.name.as_str());
    let mut table = Table::create();
    table.table(table_name.clone()).if_not_exists();
    let mut id = ColumnDef::new(Alias::new(builtin::ID));
    match DB::BACKEND {
        // AUTOINCREMENT: ids of purged records are never handed out again, so a history entry
        // or a receipt can never come to mean another record.
        Backend::Sqlite => id.integer().not_null().primary_key().auto_increment(),
        Backend::Postgres => id.big_integer().not_null().primary_key().auto_increment(),
    };
    table.col(id);
    let timestamp = DB::column_type(&ValueType::Timestamp);
    let integer = DB::column_type(&ValueType::Integer);
    table.col(
        ColumnDef::new(Alias::new(builtin::CREATED_AT))
            .custom(Alias::new(timestamp))
            .not_null(),
    );
    table.col(ColumnDef::new(Alias::new(builtin::CREATED_BY)).custom(Alias::new(integer)));
    table.col(
        ColumnDef::new(Alias::new(builtin::UPDATED_AT))
            .custom(Alias::new(timestamp))
            .not_null(),
    );
    table.col(ColumnDef::new(Alias::new(builtin::TRASH_BATCH_ID)).custom(Alias::new(integer)));
    table.col(ColumnDef::new(Alias::new(builtin::TRASHED_AT)).custom(Alias::new(timestamp)));
    table.col(ColumnDef::new(Alias::new(builtin::TRASHED_BY)).custom(Alias::new(integer)));
    for column in &entity.columns {
        table.col(column_def::<DB>(column, schema, entity));
    }
    table.foreign_key(
        ForeignKey::create()
            .name(index_name(
                "fk",
                entity.name.as_str(),
                builtin::TRASH_BATCH_ID,
            ))
            .from(table_name.clone(), Alias::new(builtin::TRASH_BATCH_ID))
            .to(Alias::new("lethe_deletion_batch"), Alias::new("id")),
    );
    DB::build_schema(&table)
}

/// The indexes an entity needs: every relation column, every indexed or unique column, the
/// lifecycle column, and the timestamps that lists sort by.
fn index_statements<DB: Dialect>(entity: &Entity) -> Vec<(String, String)> {
    let table = entity.name.as_str();
    let mut statements = Vec::new();
    let plain = |column: &str, statements: &mut Vec<(String, String)>| {
        let name = index_name("ix", table, column);
        let statement = Index::create()
            .if_not_exists()
            .name(name.clone())
            .table(Alias::new(table))
            .col(Alias::new(column))
            .to_owned();
        statements.push((name, DB::build_schema(&statement)));
    };
    // The trash index holds only records in the trash: trashing adds entries and restoring
    // or purging removes them, instead of moving entries out of and back into a section of
    // millions of NULLs (which made a restore split pages all over a packed index).
    let name = index_name("tx", table, builtin::TRASH_BATCH_ID);
    statements.push((
        name.clone(),
        format!(
            "CREATE INDEX IF NOT EXISTS \"{name}\" ON \"{table}\" (\"{column}\") WHERE \"{column}\" IS NOT NULL",
            column = builtin::TRASH_BATCH_ID
        ),
    ));
    for column in [builtin::CREATED_AT, builtin::UPDATED_AT] {
        plain(column, &mut statements);
    }
    for column in &entity.columns {
        if column.unique {
            let name = index_name("ux", table, column.name.as_str());
            let statement = Index::create()
                .if_not_exists()
                .unique()
                .name(name.clone())
                .table(Alias::new(table))
                .col(Alias::new(column.name.as_str()))
                .to_owned();
            statements.push((name, DB::build_schema(&statement)));
        } else if column.indexed {
            plain(column.name.as_str(), &mut statements);
        }
    }
    statements
}

/// Differences between the applied schema and the new one that cannot be applied
/// automatically.
fn incompatibilities(old: &Schema, new: &Schema) -> Vec<String> {
    let mut problems = Vec::new();
    for old_entity in old.entities() {
        let Some(new_entity) = new.entity(old_entity.name.as_str()) else {
            problems.push(format!(
                "entity `{}` is no longer in the schema; Lethe does not drop tables with data — drop it by hand or put it back",
                old_entity.name
            ));
            continue;
        };
        for old_column in &old_entity.columns {
            match new_entity.column(old_column.name.as_str()) {
                None => problems.push(format!(
                    "{}.{} is no longer in the schema; Lethe does not drop columns with data",
                    old_entity.name, old_column.name
                )),
                Some(new_column)
                    if std::mem::discriminant(&new_column.value_type)
                        != std::mem::discriminant(&old_column.value_type) =>
                {
                    problems.push(format!(
                        "{}.{} changes type from {} to {}; migrate it by hand",
                        old_entity.name,
                        old_column.name,
                        old_column.value_type.type_name(),
                        new_column.value_type.type_name()
                    ))
                }
                Some(new_column) if new_column.required && !old_column.required => problems.push(format!(
                    "{}.{} becomes required; existing records may have no value — fill it first, then make it required by hand",
                    old_entity.name, old_column.name
                )),
                Some(_) => {}
            }
        }
        for new_column in &new_entity.columns {
            if old_entity.column(new_column.name.as_str()).is_none()
                && new_column.required
                && new_column.default.is_none()
            {
                problems.push(format!(
                    "{}.{} is new and required but has no default for existing records; add a default or make it optional",
                    new_entity.name, new_column.name
                ));
            }
        }
    }
    problems
}

async fn stored_schema<DB: Dialect>(
    connection: &mut DB::Connection,
) -> Result<Option<Schema>, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("schema_toml"))
            .from(Alias::new("lethe_schema_state"))
            .and_where(Expr::col(Alias::new("id")).eq(1)),
    );
    let Some(row) = DB::fetch_optional(connection, sql, values).await? else {
        return Ok(None);
    };
    let Value::Text(text) = DB::decode(&row, 0, &ValueType::Text)? else {
        return Ok(None);
    };
    Schema::from_toml(&text).map(Some).map_err(|error| {
        StoreError::Internal(format!(
            "the schema stored in the database is unreadable: {error}"
        ))
    })
}

/// Creates the tables of a fresh database, or adds what a changed schema adds, in one
/// transaction.
pub async fn migrate_schema<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
    now: OffsetDateTime,
) -> Result<MigrationReport, StoreError> {
    let mut report = MigrationReport {
        system_version: crate::system::latest_version(),
        ..Default::default()
    };
    let mut transaction = pool.begin().await?;
    if DB::BACKEND == Backend::Postgres {
        DB::execute_plain(
            &mut transaction,
            "LOCK TABLE lethe_schema_state IN EXCLUSIVE MODE".to_owned(),
        )
        .await?;
    }
    let previous = stored_schema::<DB>(&mut transaction).await?;
    if let Some(previous) = &previous {
        if previous == schema {
            transaction.rollback().await?;
            // Indexes may be missing after an interrupted bulk load; building a missing one
            // here repairs that, and checking for present ones costs next to nothing.
            ensure_indexes::<DB>(pool, schema).await?;
            return Ok(report);
        }
        let problems = incompatibilities(previous, schema);
        if !problems.is_empty() {
            return Err(StoreError::IncompatibleSchema(problems));
        }
    }

    drop_retired_indexes::<DB>(&mut transaction, schema).await?;
    for entity in schema.entities() {
        let old_entity = previous
            .as_ref()
            .and_then(|old| old.entity(entity.name.as_str()));
        match old_entity {
            None => {
                DB::execute_plain(&mut transaction, create_table::<DB>(schema, entity)).await?;
                report.created_tables.push(entity.name.to_string());
            }
            Some(old_entity) => {
                for column in &entity.columns {
                    if old_entity.column(column.name.as_str()).is_some() {
                        continue;
                    }
                    let mut definition = column_def::<DB>(column, schema, entity);
                    if let Some(default) = &column.default {
                        let literal: sea_query::Value = match default {
                            lethe_schema::DefaultValue::Text(text)
                            | lethe_schema::DefaultValue::Decimal(text) => text.clone().into(),
                            lethe_schema::DefaultValue::Integer(number) => (*number).into(),
                            lethe_schema::DefaultValue::Boolean(flag) => match DB::BACKEND {
                                Backend::Sqlite => i64::from(*flag).into(),
                                Backend::Postgres => (*flag).into(),
                            },
                        };
                        definition.default(literal);
                    }
                    let alter = Table::alter()
                        .table(Alias::new(entity.name.as_str()))
                        .add_column(definition)
                        .to_owned();
                    DB::execute_plain(&mut transaction, DB::build_schema(&alter)).await?;
                    report
                        .added_columns
                        .push(format!("{}.{}", entity.name, column.name));
                }
            }
        }
        for (name, statement) in index_statements::<DB>(entity) {
            DB::execute_plain(&mut transaction, statement).await?;
            report.created_indexes.push(name);
        }
    }

    let text = schema.to_toml();
    let timestamp = DB::bind_value(&ValueType::Timestamp, &Value::Timestamp(now));
    let statement = match previous {
        None => Query::insert()
            .into_table(Alias::new("lethe_schema_state"))
            .columns([
                Alias::new("id"),
                Alias::new("schema_toml"),
                Alias::new("updated_at"),
            ])
            .values_panic([Expr::val(1), Expr::val(text), Expr::val(timestamp)])
            .to_owned(),
        Some(_) => {
            let (sql, values) = DB::build(
                Query::update()
                    .table(Alias::new("lethe_schema_state"))
                    .value(Alias::new("schema_toml"), text)
                    .value(Alias::new("updated_at"), timestamp)
                    .and_where(Expr::col(Alias::new("id")).eq(1)),
            );
            DB::execute(&mut transaction, sql, values).await?;
            transaction.commit().await?;
            return Ok(report);
        }
    };
    let (sql, values) = DB::build(&statement);
    DB::execute(&mut transaction, sql, values).await?;
    transaction.commit().await?;
    Ok(report)
}

/// SQLite: forgets the planner statistics of the partial trash indexes (`tx_…`). `ANALYZE`
/// taken while the trash is empty records them as holding no rows, and the planner then
/// reads "in deletion batch B" by scanning such an index — every trashed row of the table —
/// instead of looking the batch's members up by id: measured, every statement of a purge or
/// restore batch on a million-contact database scanned all 300,000 trashed contacts.
/// Without statistics SQLite assumes half the table, and the id lookups win. Run after every
/// `ANALYZE` Lethe takes and whenever a database is opened (someone else may have analysed
/// it); the statistics are reloaded when any were removed.
pub async fn forget_trash_index_statistics<DB: Dialect>(pool: &Pool<DB>) -> Result<(), StoreError> {
    if DB::BACKEND != Backend::Sqlite {
        return Ok(());
    }
    let mut connection = pool.acquire().await?;
    let connection = &mut *connection;
    let (sql, values) = DB::build(
        Query::select()
            .expr(Expr::val(1))
            .from(Alias::new("sqlite_master"))
            .and_where(Expr::col(Alias::new("type")).eq("table"))
            .and_where(Expr::col(Alias::new("name")).eq("sqlite_stat1")),
    );
    if DB::fetch_optional(connection, sql, values).await?.is_none() {
        return Ok(());
    }
    let removed = DB::execute_plain(
        connection,
        "DELETE FROM sqlite_stat1 WHERE idx LIKE 'tx\\_%' ESCAPE '\\'".to_owned(),
    )
    .await?;
    if removed > 0 {
        DB::execute_plain(connection, "ANALYZE sqlite_schema".to_owned()).await?;
    }
    Ok(())
}

/// Creates every index the schema calls for that does not exist yet.
/// Indexes earlier versions made that are replaced now: dropped when a database is opened.
fn retired_indexes(entity: &Entity) -> Vec<String> {
    // The full index on `trash_batch_id` (replaced by the partial `tx_` index).
    vec![index_name(
        "ix",
        entity.name.as_str(),
        builtin::TRASH_BATCH_ID,
    )]
}

async fn drop_retired_indexes<DB: Dialect>(
    connection: &mut DB::Connection,
    schema: &Schema,
) -> Result<(), StoreError> {
    for entity in schema.entities() {
        for name in retired_indexes(entity) {
            let statement = Index::drop().if_exists().name(name).to_owned();
            DB::execute_plain(connection, DB::build_schema(&statement)).await?;
        }
    }
    Ok(())
}

pub async fn ensure_indexes<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
) -> Result<(), StoreError> {
    let mut connection = pool.acquire().await?;
    drop_retired_indexes::<DB>(&mut connection, schema).await?;
    for entity in schema.entities() {
        for (_, statement) in index_statements::<DB>(entity) {
            DB::execute_plain(&mut connection, statement).await?;
        }
    }
    if DB::BACKEND == Backend::Postgres {
        let (sql, values) = DB::build(
            Query::select()
                .column(Alias::new("conname"))
                .from(Alias::new("pg_constraint"))
                .and_where(Expr::col(Alias::new("contype")).eq("f")),
        );
        let rows = DB::fetch_all(&mut connection, sql, values).await?;
        let mut present = std::collections::HashSet::new();
        for row in &rows {
            if let Value::Text(name) = DB::decode(row, 0, &ValueType::Text)? {
                present.insert(name);
            }
        }
        for (table, constraint, column, parent) in foreign_keys(schema) {
            if present.contains(&constraint) {
                continue;
            }
            let statement = format!(
                "ALTER TABLE \"{table}\" ADD CONSTRAINT \"{constraint}\" FOREIGN KEY (\"{column}\") REFERENCES \"{parent}\" (\"id\")"
            );
            DB::execute_plain(&mut connection, statement).await?;
        }
    }
    Ok(())
}

/// Drops the indexes [`ensure_indexes`] creates (not primary keys).
pub async fn drop_secondary_indexes<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
) -> Result<(), StoreError> {
    let mut connection = pool.acquire().await?;
    if DB::BACKEND == Backend::Postgres {
        // PostgreSQL checks a foreign key row by row with a trigger; validating it once
        // after the load is a single set-based pass. (SQLite's checks are plain primary-key
        // lookups and it cannot drop a constraint, so it keeps them.)
        for (table, constraint, _, _) in foreign_keys(schema) {
            let statement =
                format!("ALTER TABLE \"{table}\" DROP CONSTRAINT IF EXISTS \"{constraint}\"");
            DB::execute_plain(&mut connection, statement).await?;
        }
    }
    for entity in schema.entities() {
        for (name, _) in index_statements::<DB>(entity) {
            let statement = Index::drop().if_exists().name(name).to_owned();
            DB::execute_plain(&mut connection, DB::build_schema(&statement)).await?;
        }
    }
    Ok(())
}

/// Every plain reference's foreign key: (table, constraint name, column, parent table).
fn foreign_keys(schema: &Schema) -> Vec<(String, String, String, String)> {
    schema
        .relations()
        .iter()
        .filter(|relation| relation.discriminator.is_none())
        .filter_map(|relation| {
            let parent = relation.parents.first()?;
            Some((
                relation.child.to_string(),
                index_name("fk", relation.child.as_str(), relation.column.as_str()),
                relation.column.to_string(),
                parent.to_string(),
            ))
        })
        .collect()
}
