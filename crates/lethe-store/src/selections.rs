//! Saved selections (SPEC §4); snapshots of what they select are in `snapshots.rs`.
//!
//! A saved selection has a name and an entity and is one of: *dynamic* (a filter,
//! re-evaluated every time), *static* (a fixed list of record ids) or *combined* (the union,
//! intersection or difference of other saved selections, nestable; cycles are refused).
//! Every kind compiles to one SQL condition on the candidate record's id, so counting and
//! paging a selection is a single statement however deeply it is combined.

use schemars::JsonSchema;
use std::collections::{HashMap, HashSet};

use lethe_schema::{ValueType, builtin};
use sea_query::{Alias, Expr, ExprTrait, Query};
use serde::Serialize;
use sqlx::Pool;
use time::OffsetDateTime;

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::records::{ListQuery, Page};
use crate::select::{Compiler, Scope, count_where, scope_condition};
use crate::snapshots::check_listed_ids;
use crate::users::Actor;
use crate::value::Value;
use crate::{Filter, Pools, Store, dispatch};
use lethe_db::{col, qualified};

/// The most ids a static selection or a pick may list explicitly. Larger sets are made with
/// a filter.
pub const MAX_LISTED_IDS: usize = 10_000;

/// How a combined selection combines its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SetOperator {
    /// In any part.
    Union,
    /// In every part.
    Intersection,
    /// In the first part and in none of the others.
    Difference,
}

impl SetOperator {
    pub fn parse(raw: &str) -> Result<SetOperator, StoreError> {
        match raw {
            "union" => Ok(SetOperator::Union),
            "intersection" => Ok(SetOperator::Intersection),
            "difference" => Ok(SetOperator::Difference),
            other => Err(StoreError::BadRequest(format!(
                "unknown set operator `{other}`; expected union, intersection or difference"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SetOperator::Union => "union",
            SetOperator::Intersection => "intersection",
            SetOperator::Difference => "difference",
        }
    }
}

/// What a new saved selection is.
#[derive(Debug, Clone)]
pub enum SelectionDefinition {
    Dynamic(Filter),
    Static(Vec<i64>),
    Combined {
        operator: SetOperator,
        parts: Vec<String>,
    },
}

/// A saved selection as stored.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SavedSelection {
    pub id: i64,
    /// Its name: 1 to 80 letters, digits, `_`, `-`, `.`.
    pub name: String,
    /// The entity of its records.
    pub entity: String,
    /// `dynamic` (a filter), `static` (listed ids) or `combined` (other selections combined
    /// by `operator`).
    #[schemars(extend("enum" = ["dynamic", "static", "combined"]))]
    pub kind: String,
    /// The filter of a dynamic selection, in canonical text form.
    pub filter: Option<String>,
    /// How a combined selection combines its parts; null for the other kinds.
    pub operator: Option<SetOperator>,
    /// The names of a combined selection's parts, in order.
    pub parts: Vec<String>,
    /// What it is for, as its author wrote it.
    pub description: String,
    /// Its author; null: the operator.
    pub created_by: Option<i64>,
}

fn valid_selection_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadRequest(format!(
            "`{name}` is not a valid selection name: use 1 to 80 letters, digits, `_`, `-` or `.`"
        )))
    }
}

/// Every saved selection, loaded at once (the table is small) so that combined selections
/// can be resolved without a query per part.
#[derive(Debug, Default)]
pub(crate) struct Catalogue {
    by_name: HashMap<String, SavedSelection>,
}

impl Catalogue {
    pub(crate) fn get(&self, name: &str) -> Result<&SavedSelection, StoreError> {
        self.by_name.get(name).ok_or_else(|| {
            StoreError::NamedNotFound(format!(
                "there is no saved selection `{name}`{}",
                match lethe_schema::suggest(name, self.by_name.keys().map(String::as_str)) {
                    Some(close) => format!("; did you mean `{close}`?"),
                    None => String::new(),
                }
            ))
        })
    }

