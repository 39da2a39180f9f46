//! Snapshots (SPEC §3, §4): the members a person picked — all matching a filter or saved
//! selection, plus ids ticked on, minus ids ticked off — frozen in one `INSERT … SELECT`, so
//! that what an operation acts on is exactly what was shown.

use schemars::JsonSchema;
use std::collections::HashSet;

use lethe_schema::{ValueType, builtin};
use sea_query::{Alias, Expr, ExprTrait, Query};
use serde::Serialize;
use sqlx::Pool;
use time::OffsetDateTime;

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::records::{ListQuery, Page};
use crate::select::{Compiler, Scope, scope_condition};
use crate::selections::{MAX_LISTED_IDS, load_catalogue, member_condition};
use crate::value::Value;
use crate::{Filter, Pools, Store, dispatch};
use lethe_db::{col, qualified};

/// Which records an operation is about, the way a person picks them in a table (SPEC §4):
/// "all N matching" of a filter or saved selection, plus ids ticked on, minus ids ticked off.
#[derive(Debug, Clone)]
pub struct MemberPick {
    pub entity: String,
    /// The filter or saved selection the "all matching" refers to.
    pub source: PickSource,
    /// Take every record the source matches ("select all N matching").
    pub all_matching: bool,
    /// Ids ticked on (must exist in the scope).
    pub include: Vec<i64>,
    /// Ids ticked off.
    pub exclude: Vec<i64>,
    pub scope: Scope,
}

#[derive(Debug, Clone)]
pub enum PickSource {
    Filter(Filter),
    Selection(String),
}

/// A frozen member set.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Snapshot {
    /// Confirm an operation with this id: it is what the preview counted.
    pub id: i64,
    /// The entity of its members.
    pub entity: String,
    /// The lifecycle state its members were picked in.
    #[schemars(with = "crate::select::Scope")]
    pub scope: String,
    /// What the members were picked from, in words (`filter: …`, `selection: …`, plus ticks).
    pub source: String,
    /// How many members it froze.
    pub member_count: u64,
    /// A note, as its author wrote it.
    pub note: String,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    /// Its author; null: the operator.
    pub created_by: Option<i64>,
}

pub(crate) fn check_listed_ids(ids: &[i64], what: &str) -> Result<(), StoreError> {
    if ids.len() > MAX_LISTED_IDS {
        return Err(StoreError::BadRequest(format!(
            "{what} lists {} ids; at most {MAX_LISTED_IDS} can be listed — use a filter for larger sets",
            ids.len()
        )));
    }
    Ok(())
}

/// What the members were picked from, in words, as kept with the snapshot, its jobs and the
/// history: values compared with personal fields are tags, not values (SPEC §6).
fn describe_pick(
    pick: &MemberPick,
    schema: &lethe_schema::Schema,
    key: &crate::HistoryKey,
) -> String {
    let mut parts = Vec::new();
    let source = match &pick.source {
        PickSource::Filter(filter) if filter.is_all() => "every record".to_owned(),
        PickSource::Filter(filter) => format!(
            "filter: {}",
            filter.to_redacted_text(schema, &|value| crate::redact::filter_tag(key, value))
        ),
        PickSource::Selection(name) => format!("selection: {name}"),
    };
    if pick.all_matching {
        parts.push(format!("all matching {source}"));
    }
    if !pick.include.is_empty() {
        parts.push(format!("{} ticked on", pick.include.len()));
    }
    if !pick.exclude.is_empty() {
        parts.push(format!("{} ticked off", pick.exclude.len()));
    }
    parts.join("; ")
}

