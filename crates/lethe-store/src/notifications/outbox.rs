//! The outbox (SPEC §7): every e-mail and webhook message Lethe must send, written in the
//! same transaction as the event it tells of, then claimed by a worker of any instance,
//! delivered, and marked; a failed try waits longer each time and is given up after a set
//! number of tries, into a list an admin sees and can send again.
//!
//! A claim is a lease (as for jobs): one worker holds a message while it tries it, so several
//! instances on one database never send it at the same time; a worker that dies lets its
//! lease run out and another takes the message over. The one case that can send a message
//! twice is a worker dying between the sending and the marking; webhook receivers can tell by
//! the delivery id, which stays the same.

use lethe_domain::Actor;
use lethe_domain::notification::{AfterFailure, NotificationKind, Retries};
use lethe_domain::policy;
use schemars::JsonSchema;
use sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, Order, Query};
use serde::Serialize;
use sqlx::Pool;
use time::OffsetDateTime;

use super::Recipients;
use crate::dialect::{Backend, Dialect, begin_write};
use crate::error::StoreError;
use crate::value::format_timestamp;
use crate::{HistoryKey, Pools, Store, dispatch, rows};
use lethe_db::col;

/// One message of the outbox, as an admin sees it (never a webhook's secret).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Delivery {
    pub id: i64,
    /// `email` or `webhook`.
    pub channel: String,
    /// The kind of event it tells of.
    pub kind: String,
    /// The e-mail address or the webhook's URL it goes to.
    pub to: String,
    /// The user it is for (e-mail), or null.
    pub user: Option<String>,
    /// The webhook endpoint it is for, or null.
    pub webhook_id: Option<i64>,
    pub subject: String,
    pub job_id: Option<i64>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    /// Tries made so far.
    pub attempts: u32,
    /// `waiting`, `delivered` or `given_up`.
    pub state: String,
    /// When the next try is due, while waiting.
    #[schemars(extend("format" = "date-time"))]
    pub next_try_at: Option<String>,
    /// What went wrong the last time, if it did.
    pub last_error: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub delivered_at: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub given_up_at: Option<String>,
}

/// How many messages of the outbox are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DeliveryCounts {
    pub waiting: u64,
    pub delivered: u64,
    pub given_up: u64,
}

/// Which messages a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Waiting,
    Delivered,
    GivenUp,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Waiting => "waiting",
            DeliveryState::Delivered => "delivered",
            DeliveryState::GivenUp => "given_up",
        }
    }
}

impl std::str::FromStr for DeliveryState {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<DeliveryState, StoreError> {
        match text {
            "waiting" => Ok(DeliveryState::Waiting),
            "delivered" => Ok(DeliveryState::Delivered),
            "given_up" | "given-up" => Ok(DeliveryState::GivenUp),
            other => Err(StoreError::BadRequest(format!(
                "`{other}` is not a delivery state; use waiting, delivered or given_up"
            ))),
        }
    }
}

/// A message a worker has claimed and must now send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub id: i64,
    pub channel: Channel,
    pub kind: String,
    pub subject: String,
    /// The e-mail's text, or the webhook's JSON body.
    pub body: String,
    pub job_id: Option<i64>,
    /// Tries made before this one.
    pub attempts: u32,
    /// When it was written to the outbox: with the id, it names the message the same on
    /// every try and apart from any other Lethe's (an e-mail's `Message-ID`).
    pub created_at: OffsetDateTime,
}

/// Where a claimed message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    Email { to: String },
    Webhook { url: String, secret: String },
}

/// How a try went, as the worker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryResult {
    Delivered,
    /// Failed; `permanent` when trying again cannot help (an address refused for good).
    Failed {
        error: String,
        permanent: bool,
        /// How long the receiver asked to be left alone (`Retry-After`), if it did.
        asked_wait: Option<std::time::Duration>,
    },
}

