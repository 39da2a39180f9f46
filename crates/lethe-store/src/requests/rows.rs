//! The rows of people's requests and their links: reading, writing a new request, changing
//! one on the condition of the status it was read in, and claiming the reminders that are
//! due (the statements; the rules are in `mod.rs` and the domain).

use lethe_domain::Actor;
use lethe_domain::notification::NotificationKind;
use sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sqlx::Pool;
use time::OffsetDateTime;

use super::{RequestLink, RequestListing, SubjectRequest};
use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::notifications::{Recipients, notify};
use crate::set_columns::{Set, set_columns};
use crate::value::format_timestamp;
use crate::{HistoryKey, rows};
use lethe_db::col;

const OPEN: [&str; 2] = ["received", "in_progress"];

fn request_col(name: &str) -> Expr {
    Expr::col((Alias::new("r"), Alias::new(name)))
}

fn select_requests() -> sea_query::SelectStatement {
    let mut query = Query::select();
    for column in [
        "id",
        "kind",
        "subject_email",
        "subject_contact_id",
        "subject_tag",
        "received_at",
        "due_at",
        "extended_until",
        "extension_reason",
        "deadline",
        "status",
        "refusal_reason",
        "reminded_at",
        "overdue_notified_at",
        "created_at",
        "closed_at",
        "assignee_id",
    ] {
        query.expr(request_col(column));
    }
    query
        .expr(Expr::col((Alias::new("a"), Alias::new("name"))))
        .expr(Expr::col((Alias::new("c"), Alias::new("name"))))
        .from_as(Alias::new("lethe_request"), Alias::new("r"));
    crate::names::join_user_names(
        &mut query,
        "r",
        &[("a", "assignee_id"), ("c", "created_by")],
    );
    query
}

/// A request as stored, before the links and the days left are added.
pub(super) struct Row {
    pub(super) request: SubjectRequest,
    pub(super) assignee_id: Option<i64>,
    pub(super) received: OffsetDateTime,
    pub(super) due: OffsetDateTime,
    pub(super) deadline: OffsetDateTime,
}

fn decode<DB: Dialect>(row: &DB::Row) -> Result<Row, StoreError> {
    let text = |index| rows::text::<DB>(row, index);
    let time = |index| rows::timestamp::<DB>(row, index);
    let required = |index| -> Result<OffsetDateTime, StoreError> {
        time(index)?.ok_or_else(|| StoreError::Internal("a request without a date".to_owned()))
    };
    let received = required(5)?;
    let due = required(6)?;
    let deadline = required(9)?;
    Ok(Row {
        request: SubjectRequest {
            id: rows::int::<DB>(row, 0)?.unwrap_or_default(),
            kind: text(1)?.unwrap_or_default(),
            subject_email: text(2)?,
            subject_contact_id: rows::int::<DB>(row, 3)?,
            subject_tag: text(4)?.unwrap_or_default(),
            received_at: format_timestamp(received),
            due_at: format_timestamp(due),
            extended_until: time(7)?.map(format_timestamp),
            extension_reason: text(8)?,
            deadline: format_timestamp(deadline),
            days_left: 0,
            overdue: false,
            status: text(10)?.unwrap_or_default(),
            refusal_reason: text(11)?,
            reminded_at: time(12)?.map(format_timestamp),
            overdue_notified_at: time(13)?.map(format_timestamp),
            created_at: time(14)?.map(format_timestamp).unwrap_or_default(),
            closed_at: time(15)?.map(format_timestamp),
            assignee: text(17)?,
            created_by: text(18)?,
            links: Vec::new(),
            ready_to_close: false,
        },
        assignee_id: rows::int::<DB>(row, 16)?,
        received,
        due,
        deadline,
    })
}

