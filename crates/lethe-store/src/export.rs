//! Exporting records (SPEC §6, "export before delete"): the records a filter, a snapshot or
//! a deletion batch holds, read a page at a time in id order, so that the caller writes
//! each page out before the next is read and memory stays the same whatever the number.
//! The caller stops when it likes (a client that went away); [`Export::finish`] writes who
//! exported what and how many to the history, never a value.
//!
//! With related records, the export also gives every record that points at the members
//! through the schema's relations, directly or through others (`lethe_plan::related`), an
//! entity at a time, parents first. Such an export reads in one transaction (one snapshot of
//! the data on PostgreSQL, one read transaction on SQLite), and the ids of each entity's
//! records are kept once in a temporary table of that transaction and read back a page at a
//! time, so that a page never evaluates the selection again.

use lethe_filter::Filter;
use lethe_plan::Reach;
use lethe_schema::builtin;
use sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use sqlx::Pool;
use time::OffsetDateTime;

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::kept::keep_ids;
use crate::lifecycle::paths::{StepFilter, reached_by};
use crate::records::{Record, decode_record, selected_columns};
use crate::select::{Scope, scope_condition};
use crate::users::Actor;
use crate::{Pools, Store, dispatch};

/// How many records one page of an export reads.
pub const EXPORT_PAGE: u64 = 1_000;

/// What an export takes its records from.
#[derive(Debug, Clone)]
pub enum ExportSource {
    /// The records of the filter's entity that match it, in the scope asked for.
    Filter(Filter),
    /// The members of a snapshot, in whatever state they are now (and still exist).
    Snapshot(i64),
    /// The records of the entity that a deletion batch put in the trash and that are there
    /// still: what a purge of it would erase.
    Batch(i64),
    /// The contacts that are one person, in the trash or not: everything held about them
    /// comes with their related records.
    Person(PersonKey),
}

/// Who a person is: every contact with an address (ignoring case and surrounding spaces), or
/// one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonKey {
    Email(String),
    Contact(i64),
}

/// The entity that holds people, and its address field.
const PERSON: &str = "contact";
const ADDRESS: &str = "email";

/// An export under way: [`Export::next_page`] until it gives `None`, then
/// [`Export::finish`].
#[derive(Debug)]
pub struct Export {
    store: Store,
    entity: String,
    source: ExportSource,
    scope: Scope,
    /// What the records were taken from, in words without personal values (for the history).
    described: String,
    actor: Actor,
    now: OffsetDateTime,
    /// The members' entity first, then the related ones (with related records).
    sections: Vec<Section>,
    /// The section being read.
    current: usize,
    /// The transaction an export with related records reads in.
    held: Option<Held>,
}

/// The records of one entity in an export.
#[derive(Debug)]
struct Section {
    entity: String,
    /// How the records are reached from the members; none for the members themselves.
    paths: Vec<Reach>,
    /// The id of the last record read.
    after: i64,
    read: u64,
    /// Whether its first page was given (a section gives one even when it is empty).
    started: bool,
    done: bool,
    /// How many ids were kept for it, once kept (with related records).
    kept: Option<u64>,
}

enum Held {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held(transaction)")
    }
}

/// A page of an export: records of one entity.
#[derive(Debug)]
pub struct ExportPage {
    pub entity: String,
    pub records: Vec<Record>,
}

/// The temporary table that keeps the ids of section `index`.
fn kept_table(index: usize) -> String {
    format!("lethe_export_{index}")
}

