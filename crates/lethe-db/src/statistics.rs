//! Keeps PostgreSQL's planner statistics in step with Lethe's large writes.
//!
//! A snapshot's members are written in one statement and read by the very next ones; a
//! trash or restore job changes the lifecycle columns of tens of thousands of rows that the
//! next command (a restore, a purge's preview) selects by those columns. PostgreSQL learns how many rows a table holds
//! from `ANALYZE`, which autovacuum runs only a minute or more later; until then a table that
//! was analysed empty is planned as holding about one row. Every member subquery is then
//! planned as one row (and a column that was all `NULL` as still `NULL`), and joins against
//! such a subquery become nested loops over tens of thousands of rows squared: on a
//! 100,000-contact demo a trash took 28–41 s instead of 9 s, a preview 8 s instead of 1 s,
//! and a purge's preview minutes (BENCHMARKS.md). So after a write that changed many rows of
//! a table, compared with what the statistics say it holds, the table is analysed at once. `ANALYZE`
//! reads a fixed-size sample (30,000 rows at the default target), so its cost does not grow
//! with the table.
//!
//! SQLite plans these statements well without statistics (the tables have none unless a user
//! runs `ANALYZE` by hand), so nothing is done there.

use sea_query::{Expr, Query};
use sqlx::Pool;

use crate::dialect::{Backend, Dialect, quoted};
use crate::error::StoreError;
use crate::rows;

/// Fewer added rows than this never mislead the planner enough to matter.
const FEW_ROWS: u64 = 1_000;

/// Whether `added` new rows in a table whose statistics count `known` rows (negative: never
/// analysed) make those statistics wrong enough to refresh: at least [`FEW_ROWS`], and at
/// least a twentieth of what the statistics know.
pub fn worth_refreshing(added: u64, known: f64) -> bool {
    added >= FEW_ROWS && (known < 0.0 || added as f64 * 20.0 >= known)
}

/// After committed writes added or changed `added` rows of `table` (Lethe's own, or an
/// entity's from the validated schema): on PostgreSQL, analyses the table when its
/// statistics no longer describe it (see [`worth_refreshing`]). Runs outside the writing
/// transaction, so its lock never holds up another writer. A failure only costs speed: it is
/// logged, not returned.
pub async fn after_write<DB: Dialect>(pool: &Pool<DB>, table: &str, added: u64) {
    if DB::BACKEND != Backend::Postgres || added < FEW_ROWS {
        return;
    }
    if let Err(error) = refresh::<DB>(pool, table, added).await {
        tracing::warn!(table, %error, "could not refresh the planner statistics");
    }
}

async fn refresh<DB: Dialect>(pool: &Pool<DB>, table: &str, added: u64) -> Result<(), StoreError> {
    let mut connection = pool.acquire().await?;
    // `table` is one of Lethe's own table names or an entity's from the validated schema.
    let (sql, values) = DB::build(
        &Query::select()
            .expr(Expr::cust(format!(
                "(SELECT CAST(reltuples AS BIGINT) FROM pg_class WHERE oid = '{table}'::regclass)"
            )))
            .to_owned(),
    );
    let known = match DB::fetch_optional(&mut connection, sql, values).await? {
        Some(row) => rows::int::<DB>(&row, 0)?.unwrap_or(-1) as f64,
        None => -1.0,
    };
    if worth_refreshing(added, known) {
        // The name may be a reserved word (`order`): quoted.
        DB::execute_plain(&mut connection, format!("ANALYZE {}", quoted(table))).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::worth_refreshing;

    #[test]
    fn only_many_rows_compared_with_what_the_statistics_know_are_worth_an_analyse() {
        assert!(!worth_refreshing(999, -1.0), "a few rows never");
        assert!(worth_refreshing(1_000, -1.0), "never analysed");
        assert!(worth_refreshing(37_859, 0.0), "analysed empty");
        assert!(worth_refreshing(50_000, 1_000_000.0), "a twentieth");
        assert!(
            !worth_refreshing(49_999, 1_000_000.0),
            "less than a twentieth"
        );
    }
}
