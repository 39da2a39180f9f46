//! Evaluating monitors: claiming a due run for one instance, then the evaluation itself —
//! set differences between the selection's current matches and the stored members, in SQL,
//! in one transaction with the run's completion and the subscribers' notification — and
//! forgetting purged records.

use lethe_domain::Actor;
use lethe_domain::notification::NotificationKind;
use lethe_schema::builtin;
use sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, Order, Query, SelectStatement};
use sqlx::Pool;
use time::OffsetDateTime;

use super::rows::{finish_run, insert_run, insert_select};
use crate::dialect::{Backend, Dialect, begin_write};
use crate::error::StoreError;
use crate::kept::{forget_ids, keep_ids};
use crate::notifications::Recipients;
use crate::rows;
use crate::select::Scope;
use crate::selections::{load_catalogue, member_condition};
use lethe_db::{col, qualified};

/// How many record ids a notification lists; the rest are one command away.
pub(super) const LISTED_IN_NOTIFICATION: u64 = 20;

/// The temporary table of the records matching a monitor's selection while it is evaluated.
const MATCHING: &str = "lethe_monitor_matching";

fn monitor_col(name: &str) -> Expr {
    qualified("m", name)
}

/// Records a run asked for now (`lethe monitor run`), due, in a transaction of its own.
pub(super) async fn request_run<DB: Dialect>(
    pool: &Pool<DB>,
    monitor: i64,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let run = insert_run::<DB>(&mut transaction, monitor, "run", None, actor, now).await?;
    transaction.commit().await?;
    Ok(run)
}

/// Claims the run due at `due` for this instance: moves the monitor's next run on and
/// records the run as due, in one transaction, provided no other instance moved it first
/// (the conditional update) and the run is not recorded yet (the unique due time). Returns
/// the run's id when this instance claimed it.
pub(super) async fn claim_due<DB: Dialect>(
    pool: &Pool<DB>,
    monitor: i64,
    due: OffsetDateTime,
    next: Option<OffsetDateTime>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Option<i64>, StoreError> {
    let mut transaction = begin_write(pool).await?;
    if !crate::due_runs::move_next_run::<DB>(&mut transaction, "lethe_monitor", monitor, due, next)
        .await?
    {
        return Ok(None);
    }
    let run = insert_run::<DB>(
        &mut transaction,
        monitor,
        "scheduled",
        Some(due),
        actor,
        now,
    )
    .await?;
    transaction.commit().await?;
    Ok(Some(run))
}

/// A monitor whose scheduled run is due: its id, schedule, time zone and due time.
pub(super) struct Due {
    pub(super) monitor: i64,
    pub(super) schedule: String,
    pub(super) time_zone: String,
    pub(super) at: OffsetDateTime,
}

/// The enabled monitors whose next run is due at `now` or before, read without their
/// subscribers (the scheduler asks every second).
pub(super) async fn due<DB: Dialect>(
    pool: &Pool<DB>,
    now: OffsetDateTime,
) -> Result<Vec<Due>, StoreError> {
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(
        Query::select()
            .columns(["id", "schedule", "time_zone", "next_run_at"].map(Alias::new))
            .from(Alias::new("lethe_monitor"))
            .and_where(col("enabled").eq(true))
            .and_where(col("next_run_at").lte(Expr::val(rows::bind_time::<DB>(now))))
            .order_by(Alias::new("id"), Order::Asc),
    );
    let mut found = Vec::new();
    for row in DB::fetch_all(&mut connection, sql, values).await? {
        let Some(at) = rows::timestamp::<DB>(&row, 3)? else {
            continue;
        };
        found.push(Due {
            monitor: rows::int::<DB>(&row, 0)?.unwrap_or_default(),
            schedule: rows::text::<DB>(&row, 1)?.unwrap_or_default(),
            time_zone: rows::text::<DB>(&row, 2)?.unwrap_or_default(),
            at,
        });
    }
    Ok(found)
}

/// The runs recorded but not evaluated yet, oldest first: those just claimed, and those an
/// instance claimed and did not finish (it was stopped or killed).
pub(super) async fn pending<DB: Dialect>(pool: &Pool<DB>) -> Result<Vec<i64>, StoreError> {
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("lethe_monitor_run"))
            .and_where(col("state").eq("due"))
            .order_by(Alias::new("id"), Order::Asc)
            .limit(1_000),
    );
    DB::fetch_all(&mut connection, sql, values)
        .await?
        .iter()
        .map(|row| rows::int::<DB>(row, 0).map(Option::unwrap_or_default))
        .collect()
}

