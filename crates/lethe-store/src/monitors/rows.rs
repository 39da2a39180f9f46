//! The rows of monitors, their subscribers, members, runs and hits: reading and writing
//! them, and taking a baseline (the statements; the evaluation is in `evaluate.rs`, the
//! rules in `mod.rs` and the domain).

use lethe_domain::Actor;
use lethe_domain::retention::Schedule;
use lethe_schema::builtin;
use sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use sqlx::Pool;
use time::OffsetDateTime;

use super::{Monitor, MonitorHit, MonitorRun};
use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::select::Scope;
use crate::selections::{load_catalogue, member_condition};
use crate::set_columns::{Set, set_columns};
use crate::value::format_timestamp;
use crate::{HistoryKey, rows};
use lethe_db::{col, qualified};

fn monitor_col(name: &str) -> Expr {
    qualified("m", name)
}

fn select_monitors() -> SelectStatement {
    let user_name = |alias: &str| qualified(alias, "name");
    let mut query = Query::select();
    query
        .expr(monitor_col("id"))
        .expr(monitor_col("name"))
        .expr(qualified("s", "name"))
        .expr(monitor_col("entity"))
        .expr(monitor_col("schedule"))
        .expr(monitor_col("time_zone"))
        .expr(Into::<Expr>::into(
            Expr::case(monitor_col("notify_on_leave").eq(true), 1_i64).finally(0_i64),
        ))
        .expr(user_name("o"))
        .expr(Into::<Expr>::into(
            Expr::case(monitor_col("enabled").eq(true), 1_i64).finally(0_i64),
        ))
        .expr(monitor_col("member_count"))
        .expr(monitor_col("next_run_at"))
        .expr(user_name("c"))
        .expr(monitor_col("changed_at"))
        .expr(monitor_col("created_at"))
        .expr(monitor_col("owner_id"))
        .from_as(Alias::new("lethe_monitor"), Alias::new("m"))
        .join_as(
            sea_query::JoinType::InnerJoin,
            Alias::new("lethe_selection"),
            Alias::new("s"),
            qualified("s", "id").equals((Alias::new("m"), Alias::new("selection_id"))),
        );
    crate::names::join_user_names(&mut query, "m", &[("o", "owner_id"), ("c", "changed_by")]);
    query
}

/// A monitor and the id of its owner.
pub(super) struct Row {
    pub(super) monitor: Monitor,
    pub(super) owner_id: Option<i64>,
}

fn decode<DB: Dialect>(row: &DB::Row) -> Result<Row, StoreError> {
    let text = |index| rows::text::<DB>(row, index).map(Option::unwrap_or_default);
    let time = |index| -> Result<Option<String>, StoreError> {
        Ok(rows::timestamp::<DB>(row, index)?.map(format_timestamp))
    };
    let schedule = text(4)?;
    let time_zone = text(5)?;
    let schedule_words = Schedule::words_of(&schedule, &time_zone);
    Ok(Row {
        monitor: Monitor {
            id: rows::int::<DB>(row, 0)?.unwrap_or_default(),
            name: text(1)?,
            selection: text(2)?,
            entity: text(3)?,
            schedule,
            time_zone,
            schedule_words,
            notify_on_leave: rows::int::<DB>(row, 6)? == Some(1),
            owner: rows::text::<DB>(row, 7)?,
            enabled: rows::int::<DB>(row, 8)? == Some(1),
            members: rows::count::<DB>(row, 9)?,
            next_run_at: time(10)?,
            changed_by: rows::text::<DB>(row, 11)?,
            changed_at: time(12)?.unwrap_or_default(),
            created_at: time(13)?.unwrap_or_default(),
            subscribers: Vec::new(),
        },
        owner_id: rows::int::<DB>(row, 14)?,
    })
}

/// The names of a monitor's subscribers who are still users, by name.
async fn subscriber_names<DB: Dialect>(
    connection: &mut DB::Connection,
    monitor: i64,
) -> Result<Vec<String>, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .expr(qualified("u", "name"))
            .from_as(Alias::new("lethe_monitor_subscriber"), Alias::new("ms"))
            .join_as(
                sea_query::JoinType::InnerJoin,
                Alias::new("lethe_user"),
                Alias::new("u"),
                qualified("u", "id").equals((Alias::new("ms"), Alias::new("user_id"))),
            )
            .and_where(qualified("ms", "monitor_id").eq(monitor))
            .and_where(qualified("u", "removed_at").is_null())
            .order_by((Alias::new("u"), Alias::new("name")), Order::Asc),
    );
    DB::fetch_all(connection, sql, values)
        .await?
        .iter()
        .map(|row| rows::text::<DB>(row, 0).map(Option::unwrap_or_default))
        .collect()
}