async fn create_snapshot<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &lethe_schema::Schema,
    key: &crate::HistoryKey,
    pick: &MemberPick,
    note: &str,
    actor: Option<i64>,
    now: OffsetDateTime,
) -> Result<Snapshot, StoreError> {
    let mut transaction = crate::dialect::begin_write(pool).await?;
    let catalogue = load_catalogue::<DB>(&mut transaction).await?;
    let source_condition = match &pick.source {
        PickSource::Filter(filter) => {
            if filter.entity().as_str() != pick.entity {
                return Err(StoreError::BadRequest(format!(
                    "the filter is about {}, the pick about {}",
                    filter.entity(),
                    pick.entity
                )));
            }
            let mut compiler = Compiler::<DB>::new(now, pick.scope);
            compiler.condition(filter)?
        }
        PickSource::Selection(name) => {
            let selection = catalogue.get(name)?;
            if selection.entity != pick.entity {
                return Err(StoreError::BadRequest(format!(
                    "`{name}` selects {}, not {}",
                    selection.entity, pick.entity
                )));
            }
            member_condition(pool, &catalogue, schema, name, pick.scope, now)?
        }
    };
    // Ticked-on ids must be records in the scope: a person can only tick what they saw.
    if !pick.include.is_empty() {
        let mut condition = qualified("t0", builtin::ID).is_in(pick.include.iter().copied());
        if let Some(scope) = scope_condition("t0", pick.scope) {
            condition = condition.and(scope);
        }
        let (sql, values) = DB::build(
            Query::select()
                .expr(qualified("t0", builtin::ID))
                .from_as(Alias::new(pick.entity.as_str()), Alias::new("t0"))
                .and_where(condition),
        );
        let mut present = HashSet::new();
        for row in DB::fetch_all(&mut transaction, sql, values).await? {
            if let Value::Integer(id) = DB::decode(&row, 0, &ValueType::Integer)? {
                present.insert(id);
            }
        }
        let missing: Vec<String> = pick
            .include
            .iter()
            .filter(|id| !present.contains(id))
            .take(10)
            .map(ToString::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(StoreError::BadRequest(format!(
                "these ticked {} ids are not {} records: {}",
                pick.entity,
                pick.scope.as_str(),
                missing.join(", ")
            )));
        }
    }

    // (all matching ∪ ticked on) − ticked off, in the scope, in one statement.
    let mut picked = Vec::new();
    if pick.all_matching {
        picked.push(source_condition);
    }
    if !pick.include.is_empty() {
        picked.push(qualified("t0", builtin::ID).is_in(pick.include.iter().copied()));
    }
    let mut condition = picked
        .into_iter()
        .reduce(|left, right| left.or(right))
        .unwrap_or_else(|| Expr::cust("1 = 0"));
    if let Some(scope) = scope_condition("t0", pick.scope) {
        condition = condition.and(scope);
    }
    if !pick.exclude.is_empty() {
        condition =
            condition.and(qualified("t0", builtin::ID).is_not_in(pick.exclude.iter().copied()));
    }
    let snapshot = snapshot_where::<DB>(
        &mut transaction,
        &pick.entity,
        pick.scope.as_str(),
        &describe_pick(pick, schema, key),
        note,
        condition,
        actor,
        now,
    )
    .await?;
    // The note may outlive a purge of the members: it must not name them.
    let snapshot = if snapshot.note.is_empty() {
        snapshot
    } else {
        let note = crate::redact::without_values_of::<DB>(
            &mut transaction,
            schema,
            &pick.entity,
            crate::redact::snapshot_members(snapshot.id),
            &snapshot.note,
        )
        .await?;
        if note != snapshot.note {
            let (sql, values) = DB::build(
                Query::update()
                    .table(Alias::new("lethe_snapshot"))
                    .value(Alias::new("note"), note.clone())
                    .and_where(col("id").eq(snapshot.id)),
            );
            DB::execute(&mut transaction, sql, values).await?;
        }
        Snapshot { note, ..snapshot }
    };
    transaction.commit().await?;
    crate::statistics::after_write(pool, "lethe_snapshot_member", snapshot.member_count).await;
    Ok(snapshot)
}

