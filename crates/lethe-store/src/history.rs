//! The deletion history (SPEC §6): every operation and state change, who did it, when, why,
//! the filter and the counts per type — never personal data of erased records.
//!
//! The history is tamper-evident: each entry stores the hash of the entry before it and its
//! own hash over that and its content, so editing or removing any entry breaks the chain from
//! there on. Entries are appended inside the transaction of the change they describe, so the
//! history and the data can never disagree. Appends are serialised: SQLite write transactions
//! are exclusive (`BEGIN IMMEDIATE`), and on PostgreSQL an advisory transaction lock is taken
//! before the chain's head is read.

use lethe_schema::ValueType;
use sea_query::{Alias, Expr, ExprTrait, Order, Query};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::dialect::{Backend, Dialect};
use crate::error::StoreError;
use crate::users::Actor;
use crate::value::{Value, format_timestamp};
use crate::{Pools, Store, dispatch};

/// The columns of `lethe_history`, in the order entries are read.
const COLUMNS: [&str; 9] = [
    "id",
    "at",
    "actor_id",
    "actor_name",
    "action",
    "entity",
    "details",
    "prev_hash",
    "hash",
];

/// The `prev_hash` of the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The advisory lock key that serialises history appends on PostgreSQL ("lethe" in ASCII).
const APPEND_LOCK: i64 = 0x006c_6574_6865;

/// One history entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub at: String,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    pub entity: Option<String>,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryVerification {
    /// Entries checked.
    pub entries: u64,
    /// The hash of the last entry: write it down somewhere else to be able to tell later that
    /// no entry was removed from the end.
    pub head: String,
    /// The first entry whose content or link does not match, with what is wrong.
    pub first_problem: Option<HistoryProblem>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryProblem {
    pub id: i64,
    pub problem: String,
}

impl HistoryVerification {
    pub fn is_intact(&self) -> bool {
        self.first_problem.is_none()
    }
}

/// Writes JSON with object keys sorted at every level, so the hash does not depend on how a
/// database (PostgreSQL's `jsonb`) orders keys.
fn canonical_json(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (position, key) in keys.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(key) {
                    canonical_json(inner, out);
                }
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn entry_hash(
    prev_hash: &str,
    at: &str,
    actor_id: Option<i64>,
    actor_name: &str,
    action: &str,
    entity: Option<&str>,
    details: &serde_json::Value,
) -> String {
    let mut text = String::new();
    text.push_str(prev_hash);
    text.push('\n');
    text.push_str(at);
    text.push('\n');
    text.push_str(&actor_id.map_or_else(|| "-".to_owned(), |id| id.to_string()));
    text.push('\n');
    text.push_str(actor_name);
    text.push('\n');
    text.push_str(action);
    text.push('\n');
    text.push_str(entity.unwrap_or("-"));
    text.push('\n');
    canonical_json(details, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

/// Appends one entry inside the caller's transaction (which must be a write transaction).
pub(crate) async fn append<DB: Dialect>(
    connection: &mut DB::Connection,
    at: OffsetDateTime,
    actor: &Actor,
    action: &str,
    entity: Option<&str>,
    details: serde_json::Value,
) -> Result<i64, StoreError> {
    if DB::BACKEND == Backend::Postgres {
        let (sql, values) = DB::build(Query::select().expr(Expr::cust_with_values(
            "pg_advisory_xact_lock($1)",
            [APPEND_LOCK],
        )));
        DB::fetch_optional(connection, sql, values).await?;
    }
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("hash"))
            .from(Alias::new("lethe_history"))
            .order_by(Alias::new("id"), Order::Desc)
            .limit(1),
    );
    let prev_hash = match DB::fetch_optional(connection, sql, values).await? {
        Some(row) => match DB::decode(&row, 0, &ValueType::Text)? {
            Value::Text(hash) => hash,
            _ => {
                return Err(StoreError::Internal(
                    "a history entry has no hash".to_owned(),
                ));
            }
        },
        None => GENESIS.to_owned(),
    };
    let at_text = format_timestamp(at);
    let hash = entry_hash(
        &prev_hash,
        &at_text,
        actor.user_id,
        &actor.name,
        action,
        entity,
        &details,
    );
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_history"))
            .columns(COLUMNS[1..].iter().map(|name| Alias::new(*name)))
            .values_panic([
                Expr::val(DB::bind_value(&ValueType::Timestamp, &Value::Timestamp(at))),
                Expr::val(DB::bind_value(
                    &ValueType::Integer,
                    &actor.user_id.map_or(Value::Null, Value::Integer),
                )),
                Expr::val(actor.name.clone()),
                Expr::val(action.to_owned()),
                Expr::val(DB::bind_value(
                    &ValueType::Text,
                    &entity.map_or(Value::Null, |name| Value::Text(name.to_owned())),
                )),
                Expr::val(DB::bind_value(&ValueType::Json, &Value::Json(details))),
                Expr::val(prev_hash),
                Expr::val(hash),
            ])
            .returning_col(Alias::new("id")),
    );
    let row = DB::fetch_optional(connection, sql, values)
        .await?
        .ok_or_else(|| StoreError::Internal("the history insert returned no id".to_owned()))?;
    match DB::decode(&row, 0, &ValueType::Integer)? {
        Value::Integer(id) => Ok(id),
        _ => Err(StoreError::Internal(
            "the history insert returned no id".to_owned(),
        )),
    }
}

async fn append_alone<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    at: OffsetDateTime,
    actor: &Actor,
    action: &str,
    entity: Option<&str>,
    details: serde_json::Value,
) -> Result<i64, StoreError> {
    let mut transaction = crate::dialect::begin_write(pool).await?;
    let id = append::<DB>(&mut transaction, at, actor, action, entity, details).await?;
    transaction.commit().await?;
    Ok(id)
}

