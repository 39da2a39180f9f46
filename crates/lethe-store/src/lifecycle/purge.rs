//! Purge (permanent deletion, SPEC §3, §6, §11) and anonymise-instead-of-delete.
//!
//! A purge is requested for a deletion batch by an admin; it stays *pending* for a grace
//! period during which any admin may cancel it; then a job erases the batch's members that
//! are still in it, with their `cascade` descendants through the trash, after cutting
//! `set_null` links and pointing `anonymize` links at the "Deleted User" placeholder. A
//! member a `restrict` child or a purge precondition blocks stays in the trash and is
//! reported. Attachment files are removed after the batch that deleted their rows commits
//! (their keys are recorded in that same transaction, so a crash in between is redone).
//! Afterwards the erased values are made physical — SQLite: secure delete plus a truncating
//! WAL checkpoint, then a scan of the files for the erased values; PostgreSQL: the touched
//! tables are rewritten — and the job keeps a receipt saying what was done and checked.

use lethe_plan::Plan;
use lethe_schema::{Anonymize, Entity, OnDelete, Schema, ValueType, builtin};
use sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use std::path::Path;

use sqlx::Pool;
use time::OffsetDateTime;

use super::jobs::{Batch, JobRow, RunContext, insert_job, insert_skips};
use super::paths::{StepFilter, and_all, col, link, qualified, reached_by, reached_ids};
use super::{BatchState, JobKind, JobPayload, JobState, LifecycleSettings, Rewrite, Totals, Work};
use crate::dialect::{Backend, Dialect, begin_write, quoted};
use crate::error::StoreError;
use crate::placeholder::PLACEHOLDER_ID;
use crate::rows;
use crate::users::Actor;
use crate::value::{Value, format_timestamp};

use crate::files::STORAGE_KEY;

/// How long a PostgreSQL purge waits for other sessions' snapshots to end before rewriting.
const REWRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The most erased values a run keeps in memory to look for in the database files.
const PROBE_MAX_VALUES: usize = 100_000;
/// Values shorter than this are too common to prove anything when found.
const PROBE_MIN_BYTES: usize = lethe_evidence::scan::MIN_LEN;

/// Erased values to look for in the database files after the purge (memory only).
#[derive(Debug, Default)]
pub(crate) struct ErasureProbe {
    values: Vec<String>,
    /// Values not kept because the bound was reached.
    dropped: u64,
    /// Values not kept because they are too short to prove anything when found.
    too_short: u64,
    /// What became of the erased records' files.
    pub(super) files: FileTally,
}

/// What a purge did with the files of the records it erased, for the receipt: files are
/// counted by the entity of the record they belonged to, and every file not removed is
/// named by its record (never by its key, which a client may once have spelt with personal
/// data) with the reason.
#[derive(Debug, Default)]
pub(crate) struct FileTally {
    removed: std::collections::BTreeMap<String, u64>,
    missing: u64,
    refused: u64,
    in_use: u64,
    /// Files not removed, by record: entity, id, what happened, why. Bounded.
    unremoved: Vec<serde_json::Value>,
    unremoved_not_listed: u64,
}

/// The most unremoved files a receipt names one by one.
const MAX_LISTED_FILES: usize = 1_000;

impl FileTally {
    fn note(&mut self, entity: &str, record: Option<i64>, outcome: &str, reason: String) {
        match outcome {
            "already_missing" => self.missing += 1,
            "refused" => self.refused += 1,
            _ => self.in_use += 1,
        }
        if self.unremoved.len() < MAX_LISTED_FILES {
            self.unremoved.push(serde_json::json!({
                "entity": entity,
                "record": record,
                "outcome": outcome,
                "reason": reason,
            }));
        } else {
            self.unremoved_not_listed += 1;
        }
    }

    pub(super) fn merge(&mut self, other: FileTally) {
        for (entity, count) in other.removed {
            *self.removed.entry(entity).or_default() += count;
        }
        self.missing += other.missing;
        self.refused += other.refused;
        self.in_use += other.in_use;
        for entry in other.unremoved {
            if self.unremoved.len() < MAX_LISTED_FILES {
                self.unremoved.push(entry);
            } else {
                self.unremoved_not_listed += 1;
            }
        }
        self.unremoved_not_listed += other.unremoved_not_listed;
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "removed": self.removed.values().sum::<u64>(),
            "removed_by_entity": self.removed,
            "already_missing": self.missing,
            "refused": self.refused,
            "kept_in_use": self.in_use,
            "not_removed": self.unremoved,
            "not_removed_not_listed": self.unremoved_not_listed,
        })
    }
}

impl ErasureProbe {
    fn add(&mut self, value: String) {
        if value.len() < PROBE_MIN_BYTES {
            self.too_short += 1;
            return;
        }
        if self.values.len() < PROBE_MAX_VALUES {
            self.values.push(value);
        } else {
            self.dropped += 1;
        }
    }
}

/// The keyed hash of a value, as stored by the `hash` anonymisation.
fn keyed_hash(key: &[u8], value: &str) -> String {
    let digest = crate::history::hmac_sha256(key, value.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("hash:{hex}")
}

/// The installation's hashing key: the one given ([`crate::StoreOptions::hash_key`]), else a
/// random key made once and kept in `lethe_secret`.
async fn hash_key<DB: Dialect>(
    connection: &mut DB::Connection,
    given: Option<&str>,
) -> Result<Vec<u8>, StoreError> {
    if let Some(key) = given.filter(|key| !key.is_empty()) {
        return Ok(key.as_bytes().to_vec());
    }
    let select = Query::select()
        .column(Alias::new("hash_key"))
        .from(Alias::new("lethe_secret"))
        .and_where(col("id").eq(1))
        .to_owned();
    let (sql, values) = DB::build(&select);
    if let Some(row) = DB::fetch_optional(connection, sql, values).await?
        && let Some(key) = rows::text::<DB>(&row, 0)?
    {
        return Ok(key.into_bytes());
    }
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    let key: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_secret"))
            .columns([Alias::new("id"), Alias::new("hash_key")])
            .values_panic([Expr::val(1), Expr::val(key.as_str())]),
    );
    DB::execute(connection, sql, values).await?;
    Ok(key.into_bytes())
}

