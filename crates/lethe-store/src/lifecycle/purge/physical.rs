//! A purge's physical step and its receipt: after the last batch, the erased values are made
//! physical — SQLite: secure delete, a truncating WAL checkpoint, then a scan of the files
//! for the values (`lethe-evidence`); PostgreSQL: the touched tables are rewritten and their
//! statistics checked — and the receipt says what was done and checked, and what was not.

use lethe_plan::Plan;
use lethe_schema::Schema;
use sea_query::{Expr, Query};

use sqlx::Pool;

use crate::dialect::{Backend, Dialect, quoted};
use crate::error::StoreError;
use crate::lifecycle::Rewrite;
use crate::lifecycle::jobs::{JobRow, RunContext};
use crate::rows;

use super::files::{FileTally, erase_files};

/// How long a PostgreSQL purge waits for other sessions' snapshots to end before rewriting.
const REWRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The most erased values a run keeps in memory to look for in the database files.
const PROBE_MAX_VALUES: usize = 100_000;
/// Values shorter than this are too common to prove anything when found.
const PROBE_MIN_BYTES: usize = lethe_evidence::scan::MIN_LEN;

/// Erased values to look for in the database files after the purge (memory only).
#[derive(Debug, Default)]
pub(in crate::lifecycle) struct ErasureProbe {
    values: Vec<String>,
    /// Values not kept because the bound was reached.
    dropped: u64,
    /// Values not kept because they are too short to prove anything when found.
    too_short: u64,
    /// What became of the erased records' files.
    pub(in crate::lifecycle) files: FileTally,
}

impl ErasureProbe {
    pub(super) fn add(&mut self, value: String) {
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

/// Makes the erasure physical and says what was done and found.
pub(in crate::lifecycle) async fn make_physical<DB: Dialect>(
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
    // The addresses open requests keep on purpose explain what the scans find of them.
    let kept = crate::requests::kept_addresses::<DB>(pool).await?;
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
                &kept,
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
                pool, schema, &touched, &values, &kept,
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
