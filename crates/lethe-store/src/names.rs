//! Names on rows: the names of the users a row points at (its owner, approver, assignee,
//! last changer), joined into the query that reads it; what a policy's or monitor's name may
//! be, and the refusal of a new one whose name is taken.

use sea_query::{Alias, Expr, ExprTrait, JoinType, Query, SelectStatement};

use crate::dialect::Dialect;
use crate::error::StoreError;
use lethe_db::col;

/// Joins `lethe_user` once for each `(alias, column)` of `people`: the user whose id is in
/// `column` of the row `table` (the alias of the table read), under `alias`, so that the
/// query can select `alias.name`. A row that points at no one gets nulls.
pub(crate) fn join_user_names(query: &mut SelectStatement, table: &str, people: &[(&str, &str)]) {
    for (alias, column) in people {
        query.join_as(
            JoinType::LeftJoin,
            Alias::new("lethe_user"),
            Alias::new(*alias),
            Expr::col((Alias::new(*alias), Alias::new("id")))
                .equals((Alias::new(table), Alias::new(*column))),
        );
    }
}

/// Refuses, with the `taken` message, when a row of `table` is called `name` already.
pub(crate) async fn refuse_taken_name<DB: Dialect>(
    connection: &mut DB::Connection,
    table: &str,
    name: &str,
    taken: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .expr(Expr::val(1))
            .from(Alias::new(table))
            .and_where(col("name").eq(name)),
    );
    match DB::fetch_optional(connection, sql, values).await? {
        Some(_) => Err(StoreError::Conflict(taken())),
        None => Ok(()),
    }
}

/// The longest name of a policy or monitor.
const NAME_LIMIT: usize = 64;

/// Refuses a name of a `what` (policy, monitor) that is empty, too long, or has other
/// characters than ASCII letters, digits, `-`, `_` and `.`: names go into commands and
/// addresses as they are.
pub(crate) fn check_name(name: &str, what: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_LIMIT
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid_option(
            "name",
            format!(
                "`{name}` is not a {what} name: use 1 to {NAME_LIMIT} letters, digits, `-`, `_` or `.`"
            ),
        ))
    }
}