/// What the evaluation needs to know of its monitor.
struct Watched {
    id: i64,
    name: String,
    selection: String,
    entity: String,
    notify_on_leave: bool,
}

/// Evaluates due run `run` and marks it done, in one transaction: the records that match
/// the selection now and are not members entered; the members that no longer match left;
/// both are recorded as the run's hits, the members follow, and the subscribers are told.
/// Nothing is read into memory but the few ids a notification lists. Returns `None` when
/// the run is done already or another instance is evaluating it now; a process killed
/// half-way leaves the run due, for the next pass of any instance.
pub(super) async fn evaluate<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &lethe_schema::Schema,
    run: i64,
    now: OffsetDateTime,
) -> Result<Option<(u64, u64)>, StoreError> {
    let mut transaction = begin_write(pool).await?;
    // The run's row, locked: another instance evaluating it holds it (and is skipped on
    // PostgreSQL); one that finished it has marked it done. SQLite has one writer at a time.
    let mut claim = Query::select();
    claim
        .column(Alias::new("monitor_id"))
        .from(Alias::new("lethe_monitor_run"))
        .and_where(col("id").eq(run))
        .and_where(col("state").eq("due"));
    if DB::BACKEND == Backend::Postgres {
        claim.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let (sql, values) = DB::build(&claim);
    let Some(row) = DB::fetch_optional(&mut transaction, sql, values).await? else {
        return Ok(None);
    };
    let monitor = rows::int::<DB>(&row, 0)?.unwrap_or_default();
    // The monitor's row, locked until commit, so that two runs of one monitor (a scheduled
    // one and one asked for) are evaluated one after the other, each against the members
    // the other left.
    let mut watched = Query::select();
    watched
        .expr(monitor_col("id"))
        .expr(monitor_col("name"))
        .expr(qualified("s", "name"))
        .expr(monitor_col("entity"))
        .expr(Into::<Expr>::into(
            Expr::case(monitor_col("notify_on_leave").eq(true), 1_i64).finally(0_i64),
        ))
        .from_as(Alias::new("lethe_monitor"), Alias::new("m"))
        .join_as(
            sea_query::JoinType::InnerJoin,
            Alias::new("lethe_selection"),
            Alias::new("s"),
            qualified("s", "id").equals((Alias::new("m"), Alias::new("selection_id"))),
        )
        .and_where(monitor_col("id").eq(monitor));
    if DB::BACKEND == Backend::Postgres {
        watched.lock_with_tables(LockType::Update, [Alias::new("m")]);
    }
    let (sql, values) = DB::build(&watched);
    let Some(row) = DB::fetch_optional(&mut transaction, sql, values).await? else {
        return Err(StoreError::Internal(format!(
            "monitor run {run} belongs to no monitor"
        )));
    };
    let watched = Watched {
        id: rows::int::<DB>(&row, 0)?.unwrap_or_default(),
        name: rows::text::<DB>(&row, 1)?.unwrap_or_default(),
        selection: rows::text::<DB>(&row, 2)?.unwrap_or_default(),
        entity: rows::text::<DB>(&row, 3)?.unwrap_or_default(),
        notify_on_leave: rows::int::<DB>(&row, 4)? == Some(1),
    };
    let catalogue = load_catalogue::<DB>(&mut transaction).await?;
    let matches = || {
        member_condition(
            pool,
            &catalogue,
            schema,
            &watched.selection,
            Scope::Active,
            now,
        )
    };
    let is_member = |record: Expr| {
        Query::select()
            .expr(Expr::val(1))
            .from_as(Alias::new("lethe_monitor_member"), Alias::new("mm"))
            .and_where(qualified("mm", "monitor_id").eq(watched.id))
            .and_where(qualified("mm", "record_id").eq(record))
            .to_owned()
    };
    let hit_columns = ["run_id", "record_id", "change"];

    // The selection's members now, found once (one pass over the selection) and kept in a
    // temporary table, ids only: entering and leaving are differences with the members.
    let mut matching = Query::select();
    matching
        .expr(qualified("t0", builtin::ID))
        .from_as(Alias::new(watched.entity.as_str()), Alias::new("t0"))
        .and_where(matches()?);
    let (_, now_members) = keep_ids::<DB>(&mut transaction, MATCHING, matching).await?;

    // Entered: matching now, not a member.
    let mut entered = Query::select();
    entered
        .expr(Expr::val(run))
        .expr(qualified("t0", builtin::ID))
        .expr(Expr::val("entered"))
        .from_as(Alias::new(MATCHING), Alias::new("t0"))
        .and_where(Expr::exists(is_member(qualified("t0", builtin::ID))).not());
    let entered =
        insert_select::<DB>(&mut transaction, "lethe_monitor_hit", &hit_columns, entered).await?;

    // Left: a member, no longer matching.
    let mut left = Query::select();
    left.expr(Expr::val(run))
        .expr(qualified("mm", "record_id"))
        .expr(Expr::val("left"))
        .from_as(Alias::new("lethe_monitor_member"), Alias::new("mm"))
        .and_where(qualified("mm", "monitor_id").eq(watched.id))
        .and_where(qualified("mm", "record_id").not_in_subquery(now_members));
    let left =
        insert_select::<DB>(&mut transaction, "lethe_monitor_hit", &hit_columns, left).await?;
    forget_ids::<DB>(&mut transaction, MATCHING).await?;

    // The members follow: out with who left, in with who entered.
    let of_run = |change: &str| {
        Query::select()
            .column(Alias::new("record_id"))
            .from(Alias::new("lethe_monitor_hit"))
            .and_where(col("run_id").eq(run))
            .and_where(col("change").eq(change))
            .to_owned()
    };
    if left > 0 {
        let (sql, values) = DB::build(
            Query::delete()
                .from_table(Alias::new("lethe_monitor_member"))
                .and_where(col("monitor_id").eq(watched.id))
                .and_where(col("record_id").in_subquery(of_run("left"))),
        );
        DB::execute(&mut transaction, sql, values).await?;
    }
    if entered > 0 {
        let mut new_members = Query::select();
        new_members
            .expr(Expr::val(watched.id))
            .column(Alias::new("record_id"))
            .from(Alias::new("lethe_monitor_hit"))
            .and_where(col("run_id").eq(run))
            .and_where(col("change").eq("entered"));
        insert_select::<DB>(
            &mut transaction,
            "lethe_monitor_member",
            &["monitor_id", "record_id"],
            new_members,
        )
        .await?;
    }
    let number = |count: u64| i64::try_from(count).unwrap_or(i64::MAX);
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_monitor"))
            .value(
                Alias::new("member_count"),
                col("member_count").add(number(entered)).sub(number(left)),
            )
            .and_where(col("id").eq(watched.id)),
    );
    DB::execute(&mut transaction, sql, values).await?;

    let tell_left = watched.notify_on_leave && left > 0;
    let notified = if entered > 0 || tell_left {
        let message = message::<DB>(&mut transaction, &watched, run, entered, left).await?;
        let recipients = Recipients::MonitorSubscribers(watched.id);
        crate::notifications::notify::<DB>(
            &mut transaction,
            recipients,
            NotificationKind::MonitorHit,
            &message,
            None,
            now,
        )
        .await?;
        count_subscribers::<DB>(&mut transaction, watched.id).await?
    } else {
        0
    };
    finish_run::<DB>(&mut transaction, run, entered, left, notified, now).await?;
    transaction.commit().await?;
    if entered + left > 0 {
        crate::statistics::after_write(pool, "lethe_monitor_member", entered + left).await;
    }
    Ok(Some((entered, left)))
}

