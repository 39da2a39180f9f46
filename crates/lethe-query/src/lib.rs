//! Compiling a typed filter ([`lethe_filter::Filter`]) into one parameterised SQL condition
//! for either dialect, and reading what it selects: count, pages, ids, and the database's
//! plan (SPEC §4).
//!
//! The compiled SQL keeps the filter's meaning exactly (see [`lethe_filter::Expr`]): SQL's
//! three-valued logic, a record matches when the condition is TRUE. Parent fields are scalar
//! subqueries (NULL when the link is NULL or the parent is out of scope, like a LEFT JOIN);
//! child predicates are correlated `EXISTS` / `COUNT(*)` subqueries on the indexed link
//! column; duplicates are one grouped (or windowed, to skip the keeper) pass over the table.
//!
//! Every value is bound. The only SQL text written here by hand is made of identifiers from
//! the validated schema (lower snake_case) and fixed function names.

use lethe_filter::{CompareOp, Expr as FilterExpr, FieldRef, Filter, Keep, Literal, TextOp};
use lethe_schema::{ValueType, builtin};
use schemars::JsonSchema;
use sea_query::{Alias, Expr, ExprTrait, Func, Query, SelectStatement};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use lethe_db::StoreError;
use lethe_db::dialect::{Backend, Dialect};
use lethe_domain::value::Value;

/// Which lifecycle state of records a selection looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Records not in the trash (every normal view).
    #[default]
    Active,
    /// Records in the trash.
    Trashed,
    /// Both.
    All,
}