    /// Refuses a combined selection whose parts lead back to itself.
    fn check_acyclic(&self, name: &str, parts: &[String]) -> Result<(), StoreError> {
        let mut seen = HashSet::new();
        let mut pending: Vec<(String, Vec<String>)> = parts
            .iter()
            .map(|part| (part.clone(), vec![name.to_owned(), part.clone()]))
            .collect();
        while let Some((current, path)) = pending.pop() {
            if current == name {
                return Err(StoreError::BadRequest(format!(
                    "combining would make a cycle: {}",
                    path.join(" → ")
                )));
            }
            if !seen.insert(current.clone()) {
                continue;
            }
            if let Some(selection) = self.by_name.get(&current) {
                for part in &selection.parts {
                    let mut next_path = path.clone();
                    next_path.push(part.clone());
                    pending.push((part.clone(), next_path));
                }
            }
        }
        Ok(())
    }

    /// The condition "the record under alias `t0` is a member of selection `name`".
    fn condition<DB: Dialect>(
        &self,
        name: &str,
        schema: &lethe_schema::Schema,
        now: OffsetDateTime,
        scope: Scope,
        depth: usize,
    ) -> Result<Expr, StoreError> {
        if depth > 32 {
            return Err(StoreError::BadRequest(format!(
                "selection `{name}` nests more than 32 levels deep"
            )));
        }
        let selection = self.get(name)?;
        Ok(match selection.kind.as_str() {
            "dynamic" => {
                let text = selection.filter.as_deref().unwrap_or("");
                let filter = lethe_filter::parse(schema, &selection.entity, text)?;
                // As an id subquery, so the part is strictly TRUE or FALSE inside a
                // difference even when the filter is UNKNOWN for a record.
                let mut compiler = Compiler::<DB>::new(now, scope);
                let condition = compiler.condition(&filter)?;
                let mut members = Query::select();
                members
                    .expr(qualified("t0", builtin::ID))
                    .from_as(Alias::new(selection.entity.as_str()), Alias::new("t0"))
                    .and_where(condition);
                qualified("t0", builtin::ID).in_subquery(members)
            }
            "static" => {
                let mut members = Query::select();
                members
                    .column(Alias::new("record_id"))
                    .from(Alias::new("lethe_selection_member"))
                    .and_where(col("selection_id").eq(selection.id));
                qualified("t0", builtin::ID).in_subquery(members)
            }
            _ => {
                let operator = selection.operator.unwrap_or(SetOperator::Union);
                let mut parts = Vec::with_capacity(selection.parts.len());
                for part in &selection.parts {
                    parts.push(self.condition::<DB>(part, schema, now, scope, depth + 1)?);
                }
                let mut parts = parts.into_iter();
                let first = parts.next().unwrap_or_else(|| Expr::cust("1 = 0"));
                parts.fold(first, |combined, part| match operator {
                    SetOperator::Union => combined.or(part),
                    SetOperator::Intersection => combined.and(part),
                    SetOperator::Difference => combined.and(part.not()),
                })
            }
        })
    }
}

pub(crate) async fn load_catalogue<DB: Dialect>(
    connection: &mut DB::Connection,
) -> Result<Catalogue, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .columns(
                [
                    "id",
                    "name",
                    "entity",
                    "kind",
                    "filter_text",
                    "operator",
                    "description",
                    "created_by",
                ]
                .map(Alias::new),
            )
            .from(Alias::new("lethe_selection")),
    );
    let rows = DB::fetch_all(connection, sql, values).await?;
    let mut catalogue = Catalogue::default();
    let mut names_by_id = HashMap::new();
    for row in &rows {
        let text = |index: usize| -> Result<Option<String>, StoreError> {
            Ok(match DB::decode(row, index, &ValueType::Text)? {
                Value::Text(text) => Some(text),
                _ => None,
            })
        };
        let integer = |index: usize| -> Result<Option<i64>, StoreError> {
            Ok(match DB::decode(row, index, &ValueType::Integer)? {
                Value::Integer(number) => Some(number),
                _ => None,
            })
        };
        let id = integer(0)?.unwrap_or_default();
        let name = text(1)?.unwrap_or_default();
        names_by_id.insert(id, name.clone());
        catalogue.by_name.insert(
            name.clone(),
            SavedSelection {
                id,
                name,
                entity: text(2)?.unwrap_or_default(),
                kind: text(3)?.unwrap_or_default(),
                filter: text(4)?,
                operator: text(5)?.map(|raw| SetOperator::parse(&raw)).transpose()?,
                parts: Vec::new(),
                description: text(6)?.unwrap_or_default(),
                created_by: integer(7)?,
            },
        );
    }
    let (sql, values) = DB::build(
        Query::select()
            .columns(["selection_id", "part_id"].map(Alias::new))
            .from(Alias::new("lethe_selection_part"))
            .order_by(Alias::new("selection_id"), sea_query::Order::Asc)
            .order_by(Alias::new("position"), sea_query::Order::Asc),
    );
    for row in DB::fetch_all(connection, sql, values).await? {
        let (Value::Integer(owner), Value::Integer(part)) = (
            DB::decode(&row, 0, &ValueType::Integer)?,
            DB::decode(&row, 1, &ValueType::Integer)?,
        ) else {
            continue;
        };
        if let (Some(owner_name), Some(part_name)) =
            (names_by_id.get(&owner), names_by_id.get(&part))
            && let Some(selection) = catalogue.by_name.get_mut(owner_name)
        {
            selection.parts.push(part_name.clone());
        }
    }
    Ok(catalogue)
}

