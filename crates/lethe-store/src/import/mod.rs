//! Importing records from a file (a CSV file's rows, read by the caller): the columns are
//! mapped to fields, every row is parsed by the API's rules and staged in a table of its
//! own, every check runs as one statement over all staged rows (references, the match with
//! existing records, unique and required fields), and the rows are then written by one job,
//! a batch of lines per transaction, which deletes each batch's staged rows as it writes
//! them. A dry run stages into a temporary table and drops it; `on_error = stop` writes
//! nothing at all when any row has a problem.
//!
//! The rules in order: [`Store::import`]; the mapping in `columns.rs`; the staging table
//! and its checks in `staging.rs`; the job's batches in `job.rs`.

mod columns;
pub(crate) mod job;
mod staging;

use lethe_domain::job::{JobKind, JobPayload, Work};
use lethe_domain::policy;
use sea_query::{Alias, Expr, ExprTrait, Query};
use serde::Serialize;
use sqlx::Pool;
use time::OffsetDateTime;

use crate::dialect::{Backend, Dialect, begin_write};
use crate::error::StoreError;
use crate::lifecycle::Job;
use crate::users::Actor;
use crate::{Pools, Store, dispatch};
use columns::Mapping;
use lethe_db::dialect::quoted;

/// How many problems an import's check lists (it counts all of them).
pub const PROBLEMS_SHOWN: u64 = 100;

/// Staging tables left by an import that stopped before its job was made are dropped after
/// this long.
const ORPHAN_AGE: time::Duration = time::Duration::days(1);

/// One row of the file: its cells, or what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportRow {
    Cells {
        line: u64,
        cells: Vec<String>,
    },
    Problem {
        line: u64,
        /// The header name of the column it is in, when it is in one.
        column: Option<String>,
        message: String,
    },
}

/// The rows of a file, read one at a time; an error stops the import (a file that cannot
/// be read on).
pub trait ImportRows: Send {
    fn next_row(&mut self) -> Result<Option<ImportRow>, StoreError>;
}

/// Whether rows that match an existing record by a field update it or are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRule {
    /// The field compared (text ignoring case and surrounding spaces).
    pub field: String,
    /// Update the record's fields from the row (cells left empty keep the record's value);
    /// otherwise the row is skipped.
    pub update: bool,
}

/// What an import is asked to do.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `(column, target)`: the file's column fills `target` (`FIELD`, or `FIELD.UNIQUE` for
    /// a reference given by the parent's unique field); an empty target leaves it out.
    pub map: Vec<(String, String)>,
    pub matching: Option<MatchRule>,
    /// Write the good rows and skip the others; otherwise any problem writes nothing.
    pub skip_bad_rows: bool,
    /// Check and report, write nothing.
    pub dry_run: bool,
    /// Lines per transaction of the job.
    pub batch_size: Option<u64>,
}

/// Which column fills which field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ImportField {
    /// The column's name in the file's header.
    pub column: String,
    pub field: String,
    /// For a reference given by the parent's unique field: that field.
    pub by: Option<String>,
}

/// A row that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ImportProblem {
    /// The line of the file the row starts on (the header is line 1).
    pub line: u64,
    /// The file's column, when the problem is in one cell.
    pub column: Option<String>,
    pub message: String,
}

/// What an import would do, or did: counts of the file's rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ImportCheck {
    pub entity: String,
    /// Rows in the file (not counting the header).
    pub rows: u64,
    /// Rows that create a record.
    pub create: u64,
    /// Rows that update the record they match.
    pub update: u64,
    /// Rows skipped because they match a record.
    pub skip: u64,
    /// Rows with a problem (not written).
    pub problems: u64,
    /// The first problems, in line order.
    pub first_problems: Vec<ImportProblem>,
    pub fields: Vec<ImportField>,
    /// Columns of the file that fill nothing (Lethe's own, such as `id`, or left out).
    pub ignored: Vec<String>,
}

/// How an import ended.
#[derive(Debug, Clone)]
pub enum ImportOutcome {
    /// A dry run: nothing was written.
    Checked(ImportCheck),
    /// Some rows have problems and the import was to stop on any: nothing was written.
    Refused(ImportCheck),
    /// The job that writes the rows (run it, or let a worker take it).
    Started(ImportCheck, Box<Job>),
    /// No row is left to write: nothing was written.
    NothingToDo(ImportCheck),
}