/// The requests `listing` asks for (of the user `assignee` only, when given): open ones
/// first, each group by deadline.
pub(super) async fn list<DB: Dialect>(
    pool: &Pool<DB>,
    listing: &RequestListing,
    assignee: Option<i64>,
    tag: Option<&str>,
    now: OffsetDateTime,
) -> Result<Vec<Row>, StoreError> {
    let mut query = select_requests();
    match listing {
        RequestListing::All => {}
        RequestListing::Open => {
            query.and_where(request_col("status").is_in(OPEN));
        }
        RequestListing::Overdue => {
            query
                .and_where(request_col("status").is_in(OPEN))
                .and_where(request_col("deadline").lt(Expr::val(rows::bind_time::<DB>(now))));
        }
    }
    if let Some(user) = assignee {
        query.and_where(request_col("assignee_id").eq(user));
    }
    if let Some(tag) = tag {
        query.and_where(request_col("subject_tag").eq(tag));
    }
    query
        .order_by_expr(
            Expr::case(request_col("status").is_in(OPEN), 0_i64)
                .finally(1_i64)
                .into(),
            Order::Asc,
        )
        .order_by((Alias::new("r"), Alias::new("deadline")), Order::Asc)
        .order_by((Alias::new("r"), Alias::new("id")), Order::Desc)
        .limit(1_000);
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(&query);
    DB::fetch_all(&mut connection, sql, values)
        .await?
        .iter()
        .map(decode::<DB>)
        .collect()
}

pub(super) async fn one<DB: Dialect>(pool: &Pool<DB>, id: i64) -> Result<Row, StoreError> {
    let mut query = select_requests();
    query.and_where(request_col("id").eq(id));
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(&query);
    match DB::fetch_optional(&mut connection, sql, values).await? {
        Some(row) => decode::<DB>(&row),
        None => Err(StoreError::NamedNotFound(format!(
            "there is no request {id}; see `lethe request list`"
        ))),
    }
}

/// The deletion batches and purges linked to request `id`, with their states.
pub(super) async fn links<DB: Dialect>(
    pool: &Pool<DB>,
    id: i64,
) -> Result<Vec<RequestLink>, StoreError> {
    let link = |name: &str| Expr::col((Alias::new("l"), Alias::new(name)));
    let mut query = Query::select();
    query
        .expr(link("batch_id"))
        .expr(link("job_id"))
        .expr(Expr::col((Alias::new("b"), Alias::new("state"))))
        .expr(Expr::col((Alias::new("j"), Alias::new("kind"))))
        .expr(Expr::col((Alias::new("j"), Alias::new("state"))))
        .expr(link("linked_at"))
        .from_as(Alias::new("lethe_request_link"), Alias::new("l"))
        .join_as(
            sea_query::JoinType::LeftJoin,
            Alias::new("lethe_deletion_batch"),
            Alias::new("b"),
            Expr::col((Alias::new("b"), Alias::new("id")))
                .equals((Alias::new("l"), Alias::new("batch_id"))),
        )
        .join_as(
            sea_query::JoinType::LeftJoin,
            Alias::new("lethe_job"),
            Alias::new("j"),
            Expr::col((Alias::new("j"), Alias::new("id")))
                .equals((Alias::new("l"), Alias::new("job_id"))),
        )
        .and_where(link("request_id").eq(id))
        .order_by((Alias::new("l"), Alias::new("id")), Order::Asc);
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(&query);
    DB::fetch_all(&mut connection, sql, values)
        .await?
        .iter()
        .map(|row| {
            let batch_id = rows::int::<DB>(row, 0)?;
            let job_id = rows::int::<DB>(row, 1)?;
            let job_kind = rows::text::<DB>(row, 3)?;
            let state = match batch_id {
                Some(_) => rows::text::<DB>(row, 2)?,
                None => rows::text::<DB>(row, 4)?,
            }
            .unwrap_or_default();
            let receipt = job_id
                .filter(|_| job_kind.as_deref() == Some("purge") && state == "done")
                .map(|job| format!("/purges/{job}/receipt"));
            Ok(RequestLink {
                batch_id,
                job_id,
                state,
                receipt,
                linked_at: rows::timestamp::<DB>(row, 5)?
                    .map(format_timestamp)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// A checked new request, ready to write.
pub(super) struct Checked<'a> {
    pub(super) kind: &'a str,
    pub(super) email: Option<&'a str>,
    pub(super) contact: Option<i64>,
    pub(super) tag: &'a str,
    pub(super) received: OffsetDateTime,
    pub(super) due: OffsetDateTime,
    pub(super) assignee: Option<i64>,
}

pub(super) async fn insert<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    checked: &Checked<'_>,
    detail: serde_json::Value,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let time = |at: OffsetDateTime| Expr::val(rows::bind_time::<DB>(at));
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_request"))
            .columns(
                [
                    "kind",
                    "subject_email",
                    "subject_contact_id",
                    "subject_tag",
                    "received_at",
                    "due_at",
                    "deadline",
                    "status",
                    "assignee_id",
                    "created_by",
                    "created_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Expr::val(checked.kind),
                Expr::val(rows::bind_opt_text::<DB>(checked.email)),
                Expr::val(rows::bind_opt_int::<DB>(checked.contact)),
                Expr::val(checked.tag),
                time(checked.received),
                time(checked.due),
                time(checked.due),
                Expr::val("received"),
                Expr::val(rows::bind_opt_int::<DB>(checked.assignee)),
                Expr::val(rows::bind_opt_int::<DB>(actor.user_id)),
                time(now),
            ])
            .returning_col(Alias::new("id")),
    );
    let id = match DB::fetch_optional(&mut transaction, sql, values).await? {
        Some(row) => rows::int::<DB>(&row, 0)?.unwrap_or_default(),
        None => return Err(StoreError::Internal("the request got no id".to_owned())),
    };
    let mut detail = detail;
    detail["request"] = serde_json::json!(id);
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "request.added",
        None,
        detail,
    )
    .await?;
    transaction.commit().await?;
    Ok(id)
}

/// Sets columns of request `id`, provided it is still in status `read_status`, and appends
/// `action` to the history, in one transaction. A request changed meanwhile is a conflict.
#[allow(clippy::too_many_arguments)]
pub(super) async fn change<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    id: i64,
    read_status: &str,
    values: &[(&str, Set)],
    action: &str,
    detail: serde_json::Value,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = begin_write(pool).await?;
    let changed = set_columns::<DB>(
        &mut transaction,
        "lethe_request",
        id,
        values,
        Some(("status", read_status)),
    )
    .await?;
    if changed != 1 {
        return Err(StoreError::Conflict(format!(
            "request {id} changed while this was asked (it is no longer {read_status}): look at it again with `lethe request show {id}`"
        )));
    }
    crate::history::append::<DB>(&mut transaction, key, now, actor, action, None, detail).await?;
    transaction.commit().await?;
    Ok(())
}

