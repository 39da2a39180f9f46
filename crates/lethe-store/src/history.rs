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

use lethe_schema::ValueType;
use schemars::JsonSchema;
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
const COLUMNS: [&str; 10] = [
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

/// The key that seals the history: HMAC-SHA-256 under it. It never enters the database;
/// only a fingerprint does, so that an instance with another key refuses to write rather
/// than break the chain.
#[derive(Clone)]
pub struct HistoryKey(std::sync::Arc<[u8]>);

impl std::fmt::Debug for HistoryKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "HistoryKey({})", self.fingerprint())
    }
}

/// The shortest history key accepted, in bytes.
pub const MIN_HISTORY_KEY_BYTES: usize = 16;

/// HMAC-SHA-256 (RFC 2104) of `message` under `key`: the history's seals and the `hash`
/// anonymisation both use it.
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut mac = match hmac::Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this branch is never taken.
        Err(_) => return [0; 32],
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

impl HistoryKey {
    /// A key from its bytes (at least [`MIN_HISTORY_KEY_BYTES`]).
    pub fn new(bytes: &[u8]) -> Result<HistoryKey, StoreError> {
        if bytes.len() < MIN_HISTORY_KEY_BYTES {
            return Err(StoreError::BadRequest(format!(
                "the history key is {} bytes long; give at least {MIN_HISTORY_KEY_BYTES} (for example 64 random hex digits)",
                bytes.len()
            )));
        }
        Ok(HistoryKey(bytes.into()))
    }

    /// HMAC-SHA-256 of `message`, in hex.
    pub(crate) fn mac(&self, message: &[u8]) -> String {
        hex(&hmac_sha256(&self.0, message))
    }

    /// A short name for the key that reveals nothing about it.
    pub fn fingerprint(&self) -> String {
        let mut fingerprint = self.mac(b"lethe history key fingerprint");
        fingerprint.truncate(16);
        fingerprint
    }

    /// The key in force for a database: the key or key file given, else a key file made
    /// once with a random key next to a SQLite database (`FILE.history-key`). PostgreSQL
    /// needs one given: every instance sharing a database must use the same key.
    pub fn for_database(
        url: &crate::DatabaseUrl,
        given: Option<&crate::KeySource>,
    ) -> Result<HistoryKey, StoreError> {
        match (given, url) {
            (Some(crate::KeySource::Key(key)), _) => HistoryKey::new(key.trim().as_bytes()),
            (Some(crate::KeySource::File(file)), _) => HistoryKey::from_file(file),
            (None, crate::DatabaseUrl::Sqlite(path)) => {
                let mut file = path.as_os_str().to_owned();
                file.push(".history-key");
                HistoryKey::from_file(std::path::Path::new(&file))
            }
            (None, crate::DatabaseUrl::Postgres(_)) => Err(StoreError::BadRequest(
                "no history key: set LETHE_HISTORY_KEY (the same on every instance) or LETHE_HISTORY_KEY_FILE".to_owned(),
            )),
        }
    }

    /// The key in `file`; a new random key is written there first when the file does not
    /// exist (readable by its owner only).
    pub fn from_file(file: &std::path::Path) -> Result<HistoryKey, StoreError> {
        let problem = |error: &dyn std::fmt::Display| {
            StoreError::BadRequest(format!(
                "the history key file {} cannot be used: {error}; set LETHE_HISTORY_KEY or LETHE_HISTORY_KEY_FILE",
                file.display()
            ))
        };
        match std::fs::read_to_string(file) {
            Ok(text) => return HistoryKey::new(text.trim().as_bytes()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(problem(&error)),
        }
        if let Some(parent) = file
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| problem(&error))?;
        }
        let mut random = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut random);
        let mut staged = file.as_os_str().to_owned();
        staged.push(format!(".{}.new", std::process::id()));
        let staged = std::path::PathBuf::from(staged);
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut out = options.open(&staged).map_err(|error| problem(&error))?;
            out.write_all(format!("{}\n", hex(&random)).as_bytes())
                .and_then(|()| out.sync_all())
                .map_err(|error| problem(&error))?;
        }
        // A link fails when the file exists: of two processes making it at once, one key wins
        // and both read it.
        let linked = std::fs::hard_link(&staged, file);
        let _ = std::fs::remove_file(&staged);
        match linked {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(problem(&error)),
        }
        let text = std::fs::read_to_string(file).map_err(|error| problem(&error))?;
        HistoryKey::new(text.trim().as_bytes())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Where the history's head is written down outside the database: an append-only file of
