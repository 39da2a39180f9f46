//! A batch of a job's members and what it skipped: the members in `(lo, hi]` of the job's
//! snapshot, the skipped members recorded with their reason (`lethe_job_skip`), and the next
//! batch after the cursor.

use lethe_db::dialect::Dialect;
use lethe_db::{StoreError, col, rows};
use lethe_domain::Actor;
use lethe_domain::job::{JobPayload, Work};
use lethe_schema::Schema;
use schemars::JsonSchema;
use sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use serde::Serialize;
use sqlx::Pool;
use time::OffsetDateTime;

use crate::row::Totals;

/// A member an operation did not act on, and why.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Skip {
    /// The member.
    pub record_id: i64,
    /// `gone` (no longer exists), `state` (its lifecycle state changed since the snapshot) or
    /// `blocked` (a rule blocks it).
    #[schemars(extend("enum" = ["gone", "state", "blocked"]))]
    pub kind: String,
    /// For `blocked`: the entity of the records that block it.
    pub entity: Option<String>,
    /// For `blocked`: how many records block it.
    pub count: u64,
    /// Why, in words.
    pub reason: String,
}

impl Skip {
    /// "contact 1234: 2 invoice (invoice.contact_id restricts deleting it)".
    pub fn message(&self, member_entity: &str) -> String {
        match &self.entity {
            // A rule on the member itself (a purge precondition) names no other records.
            Some(entity)
                if self.kind == "blocked" && entity == member_entity && self.count == 1 =>
            {
                format!("{member_entity} {}: {}", self.record_id, self.reason)
            }
            Some(entity) if self.kind == "blocked" => format!(
                "{member_entity} {}: {} {entity} ({})",
                self.record_id, self.count, self.reason
            ),
            _ => format!("{member_entity} {}: {}", self.record_id, self.reason),
        }
    }
}

/// The `column` values of the rows of `table` in `(lo, hi]` (whose `owner` column is `key`,
/// when one is given).
fn keys_in(
    table: &str,
    column: &str,
    owner: Option<(&str, i64)>,
    lo: i64,
    hi: i64,
) -> SelectStatement {
    let mut query = Query::select();
    query.column(Alias::new(column)).from(Alias::new(table));
    if let Some((owner, key)) = owner {
        query.and_where(col(owner).eq(key));
    }
    query
        .and_where(col(column).gt(lo))
        .and_where(col(column).lte(hi));
    query
}

/// The column of an import's staging table that numbers its rows (their line in the file).
pub const STAGED_LINE: &str = "_line";

/// Where a job's members are: the record ids of its snapshot, or the line numbers of an
/// import's staged rows (`table`, `column`, and the owner column and key that pick the job's
/// rows out of a shared table).
fn members_of(payload: &JobPayload) -> (&str, &'static str, Option<(&'static str, i64)>) {
    match (&payload.work, payload.snapshot_id) {
        (Work::Import { staging, .. }, _) => (staging.as_str(), STAGED_LINE, None),
        (_, snapshot) => (
            "lethe_snapshot_member",
            "record_id",
            Some(("snapshot_id", snapshot.unwrap_or_default())),
        ),
    }
}

/// The members of a snapshot with ids in `(lo, hi]`.
pub fn members_in(snapshot: i64, lo: i64, hi: i64) -> SelectStatement {
    keys_in(
        "lethe_snapshot_member",
        "record_id",
        Some(("snapshot_id", snapshot)),
        lo,
        hi,
    )
}

/// The members of this job in `(lo, hi]` that were skipped or blocked.
pub fn skipped_in(job: i64, lo: i64, hi: i64) -> SelectStatement {
    keys_in("lethe_job_skip", "record_id", Some(("job_id", job)), lo, hi)
}