impl ImportOutcome {
    pub fn check(&self) -> &ImportCheck {
        match self {
            ImportOutcome::Checked(check)
            | ImportOutcome::Refused(check)
            | ImportOutcome::Started(check, _)
            | ImportOutcome::NothingToDo(check) => check,
        }
    }
}

/// A staging table's name: `lethe_import_SECONDS_RANDOM`, so an orphan's age can be told.
fn staging_name(now: OffsetDateTime) -> Result<String, StoreError> {
    let token = crate::users::random_token()?;
    let suffix: String = token
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .take(10)
        .map(|byte| char::from(byte.to_ascii_lowercase()))
        .collect();
    Ok(format!("lethe_import_{}_{suffix}", now.unix_timestamp()))
}

impl Store {
    /// Imports the rows of a file into `entity` (admins only): maps the `header`'s columns,
    /// stages and checks every row, and — unless it is a dry run, or a row has a problem
    /// and bad rows are not to be skipped — creates the job that writes them.
    pub async fn import(
        &self,
        entity: &str,
        header: &[String],
        rows: &mut dyn ImportRows,
        options: &ImportOptions,
        actor: &Actor,
    ) -> Result<ImportOutcome, StoreError> {
        policy::import_records(actor).map_err(StoreError::Forbidden)?;
        let entity = self.entity(entity)?;
        let mapping = Mapping::new(self.schema(), entity, header, &options.map)?;
        if let Some(rule) = &options.matching {
            match mapping.field(&rule.field) {
                Some(filled) if filled.by.is_none() => {}
                Some(_) => {
                    return Err(StoreError::BadRequest(format!(
                        "--match {}: rows can be matched by a field given as it is, not by a reference looked up by another field",
                        rule.field
                    )));
                }
                None => {
                    return Err(StoreError::BadRequest(format!(
                        "--match {}: no column of the file fills {}.{}; map one to it with --map \"COLUMN={}\"",
                        rule.field, entity.name, rule.field, rule.field
                    )));
                }
            }
        }
        let batch_size =
            crate::lifecycle::check_batch_size_or(options.batch_size, self.default_batch_size())?;
        let now = self.now();
        let history_key = self.history_key();
        let run = Run {
            schema: self.schema(),
            mapping: &mapping,
            options,
            actor,
            batch_size,
            now,
            history_key: &history_key,
        };
        let outcome = dispatch!(self, pool => import_with::<_>(pool, &run, rows).await)?;
        Ok(match outcome {
            Imported::Done(outcome) => outcome,
            Imported::Job(check, id) => {
                ImportOutcome::Started(check, Box::new(self.job(id).await?))
            }
        })
    }
}

/// What one import is run with.
struct Run<'a> {
    schema: &'a lethe_schema::Schema,
    mapping: &'a Mapping<'a>,
    options: &'a ImportOptions,
    actor: &'a Actor,
    batch_size: u64,
    now: OffsetDateTime,
    history_key: &'a crate::HistoryKey,
}

enum Imported {
    Done(ImportOutcome),
    Job(ImportCheck, i64),
}

async fn import_with<DB: Dialect>(
    pool: &Pool<DB>,
    run: &Run<'_>,
    rows: &mut dyn ImportRows,
) -> Result<Imported, StoreError> {
    let dry = run.options.dry_run;
    let table = staging_name(run.now)?;
    let mut connection = pool.acquire().await?;
    if !dry {
        sweep_orphans::<DB>(&mut connection, run.now).await?;
    }
    staging::create::<DB>(&mut connection, &table, run.mapping, dry).await?;
    let checked = async {
        staging::stage::<DB>(&mut connection, &table, run.mapping, rows).await?;
        let rule = run.options.matching.as_ref();
        staging::check::<DB>(&mut connection, run.schema, &table, run.mapping, rule).await?;
        staging::report::<DB>(&mut connection, &table, run.mapping, rule).await
    }
    .await;
    let check = match checked {
        Ok(check) => check,
        Err(error) => {
            drop_table::<DB>(&mut connection, &table).await;
            return Err(error);
        }
    };
    let outcome = if dry {
        Some(ImportOutcome::Checked(check.clone()))
    } else if check.problems > 0 && !run.options.skip_bad_rows {
        Some(ImportOutcome::Refused(check.clone()))
    } else if check.create + check.update == 0 {
        Some(ImportOutcome::NothingToDo(check.clone()))
    } else {
        None
    };
    if let Some(outcome) = outcome {
        drop_table::<DB>(&mut connection, &table).await;
        return Ok(Imported::Done(outcome));
    }
    drop(connection);
    match start::<DB>(pool, run, &table, &check).await {
        Ok(job) => Ok(Imported::Job(check, job)),
        Err(error) => {
            if let Ok(mut connection) = pool.acquire().await {
                drop_table::<DB>(&mut connection, &table).await;
            }
            Err(error)
        }
    }
}