pub(super) async fn list<DB: Dialect>(pool: &Pool<DB>) -> Result<Vec<Monitor>, StoreError> {
    let mut connection = pool.acquire().await?;
    let mut query = select_monitors();
    query.order_by((Alias::new("m"), Alias::new("name")), Order::Asc);
    let (sql, values) = DB::build(&query);
    let mut monitors = Vec::new();
    for row in DB::fetch_all(&mut connection, sql, values).await? {
        let mut monitor = decode::<DB>(&row)?.monitor;
        monitor.subscribers = subscriber_names::<DB>(&mut connection, monitor.id).await?;
        monitors.push(monitor);
    }
    Ok(monitors)
}

pub(super) async fn one<DB: Dialect>(pool: &Pool<DB>, name: &str) -> Result<Row, StoreError> {
    let mut connection = pool.acquire().await?;
    let mut query = select_monitors();
    query.and_where(monitor_col("name").eq(name));
    let (sql, values) = DB::build(&query);
    let Some(row) = DB::fetch_optional(&mut connection, sql, values).await? else {
        return Err(StoreError::NamedNotFound(format!(
            "there is no monitor `{name}`; see `lethe monitor list`"
        )));
    };
    let mut row = decode::<DB>(&row)?;
    row.monitor.subscribers = subscriber_names::<DB>(&mut connection, row.monitor.id).await?;
    Ok(row)
}

/// A checked new monitor, ready to write.
pub(super) struct Checked<'a> {
    pub(super) name: &'a str,
    pub(super) selection_id: i64,
    pub(super) selection: &'a str,
    pub(super) entity: &'a str,
    pub(super) schedule: &'a Schedule,
    pub(super) notify_on_leave: bool,
    pub(super) subscribers: Vec<i64>,
}

/// Adds a monitor, enabled, with its subscribers, and records its baseline — the
/// selection's members now, which later runs compare with — in one transaction.
pub(super) async fn insert<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &lethe_schema::Schema,
    key: &HistoryKey,
    checked: &Checked<'_>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = begin_write(pool).await?;
    crate::names::refuse_taken_name::<DB>(&mut transaction, "lethe_monitor", checked.name, || {
        format!(
            "a monitor `{}` exists already; change it with `lethe monitor edit`",
            checked.name
        )
    })
    .await?;
    let at = || Expr::val(rows::bind_time::<DB>(now));
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_monitor"))
            .columns(
                [
                    "name",
                    "selection_id",
                    "entity",
                    "schedule",
                    "time_zone",
                    "notify_on_leave",
                    "owner_id",
                    "enabled",
                    "member_count",
                    "next_run_at",
                    "changed_by",
                    "changed_at",
                    "created_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Expr::val(checked.name),
                Expr::val(checked.selection_id),
                Expr::val(checked.entity),
                Expr::val(checked.schedule.pattern()),
                Expr::val(checked.schedule.zone()),
                Expr::val(checked.notify_on_leave),
                Expr::val(rows::bind_opt_int::<DB>(actor.user_id)),
                Expr::val(true),
                Expr::val(0_i64),
                Expr::val(rows::bind_opt_time::<DB>(checked.schedule.next_after(now))),
                Expr::val(rows::bind_opt_int::<DB>(actor.user_id)),
                at(),
                at(),
            ])
            .returning_col(Alias::new("id")),
    );
    let id = match DB::fetch_optional(&mut transaction, sql, values).await? {
        Some(row) => rows::int::<DB>(&row, 0)?.unwrap_or_default(),
        None => return Err(StoreError::Internal("the monitor got no id".to_owned())),
    };
    for user in &checked.subscribers {
        set_subscriber::<DB>(&mut transaction, id, *user, true).await?;
    }
    let members = baseline::<DB>(
        &mut transaction,
        pool,
        schema,
        id,
        checked.selection,
        checked.entity,
        actor,
        now,
    )
    .await?;
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "monitor.added",
        Some(checked.entity),
        serde_json::json!({
            "monitor": checked.name, "selection": checked.selection,
            "schedule": checked.schedule.pattern(), "time_zone": checked.schedule.zone(),
            "notify_on_leave": checked.notify_on_leave, "members": members,
        }),
    )
    .await?;
    transaction.commit().await?;
    crate::statistics::after_write(pool, "lethe_monitor_member", members).await;
    Ok(())
}