/// lines `SEQ SEAL TIME`, one each time the head has moved.
#[derive(Debug, Clone, Default)]
pub struct HistoryAnchor {
    pub file: Option<std::path::PathBuf>,
}

impl HistoryAnchor {
    /// The file given, else next to a SQLite database (`FILE.history-anchor`); none for
    /// PostgreSQL unless given.
    pub fn for_database(
        url: &crate::DatabaseUrl,
        given: Option<&std::path::Path>,
    ) -> HistoryAnchor {
        let file = match (given, url) {
            (Some(file), _) => Some(file.to_path_buf()),
            (None, crate::DatabaseUrl::Sqlite(path)) => {
                let mut file = path.as_os_str().to_owned();
                file.push(".history-anchor");
                Some(file.into())
            }
            (None, crate::DatabaseUrl::Postgres(_)) => None,
        };
        HistoryAnchor { file }
    }
}

/// The `prev_hash` of the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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

/// The result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct HistoryVerification {
    /// Entries checked.
    pub entries: u64,
    /// The seal of the last entry; it is also written to the anchor file and into every
    /// erasure receipt.
    pub head: String,
    /// The number of the last entry.
    pub head_seq: i64,
    /// The fingerprint of the key the history is sealed with: it names the key without
    /// revealing it.
    pub key_fingerprint: String,
    /// The append-only file of heads the history was compared with, if one is set.
    pub anchor_file: Option<String>,
    /// How many heads the anchor file holds.
    pub anchored_heads: u64,
    /// The first thing that does not match, with what is wrong.
    pub first_problem: Option<HistoryProblem>,
}

/// What does not match in the history, and where.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct HistoryProblem {
    /// The entry, or 0 when the problem is not one entry's (missing entries, the anchor, the
    /// key).
    pub id: i64,
    /// What is wrong, in words.
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

/// The unkeyed hash of an entry written before the history was keyed.
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
    hex(&Sha256::digest(text.as_bytes()))
}

/// The seal of an entry: HMAC over its number and `content` (its [`entry_hash`], which
/// covers the seal before it).
fn entry_seal(key: &HistoryKey, seq: i64, content: &str) -> String {
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
fn seal_record_mac(key: &HistoryKey, fingerprint: &str) -> String {
    key.mac(format!("lethe history seal\n{fingerprint}").as_bytes())
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

/// The seal record: which key seals the history.
struct SealRecord {
    fingerprint: String,
    mac: String,
}

async fn load_seal<DB: Dialect>(
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
        fingerprint: crate::rows::text::<DB>(&row, 0)?.unwrap_or_default(),
        mac: crate::rows::text::<DB>(&row, 1)?.unwrap_or_default(),
    }))
}

/// Refuses a key that is not the one the history is sealed with.
fn check_key(seal: &SealRecord, key: &HistoryKey) -> Result<(), StoreError> {
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
pub(crate) async fn head<DB: Dialect>(
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
            crate::rows::int::<DB>(&row, 0)?.unwrap_or(0),
            crate::rows::text::<DB>(&row, 1)?
                .ok_or_else(|| StoreError::Internal("a history entry has no hash".to_owned()))?,
        )),
        None => Ok((0, GENESIS.to_owned())),
    }
}

