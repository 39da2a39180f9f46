//! The staged rows of an import: a table of the entity's columns (all nullable) and
//! `_line`, `_problem`, `_column`, `_target`, `_matches`, and `_by_FIELD` for references
//! given by a unique field. Rows are written to it many at a time; every check is one
//! statement over all of them; the job then copies them into the entity a batch of lines
//! at a time and deletes them as it goes. Field names start with a letter, so the
//! underscored columns cannot clash with one.

use lethe_db::dialect::quoted;
use lethe_schema::{Column, ValueType, builtin};
use sea_query::{Alias, Expr, ExprTrait, Query, SimpleExpr};

use super::columns::Mapping;
use super::{ImportCheck, ImportProblem, ImportRow, ImportRows, MatchRule, PROBLEMS_SHOWN};
use crate::dialect::{Backend, Dialect};
use crate::error::StoreError;
use crate::value::Value;

pub(crate) const LINE: &str = lethe_jobs::batch::STAGED_LINE;
pub(crate) const PROBLEM: &str = "_problem";
pub(crate) const COLUMN: &str = "_column";
pub(crate) const TARGET: &str = "_target";
const MATCHES: &str = "_matches";

/// The staging column of a reference given by a unique field.
pub(crate) fn by_column(field: &str) -> String {
    format!("_by_{field}")
}

/// Creates the staging table (a temporary one for a dry run: it goes with the connection).
pub(crate) async fn create<DB: Dialect>(
    connection: &mut DB::Connection,
    table: &str,
    mapping: &Mapping<'_>,
    temporary: bool,
) -> Result<(), StoreError> {
    let integer = DB::column_type(&ValueType::Integer);
    let text = DB::column_type(&ValueType::Text);
    let mut columns = vec![
        format!("{} {integer} PRIMARY KEY", quoted(LINE)),
        format!("{} {text}", quoted(PROBLEM)),
        format!("{} {text}", quoted(COLUMN)),
        format!("{} {integer}", quoted(TARGET)),
        format!("{} {integer}", quoted(MATCHES)),
    ];
    for column in &mapping.entity.columns {
        columns.push(format!(
            "{} {}",
            quoted(column.name.as_str()),
            DB::column_type(&column.value_type)
        ));
    }
    for filled in mapping.lookups() {
        if let Some((_, unique)) = filled.by {
            columns.push(format!(
                "{} {}",
                quoted(&by_column(filled.column.name.as_str())),
                DB::column_type(&unique.value_type)
            ));
        }
    }
    let create = format!(
        "CREATE {}TABLE {} ({})",
        if temporary { "TEMPORARY " } else { "" },
        quoted(table),
        columns.join(", ")
    );
    DB::execute_plain(connection, create).await?;
    Ok(())
}

/// How many rows one insert statement carries: SQLite binds at most 32,766 values.
fn rows_per_insert(columns: usize) -> usize {
    (30_000 / columns.max(1)).clamp(1, 1_000)
}

/// Rows one `COPY` carries on PostgreSQL.
const ROWS_PER_COPY: usize = 10_000;

/// A row as it is staged: its line, its problem (column, reason) or its values.
struct Staged {
    line: u64,
    problem: Option<(String, String)>,
    /// One value per entity column, then one per reference looked up by a unique field.
    values: Vec<Value>,
}

/// The staging table's columns that [`stage`] fills, and their types.
fn staged_columns(mapping: &Mapping<'_>) -> Vec<(String, ValueType)> {
    let mut columns: Vec<(String, ValueType)> = vec![
        (LINE.into(), ValueType::Integer),
        (PROBLEM.into(), ValueType::Text),
        (COLUMN.into(), ValueType::Text),
    ];
    columns.extend(
        mapping
            .entity
            .columns
            .iter()
            .map(|column| (column.name.to_string(), column.value_type.clone())),
    );
    columns.extend(mapping.lookups().filter_map(|filled| {
        filled.by.map(|(_, unique)| {
            (
                by_column(filled.column.name.as_str()),
                unique.value_type.clone(),
            )
        })
    }));
    columns
}