/// Links a deletion batch or a job to request `id`, which must still be open; a link made
/// already is not made twice.
#[allow(clippy::too_many_arguments)]
pub(super) async fn link<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    id: i64,
    batch: Option<i64>,
    job: Option<i64>,
    detail: serde_json::Value,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let mut existing = Query::select();
    existing
        .expr(Expr::val(1))
        .from(Alias::new("lethe_request_link"))
        .and_where(col("request_id").eq(id));
    match (batch, job) {
        (Some(batch), _) => existing.and_where(col("batch_id").eq(batch)),
        (None, job) => existing.and_where(col("job_id").eq(rows::bind_opt_int::<DB>(job))),
    };
    let (sql, values) = DB::build(&existing);
    if DB::fetch_optional(&mut transaction, sql, values)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_request_link"))
            .columns(["request_id", "batch_id", "job_id", "linked_by", "linked_at"].map(Alias::new))
            .values_panic([
                Expr::val(id),
                Expr::val(rows::bind_opt_int::<DB>(batch)),
                Expr::val(rows::bind_opt_int::<DB>(job)),
                Expr::val(rows::bind_opt_int::<DB>(actor.user_id)),
                Expr::val(rows::bind_time::<DB>(now)),
            ]),
    );
    DB::execute(&mut transaction, sql, values).await?;
    // Still open: checked inside the transaction, so a request closed meanwhile gets no link.
    let (sql, values) = DB::build(
        Query::select()
            .expr(Expr::val(1))
            .from(Alias::new("lethe_request"))
            .and_where(col("id").eq(id))
            .and_where(col("status").is_in(OPEN)),
    );
    if DB::fetch_optional(&mut transaction, sql, values)
        .await?
        .is_none()
    {
        return Err(StoreError::Conflict(format!(
            "request {id} was closed meanwhile: links are made while a request is open"
        )));
    }
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "request.linked",
        None,
        detail,
    )
    .await?;
    transaction.commit().await?;
    Ok(true)
}

/// What one claim of reminders found.
pub(super) struct Claimed {
    pub(super) id: i64,
    pub(super) kind: String,
    pub(super) deadline: OffsetDateTime,
    pub(super) assignee: Option<i64>,
}

