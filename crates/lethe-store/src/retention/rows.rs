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
use crate::value::format_timestamp;
use crate::{HistoryKey, rows};
use lethe_db::col;

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
        .from_as(Alias::new("lethe_retention_policy"), Alias::new("p"));
    for (alias, column) in [("o", "owner_id"), ("a", "approved_by"), ("c", "changed_by")] {
        query.join_as(
            sea_query::JoinType::LeftJoin,
            Alias::new("lethe_user"),
            Alias::new(alias),
            Expr::col((Alias::new(alias), Alias::new("id")))
                .equals((Alias::new("p"), Alias::new(column))),
        );
    }
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
    let schedule_words = Schedule::parse(&schedule, &time_zone)
        .map(|parsed| parsed.describe())
        .unwrap_or_else(|error| error);
    Ok(Row {
        policy: RetentionPolicy {
            id: rows::int::<DB>(row, 0)?.unwrap_or_default(),
            name: text(1)?,
            entity: text(2)?,
            filter: text(3)?,
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
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let new = checked.new;
    let mut transaction = begin_write(pool).await?;
    let (sql, values) = DB::build(
        Query::select()
            .expr(Expr::val(1))
            .from(Alias::new("lethe_retention_policy"))
            .and_where(col("name").eq(new.name.as_str())),
    );
    if DB::fetch_optional(&mut transaction, sql, values)
        .await?
        .is_some()
    {
        return Err(StoreError::Conflict(format!(
            "a retention policy `{}` exists already; change it with `lethe policy edit`",
            new.name
        )));
    }
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
        }),
    )
    .await?;
    transaction.commit().await?;
    Ok(())
}

/// A value to set, bound for the backend where the statement is built.
pub(super) enum Set {
    Text(String),
    Flag(bool),
    Id(Option<i64>),
    Time(Option<OffsetDateTime>),
}

impl Set {
    fn bound<DB: Dialect>(&self) -> sea_query::Expr {
        match self {
            Set::Text(text) => Expr::val(text.as_str()),
            Set::Flag(flag) => Expr::val(*flag),
            Set::Id(id) => Expr::val(rows::bind_opt_int::<DB>(*id)),
            Set::Time(at) => Expr::val(rows::bind_opt_time::<DB>(*at)),
        }
    }
}

/// Sets columns of a policy and appends `action` to the history, in one transaction.
#[allow(clippy::too_many_arguments)]
pub(super) async fn change<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    id: i64,
    values: &[(&'static str, Set)],
    action: &str,
    detail: serde_json::Value,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = begin_write(pool).await?;
    let mut update = Query::update();
    update
        .table(Alias::new("lethe_retention_policy"))
        .and_where(col("id").eq(id));
    for (column, value) in values {
        update.value(Alias::new(*column), value.bound::<DB>());
    }
    let (sql, bound) = DB::build(&update);
    DB::execute(&mut transaction, sql, bound).await?;
    crate::history::append::<DB>(&mut transaction, key, now, actor, action, None, detail).await?;
    transaction.commit().await?;
    Ok(())
}

/// Records a dry run or a run.
#[allow(clippy::too_many_arguments)]
pub(super) async fn record_run<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    policy: &RetentionPolicy,
    kind: &str,
    due_at: Option<OffsetDateTime>,
    snapshot: Option<&crate::Snapshot>,
    job: Option<i64>,
    dry_run: Option<i64>,
    counts: serde_json::Value,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let members = snapshot.map_or(0, |snapshot| snapshot.member_count);
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_policy_run"))
            .columns(
                [
                    "policy_id",
                    "kind",
                    "due_at",
                    "snapshot_id",
                    "job_id",
                    "dry_run_id",
                    "members",
                    "counts",
                    "actor_name",
                    "at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Expr::val(policy.id),
                Expr::val(kind),
                Expr::val(rows::bind_opt_time::<DB>(due_at)),
                Expr::val(rows::bind_opt_int::<DB>(
                    snapshot.map(|snapshot| snapshot.id),
                )),
                Expr::val(rows::bind_opt_int::<DB>(job)),
                Expr::val(rows::bind_opt_int::<DB>(dry_run)),
                Expr::val(i64::try_from(members).unwrap_or(i64::MAX)),
                Expr::val(counts.to_string()),
                Expr::val(actor.name.as_str()),
                Expr::val(rows::bind_time::<DB>(now)),
            ])
            .returning_col(Alias::new("id")),
    );
    let id = match DB::fetch_optional(&mut transaction, sql, values).await? {
        Some(row) => rows::int::<DB>(&row, 0)?.unwrap_or_default(),
        None => return Err(StoreError::Internal("the policy run got no id".to_owned())),
    };
    // The kept filter (personal values as keyed tags) is the snapshot's, not the typed one.
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        &format!("policy.{kind}"),
        Some(policy.entity.as_str()),
        serde_json::json!({
            "policy": policy.name, "run": id, "action": policy.action,
            "filter": snapshot.map(|snapshot| snapshot.source.clone()),
            "snapshot": snapshot.map(|snapshot| snapshot.id), "job": job,
            "dry_run": dry_run, "members": members, "counts": counts,
        }),
    )
    .await?;
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
/// other instance did it first. True when this instance is to run it.
pub(super) async fn take_due<DB: Dialect>(
    pool: &Pool<DB>,
    id: i64,
    due: OffsetDateTime,
    next: Option<OffsetDateTime>,
) -> Result<bool, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_retention_policy"))
            .value(
                Alias::new("next_run_at"),
                Expr::val(rows::bind_opt_time::<DB>(next)),
            )
            .and_where(col("id").eq(id))
            .and_where(col("enabled").eq(true))
            .and_where(col("next_run_at").eq(Expr::val(rows::bind_time::<DB>(due)))),
    );
    let taken = DB::execute(&mut transaction, sql, values).await? == 1;
    transaction.commit().await?;
    Ok(taken)
}