/// Reads every row of `rows` into the staging table, many rows a statement (a `COPY` on
/// PostgreSQL); returns how many rows there were. A row that cannot be read or parsed is
/// staged with its problem.
pub(crate) async fn stage<DB: Dialect>(
    connection: &mut DB::Connection,
    table: &str,
    mapping: &Mapping<'_>,
    rows: &mut dyn ImportRows,
) -> Result<u64, StoreError> {
    let columns = staged_columns(mapping);
    let per_flush = if DB::BACKEND == Backend::Postgres {
        ROWS_PER_COPY
    } else {
        rows_per_insert(columns.len())
    };
    let width = columns.len() - 3;
    let mut pending: Vec<Staged> = Vec::with_capacity(per_flush);
    let mut staged = 0u64;
    while let Some(row) = rows.next_row()? {
        staged += 1;
        pending.push(match row {
            ImportRow::Cells { line, cells } => match mapping.parse(&cells) {
                Ok(parsed) => {
                    let mut values = parsed.values;
                    values.extend(parsed.lookups);
                    Staged {
                        line,
                        problem: None,
                        values,
                    }
                }
                Err(problem) => Staged {
                    line,
                    problem: Some(problem),
                    values: Vec::new(),
                },
            },
            ImportRow::Problem {
                line,
                column,
                message,
            } => Staged {
                line,
                problem: Some((column.unwrap_or_default(), message)),
                values: Vec::new(),
            },
        });
        if pending.len() >= per_flush {
            flush::<DB>(connection, table, &columns, width, &mut pending).await?;
        }
    }
    flush::<DB>(connection, table, &columns, width, &mut pending).await?;
    Ok(staged)
}

/// Writes the pending rows: a `COPY` on PostgreSQL, a multi-row insert on SQLite.
async fn flush<DB: Dialect>(
    connection: &mut DB::Connection,
    table: &str,
    columns: &[(String, ValueType)],
    width: usize,
    pending: &mut Vec<Staged>,
) -> Result<(), StoreError> {
    if pending.is_empty() {
        return Ok(());
    }
    let null = Value::Null;
    let cell = |row: &Staged, index: usize| -> Value {
        match index {
            0 => Value::Integer(i64::try_from(row.line).unwrap_or(i64::MAX)),
            1 => row
                .problem
                .as_ref()
                .map_or(Value::Null, |(_, reason)| Value::Text(reason.clone())),
            2 => row
                .problem
                .as_ref()
                .map_or(Value::Null, |(column, _)| Value::Text(column.clone())),
            _ => row.values.get(index - 3).unwrap_or(&null).clone(),
        }
    };
    debug_assert!(
        pending
            .iter()
            .all(|row| row.values.is_empty() || row.values.len() == width)
    );
    if let Some(postgres) = DB::postgres(connection) {
        let names: Vec<String> = columns.iter().map(|(name, _)| quoted(name)).collect();
        let mut text = String::with_capacity(pending.len() * 64);
        for row in pending.drain(..) {
            for index in 0..columns.len() {
                if index > 0 {
                    text.push('\t');
                }
                copy_text(&cell(&row, index), &mut text);
            }
            text.push('\n');
        }
        let statement = format!("COPY {} ({}) FROM STDIN", quoted(table), names.join(", "));
        let mut copy = postgres.copy_in_raw(&statement).await?;
        if let Err(error) = copy.send(text.into_bytes()).await {
            copy.abort("the import's rows could not be sent").await.ok();
            return Err(error.into());
        }
        copy.finish().await?;
        return Ok(());
    }
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new(table))
        .columns(columns.iter().map(|(name, _)| Alias::new(name.as_str())));
    for row in pending.drain(..) {
        let values: Vec<SimpleExpr> = columns
            .iter()
            .enumerate()
            .map(|(index, (_, value_type))| {
                Expr::val(DB::bind_value(value_type, &cell(&row, index)))
            })
            .collect();
        insert
            .values(values)
            .map_err(|error| StoreError::Internal(format!("staging import rows: {error}")))?;
    }
    let (sql, values) = DB::build(&insert);
    DB::execute_transient(connection, sql, values).await?;
    Ok(())
}

