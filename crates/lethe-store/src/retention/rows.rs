//! The rows of retention policies and their runs: reading, writing, and taking a due run
//! for one instance (the statements; the rules are in `mod.rs` and the domain).

use lethe_domain::Actor;
use lethe_domain::retention::{RetentionAction, Schedule};
use sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sqlx::Pool;
use time::OffsetDateTime;

use super::{NewPolicy, PolicyRun, RetentionPolicy};
use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::set_columns::{Set, set_columns};
use crate::value::format_timestamp;
use crate::{HistoryKey, rows};
use lethe_db::col;

/// A notification written in the same transaction as the change it tells of.
pub(super) struct Notice {
    pub(super) recipients: crate::notifications::Recipients,
    pub(super) kind: lethe_domain::notification::NotificationKind,
    pub(super) message: String,
}

async fn tell<DB: Dialect>(
    connection: &mut DB::Connection,
    notice: Option<&Notice>,
    job: Option<i64>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    match notice {
        Some(notice) => {
            crate::notifications::notify::<DB>(
                connection,
                notice.recipients,
                notice.kind,
                &notice.message,
                job,
                now,
            )
            .await
        }
        None => Ok(()),
    }
}

fn select_policies() -> sea_query::SelectStatement {
    let policy = |name: &str| Expr::col((Alias::new("p"), Alias::new(name)));
    let user_name = |alias: &str| Expr::col((Alias::new(alias), Alias::new("name")));
    let mut query = Query::select();
    query
        .expr(policy("id"))
        .expr(policy("name"))
        .expr(policy("entity"))
        .expr(policy("filter"))
        .expr(policy("action"))
        .expr(policy("schedule"))
        .expr(policy("time_zone"))
        .expr(policy("legal_basis"))
        .expr(user_name("o"))
        .expr(Into::<sea_query::Expr>::into(
            Expr::case(policy("enabled").eq(true), 1_i64).finally(0_i64),
        ))
        .expr(user_name("a"))
        .expr(policy("approved_at"))
        .expr(user_name("c"))
        .expr(policy("changed_at"))
        .expr(policy("next_run_at"))
        .expr(policy("owner_id"))
        .expr(policy("approved_by"))
        .expr(policy("changed_by"))
        .expr(policy("selection"))
        .from_as(Alias::new("lethe_retention_policy"), Alias::new("p"));
    crate::names::join_user_names(
        &mut query,
        "p",
        &[("o", "owner_id"), ("a", "approved_by"), ("c", "changed_by")],
    );
    query
}

/// A policy and the ids behind its names (owner, approver, last changer).
pub(super) struct Row {
    pub(super) policy: RetentionPolicy,
    pub(super) owner_id: Option<i64>,
    pub(super) approved_by: Option<i64>,
    pub(super) changed_by: Option<i64>,
}

pub(super) fn decode<DB: Dialect>(row: &DB::Row) -> Result<Row, StoreError> {
    let text = |index| rows::text::<DB>(row, index).map(Option::unwrap_or_default);
    let time = |index| -> Result<Option<String>, StoreError> {
        Ok(rows::timestamp::<DB>(row, index)?.map(format_timestamp))
    };
    let schedule = text(5)?;
    let time_zone = text(6)?;
    let schedule_words = Schedule::words_of(&schedule, &time_zone);
    Ok(Row {
        policy: RetentionPolicy {
            id: rows::int::<DB>(row, 0)?.unwrap_or_default(),
            name: text(1)?,
            entity: text(2)?,
            filter: text(3)?,
            selection: rows::text::<DB>(row, 18)?,
            action: text(4)?,
            schedule,
            time_zone,
            schedule_words,
            legal_basis: text(7)?,
            owner: rows::text::<DB>(row, 8)?,
            enabled: rows::int::<DB>(row, 9)? == Some(1),
            approved_by: rows::text::<DB>(row, 10)?,
            approved_at: time(11)?,
            changed_by: rows::text::<DB>(row, 12)?,
            changed_at: time(13)?.unwrap_or_default(),
            next_run_at: time(14)?,
        },
        owner_id: rows::int::<DB>(row, 15)?,
        approved_by: rows::int::<DB>(row, 16)?,
        changed_by: rows::int::<DB>(row, 17)?,
    })
}

pub(super) async fn find<DB: Dialect>(
    connection: &mut DB::Connection,
    name: &str,
) -> Result<Row, StoreError> {
    let mut query = select_policies();
    query.and_where(Expr::col((Alias::new("p"), Alias::new("name"))).eq(name));
    let (sql, values) = DB::build(&query);
    match DB::fetch_optional(connection, sql, values).await? {
        Some(row) => decode::<DB>(&row),
        None => Err(StoreError::NamedNotFound(format!(
            "there is no retention policy `{name}`; see `lethe policy list`"
        ))),
    }
}