impl Store {
    /// Starts exporting the records of `entity` that `source` holds in `scope` (a snapshot's
    /// or batch's members are taken as they are; `scope` narrows a filter's), as `actor`;
    /// with the records `related` to them when asked.
    pub async fn start_export(
        &self,
        entity: &str,
        source: ExportSource,
        scope: Scope,
        related: bool,
        actor: &Actor,
    ) -> Result<Export, StoreError> {
        self.entity(entity)?;
        let key = self.history_key();
        let described = match &source {
            ExportSource::Filter(filter) => {
                if filter.entity().as_str() != entity {
                    return Err(StoreError::BadRequest(format!(
                        "the filter is for {}, not {entity}",
                        filter.entity()
                    )));
                }
                lethe_domain::policy::export_records(actor, scope != Scope::Active)?;
                if filter.is_all() {
                    "every record".to_owned()
                } else {
                    format!(
                        "filter: {}",
                        filter.to_redacted_text(self.schema(), &|value| {
                            crate::redact::filter_tag(&key, value)
                        })
                    )
                }
            }
            ExportSource::Snapshot(id) => {
                self.snapshot_for(*id, actor).await?;
                lethe_domain::policy::export_records(actor, false)?;
                format!("snapshot {id}")
            }
            ExportSource::Batch(id) => {
                let batch = self.deletion_batch(*id).await?;
                lethe_domain::policy::see_deletion_batch(actor, *id, batch.created_by)?;
                lethe_domain::policy::export_records(actor, true)?;
                format!("deletion batch {id}")
            }
            ExportSource::Person(key) => {
                lethe_domain::policy::export_person(actor)?;
                self.check_person(entity, key).await?
            }
        };
        let section = |entity: &str, paths: Vec<Reach>| Section {
            entity: entity.to_owned(),
            paths,
            after: 0,
            read: 0,
            started: false,
            done: false,
            kept: None,
        };
        let mut sections = vec![section(entity, Vec::new())];
        let mut held = None;
        if related {
            let found = lethe_plan::related(self.schema(), entity)
                .map_err(|error| StoreError::BadRequest(error.to_string()))?;
            sections.extend(
                found
                    .into_iter()
                    .map(|related| section(related.entity.as_str(), related.paths)),
            );
            held = Some(match &self.inner.pools {
                Pools::Sqlite(pool) => Held::Sqlite(pool.begin().await?),
                Pools::Postgres(pool) => {
                    let mut transaction = pool.begin().await?;
                    // One snapshot of the data for every entity.
                    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                        .execute(&mut *transaction)
                        .await?;
                    Held::Postgres(transaction)
                }
            });
        }
        Ok(Export {
            store: self.clone(),
            entity: entity.to_owned(),
            source,
            scope,
            described,
            actor: actor.clone(),
            now: self.now(),
            sections,
            current: 0,
            held,
        })
    }
}

impl Export {
    /// The columns of each record of `entity`, in the order [`Export::with_cells`] gives their
    /// values: the built-in ones, then the entity's fields.
    pub fn columns(&self, entity: &str) -> Vec<String> {
        let Ok(entity) = self.store.entity(entity) else {
            return Vec::new();
        };
        [
            builtin::ID,
            builtin::CREATED_AT,
            builtin::CREATED_BY,
            builtin::UPDATED_AT,
        ]
        .iter()
        .map(|name| (*name).to_owned())
        .chain(entity.columns.iter().map(|column| column.name.to_string()))
        .collect()
    }

    /// Hands `write` the values of `record` in the order of [`Export::columns`], borrowed
    /// (nothing is copied but the four built-in values).
    pub fn with_cells<T>(
        record: &Record,
        write: impl FnOnce(&mut dyn Iterator<Item = &crate::Value>) -> T,
    ) -> T {
        let head = [
            crate::Value::Integer(record.id),
            crate::Value::Timestamp(record.created_at),
            record
                .created_by
                .map_or(crate::Value::Null, crate::Value::Integer),
            crate::Value::Timestamp(record.updated_at),
        ];
        let mut cells = head
            .iter()
            .chain(record.values.iter().map(|(_, value)| value));
        write(&mut cells)
    }

    /// The entity exported (the members').
    pub fn entity(&self) -> &str {
        &self.entity
    }

    /// When the export started (the store's clock).
    pub fn started_at(&self) -> OffsetDateTime {
        self.now
    }