/// Replaces a monitor's members with what its selection holds now and records that as a
/// `baseline` run, which notifies nobody: a new monitor (or one pointed at another
/// selection) starts from what is there, and tells of what comes after.
#[allow(clippy::too_many_arguments)]
pub(super) async fn baseline<DB: Dialect>(
    connection: &mut DB::Connection,
    pool: &Pool<DB>,
    schema: &lethe_schema::Schema,
    monitor: i64,
    selection: &str,
    entity: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let (sql, values) = DB::build(
        Query::delete()
            .from_table(Alias::new("lethe_monitor_member"))
            .and_where(col("monitor_id").eq(monitor)),
    );
    DB::execute(connection, sql, values).await?;
    let catalogue = load_catalogue::<DB>(connection).await?;
    let condition = member_condition(pool, &catalogue, schema, selection, Scope::Active, now)?;
    let mut members = Query::select();
    members
        .expr(Expr::val(monitor))
        .expr(qualified("t0", builtin::ID))
        .from_as(Alias::new(entity), Alias::new("t0"))
        .and_where(condition);
    let count = insert_select::<DB>(
        connection,
        "lethe_monitor_member",
        &["monitor_id", "record_id"],
        members,
    )
    .await?;
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_monitor"))
            .value(
                Alias::new("member_count"),
                i64::try_from(count).unwrap_or(i64::MAX),
            )
            .and_where(col("id").eq(monitor)),
    );
    DB::execute(connection, sql, values).await?;
    let run = insert_run::<DB>(connection, monitor, "baseline", None, actor, now).await?;
    finish_run::<DB>(connection, run, count, 0, 0, now).await?;
    Ok(count)
}

pub(super) async fn insert_select<DB: Dialect>(
    connection: &mut DB::Connection,
    table: &str,
    columns: &[&str],
    select: SelectStatement,
) -> Result<u64, StoreError> {
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new(table))
        .columns(columns.iter().map(|column| Alias::new(*column)))
        .select_from(select)
        .map_err(|error| {
            StoreError::Internal(format!("building an insert into {table}: {error}"))
        })?;
    let (sql, values) = DB::build(&insert);
    Ok(DB::execute(connection, sql, values).await?)
}

/// Subscribes (`on`) or unsubscribes a user; true when that changed something.
pub(super) async fn set_subscriber<DB: Dialect>(
    connection: &mut DB::Connection,
    monitor: i64,
    user: i64,
    on: bool,
) -> Result<bool, StoreError> {
    let (sql, values) = DB::build(
        Query::delete()
            .from_table(Alias::new("lethe_monitor_subscriber"))
            .and_where(col("monitor_id").eq(monitor))
            .and_where(col("user_id").eq(user)),
    );
    let removed = DB::execute(connection, sql, values).await?;
    if !on {
        return Ok(removed > 0);
    }
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_monitor_subscriber"))
            .columns(["monitor_id", "user_id"].map(Alias::new))
            .values_panic([Expr::val(monitor), Expr::val(user)]),
    );
    DB::execute(connection, sql, values).await?;
    Ok(removed == 0)
}

/// What a change does besides setting columns.
pub(super) enum Also<'a> {
    Nothing,
    /// Take a new baseline of this selection (the monitor now watches it).
    Baseline {
        selection: &'a str,
        entity: &'a str,
    },
    /// Subscribe or unsubscribe a user.
    Subscriber {
        user: i64,
        on: bool,
    },
}