pub(super) async fn list<DB: Dialect>(pool: &Pool<DB>) -> Result<Vec<RetentionPolicy>, StoreError> {
    let mut connection = pool.acquire().await?;
    let mut query = select_policies();
    query.order_by((Alias::new("p"), Alias::new("name")), Order::Asc);
    let (sql, values) = DB::build(&query);
    DB::fetch_all(&mut connection, sql, values)
        .await?
        .iter()
        .map(|row| decode::<DB>(row).map(|row| row.policy))
        .collect()
}

pub(super) async fn one<DB: Dialect>(pool: &Pool<DB>, name: &str) -> Result<Row, StoreError> {
    let mut connection = pool.acquire().await?;
    find::<DB>(&mut connection, name).await
}

/// A checked new policy, ready to write.
pub(super) struct Checked<'a> {
    pub(super) new: &'a NewPolicy,
    pub(super) action: RetentionAction,
    pub(super) owner: Option<i64>,
}

pub(super) async fn insert<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    checked: &Checked<'_>,
    notice: Option<&Notice>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let new = checked.new;
    let mut transaction = begin_write(pool).await?;
    crate::names::refuse_taken_name::<DB>(
        &mut transaction,
        "lethe_retention_policy",
        &new.name,
        || {
            format!(
                "a retention policy `{}` exists already; change it with `lethe policy edit`",
                new.name
            )
        },
    )
    .await?;
    let at = || Expr::val(rows::bind_time::<DB>(now));
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_retention_policy"))
            .columns(
                [
                    "name",
                    "entity",
                    "filter",
                    "action",
                    "schedule",
                    "time_zone",
                    "legal_basis",
                    "owner_id",
                    "enabled",
                    "changed_by",
                    "changed_at",
                    "created_at",
                    "selection",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Expr::val(new.name.as_str()),
                Expr::val(new.entity.as_str()),
                Expr::val(new.filter.as_str()),
                Expr::val(checked.action.as_str()),
                Expr::val(new.schedule.trim()),
                Expr::val(new.time_zone.trim()),
                Expr::val(new.legal_basis.as_str()),
                Expr::val(rows::bind_opt_int::<DB>(checked.owner)),
                Expr::val(false),
                Expr::val(rows::bind_opt_int::<DB>(actor.user_id)),
                at(),
                at(),
                Expr::val(new.selection.clone()),
            ]),
    );
    DB::execute(&mut transaction, sql, values).await?;
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "policy.added",
        None,
        serde_json::json!({
            "policy": new.name, "entity": new.entity, "action": checked.action.as_str(),
            "schedule": new.schedule.trim(), "time_zone": new.time_zone.trim(),
            "selection": new.selection,
        }),
    )
    .await?;
    tell::<DB>(&mut transaction, notice, None, now).await?;
    transaction.commit().await?;
    Ok(())
}

/// Sets columns of a policy and appends `action` to the history, in one transaction.
#[allow(clippy::too_many_arguments)]
pub(super) async fn change<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    id: i64,
    values: &[(&str, Set)],
    action: &str,
    detail: serde_json::Value,
    notice: Option<&Notice>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = begin_write(pool).await?;
    set_columns::<DB>(&mut transaction, "lethe_retention_policy", id, values, None).await?;
    crate::history::append::<DB>(&mut transaction, key, now, actor, action, None, detail).await?;
    tell::<DB>(&mut transaction, notice, None, now).await?;
    transaction.commit().await?;
    Ok(())
}

/// What a dry run or run did, to record.
pub(super) struct RunRecord<'a> {
    pub(super) kind: &'a str,
    pub(super) due_at: Option<OffsetDateTime>,
    /// The scheduled run an instance claimed, finished by this record (it is updated, not
    /// added).
    pub(super) claimed: Option<i64>,
    pub(super) snapshot: Option<&'a crate::Snapshot>,
    pub(super) job: Option<i64>,
    pub(super) dry_run: Option<i64>,
    pub(super) counts: serde_json::Value,
}