fn decode_entry<DB: Dialect>(row: &DB::Row) -> Result<HistoryEntry, StoreError> {
    let text = |index: usize| -> Result<Option<String>, StoreError> {
        Ok(match DB::decode(row, index, &ValueType::Text)? {
            Value::Text(text) => Some(text),
            _ => None,
        })
    };
    let id = match DB::decode(row, 0, &ValueType::Integer)? {
        Value::Integer(id) => id,
        _ => return Err(StoreError::Internal("a history entry has no id".to_owned())),
    };
    let at = match DB::decode(row, 1, &ValueType::Timestamp)? {
        Value::Timestamp(at) => format_timestamp(at),
        _ => {
            return Err(StoreError::Internal(format!(
                "history entry {id} has no time"
            )));
        }
    };
    let actor_id = match DB::decode(row, 2, &ValueType::Integer)? {
        Value::Integer(actor) => Some(actor),
        _ => None,
    };
    let details = match DB::decode(row, 6, &ValueType::Json)? {
        Value::Json(details) => details,
        _ => serde_json::Value::Null,
    };
    Ok(HistoryEntry {
        id,
        at,
        actor_id,
        actor_name: text(3)?.unwrap_or_default(),
        action: text(4)?.unwrap_or_default(),
        entity: text(5)?,
        details,
        prev_hash: text(7)?.unwrap_or_default(),
        hash: text(8)?.unwrap_or_default(),
    })
}

fn select_entries() -> sea_query::SelectStatement {
    let mut query = Query::select();
    query
        .columns(COLUMNS.map(Alias::new))
        .from(Alias::new("lethe_history"));
    query
}

/// How many entries one page of `lethe history` returns at most.
pub const MAX_HISTORY_PAGE: u64 = 1_000;

async fn page<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut connection = pool.acquire().await?;
    let mut query = select_entries();
    if let Some(after) = after {
        query.and_where(col("id").gt(after));
    }
    query.order_by(Alias::new("id"), Order::Asc).limit(limit);
    let (sql, values) = DB::build(&query);
    let rows = DB::fetch_all(&mut connection, sql, values).await?;
    rows.iter().map(decode_entry::<DB>).collect()
}

async fn verify<DB: Dialect>(pool: &sqlx::Pool<DB>) -> Result<HistoryVerification, StoreError> {
    let mut expected_prev = GENESIS.to_owned();
    let mut entries = 0u64;
    let mut after = None;
    loop {
        // Pages keep memory bounded however long the history is.
        let batch = page(pool, after, MAX_HISTORY_PAGE).await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        for entry in &batch {
            entries += 1;
            let problem = if entry.prev_hash != expected_prev {
                Some("its link to the entry before does not match: an entry before it was removed, inserted or edited".to_owned())
            } else if entry.hash
                != entry_hash(
                    &entry.prev_hash,
                    &entry.at,
                    entry.actor_id,
                    &entry.actor_name,
                    &entry.action,
                    entry.entity.as_deref(),
                    &entry.details,
                )
            {
                Some("its content does not match its hash: the entry was edited".to_owned())
            } else {
                None
            };
            if let Some(problem) = problem {
                return Ok(HistoryVerification {
                    entries,
                    head: expected_prev,
                    first_problem: Some(HistoryProblem {
                        id: entry.id,
                        problem,
                    }),
                });
            }
            expected_prev = entry.hash.clone();
        }
    }
    Ok(HistoryVerification {
        entries,
        head: expected_prev,
        first_problem: None,
    })
}

impl Store {
    /// Up to `limit` entries after entry `after`, oldest first.
    pub async fn history(
        &self,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        dispatch!(self, pool => page::<_>(pool, after, limit).await)
    }

    /// Recomputes the whole chain and reports the first entry that does not match.
    pub async fn verify_history(&self) -> Result<HistoryVerification, StoreError> {
        dispatch!(self, pool => verify::<_>(pool).await)
    }

    /// Records an event that is not part of a data change (a preview, a refusal).
    pub async fn record_history(
        &self,
        actor: &Actor,
        action: &str,
        entity: Option<&str>,
        details: serde_json::Value,
    ) -> Result<i64, StoreError> {
        let now = self.now();
        dispatch!(self, pool => append_alone(pool, now, actor, action, entity, details).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": "x"}], "c": null}});
        let mut out = String::new();
        canonical_json(&value, &mut out);
        assert_eq!(out, r#"{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}"#);
    }

    #[test]
    fn the_hash_covers_every_field() {
        let details = serde_json::json!({"count": 3});
        let base = entry_hash(
            GENESIS,
            "t",
            Some(1),
            "ann",
            "trash",
            Some("contact"),
            &details,
        );
        let changed = [
            entry_hash("1", "t", Some(1), "ann", "trash", Some("contact"), &details),
            entry_hash(
                GENESIS,
                "u",
                Some(1),
                "ann",
                "trash",
                Some("contact"),
                &details,
            ),
            entry_hash(
                GENESIS,
                "t",
                None,
                "ann",
                "trash",
                Some("contact"),
                &details,
            ),
            entry_hash(
                GENESIS,
                "t",
                Some(1),
                "bob",
                "trash",
                Some("contact"),
                &details,
            ),
            entry_hash(
                GENESIS,
                "t",
                Some(1),
                "ann",
                "purge",
                Some("contact"),
                &details,
            ),
            entry_hash(GENESIS, "t", Some(1), "ann", "trash", None, &details),
            entry_hash(
                GENESIS,
                "t",
                Some(1),
                "ann",
                "trash",
                Some("contact"),
                &serde_json::json!({"count": 4}),
            ),
        ];
        for other in changed {
            assert_ne!(base, other);
        }
        assert_eq!(base.len(), 64);
    }
}