/// Freezes the records of `entity` (as `t0`) that match `condition` into a new snapshot, in
/// the caller's transaction, with one `INSERT … SELECT`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn snapshot_where<DB: Dialect>(
    connection: &mut DB::Connection,
    entity: &str,
    scope: &str,
    source: &str,
    note: &str,
    condition: Expr,
    actor: Option<i64>,
    now: OffsetDateTime,
) -> Result<Snapshot, StoreError> {
    let timestamp = DB::bind_value(&ValueType::Timestamp, &Value::Timestamp(now));
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_snapshot"))
            .columns(
                [
                    "entity",
                    "scope",
                    "source",
                    "member_count",
                    "note",
                    "created_at",
                    "created_by",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Expr::val(entity),
                Expr::val(scope),
                Expr::val(source),
                Expr::val(0i64),
                Expr::val(note),
                Expr::val(timestamp),
                Expr::val(DB::bind_value(
                    &ValueType::Integer,
                    &actor.map_or(Value::Null, Value::Integer),
                )),
            ])
            .returning_col(Alias::new("id")),
    );
    let row = DB::fetch_optional(connection, sql, values)
        .await?
        .ok_or_else(|| StoreError::Internal("creating a snapshot returned no id".to_owned()))?;
    let Value::Integer(id) = DB::decode(&row, 0, &ValueType::Integer)? else {
        return Err(StoreError::Internal(
            "creating a snapshot returned no id".to_owned(),
        ));
    };

    let mut members = Query::select();
    members
        .expr(Expr::val(id))
        .expr(qualified("t0", builtin::ID))
        .from_as(Alias::new(entity), Alias::new("t0"))
        .and_where(condition);
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("lethe_snapshot_member"))
        .columns(["snapshot_id", "record_id"].map(Alias::new))
        .select_from(members)
        .map_err(|error| StoreError::Internal(error.to_string()))?;
    let (sql, values) = DB::build(&insert);
    let member_count = DB::execute(connection, sql, values).await?;

    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_snapshot"))
            .value(
                Alias::new("member_count"),
                i64::try_from(member_count).unwrap_or(i64::MAX),
            )
            .and_where(col("id").eq(id)),
    );
    DB::execute(connection, sql, values).await?;
    Ok(Snapshot {
        id,
        entity: entity.to_owned(),
        scope: scope.to_owned(),
        source: source.to_owned(),
        member_count,
        note: note.to_owned(),
        created_at: crate::value::format_timestamp(now),
        created_by: actor,
    })
}

async fn get_snapshot<DB: Dialect>(pool: &Pool<DB>, id: i64) -> Result<Snapshot, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .columns(
                [
                    "id",
                    "entity",
                    "scope",
                    "source",
                    "member_count",
                    "note",
                    "created_at",
                    "created_by",
                ]
                .map(Alias::new),
            )
            .from(Alias::new("lethe_snapshot"))
            .and_where(col("id").eq(id)),
    );
    let mut connection = pool.acquire().await?;
    let row = DB::fetch_optional(&mut connection, sql, values)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            entity: "snapshot".to_owned(),
            id,
        })?;
    let text = |index: usize| -> Result<String, StoreError> {
        Ok(match DB::decode(&row, index, &ValueType::Text)? {
            Value::Text(text) => text,
            _ => String::new(),
        })
    };
    let integer = |index: usize| -> Result<Option<i64>, StoreError> {
        Ok(match DB::decode(&row, index, &ValueType::Integer)? {
            Value::Integer(number) => Some(number),
            _ => None,
        })
    };
    let created_at = match DB::decode(&row, 6, &ValueType::Timestamp)? {
        Value::Timestamp(at) => crate::value::format_timestamp(at),
        _ => String::new(),
    };
    Ok(Snapshot {
        id,
        entity: text(1)?,
        scope: text(2)?,
        source: text(3)?,
        member_count: integer(4)?.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        note: text(5)?,
        created_at,
        created_by: integer(7)?,
    })
}

impl Store {
    /// Freezes the picked members into a snapshot, in one transaction.
    pub async fn create_snapshot(
        &self,
        pick: &MemberPick,
        note: &str,
        actor: Option<i64>,
    ) -> Result<Snapshot, StoreError> {
        self.entity(&pick.entity)?;
        check_listed_ids(&pick.include, "the ticked-on list")?;
        check_listed_ids(&pick.exclude, "the ticked-off list")?;
        if !pick.all_matching && pick.include.is_empty() {
            return Err(StoreError::BadRequest(
                "nothing is picked: take all matching records, or tick some ids on".to_owned(),
            ));
        }
        let now = self.now();
        let key = self.history_key();
        dispatch!(self, pool => create_snapshot::<_>(pool, self.schema(), &key, pick, note, actor, now).await)
    }

    pub async fn get_snapshot(&self, id: i64) -> Result<Snapshot, StoreError> {
        dispatch!(self, pool => get_snapshot::<_>(pool, id).await)
    }

    /// One page of a snapshot's members as they are now, in any lifecycle state.
    pub async fn snapshot_page(&self, id: i64, query: &ListQuery) -> Result<Page, StoreError> {
        let snapshot = self.get_snapshot(id).await?;
        let entity = self.entity(&snapshot.entity)?;
        let mut members = Query::select();
        members
            .column(Alias::new("record_id"))
            .from(Alias::new("lethe_snapshot_member"))
            .and_where(col("snapshot_id").eq(id));
        let condition = qualified("t0", builtin::ID).in_subquery(members);
        let limit = self.settings().query_timeout;
        dispatch!(self, pool => crate::records::list(pool, entity, query, condition.clone(), limit).await)
    }
}
