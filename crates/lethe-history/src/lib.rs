//! The deletion history (SPEC §6): every operation and state change, who did it, when, why,
//! the filter and the counts per type — never personal data of erased records.
//!
//! The history is tamper-evident to anyone who cannot read the server's secrets:
//! - each entry has a sequence number (1, 2, 3, … with no gap) and stores the seal of the
//!   entry before it, and its own seal — an HMAC-SHA-256 over that, its number and its
//!   content, under a [`HistoryKey`] that lives outside the database. Someone who can write
//!   the database but not read the key cannot edit, insert or remove an entry and make the
//!   chain fit again;
//! - removing the newest entries leaves a shorter chain that fits: so the head (number and
//!   seal) is also written outside the database — in every erasure receipt, and in an
//!   append-only anchor file ([`HistoryAnchor`]) — and the check compares them.
//!
//! The key's fingerprint is kept in `lethe_history_seal`, under a seal of its own. Entries
//! written before the history was keyed (unkeyed SHA-256 hashes) are checked once and sealed
//! with the key by the first append that has one; an entry `history.keyed` records how many
//! there were, their old head and whether their old chain was intact. There is no unkeyed
//! mode left to fall back to.
//!
//! Entries are appended inside the transaction of the change they describe, so the history
//! and the data can never disagree. Appends are serialised: SQLite write transactions are
//! exclusive (`BEGIN IMMEDIATE`), and on PostgreSQL an advisory transaction lock is taken
//! before the chain's head is read.

mod key;
mod verify;

pub use key::{HistoryAnchor, HistoryKey, KeySource, MIN_HISTORY_KEY_BYTES, hmac_sha256};
pub use verify::{HistoryProblem, HistoryVerification, anchor_head, last_anchored, verify};

use lethe_schema::ValueType;
use schemars::JsonSchema;
use sea_query::{Alias, Expr, ExprTrait, Order, Query};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use lethe_db::StoreError;
use lethe_db::col;
use lethe_db::dialect::{Backend, Dialect};

use crate::key::hex;
use lethe_domain::Actor;
use lethe_domain::value::{Value, format_timestamp};

/// The columns of `lethe_history`, in the order entries are read.
pub(crate) const COLUMNS: [&str; 10] = [
    "id",
    "at",
    "actor_id",
    "actor_name",
    "action",
    "entity",
    "details",
    "prev_hash",
    "hash",
    "seq",
];

/// The `prev_hash` of the first entry.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The advisory lock key that serialises history appends on PostgreSQL ("lethe" in ASCII).
const APPEND_LOCK: i64 = 0x006c_6574_6865;

/// One tamper-evident history entry: it holds the hash of the entry before it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct HistoryEntry {
    pub id: i64,
    #[schemars(extend("format" = "date-time"))]
    pub at: String,
    /// The user who acted; null: the operator or Lethe itself.
    pub actor_id: Option<i64>,
    /// Who acted, by name; it stays when the user is removed.
    pub actor_name: String,
    /// What was done, e.g. `trash.requested`, `purge.requested`, `token.revoked`.
    pub action: String,
    /// The entity it was done to, when one.
    pub entity: Option<String>,
    /// What, counts per type, why; never personal data of erased records.
    pub details: serde_json::Value,
    /// The seal of the entry before it (64 zeros for the first).
    pub prev_hash: String,
    /// The entry's seal: HMAC-SHA-256 under the server's history key (an unkeyed SHA-256
    /// for entries written before the history was keyed).
    pub hash: String,
    /// The entry's place in the history: 1, 2, 3, … with no gap.
    pub seq: i64,
}

/// Writes JSON with object keys sorted at every level, so the hash does not depend on how a
/// database (PostgreSQL's `jsonb`) orders keys.
pub(crate) fn canonical_json(value: &serde_json::Value, out: &mut String) {
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

/// The unkeyed hash of an entry written before the history was keyed.
pub(crate) fn entry_hash(
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
    hex(&Sha256::digest(text.as_bytes()))
}

/// The seal of an entry: HMAC over its number and `content` (its [`entry_hash`], which
/// covers the seal before it).
pub(crate) fn entry_seal(key: &HistoryKey, seq: i64, content: &str) -> String {
    key.mac(format!("lethe history entry\n{seq}\n{content}").as_bytes())
}

impl HistoryEntry {
    /// The hash of this entry's content as if it followed `prev_hash`.
    fn content_hash(&self, prev_hash: &str) -> String {
        entry_hash(
            prev_hash,
            &self.at,
            self.actor_id,
            &self.actor_name,
            &self.action,
            self.entity.as_deref(),
            &self.details,
        )
    }
}

/// The seal of the seal record: which key.
pub(crate) fn seal_record_mac(key: &HistoryKey, fingerprint: &str) -> String {
    key.mac(format!("lethe history seal\n{fingerprint}").as_bytes())
}

/// The seal record: which key seals the history.
pub(crate) struct SealRecord {
    fingerprint: String,
    mac: String,
}

pub(crate) async fn load_seal<DB: Dialect>(
    connection: &mut DB::Connection,
) -> Result<Option<SealRecord>, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .columns(["key_fingerprint", "seal"].map(Alias::new))
            .from(Alias::new("lethe_history_seal"))
            .and_where(col("id").eq(1)),
    );
    let Some(row) = DB::fetch_optional(connection, sql, values).await? else {
        return Ok(None);
    };
    Ok(Some(SealRecord {
        fingerprint: lethe_db::rows::text::<DB>(&row, 0)?.unwrap_or_default(),
        mac: lethe_db::rows::text::<DB>(&row, 1)?.unwrap_or_default(),
    }))
}

