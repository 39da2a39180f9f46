//! The recycle bin (SPEC §3, after SuperOffice's and APRO's): the deletion batches still in
//! the trash — neither restored nor purged — that an actor may see, newest first, a keyset
//! page at a time, each with who trashed it, what it holds per entity type, its pending
//! purge if one is requested, and when the retention window purges it on its own.
//!
//! One statement reads a page: the batches joined with the user who trashed them and the
//! trash job that filled them (its totals are the counts per entity type). Pending purges
//! are few (one per batch at most, and an admin cancels or lets them run); they are read
//! once per page, bounded, and matched to the page's batches in memory.

use std::collections::BTreeMap;

use lethe_db::qualified;
use schemars::JsonSchema;
use sea_query::{Alias, Expr, ExprTrait, JoinType, Order, Query};
use serde::Serialize;
use time::OffsetDateTime;

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::users::Actor;
use crate::value::format_timestamp;
use crate::{BatchState, DeletionBatch, Pools, Store, dispatch, rows};

/// The most batches one page of the recycle bin holds.
pub const MAX_RECYCLE_BIN_PAGE: u64 = 200;

/// The states of a batch whose records are still in the trash.
const IN_THE_TRASH: [BatchState; 4] = [
    BatchState::Trashing,
    BatchState::Trashed,
    BatchState::PurgePending,
    BatchState::Held,
];

/// A purge requested for a batch and waiting for its grace period to end.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PendingPurge {
    /// The purge job; any admin may cancel it until it runs.
    pub job: i64,
    /// Who requested it, by name.
    pub requested_by: String,
    /// When it runs.
    #[schemars(extend("format" = "date-time"))]
    pub runs_at: String,
    /// Seconds until it runs (0 when due).
    pub seconds_left: i64,
}

/// One deletion batch in the recycle bin.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RecycleBinEntry {
    pub batch: DeletionBatch,
    /// Who trashed it, by name (`operator` for the command line or Lethe itself).
    pub trashed_by: String,
    /// The records the trash moved, per entity type (the members first, then what went
    /// with them), as the trash job counted them.
    pub trashed: BTreeMap<String, u64>,
    /// Its purge, when one is requested and pending.
    pub pending_purge: Option<PendingPurge>,
    /// When the retention window ends and the scheduler purges it on its own (a held batch
    /// is not purged again on its own: then `None`).
    #[schemars(extend("format" = "date-time"))]
    pub auto_purge_at: Option<String>,
    /// Seconds until then (0 when overdue).
    pub seconds_until_auto_purge: Option<i64>,
}

/// A page of the recycle bin, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RecycleBinPage {
    pub entries: Vec<RecycleBinEntry>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// A batch row as the page's statement reads it.
struct BinRow {
    batch: DeletionBatch,
    trashed_by: Option<String>,
    created_at: OffsetDateTime,
    trash_totals: Option<serde_json::Value>,
}

async fn page_rows<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    only_trashed_by: Option<Option<i64>>,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<BinRow>, StoreError> {
    let mut query = Query::select();
    query
        .expr(qualified("b", "id"))
        .expr(qualified("b", "entity"))
        .expr(qualified("b", "state"))
        .expr(qualified("b", "reason"))
        .expr(qualified("b", "created_at"))
        .expr(qualified("b", "created_by"))
        .expr(qualified("b", "snapshot_id"))
        .expr(qualified("b", "job_id"))
        .expr(qualified("u", "name"))
        .expr(qualified("j", "result"))
        .from_as(Alias::new("lethe_deletion_batch"), Alias::new("b"))
        .join_as(
            JoinType::LeftJoin,
            Alias::new("lethe_user"),
            Alias::new("u"),
            qualified("u", "id").equals((Alias::new("b"), Alias::new("created_by"))),
        )
        .join_as(
            JoinType::LeftJoin,
            Alias::new("lethe_job"),
            Alias::new("j"),
            qualified("j", "id").equals((Alias::new("b"), Alias::new("job_id"))),
        )
        .and_where(qualified("b", "state").is_in(IN_THE_TRASH.map(BatchState::as_str)))
        // Batches not made by a trash job (older databases) have no entity to show or purge.
        .and_where(qualified("b", "entity").is_not_null())
        .order_by((Alias::new("b"), Alias::new("id")), Order::Desc)
        .limit(limit);
    match only_trashed_by {
        None => {}
        Some(Some(user)) => {
            query.and_where(qualified("b", "created_by").eq(user));
        }
        // A user-less actor who does not see everyone's sees nothing.
        Some(None) => {
            query.and_where(Expr::cust("1 = 0"));
        }
    }
    if let Some(before) = before {
        query.and_where(qualified("b", "id").lt(before));
    }
    let (sql, values) = DB::build(&query);
    let mut connection = pool.acquire().await?;
    let found = DB::fetch_all(&mut connection, sql, values).await?;
    let mut out = Vec::with_capacity(found.len());
    for row in &found {
        let id = rows::int::<DB>(row, 0)?
            .ok_or_else(|| StoreError::Internal("a deletion batch row has no id".to_owned()))?;
        let state = BatchState::parse(&rows::text::<DB>(row, 2)?.unwrap_or_default())
            .map_err(|unknown| StoreError::Internal(format!("deletion batch {id}: {unknown}")))?;
        let created_at = rows::timestamp::<DB>(row, 4)?.ok_or_else(|| {
            StoreError::Internal(format!("deletion batch {id} has no creation time"))
        })?;
        out.push(BinRow {
            batch: DeletionBatch {
                id,
                entity: rows::text::<DB>(row, 1)?,
                state,
                reason: rows::text::<DB>(row, 3)?,
                created_at: format_timestamp(created_at),
                created_by: rows::int::<DB>(row, 5)?,
                snapshot_id: rows::int::<DB>(row, 6)?,
                job_id: rows::int::<DB>(row, 7)?,
            },
            trashed_by: rows::text::<DB>(row, 8)?,
            created_at,
            trash_totals: rows::json::<DB>(row, 9)?,
        });
    }
    Ok(out)
}

