//! The history's doors on [`Store`]: reading, verifying and anchoring the history, and
//! recording an event that is not part of a data change. The history itself (entries, seals,
//! key, anchor) is the `lethe-history` crate.

pub(crate) use lethe_history::*;

use sea_query::Order;

use crate::error::StoreError;
use crate::users::Actor;
use crate::{Pools, Store, dispatch};

impl Store {
    /// Up to `limit` entries after entry `after`, oldest first.
    pub async fn history(
        &self,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        dispatch!(self, pool => page::<_>(pool, after, Order::Asc, limit, &HistoryFilter::default()).await)
    }

    /// Up to `limit` entries before entry `before` (or the newest), newest first.
    pub async fn history_newest_first(
        &self,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        self.history_search(before, limit, &HistoryFilter::default())
            .await
    }

    /// Up to `limit` entries that `filter` lets through, before entry `before` (or the
    /// newest), newest first.
    pub async fn history_search(
        &self,
        before: Option<i64>,
        limit: u64,
        filter: &HistoryFilter,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        dispatch!(self, pool => page::<_>(pool, before, Order::Desc, limit, filter).await)
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