/// Writes the outbox's messages for one event, inside the event's transaction: an e-mail for
/// each recipient with an address who has not turned e-mail off for `kind`, and one message
/// for each webhook that listens to `kind`.
pub(super) async fn enqueue<DB: Dialect>(
    connection: &mut DB::Connection,
    recipients: Recipients,
    kind: NotificationKind,
    message: &str,
    job: Option<i64>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let subject = format!("Lethe: {}", kind.title());
    let columns = [
        "channel",
        "kind",
        "user_id",
        "webhook_id",
        "address",
        "subject",
        "body",
        "job_id",
        "created_at",
        "next_try_at",
    ]
    .map(Alias::new);
    let at = || Expr::val(rows::bind_time::<DB>(now));
    let null = || Expr::val(rows::bind_opt_int::<DB>(None));

    let turned_off = Query::select()
        .expr(Expr::val(1))
        .from(Alias::new("lethe_channel_choice"))
        .and_where(
            Expr::col((Alias::new("lethe_channel_choice"), Alias::new("user_id")))
                .equals((Alias::new("lethe_user"), Alias::new("id"))),
        )
        .and_where(col("kind").eq(kind.as_str()))
        .and_where(col("channel").eq("email"))
        .and_where(col("enabled").eq(false))
        .to_owned();
    let mut emails = Query::select();
    emails
        .expr(Expr::val("email"))
        .expr(Expr::val(kind.as_str()))
        .column(Alias::new("id"))
        .expr(null())
        .column(Alias::new("email"))
        .expr(Expr::val(subject.as_str()))
        .expr(Expr::val(message))
        .expr(Expr::val(rows::bind_opt_int::<DB>(job)))
        .expr(at())
        .expr(at())
        .from(Alias::new("lethe_user"))
        .cond_where(recipients.condition())
        .and_where(col("email").is_not_null())
        .and_where(Expr::exists(turned_off).not());
    insert_select::<DB>(connection, &columns, emails).await?;

    let body = serde_json::json!({
        "event": kind.as_str(),
        "at": format_timestamp(now),
        "message": message,
        "job": job,
        "for": match recipients {
            Recipients::Admins => "admins".to_owned(),
            Recipients::User(user) => format!("user {user}"),
            Recipients::MonitorSubscribers(monitor) => format!("subscribers of monitor {monitor}"),
        },
    })
    .to_string();
    let position = match DB::BACKEND {
        Backend::Sqlite => "instr",
        Backend::Postgres => "strpos",
    };
    let mut hooks = Query::select();
    hooks
        .expr(Expr::val("webhook"))
        .expr(Expr::val(kind.as_str()))
        .expr(null())
        .column(Alias::new("id"))
        .column(Alias::new("url"))
        .expr(Expr::val(subject.as_str()))
        .expr(Expr::val(body))
        .expr(Expr::val(rows::bind_opt_int::<DB>(job)))
        .expr(at())
        .expr(at())
        .from(Alias::new("lethe_webhook"))
        .and_where(col("removed_at").is_null())
        .and_where(
            col("kinds").eq("*").or(Expr::expr(
                sea_query::Func::cust(Alias::new(position))
                    .arg(col("kinds"))
                    .arg(Expr::val(format!(",{},", kind.as_str()))),
            )
            .gt(0)),
        );
    insert_select::<DB>(connection, &columns, hooks).await
}

async fn insert_select<DB: Dialect>(
    connection: &mut DB::Connection,
    columns: &[Alias],
    select: sea_query::SelectStatement,
) -> Result<(), StoreError> {
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("lethe_outbox"))
        .columns(columns.iter().cloned())
        .select_from(select)
        .map_err(|error| StoreError::Internal(error.to_string()))?;
    let (sql, values) = DB::build(&insert);
    DB::execute(connection, sql, values).await?;
    Ok(())
}