/// A value in PostgreSQL's `COPY` text format: `\N` for null, and backslash, tab, line
/// feed and carriage return escaped.
fn copy_text(value: &Value, out: &mut String) {
    let escaped = |text: &str, out: &mut String| {
        for character in text.chars() {
            match character {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                other => out.push(other),
            }
        }
    };
    match value {
        Value::Null => out.push_str("\\N"),
        Value::Text(text) => escaped(text, out),
        Value::Integer(number) => out.push_str(&number.to_string()),
        Value::Decimal(decimal) => out.push_str(&decimal.to_string()),
        Value::Boolean(flag) => out.push(if *flag { 't' } else { 'f' }),
        Value::Date(date) => out.push_str(&crate::value::format_date(*date)),
        Value::Timestamp(at) => out.push_str(&crate::value::format_timestamp(*at)),
        Value::Json(json) => escaped(&json.to_string(), out),
    }
}

/// Marks the rows that `condition` (SQL over the staging table's columns) holds for, and
/// that have no problem yet, with `problem` in `column`.
async fn mark<DB: Dialect>(
    connection: &mut DB::Connection,
    table: &str,
    condition: String,
    column: &str,
    problem: &str,
) -> Result<(), StoreError> {
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new(table))
            .value(Alias::new(PROBLEM), problem)
            .value(Alias::new(COLUMN), column)
            .and_where(Expr::col(Alias::new(PROBLEM)).is_null())
            .and_where(Expr::cust(condition)),
    );
    DB::execute(connection, sql, values).await?;
    Ok(())
}

/// `LOWER(TRIM(x))` for text, which a match compares ignoring case and surrounding spaces;
/// the value itself for other types.
fn normalised(column: &Column, expression: &str) -> String {
    if Mapping::is_text(column) {
        format!("LOWER(TRIM({expression}))")
    } else {
        expression.to_owned()
    }
}