/// Claims and sends, in one transaction, the reminders due at `now`: the assignee's (or,
/// without one, every admin's) for each open request due within five days and not reminded
/// yet, and every admin's for each open request whose deadline passed and that was not
/// reported overdue yet. The claim is one `UPDATE … WHERE reminded_at IS NULL` (or
/// `overdue_notified_at`), so however many instances do this at once each reminder is sent
/// once: on PostgreSQL a second instance waits for the first's row locks and then finds the
/// column set; on SQLite the write transactions take turns. The notifications and outbox
/// rows commit with the claim, or neither does.
pub(super) async fn claim_reminders<DB: Dialect>(
    pool: &Pool<DB>,
    now: OffsetDateTime,
    remind_until: OffsetDateTime,
    message: impl Fn(&Claimed, bool) -> String,
) -> Result<(u64, u64), StoreError> {
    let mut transaction = begin_write(pool).await?;
    let mut counts = (0, 0);
    for overdue in [false, true] {
        let (column, condition) = if overdue {
            (
                "overdue_notified_at",
                col("deadline").lte(Expr::val(rows::bind_time::<DB>(now))),
            )
        } else {
            (
                "reminded_at",
                col("deadline")
                    .lte(Expr::val(rows::bind_time::<DB>(remind_until)))
                    .and(col("deadline").gt(Expr::val(rows::bind_time::<DB>(now)))),
            )
        };
        let (sql, values) = DB::build(
            Query::update()
                .table(Alias::new("lethe_request"))
                .value(Alias::new(column), Expr::val(rows::bind_time::<DB>(now)))
                .and_where(col("status").is_in(OPEN))
                .and_where(col(column).is_null())
                .and_where(condition)
                .returning(
                    Query::returning()
                        .columns(["id", "kind", "deadline", "assignee_id"].map(Alias::new)),
                ),
        );
        let claimed = DB::fetch_all(&mut transaction, sql, values).await?;
        for row in &claimed {
            let claim = Claimed {
                id: rows::int::<DB>(row, 0)?.unwrap_or_default(),
                kind: rows::text::<DB>(row, 1)?.unwrap_or_default(),
                deadline: rows::timestamp::<DB>(row, 2)?.unwrap_or(now),
                assignee: rows::int::<DB>(row, 3)?,
            };
            let recipients = match (overdue, claim.assignee) {
                (false, Some(user)) => Recipients::User(user),
                _ => Recipients::Admins,
            };
            notify::<DB>(
                &mut transaction,
                recipients,
                NotificationKind::RequestDeadline,
                &message(&claim, overdue),
                None,
                now,
            )
            .await?;
        }
        let count = u64::try_from(claimed.len()).unwrap_or(u64::MAX);
        if overdue {
            counts.1 = count;
        } else {
            counts.0 = count;
        }
    }
    transaction.commit().await?;
    Ok(counts)
}

/// `text` with the personal values of contact `contact` it names replaced by `[erased]`.
pub(super) async fn without_contact_values<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &lethe_schema::Schema,
    contact: i64,
    text: &str,
) -> Result<String, StoreError> {
    let mut connection = pool.acquire().await?;
    crate::redact::without_values_of::<DB>(
        &mut connection,
        schema,
        "contact",
        lethe_db::qualified("t0", "id").eq(contact),
        text,
    )
    .await
}

/// The addresses open requests keep on purpose (until they are closed), for the erasure
/// receipt: an erased value found in `lethe_request` is explained by them, not residue.
pub(crate) async fn kept_addresses<DB: Dialect>(
    pool: &Pool<DB>,
) -> Result<Vec<lethe_evidence::database::KeptOnPurpose>, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .columns([Alias::new("id"), Alias::new("subject_email")])
            .from(Alias::new("lethe_request"))
            .and_where(col("subject_email").is_not_null())
            .and_where(col("status").is_in(OPEN))
            .order_by(Alias::new("id"), Order::Asc),
    );
    let mut kept = Vec::new();
    for row in DB::fetch_all(&mut *pool.acquire().await?, sql, values).await? {
        let id = rows::int::<DB>(&row, 0)?.unwrap_or_default();
        if let Some(value) = rows::text::<DB>(&row, 1)? {
            kept.push(lethe_evidence::database::KeptOnPurpose {
                value,
                why: format!(
                    "lethe_request.subject_email (kept by open request {id} until it is closed)"
                ),
            });
        }
    }
    Ok(kept)
}
