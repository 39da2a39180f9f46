//! A purge batch and an anonymisation batch: erasing the members still in the deletion batch
//! with their cascade through the trash, rewriting `set_null` and `anonymize` links, and
//! overwriting personal fields by the schema's strategies (a keyed hash where asked).

use lethe_schema::{Anonymize, Entity, OnDelete, Schema, ValueType, builtin};
use sea_query::{Alias, Expr, ExprTrait, Order, Query};

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::kept::keep_ids;
use crate::lifecycle::Totals;
use crate::lifecycle::jobs::{Batch, RunContext, insert_skips};
use crate::lifecycle::paths::{StepFilter, and_all, col, link, qualified, reached_by, reached_ids};
use crate::placeholder::PLACEHOLDER_ID;
use crate::rows;
use crate::value::Value;

use super::physical::ErasureProbe;
use crate::files::STORAGE_KEY;

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

/// Personal text values of the records of `entity` matching `condition` that are about to be
/// erased or anonymised, for the scan of the database files afterwards: the members, their
/// cascade descendants and the records whose personal fields an `anonymize` link overwrites.
async fn probe_values<DB: Dialect>(
    connection: &mut DB::Connection,
    entity: &Entity,
    condition: Expr,
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
        .and_where(condition);
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

/// One batch of a purge job.
pub(in crate::lifecycle) async fn batch<DB: Dialect>(
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
            crate::lifecycle::paths::batch_is(Some("t0"), deletion_batch),
        ]);
        let rows =
            crate::lifecycle::trash::blocked_rows(plan, check, roots, batch.job, StepFilter::Any);
        insert_skips::<DB>(connection, rows).await?;
    }
    let mut totals = batch.skip_totals::<DB>(connection).await?;

    let mut erasable = Query::select();
    erasable
        .column(Alias::new(builtin::ID))
        .from(Alias::new(root))
        .and_where(id().in_subquery(batch.members()))
        .and_where(crate::lifecycle::paths::batch_is(None, deletion_batch))
        .and_where(id().not_in_subquery(batch.skipped()));
    // Derived once (members of the batch, still in the deletion batch, not skipped or
    // blocked) instead of again in every statement of the batch that needs them.
    let (_, eligible) = keep_ids::<DB>(connection, ERASABLE, erasable).await?;
    probe_values::<DB>(
        connection,
        root_entity,
        id().in_subquery(eligible.clone()),
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
                probe_values::<DB>(connection, child, condition.clone(), &mut context.probe)
                    .await?;
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
        probe_values::<DB>(connection, child, condition.clone(), &mut context.probe).await?;
        record_files::<DB>(connection, child, batch.job, condition.clone()).await?;
        let erased = Query::select()
            .column(Alias::new(builtin::ID))
            .from(Alias::new(child.name.as_str()))
            .and_where(condition.clone())
            .to_owned();
        crate::monitors::forget_records::<DB>(connection, child.name.as_str(), erased).await?;
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
    crate::monitors::forget_records::<DB>(connection, root, eligible.clone()).await?;
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
pub(in crate::lifecycle) async fn anonymize_batch<DB: Dialect>(
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
