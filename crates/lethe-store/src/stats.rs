//! The consolidated table (SPEC §6, after APRO CRM): per entity type, how many records and
//! how much attached-file volume are active, in the trash, and pending purge.
//!
//! A record's lifecycle state comes from its `trash_batch_id` and that batch's state: active
//! while the column is `NULL`, *pending purge* while its batch is in state `purge_pending`,
//! *held* while its batch is `held` (a purge left it, kept by a rule),
//! trashed in any other batch state. The "Deleted User" placeholder records (id 0) are not
//! counted.
//!
//! File-holding entities are found in the schema, never by name: an entity with a polymorphic
//! owner (an [`ValueType::OwnerEntity`] column and its relation) and an integer column
//! [`SIZE_COLUMN`]. An entity's attached-file volume is the number and total size of the
//! file rows owned by its records, split by the state of the owning record; a file-holding
//! entity also reports its own rows by their own state.
//!
//! Everything is set-based: one grouped statement per entity type and one per (file holder,
//! owner type) pair, all read in one transaction so the numbers fit together.

use lethe_schema::{Entity, Relation, Schema, ValueType, builtin};
use schemars::JsonSchema;
use sea_query::{Alias, Expr, ExprTrait, Func, JoinType, Query, SelectStatement};
use serde::Serialize;

use crate::dialect::{Backend, Dialect};
use crate::error::StoreError;
use crate::placeholder::PLACEHOLDER_ID;
use crate::{BatchState, Pools, Store, dispatch, rows};
use lethe_db::qualified;

/// The integer column that holds a file's size in bytes, in an entity with a polymorphic owner.
pub const SIZE_COLUMN: &str = "size_bytes";

/// The most a single file counts for in the volume figures (1 TiB).
const MAX_FILE_BYTES: i64 = 1 << 40;

/// A byte count as people read it: `0 B`, `512 B`, `1.5 KiB`, `12.0 MiB` (for the
/// command line's table and the pages' console alike).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A number per lifecycle state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct StateCounts {
    /// Not in the trash.
    pub active: u64,
    /// In the trash, in a batch that is not waiting for its purge.
    pub trashed: u64,
    /// In the trash, in a batch whose purge has been requested and is pending.
    pub pending_purge: u64,
    /// In the trash, held there by a rule (a `restrict` child, a purge precondition) after a
    /// purge of their batch: not purged again by the retention window.
    pub held: u64,
}

impl StateCounts {
    pub fn total(&self) -> u64 {
        self.active + self.trashed + self.pending_purge + self.held
    }

    fn add(&mut self, other: &StateCounts) {
        self.active += other.active;
        self.trashed += other.trashed;
        self.pending_purge += other.pending_purge;
        self.held += other.held;
    }

    fn slot(&mut self, state: &str) -> Result<&mut u64, StoreError> {
        match state {
            ACTIVE => Ok(&mut self.active),
            TRASHED => Ok(&mut self.trashed),
            PENDING_PURGE => Ok(&mut self.pending_purge),
            HELD => Ok(&mut self.held),
            other => Err(StoreError::Internal(format!(
                "the statistics query returned an unknown state `{other}`"
            ))),
        }
    }
}

/// Attached files: how many, and how many bytes, per lifecycle state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FileStats {
    /// How many files.
    pub count: StateCounts,
    /// Their size in bytes.
    pub bytes: StateCounts,
}

impl FileStats {
    fn add(&mut self, other: &FileStats) {
        self.count.add(&other.count);
        self.bytes.add(&other.bytes);
    }
}

/// One line of the consolidated table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct EntityStats {
    /// The entity type.
    pub entity: String,
    /// The entity's records by their state.
    pub records: StateCounts,
    /// Whether the entity's records are files (it has a polymorphic owner and a
    /// `size_bytes` column); then `files` counts its own rows by their own state.
    pub holds_files: bool,
    /// Files attached to this entity's records, by the state of the owning record (plus, for
    /// a file-holding entity, its own rows by their own state). Null when no file can be
    /// attached to this entity.
    pub files: Option<FileStats>,
}