async fn catalogue_of<DB: Dialect>(pool: &Pool<DB>) -> Result<Catalogue, StoreError> {
    let mut connection = pool.acquire().await?;
    load_catalogue::<DB>(&mut connection).await
}

impl Store {
    /// Saves a new selection under a unique name.
    pub async fn save_selection(
        &self,
        name: &str,
        entity: &str,
        definition: &SelectionDefinition,
        description: &str,
        actor: Option<i64>,
    ) -> Result<SavedSelection, StoreError> {
        valid_selection_name(name)?;
        let entity = self.entity(entity)?.name.to_string();
        check_definition(&entity, definition)?;
        let now = self.now();
        dispatch!(self, pool => save_selection::<_>(pool, name, &entity, definition, description, actor, now).await)
    }

    /// Replaces a saved selection's definition and description, keeping its name, entity
    /// and author. A combined selection may not come to contain itself.
    /// Replaces a saved selection's definition: an admin or its author (the policy).
    pub async fn update_selection(
        &self,
        name: &str,
        definition: &SelectionDefinition,
        description: &str,
        actor: &Actor,
    ) -> Result<SavedSelection, StoreError> {
        let current = self.get_selection(name).await?;
        lethe_domain::policy::change_selection(actor, name, current.created_by)?;
        check_definition(&current.entity, definition)?;
        let now = self.now();
        dispatch!(self, pool => update_selection::<_>(pool, &current, definition, description, now).await)?;
        self.get_selection(name).await
    }
}

fn check_definition(entity: &str, definition: &SelectionDefinition) -> Result<(), StoreError> {
    match definition {
        SelectionDefinition::Dynamic(filter) if filter.entity().as_str() != entity => {
            Err(StoreError::BadRequest(format!(
                "the filter is about {}, the selection about {entity}",
                filter.entity()
            )))
        }
        SelectionDefinition::Static(ids) => check_listed_ids(ids, "a static selection"),
        SelectionDefinition::Combined { parts, .. } if parts.len() < 2 => Err(
            StoreError::BadRequest("a combined selection needs at least two parts".to_owned()),
        ),
        _ => Ok(()),
    }
}

impl Store {
    pub async fn list_selections(&self) -> Result<Vec<SavedSelection>, StoreError> {
        dispatch!(self, pool => {
            let catalogue = catalogue_of(pool).await?;
            let mut all: Vec<SavedSelection> = catalogue.by_name.into_values().collect();
            all.sort_by_key(|selection| selection.id);
            Ok(all)
        })
    }

    pub async fn get_selection(&self, name: &str) -> Result<SavedSelection, StoreError> {
        dispatch!(self, pool => {
            let catalogue = catalogue_of(pool).await?;
            catalogue.get(name).cloned()
        })
    }

    /// Deletes a saved selection; refused while a combined selection or a retention policy
    /// uses it.
    /// Deletes a saved selection: an admin or its author (the policy).
    pub async fn delete_selection(&self, name: &str, actor: &Actor) -> Result<(), StoreError> {
        let current = self.get_selection(name).await?;
        lethe_domain::policy::change_selection(actor, name, current.created_by)?;
        dispatch!(self, pool => delete_selection::<_>(pool, name).await)
    }