/// Every check of the staged rows, each one statement over all of them: references, the
/// match with existing records, unique fields, required fields.
pub(crate) async fn check<DB: Dialect>(
    connection: &mut DB::Connection,
    schema: &lethe_schema::Schema,
    table: &str,
    mapping: &Mapping<'_>,
    rule: Option<&MatchRule>,
) -> Result<(), StoreError> {
    let staged = quoted(table);
    let entity = mapping.entity;
    let entity_table = quoted(entity.name.as_str());
    let active = |alias: &str| format!("{alias}.{} IS NULL", quoted(builtin::TRASH_BATCH_ID));
    let id = quoted(builtin::ID);

    // References given by a parent's unique field: looked up, then the ones not found.
    for filled in mapping.lookups() {
        let Some((parent, unique)) = filled.by else {
            continue;
        };
        let field = quoted(filled.column.name.as_str());
        let by = quoted(&by_column(filled.column.name.as_str()));
        let lookup = format!(
            "UPDATE {staged} SET {field} = (SELECT p.{id} FROM {parent_table} p WHERE p.{unique_name} = {staged}.{by} AND {active_p}) WHERE {problem} IS NULL AND {by} IS NOT NULL",
            parent_table = quoted(parent),
            unique_name = quoted(unique.name.as_str()),
            active_p = active("p"),
            problem = quoted(PROBLEM),
        );
        DB::execute_plain(connection, lookup).await?;
        mark::<DB>(
            connection,
            table,
            format!("{by} IS NOT NULL AND {field} IS NULL"),
            &filled.header,
            &format!(
                "no {parent} in use has this {}: it does not exist or is in the trash",
                unique.name
            ),
        )
        .await?;
    }

    // References by id: to a record that exists and is not in the trash.
    for relation in schema.relations_from(&entity.name) {
        let Some(filled) = mapping.field(relation.column.as_str()) else {
            continue;
        };
        if filled.by.is_some() {
            continue;
        }
        let field = quoted(relation.column.as_str());
        let missing = |parent: &str| {
            format!(
                "NOT EXISTS (SELECT 1 FROM {} p WHERE p.{id} = {staged}.{field} AND {})",
                quoted(parent),
                active("p")
            )
        };
        match &relation.discriminator {
            None => {
                let Some(parent) = relation.parents.first() else {
                    continue;
                };
                mark::<DB>(
                    connection,
                    table,
                    format!("{field} IS NOT NULL AND {}", missing(parent.as_str())),
                    &filled.header,
                    &format!(
                        "no {parent} with this id is in use: it does not exist or is in the trash"
                    ),
                )
                .await?;
            }
            Some(discriminator) => {
                let named = quoted(discriminator.as_str());
                mark::<DB>(
                    connection,
                    table,
                    format!("{field} IS NOT NULL AND {named} IS NULL"),
                    &filled.header,
                    &format!("needs {discriminator} to say which entity the id belongs to"),
                )
                .await?;
                for parent in &relation.parents {
                    mark::<DB>(
                        connection,
                        table,
                        format!(
                            "{field} IS NOT NULL AND {named} = '{parent}' AND {}",
                            missing(parent.as_str())
                        ),
                        &filled.header,
                        &format!(
                            "no {parent} with this id is in use: it does not exist or is in the trash"
                        ),
                    )
                    .await?;
                }
            }
        }
    }

    // The match with existing records: the lowest id of the records in use with the same
    // value, and how many there are. A value twice in the file is a problem from its
    // second line on: it would act on one record twice.
    if let Some(rule) = rule
        && let Some(filled) = mapping.field(&rule.field)
    {
        let field = quoted(filled.column.name.as_str());
        let key = |expression: &str| normalised(filled.column, expression);
        mark::<DB>(
            connection,
            table,
            format!(
                "{field} IS NOT NULL AND {line} NOT IN (SELECT MIN(d.{line}) FROM {staged} d WHERE d.{field} IS NOT NULL GROUP BY {})",
                key(&format!("d.{field}")),
                line = quoted(LINE),
            ),
            &filled.header,
            &format!(
                "has the same {} as an earlier line of the file",
                filled.column.name
            ),
        )
        .await?;
        let matched = format!(
            "SELECT {k} AS k, MIN(e.{id}) AS id, COUNT(*) AS n FROM {entity_table} e WHERE {active_e} AND e.{field} IS NOT NULL AND {k} IN (SELECT {ks} FROM {staged} s WHERE s.{field} IS NOT NULL) GROUP BY {k}",
            k = key(&format!("e.{field}")),
            ks = key(&format!("s.{field}")),
            active_e = active("e"),
        );
        let set_target = format!(
            "UPDATE {staged} SET {target} = m.id, {matches} = m.n FROM ({matched}) AS m WHERE m.k = {k} AND {staged}.{problem} IS NULL",
            target = quoted(TARGET),
            matches = quoted(MATCHES),
            k = key(&format!("{staged}.{field}")),
            problem = quoted(PROBLEM),
        );
        DB::execute_plain(connection, set_target).await?;
        if rule.update {
            mark::<DB>(
                connection,
                table,
                format!("{} > 1", quoted(MATCHES)),
                &filled.header,
                &format!(
                    "matches more than one {} by {}: merge those first, or import this line without --match",
                    entity.name, filled.column.name
                ),
            )
            .await?;
        }
    }

    // Unique fields: once in the file, and not already used by another record.
    for filled in &mapping.filled {
        if !filled.column.unique {
            continue;
        }
        let field = quoted(filled.column.name.as_str());
        mark::<DB>(
            connection,
            table,
            format!(
                "{field} IS NOT NULL AND {line} NOT IN (SELECT MIN(d.{line}) FROM {staged} d WHERE d.{field} IS NOT NULL GROUP BY d.{field})",
                line = quoted(LINE),
            ),
            &filled.header,
            &format!(
                "has the same {} as an earlier line of the file; it must be unique",
                filled.column.name
            ),
        )
        .await?;
        mark::<DB>(
            connection,
            table,
            format!(
                "{field} IS NOT NULL AND EXISTS (SELECT 1 FROM {entity_table} e WHERE e.{field} = {staged}.{field} AND ({staged}.{target} IS NULL OR e.{id} <> {staged}.{target}))",
                target = quoted(TARGET),
            ),
            &filled.header,
            &format!(
                "is already the {} of another {} record; it must be unique",
                filled.column.name, entity.name
            ),
        )
        .await?;
    }

    // Required fields of the records to create (an update keeps what the record has).
    for column in &entity.columns {
        if !column.required || column.default.is_some() {
            continue;
        }
        let header = mapping
            .field(column.name.as_str())
            .map_or_else(|| column.name.to_string(), |filled| filled.header.clone());
        mark::<DB>(
            connection,
            table,
            format!(
                "{} IS NULL AND {} IS NULL",
                quoted(column.name.as_str()),
                quoted(TARGET)
            ),
            &header,
            &format!(
                "{} is required; {}",
                column.name,
                if mapping.field(column.name.as_str()).is_some() {
                    "the cell is empty"
                } else {
                    "the file has no column for it"
                }
            ),
        )
        .await?;
    }
    if DB::BACKEND == Backend::Postgres {
        DB::execute_plain(connection, format!("ANALYZE {staged}")).await?;
    }
    Ok(())
}