/// "3 contact records entered monitor x (run 7): 12, 15, 40. See them all: …" — record
/// ids only, never a field's value, so that a record purged later leaves nothing personal
/// in anyone's notifications.
async fn message<DB: Dialect>(
    connection: &mut DB::Connection,
    watched: &Watched,
    run: i64,
    entered: u64,
    left: u64,
) -> Result<String, StoreError> {
    let mut parts = Vec::new();
    let mut changes = vec![("entered", entered)];
    if watched.notify_on_leave {
        changes.push(("left", left));
    }
    for (change, count) in changes {
        if count == 0 {
            continue;
        }
        let ids = sample::<DB>(connection, run, change).await?;
        let listed = ids
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let more = count.saturating_sub(ids.len() as u64);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        parts.push(format!(
            "{count} {} record(s) {change} monitor {} (run {run}): {listed}{more}.",
            watched.entity, watched.name
        ));
    }
    parts.push(format!(
        "See them all with `lethe monitor hits {} --run {run}` or on /monitors/{}?run={run}.",
        watched.name, watched.name
    ));
    Ok(parts.join(" "))
}

async fn sample<DB: Dialect>(
    connection: &mut DB::Connection,
    run: i64,
    change: &str,
) -> Result<Vec<i64>, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("record_id"))
            .from(Alias::new("lethe_monitor_hit"))
            .and_where(col("run_id").eq(run))
            .and_where(col("change").eq(change))
            .order_by(Alias::new("record_id"), Order::Asc)
            .limit(LISTED_IN_NOTIFICATION),
    );
    DB::fetch_all(connection, sql, values)
        .await?
        .iter()
        .map(|row| rows::int::<DB>(row, 0).map(Option::unwrap_or_default))
        .collect()
}