    /// How many records a saved selection holds in `scope` now.
    pub async fn count_selection(&self, name: &str, scope: Scope) -> Result<u64, StoreError> {
        let now = self.now();
        dispatch!(self, pool => count_selection::<_>(pool, self.schema(), name, scope, now).await)
    }

    /// One page of a saved selection's records.
    pub async fn selection_page(
        &self,
        name: &str,
        scope: Scope,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        let now = self.now();
        dispatch!(self, pool => {
            let catalogue = catalogue_of(pool).await?;
            let selection = catalogue.get(name)?;
            let entity = self.entity(&selection.entity)?;
            let condition = member_condition(pool, &catalogue, self.schema(), name, scope, now)?;
            crate::records::list(pool, entity, query, condition, self.settings().query_timeout).await
        })
    }
}

pub(crate) fn member_condition<DB: Dialect>(
    _pool: &Pool<DB>,
    catalogue: &Catalogue,
    schema: &lethe_schema::Schema,
    name: &str,
    scope: Scope,
    now: OffsetDateTime,
) -> Result<Expr, StoreError> {
    let mut parts = Vec::new();
    if let Some(scope) = scope_condition("t0", scope) {
        parts.push(scope);
    }
    parts.push(catalogue.condition::<DB>(name, schema, now, scope, 0)?);
    Ok(parts
        .into_iter()
        .reduce(|left, right| left.and(right))
        .unwrap_or_else(|| Expr::cust("1 = 1")))
}

async fn count_selection<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &lethe_schema::Schema,
    name: &str,
    scope: Scope,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut connection = pool.acquire().await?;
    let catalogue = load_catalogue::<DB>(&mut connection).await?;
    let entity = catalogue.get(name)?.entity.clone();
    let condition = member_condition(pool, &catalogue, schema, name, scope, now)?;
    count_where::<DB>(&mut connection, &entity, condition).await
}

#[allow(clippy::too_many_arguments)]
async fn update_selection<DB: Dialect>(
    pool: &Pool<DB>,
    current: &SavedSelection,
    definition: &SelectionDefinition,
    description: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = crate::dialect::begin_write(pool).await?;
    let catalogue = load_catalogue::<DB>(&mut transaction).await?;
    let (kind, filter_text, operator) = match definition {
        SelectionDefinition::Dynamic(filter) => ("dynamic", Some(filter.to_text()), None),
        SelectionDefinition::Static(_) => ("static", None, None),
        SelectionDefinition::Combined { operator, parts } => {
            for part in parts {
                let part_selection = catalogue.get(part)?;
                if part_selection.entity != current.entity {
                    return Err(StoreError::BadRequest(format!(
                        "`{part}` selects {}, not {}; only selections of one entity can be combined",
                        part_selection.entity, current.entity
                    )));
                }
            }
            catalogue.check_acyclic(&current.name, parts)?;
            ("combined", None, Some(operator.as_str()))
        }
    };
    for table in ["lethe_selection_member", "lethe_selection_part"] {
        let (sql, values) = DB::build(
            Query::delete()
                .from_table(Alias::new(table))
                .and_where(col("selection_id").eq(current.id)),
        );
        DB::execute(&mut transaction, sql, values).await?;
    }
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_selection"))
            .value(Alias::new("kind"), kind)
            .value(
                Alias::new("filter_text"),
                Expr::val(DB::bind_value(
                    &ValueType::Text,
                    &filter_text.map_or(Value::Null, Value::Text),
                )),
            )
            .value(
                Alias::new("operator"),
                Expr::val(DB::bind_value(
                    &ValueType::Text,
                    &operator.map_or(Value::Null, |o| Value::Text(o.to_owned())),
                )),
            )
            .value(Alias::new("description"), description)
            .value(
                Alias::new("updated_at"),
                Expr::val(DB::bind_value(
                    &ValueType::Timestamp,
                    &Value::Timestamp(now),
                )),
            )
            .and_where(col("id").eq(current.id)),
    );
    DB::execute(&mut transaction, sql, values).await?;
    write_definition::<DB>(
        &mut transaction,
        &catalogue,
        current.id,
        &current.entity,
        definition,
    )
    .await?;
    transaction.commit().await?;
    Ok(())
}