/// Overwrites the personal fields of the rows of `entity` matching `condition` by the
/// schema's strategies, and applies `extra` assignments (a link to the placeholder) in the
/// same pass. Hashed fields are computed here, a bounded chunk of rows per statement.
async fn anonymize_where<DB: Dialect>(
    connection: &mut DB::Connection,
    entity: &Entity,
    condition: Expr,
    extra: Vec<(String, sea_query::Value)>,
    given_key: Option<&str>,
) -> Result<u64, StoreError> {
    let table = Alias::new(entity.name.as_str());
    let hashed: Vec<&lethe_schema::Column> = entity
        .personal_columns()
        .filter(|column| column.anonymize == Some(Anonymize::Hash))
        .collect();
    if !hashed.is_empty() {
        let key = hash_key::<DB>(connection, given_key).await?;
        let mut select = Query::select();
        select
            .column(Alias::new(builtin::ID))
            .from(table.clone())
            .and_where(condition.clone())
            .order_by(Alias::new(builtin::ID), Order::Asc);
        for column in &hashed {
            select.column(Alias::new(column.name.as_str()));
        }
        let (sql, values) = DB::build(&select);
        let found = DB::fetch_all(connection, sql, values).await?;
        for chunk in found.chunks(500) {
            let mut ids = Vec::with_capacity(chunk.len());
            let mut update = Query::update();
            update.table(table.clone());
            let mut cases: Vec<sea_query::CaseStatement> = hashed
                .iter()
                .map(|_| sea_query::CaseStatement::new())
                .collect();
            for row in chunk {
                let Some(id) = rows::int::<DB>(row, 0)? else {
                    continue;
                };
                ids.push(id);
                for (index, case) in cases.iter_mut().enumerate() {
                    let hashed_value = match rows::text::<DB>(row, index + 1)? {
                        Some(text) => Expr::val(keyed_hash(&key, &text)),
                        None => Expr::val(rows::bind_opt_text::<DB>(None)),
                    };
                    let taken = std::mem::take(case);
                    *case = taken.case(col(builtin::ID).eq(id), hashed_value);
                }
            }
            if ids.is_empty() {
                continue;
            }
            for (column, case) in hashed.iter().zip(cases) {
                let case: Expr = case.finally(col(column.name.as_str())).into();
                update.value(Alias::new(column.name.as_str()), case);
            }
            update.and_where(col(builtin::ID).is_in(ids));
            let (sql, values) = DB::build(&update);
            DB::execute_transient(connection, sql, values).await?;
        }
    }
    let mut update = Query::update();
    update.table(table).and_where(condition);
    let mut assigned = false;
    for column in entity.personal_columns() {
        let value = match &column.anonymize {
            Some(Anonymize::Null) | None => Value::Null,
            Some(Anonymize::Fixed(text)) => Value::Text(text.clone()),
            Some(Anonymize::Hash) => continue,
        };
        update.value(
            Alias::new(column.name.as_str()),
            Expr::val(DB::bind_value(&column.value_type, &value)),
        );
        assigned = true;
    }
    for (column, value) in extra {
        update.value(Alias::new(column.as_str()), Expr::val(value));
        assigned = true;
    }
    if !assigned {
        // Only hashed fields: count the rows instead.
        return Ok(0);
    }
    let (sql, values) = DB::build(&update);
    Ok(DB::execute(connection, sql, values).await?)
}

/// Personal text values of the members about to be erased, for the file scan.
async fn probe_values<DB: Dialect>(
    connection: &mut DB::Connection,
    entity: &Entity,
    eligible: SelectStatement,
    probe: &mut ErasureProbe,
) -> Result<(), StoreError> {
    let columns: Vec<&lethe_schema::Column> = entity
        .personal_columns()
        .filter(|column| column.value_type == ValueType::Text)
        .collect();
    if columns.is_empty() {
        return Ok(());
    }
    let mut select = Query::select();
    select
        .from(Alias::new(entity.name.as_str()))
        .and_where(col(builtin::ID).in_subquery(eligible));
    for column in &columns {
        select.column(Alias::new(column.name.as_str()));
    }
    let (sql, values) = DB::build(&select);
    for row in DB::fetch_all(connection, sql, values).await? {
        for index in 0..columns.len() {
            if let Some(text) = rows::text::<DB>(&row, index)? {
                probe.add(text);
            }
        }
    }
    Ok(())
}

/// Records the files of the rows of `entity` matching `condition` for removal.
async fn record_files<DB: Dialect>(
    connection: &mut DB::Connection,
    entity: &Entity,
    job: i64,
    condition: Expr,
) -> Result<(), StoreError> {
    if !crate::files::holds_files(entity) {
        return Ok(());
    }
    let mut select = Query::select();
    select
        .expr(Expr::val(job))
        .column(Alias::new(STORAGE_KEY))
        .expr(Expr::val(entity.name.as_str()))
        .column(Alias::new(builtin::ID))
        .from(Alias::new(entity.name.as_str()))
        .and_where(condition)
        .and_where(col(STORAGE_KEY).is_not_null());
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("lethe_erased_file"))
        .columns(["job_id", STORAGE_KEY, "entity", "record_id"].map(Alias::new))
        .select_from(select)
        .map_err(|error| StoreError::Internal(error.to_string()))?;
    let (sql, values) = DB::build(&insert);
    DB::execute(connection, sql, values).await?;
    Ok(())
}

fn entity<'s>(schema: &'s Schema, name: &str) -> Result<&'s Entity, StoreError> {
    schema
        .entity(name)
        .ok_or_else(|| StoreError::Internal(format!("the plan names unknown entity {name}")))
}

/// The connection's table of the members a purge batch erases.
const ERASABLE: &str = "lethe_purge_erasable";