/// Sets columns of a monitor, does `also`, and appends `action` to the history, in one
/// transaction.
#[allow(clippy::too_many_arguments)]
pub(super) async fn change<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &lethe_schema::Schema,
    key: &HistoryKey,
    id: i64,
    values: &[(&str, Set)],
    also: Also<'_>,
    action: &str,
    detail: serde_json::Value,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = begin_write(pool).await?;
    // A change of the monitor itself records who made it; (un)subscribing someone does not.
    if !values.is_empty() {
        let mut values = values.to_vec();
        values.push(("changed_by", Set::Id(actor.user_id)));
        values.push(("changed_at", Set::Time(Some(now))));
        set_columns::<DB>(&mut transaction, "lethe_monitor", id, &values, None).await?;
    }
    match also {
        Also::Nothing => {}
        Also::Baseline { selection, entity } => {
            baseline::<DB>(
                &mut transaction,
                pool,
                schema,
                id,
                selection,
                entity,
                actor,
                now,
            )
            .await?;
        }
        Also::Subscriber { user, on } => {
            set_subscriber::<DB>(&mut transaction, id, user, on).await?;
        }
    }
    crate::history::append::<DB>(&mut transaction, key, now, actor, action, None, detail).await?;
    transaction.commit().await?;
    Ok(())
}

/// Removes a monitor with its subscribers, members, runs and hits.
pub(super) async fn remove<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    monitor: &Monitor,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = begin_write(pool).await?;
    let runs = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new("lethe_monitor_run"))
        .and_where(col("monitor_id").eq(monitor.id))
        .to_owned();
    let (sql, values) = DB::build(
        Query::delete()
            .from_table(Alias::new("lethe_monitor_hit"))
            .and_where(col("run_id").in_subquery(runs)),
    );
    DB::execute(&mut transaction, sql, values).await?;
    for table in [
        "lethe_monitor_run",
        "lethe_monitor_member",
        "lethe_monitor_subscriber",
    ] {
        let (sql, values) = DB::build(
            Query::delete()
                .from_table(Alias::new(table))
                .and_where(col("monitor_id").eq(monitor.id)),
        );
        DB::execute(&mut transaction, sql, values).await?;
    }
    let (sql, values) = DB::build(
        Query::delete()
            .from_table(Alias::new("lethe_monitor"))
            .and_where(col("id").eq(monitor.id)),
    );
    DB::execute(&mut transaction, sql, values).await?;
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "monitor.removed",
        Some(monitor.entity.as_str()),
        serde_json::json!({"monitor": monitor.name, "selection": monitor.selection}),
    )
    .await?;
    transaction.commit().await?;
    Ok(())
}

/// Records a run as due (not yet evaluated).
pub(super) async fn insert_run<DB: Dialect>(
    connection: &mut DB::Connection,
    monitor: i64,
    kind: &str,
    due_at: Option<OffsetDateTime>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_monitor_run"))
            .columns(
                [
                    "monitor_id",
                    "kind",
                    "due_at",
                    "state",
                    "entered_count",
                    "left_count",
                    "notified",
                    "actor_name",
                    "claimed_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Expr::val(monitor),
                Expr::val(kind),
                Expr::val(rows::bind_opt_time::<DB>(due_at)),
                Expr::val("due"),
                Expr::val(0_i64),
                Expr::val(0_i64),
                Expr::val(0_i64),
                Expr::val(actor.name.as_str()),
                Expr::val(rows::bind_time::<DB>(now)),
            ])
            .returning_col(Alias::new("id")),
    );
    match DB::fetch_optional(connection, sql, values).await? {
        Some(row) => Ok(rows::int::<DB>(&row, 0)?.unwrap_or_default()),
        None => Err(StoreError::Internal("the monitor run got no id".to_owned())),
    }
}

pub(super) async fn finish_run<DB: Dialect>(
    connection: &mut DB::Connection,
    run: i64,
    entered: u64,
    left: u64,
    notified: u64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let number = |count: u64| i64::try_from(count).unwrap_or(i64::MAX);
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_monitor_run"))
            .value(Alias::new("state"), "done")
            .value(Alias::new("entered_count"), number(entered))
            .value(Alias::new("left_count"), number(left))
            .value(Alias::new("notified"), number(notified))
            .value(Alias::new("done_at"), Expr::val(rows::bind_time::<DB>(now)))
            .and_where(col("id").eq(run)),
    );
    DB::execute(connection, sql, values).await?;
    Ok(())
}