/// Claims up to `limit` messages that are due, for `owner`, oldest first, held until
/// `lease_expires` (wall clock).
async fn claim<DB: Dialect>(
    pool: &Pool<DB>,
    owner: &str,
    limit: u64,
    now: OffsetDateTime,
    wall: OffsetDateTime,
    lease_expires: OffsetDateTime,
) -> Result<Vec<Outgoing>, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let mut due = Query::select();
    due.column(Alias::new("id"))
        .from(Alias::new("lethe_outbox"))
        .and_where(col("delivered_at").is_null())
        .and_where(col("given_up_at").is_null())
        .and_where(col("next_try_at").lte(Expr::val(rows::bind_time::<DB>(now))))
        .and_where(
            col("lease_expires_at")
                .is_null()
                .or(col("lease_expires_at").lt(Expr::val(rows::bind_time::<DB>(wall)))),
        )
        // Never to a removed webhook, even a message an admin sent again.
        .and_where(
            Expr::exists(
                Query::select()
                    .expr(Expr::val(1))
                    .from(Alias::new("lethe_webhook"))
                    .and_where(
                        Expr::col((Alias::new("lethe_webhook"), Alias::new("id")))
                            .equals((Alias::new("lethe_outbox"), Alias::new("webhook_id"))),
                    )
                    .and_where(
                        Expr::col((Alias::new("lethe_webhook"), Alias::new("removed_at")))
                            .is_not_null(),
                    )
                    .to_owned(),
            )
            .not(),
        )
        .order_by(Alias::new("id"), Order::Asc)
        .limit(limit);
    if DB::BACKEND == Backend::Postgres {
        // Another instance's worker skips what this one is claiming instead of waiting.
        due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let (sql, values) = DB::build(&due);
    let ids = DB::fetch_all(&mut transaction, sql, values)
        .await?
        .iter()
        .map(|row| rows::int::<DB>(row, 0).map(Option::unwrap_or_default))
        .collect::<Result<Vec<i64>, StoreError>>()?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_outbox"))
            .value(Alias::new("lease_owner"), owner)
            .value(
                Alias::new("lease_expires_at"),
                Expr::val(rows::bind_time::<DB>(lease_expires)),
            )
            .and_where(col("id").is_in(ids.iter().copied())),
    );
    DB::execute(&mut transaction, sql, values).await?;
    let outbox = |name: &str| Expr::col((Alias::new("lethe_outbox"), Alias::new(name)));
    let (sql, values) = DB::build(
        Query::select()
            .expr(outbox("id"))
            .expr(outbox("channel"))
            .expr(outbox("kind"))
            .expr(outbox("address"))
            .expr(outbox("subject"))
            .expr(outbox("body"))
            .expr(outbox("job_id"))
            .expr(outbox("attempts"))
            .expr(Expr::col((
                Alias::new("lethe_webhook"),
                Alias::new("secret"),
            )))
            .expr(outbox("created_at"))
            .from(Alias::new("lethe_outbox"))
            .left_join(
                Alias::new("lethe_webhook"),
                Expr::col((Alias::new("lethe_webhook"), Alias::new("id")))
                    .equals((Alias::new("lethe_outbox"), Alias::new("webhook_id"))),
            )
            .and_where(outbox("id").is_in(ids.iter().copied()))
            .order_by((Alias::new("lethe_outbox"), Alias::new("id")), Order::Asc),
    );
    let found = DB::fetch_all(&mut transaction, sql, values).await?;
    transaction.commit().await?;
    let mut claimed = Vec::with_capacity(found.len());
    for row in &found {
        let address = rows::text::<DB>(row, 3)?.unwrap_or_default();
        let channel = match rows::text::<DB>(row, 1)?.as_deref() {
            Some("webhook") => Channel::Webhook {
                url: address,
                secret: rows::text::<DB>(row, 8)?.unwrap_or_default(),
            },
            _ => Channel::Email { to: address },
        };
        claimed.push(Outgoing {
            id: rows::int::<DB>(row, 0)?.unwrap_or_default(),
            channel,
            kind: rows::text::<DB>(row, 2)?.unwrap_or_default(),
            subject: rows::text::<DB>(row, 4)?.unwrap_or_default(),
            body: rows::text::<DB>(row, 5)?.unwrap_or_default(),
            job_id: rows::int::<DB>(row, 6)?,
            attempts: u32::try_from(rows::int::<DB>(row, 7)?.unwrap_or_default()).unwrap_or(0),
            created_at: rows::timestamp::<DB>(row, 9)?.unwrap_or(OffsetDateTime::UNIX_EPOCH),
        });
    }
    Ok(claimed)
}

