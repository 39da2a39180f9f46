//! Claiming a scheduled run once among instances: a policy's or monitor's next run time
//! moves on only where it still holds the due time the instance read, so of several
//! instances that read the same due time, one moves it, and only that one runs it.

use sea_query::{Alias, Expr, ExprTrait, Query};
use time::OffsetDateTime;

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::rows;
use lethe_db::col;

/// Moves the next run of the enabled row `id` of `table` from `due` to `next`; true when
/// this call moved it (the caller then owns the run due at `due`, in its transaction).
pub(crate) async fn move_next_run<DB: Dialect>(
    connection: &mut DB::Connection,
    table: &str,
    id: i64,
    due: OffsetDateTime,
    next: Option<OffsetDateTime>,
) -> Result<bool, StoreError> {
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new(table))
            .value(
                Alias::new("next_run_at"),
                Expr::val(rows::bind_opt_time::<DB>(next)),
            )
            .and_where(col("id").eq(id))
            .and_where(col("enabled").eq(true))
            .and_where(col("next_run_at").eq(Expr::val(rows::bind_time::<DB>(due)))),
    );
    Ok(DB::execute(connection, sql, values).await? == 1)
}