impl Scope {
    pub fn parse(raw: &str) -> Result<Scope, StoreError> {
        match raw {
            "active" => Ok(Scope::Active),
            "trashed" => Ok(Scope::Trashed),
            "all" => Ok(Scope::All),
            other => Err(StoreError::BadRequest(format!(
                "unknown scope `{other}`; expected active, trashed or all"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Active => "active",
            Scope::Trashed => "trashed",
            Scope::All => "all",
        }
    }

    /// The scope of the records a selected record is related to (parents, children,
    /// duplicate groups): in the active view only active records exist; a view of the trash
    /// or of everything sees related records in any state, since a trashed contact's
    /// activities are usually in the trash with it.
    fn related(self) -> Scope {
        match self {
            Scope::Active => Scope::Active,
            Scope::Trashed | Scope::All => Scope::All,
        }
    }
}

/// Builds conditions; hands out a fresh table alias for every subquery level.
#[derive(Debug)]
pub struct Compiler<'a, DB: Dialect> {
    now: OffsetDateTime,
    scope: Scope,
    next_alias: usize,
    _dialect: std::marker::PhantomData<&'a DB>,
}

fn column(alias: &str, name: &str) -> Expr {
    Expr::col((Alias::new(alias), Alias::new(name)))
}

/// The condition that keeps records of `alias` in `scope`, if any.
pub fn scope_condition(alias: &str, scope: Scope) -> Option<Expr> {
    // The "Deleted User" placeholder is in no scope: it never appears in a selection.
    let real = column(alias, builtin::ID).ne(lethe_db::placeholder::PLACEHOLDER_ID);
    match scope {
        Scope::Active => Some(real.and(column(alias, builtin::TRASH_BATCH_ID).is_null())),
        Scope::Trashed => Some(real.and(column(alias, builtin::TRASH_BATCH_ID).is_not_null())),
        Scope::All => Some(real),
    }
}

fn and_all(conditions: Vec<Expr>) -> Expr {
    conditions
        .into_iter()
        .reduce(|left, right| left.and(right))
        .unwrap_or_else(|| Expr::cust("1 = 1"))
}

impl<'a, DB: Dialect> Compiler<'a, DB> {
    pub fn new(now: OffsetDateTime, scope: Scope) -> Self {
        Compiler {
            now,
            scope,
            next_alias: 1,
            _dialect: std::marker::PhantomData,
        }
    }

    fn fresh_alias(&mut self) -> String {
        let alias = format!("t{}", self.next_alias);
        self.next_alias += 1;
        alias
    }

    /// The whole condition for records of the filter's entity under alias `t0`, scope
    /// included.
    pub fn condition(&mut self, filter: &Filter) -> Result<Expr, StoreError> {
        let mut parts = Vec::new();
        if let Some(scope) = scope_condition("t0", self.scope) {
            parts.push(scope);
        }
        if !filter.is_all() {
            parts.push(self.expr(filter.root(), "t0", filter.entity().as_str())?);
        }
        Ok(and_all(parts))
    }

    fn expr(&mut self, expr: &FilterExpr, alias: &str, entity: &str) -> Result<Expr, StoreError> {
        Ok(match expr {
            FilterExpr::All => Expr::cust("1 = 1"),
            FilterExpr::And(items) => {
                let compiled = items
                    .iter()
                    .map(|item| self.expr(item, alias, entity))
                    .collect::<Result<Vec<_>, _>>()?;
                and_all(compiled)
            }
            FilterExpr::Or(items) => {
                let mut compiled = items.iter().map(|item| self.expr(item, alias, entity));
                let first = compiled
                    .next()
                    .transpose()?
                    .unwrap_or_else(|| Expr::cust("1 = 0"));
                let mut result = first;
                for item in compiled {
                    result = result.or(item?);
                }
                result
            }
            FilterExpr::Not(inner) => self.expr(inner, alias, entity)?.not(),
            FilterExpr::Compare { field, op, value } => {
                let left = self.field(field, alias)?;
                let right = Expr::val(self.literal(&field.value_type, value)?);
                match op {
                    CompareOp::Eq => left.eq(right),
                    CompareOp::Ne => left.ne(right),
                    CompareOp::Lt => left.lt(right),
                    CompareOp::Le => left.lte(right),
                    CompareOp::Gt => left.gt(right),
                    CompareOp::Ge => left.gte(right),
                }
            }
            FilterExpr::InList {
                field,
                values,
                negated,
            } => {
                let left = self.field(field, alias)?;
                let bound = values
                    .iter()
                    .map(|value| self.literal(&field.value_type, value))
                    .collect::<Result<Vec<_>, _>>()?;
                if *negated {
                    left.is_not_in(bound)
                } else {
                    left.is_in(bound)
                }
            }
            FilterExpr::Text { field, op, value } => {
                let left = self.field(field, alias)?;
                match op {
                    // instr/strpos: exact, case-sensitive, no wildcards — the same on both.
                    TextOp::Contains => {
                        let function = match DB::BACKEND {
                            Backend::Sqlite => "instr",
                            Backend::Postgres => "strpos",
                        };
                        Expr::expr(
                            Func::cust(Alias::new(function))
                                .arg(left)
                                .arg(Expr::val(value.clone())),
                        )
                        .gt(0)
                    }
                    TextOp::StartsWith => {
                        // 32-bit arguments: PostgreSQL has no substr(text, bigint, bigint).
                        let length = i32::try_from(value.chars().count()).unwrap_or(i32::MAX);
                        Expr::expr(
                            Func::cust(Alias::new("substr"))
                                .arg(left)
                                .arg(Expr::val(1i32))
                                .arg(Expr::val(length)),
                        )
                        .eq(Expr::val(value.clone()))
                    }
                }
            }
            FilterExpr::IsNull { field, negated } => {
                let left = self.field(field, alias)?;
                if *negated {
                    left.is_not_null()
                } else {
                    left.is_null()
                }
            }
            FilterExpr::Exists {
                child,
                filter,
                negated,
            } => {
                let subquery = self.children(child, filter, alias, false)?;
                if *negated {
                    Expr::not_exists(subquery)
                } else {
                    Expr::exists(subquery)
                }
            }
            FilterExpr::Count {
                child,
                filter,
                op,
                value,
            } => {
                let subquery = self.children(child, filter, alias, true)?;
                let count = Expr::from(subquery);
                let value = Expr::val(*value);
                match op {
                    CompareOp::Eq => count.eq(value),
                    CompareOp::Ne => count.ne(value),
                    CompareOp::Lt => count.lt(value),
                    CompareOp::Le => count.lte(value),
                    CompareOp::Gt => count.gt(value),
                    CompareOp::Ge => count.gte(value),
                }
            }
            FilterExpr::Duplicate {
                column: name,
                value_type,
                keep,
            } => self.duplicate(entity, alias, name.as_str(), value_type, *keep),
        })
    }

    /// A field of the record under `alias`, or of a parent reached through `field.hops` as a
    /// chain of scalar subqueries.
    fn field(&mut self, field: &FieldRef, alias: &str) -> Result<Expr, StoreError> {
        if field.hops.is_empty() {
            return Ok(column(alias, field.column.as_str()));
        }
        // Build from the last hop inwards: (SELECT pN.col FROM parentN pN WHERE pN.id = <link>).
        let mut link = column(alias, field.hops[0].via_column.as_str());
        let mut statement: Option<SelectStatement> = None;
        for (index, hop) in field.hops.iter().enumerate() {
            let parent_alias = self.fresh_alias();
            let is_last = index + 1 == field.hops.len();
            let selected = if is_last {
                field.column.as_str()
            } else {
                field.hops[index + 1].via_column.as_str()
            };
            let mut select = Query::select();
            select
                .expr(column(&parent_alias, selected))
                .from_as(
                    Alias::new(hop.to_entity.as_str()),
                    Alias::new(parent_alias.as_str()),
                )
                .and_where(column(&parent_alias, builtin::ID).eq(link));
            if let Some(scope) = scope_condition(&parent_alias, self.scope.related()) {
                select.and_where(scope);
            }
            link = Expr::from(select.clone());
            statement = Some(select);
        }
        match statement {
            Some(select) => Ok(Expr::from(select)),
            None => Ok(column(alias, field.column.as_str())),
        }
    }

    fn children(
        &mut self,
        child: &lethe_filter::ChildRef,
        filter: &FilterExpr,
        parent_alias: &str,
        count: bool,
    ) -> Result<SelectStatement, StoreError> {
        let child_alias = self.fresh_alias();
        let mut select = Query::select();
        if count {
            select.expr(Expr::cust("COUNT(*)"));
        } else {
            select.expr(Expr::cust("1"));
        }
        select
            .from_as(
                Alias::new(child.child.as_str()),
                Alias::new(child_alias.as_str()),
            )
            .and_where(
                column(&child_alias, child.via_column.as_str())
                    .equals((Alias::new(parent_alias), Alias::new(builtin::ID))),
            );
        if let Some(discriminator) = &child.discriminator {
            select
                .and_where(column(&child_alias, discriminator.as_str()).eq(child.parent.as_str()));
        }
        if let Some(scope) = scope_condition(&child_alias, self.scope.related()) {
            select.and_where(scope);
        }
        if !matches!(filter, FilterExpr::All) {
            let inner = self.expr(filter, &child_alias, child.child.as_str())?;
            select.and_where(inner);
        }
        Ok(select)
    }

    /// The duplicate key of a column: text trimmed of spaces, tabs and line breaks and
    /// lower-cased in ASCII (identically on both backends), empty text as NULL; other types
    /// as they are (see [`lethe_filter::duplicate_text_key`]).
    fn duplicate_key(alias: &str, name: &str, value_type: &ValueType) -> Expr {
        if *value_type != ValueType::Text {
            return column(alias, name);
        }
        Expr::cust(format!("NULLIF({}, '')", Self::folded_text(alias, name)))
    }

    /// A text column trimmed of white space and lower-cased: the duplicate key before an
    /// empty text counts as no value.
    fn folded_text(alias: &str, name: &str) -> String {
        // Identifiers only: `alias` is ours, `name` a validated column name.
        // SQLite's `lower` folds ASCII letters only. PostgreSQL's folds every letter the
        // collation knows, except under the "C" collation, where it folds ASCII only — the
        // same key, and several times cheaper per row than `translate` with two alphabets
        // (BENCHMARKS.md, Selections).
        match DB::BACKEND {
            Backend::Sqlite => format!(
                "lower(trim(\"{alias}\".\"{name}\", ' ' || char(9) || char(13) || char(10)))"
            ),
            Backend::Postgres => format!(
                "lower(btrim(\"{alias}\".\"{name}\", ' ' || chr(9) || chr(13) || chr(10)) COLLATE \"C\")"
            ),
        }
    }

    fn duplicate(
        &mut self,
        entity: &str,
        alias: &str,
        name: &str,
        value_type: &ValueType,
        keep: Option<Keep>,
    ) -> Expr {
        let group_alias = self.fresh_alias();
        let group_key = Self::duplicate_key(&group_alias, name, value_type);
        let mut groups = Query::select();
        groups.from_as(Alias::new(entity), Alias::new(group_alias.as_str()));
        if let Some(scope) = scope_condition(&group_alias, self.scope.related()) {
            groups.and_where(scope);
        }
        groups.and_where(group_key.clone().is_not_null());
        // One windowed pass over the table: each record with the size of its group and its
        // rank in it. Without a keeper every member of a group of two or more matches; with
        // one, everything ranked after the keeper.
        let key_sql = match &group_key {
            Expr::Custom(sql) => sql.to_string(),
            _ => format!("\"{group_alias}\".\"{name}\""),
        };
        let (window, threshold) = match keep {
            None => (format!("COUNT(*) OVER (PARTITION BY {key_sql})"), 1),
            Some(keep) => {
                let direction = match keep {
                    Keep::Oldest => "ASC",
                    Keep::Newest => "DESC",
                };
                (
                    format!(
                        "ROW_NUMBER() OVER (PARTITION BY {key_sql} ORDER BY \"{group_alias}\".\"created_at\" {direction}, \"{group_alias}\".\"id\" {direction})"
                    ),
                    1,
                )
            }
        };
        groups
            .expr_as(column(&group_alias, builtin::ID), Alias::new("id"))
            .expr_as(Expr::cust(window), Alias::new("place_in_group"));
        let ranked_alias = self.fresh_alias();
        let mut members = Query::select();
        members
            .expr(column(&ranked_alias, "id"))
            .from_subquery(groups, Alias::new(ranked_alias.as_str()))
            .and_where(column(&ranked_alias, "place_in_group").gt(threshold));
        column(alias, builtin::ID).in_subquery(members)
    }

    /// A literal as a bound value of the field's type, relative times resolved against the
    /// compiler's `now`.
    fn literal(
        &self,
        value_type: &ValueType,
        literal: &Literal,
    ) -> Result<sea_query::Value, StoreError> {
        let value = match literal {
            Literal::Text(text) => Value::Text(text.clone()),
            Literal::Integer(number) => Value::Integer(*number),
            Literal::Decimal(text) => Value::Decimal(text.parse().map_err(|_| {
                StoreError::BadRequest(format!("`{text}` is not a decimal number"))
            })?),
            Literal::Boolean(flag) => Value::Boolean(*flag),
            Literal::Date(date) => {
                Value::Date(std::cmp::Ord::max(date.resolve(self.now), earliest_date()))
            }
            Literal::Timestamp(at) => Value::Timestamp(std::cmp::Ord::max(
                at.resolve(self.now),
                earliest_date().midnight().assume_utc(),
            )),
        };
        Ok(DB::bind_value(value_type, &value))
    }
}

/// The earliest date a bound value may have. Stored dates and times have four-digit years,
/// so raising an earlier bound (`now - 20000y`) to this one changes no result, and keeps it
/// within PostgreSQL's range, which ends at 4713 BC.
fn earliest_date() -> time::Date {
    time::Date::from_calendar_date(-4000, time::Month::January, 1).unwrap_or(time::Date::MIN)
}

/// The SQL and the database's plan for a selection (`--explain`).
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub sql: String,
    pub parameters: Vec<String>,
    pub plan: Vec<String>,
}

pub fn compile_condition<DB: Dialect>(
    _pool: &sqlx::Pool<DB>,
    filter: &Filter,
    scope: Scope,
    now: OffsetDateTime,
) -> Result<Expr, StoreError> {
    filter_condition::<DB>(filter, scope, now)
}

/// The condition on `t0` that keeps the records `filter` selects in `scope`, for `DB`.
pub fn filter_condition<DB: Dialect>(
    filter: &Filter,
    scope: Scope,
    now: OffsetDateTime,
) -> Result<Expr, StoreError> {
    Compiler::<DB>::new(now, scope).condition(filter)
}

/// `SELECT COUNT(*) FROM entity AS t0 WHERE condition`.
fn count_select(entity: &str, condition: Expr) -> SelectStatement {
    let mut select = Query::select();
    select
        .expr(Expr::cust("COUNT(*)"))
        .from_as(Alias::new(entity), Alias::new("t0"))
        .and_where(condition);
    select
}

/// The statement that counts the records `filter` selects (what `count_matching` runs and
/// `explain` shows): a sum over the groups for a lone `duplicate(…)`, else a plain count.
fn count_statement<DB: Dialect>(
    filter: &Filter,
    scope: Scope,
    now: OffsetDateTime,
) -> Result<SelectStatement, StoreError> {
    if let Some(groups) = duplicate_groups_count::<DB>(filter, scope) {
        return Ok(groups);
    }
    let condition = Compiler::<DB>::new(now, scope).condition(filter)?;
    Ok(count_select(filter.entity().as_str(), condition))
}

/// Runs a statement whose one row holds one count.
async fn fetch_count<DB: Dialect>(
    connection: &mut DB::Connection,
    statement: &SelectStatement,
) -> Result<u64, StoreError> {
    let (sql, values) = DB::build(statement);
    let row = DB::fetch_optional(connection, sql, values)
        .await?
        .ok_or_else(|| StoreError::Internal("a count returned no row".to_owned()))?;
    match DB::decode(&row, 0, &ValueType::Integer)? {
        Value::Integer(count) => Ok(u64::try_from(count).unwrap_or(0)),
        _ => Ok(0),
    }
}

/// How many records of `entity` (under alias `t0`) meet `condition`.
pub async fn count_where<DB: Dialect>(
    connection: &mut DB::Connection,
    entity: &str,
    condition: Expr,
) -> Result<u64, StoreError> {
    fetch_count::<DB>(connection, &count_select(entity, condition)).await
}

pub async fn count_matching<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    filter: &Filter,
    scope: Scope,
    now: OffsetDateTime,
    time_limit: Option<std::time::Duration>,
) -> Result<u64, StoreError> {
    let statement = count_statement::<DB>(filter, scope, now)?;
    let mut connection = pool.acquire().await?;
    lethe_db::dialect::within_time::<DB, _>(&mut connection, time_limit, async |connection| {
        fetch_count::<DB>(connection, &statement).await
    })
    .await
}