/// What the checks found: counts, and the first problems in line order.
pub(crate) async fn report<DB: Dialect>(
    connection: &mut DB::Connection,
    table: &str,
    mapping: &Mapping<'_>,
    rule: Option<&MatchRule>,
) -> Result<ImportCheck, StoreError> {
    let problem = quoted(PROBLEM);
    let target = quoted(TARGET);
    let sum = |condition: String| {
        Expr::cust(format!(
            "COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0)"
        ))
    };
    let (sql, values) = DB::build(
        Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .expr(sum(format!("{problem} IS NOT NULL")))
            .expr(sum(format!("{problem} IS NULL AND {target} IS NULL")))
            .expr(sum(format!("{problem} IS NULL AND {target} IS NOT NULL")))
            .from(Alias::new(table)),
    );
    let row = DB::fetch_optional(connection, sql, values)
        .await?
        .ok_or_else(|| StoreError::Internal("counting staged rows".to_owned()))?;
    let number = |index: usize| lethe_db::rows::count::<DB>(&row, index);
    let (rows, problems, create, matched) = (number(0)?, number(1)?, number(2)?, number(3)?);
    let update = rule.is_some_and(|rule| rule.update);
    let (sql, values) = DB::build(
        Query::select()
            .columns([LINE, COLUMN, PROBLEM].map(Alias::new))
            .from(Alias::new(table))
            .and_where(Expr::col(Alias::new(PROBLEM)).is_not_null())
            .order_by(Alias::new(LINE), sea_query::Order::Asc)
            .limit(PROBLEMS_SHOWN),
    );
    let mut first_problems = Vec::new();
    for row in DB::fetch_all(connection, sql, values).await? {
        first_problems.push(ImportProblem {
            line: lethe_db::rows::count::<DB>(&row, 0)?,
            column: lethe_db::rows::text::<DB>(&row, 1)?.filter(|column| !column.is_empty()),
            message: lethe_db::rows::text::<DB>(&row, 2)?.unwrap_or_default(),
        });
    }
    Ok(ImportCheck {
        entity: mapping.entity.name.to_string(),
        rows,
        create,
        update: if update { matched } else { 0 },
        skip: if update { 0 } else { matched },
        problems,
        first_problems,
        fields: mapping
            .filled
            .iter()
            .map(|filled| super::ImportField {
                column: filled.header.clone(),
                field: filled.column.name.to_string(),
                by: filled.by.map(|(_, unique)| unique.name.to_string()),
            })
            .collect(),
        ignored: mapping.ignored.clone(),
    })
}