    /// How many records of each entity the export holds, the members' first (with related
    /// records; without, the members' count is not known ahead and `None` is given). The
    /// preview of what a person's erasure would reach, and the total of a progress bar.
    pub async fn tally(&mut self) -> Result<Option<Vec<(String, u64)>>, StoreError> {
        let Some(mut held) = self.held.take() else {
            return Ok(None);
        };
        let mut result = Ok(());
        for index in 0..self.sections.len() {
            if self.sections[index].kept.is_some() {
                continue;
            }
            let kept = match &mut held {
                Held::Sqlite(transaction) => {
                    self.keep::<sqlx::Sqlite>(&mut **transaction, index).await
                }
                Held::Postgres(transaction) => {
                    self.keep::<sqlx::Postgres>(&mut **transaction, index).await
                }
            };
            match kept {
                Ok(count) => self.sections[index].kept = Some(count),
                Err(error) => {
                    result = Err(error);
                    break;
                }
            }
        }
        self.held = Some(held);
        result?;
        Ok(Some(
            self.sections
                .iter()
                .map(|section| (section.entity.clone(), section.kept.unwrap_or(0)))
                .collect(),
        ))
    }

    /// Whether the export holds several entities (the members' and related ones).
    pub fn several(&self) -> bool {
        self.held.is_some()
    }

    /// How many records were read so far, of every entity.
    pub fn read(&self) -> u64 {
        self.sections.iter().map(|section| section.read).sum()
    }

    /// How many related records were read so far, per entity (none without related).
    pub fn related_read(&self) -> Vec<(String, u64)> {
        self.sections
            .iter()
            .skip(1)
            .map(|section| (section.entity.clone(), section.read))
            .collect()
    }

    /// The next page of records, in id order within each entity, or `None` when all were
    /// read. The first page of each entity comes even when it is empty.
    pub async fn next_page(&mut self) -> Result<Option<ExportPage>, StoreError> {
        let Some(section) = self.sections.get(self.current) else {
            return Ok(None);
        };
        let entity = section.entity.clone();
        let first = !section.started;
        let records = match self.held.take() {
            None => {
                let store = self.store.clone();
                dispatch!(store, pool => page::<_>(pool, &store, self).await)?
            }
            Some(mut held) => {
                let read = match &mut held {
                    Held::Sqlite(transaction) => {
                        self.kept_page::<sqlx::Sqlite>(&mut **transaction).await
                    }
                    Held::Postgres(transaction) => {
                        self.kept_page::<sqlx::Postgres>(&mut **transaction).await
                    }
                };
                self.held = Some(held);
                read?
            }
        };
        let section = &mut self.sections[self.current];
        section.started = true;
        section.read += records.len() as u64;
        if let Some(last) = records.last() {
            section.after = last.id;
        }
        if (records.len() as u64) < EXPORT_PAGE {
            section.done = true;
            self.current += 1;
        }
        if records.is_empty() && !first {
            return Box::pin(self.next_page()).await;
        }
        Ok(Some(ExportPage { entity, records }))
    }

    /// A page of the current section from its kept ids, kept first when it starts.
    async fn kept_page<DB: Dialect>(
        &mut self,
        connection: &mut DB::Connection,
    ) -> Result<Vec<Record>, StoreError> {
        let index = self.current;
        if self.sections[index].kept.is_none() {
            let count = self.keep::<DB>(connection, index).await?;
            self.sections[index].kept = Some(count);
        }
        let section = &self.sections[index];
        let entity = self.store.entity(&section.entity)?;
        let kept = kept_table(index);
        // The page's ids first (at most a page, which the planner knows), then their
        // records by primary key: a join of the kept table with the entity's, paged by a
        // bound value, was planned as a scan of the whole entity on PostgreSQL (0.5 s a page).
        let page_ids = Query::select()
            .column(Alias::new(builtin::ID))
            .from(Alias::new(kept.as_str()))
            .and_where(Expr::col(Alias::new(builtin::ID)).gt(section.after))
            .order_by(Alias::new(builtin::ID), Order::Asc)
            .limit(EXPORT_PAGE)
            .to_owned();
        let mut query = Query::select();
        query
            .columns(selected_columns(entity))
            .from_as(Alias::new(entity.name.as_str()), Alias::new("t0"))
            .and_where(Expr::col((Alias::new("t0"), Alias::new(builtin::ID))).in_subquery(page_ids))
            .order_by((Alias::new("t0"), Alias::new(builtin::ID)), Order::Asc);
        let (sql, values) = DB::build(&query);
        let rows = DB::fetch_all(connection, sql, values).await?;
        rows.iter()
            .map(|row| decode_record::<DB>(entity, row).map(|(record, _)| record))
            .collect()
    }