/// Totals over all entity types. File totals count each file row once: the file-holding
/// entities' own rows by their own state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct StatsTotals {
    /// Every record counted in the lines.
    pub records: StateCounts,
    /// Every file once: the file-holding entities' own rows by their own state.
    pub files: FileStats,
}

/// The consolidated table, one line per entity type in schema order (parents first), and
/// why the records shown as held are held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Stats {
    /// One line per entity type, parents first; the "Deleted User" placeholders are not
    /// counted.
    pub entities: Vec<EntityStats>,
    pub totals: StatsTotals,
    /// The deletion batches a rule holds in the trash, newest first (at most 50,
    /// `HELD_BATCHES_SHOWN`), with the rules that hold their members.
    pub held: Vec<HeldBatch>,
    /// How many deletion batches are held in all.
    pub held_batches: u64,
}

/// The most held deletion batches the table explains one by one.
pub const HELD_BATCHES_SHOWN: u64 = 50;

/// A deletion batch a rule holds in the trash after its purge, and the rules that hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct HeldBatch {
    /// The deletion batch.
    pub batch: i64,
    /// The entity of the batch's members.
    pub entity: Option<String>,
    /// The purge job that left them: its skips name each member and why.
    pub purge_job: i64,
    pub reasons: Vec<HeldReason>,
}

/// One rule holding members of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct HeldReason {
    /// The entity of the records that block them (the member's own entity for a purge
    /// precondition).
    pub blocked_by: Option<String>,
    /// The rule, in words.
    pub reason: String,
    /// How many members this rule holds.
    pub members: u64,
}

/// The names of the figures per state (not the states of a deletion batch).
const ACTIVE: &str = "active";
const TRASHED: &str = "trashed";
const PENDING_PURGE: &str = "pending_purge";
const HELD: &str = "held";

/// A file holder's owner link: the holder entity, its owner id column and the column naming
/// the owner's entity.
struct OwnerLink<'a> {
    holder: &'a Entity,
    relation: &'a Relation,
    discriminator: &'a str,
}

fn is_size_column(entity: &Entity) -> bool {
    entity
        .column(SIZE_COLUMN)
        .is_some_and(|column| column.value_type == ValueType::Integer)
}

/// Every polymorphic owner link of every file-holding entity in the schema.
fn owner_links(schema: &Schema) -> Vec<OwnerLink<'_>> {
    let mut links = Vec::new();
    for holder in schema
        .entities()
        .iter()
        .filter(|entity| is_size_column(entity))
    {
        for relation in schema.relations_from(&holder.name) {
            let Some(discriminator) = &relation.discriminator else {
                continue;
            };
            let is_owner = holder
                .column(discriminator.as_str())
                .is_some_and(|column| matches!(column.value_type, ValueType::OwnerEntity { .. }));
            if is_owner {
                links.push(OwnerLink {
                    holder,
                    relation,
                    discriminator: discriminator.as_str(),
                });
            }
        }
    }
    links
}