/// Records a dry run or a run, with its history entry and the notification it sends, in one
/// transaction.
pub(super) async fn record_run<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    policy: &RetentionPolicy,
    run: RunRecord<'_>,
    notice: Option<&Notice>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let members = run.snapshot.map_or(0, |snapshot| snapshot.member_count);
    let snapshot_id = run.snapshot.map(|snapshot| snapshot.id);
    let mut values = vec![
        (
            "snapshot_id",
            Expr::val(rows::bind_opt_int::<DB>(snapshot_id)),
        ),
        ("job_id", Expr::val(rows::bind_opt_int::<DB>(run.job))),
        (
            "dry_run_id",
            Expr::val(rows::bind_opt_int::<DB>(run.dry_run)),
        ),
        (
            "members",
            Expr::val(i64::try_from(members).unwrap_or(i64::MAX)),
        ),
        ("counts", Expr::val(run.counts.to_string())),
        ("actor_name", Expr::val(actor.name.as_str())),
        ("at", Expr::val(rows::bind_time::<DB>(now))),
        ("finished", Expr::val(true)),
    ];
    let id = match run.claimed {
        Some(id) => {
            let mut update = Query::update();
            update
                .table(Alias::new("lethe_policy_run"))
                .and_where(col("id").eq(id))
                .and_where(col("finished").eq(false));
            for (column, value) in values {
                update.value(Alias::new(column), value);
            }
            let (sql, bound) = DB::build(&update);
            if DB::execute(&mut transaction, sql, bound).await? != 1 {
                return Err(StoreError::Conflict(format!(
                    "the scheduled run {id} of policy `{}` was finished by another instance",
                    policy.name
                )));
            }
            id
        }
        None => {
            values.push(("policy_id", Expr::val(policy.id)));
            values.push(("kind", Expr::val(run.kind)));
            values.push(("due_at", Expr::val(rows::bind_opt_time::<DB>(run.due_at))));
            let (columns, exprs): (Vec<_>, Vec<_>) = values.into_iter().unzip();
            let mut insert = Query::insert();
            insert
                .into_table(Alias::new("lethe_policy_run"))
                .columns(columns.into_iter().map(Alias::new))
                .values_panic(exprs);
            rows::insert_id::<DB>(&mut transaction, &mut insert, "policy run").await?
        }
    };
    // The kept filter (personal values as keyed tags) is the snapshot's, not the typed one.
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        &format!("policy.{}", run.kind),
        Some(policy.entity.as_str()),
        serde_json::json!({
            "policy": policy.name, "run": id, "action": policy.action,
            "filter": run.snapshot.map(|snapshot| snapshot.source.clone()),
            "selection": policy.selection,
            "snapshot": snapshot_id, "job": run.job, "due_at": run.due_at.map(format_timestamp),
            "dry_run": run.dry_run, "members": members, "counts": run.counts,
        }),
    )
    .await?;
    tell::<DB>(&mut transaction, notice, run.job, now).await?;
    transaction.commit().await?;
    Ok(id)
}

pub(super) fn decode_run<DB: Dialect>(row: &DB::Row) -> Result<PolicyRun, StoreError> {
    let counts = rows::text::<DB>(row, 8)?.unwrap_or_default();
    Ok(PolicyRun {
        id: rows::int::<DB>(row, 0)?.unwrap_or_default(),
        policy: rows::text::<DB>(row, 1)?.unwrap_or_default(),
        kind: rows::text::<DB>(row, 2)?.unwrap_or_default(),
        due_at: rows::timestamp::<DB>(row, 3)?.map(format_timestamp),
        snapshot_id: rows::int::<DB>(row, 4)?,
        job_id: rows::int::<DB>(row, 5)?,
        dry_run_id: rows::int::<DB>(row, 6)?,
        members: u64::try_from(rows::int::<DB>(row, 7)?.unwrap_or_default()).unwrap_or(0),
        counts: serde_json::from_str(&counts).unwrap_or(serde_json::Value::Null),
        actor: rows::text::<DB>(row, 9)?.unwrap_or_default(),
        at: rows::timestamp::<DB>(row, 10)?
            .map(format_timestamp)
            .unwrap_or_default(),
        finished: rows::int::<DB>(row, 11)? == Some(1),
    })
}

pub(super) async fn runs<DB: Dialect>(
    pool: &Pool<DB>,
    policy: Option<i64>,
    run: Option<i64>,
    limit: u64,
) -> Result<Vec<PolicyRun>, StoreError> {
    let run_col = |name: &str| Expr::col((Alias::new("r"), Alias::new(name)));
    let mut query = Query::select();
    query
        .expr(run_col("id"))
        .expr(Expr::col((Alias::new("p"), Alias::new("name"))))
        .expr(run_col("kind"))
        .expr(run_col("due_at"))
        .expr(run_col("snapshot_id"))
        .expr(run_col("job_id"))
        .expr(run_col("dry_run_id"))
        .expr(run_col("members"))
        .expr(run_col("counts"))
        .expr(run_col("actor_name"))
        .expr(run_col("at"))
        .expr(Into::<sea_query::Expr>::into(
            Expr::case(run_col("finished").eq(true), 1_i64).finally(0_i64),
        ))
        .from_as(Alias::new("lethe_policy_run"), Alias::new("r"))
        .join_as(
            sea_query::JoinType::InnerJoin,
            Alias::new("lethe_retention_policy"),
            Alias::new("p"),
            Expr::col((Alias::new("p"), Alias::new("id")))
                .equals((Alias::new("r"), Alias::new("policy_id"))),
        )
        .order_by((Alias::new("r"), Alias::new("id")), Order::Desc)
        .limit(limit);
    if let Some(policy) = policy {
        query.and_where(run_col("policy_id").eq(policy));
    }
    if let Some(run) = run {
        query.and_where(run_col("id").eq(run));
    }
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(&query);
    DB::fetch_all(&mut connection, sql, values)
        .await?
        .iter()
        .map(decode_run::<DB>)
        .collect()
}