/// Keeps the ids `erasable` yields in a temporary table of this connection and returns the
/// statement that reads them back. The batch's erasable members are derived once (members
/// of the batch, still in the deletion batch, not skipped or blocked) instead of again in
/// every one of the batch's statements that needs them. On SQLite the table stays with the
/// connection and is emptied first; on PostgreSQL it is dropped when the batch commits or
/// rolls back.
async fn keep_erasable<DB: Dialect>(
    connection: &mut DB::Connection,
    erasable: SelectStatement,
) -> Result<SelectStatement, StoreError> {
    match DB::BACKEND {
        Backend::Sqlite => {
            DB::execute_plain(
                connection,
                format!("CREATE TEMP TABLE IF NOT EXISTS {ERASABLE} (id INTEGER PRIMARY KEY)"),
            )
            .await?;
            DB::execute_plain(connection, format!("DELETE FROM {ERASABLE}")).await?;
        }
        Backend::Postgres => {
            DB::execute_plain(
                connection,
                format!("CREATE TEMP TABLE {ERASABLE} (id BIGINT PRIMARY KEY) ON COMMIT DROP"),
            )
            .await?;
        }
    }
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new(ERASABLE))
        .columns([Alias::new(builtin::ID)])
        .select_from(erasable)
        .map_err(|error| StoreError::Internal(format!("building the erasable set: {error}")))?;
    let (sql, values) = DB::build(&insert);
    DB::execute(connection, sql, values).await?;
    if DB::BACKEND == Backend::Postgres {
        // A temporary table has no statistics until analysed; with them the planner joins
        // the batch's few thousand ids instead of guessing.
        DB::execute_plain(connection, format!("ANALYZE {ERASABLE}")).await?;
    }
    Ok(Query::select()
        .column(Alias::new(builtin::ID))
        .from(Alias::new(ERASABLE))
        .to_owned())
}

/// One batch of a purge job.
pub(super) async fn batch<DB: Dialect>(
    connection: &mut DB::Connection,
    batch: &Batch<'_>,
    deletion_batch: i64,
    context: &mut RunContext,
) -> Result<Totals, StoreError> {
    let plan = batch.plan;
    let root = plan.root.as_str();
    let root_entity = entity(batch.schema, root)?;
    let id = || col(builtin::ID);

    // Members erased meanwhile, restored meanwhile, or moved to another batch are skipped.
    batch
        .skip_missing::<DB>(connection, None, "gone", "already erased")
        .await?;
    for (condition, reason) in [
        (
            col(builtin::TRASH_BATCH_ID).is_null(),
            "restored since the purge was requested",
        ),
        (
            col(builtin::TRASH_BATCH_ID).ne(deletion_batch),
            "now in another deletion batch",
        ),
    ] {
        batch
            .skip_matching::<DB>(connection, condition, "state", reason)
            .await?;
    }

    // Restrict children (in any state: a child may have been restored meanwhile) and purge
    // preconditions, checked again now.
    for check in &plan.checks {
        let roots = and_all([
            qualified("t0", builtin::ID).in_subquery(batch.members()),
            super::paths::batch_is(Some("t0"), deletion_batch),
        ]);
        let rows = super::trash::blocked_rows(plan, check, roots, batch.job, StepFilter::Any);
        insert_skips::<DB>(connection, rows).await?;
    }
    let mut totals = batch.skip_totals::<DB>(connection).await?;

    let mut erasable = Query::select();
    erasable
        .column(Alias::new(builtin::ID))
        .from(Alias::new(root))
        .and_where(id().in_subquery(batch.members()))
        .and_where(super::paths::batch_is(None, deletion_batch))
        .and_where(id().not_in_subquery(batch.skipped()));
    let eligible = keep_erasable::<DB>(connection, erasable).await?;
    probe_values::<DB>(
        connection,
        root_entity,
        eligible.clone(),
        &mut context.probe,
    )
    .await?;

    // Links into what is erased: cut, or pointed at the placeholder with the linking
    // record's own personal fields anonymised.
    for rewrite in &plan.rewrites {
        let Some((last, before)) = rewrite.target.path.split_last() else {
            continue;
        };
        let child = entity(batch.schema, last.child.as_str())?;
        let condition = link(last, reached_ids(before, eligible.clone(), StepFilter::Any));
        let changed = match rewrite.rule {
            OnDelete::SetNull => {
                let mut update = Query::update();
                update
                    .table(Alias::new(child.name.as_str()))
                    .value(
                        Alias::new(last.column.as_str()),
                        Expr::val(rows::bind_opt_int::<DB>(None)),
                    )
                    .and_where(condition);
                let (sql, values) = DB::build(&update);
                DB::execute(connection, sql, values).await?
            }
            OnDelete::Anonymize => {
                anonymize_where::<DB>(
                    connection,
                    child,
                    condition,
                    vec![(
                        last.column.as_str().to_owned(),
                        rows::bind_opt_int::<DB>(Some(PLACEHOLDER_ID)),
                    )],
                    context.settings.hash_key.as_deref(),
                )
                .await?
            }
            OnDelete::Cascade | OnDelete::Restrict => 0,
        };
        *totals
            .rewritten
            .entry(child.name.as_str().to_owned())
            .or_default() += changed;
    }

    // Descendants, deepest first, so no row is deleted before the rows that point at it.
    for reach in plan.cascade.iter().rev() {
        let child = entity(batch.schema, reach.entity.as_str())?;
        let condition = reached_by(reach, eligible.clone(), StepFilter::Any);
        record_files::<DB>(connection, child, batch.job, condition.clone()).await?;
        let (sql, values) = DB::build(
            Query::delete()
                .from_table(Alias::new(child.name.as_str()))
                .and_where(condition),
        );
        let deleted = DB::execute(connection, sql, values).await?;
        *totals
            .counts
            .entry(child.name.as_str().to_owned())
            .or_default() += deleted;
    }
    record_files::<DB>(
        connection,
        root_entity,
        batch.job,
        id().in_subquery(eligible.clone()),
    )
    .await?;
    let (sql, values) = DB::build(
        Query::delete()
            .from_table(Alias::new(root))
            .and_where(id().in_subquery(eligible)),
    );
    let deleted = DB::execute(connection, sql, values).await?;
    *totals.counts.entry(root.to_owned()).or_default() += deleted;
    Ok(totals)
}

