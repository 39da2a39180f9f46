//! Telling people what happened (SPEC §7). [`notify`] writes a notification into each
//! recipient's in-app feed and, in the same transaction, what must go out by e-mail and
//! webhook into the outbox ([`outbox`]); where each person wants it and which webhooks listen
//! is in [`channels`]. This file also reads and marks the feed.

pub mod channels;
pub mod outbox;

use schemars::JsonSchema;
use sea_query::{Alias, Expr, ExprTrait, Order, Query};
use serde::Serialize;
use time::OffsetDateTime;

use lethe_domain::notification::NotificationKind;

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

/// Who a notification is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recipients {
    /// One user (the one who started a job, requested a purge).
    User(i64),
    /// Every admin.
    Admins,
    /// The subscribers of a monitor.
    MonitorSubscribers(i64),
}

impl Recipients {
    /// Which rows of `lethe_user` (not removed) are the recipients.
    pub(crate) fn condition(self) -> sea_query::Condition {
        let who = match self {
            Recipients::User(user) => Expr::col(Alias::new("id")).eq(user),
            Recipients::Admins => Expr::col(Alias::new("role")).eq("admin"),
            Recipients::MonitorSubscribers(monitor) => Expr::col(Alias::new("id")).in_subquery(
                Query::select()
                    .column(Alias::new("user_id"))
                    .from(Alias::new("lethe_monitor_subscriber"))
                    .and_where(Expr::col(Alias::new("monitor_id")).eq(monitor))
                    .to_owned(),
            ),
        };
        sea_query::Condition::all()
            .add(who)
            .add(Expr::col(Alias::new("removed_at")).is_null())
    }
}

/// Tells `recipients` of an event, inside the caller's transaction: a notification in each
/// one's feed, and in the outbox an e-mail for each who wants this kind by e-mail and a
/// message for each webhook that listens to it. Set-based: three statements whatever the
/// number of recipients. `message` must hold no personal data of records.
pub(crate) async fn notify<DB: Dialect>(
    connection: &mut DB::Connection,
    recipients: Recipients,
    kind: NotificationKind,
    message: &str,
    job: Option<i64>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut select = Query::select();
    select
        .column(Alias::new("id"))
        .expr(Expr::val(rows::bind_time::<DB>(now)))
        .expr(Expr::val(kind.as_str()))
        .expr(Expr::val(message))
        .expr(Expr::val(rows::bind_opt_int::<DB>(job)))
        .from(Alias::new("lethe_user"))
        .cond_where(recipients.condition());
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("lethe_notification"))
        .columns(["user_id", "at", "kind", "message", "job_id"].map(Alias::new))
        .select_from(select)
        .map_err(|error| StoreError::Internal(error.to_string()))?;
    let (sql, values) = DB::build(&insert);
    DB::execute(connection, sql, values).await?;
    outbox::enqueue::<DB>(connection, recipients, kind, message, job, now).await
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