/// Takes the run due at `due` for this instance: moves the policy's next run on, provided no
/// other instance did it first, and records the run as claimed, in one transaction. The
/// claimed run's id when this instance is to run it.
pub(super) async fn take_due<DB: Dialect>(
    pool: &Pool<DB>,
    policy: &RetentionPolicy,
    due: OffsetDateTime,
    next: Option<OffsetDateTime>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Option<i64>, StoreError> {
    let mut transaction = begin_write(pool).await?;
    if !crate::due_runs::move_next_run::<DB>(
        &mut transaction,
        "lethe_retention_policy",
        policy.id,
        due,
        next,
    )
    .await?
    {
        return Ok(None);
    }
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("lethe_policy_run"))
        .columns(
            [
                "policy_id",
                "kind",
                "due_at",
                "members",
                "counts",
                "actor_name",
                "at",
                "claimed_at",
                "finished",
            ]
            .map(Alias::new),
        )
        .values_panic([
            Expr::val(policy.id),
            Expr::val("scheduled"),
            Expr::val(rows::bind_time::<DB>(due)),
            Expr::val(0_i64),
            Expr::val("{}"),
            Expr::val(actor.name.as_str()),
            Expr::val(rows::bind_time::<DB>(now)),
            Expr::val(rows::bind_time::<DB>(now)),
            Expr::val(false),
        ]);
    let id = rows::insert_id::<DB>(&mut transaction, &mut insert, "policy run").await?;
    transaction.commit().await?;
    Ok(Some(id))
}

/// Scheduled runs claimed before `stale_before` and never finished (their instance died):
/// each is taken over by moving its claim to `now`, provided no other instance did first.
/// The runs taken over here, with their policy's name and due time.
pub(super) async fn take_over_stale<DB: Dialect>(
    pool: &Pool<DB>,
    stale_before: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Vec<(i64, String, OffsetDateTime)>, StoreError> {
    let run_col = |name: &str| Expr::col((Alias::new("r"), Alias::new(name)));
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(
        Query::select()
            .expr(run_col("id"))
            .expr(Expr::col((Alias::new("p"), Alias::new("name"))))
            .expr(run_col("due_at"))
            .expr(run_col("claimed_at"))
            .from_as(Alias::new("lethe_policy_run"), Alias::new("r"))
            .join_as(
                sea_query::JoinType::InnerJoin,
                Alias::new("lethe_retention_policy"),
                Alias::new("p"),
                Expr::col((Alias::new("p"), Alias::new("id")))
                    .equals((Alias::new("r"), Alias::new("policy_id"))),
            )
            .and_where(run_col("finished").eq(false))
            .and_where(run_col("claimed_at").lt(Expr::val(rows::bind_time::<DB>(stale_before))))
            .order_by((Alias::new("r"), Alias::new("id")), Order::Asc)
            .limit(100),
    );
    let stale = DB::fetch_all(&mut connection, sql, values).await?;
    drop(connection);
    let mut taken = Vec::new();
    for row in &stale {
        let id = rows::int::<DB>(row, 0)?.unwrap_or_default();
        let name = rows::text::<DB>(row, 1)?.unwrap_or_default();
        let (Some(due), Some(claimed)) = (
            rows::timestamp::<DB>(row, 2)?,
            rows::timestamp::<DB>(row, 3)?,
        ) else {
            continue;
        };
        let mut transaction = begin_write(pool).await?;
        let (sql, values) = DB::build(
            Query::update()
                .table(Alias::new("lethe_policy_run"))
                .value(
                    Alias::new("claimed_at"),
                    Expr::val(rows::bind_time::<DB>(now)),
                )
                .and_where(col("id").eq(id))
                .and_where(col("finished").eq(false))
                .and_where(col("claimed_at").eq(Expr::val(rows::bind_time::<DB>(claimed)))),
        );
        let won = DB::execute(&mut transaction, sql, values).await? == 1;
        transaction.commit().await?;
        if won {
            taken.push((id, name, due));
        }
    }
    Ok(taken)
}