/// One batch of an anonymise job: the members stay, their personal fields are overwritten.
pub(super) async fn anonymize_batch<DB: Dialect>(
    connection: &mut DB::Connection,
    batch: &Batch<'_>,
    hash_key: Option<&str>,
) -> Result<Totals, StoreError> {
    let root = batch.plan.root.as_str();
    let root_entity = entity(batch.schema, root)?;
    batch
        .skip_missing::<DB>(connection, None, "gone", "no longer exists")
        .await?;
    let mut totals = batch.skip_totals::<DB>(connection).await?;
    let condition = col(builtin::ID)
        .in_subquery(batch.members())
        .and(col(builtin::ID).ne(PLACEHOLDER_ID));
    let mut timestamp = vec![(
        builtin::UPDATED_AT.to_owned(),
        DB::bind_value(&ValueType::Timestamp, &Value::Timestamp(batch.now)),
    )];
    if root_entity.personal_columns().next().is_none() {
        timestamp.clear();
    }
    let changed =
        anonymize_where::<DB>(connection, root_entity, condition, timestamp, hash_key).await?;
    totals.rewritten.insert(root.to_owned(), changed);
    Ok(totals)
}

/// Removes the files recorded by committed batches of `job`, then forgets them. A file that
/// cannot be removed does not hold back the others: every file that can be removed is, and
/// is forgotten (so a retry neither removes nor counts it again); the ones that cannot stay
/// recorded, and the first error is returned with the tally, so the job fails saying which
/// file and why, and a resume retries them.
///
/// What the data says is not trusted to name a file: a key that is not a plain relative
/// path, names a folder or a symbolic link, or leads outside the folder is refused and
/// reported by its record, and a file that a record which is not being erased still names
/// is kept. Neither stops the purge: the rows are already erased, and the receipt says
/// which files stayed and why.
pub(super) async fn erase_files<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
    job: i64,
    settings: &LifecycleSettings,
) -> Result<FileTally, StoreError> {
    let mut tally = FileTally::default();
    let mut failed = 0u64;
    let mut first_failure: Option<String> = None;
    let mut after = 0i64;
    loop {
        let mut connection = pool.acquire().await?;
        let (sql, values) = DB::build(
            Query::select()
                .columns(["id", STORAGE_KEY, "entity", "record_id"].map(Alias::new))
                .from(Alias::new("lethe_erased_file"))
                .and_where(col("job_id").eq(job))
                .and_where(col("id").gt(after))
                .order_by(Alias::new("id"), Order::Asc)
                .limit(1_000),
        );
        let found = DB::fetch_all(&mut connection, sql, values).await?;
        let Some(last) = found.last() else {
            break;
        };
        if let Some(folder) = &settings.files_dir
            && !folder.is_dir()
        {
            // Every file would look "already missing": say what is wrong instead, and keep
            // the files recorded so the resumed job removes them.
            return Err(folder_missing(folder));
        }
        after = rows::int::<DB>(last, 0)?.unwrap_or(i64::MAX);
        let mut files = Vec::with_capacity(found.len());
        for row in &found {
            let Some(id) = rows::int::<DB>(row, 0)? else {
                continue;
            };
            files.push((
                id,
                rows::text::<DB>(row, 1)?,
                rows::text::<DB>(row, 2)?.unwrap_or_default(),
                rows::int::<DB>(row, 3)?,
            ));
        }
        let keys: Vec<String> = files.iter().filter_map(|file| file.1.clone()).collect();
        let still_named = records_naming::<DB>(&mut connection, schema, &keys).await?;
        drop(connection);
        let mut forget = Vec::with_capacity(files.len());
        for (id, key, entity, record) in files {
            let Some(key) = key else {
                forget.push(id);
                continue;
            };
            if let Some((other_entity, other_id)) = still_named.get(&key) {
                tally.note(
                    &entity,
                    record,
                    "kept_in_use",
                    format!("{other_entity} {other_id}, which is not erased, names the same file; it was kept"),
                );
                forget.push(id);
                continue;
            }
            match remove_file(settings, &key) {
                Ok(Removal::Removed) => *tally.removed.entry(entity).or_default() += 1,
                Ok(Removal::Missing) => tally.note(
                    &entity,
                    record,
                    "already_missing",
                    "its file was not in the files folder".to_owned(),
                ),
                Ok(Removal::Refused(reason)) => tally.note(&entity, record, "refused", reason),
                Err(message) => {
                    failed += 1;
                    first_failure.get_or_insert(message);
                    continue;
                }
            }
            forget.push(id);
        }
        if forget.is_empty() {
            continue;
        }
        let mut transaction = begin_write(pool).await?;
        let (sql, values) = DB::build(
            Query::delete()
                .from_table(Alias::new("lethe_erased_file"))
                .and_where(col("job_id").eq(job))
                .and_where(col("id").is_in(forget)),
        );
        DB::execute(&mut transaction, sql, values).await?;
        transaction.commit().await?;
    }
    match first_failure {
        None => Ok(tally),
        Some(message) => Err(StoreError::Internal(format!(
            "{message} ({failed} file(s) could not be removed, {} were removed, {} were already missing); the purge stops and retries the files it could not remove when it is resumed",
            tally.removed.values().sum::<u64>(),
            tally.missing
        ))),
    }
}

/// Which of `keys` a record still in the database names (entity and id of one such
/// record), over every file-holding entity: one statement per entity for up to 1,000 keys.
async fn records_naming<DB: Dialect>(
    connection: &mut DB::Connection,
    schema: &Schema,
    keys: &[String],
) -> Result<std::collections::HashMap<String, (String, i64)>, StoreError> {
    let mut named = std::collections::HashMap::new();
    if keys.is_empty() {
        return Ok(named);
    }
    for entity in schema.entities() {
        if !crate::files::holds_files(entity) {
            continue;
        }
        let (sql, values) = DB::build(
            Query::select()
                .columns([Alias::new(STORAGE_KEY), Alias::new(builtin::ID)])
                .from(Alias::new(entity.name.as_str()))
                .and_where(col(STORAGE_KEY).is_in(keys.iter().map(String::as_str))),
        );
        for row in DB::fetch_all(connection, sql, values).await? {
            if let (Some(key), Some(id)) = (rows::text::<DB>(&row, 0)?, rows::int::<DB>(&row, 1)?) {
                named.entry(key).or_insert((entity.name.to_string(), id));
            }
        }
    }
    Ok(named)
}

