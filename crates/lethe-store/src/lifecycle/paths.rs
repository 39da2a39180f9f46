//! Turning the planner's relation paths into set-based SQL: the ids a path reaches from a set
//! of members (nested `IN` subqueries on the indexed link columns), and per-member counts of
//! blocking records (a join chain grouped by member).

pub(crate) use lethe_db::{col, qualified};
use lethe_plan::{Check, CheckKind, Hop, Reach};
use lethe_schema::builtin;
use sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};

pub(crate) fn and_all(conditions: impl IntoIterator<Item = Expr>) -> Expr {
    conditions
        .into_iter()
        .reduce(|left, right| left.and(right))
        .unwrap_or_else(|| Expr::cust("1 = 1"))
}

/// Which records of an intermediate step count as reached (for example "trashed in this
/// batch" while trashing, "active" while previewing a trash).
#[derive(Debug, Clone, Copy)]
pub(crate) enum StepFilter {
    /// Any lifecycle state (a purge follows `cascade` through the trash).
    #[allow(
        dead_code,
        reason = "the purge, which follows cascade through the trash, is next"
    )]
    Any,
    Active,
}

impl StepFilter {
    pub(crate) fn condition(self, alias: Option<&str>) -> Option<Expr> {
        let column = |name: &str| match alias {
            Some(alias) => qualified(alias, name),
            None => col(name),
        };
        match self {
            StepFilter::Any => None,
            StepFilter::Active => Some(column(builtin::TRASH_BATCH_ID).is_null()),
        }
    }
}

/// "The record is in deletion batch `batch`", written so that no index on `trash_batch_id`
/// is used for it (`trash_batch_id + 0 = batch`). A batch's members are always found through
/// their ids; an index walk over the whole deletion batch, which a planner picks when its
/// statistics are older than the batch, would make every batch of a job re-read all earlier
/// ones (measured on PostgreSQL: 2.3 s, 3.1 s, 4.7 s … 38 s per batch).
pub(crate) fn batch_is(alias: Option<&str>, batch: i64) -> Expr {
    let column = match alias {
        Some(alias) => qualified(alias, builtin::TRASH_BATCH_ID),
        None => col(builtin::TRASH_BATCH_ID),
    };
    column.add(0).eq(batch)
}

/// The condition "this record's link of `hop` points into `parents`" on the hop's child
/// table (unqualified columns).
pub(crate) fn link(hop: &Hop, parents: SelectStatement) -> Expr {
    let mut condition = col(hop.column.as_str()).in_subquery(parents);
    if let Some((discriminator, parent)) = &hop.discriminator {
        condition = col(discriminator.as_str())
            .eq(parent.as_str())
            .and(condition);
    }
    condition
}

/// The ids of the records at the end of `hops`, starting from `roots` (a statement yielding
/// member ids); every step must pass `filter`.
pub(crate) fn reached_ids(
    hops: &[Hop],
    roots: SelectStatement,
    filter: StepFilter,
) -> SelectStatement {
    let mut current = roots;
    for hop in hops {
        let mut next = Query::select();
        next.column(Alias::new(builtin::ID))
            .from(Alias::new(hop.child.as_str()))
            .and_where(link(hop, current));
        if let Some(condition) = filter.condition(None) {
            next.and_where(condition);
        }
        current = next;
    }
    current
}

/// The condition, on the reached entity's table, that a record is reached by `reach` from
/// `roots`, with intermediate steps passing `filter` (the last step is not filtered: the
/// caller says what it wants of the target records).
pub(crate) fn reached_by(reach: &Reach, roots: SelectStatement, filter: StepFilter) -> Expr {
    match reach.path.split_last() {
        None => col(builtin::ID).in_subquery(roots),
        Some((last, before)) => link(last, reached_ids(before, roots, filter)),
    }
}

/// `SELECT t0.id, COUNT(*) FROM root t0 JOIN … GROUP BY t0.id` for the members of `roots`
/// that `check` blocks, with the number of blocking records. Intermediate steps pass
/// `filter`; the blocking records themselves pass `target_filter`.
pub(crate) fn blocking_counts(
    root: &str,
    check: &Check,
    roots_condition: Expr,
    filter: StepFilter,
    target_filter: StepFilter,
) -> SelectStatement {
    let mut query = blocking_joins(root, check, roots_condition, filter, target_filter);
    query
        .expr(Expr::cust("COUNT(*)"))
        .group_by_col((Alias::new("t0"), Alias::new(builtin::ID)));
    query
}

/// `SELECT t0.id FROM root t0 JOIN …`: the members of `roots` that `check` blocks, once per
/// blocking record (see [`blocking_counts`]).
pub(crate) fn blocking_joins(
    root: &str,
    check: &Check,
    roots_condition: Expr,
    filter: StepFilter,
    target_filter: StepFilter,
) -> SelectStatement {
    let mut query = Query::select();
    query
        .expr(qualified("t0", builtin::ID))
        .from_as(Alias::new(root), Alias::new("t0"))
        .and_where(roots_condition);
    let depth = check.target.path.len();
    for (index, hop) in check.target.path.iter().enumerate() {
        let alias = format!("t{}", index + 1);
        let previous = format!("t{index}");
        let mut on = qualified(&alias, hop.column.as_str())
            .equals((Alias::new(previous.as_str()), Alias::new(builtin::ID)));
        if let Some((discriminator, parent)) = &hop.discriminator {
            on = on.and(qualified(&alias, discriminator.as_str()).eq(parent.as_str()));
        }
        let step_filter = if index + 1 == depth {
            target_filter
        } else {
            filter
        };
        if let Some(condition) = step_filter.condition(Some(&alias)) {
            on = on.and(condition);
        }
        query.join_as(
            sea_query::JoinType::InnerJoin,
            Alias::new(hop.child.as_str()),
            Alias::new(alias.as_str()),
            on,
        );
    }
    if let CheckKind::Precondition(precondition) = &check.kind {
        let alias = format!("t{depth}");
        let test = |tests: &[(lethe_schema::ColumnName, Vec<String>)]| {
            and_all(tests.iter().map(|(column, values)| {
                let column = qualified(&alias, column.as_str());
                column
                    .clone()
                    .is_not_null()
                    .and(column.is_in(values.iter().cloned()))
            }))
        };
        query.and_where(test(&precondition.when));
        query.and_where(test(&precondition.require).not());
    }
    query
}

/// Why `check` blocks, in words, for a member with `count` blocking records.
pub(crate) fn block_reason(check: &Check) -> String {
    match &check.kind {
        CheckKind::Restrict => {
            let hop = check.target.path.last();
            match hop {
                Some(hop) => format!("{}.{} restricts deleting it", hop.child, hop.column),
                None => "restricted".to_owned(),
            }
        }
        CheckKind::Precondition(precondition) => precondition.reason.clone(),
    }
}
