//! Sets of record ids that several statements of one transaction need, derived once and
//! kept in a temporary table of the connection instead of again in every statement: the
//! members a purge batch erases, the members a preview would act on, the records matching a
//! monitor's selection.

use lethe_schema::builtin;
use sea_query::{Alias, Query, SelectStatement};

use crate::dialect::{Backend, Dialect};
use crate::error::StoreError;

/// Keeps the ids `rows` yields in the temporary table `table` of this connection, and returns
/// how many there are and the statement that reads them back: a set several statements need
/// is derived once instead of again in each. Call it inside a transaction: on SQLite the table
/// stays with the connection and is emptied first; on PostgreSQL it is dropped when the
/// transaction ends.
pub(crate) async fn keep_ids<DB: Dialect>(
    connection: &mut DB::Connection,
    table: &str,
    rows: SelectStatement,
) -> Result<(u64, SelectStatement), StoreError> {
    let kept = match DB::BACKEND {
        Backend::Sqlite => {
            DB::execute_plain(
                connection,
                format!("CREATE TEMP TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY)"),
            )
            .await?;
            DB::execute_plain(connection, format!("DELETE FROM {table}")).await?;
            let mut insert = Query::insert();
            insert
                .into_table(Alias::new(table))
                .columns([Alias::new(builtin::ID)])
                .select_from(rows)
                .map_err(|error| {
                    StoreError::Internal(format!("building the set {table}: {error}"))
                })?;
            let (sql, values) = DB::build(&insert);
            DB::execute(connection, sql, values).await?
        }
        Backend::Postgres => {
            // Made from the query (`CREATE TABLE … AS`), which PostgreSQL may answer with
            // parallel workers — an `INSERT … SELECT` never is: twice as slow on two cores.
            let (sql, values) = DB::build(&rows);
            let create = format!("CREATE TEMP TABLE {table} ON COMMIT DROP AS {sql}");
            let kept = DB::execute(connection, create, values).await?;
            DB::execute_plain(
                connection,
                format!("ALTER TABLE {table} ADD PRIMARY KEY (id)"),
            )
            .await?;
            // A temporary table has no statistics until analysed; with them the planner
            // joins the kept ids instead of guessing.
            DB::execute_plain(connection, format!("ANALYZE {table}")).await?;
            kept
        }
    };
    Ok((
        kept,
        Query::select()
            .column(Alias::new(builtin::ID))
            .from(Alias::new(table))
            .to_owned(),
    ))
}

/// Empties the temporary table `table` of [`keep_ids`] before its transaction ends, so that
/// no ids stay with a SQLite connection (PostgreSQL drops the table at the end).
pub(crate) async fn forget_ids<DB: Dialect>(
    connection: &mut DB::Connection,
    table: &str,
) -> Result<(), StoreError> {
    if DB::BACKEND == Backend::Sqlite {
        DB::execute_plain(connection, format!("DELETE FROM {table}")).await?;
    }
    Ok(())
}