/// Before a purge run erases anything: when the records it erases carry files and the files
/// folder exists, it must be a folder Lethe can remove files from. Otherwise rows would be erased whose
/// files then stay on disk until someone fixes the folder, so the run stops first, saying
/// what is wrong, with nothing erased. Writing a probe file (and removing it) tells, because
/// creating and removing a file need the same right on the folder, and a read-only mount
/// refuses both even to root.
pub(super) fn check_files_folder(
    schema: &Schema,
    plan: &Plan,
    settings: &LifecycleSettings,
    job: i64,
) -> Result<(), StoreError> {
    let Some(folder) = &settings.files_dir else {
        return Ok(());
    };
    let carries_files = plan.entities().iter().any(|name| {
        schema
            .entity(name.as_str())
            .is_some_and(|entity| entity.column(STORAGE_KEY).is_some())
    });
    if !carries_files {
        return Ok(());
    }
    if !folder.is_dir() {
        // A store that never had a file has no folder; erasing recorded files says so when
        // there are any.
        return Ok(());
    }
    let probe = folder.join(format!(".lethe-write-check-{}-{job}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|file| {
            drop(file);
            std::fs::remove_file(&probe)
        });
    let Err(error) = written else {
        return Ok(());
    };
    let why = match error.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem => "it is on a read-only filesystem".to_owned(),
        std::io::ErrorKind::PermissionDenied => {
            "Lethe's user may not create or remove files in it".to_owned()
        }
        _ => format!("writing a test file in it failed: {error}"),
    };
    Err(StoreError::Internal(format!(
        "the attachment folder {} cannot take file removals ({why}), so the purge stopped before erasing anything more; make the folder writable (remount it read-write, or give Lethe's user write access) and resume the job",
        folder.display()
    )))
}

fn folder_missing(folder: &std::path::Path) -> StoreError {
    StoreError::Internal(format!(
        "the attachment folder {} does not exist or is not a folder, so the erased records' files cannot be removed; start Lethe with --files-dir (or LETHE_FILES_DIR) set to the attachment folder and resume the job",
        folder.display()
    ))
}

/// What became of one file.
enum Removal {
    Removed,
    Missing,
    /// Not removed, because the key does not name a file Lethe may remove; why.
    Refused(String),
}

/// Removes one attachment file. A key that is not a plain relative path, or that names a
/// folder, a symbolic link or something reached through a symbolic link leading out of the
/// files folder, is refused (nothing is removed). An error only when a file that may be
/// removed could not be: it says which and why.
fn remove_file(settings: &LifecycleSettings, key: &str) -> Result<Removal, String> {
    let Some(folder) = &settings.files_dir else {
        return Ok(Removal::Missing);
    };
    let relative = match crate::files::plain_key(key) {
        Ok(relative) => relative,
        Err(bad) => return Ok(Removal::Refused(bad.reason().to_owned())),
    };
    let path = folder.join(relative);
    let metadata = match std::fs::symlink_metadata(&path) {
        Ok(metadata) => metadata,
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Removal::Missing);
        }
        Err(error) => {
            return Err(format!(
                "cannot look at the attachment file {}: {error}",
                path.display()
            ));
        }
    };
    if metadata.file_type().is_symlink() {
        return Ok(Removal::Refused(
            "its storage key names a symbolic link, not a file Lethe wrote; the link and what it points to were left".to_owned(),
        ));
    }
    if metadata.is_dir() {
        return Ok(Removal::Refused(
            "its storage key names a folder, not a file".to_owned(),
        ));
    }
    let inside = match (folder.canonicalize(), path.parent().map(Path::canonicalize)) {
        (Ok(folder), Some(Ok(parent))) => parent.starts_with(folder),
        _ => false,
    };
    if !inside {
        return Ok(Removal::Refused(
            "its file is reached through a symbolic link that leads outside the files folder; it was left".to_owned(),
        ));
    }
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(Removal::Removed),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Removal::Missing),
        Err(error) => Err(format!(
            "cannot remove the attachment file {}: {error}",
            path.display()
        )),
    }
}