/// Appends one entry inside the caller's transaction (which must be a write transaction),
/// sealed with `key`.
pub(crate) async fn append<DB: Dialect>(
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
async fn seal_history<DB: Dialect>(
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
async fn insert_entry<DB: Dialect>(
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

async fn append_alone<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    key: &HistoryKey,
    at: OffsetDateTime,
    actor: &Actor,
    action: &str,
    entity: Option<&str>,
    details: serde_json::Value,
) -> Result<i64, StoreError> {
    let mut transaction = crate::dialect::begin_write(pool).await?;
    let id = append::<DB>(&mut transaction, key, at, actor, action, entity, details).await?;
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
        seq: match DB::decode(row, 9, &ValueType::Integer)? {
            Value::Integer(seq) => seq,
            _ => 0,
        },
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

/// Up to `limit` entries by id from `from` (exclusive): ascending after it, or descending
/// before it.
async fn page<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    from: Option<i64>,
    order: Order,
    limit: u64,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut connection = pool.acquire().await?;
    let mut query = select_entries();
    if let Some(from) = from {
        query.and_where(match order {
            Order::Desc => col("id").lt(from),
            _ => col("id").gt(from),
        });
    }
    query.order_by(Alias::new("id"), order).limit(limit);
    let (sql, values) = DB::build(&query);
    let rows = DB::fetch_all(&mut connection, sql, values).await?;
    rows.iter().map(decode_entry::<DB>).collect()
}

/// Entries in the order of their numbers, after number `after`.
async fn page_by_seq<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    after: i64,
    limit: u64,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut connection = pool.acquire().await?;
    entries_after::<DB>(&mut connection, after, limit).await
}

/// Entries in the order of their numbers, after number `after`, on `connection`.
async fn entries_after<DB: Dialect>(
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

async fn verify<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    key: &HistoryKey,
    anchor: &HistoryAnchor,
) -> Result<HistoryVerification, StoreError> {
    let seal = {
        let mut connection = pool.acquire().await?;
        load_seal::<DB>(&mut connection).await?
    };
    let mut result = HistoryVerification {
        entries: 0,
        head: GENESIS.to_owned(),
        head_seq: 0,
        key_fingerprint: key.fingerprint(),
        anchor_file: anchor.file.as_ref().map(|file| file.display().to_string()),
        anchored_heads: 0,
        first_problem: None,
    };
    let problem = |id: i64, problem: String| Some(HistoryProblem { id, problem });
    if let Some(seal) = &seal {
        if let Err(error) = check_key(seal, key) {
            result.first_problem = problem(0, error.to_string());
            return Ok(result);
        }
        if seal.mac != seal_record_mac(key, &seal.fingerprint) {
            result.first_problem = problem(
                0,
                "the record of the key that seals the history was edited".to_owned(),
            );
            return Ok(result);
        }
    }
    loop {
        // Pages keep memory bounded however long the history is.
        let batch = page_by_seq(pool, result.head_seq, MAX_HISTORY_PAGE).await?;
        if batch.is_empty() {
            break;
        }
        for entry in &batch {
            let expected_seq = result.head_seq + 1;
            let found = if entry.seq != expected_seq {
                Some(format!(
                    "entries {expected_seq} to {} of the history are missing: they were removed",
                    entry.seq - 1
                ))
            } else if entry.prev_hash != result.head {
                Some("its link to the entry before does not match: an entry before it was removed, inserted or edited".to_owned())
            } else if seal.is_none() {
                Some("the record of the key that seals the history is missing, so no entry can be trusted: it was removed".to_owned())
            } else {
                (entry.hash != entry_seal(key, entry.seq, &entry.content_hash(&entry.prev_hash)))
                .then(|| "its content does not match its seal: the entry was edited or written without the key".to_owned())
            };
            if found.is_some() {
                result.first_problem = problem(entry.id, found.unwrap_or_default());
                return Ok(result);
            }
            result.entries += 1;
            result.head_seq = entry.seq;
            result.head = entry.hash.clone();
        }
    }
    if let Some(file) = &anchor.file {
        check_anchor::<DB>(pool, file, &mut result).await?;
    }
    Ok(result)
}

/// Compares the heads written down in the anchor file with the history: each must still be
/// there, with the same seal.
async fn check_anchor<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    file: &std::path::Path,
    result: &mut HistoryVerification,
) -> Result<(), StoreError> {
    use std::io::BufRead;
    let opened = match std::fs::File::open(file) {
        Ok(opened) => opened,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(StoreError::Internal(format!(
                "cannot read the history anchor {}: {error}",
                file.display()
            )));
        }
    };
    let mut connection = pool.acquire().await?;
    for (number, line) in std::io::BufReader::new(opened).lines().enumerate() {
        let line = line.map_err(|error| {
            StoreError::Internal(format!(
                "cannot read the history anchor {}: {error}",
                file.display()
            ))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(Ok(seq)), Some(seal)) = (parts.next().map(str::parse::<i64>), parts.next())
        else {
            result.first_problem = Some(HistoryProblem {
                id: 0,
                problem: format!(
                    "line {} of the anchor file {} is damaged",
                    number + 1,
                    file.display()
                ),
            });
            return Ok(());
        };
        result.anchored_heads += 1;
        let (sql, values) = DB::build(
            Query::select()
                .column(Alias::new("hash"))
                .from(Alias::new("lethe_history"))
                .and_where(col("seq").eq(seq)),
        );
        let found = match DB::fetch_optional(&mut connection, sql, values).await? {
            Some(row) => crate::rows::text::<DB>(&row, 0)?,
            None => None,
        };
        let problem = match found {
            None if seq > result.head_seq => Some(format!(
                "entry {seq} was written down in the anchor file, but the history ends at entry {}: entries were removed from its end",
                result.head_seq
            )),
            None => Some(format!(
                "entry {seq}, written down in the anchor file, is missing"
            )),
            Some(hash) if hash != seal => Some(format!(
                "entry {seq} does not have the seal the anchor file wrote down for it: the history was rewritten"
            )),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            result.first_problem = Some(HistoryProblem { id: 0, problem });
            return Ok(());
        }
    }
    Ok(())
}