async fn count_subscribers<DB: Dialect>(
    connection: &mut DB::Connection,
    monitor: i64,
) -> Result<u64, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .expr(Expr::col(Alias::new("user_id")).count())
            .from(Alias::new("lethe_monitor_subscriber"))
            .and_where(col("monitor_id").eq(monitor))
            .and_where(
                col("user_id").in_subquery(
                    Query::select()
                        .column(Alias::new("id"))
                        .from(Alias::new("lethe_user"))
                        .and_where(col("removed_at").is_null())
                        .to_owned(),
                ),
            ),
    );
    match DB::fetch_optional(connection, sql, values).await? {
        Some(row) => rows::count::<DB>(&row, 0),
        None => Ok(0),
    }
}

/// Forgets records of `entity` that a purge erases (`ids` selects them): they leave the
/// members of every monitor of that entity, and the hits of its runs, inside the purge's
/// transaction. A monitor then keeps nothing of an erased record, not even its id.
pub(crate) async fn forget_records<DB: Dialect>(
    connection: &mut DB::Connection,
    entity: &str,
    ids: SelectStatement,
) -> Result<(), StoreError> {
    let monitors = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new("lethe_monitor"))
        .and_where(col("entity").eq(entity))
        .to_owned();
    // The members' count first, by what is about to go.
    let going = Query::select()
        .expr(Expr::col(Alias::new("record_id")).count())
        .from_as(Alias::new("lethe_monitor_member"), Alias::new("mm"))
        .and_where(
            qualified("mm", "monitor_id").equals((Alias::new("lethe_monitor"), Alias::new("id"))),
        )
        .and_where(qualified("mm", "record_id").in_subquery(ids.clone()))
        .to_owned();
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_monitor"))
            .value(
                Alias::new("member_count"),
                col("member_count").sub(Expr::from(going)),
            )
            .and_where(col("entity").eq(entity)),
    );
    DB::execute(connection, sql, values).await?;
    let (sql, values) = DB::build(
        Query::delete()
            .from_table(Alias::new("lethe_monitor_member"))
            .and_where(col("monitor_id").in_subquery(monitors.clone()))
            .and_where(col("record_id").in_subquery(ids.clone())),
    );
    DB::execute(connection, sql, values).await?;
    let runs = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new("lethe_monitor_run"))
        .and_where(col("monitor_id").in_subquery(monitors))
        .to_owned();
    let (sql, values) = DB::build(
        Query::delete()
            .from_table(Alias::new("lethe_monitor_hit"))
            .and_where(col("run_id").in_subquery(runs))
            .and_where(col("record_id").in_subquery(ids)),
    );
    DB::execute(connection, sql, values).await?;
    Ok(())
}