/// The counts per entity type in a trash job's stored totals (`{"counts": {…}, …}`).
fn counts_of(totals: Option<&serde_json::Value>) -> BTreeMap<String, u64> {
    totals
        .and_then(|totals| totals.get("counts"))
        .and_then(serde_json::Value::as_object)
        .map(|counts| {
            counts
                .iter()
                .filter_map(|(entity, count)| Some((entity.clone(), count.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Whole seconds from `now` to `at`, 0 when `at` has passed.
fn seconds_between(now: OffsetDateTime, at: OffsetDateTime) -> i64 {
    Ord::max((at - now).whole_seconds(), 0)
}

impl Store {
    /// A page of the recycle bin for `actor`: the deletion batches still in the trash that
    /// the policy lets them see (all for an admin, their own for a user), newest first,
    /// older than batch `before` when given, at most `limit` (1 to
    /// [`MAX_RECYCLE_BIN_PAGE`]).
    pub async fn recycle_bin(
        &self,
        actor: &Actor,
        before: Option<i64>,
        limit: u64,
    ) -> Result<RecycleBinPage, StoreError> {
        let limit = limit.clamp(1, MAX_RECYCLE_BIN_PAGE);
        let only_trashed_by =
            (!lethe_domain::policy::sees_everyones(actor)).then_some(actor.user_id);
        // One more than asked tells whether an older page exists.
        let mut found = dispatch!(self, pool => page_rows::<_>(pool, only_trashed_by, before, limit + 1).await)?;
        let more = found.len() as u64 > limit;
        found.truncate(limit as usize);
        let now = self.now();
        let retention = self.settings().retention;
        let pending: BTreeMap<i64, crate::Job> = if found
            .iter()
            .any(|row| row.batch.state == BatchState::PurgePending)
        {
            self.pending_purges()
                .await?
                .into_iter()
                .filter_map(|job| Some((job.batch_id?, job)))
                .collect()
        } else {
            BTreeMap::new()
        };
        let mut entries = Vec::with_capacity(found.len());
        for row in found {
            // The statement already narrowed the rows; the policy has the last word.
            if lethe_domain::policy::see_deletion_batch(actor, row.batch.id, row.batch.created_by)
                .is_err()
            {
                continue;
            }
            let pending_purge = pending.get(&row.batch.id).map(|job| {
                let runs_at = job
                    .not_before
                    .as_deref()
                    .and_then(|at| crate::parse_timestamp(at).ok());
                PendingPurge {
                    job: job.id,
                    requested_by: job.actor.clone(),
                    runs_at: job.not_before.clone().unwrap_or_default(),
                    seconds_left: runs_at.map_or(0, |at| seconds_between(now, at)),
                }
            });
            let auto_purge =
                (row.batch.state != BatchState::Held).then(|| row.created_at + retention);
            entries.push(RecycleBinEntry {
                trashed_by: row.trashed_by.unwrap_or_else(|| "operator".to_owned()),
                trashed: counts_of(row.trash_totals.as_ref()),
                pending_purge,
                auto_purge_at: auto_purge.map(format_timestamp),
                seconds_until_auto_purge: auto_purge.map(|at| seconds_between(now, at)),
                batch: row.batch,
            });
        }
        let next_before = if more {
            entries.last().map(|entry| entry.batch.id)
        } else {
            None
        };
        Ok(RecycleBinPage {
            entries,
            next_before,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trash_jobs_counts_are_read_from_its_totals() {
        let totals = serde_json::json!({"counts": {"contact": 3, "note": 5}, "skipped": 0});
        let counts = counts_of(Some(&totals));
        assert_eq!(counts.get("contact"), Some(&3));
        assert_eq!(counts.get("note"), Some(&5));
        assert!(counts_of(None).is_empty());
        assert!(counts_of(Some(&serde_json::json!({"counts": "damaged"}))).is_empty());
    }
}
