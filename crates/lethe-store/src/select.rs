//! Selecting on [`Store`]: parsing filters against the store's schema, counting and paging
//! what they select, and explaining the SQL. Compiling a filter into SQL is the
//! `lethe-query` crate.

pub(crate) use lethe_query::*;

use lethe_filter::Filter;

use crate::error::StoreError;
use crate::records::{ListQuery, Page};
use crate::{Pools, Store, dispatch};

impl Store {
    /// Parses a filter in its text form for `entity` against this store's schema.
    pub fn parse_filter(&self, entity: &str, text: &str) -> Result<Filter, StoreError> {
        self.entity(entity)?;
        lethe_filter::parse(self.schema(), entity, text).map_err(StoreError::from)
    }

    /// Reads a filter in its JSON form for `entity`.
    pub fn filter_from_json(
        &self,
        entity: &str,
        json: &serde_json::Value,
    ) -> Result<Filter, StoreError> {
        self.entity(entity)?;
        lethe_filter::from_json(self.schema(), entity, json).map_err(StoreError::from)
    }

    /// How many records of the filter's entity match it in `scope`.
    pub async fn count_matching(&self, filter: &Filter, scope: Scope) -> Result<u64, StoreError> {
        let now = self.now();
        let limit = self.settings().query_timeout;
        dispatch!(self, pool => count_matching::<_>(pool, filter, scope, now, limit).await)
    }

    /// One page of the records that match, sorted and paged like [`Store::list_records`].
    pub async fn select_page(
        &self,
        filter: &Filter,
        scope: Scope,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        let entity = self.entity(filter.entity().as_str())?;
        let now = self.now();
        dispatch!(self, pool => {
            let condition = compile_condition(pool, filter, scope, now)?;
            crate::records::list(pool, entity, query, condition, self.settings().query_timeout).await
        })
    }

    /// The SQL of a count of the selection, its parameters, and the database's plan for it.
    pub async fn explain(&self, filter: &Filter, scope: Scope) -> Result<Explanation, StoreError> {
        let now = self.now();
        dispatch!(self, pool => explain::<_>(pool, filter, scope, now).await)
    }
}