/// Refuses a key that is not the one the history is sealed with.
pub(crate) fn check_key(seal: &SealRecord, key: &HistoryKey) -> Result<(), StoreError> {
    let fingerprint = key.fingerprint();
    if seal.fingerprint != fingerprint {
        return Err(StoreError::Conflict(format!(
            "the history is sealed with another key (fingerprint {}) than this Lethe has (fingerprint {fingerprint}); nothing was changed. Give this instance the history's key: LETHE_HISTORY_KEY or LETHE_HISTORY_KEY_FILE, the same on every instance",
            seal.fingerprint
        )));
    }
    Ok(())
}

/// The number and seal of the newest entry (0 and the genesis value when there is none).
pub async fn head<DB: Dialect>(
    connection: &mut DB::Connection,
) -> Result<(i64, String), StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .columns([Alias::new("seq"), Alias::new("hash")])
            .from(Alias::new("lethe_history"))
            .order_by(Alias::new("seq"), Order::Desc)
            .limit(1),
    );
    match DB::fetch_optional(connection, sql, values).await? {
        Some(row) => Ok((
            lethe_db::rows::int::<DB>(&row, 0)?.unwrap_or(0),
            lethe_db::rows::text::<DB>(&row, 1)?
                .ok_or_else(|| StoreError::Internal("a history entry has no hash".to_owned()))?,
        )),
        None => Ok((0, GENESIS.to_owned())),
    }
}

/// Appends one entry inside the caller's transaction (which must be a write transaction),
/// sealed with `key`.
pub async fn append<DB: Dialect>(
    connection: &mut DB::Connection,
    key: &HistoryKey,
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
    match load_seal::<DB>(connection).await? {
        Some(seal) => check_key(&seal, key)?,
        None => seal_history::<DB>(connection, key, at, actor).await?,
    }
    insert_entry::<DB>(connection, key, at, actor, action, entity, details).await
}

/// The first append with a key: entries written before the history was keyed are checked
/// against their unkeyed chain and sealed with the key, the key's fingerprint is recorded,
/// and an entry `history.keyed` says what was found.
pub(crate) async fn seal_history<DB: Dialect>(
    connection: &mut DB::Connection,
    key: &HistoryKey,
    at: OffsetDateTime,
    actor: &Actor,
) -> Result<(), StoreError> {
    let mut sealed = 0u64;
    let mut old_head = GENESIS.to_owned();
    let mut new_head = GENESIS.to_owned();
    let mut first_break: Option<i64> = None;
    let mut after = 0i64;
    loop {
        let entries = entries_after::<DB>(connection, after, MAX_HISTORY_PAGE).await?;
        let Some(last) = entries.last() else { break };
        after = last.seq;
        for entry in &entries {
            let content = entry.content_hash(&entry.prev_hash);
            if first_break.is_none()
                && (entry.prev_hash != old_head
                    || entry.hash != content
                    || entry.seq != i64::try_from(sealed).unwrap_or(i64::MAX) + 1)
            {
                first_break = Some(entry.seq);
            }
            old_head = entry.hash.clone();
            let seal = entry_seal(key, entry.seq, &entry.content_hash(&new_head));
            let (sql, values) = DB::build(
                Query::update()
                    .table(Alias::new("lethe_history"))
                    .value(Alias::new("prev_hash"), new_head.clone())
                    .value(Alias::new("hash"), seal.clone())
                    .and_where(col("id").eq(entry.id)),
            );
            DB::execute(connection, sql, values).await?;
            new_head = seal;
            sealed += 1;
        }
    }
    let fingerprint = key.fingerprint();
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_history_seal"))
            .columns(["id", "key_fingerprint", "seal"].map(Alias::new))
            .values_panic([
                Expr::val(1),
                Expr::val(fingerprint.clone()),
                Expr::val(seal_record_mac(key, &fingerprint)),
            ]),
    );
    DB::execute(connection, sql, values).await?;
    if sealed > 0 {
        insert_entry::<DB>(
            connection,
            key,
            at,
            actor,
            "history.keyed",
            None,
            serde_json::json!({
                "entries_sealed": sealed,
                "unkeyed_head": old_head,
                "unkeyed_chain_intact": first_break.is_none(),
                "unkeyed_chain_broken_at": first_break,
                "key_fingerprint": fingerprint,
            }),
        )
        .await?;
    }
    Ok(())
}