/// Makes the erasure physical and says what was done and found.
pub(super) async fn make_physical<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
    plan: &Plan,
    job: &JobRow,
    context: &mut RunContext,
) -> Result<serde_json::Value, StoreError> {
    let tally = erase_files::<DB>(pool, schema, job.id, &context.settings).await?;
    context.probe.files.merge(tally);
    // What the policy rewrites, and what it leaves (and why), of every table the purge
    // deleted rows from or changed rows in.
    let mut tables = Vec::new();
    let mut not_rewritten = Vec::new();
    for name in plan.touched_entities() {
        let personal = schema
            .entity(name.as_str())
            .is_some_and(|entity| entity.personal_columns().next().is_some());
        match context.settings.rewrite {
            Rewrite::All => tables.push(name.to_string()),
            Rewrite::Personal if personal => tables.push(name.to_string()),
            Rewrite::Personal => not_rewritten.push(name.to_string()),
            Rewrite::Off => not_rewritten.push(name.to_string()),
        }
    }
    let database = match DB::BACKEND {
        Backend::Sqlite => {
            let values = std::mem::take(&mut context.probe.values);
            let not_checked = lethe_evidence::database::NotChecked {
                too_short: context.probe.too_short,
                over_limit: context.probe.dropped,
            };
            let touched: Vec<String> = plan
                .touched_entities()
                .iter()
                .map(ToString::to_string)
                .collect();
            lethe_evidence::database::sqlite_receipt::<DB>(
                pool,
                schema,
                context.settings.database_file.clone(),
                values,
                not_checked,
                &touched,
            )
            .await?
        }
        Backend::Postgres => {
            let mut rewritten = Vec::new();
            let mut waited = std::time::Duration::ZERO;
            let mut still_busy = 0;
            if !tables.is_empty() {
                // A rewrite keeps every row some transaction could still see: one that was
                // running — in any database of the cluster — when the rewrite's own snapshot is
                // taken holds back the horizon. So take a transaction id now (after the last
                // batch committed) and wait, bounded, until no other session has a transaction
                // or snapshot older than it.
                let started = std::time::Instant::now();
                let mut connection = pool.acquire().await?;
                let (sql, values) = DB::build(
                    Query::select().expr(Expr::cust("(txid_current() % 4294967296)::text")),
                );
                let marker = match DB::fetch_optional(&mut connection, sql, values).await? {
                    Some(row) => rows::text::<DB>(&row, 0)?.unwrap_or_default(),
                    None => String::new(),
                };
                drop(connection);
                loop {
                    let mut connection = pool.acquire().await?;
                    let (sql, values) = DB::build(Query::select().expr(Expr::cust_with_values(
                        "COUNT(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
                         AND ((backend_xid IS NOT NULL AND age(backend_xid) >= age(CAST($1 AS xid))) \
                         OR (backend_xmin IS NOT NULL AND age(backend_xmin) >= age(CAST($1 AS xid))))",
                        [marker.clone()],
                    )));
                    still_busy = match DB::fetch_optional(&mut connection, sql, values).await? {
                        Some(row) => rows::count::<DB>(&row, 0)?,
                        None => 0,
                    };
                    waited = started.elapsed();
                    if still_busy == 0 || waited >= REWRITE_WAIT {
                        break;
                    }
                    drop(connection);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                rewritten = rewrite_tables::<DB>(pool, &tables).await?;
            }
            let touched: Vec<String> = plan
                .touched_entities()
                .iter()
                .map(ToString::to_string)
                .collect();
            let values = std::mem::take(&mut context.probe.values);
            let statistics = lethe_evidence::database::postgres_statistics::<DB>(
                pool, schema, &touched, &values,
            )
            .await?;
            serde_json::json!({
                "backend": "postgres",
                "statistics": statistics,
                "values_not_checked": {
                    "too_short": context.probe.too_short,
                    "over_limit": context.probe.dropped,
                },
                "rewrite": context.settings.rewrite.as_str(),
                "tables_rewritten": rewritten,
                "tables_not_rewritten": not_rewritten,
                "method": match context.settings.rewrite {
                    Rewrite::All => "VACUUM FULL of every table the purge touched: their data and index files were rewritten without the erased rows",
                    Rewrite::Personal => "VACUUM FULL of every table the purge touched that has personal fields: their data and index files were rewritten without the erased rows and without the old versions of anonymised rows. The tables not rewritten have no personal fields (ids, dates, amounts, choices): their old rows stay in the files until PostgreSQL reuses the space, and nothing left in the database ties them to a person",
                    Rewrite::Off => "no rewrite (LETHE_PG_REWRITE=off): erased rows may remain readable in the data files until their space is reused",
                },
                "waited_for_other_snapshots_ms": u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                "other_snapshots_open_at_rewrite": still_busy,
                "caveat": if still_busy == 0 {
                    "no transaction older than the purge was still open anywhere in the cluster when the rewrite started"
                } else {
                    "transactions older than the purge were still open when the rewrite started: rows they could still see were kept; rewrite the tables again (VACUUM FULL) when the database is quiet"
                },
                "not_covered": "PostgreSQL's write-ahead log and any backups keep erased values until the log segments are recycled and the backups expire",
            })
        }
    };
    // The history's head as the purge ends, written down here too, outside the history:
    // whoever keeps the receipt can later tell that no entry up to it was removed or changed.
    let (head_seq, head_seal) = {
        let mut connection = pool.acquire().await?;
        crate::history::head::<DB>(&mut connection).await?
    };
    Ok(serde_json::json!({
        "job": job.id,
        "batch": job.payload.deletion_batch(),
        "history_head": {"entry": head_seq, "seal": head_seal},
        "erased": job.totals.counts,
        "rewritten": job.totals.rewritten,
        "kept_blocked": job.totals.blocked,
        "kept_skipped": job.totals.skipped,
        "files": context.probe.files.to_json(),
        "database": database,
        "resumed_after_a_stop": context.resumed,
        "scan_covers": if context.resumed {
            "only the batches run since the job was resumed: values erased before the stop are not kept anywhere, so they could not be looked for"
        } else {
            "every batch of the job"
        },
    }))
}

/// How many tables a PostgreSQL purge rewrites at once.
const REWRITERS: usize = 2;

/// Rewrites `tables` (`VACUUM FULL`), largest first, [`REWRITERS`] at a time on connections
/// of their own: a rewrite is mostly one core's work (copying rows, sorting index entries),
/// and each holds only its own table's lock. Returns the tables in the order they finished.
async fn rewrite_tables<DB: Dialect>(
    pool: &Pool<DB>,
    tables: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut sized = Vec::with_capacity(tables.len());
    {
        let mut connection = pool.acquire().await?;
        for table in tables {
            let (sql, values) = DB::build(Query::select().expr(Expr::cust_with_values(
                "pg_total_relation_size(CAST($1 AS regclass))::bigint",
                [table.clone()],
            )));
            let size = match DB::fetch_optional(&mut connection, sql, values).await? {
                Some(row) => rows::int::<DB>(&row, 0)?.unwrap_or(0),
                None => 0,
            };
            sized.push((size, table.clone()));
        }
    }
    sized.sort_by(|left, right| right.cmp(left));
    let queue = std::sync::Mutex::new(
        sized
            .into_iter()
            .map(|(_, table)| table)
            .collect::<std::collections::VecDeque<_>>(),
    );
    let done = std::sync::Mutex::new(Vec::with_capacity(tables.len()));
    let worker = || async {
        let mut connection = pool.acquire().await?;
        loop {
            let next = queue
                .lock()
                .map_err(|_| StoreError::Internal("the rewrite queue was poisoned".to_owned()))?
                .pop_front();
            let Some(table) = next else {
                return Ok::<(), StoreError>(());
            };
            // Identifiers come from the validated schema, and may be reserved words.
            let statement = format!("VACUUM FULL {}", quoted(&table));
            DB::execute_plain(&mut connection, statement).await?;
            done.lock()
                .map_err(|_| StoreError::Internal("the rewrite list was poisoned".to_owned()))?
                .push(table);
        }
    };
    futures_util::future::try_join_all(std::iter::repeat_with(worker).take(REWRITERS)).await?;
    done.into_inner()
        .map_err(|_| StoreError::Internal("the rewrite list was poisoned".to_owned()))
}

/// After the last batch: the batch is purged (or back to trashed when blocked members stay);
/// every admin hears about it.
pub(super) async fn finish<DB: Dialect>(
    connection: &mut DB::Connection,
    plan: &Plan,
    job: &JobRow,
    deletion_batch: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let left = super::restore::left_in_batch::<DB>(connection, plan, deletion_batch).await?;
    let erased: u64 = job.totals.counts.values().sum();
    // Members a rule kept (a `restrict` child, a purge precondition) leave the batch held:
    // still in the trash and restorable, but not purged again by the retention window until
    // an admin asks, and its requester is told once.
    let state = BatchState::purged(left, erased, job.totals.blocked);
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_deletion_batch"))
            .value(Alias::new("state"), state.as_str())
            .value(
                Alias::new("held_by_job"),
                Expr::val(rows::bind_opt_int::<DB>(
                    (state == BatchState::Held).then_some(job.id),
                )),
            )
            .and_where(col("id").eq(deletion_batch)),
    );
    DB::execute(connection, sql, values).await?;
    let message = format!(
        "Purge of deletion batch {deletion_batch} done (job {}): {erased} record(s) erased, {} member(s) kept in the trash (blocked {}, changed {}).",
        job.id,
        job.totals.blocked + job.totals.skipped,
        job.totals.blocked,
        job.totals.skipped
    );
    notify_admins::<DB>(connection, "purge_executed", &message, job.id, now).await?;
    if state == BatchState::Held
        && let Some(requester) = job.payload.actor.user_id
    {
        let message = format!(
            "{} member(s) of deletion batch {deletion_batch} are held in the trash: a rule keeps them (see `lethe job show {}` for which and why). They stay restorable and are not purged again by the retention window; an admin may request their purge once the rule no longer holds.",
            job.totals.blocked, job.id
        );
        let (sql, values) = DB::build(
            Query::insert()
                .into_table(Alias::new("lethe_notification"))
                .columns(["user_id", "at", "kind", "message", "job_id"].map(Alias::new))
                .values_panic([
                    Expr::val(requester),
                    Expr::val(rows::bind_time::<DB>(now)),
                    Expr::val("purge_held"),
                    Expr::val(message),
                    Expr::val(job.id),
                ]),
        );
        DB::execute(connection, sql, values).await?;
    }
    Ok(())
}