/// Appends the head to the anchor file when it moved since `last` (the number last written
/// there); returns the head's number.
async fn anchor_head<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    file: &std::path::Path,
    last: i64,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let (seq, seal) = {
        let mut connection = pool.acquire().await?;
        head::<DB>(&mut connection).await?
    };
    if seq <= last {
        return Ok(seq);
    }
    use std::io::Write;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .and_then(|mut out| {
            out.write_all(format!("{seq} {seal} {}\n", format_timestamp(now)).as_bytes())?;
            out.sync_data()
        });
    written.map_err(|error| {
        StoreError::Internal(format!(
            "cannot write the history anchor {}: {error}",
            file.display()
        ))
    })?;
    Ok(seq)
}

/// The number of the last head written in the anchor file (0 when none).
fn last_anchored(file: &std::path::Path) -> i64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| {
            text.lines()
                .rev()
                .find_map(|line| line.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

impl Store {
    /// Up to `limit` entries after entry `after`, oldest first.
    pub async fn history(
        &self,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        dispatch!(self, pool => page::<_>(pool, after, Order::Asc, limit).await)
    }

    /// Up to `limit` entries before entry `before` (or the newest), newest first.
    pub async fn history_newest_first(
        &self,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        dispatch!(self, pool => page::<_>(pool, before, Order::Desc, limit).await)
    }

    /// Recomputes the whole chain, checks that no number is missing and that every head
    /// the anchor file holds is still there, and reports the first thing that does not
    /// match.
    pub async fn verify_history(&self) -> Result<HistoryVerification, StoreError> {
        let key = self.history_key();
        let anchor = self.history_anchor();
        dispatch!(self, pool => verify::<_>(pool, &key, &anchor).await)
    }

    /// Writes the history's head to the anchor file if it moved since it was last written
    /// (the server does this every second, the command line after each command).
    pub async fn anchor_history(&self) -> Result<(), StoreError> {
        let anchor = self.history_anchor();
        let Some(file) = anchor.file else {
            return Ok(());
        };
        let now = self.now();
        let known = self
            .inner
            .anchored
            .load(std::sync::atomic::Ordering::Relaxed);
        let last = if known < 0 {
            last_anchored(&file)
        } else {
            known
        };
        let seq = dispatch!(self, pool => anchor_head::<_>(pool, &file, last, now).await)?;
        self.inner.anchored.store(
            std::cmp::max(seq, last),
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(())
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
        let key = self.history_key();
        dispatch!(self, pool => append_alone(pool, &key, now, actor, action, entity, details).await)
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