/// Marks the outcome of a try of a message `owner` holds: delivered, to be tried again after
/// the wait the retry rule gives, or given up. Returns false when the lease was lost (the
/// message was taken over), in which case nothing is changed.
async fn report<DB: Dialect>(
    pool: &Pool<DB>,
    message: &Outgoing,
    owner: &str,
    result: &TryResult,
    retries: &Retries,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let attempts = message.attempts.saturating_add(1);
    let mut update = Query::update();
    update
        .table(Alias::new("lethe_outbox"))
        .value(Alias::new("attempts"), i64::from(attempts))
        .value(
            Alias::new("lease_owner"),
            Expr::val(rows::bind_opt_text::<DB>(None)),
        )
        .value(
            Alias::new("lease_expires_at"),
            Expr::val(rows::bind_opt_time::<DB>(None)),
        )
        .and_where(col("id").eq(message.id))
        .and_where(col("lease_owner").eq(owner))
        .and_where(col("delivered_at").is_null());
    let at = Expr::val(rows::bind_time::<DB>(now));
    match result {
        TryResult::Delivered => {
            update.value(Alias::new("delivered_at"), at).value(
                Alias::new("last_error"),
                Expr::val(rows::bind_opt_text::<DB>(None)),
            );
        }
        TryResult::Failed {
            error,
            permanent,
            asked_wait,
        } => {
            update.value(
                Alias::new("last_error"),
                Expr::val(rows::bind_opt_text::<DB>(Some(error))),
            );
            match retries.after_failure(attempts, *permanent, *asked_wait) {
                AfterFailure::GiveUp => {
                    update.value(Alias::new("given_up_at"), at);
                }
                AfterFailure::TryAgainIn(wait) => {
                    let wait = time::Duration::try_from(wait).unwrap_or(time::Duration::HOUR);
                    update.value(
                        Alias::new("next_try_at"),
                        Expr::val(rows::bind_time::<DB>(now + wait)),
                    );
                }
            }
        }
    }
    let mut transaction = begin_write(pool).await?;
    let (sql, values) = DB::build(&update);
    let changed = DB::execute(&mut transaction, sql, values).await?;
    transaction.commit().await?;
    Ok(changed == 1)
}

fn select_deliveries() -> sea_query::SelectStatement {
    let outbox = |name: &str| Expr::col((Alias::new("lethe_outbox"), Alias::new(name)));
    Query::select()
        .expr(outbox("id"))
        .expr(outbox("channel"))
        .expr(outbox("kind"))
        .expr(outbox("address"))
        .expr(Expr::col((Alias::new("lethe_user"), Alias::new("name"))))
        .expr(outbox("webhook_id"))
        .expr(outbox("subject"))
        .expr(outbox("job_id"))
        .expr(outbox("created_at"))
        .expr(outbox("attempts"))
        .expr(outbox("next_try_at"))
        .expr(outbox("last_error"))
        .expr(outbox("delivered_at"))
        .expr(outbox("given_up_at"))
        .from(Alias::new("lethe_outbox"))
        .left_join(
            Alias::new("lethe_user"),
            Expr::col((Alias::new("lethe_user"), Alias::new("id")))
                .equals((Alias::new("lethe_outbox"), Alias::new("user_id"))),
        )
        .to_owned()
}

fn delivery<DB: Dialect>(row: &DB::Row) -> Result<Delivery, StoreError> {
    let time = |index| -> Result<Option<String>, StoreError> {
        Ok(rows::timestamp::<DB>(row, index)?.map(format_timestamp))
    };
    let delivered_at = time(12)?;
    let given_up_at = time(13)?;
    let state = if delivered_at.is_some() {
        DeliveryState::Delivered
    } else if given_up_at.is_some() {
        DeliveryState::GivenUp
    } else {
        DeliveryState::Waiting
    };
    Ok(Delivery {
        id: rows::int::<DB>(row, 0)?.unwrap_or_default(),
        channel: rows::text::<DB>(row, 1)?.unwrap_or_default(),
        kind: rows::text::<DB>(row, 2)?.unwrap_or_default(),
        to: rows::text::<DB>(row, 3)?.unwrap_or_default(),
        user: rows::text::<DB>(row, 4)?,
        webhook_id: rows::int::<DB>(row, 5)?,
        subject: rows::text::<DB>(row, 6)?.unwrap_or_default(),
        job_id: rows::int::<DB>(row, 7)?,
        created_at: time(8)?.unwrap_or_default(),
        attempts: u32::try_from(rows::int::<DB>(row, 9)?.unwrap_or_default()).unwrap_or(0),
        next_try_at: if state == DeliveryState::Waiting {
            time(10)?
        } else {
            None
        },
        last_error: rows::text::<DB>(row, 11)?,
        delivered_at,
        given_up_at,
        state: state.as_str().to_owned(),
    })
}