/// One notification for every admin, in one statement.
pub(super) async fn notify_admins<DB: Dialect>(
    connection: &mut DB::Connection,
    kind: &str,
    message: &str,
    job: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut select = Query::select();
    select
        .column(Alias::new("id"))
        .expr(Expr::val(rows::bind_time::<DB>(now)))
        .expr(Expr::val(kind))
        .expr(Expr::val(message))
        .expr(Expr::val(job))
        .from(Alias::new("lethe_user"))
        .and_where(col("role").eq("admin"));
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("lethe_notification"))
        .columns(["user_id", "at", "kind", "message", "job_id"].map(Alias::new))
        .select_from(select)
        .map_err(|error| StoreError::Internal(error.to_string()))?;
    let (sql, values) = DB::build(&insert);
    DB::execute(connection, sql, values).await?;
    Ok(())
}

/// Requests a purge of a deletion batch: a pending job that runs when the grace ends.
#[allow(clippy::too_many_arguments)]
pub(super) async fn request<DB: Dialect>(
    pool: &Pool<DB>,
    history_key: &crate::HistoryKey,
    deletion_batch: i64,
    actor: &Actor,
    grace: time::Duration,
    reason: Option<&str>,
    batch_size: u64,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    lethe_domain::policy::request_purge(actor)?;
    let mut transaction = begin_write(pool).await?;
    let batch = super::restore::load_batch::<DB>(&mut transaction, deletion_batch).await?;
    let Some(entity) = batch.entity.clone() else {
        return Err(StoreError::Conflict(format!(
            "deletion batch {deletion_batch} was not made by a trash job"
        )));
    };
    // A held batch is purged again only when an admin asks (after lifting what held it).
    let pending = batch.state.request_purge(deletion_batch)?;
    // Taken first and only from `trashed`: of two requests at the same moment (two admins,
    // or the schedulers of two instances), the second waits here for the first and then
    // finds the batch no longer in the trash state.
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_deletion_batch"))
            .value(Alias::new("state"), pending.as_str())
            .and_where(col("id").eq(deletion_batch))
            .and_where(col("state").eq(batch.state.as_str())),
    );
    if DB::execute(&mut transaction, sql, values).await? != 1 {
        return Err(StoreError::Conflict(format!(
            "a purge of deletion batch {deletion_batch} was requested at the same moment; see `lethe purge list`"
        )));
    }
    let snapshot = crate::selections::snapshot_where::<DB>(
        &mut transaction,
        &entity,
        "trashed",
        &format!("deletion batch {deletion_batch}"),
        "purge",
        qualified("t0", builtin::TRASH_BATCH_ID).eq(deletion_batch),
        actor.user_id,
        now,
    )
    .await?;
    if snapshot.member_count == 0 {
        return Err(StoreError::Conflict(format!(
            "nothing of deletion batch {deletion_batch} is in the trash any more"
        )));
    }
    let due = now + grace;
    let payload = JobPayload {
        entity: entity.clone(),
        snapshot_id: snapshot.id,
        reason: reason.map(str::to_owned),
        source: snapshot.source.clone(),
        actor: actor.clone(),
        work: Work::Purge {
            batch: deletion_batch,
            grace_seconds: grace.whole_seconds(),
        },
    };
    let job = insert_job::<DB>(
        &mut transaction,
        &payload,
        snapshot.member_count,
        batch_size,
        now,
        Some(due),
    )
    .await?;
    let urgent = grace.is_zero();
    crate::history::append::<DB>(
        &mut transaction,
        history_key,
        now,
        actor,
        "purge.requested",
        Some(&entity),
        serde_json::json!({
            "job": job,
            "batch": deletion_batch,
            "members": snapshot.member_count,
            "grace_seconds": grace.whole_seconds(),
            "due": format_timestamp(due),
            "urgent": urgent,
            "reason": reason,
        }),
    )
    .await?;
    let message = format!(
        "{} requested a purge of deletion batch {deletion_batch} ({} {entity}){}; it runs at {} unless an admin cancels job {job}.",
        actor.name,
        snapshot.member_count,
        if urgent {
            " as an urgent erasure with no grace period"
        } else {
            ""
        },
        format_timestamp(due)
    );
    notify_admins::<DB>(&mut transaction, "purge_requested", &message, job, now).await?;
    transaction.commit().await?;
    crate::statistics::after_write(pool, "lethe_snapshot_member", snapshot.member_count).await;
    Ok(job)
}