fn decode_run<DB: Dialect>(row: &DB::Row) -> Result<MonitorRun, StoreError> {
    let time = |index| -> Result<Option<String>, StoreError> {
        Ok(rows::timestamp::<DB>(row, index)?.map(format_timestamp))
    };
    Ok(MonitorRun {
        id: rows::int::<DB>(row, 0)?.unwrap_or_default(),
        monitor: rows::text::<DB>(row, 1)?.unwrap_or_default(),
        kind: rows::text::<DB>(row, 2)?.unwrap_or_default(),
        due_at: time(3)?,
        state: rows::text::<DB>(row, 4)?.unwrap_or_default(),
        entered: rows::count::<DB>(row, 5)?,
        left: rows::count::<DB>(row, 6)?,
        notified: rows::count::<DB>(row, 7)?,
        actor: rows::text::<DB>(row, 8)?.unwrap_or_default(),
        claimed_at: time(9)?.unwrap_or_default(),
        done_at: time(10)?,
    })
}

/// Runs, newest first: of one monitor, or one run, or (with `hits_only`) those that found
/// something.
pub(super) async fn runs<DB: Dialect>(
    pool: &Pool<DB>,
    monitor: Option<i64>,
    run: Option<i64>,
    hits_only: bool,
    limit: u64,
) -> Result<Vec<MonitorRun>, StoreError> {
    let run_col = |name: &str| qualified("r", name);
    let mut query = Query::select();
    query
        .expr(run_col("id"))
        .expr(qualified("m", "name"))
        .expr(run_col("kind"))
        .expr(run_col("due_at"))
        .expr(run_col("state"))
        .expr(run_col("entered_count"))
        .expr(run_col("left_count"))
        .expr(run_col("notified"))
        .expr(run_col("actor_name"))
        .expr(run_col("claimed_at"))
        .expr(run_col("done_at"))
        .from_as(Alias::new("lethe_monitor_run"), Alias::new("r"))
        .join_as(
            sea_query::JoinType::InnerJoin,
            Alias::new("lethe_monitor"),
            Alias::new("m"),
            qualified("m", "id").equals((Alias::new("r"), Alias::new("monitor_id"))),
        )
        .order_by((Alias::new("r"), Alias::new("id")), Order::Desc)
        .limit(limit);
    if let Some(monitor) = monitor {
        query.and_where(run_col("monitor_id").eq(monitor));
    }
    if let Some(run) = run {
        query.and_where(run_col("id").eq(run));
    }
    if hits_only {
        query.and_where(run_col("kind").ne("baseline"));
        query.and_where(run_col("state").eq("done"));
        query.and_where(
            run_col("entered_count")
                .gt(0)
                .or(run_col("left_count").gt(0)),
        );
    }
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(&query);
    DB::fetch_all(&mut connection, sql, values)
        .await?
        .iter()
        .map(decode_run::<DB>)
        .collect()
}

/// A run's hits by record id, after `after`, at most `limit`.
pub(super) async fn hits<DB: Dialect>(
    pool: &Pool<DB>,
    run: i64,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<MonitorHit>, StoreError> {
    let mut query = Query::select();
    query
        .columns(["record_id", "change"].map(Alias::new))
        .from(Alias::new("lethe_monitor_hit"))
        .and_where(col("run_id").eq(run))
        .order_by(Alias::new("record_id"), Order::Asc)
        .limit(limit);
    if let Some(after) = after {
        query.and_where(col("record_id").gt(after));
    }
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(&query);
    DB::fetch_all(&mut connection, sql, values)
        .await?
        .iter()
        .map(|row| {
            Ok(MonitorHit {
                record_id: rows::int::<DB>(row, 0)?.unwrap_or_default(),
                change: rows::text::<DB>(row, 1)?.unwrap_or_default(),
            })
        })
        .collect()
}

/// The names of the monitors that watch the saved selection `selection`.
pub(crate) async fn watching<DB: Dialect>(
    connection: &mut DB::Connection,
    selection: i64,
) -> Result<Vec<String>, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("name"))
            .from(Alias::new("lethe_monitor"))
            .and_where(col("selection_id").eq(selection))
            .order_by(Alias::new("name"), Order::Asc),
    );
    DB::fetch_all(connection, sql, values)
        .await?
        .iter()
        .map(|row| rows::text::<DB>(row, 0).map(Option::unwrap_or_default))
        .collect()
}