    /// Keeps the ids of section `index`'s records in its temporary table: how many.
    async fn keep<DB: Dialect>(
        &self,
        connection: &mut DB::Connection,
        index: usize,
    ) -> Result<u64, StoreError> {
        let ids = if index == 0 {
            let entity = self.store.entity(&self.entity)?;
            let mut members = Query::select();
            members
                .expr(Expr::col((Alias::new("t0"), Alias::new(builtin::ID))))
                .from_as(Alias::new(entity.name.as_str()), Alias::new("t0"))
                .and_where(source_condition::<DB>(self)?);
            members
        } else {
            self.related_ids(index)
        };
        Ok(keep_ids::<DB>(connection, &kept_table(index), ids).await?.0)
    }

    /// The ids of section `index`'s records: those that any of its paths reaches from the
    /// kept members. A filter of active records follows active ones only; an export that
    /// may hold the trash follows records in any state.
    fn related_ids(&self, index: usize) -> SelectStatement {
        let section = &self.sections[index];
        let members = Query::select()
            .column(Alias::new(builtin::ID))
            .from(Alias::new(kept_table(0).as_str()))
            .to_owned();
        let (steps, scope) = match (&self.source, self.scope) {
            (ExportSource::Batch(_) | ExportSource::Person(_), _)
            | (ExportSource::Filter(_), Scope::Trashed | Scope::All) => {
                (StepFilter::Any, Scope::All)
            }
            _ => (StepFilter::Active, Scope::Active),
        };
        // One select per path, united: an `OR` of `IN` subqueries is run by PostgreSQL as
        // a subquery per row once the members outgrow `work_mem` (minutes at 465,000
        // members), where each path alone is a hash join.
        let mut selects = section.paths.iter().map(|reach| {
            let mut ids = Query::select();
            ids.column(Alias::new(builtin::ID))
                .from(Alias::new(section.entity.as_str()))
                .and_where(reached_by(reach, members.clone(), steps));
            if let Some(condition) = scope_condition(section.entity.as_str(), scope) {
                ids.and_where(condition);
            }
            ids
        });
        let mut ids = selects.next().unwrap_or_else(|| {
            Query::select()
                .column(Alias::new(builtin::ID))
                .from(Alias::new(section.entity.as_str()))
                .and_where(Expr::cust("1 = 0"))
                .to_owned()
        });
        for select in selects {
            ids.union(sea_query::UnionType::Distinct, select);
        }
        ids
    }