/// Cancels a pending purge; its batch stays in the trash.
pub(super) async fn cancel<DB: Dialect>(
    pool: &Pool<DB>,
    history_key: &crate::HistoryKey,
    job_id: i64,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    lethe_domain::policy::cancel_purge(actor)?;
    let mut transaction = begin_write(pool).await?;
    let job = super::jobs::load_job::<DB>(&mut transaction, job_id).await?;
    if job.kind != JobKind::Purge {
        return Err(StoreError::Conflict(format!(
            "job {job_id} is a {}, not a purge",
            job.kind.as_str()
        )));
    }
    let cancelled = job.state.cancel(job_id)?;
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_job"))
            .value(Alias::new("state"), cancelled.as_str())
            .value(
                Alias::new("finished_at"),
                Expr::val(rows::bind_time::<DB>(now)),
            )
            .and_where(col("id").eq(job_id))
            .and_where(col("state").eq(job.state.as_str())),
    );
    if DB::execute(&mut transaction, sql, values).await? != 1 {
        return Err(StoreError::Conflict(format!(
            "purge job {job_id} started at this very moment and can no longer be cancelled"
        )));
    }
    if let Some(deletion_batch) = job.payload.deletion_batch() {
        let pending = BatchState::PurgePending;
        let (sql, values) = DB::build(
            Query::update()
                .table(Alias::new("lethe_deletion_batch"))
                .value(Alias::new("state"), pending.purge_cancelled().as_str())
                .and_where(col("id").eq(deletion_batch))
                .and_where(col("state").eq(pending.as_str())),
        );
        DB::execute(&mut transaction, sql, values).await?;
    }
    crate::history::append::<DB>(
        &mut transaction,
        history_key,
        now,
        actor,
        "purge.cancelled",
        Some(&job.payload.entity),
        serde_json::json!({
            "job": job_id,
            "batch": job.payload.deletion_batch(),
            "cancelled_by": actor.name,
            "requested_by": job.payload.actor.name,
        }),
    )
    .await?;
    let message = format!(
        "{} cancelled the purge of deletion batch {} (job {job_id}); its records stay in the trash.",
        actor.name,
        job.payload.deletion_batch().unwrap_or(0)
    );
    notify_admins::<DB>(&mut transaction, "purge_cancelled", &message, job_id, now).await?;
    transaction.commit().await?;
    Ok(())
}

/// Creates the job that anonymises a snapshot's members.
pub(super) async fn start_anonymize<DB: Dialect>(
    pool: &Pool<DB>,
    history_key: &crate::HistoryKey,
    snapshot: &crate::selections::Snapshot,
    actor: &Actor,
    batch_size: u64,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let payload = JobPayload {
        entity: snapshot.entity.clone(),
        snapshot_id: snapshot.id,
        reason: None,
        source: snapshot.source.clone(),
        actor: actor.clone(),
        work: Work::Anonymize,
    };
    let job = insert_job::<DB>(
        &mut transaction,
        &payload,
        snapshot.member_count,
        batch_size,
        now,
        None,
    )
    .await?;
    super::claims::claim::<DB>(
        &mut transaction,
        super::claims::Subject::Snapshot(snapshot.id),
        job,
    )
    .await?;
    crate::history::append::<DB>(
        &mut transaction,
        history_key,
        now,
        actor,
        "anonymize.requested",
        Some(&snapshot.entity),
        serde_json::json!({
            "job": job,
            "snapshot": snapshot.id,
            "members": snapshot.member_count,
            "source": snapshot.source,
        }),
    )
    .await?;
    transaction.commit().await?;
    Ok(job)
}

/// Batches in the trash longer than the retention window, with no purge pending.
pub(super) async fn overdue_batches<DB: Dialect>(
    pool: &Pool<DB>,
    cutoff: OffsetDateTime,
) -> Result<Vec<i64>, StoreError> {
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("lethe_deletion_batch"))
            .and_where(
                col("state").is_in(
                    BatchState::ALL
                        .into_iter()
                        .filter(|state| state.auto_purged())
                        .map(BatchState::as_str),
                ),
            )
            .and_where(col("entity").is_not_null())
            .and_where(col("created_at").lt(Expr::val(rows::bind_time::<DB>(cutoff))))
            .order_by(Alias::new("id"), Order::Asc)
            .limit(1_000),
    );
    let found = DB::fetch_all(&mut connection, sql, values).await?;
    let mut ids = Vec::new();
    for row in &found {
        if let Some(id) = rows::int::<DB>(row, 0)? {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Pending purges, oldest first.
pub(super) fn pending_filter() -> Expr {
    col("kind")
        .eq(JobKind::Purge.as_str())
        .and(col("state").eq(JobState::Pending.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::hmac_sha256;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let digest = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_long_key_is_hashed_first() {
        let key = [0xaau8; 131];
        let digest = hmac_sha256(
            &key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(
            hex,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn equal_values_hash_equal_and_keys_matter() {
        assert_eq!(keyed_hash(b"k", "a@b.c"), keyed_hash(b"k", "a@b.c"));
        assert_ne!(keyed_hash(b"k", "a@b.c"), keyed_hash(b"l", "a@b.c"));
        assert!(keyed_hash(b"k", "x").starts_with("hash:"));
    }
}