/// Inserts one sealed entry after the head.
pub(crate) async fn insert_entry<DB: Dialect>(
    connection: &mut DB::Connection,
    key: &HistoryKey,
    at: OffsetDateTime,
    actor: &Actor,
    action: &str,
    entity: Option<&str>,
    details: serde_json::Value,
) -> Result<i64, StoreError> {
    let (last_seq, prev_hash) = head::<DB>(connection).await?;
    let seq = last_seq + 1;
    let at_text = format_timestamp(at);
    let content = entry_hash(
        &prev_hash,
        &at_text,
        actor.user_id,
        &actor.name,
        action,
        entity,
        &details,
    );
    let hash = entry_seal(key, seq, &content);
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
                Expr::val(seq),
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

pub async fn append_alone<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    key: &HistoryKey,
    at: OffsetDateTime,
    actor: &Actor,
    action: &str,
    entity: Option<&str>,
    details: serde_json::Value,
) -> Result<i64, StoreError> {
    let mut transaction = lethe_db::dialect::begin_write(pool).await?;
    let id = append::<DB>(&mut transaction, key, at, actor, action, entity, details).await?;
    transaction.commit().await?;
    Ok(id)
}

pub(crate) fn decode_entry<DB: Dialect>(row: &DB::Row) -> Result<HistoryEntry, StoreError> {
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
        seq: match DB::decode(row, 9, &ValueType::Integer)? {
            Value::Integer(seq) => seq,
            _ => 0,
        },
    })
}

pub(crate) fn select_entries() -> sea_query::SelectStatement {
    let mut query = Query::select();
    query
        .columns(COLUMNS.map(Alias::new))
        .from(Alias::new("lethe_history"));
    query
}

/// How many entries one page of `lethe history` returns at most.
pub const MAX_HISTORY_PAGE: u64 = 1_000;

/// Which entries a reader wants: by who acted, what was done (an action or the start of
/// one, `purge` for every `purge.…`), and when. Empty parts do not narrow.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    /// The actor's name, exactly.
    pub actor: Option<String>,
    /// An action (`trash.requested`) or its family (`trash`).
    pub action: Option<String>,
    /// From this instant on.
    pub since: Option<OffsetDateTime>,
    /// Before this instant.
    pub until: Option<OffsetDateTime>,
}

/// Up to `limit` entries by id from `from` (exclusive): ascending after it, or descending
/// before it; only those `filter` lets through.
pub async fn page<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    from: Option<i64>,
    order: Order,
    limit: u64,
    filter: &HistoryFilter,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut connection = pool.acquire().await?;
    let mut query = select_entries();
    if let Some(from) = from {
        query.and_where(match order {
            Order::Desc => col("id").lt(from),
            _ => col("id").gt(from),
        });
    }
    if let Some(actor) = &filter.actor {
        query.and_where(col("actor_name").eq(actor.as_str()));
    }
    if let Some(action) = &filter.action {
        // instr/strpos rather than LIKE: no wildcard in what was typed means anything.
        let position = match DB::BACKEND {
            Backend::Sqlite => "instr",
            Backend::Postgres => "strpos",
        };
        query.and_where(
            col("action").eq(action.as_str()).or(Expr::expr(
                sea_query::Func::cust(Alias::new(position))
                    .arg(col("action"))
                    .arg(Expr::val(format!("{action}."))),
            )
            .eq(1)),
        );
    }
    let time = |at: OffsetDateTime| {
        Expr::val(DB::bind_value(&ValueType::Timestamp, &Value::Timestamp(at)))
    };
    if let Some(since) = filter.since {
        query.and_where(col("at").gte(time(since)));
    }
    if let Some(until) = filter.until {
        query.and_where(col("at").lt(time(until)));
    }
    query.order_by(Alias::new("id"), order).limit(limit);
    let (sql, values) = DB::build(&query);
    let rows = DB::fetch_all(&mut connection, sql, values).await?;
    rows.iter().map(decode_entry::<DB>).collect()
}

/// Entries in the order of their numbers, after number `after`.
pub(crate) async fn page_by_seq<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    after: i64,
    limit: u64,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut connection = pool.acquire().await?;
    entries_after::<DB>(&mut connection, after, limit).await
}

/// Entries in the order of their numbers, after number `after`, on `connection`.
pub(crate) async fn entries_after<DB: Dialect>(
    connection: &mut DB::Connection,
    after: i64,
    limit: u64,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut query = select_entries();
    query
        .and_where(col("seq").gt(after))
        .order_by(Alias::new("seq"), Order::Asc)
        .limit(limit);
    let (sql, values) = DB::build(&query);
    let rows = DB::fetch_all(connection, sql, values).await?;
    rows.iter().map(decode_entry::<DB>).collect()
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
