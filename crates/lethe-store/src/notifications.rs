//! The in-app notification feed (SPEC §7): purge requested (every admin), purge executed or
//! failed, records blocked in a bulk operation (the requester, with the list).

use schemars::JsonSchema;
use sea_query::{Alias, Expr, ExprTrait, Order, Query};
use serde::Serialize;
use time::OffsetDateTime;

use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::rows;
use crate::{Pools, Store, dispatch};

/// One notification as its recipient sees it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Notification {
    pub id: i64,
    #[schemars(extend("format" = "date-time"))]
    pub at: String,
    /// What happened, e.g. `purge_requested`, `purge_executed`, `purge_failed`,
    /// `purge_cancelled`, `records_blocked`.
    pub kind: String,
    /// What happened, in words.
    pub message: String,
    /// The job it is about, when one.
    pub job_id: Option<i64>,
    /// Whether the recipient has marked it read.
    pub read: bool,
}

/// Adds a notification for one user inside the caller's transaction.
pub(crate) async fn notify<DB: Dialect>(
    connection: &mut DB::Connection,
    user: i64,
    kind: &str,
    message: &str,
    job: Option<i64>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_notification"))
            .columns(["user_id", "at", "kind", "message", "job_id"].map(Alias::new))
            .values_panic([
                Expr::val(user),
                Expr::val(rows::bind_time::<DB>(now)),
                Expr::val(kind),
                Expr::val(message),
                Expr::val(rows::bind_opt_int::<DB>(job)),
            ]),
    );
    DB::execute(connection, sql, values).await?;
    Ok(())
}

async fn list<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    user: i64,
    unread_only: bool,
    limit: u64,
) -> Result<Vec<Notification>, StoreError> {
    let mut connection = pool.acquire().await?;
    let mut query = Query::select();
    query
        .columns(["id", "at", "kind", "message", "job_id", "read_at"].map(Alias::new))
        .from(Alias::new("lethe_notification"))
        .and_where(Expr::col(Alias::new("user_id")).eq(user))
        .order_by(Alias::new("id"), Order::Desc)
        .limit(limit);
    if unread_only {
        query.and_where(Expr::col(Alias::new("read_at")).is_null());
    }
    let (sql, values) = DB::build(&query);
    let found = DB::fetch_all(&mut connection, sql, values).await?;
    found
        .iter()
        .map(|row| {
            Ok(Notification {
                id: rows::int::<DB>(row, 0)?.unwrap_or(0),
                at: rows::timestamp::<DB>(row, 1)?
                    .map(crate::value::format_timestamp)
                    .unwrap_or_default(),
                kind: rows::text::<DB>(row, 2)?.unwrap_or_default(),
                message: rows::text::<DB>(row, 3)?.unwrap_or_default(),
                job_id: rows::int::<DB>(row, 4)?,
                read: rows::timestamp::<DB>(row, 5)?.is_some(),
            })
        })
        .collect()
}

async fn mark_read<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    user: i64,
    up_to: i64,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_notification"))
            .value(Alias::new("read_at"), Expr::val(rows::bind_time::<DB>(now)))
            .and_where(Expr::col(Alias::new("user_id")).eq(user))
            .and_where(Expr::col(Alias::new("id")).lte(up_to))
            .and_where(Expr::col(Alias::new("read_at")).is_null()),
    );
    let changed = DB::execute(&mut transaction, sql, values).await?;
    transaction.commit().await?;
    Ok(changed)
}

impl Store {
    /// A user's notifications, newest first.
    pub async fn notifications(
        &self,
        user: i64,
        unread_only: bool,
        limit: u64,
    ) -> Result<Vec<Notification>, StoreError> {
        let limit = limit.clamp(1, 1_000);
        dispatch!(self, pool => list::<_>(pool, user, unread_only, limit).await)
    }

    /// Marks a user's notifications up to `up_to` as read; returns how many changed.
    pub async fn mark_notifications_read(&self, user: i64, up_to: i64) -> Result<u64, StoreError> {
        let now = self.now();
        dispatch!(self, pool => mark_read::<_>(pool, user, up_to, now).await)
    }
}