/// When the whole filter is one `duplicate(…)` test and the groups are formed in the same
/// scope as the records counted (active or all), the count is a sum over the groups: every
/// member of a group of two or more, or all but its keeper. One grouped pass, as a person
/// would write it, instead of ranking every record.
fn duplicate_groups_count<DB: Dialect>(filter: &Filter, scope: Scope) -> Option<SelectStatement> {
    let FilterExpr::Duplicate {
        column: name,
        value_type,
        keep,
    } = filter.root()
    else {
        return None;
    };
    if scope.related() != scope {
        return None;
    }
    // Only records with a key form groups: for text, the folded value without `NULLIF`
    // (`<> ''` leaves out NULL and empty alike, and one expression less per row was 13 %
    // of this count on SQLite).
    let (key, has_key) = if *value_type == ValueType::Text {
        let folded = Expr::cust(Compiler::<DB>::folded_text("t0", name.as_str()));
        (folded.clone(), folded.ne(""))
    } else {
        let plain = Compiler::<DB>::duplicate_key("t0", name.as_str(), value_type);
        (plain.clone(), plain.is_not_null())
    };
    let mut groups = Query::select();
    groups
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from_as(Alias::new(filter.entity().as_str()), Alias::new("t0"));
    if let Some(condition) = scope_condition("t0", scope) {
        groups.and_where(condition);
    }
    groups
        .and_where(has_key)
        .add_group_by([key])
        .and_having(Expr::cust("COUNT(*) > 1"));
    let sum = if keep.is_some() {
        "CAST(COALESCE(SUM(n - 1), 0) AS BIGINT)"
    } else {
        "CAST(COALESCE(SUM(n), 0) AS BIGINT)"
    };
    let mut count = Query::select();
    count
        .expr(Expr::cust(sum))
        .from_subquery(groups, Alias::new("duplicate_groups"));
    Some(count)
}