    /// Records the export in the history: who, what, in which format, how many records (and
    /// how many related ones of each entity), and whether it ran to the end (`complete`) or
    /// was stopped (a client that went away). Text cells a spreadsheet would have run,
    /// prefixed so it shows them as text: `guarded`.
    pub async fn finish(
        mut self,
        format: &str,
        complete: bool,
        guarded: u64,
    ) -> Result<i64, StoreError> {
        // Reading is over: the transaction goes, and its temporary tables with it.
        match self.held.take() {
            Some(Held::Sqlite(transaction)) => transaction.rollback().await?,
            Some(Held::Postgres(transaction)) => transaction.rollback().await?,
            None => {}
        }
        let scope = match self.source {
            ExportSource::Filter(_) => Some(self.scope.as_str()),
            _ => None,
        };
        let mut details = serde_json::json!({
            "source": self.described,
            "scope": scope,
            "format": format,
            "records": self.sections[0].read,
            "complete": complete,
            "formula_cells_guarded": guarded,
        });
        if self.sections.len() > 1 {
            details["related"] = self
                .related_read()
                .into_iter()
                .map(|(entity, read)| (entity, serde_json::Value::from(read)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        self.store
            .record_history(&self.actor, "records.exported", Some(&self.entity), details)
            .await
    }
}

/// The condition on `t0` (the members' table) that a record is one of the export's members.
fn source_condition<DB: Dialect>(export: &Export) -> Result<Expr, StoreError> {
    let id = || Expr::col((Alias::new("t0"), Alias::new(builtin::ID)));
    Ok(match &export.source {
        ExportSource::Filter(filter) => {
            crate::select::filter_condition::<DB>(filter, export.scope, export.now)?
        }
        ExportSource::Snapshot(snapshot) => id().in_subquery(
            Query::select()
                .column(Alias::new("record_id"))
                .from(Alias::new("lethe_snapshot_member"))
                .and_where(Expr::col(Alias::new("snapshot_id")).eq(*snapshot))
                .to_owned(),
        ),
        ExportSource::Batch(batch) => {
            let in_batch =
                Expr::col((Alias::new("t0"), Alias::new(builtin::TRASH_BATCH_ID))).eq(*batch);
            match scope_condition("t0", Scope::Trashed) {
                Some(trashed) => in_batch.and(trashed),
                None => in_batch,
            }
        }
        ExportSource::Person(key) => person_condition(key),
    })
}

/// The condition on `t0` (contacts) that a record is the person `key` names, in any state.
fn person_condition(key: &PersonKey) -> Expr {
    let is = match key {
        PersonKey::Email(address) => Expr::expr(sea_query::Func::lower(
            sea_query::Func::cust(Alias::new("TRIM"))
                .arg(Expr::col((Alias::new("t0"), Alias::new(ADDRESS)))),
        ))
        .eq(address.trim().to_lowercase()),
        PersonKey::Contact(id) => Expr::col((Alias::new("t0"), Alias::new(builtin::ID))).eq(*id),
    };
    match scope_condition("t0", Scope::All) {
        Some(real) => is.and(real),
        None => is,
    }
}

impl Store {
    /// Checks that `key` names a person who has contacts (in the trash or not) and says who
    /// for the history, without personal values: the address as a keyed tag.
    async fn check_person(&self, entity: &str, key: &PersonKey) -> Result<String, StoreError> {
        if entity != PERSON || self.schema().entity(PERSON).is_none() {
            return Err(StoreError::BadRequest(format!(
                "everything about a person starts at their {PERSON} records, not at {entity}"
            )));
        }
        let (described, missing) = match key {
            PersonKey::Email(address) => {
                let address = lethe_domain::request::check_email(address)
                    .map_err(|message| StoreError::invalid_option("email", message))?;
                if self.entity(PERSON)?.column(ADDRESS).is_none() {
                    return Err(StoreError::invalid_option(
                        "email",
                        format!(
                            "{PERSON} records have no {ADDRESS} field: find the person by --contact"
                        ),
                    ));
                }
                (
                    format!("person: {PERSON} records with address {}", self.request_tag_of(&address)?),
                    "no contact, active or in the trash, has this address; check its spelling, or find the person with `lethe select contact`".to_owned(),
                )
            }
            PersonKey::Contact(id) => (
                format!("person: {PERSON} {id}"),
                format!(
                    "contact {id} does not exist (neither active nor in the trash); find the person with `lethe select contact`"
                ),
            ),
        };
        let found = dispatch!(self, pool => count_person::<_>(pool, key).await)?;
        if found == 0 {
            return Err(StoreError::NamedNotFound(missing));
        }
        Ok(described)
    }
}

async fn page<DB: Dialect>(
    pool: &Pool<DB>,
    store: &Store,
    export: &Export,
) -> Result<Vec<Record>, StoreError> {
    let entity = store.entity(&export.entity)?;
    let id = || Expr::col((Alias::new("t0"), Alias::new(builtin::ID)));
    let after = export.sections[0].after;
    let mut query = Query::select();
    query
        .columns(selected_columns(entity))
        .from_as(Alias::new(entity.name.as_str()), Alias::new("t0"))
        .and_where(id().gt(after))
        .and_where(source_condition::<DB>(export)?)
        .order_by((Alias::new("t0"), Alias::new(builtin::ID)), Order::Asc)
        .limit(EXPORT_PAGE);
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(&query);
    let rows = DB::fetch_all(&mut connection, sql, values).await?;
    rows.iter()
        .map(|row| decode_record::<DB>(entity, row).map(|(record, _)| record))
        .collect()
}

async fn count_person<DB: Dialect>(pool: &Pool<DB>, key: &PersonKey) -> Result<u64, StoreError> {
    let mut connection = pool.acquire().await?;
    crate::select::count_where::<DB>(&mut connection, PERSON, person_condition(key)).await
}