/// `SELECT s.state, COUNT(*), CAST(COALESCE(SUM(s.size), 0) AS BIGINT) FROM (…) s GROUP BY
/// s.state` over the rows of `table` (alias `t0`). The state is that of `t0` itself, or with
/// `owner`, of the owning record (alias `o`, joined on the link). The inner select has only
/// the two computed columns, so grouping by `s.state` cannot clash with a column of the
/// entity or of the batch table.
fn grouped_by_state(
    table: &str,
    owner: Option<(&OwnerLink<'_>, &str)>,
    size: bool,
) -> SelectStatement {
    let subject = if owner.is_some() { "o" } else { "t0" };
    let state = Expr::case(
        qualified(subject, builtin::TRASH_BATCH_ID).is_null(),
        Expr::val(ACTIVE),
    )
    .case(
        qualified("b", "state").eq(BatchState::PurgePending.as_str()),
        Expr::val(PENDING_PURGE),
    )
    .case(
        qualified("b", "state").eq(BatchState::Held.as_str()),
        Expr::val(HELD),
    )
    .finally(Expr::val(TRASHED));
    let mut inner = Query::select();
    inner
        .expr_as(state, Alias::new("state"))
        .from_as(Alias::new(table), Alias::new("t0"))
        .and_where(qualified("t0", builtin::ID).ne(PLACEHOLDER_ID));
    if size {
        // A size is whatever a client wrote: negative ones count as 0 and each file counts
        // at most 1 TiB, so no sum over any realistic number of files can overflow 64 bits
        // (found by fuzzing the API: a few absurd sizes made the whole report fail).
        let size = qualified("t0", SIZE_COLUMN);
        let clamped: Expr = Expr::case(size.clone().lt(0i64), Expr::val(0i64))
            .case(size.clone().gt(MAX_FILE_BYTES), Expr::val(MAX_FILE_BYTES))
            .finally(size)
            .into();
        inner.expr_as(clamped, Alias::new("size"));
    } else {
        inner.expr_as(Expr::val(0i64), Alias::new("size"));
    }
    if let Some((link, parent)) = owner {
        let on = qualified("o", builtin::ID)
            .equals((Alias::new("t0"), Alias::new(link.relation.column.as_str())))
            .and(qualified("t0", link.discriminator).eq(parent));
        inner
            .join_as(JoinType::InnerJoin, Alias::new(parent), Alias::new("o"), on)
            .and_where(qualified("o", builtin::ID).ne(PLACEHOLDER_ID));
    }
    inner.join_as(
        JoinType::LeftJoin,
        Alias::new("lethe_deletion_batch"),
        Alias::new("b"),
        qualified("b", "id").equals((Alias::new(subject), Alias::new(builtin::TRASH_BATCH_ID))),
    );
    let mut outer = Query::select();
    outer
        .expr(qualified("s", "state"))
        .expr(Expr::cust("COUNT(*)"))
        .expr(Func::cast_as(
            Func::coalesce([
                Expr::expr(Func::sum(qualified("s", "size"))),
                Expr::val(0i64),
            ]),
            Alias::new("BIGINT"),
        ))
        .from_subquery(inner, Alias::new("s"))
        .group_by_col((Alias::new("s"), Alias::new("state")));
    outer
}

/// Runs a [`grouped_by_state`] statement: (row count, size sum) per state.
async fn run_grouped<DB: Dialect>(
    connection: &mut DB::Connection,
    statement: &SelectStatement,
) -> Result<FileStats, StoreError> {
    let (sql, values) = DB::build(statement);
    let found = DB::fetch_all(connection, sql, values).await?;
    let mut totals = FileStats::default();
    for row in &found {
        let state = rows::text::<DB>(row, 0)?.unwrap_or_default();
        *totals.count.slot(&state)? += rows::count::<DB>(row, 1)?;
        *totals.bytes.slot(&state)? += rows::count::<DB>(row, 2)?;
    }
    Ok(totals)
}

/// The held deletion batches (newest first, at most [`HELD_BATCHES_SHOWN`]) with the rules
/// that hold their members, counted from the purge job's skips; and how many are held in all.
async fn held_batches<DB: Dialect>(
    connection: &mut DB::Connection,
) -> Result<(Vec<HeldBatch>, u64), StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(Alias::new("lethe_deletion_batch"))
            .and_where(Expr::col(Alias::new("state")).eq(BatchState::Held.as_str())),
    );
    let total = match DB::fetch_optional(connection, sql, values).await? {
        Some(row) => rows::count::<DB>(&row, 0)?,
        None => 0,
    };
    if total == 0 {
        return Ok((Vec::new(), 0));
    }
    let shown = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new("lethe_deletion_batch"))
        .and_where(Expr::col(Alias::new("state")).eq(BatchState::Held.as_str()))
        .order_by(Alias::new("id"), sea_query::Order::Desc)
        .limit(HELD_BATCHES_SHOWN)
        .to_owned();
    let (sql, values) = DB::build(
        Query::select()
            .expr(qualified("b", "id"))
            .expr(qualified("b", "entity"))
            .expr(qualified("b", "held_by_job"))
            .expr(qualified("s", "entity"))
            .expr(qualified("s", "reason"))
            .expr(Expr::cust("COUNT(*)"))
            .from_as(Alias::new("lethe_deletion_batch"), Alias::new("b"))
            .join_as(
                JoinType::InnerJoin,
                Alias::new("lethe_job_skip"),
                Alias::new("s"),
                qualified("s", "job_id")
                    .equals((Alias::new("b"), Alias::new("held_by_job")))
                    .and(qualified("s", "kind").eq("blocked")),
            )
            .and_where(qualified("b", "id").in_subquery(shown))
            .group_by_col((Alias::new("b"), Alias::new("id")))
            .group_by_col((Alias::new("b"), Alias::new("entity")))
            .group_by_col((Alias::new("b"), Alias::new("held_by_job")))
            .group_by_col((Alias::new("s"), Alias::new("entity")))
            .group_by_col((Alias::new("s"), Alias::new("reason")))
            .order_by((Alias::new("b"), Alias::new("id")), sea_query::Order::Desc)
            .order_by(
                (Alias::new("s"), Alias::new("reason")),
                sea_query::Order::Asc,
            ),
    );
    let mut held: Vec<HeldBatch> = Vec::new();
    for row in DB::fetch_all(connection, sql, values).await? {
        let batch = rows::int::<DB>(&row, 0)?.unwrap_or(0);
        let reason = HeldReason {
            blocked_by: rows::text::<DB>(&row, 3)?,
            reason: rows::text::<DB>(&row, 4)?.unwrap_or_default(),
            members: rows::count::<DB>(&row, 5)?,
        };
        match held.last_mut() {
            Some(last) if last.batch == batch => last.reasons.push(reason),
            _ => held.push(HeldBatch {
                batch,
                entity: rows::text::<DB>(&row, 1)?,
                purge_job: rows::int::<DB>(&row, 2)?.unwrap_or(0),
                reasons: vec![reason],
            }),
        }
    }
    Ok((held, total))
}