/// Writes the members of a static selection or the parts of a combined one.
async fn write_definition<DB: Dialect>(
    transaction: &mut DB::Connection,
    catalogue: &Catalogue,
    id: i64,
    entity: &str,
    definition: &SelectionDefinition,
) -> Result<(), StoreError> {
    match definition {
        SelectionDefinition::Static(ids) => {
            // Members must exist: a static list of ids that were never records is a typo.
            let unique: Vec<i64> = ids
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let existing = existing_ids::<DB>(transaction, entity, &unique).await?;
            let missing: Vec<String> = unique
                .iter()
                .filter(|id| !existing.contains(id))
                .take(10)
                .map(ToString::to_string)
                .collect();
            if !missing.is_empty() {
                return Err(StoreError::BadRequest(format!(
                    "these {entity} ids do not exist: {}",
                    missing.join(", ")
                )));
            }
            for chunk in unique.chunks(5_000) {
                let mut insert = Query::insert();
                insert
                    .into_table(Alias::new("lethe_selection_member"))
                    .columns(["selection_id", "record_id"].map(Alias::new));
                for record in chunk {
                    insert.values_panic([Expr::val(id), Expr::val(*record)]);
                }
                let (sql, values) = DB::build(&insert);
                DB::execute(transaction, sql, values).await?;
            }
        }
        SelectionDefinition::Combined { parts, .. } => {
            let mut insert = Query::insert();
            insert
                .into_table(Alias::new("lethe_selection_part"))
                .columns(["selection_id", "position", "part_id"].map(Alias::new));
            for (position, part) in parts.iter().enumerate() {
                let part_id = catalogue.get(part)?.id;
                insert.values_panic([
                    Expr::val(id),
                    Expr::val(i64::try_from(position).unwrap_or(0)),
                    Expr::val(part_id),
                ]);
            }
            let (sql, values) = DB::build(&insert);
            DB::execute(transaction, sql, values).await?;
        }
        SelectionDefinition::Dynamic(_) => {}
    }
    Ok(())
}

async fn save_selection<DB: Dialect>(
    pool: &Pool<DB>,
    name: &str,
    entity: &str,
    definition: &SelectionDefinition,
    description: &str,
    actor: Option<i64>,
    now: OffsetDateTime,
) -> Result<SavedSelection, StoreError> {
    let mut transaction = crate::dialect::begin_write(pool).await?;
    let catalogue = load_catalogue::<DB>(&mut transaction).await?;
    if catalogue.by_name.contains_key(name) {
        return Err(StoreError::BadRequest(format!(
            "a saved selection named `{name}` already exists"
        )));
    }
    let (kind, filter_text, operator) = match definition {
        SelectionDefinition::Dynamic(filter) => ("dynamic", Some(filter.to_text()), None),
        SelectionDefinition::Static(_) => ("static", None, None),
        SelectionDefinition::Combined { operator, parts } => {
            for part in parts {
                let part_selection = catalogue.get(part)?;
                if part_selection.entity != entity {
                    return Err(StoreError::BadRequest(format!(
                        "`{part}` selects {}, not {entity}; only selections of one entity can be combined",
                        part_selection.entity
                    )));
                }
            }
            catalogue.check_acyclic(name, parts)?;
            ("combined", None, Some(operator.as_str()))
        }
    };
    let timestamp = DB::bind_value(&ValueType::Timestamp, &Value::Timestamp(now));
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_selection"))
            .columns(
                [
                    "name",
                    "entity",
                    "kind",
                    "filter_text",
                    "operator",
                    "description",
                    "created_at",
                    "created_by",
                    "updated_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Expr::val(name),
                Expr::val(entity),
                Expr::val(kind),
                Expr::val(DB::bind_value(
                    &ValueType::Text,
                    &filter_text.clone().map_or(Value::Null, Value::Text),
                )),
                Expr::val(DB::bind_value(
                    &ValueType::Text,
                    &operator.map_or(Value::Null, |o| Value::Text(o.to_owned())),
                )),
                Expr::val(description),
                Expr::val(timestamp.clone()),
                Expr::val(DB::bind_value(
                    &ValueType::Integer,
                    &actor.map_or(Value::Null, Value::Integer),
                )),
                Expr::val(timestamp),
            ])
            .returning_col(Alias::new("id")),
    );
    let row = DB::fetch_optional(&mut transaction, sql, values)
        .await?
        .ok_or_else(|| StoreError::Internal("saving a selection returned no id".to_owned()))?;
    let Value::Integer(id) = DB::decode(&row, 0, &ValueType::Integer)? else {
        return Err(StoreError::Internal(
            "saving a selection returned no id".to_owned(),
        ));
    };
    write_definition::<DB>(&mut transaction, &catalogue, id, entity, definition).await?;
    transaction.commit().await?;
    Ok(SavedSelection {
        id,
        name: name.to_owned(),
        entity: entity.to_owned(),
        kind: kind.to_owned(),
        filter: filter_text,
        operator: match definition {
            SelectionDefinition::Combined { operator, .. } => Some(*operator),
            _ => None,
        },
        parts: match definition {
            SelectionDefinition::Combined { parts, .. } => parts.clone(),
            _ => Vec::new(),
        },
        description: description.to_owned(),
        created_by: actor,
    })
}