/// Records skipped members: `select` yields `(record_id, count, job_id, kind, entity,
/// reason)` rows.
pub async fn insert_skips<DB: Dialect>(
    connection: &mut DB::Connection,
    select: SelectStatement,
) -> Result<u64, StoreError> {
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("lethe_job_skip"))
        .columns(["record_id", "count", "job_id", "kind", "entity", "reason"].map(Alias::new))
        .select_from(select)
        .map_err(|error| StoreError::Internal(format!("building a skip insert: {error}")))?;
    let (sql, values) = DB::build(&insert);
    Ok(DB::execute(connection, sql, values).await?)
}

impl Batch<'_> {
    /// Records as skipped (`kind`, `reason`) the members of this batch that have no row in
    /// the member entity matching `keep` (or no row at all when `keep` is `None`).
    pub async fn skip_missing<DB: Dialect>(
        &self,
        connection: &mut DB::Connection,
        keep: Option<Expr>,
        kind: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut present = Query::select();
        present
            .column(Alias::new(lethe_schema::builtin::ID))
            .from(Alias::new(self.plan.root.as_str()))
            .and_where(col(lethe_schema::builtin::ID).gt(self.lo))
            .and_where(col(lethe_schema::builtin::ID).lte(self.hi));
        if let Some(keep) = keep {
            present.and_where(keep);
        }
        let mut missing = self.members();
        missing
            .and_where(col("record_id").not_in_subquery(present))
            .expr(Expr::val(1i64))
            .expr(Expr::val(self.job))
            .expr(Expr::val(kind))
            .expr(Expr::val(rows::bind_opt_text::<DB>(None)))
            .expr(Expr::val(reason));
        insert_skips::<DB>(connection, missing).await?;
        Ok(())
    }

    /// Records as skipped (`kind`, `reason`) the members of this batch whose row matches
    /// `condition`.
    pub async fn skip_matching<DB: Dialect>(
        &self,
        connection: &mut DB::Connection,
        condition: Expr,
        kind: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut matching = Query::select();
        matching
            .column(Alias::new(lethe_schema::builtin::ID))
            .expr(Expr::val(1i64))
            .expr(Expr::val(self.job))
            .expr(Expr::val(kind))
            .expr(Expr::val(rows::bind_opt_text::<DB>(None)))
            .expr(Expr::val(reason))
            .from(Alias::new(self.plan.root.as_str()))
            .and_where(col(lethe_schema::builtin::ID).in_subquery(self.members()))
            .and_where(condition);
        insert_skips::<DB>(connection, matching).await?;
        Ok(())
    }

    /// The running totals of skipped and blocked members of this batch.
    pub async fn skip_totals<DB: Dialect>(
        &self,
        connection: &mut DB::Connection,
    ) -> Result<Totals, StoreError> {
        Ok(Totals {
            skipped: count_skips::<DB>(connection, self.job, self.lo, self.hi, false).await?,
            blocked: count_skips::<DB>(connection, self.job, self.lo, self.hi, true).await?,
            ..Totals::default()
        })
    }
}

/// How many distinct members of `(lo, hi]` were skipped with this kind.
pub async fn count_skips<DB: Dialect>(
    connection: &mut DB::Connection,
    job: i64,
    lo: i64,
    hi: i64,
    blocked: bool,
) -> Result<u64, StoreError> {
    let mut query = Query::select();
    query
        .expr(Expr::cust("COUNT(DISTINCT record_id)"))
        .from(Alias::new("lethe_job_skip"))
        .and_where(col("job_id").eq(job))
        .and_where(col("record_id").gt(lo))
        .and_where(col("record_id").lte(hi));
    if blocked {
        query.and_where(col("kind").eq("blocked"));
    } else {
        query.and_where(col("kind").ne("blocked"));
    }
    let (sql, values) = DB::build(&query);
    let row = DB::fetch_optional(connection, sql, values).await?;
    match row {
        Some(row) => rows::count::<DB>(&row, 0),
        None => Ok(0),
    }
}

pub async fn list_skips<DB: Dialect>(
    pool: &Pool<DB>,
    job: i64,
    limit: u64,
) -> Result<Vec<Skip>, StoreError> {
    let mut connection = pool.acquire().await?;
    skips_of::<DB>(&mut connection, job, limit).await
}