async fn compute<DB: Dialect>(pool: &sqlx::Pool<DB>, schema: &Schema) -> Result<Stats, StoreError> {
    let links = owner_links(schema);
    let mut transaction = pool.begin().await?;
    if DB::BACKEND == Backend::Postgres {
        // One snapshot for every statement, so the lines add up even while jobs run. (A
        // SQLite read transaction already reads one snapshot.)
        DB::execute_plain(
            &mut transaction,
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY".to_owned(),
        )
        .await?;
    }
    let mut entities = Vec::with_capacity(schema.entities().len());
    let mut totals = StatsTotals::default();
    for entity in schema.entities() {
        let name = entity.name.as_str();
        let holds_files = links.iter().any(|link| link.holder.name == entity.name);
        let own =
            run_grouped::<DB>(&mut transaction, &grouped_by_state(name, None, holds_files)).await?;
        let records = own.count;
        totals.records.add(&records);
        let mut files = None::<FileStats>;
        if holds_files {
            totals.files.add(&own);
            files = Some(own);
        }
        for link in links
            .iter()
            .filter(|link| link.relation.points_to(&entity.name))
        {
            let attached = run_grouped::<DB>(
                &mut transaction,
                &grouped_by_state(link.holder.name.as_str(), Some((link, name)), true),
            )
            .await?;
            files.get_or_insert_with(FileStats::default).add(&attached);
        }
        entities.push(EntityStats {
            entity: name.to_owned(),
            records,
            holds_files,
            files,
        });
    }
    let (held, held_batches) = held_batches::<DB>(&mut transaction).await?;
    transaction.rollback().await?;
    Ok(Stats {
        entities,
        totals,
        held,
        held_batches,
    })
}

impl Store {
    /// The consolidated table (SPEC §6): per entity type, records and attached-file volume
    /// that are active, trashed and pending purge.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        dispatch!(self, pool => compute::<_>(pool, self.schema()).await)
    }
}