pub async fn explain<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    filter: &Filter,
    scope: Scope,
    now: OffsetDateTime,
) -> Result<Explanation, StoreError> {
    let statement = count_statement::<DB>(filter, scope, now)?;
    let (sql, values) = DB::build(&statement);
    // Each bound value as an SQL literal, in order (`$1`, `$2`, … or each `?`).
    let parameters: Vec<String> = values
        .0
        .0
        .iter()
        .map(|value| {
            sea_query::QueryBuilder::value_to_string(&sea_query::PostgresQueryBuilder, value)
        })
        .collect();
    let prefix = match DB::BACKEND {
        Backend::Sqlite => "EXPLAIN QUERY PLAN ",
        Backend::Postgres => "EXPLAIN ",
    };
    let mut connection = pool.acquire().await?;
    let rows = DB::fetch_all(&mut connection, format!("{prefix}{sql}"), values).await?;
    // SQLite's plan rows are (id, parent, notused, detail); PostgreSQL's one text column.
    let detail_index = match DB::BACKEND {
        Backend::Sqlite => 3,
        Backend::Postgres => 0,
    };
    let mut plan = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Value::Text(line) = DB::decode(row, detail_index, &ValueType::Text)? {
            plan.push(line);
        }
    }
    Ok(Explanation {
        sql,
        parameters,
        plan,
    })
}