async fn list<DB: Dialect>(
    pool: &Pool<DB>,
    state: Option<DeliveryState>,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<Delivery>, StoreError> {
    let mut query = select_deliveries();
    let outbox = |name: &str| Expr::col((Alias::new("lethe_outbox"), Alias::new(name)));
    match state {
        Some(DeliveryState::Delivered) => {
            query.and_where(outbox("delivered_at").is_not_null());
        }
        Some(DeliveryState::GivenUp) => {
            query.and_where(outbox("given_up_at").is_not_null());
        }
        Some(DeliveryState::Waiting) => {
            query
                .and_where(outbox("delivered_at").is_null())
                .and_where(outbox("given_up_at").is_null());
        }
        None => {}
    }
    if let Some(before) = before {
        query.and_where(outbox("id").lt(before));
    }
    query
        .order_by((Alias::new("lethe_outbox"), Alias::new("id")), Order::Desc)
        .limit(limit);
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(&query);
    DB::fetch_all(&mut connection, sql, values)
        .await?
        .iter()
        .map(delivery::<DB>)
        .collect()
}

async fn counts<DB: Dialect>(pool: &Pool<DB>) -> Result<DeliveryCounts, StoreError> {
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(
        Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .expr(Expr::cust(
                "COALESCE(SUM(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END), 0)",
            ))
            .expr(Expr::cust(
                "COALESCE(SUM(CASE WHEN given_up_at IS NOT NULL THEN 1 ELSE 0 END), 0)",
            ))
            .from(Alias::new("lethe_outbox")),
    );
    let row = DB::fetch_optional(&mut connection, sql, values)
        .await?
        .ok_or_else(|| StoreError::Internal("counting the outbox gave no row".to_owned()))?;
    let count = |index| -> Result<u64, StoreError> {
        Ok(u64::try_from(rows::int::<DB>(&row, index)?.unwrap_or_default()).unwrap_or(0))
    };
    let (all, delivered, given_up) = (count(0)?, count(1)?, count(2)?);
    Ok(DeliveryCounts {
        waiting: all.saturating_sub(delivered).saturating_sub(given_up),
        delivered,
        given_up,
    })
}

/// How many delivered messages one statement of [`prune`] removes at most.
const PRUNED_AT_ONCE: u64 = 10_000;

/// Removes the messages delivered before `before`, a bounded number per statement; returns
/// how many. Waiting and given-up messages stay.
async fn prune<DB: Dialect>(pool: &Pool<DB>, before: OffsetDateTime) -> Result<u64, StoreError> {
    let mut removed = 0;
    loop {
        let (sql, values) = DB::build(
            Query::delete()
                .from_table(Alias::new("lethe_outbox"))
                .and_where(
                    col("id").in_subquery(
                        Query::select()
                            .column(Alias::new("id"))
                            .from(Alias::new("lethe_outbox"))
                            .and_where(col("delivered_at").is_not_null())
                            .and_where(
                                col("delivered_at").lt(Expr::val(rows::bind_time::<DB>(before))),
                            )
                            .limit(PRUNED_AT_ONCE)
                            .to_owned(),
                    ),
                ),
        );
        let mut transaction = begin_write(pool).await?;
        let gone = DB::execute(&mut transaction, sql, values).await?;
        transaction.commit().await?;
        removed += gone;
        if gone < PRUNED_AT_ONCE {
            return Ok(removed);
        }
    }
}

async fn one<DB: Dialect>(
    connection: &mut DB::Connection,
    id: i64,
) -> Result<Delivery, StoreError> {
    let mut query = select_deliveries();
    query.and_where(Expr::col((Alias::new("lethe_outbox"), Alias::new("id"))).eq(id));
    let (sql, values) = DB::build(&query);
    match DB::fetch_optional(connection, sql, values).await? {
        Some(row) => delivery::<DB>(&row),
        None => Err(StoreError::NamedNotFound(format!(
            "there is no delivery {id}; see `lethe deliveries list`"
        ))),
    }
}

/// Sends a given-up message again: its tries start over, due now. Written to the history. A
/// message for a webhook that was removed is refused: it has nowhere to go.
async fn retry<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    id: i64,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Delivery, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let before = one::<DB>(&mut transaction, id).await?;
    if before.state != DeliveryState::GivenUp.as_str() {
        return Err(StoreError::Conflict(format!(
            "delivery {id} is {}; only a message that was given up on can be sent again",
            before.state.replace('_', " ")
        )));
    }
    // A message for a removed webhook has nowhere to go: sent again, it would wait forever.
    if let Some(webhook) = before.webhook_id {
        let (sql, values) = DB::build(
            Query::select()
                .expr(Expr::val(1))
                .from(Alias::new("lethe_webhook"))
                .and_where(col("id").eq(webhook))
                .and_where(col("removed_at").is_null()),
        );
        if DB::fetch_optional(&mut transaction, sql, values)
            .await?
            .is_none()
        {
            return Err(StoreError::Conflict(format!(
                "delivery {id} was for webhook {webhook}, which was removed: it cannot be sent again; add the endpoint again to hear of new events"
            )));
        }
    }
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_outbox"))
            .value(Alias::new("attempts"), 0)
            .value(
                Alias::new("given_up_at"),
                Expr::val(rows::bind_opt_time::<DB>(None)),
            )
            .value(
                Alias::new("next_try_at"),
                Expr::val(rows::bind_time::<DB>(now)),
            )
            .and_where(col("id").eq(id))
            .and_where(col("given_up_at").is_not_null()),
    );
    DB::execute(&mut transaction, sql, values).await?;
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "delivery.retried",
        None,
        serde_json::json!({"delivery": id, "channel": before.channel, "kind": before.kind, "attempts_before": before.attempts}),
    )
    .await?;
    let after = one::<DB>(&mut transaction, id).await?;
    transaction.commit().await?;
    Ok(after)
}