/// The first `limit` skipped members of a job, by member id.
pub async fn skips_of<DB: Dialect>(
    connection: &mut DB::Connection,
    job: i64,
    limit: u64,
) -> Result<Vec<Skip>, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .columns(["record_id", "kind", "entity", "count", "reason"].map(Alias::new))
            .from(Alias::new("lethe_job_skip"))
            .and_where(col("job_id").eq(job))
            .order_by(Alias::new("record_id"), Order::Asc)
            .limit(limit),
    );
    let found = DB::fetch_all(connection, sql, values).await?;
    found
        .iter()
        .map(|row| {
            Ok(Skip {
                record_id: rows::int::<DB>(row, 0)?.unwrap_or(0),
                kind: rows::text::<DB>(row, 1)?.unwrap_or_default(),
                entity: rows::text::<DB>(row, 2)?,
                count: rows::count::<DB>(row, 3)?,
                reason: rows::text::<DB>(row, 4)?.unwrap_or_default(),
            })
        })
        .collect()
}

/// What one batch works on.
#[derive(Debug)]
pub struct Batch<'a> {
    pub schema: &'a Schema,
    pub plan: &'a lethe_plan::Plan,
    pub payload: &'a JobPayload,
    pub job: i64,
    /// Member ids in `(lo, hi]`.
    pub lo: i64,
    pub hi: i64,
    pub now: OffsetDateTime,
}

impl Batch<'_> {
    /// The batch's members: record ids of the snapshot, or an import's staged lines.
    pub fn members(&self) -> SelectStatement {
        let (table, column, owner) = members_of(self.payload);
        keys_in(table, column, owner, self.lo, self.hi)
    }

    pub fn skipped(&self) -> SelectStatement {
        skipped_in(self.job, self.lo, self.hi)
    }

    pub fn actor(&self) -> &Actor {
        &self.payload.actor
    }
}

/// The next batch of the job's members after `cursor`: its last member id and its size.
pub async fn next_batch<DB: Dialect>(
    connection: &mut DB::Connection,
    payload: &JobPayload,
    cursor: i64,
    size: u64,
) -> Result<Option<(i64, u64)>, StoreError> {
    let (table, column, owner) = members_of(payload);
    let mut inner = Query::select();
    inner
        .expr_as(col(column), Alias::new("member"))
        .from(Alias::new(table));
    if let Some((owner, key)) = owner {
        inner.and_where(col(owner).eq(key));
    }
    inner
        .and_where(col(column).gt(cursor))
        .order_by(Alias::new(column), Order::Asc)
        .limit(size);
    let (sql, values) = DB::build(
        Query::select()
            .expr(Expr::cust("MAX(member)"))
            .expr(Expr::cust("COUNT(*)"))
            .from_subquery(inner, Alias::new("next_batch")),
    );
    let Some(row) = DB::fetch_optional(connection, sql, values).await? else {
        return Ok(None);
    };
    let count = rows::count::<DB>(&row, 1)?;
    match rows::int::<DB>(&row, 0)? {
        Some(hi) if count > 0 => Ok(Some((hi, count))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod skip_tests {
    use super::Skip;

    #[test]
    fn a_rule_on_the_member_itself_reads_as_the_rule() {
        let skip = |entity: &str, count: u64, reason: &str| Skip {
            record_id: 27,
            kind: "blocked".to_owned(),
            entity: Some(entity.to_owned()),
            count,
            reason: reason.to_owned(),
        };
        assert_eq!(
            skip("activity", 1, "status must be removed or verified").message("activity"),
            "activity 27: status must be removed or verified"
        );
        assert_eq!(
            skip("invoice", 2, "invoice.contact_id restricts deleting it").message("contact"),
            "contact 27: 2 invoice (invoice.contact_id restricts deleting it)"
        );
    }
}