/// Which of `ids` exist in `entity` (in any lifecycle state).
async fn existing_ids<DB: Dialect>(
    connection: &mut DB::Connection,
    entity: &str,
    ids: &[i64],
) -> Result<HashSet<i64>, StoreError> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(5_000) {
        let (sql, values) = DB::build(
            Query::select()
                .column(Alias::new(builtin::ID))
                .from(Alias::new(entity))
                .and_where(col(builtin::ID).is_in(chunk.iter().copied())),
        );
        for row in DB::fetch_all(connection, sql, values).await? {
            if let Value::Integer(id) = DB::decode(&row, 0, &ValueType::Integer)? {
                found.insert(id);
            }
        }
    }
    Ok(found)
}

async fn delete_selection<DB: Dialect>(pool: &Pool<DB>, name: &str) -> Result<(), StoreError> {
    let mut transaction = crate::dialect::begin_write(pool).await?;
    let catalogue = load_catalogue::<DB>(&mut transaction).await?;
    let selection = catalogue.get(name)?;
    let users: Vec<&str> = catalogue
        .by_name
        .values()
        .filter(|other| other.parts.iter().any(|part| part == name))
        .map(|other| other.name.as_str())
        .collect();
    if !users.is_empty() {
        return Err(StoreError::BadRequest(format!(
            "`{name}` is part of {}; delete or change those first",
            users.join(", ")
        )));
    }
    let monitors = crate::monitors::watching::<DB>(&mut transaction, selection.id).await?;
    if !monitors.is_empty() {
        return Err(StoreError::Conflict(format!(
            "`{name}` is watched by monitor {}; remove those (`lethe monitor remove`) or point them at another selection first",
            monitors.join(", ")
        )));
    }
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("name"))
            .from(Alias::new("lethe_retention_policy"))
            .and_where(col("selection").eq(name))
            .order_by(Alias::new("name"), sea_query::Order::Asc),
    );
    let policies = DB::fetch_all(&mut transaction, sql, values)
        .await?
        .iter()
        .map(|row| crate::rows::text::<DB>(row, 0).map(Option::unwrap_or_default))
        .collect::<Result<Vec<_>, _>>()?;
    if !policies.is_empty() {
        return Err(StoreError::Conflict(format!(
            "`{name}` finds the records of retention policy {}; give the policy another selection or a filter first (`lethe policy edit`)",
            policies.join(", ")
        )));
    }
    for table in ["lethe_selection_member", "lethe_selection_part"] {
        let (sql, values) = DB::build(
            Query::delete()
                .from_table(Alias::new(table))
                .and_where(col("selection_id").eq(selection.id)),
        );
        DB::execute(&mut transaction, sql, values).await?;
    }
    let (sql, values) = DB::build(
        Query::delete()
            .from_table(Alias::new("lethe_selection"))
            .and_where(col("id").eq(selection.id)),
    );
    DB::execute(&mut transaction, sql, values).await?;
    transaction.commit().await?;
    Ok(())
}