impl Store {
    /// Claims up to `limit` messages that are due, for the worker `owner`, held for `lease`
    /// (real time): until then no other worker takes them, after it any may. Each must be
    /// reported with [`Store::report_delivery`] before the lease runs out, or it may be sent
    /// twice; the worker sizes its claims so that it can.
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        limit: u64,
        lease: std::time::Duration,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let now = self.now();
        let wall = lethe_jobs::lease::wall_clock();
        let lease = time::Duration::try_from(lease)
            .map_err(|_| StoreError::BadRequest(format!("a lease of {lease:?} is too long")))?;
        let lease_expires = wall
            .checked_add(lease)
            .ok_or_else(|| StoreError::BadRequest(format!("a lease of {lease} is too long")))?;
        let limit = limit.clamp(1, 1_000);
        let claimed = dispatch!(self, pool => claim::<_>(pool, owner, limit, now, wall, lease_expires).await)?;
        // A webhook's secret is stored sealed; one that does not open (another history key,
        // a changed value) cannot sign anything: its message is given up, saying why.
        let key = self.history_key();
        let mut ready = Vec::with_capacity(claimed.len());
        for mut message in claimed {
            if let Channel::Webhook { secret, .. } = &mut message.channel {
                match crate::sealed::open(&key, super::channels::WEBHOOK_SECRET, secret) {
                    Ok(opened) => *secret = opened,
                    Err(error) => {
                        let refused = TryResult::Failed {
                            error: match error {
                                StoreError::Internal(why) => why,
                                other => other.to_string(),
                            },
                            permanent: true,
                            asked_wait: None,
                        };
                        self.report_delivery(&message, owner, &refused, &Retries::default())
                            .await?;
                        continue;
                    }
                }
            }
            ready.push(message);
        }
        Ok(ready)
    }

    /// Records how a try of a claimed message went. False when the lease was lost meanwhile.
    pub async fn report_delivery(
        &self,
        message: &Outgoing,
        owner: &str,
        result: &TryResult,
        retries: &Retries,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        dispatch!(self, pool => report::<_>(pool, message, owner, result, retries, now).await)
    }

    /// The outbox, newest first, in pages (`before`: the last id of the previous page): an
    /// admin's to see.
    pub async fn deliveries(
        &self,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: u64,
        actor: &Actor,
    ) -> Result<Vec<Delivery>, StoreError> {
        policy::handle_deliveries(actor)?;
        let limit = limit.clamp(1, 1_000);
        dispatch!(self, pool => list::<_>(pool, state, before, limit).await)
    }

    /// How many messages wait, were delivered, and were given up (an admin's to see).
    pub async fn delivery_counts(&self, actor: &Actor) -> Result<DeliveryCounts, StoreError> {
        policy::handle_deliveries(actor)?;
        dispatch!(self, pool => counts::<_>(pool).await)
    }

    /// Removes from the outbox the messages delivered more than `kept` ago (business
    /// clock); returns how many. The delivery worker calls it now and then.
    pub async fn prune_deliveries(&self, kept: std::time::Duration) -> Result<u64, StoreError> {
        let kept = time::Duration::try_from(kept)
            .map_err(|_| StoreError::BadRequest(format!("keeping {kept:?} is too long")))?;
        let before = self
            .now()
            .checked_sub(kept)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        dispatch!(self, pool => prune::<_>(pool, before).await)
    }

    /// Sends a message that was given up on again (an admin).
    pub async fn retry_delivery(&self, id: i64, actor: &Actor) -> Result<Delivery, StoreError> {
        policy::handle_deliveries(actor)?;
        let key = self.history_key();
        let now = self.now();
        dispatch!(self, pool => retry::<_>(pool, &key, id, actor, now).await)
    }
}
