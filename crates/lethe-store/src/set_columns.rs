//! Changing a row's columns: the values a change sets, each bound for the backend the
//! statement is built for, and the one UPDATE that sets them.

use sea_query::{Alias, Expr, ExprTrait, Query};
use time::OffsetDateTime;

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::rows;
use lethe_db::col;

/// A value to set.
#[derive(Debug, Clone)]
pub(crate) enum Set {
    Text(String),
    OptText(Option<String>),
    Flag(bool),
    Id(Option<i64>),
    Time(Option<OffsetDateTime>),
}

impl Set {
    fn bound<DB: Dialect>(&self) -> Expr {
        match self {
            Set::Text(text) => Expr::val(text.as_str()),
            Set::OptText(text) => Expr::val(rows::bind_opt_text::<DB>(text.as_deref())),
            Set::Flag(flag) => Expr::val(*flag),
            Set::Id(id) => Expr::val(rows::bind_opt_int::<DB>(*id)),
            Set::Time(at) => Expr::val(rows::bind_opt_time::<DB>(*at)),
        }
    }
}

/// Sets `values` on the row `id` of `table`, provided its `column` still holds `still` when
/// that is given; returns how many rows changed (0 when the row is gone or moved on).
pub(crate) async fn set_columns<DB: Dialect>(
    connection: &mut DB::Connection,
    table: &str,
    id: i64,
    values: &[(&str, Set)],
    still: Option<(&str, &str)>,
) -> Result<u64, StoreError> {
    let mut update = Query::update();
    update.table(Alias::new(table)).and_where(col("id").eq(id));
    if let Some((column, value)) = still {
        update.and_where(col(column).eq(value));
    }
    for (column, value) in values {
        update.value(Alias::new(*column), value.bound::<DB>());
    }
    let (sql, bound) = DB::build(&update);
    Ok(DB::execute(connection, sql, bound).await?)
}