/// Creates the job that writes the staged rows, with its `import.requested` history entry.
async fn start<DB: Dialect>(
    pool: &Pool<DB>,
    run: &Run<'_>,
    table: &str,
    check: &ImportCheck,
) -> Result<i64, StoreError> {
    let update: Vec<String> = match &run.options.matching {
        Some(rule) if rule.update => run
            .mapping
            .filled
            .iter()
            .map(|filled| filled.column.name.to_string())
            .filter(|field| field != &rule.field)
            .collect(),
        _ => Vec::new(),
    };
    let payload = JobPayload {
        entity: run.mapping.entity.name.to_string(),
        snapshot_id: None,
        reason: None,
        source: format!("import of {} row(s)", check.rows),
        actor: run.actor.clone(),
        work: Work::Import {
            staging: table.to_owned(),
            update,
        },
    };
    let mut transaction = begin_write(pool).await?;
    let details = serde_json::json!({
        "fields": check.fields.iter().map(|field| field.field.clone()).collect::<Vec<_>>(),
        "create": check.create,
        "update": check.update,
        "skip": check.skip,
        "problems": check.problems,
        "match": run.options.matching.as_ref().map(|rule| rule.field.clone()),
    });
    let job = crate::lifecycle::start_unclaimed_job::<DB>(
        &mut transaction,
        run.history_key,
        &payload,
        check.rows,
        run.batch_size,
        details,
        run.now,
    )
    .await?;
    transaction.commit().await?;
    Ok(job)
}

/// Drops a staging table; an error is only logged (the table is then an orphan, swept
/// later).
async fn drop_table<DB: Dialect>(connection: &mut DB::Connection, table: &str) {
    let sql = format!("DROP TABLE IF EXISTS {}", quoted(table));
    if let Err(error) = DB::execute_plain(connection, sql).await {
        tracing::warn!(%error, table, "could not drop an import's staging table");
    }
}

/// Drops the staging tables of imports that stopped before their job was made (a crash
/// while staging) once they are a day old; a job's own staging table stays until the job
/// is done.
async fn sweep_orphans<DB: Dialect>(
    connection: &mut DB::Connection,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut list = Query::select();
    match DB::BACKEND {
        Backend::Sqlite => list
            .column(Alias::new("name"))
            .from(Alias::new("sqlite_master"))
            .and_where(Expr::col(Alias::new("type")).eq("table"))
            .and_where(Expr::col(Alias::new("name")).like("lethe_import_%")),
        Backend::Postgres => list
            .expr(Expr::cust("tablename::text"))
            .from(Alias::new("pg_tables"))
            .and_where(Expr::cust("schemaname = current_schema()"))
            .and_where(Expr::col(Alias::new("tablename")).like("lethe_import_%")),
    };
    let (sql, values) = DB::build(&list);
    let mut tables = Vec::new();
    for row in DB::fetch_all(connection, sql, values).await? {
        if let Some(name) = lethe_db::rows::text::<DB>(&row, 0)? {
            tables.push(name);
        }
    }
    let cutoff = (now - ORPHAN_AGE).unix_timestamp();
    for table in tables {
        let Some(made) = table
            .strip_prefix("lethe_import_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|seconds| seconds.parse::<i64>().ok())
        else {
            continue;
        };
        if made > cutoff {
            continue;
        }
        let payload = match DB::BACKEND {
            Backend::Sqlite => Expr::col(Alias::new("payload")),
            Backend::Postgres => Expr::cust("payload::text"),
        };
        let (sql, values) = DB::build(
            Query::select()
                .expr(Expr::cust("COUNT(*)"))
                .from(Alias::new("lethe_job"))
                .and_where(Expr::col(Alias::new("kind")).eq(JobKind::Import.as_str()))
                .and_where(Expr::col(Alias::new("state")).ne("done"))
                .and_where(payload.like(format!("%\"{table}\"%"))),
        );
        let used = match DB::fetch_optional(connection, sql, values).await? {
            Some(row) => lethe_db::rows::count::<DB>(&row, 0)?,
            None => 0,
        };
        if used == 0 {
            drop_table::<DB>(connection, &table).await;
        }
    }
    Ok(())
}
