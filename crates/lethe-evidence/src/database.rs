//! The SQLite half of an erasure receipt (SPEC §6, §12): after a purge, look for the erased
//! values in the database's files, explain a value that is found only when a query shows a
//! record that was not erased holding it, remove what nothing explains, and say what was
//! checked, what was not, and why.
//!
//! The files are read by another process ([`crate::scan::read_in_other_process`]); which
//! pages are free and which table or index holds a page comes from SQLite itself (`dbstat`).
//! Copies a purge can leave behind: free pages and the end of the file, the write-ahead log,
//! and pages in use that no record explains — planner statistics (`sqlite_stat4` keeps
//! sample keys of every index), or unused space inside a page. The remedy for residue is to
//! rebuild what holds it: the statistics of the touched tables (`ANALYZE`) and the file
//! (`VACUUM`), then the scan runs again over the residue, and what is still found is
//! reported as such.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lethe_schema::{Schema, ValueType, builtin};
use sea_query::{Alias, Expr, Order, Query, Values};
use sea_query_sqlx::SqlxValues;
use sqlx::Pool;

use crate::scan::{FreeSpace, Hit, IN_FREE_SPACE, Needles};
use lethe_db::StoreError;
use lethe_db::dialect::{Dialect, quoted};
use lethe_db::rows;

/// Rows read per statement when the records that were not erased are searched for found
/// values.
const ROWS_PER_READ: u64 = 10_000;

/// The most residue places a receipt lists.
const MAX_LISTED_PLACES: usize = 100;

/// A value Lethe keeps on purpose outside the records, and why: the address an open erasure
/// or access request was registered with, kept until the request is closed. An erased value
/// equal to it, or inside it, is explained by it rather than reported as residue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptOnPurpose {
    pub value: String,
    /// Where and why, for the receipt: `lethe_request.subject_email (open request 4, …)`.
    pub why: String,
}

/// What was not looked for, and why.
#[derive(Debug, Default, Clone, Copy)]
pub struct NotChecked {
    /// Values shorter than the scan's shortest (a find would prove nothing).
    pub too_short: u64,
    /// Values past the bound a run keeps in memory.
    pub over_limit: u64,
}

fn no_values() -> SqlxValues {
    SqlxValues(Values(Vec::new()))
}

/// Runs a truncating checkpoint; `true` when it emptied the log.
async fn checkpoint<DB: Dialect>(connection: &mut DB::Connection) -> Result<bool, StoreError> {
    // One row: busy (1 when the checkpoint could not complete), log frames, frames
    // checkpointed.
    let row = DB::fetch_optional(
        connection,
        "PRAGMA wal_checkpoint(TRUNCATE)".to_owned(),
        no_values(),
    )
    .await?;
    Ok(match row {
        Some(row) => rows::int::<DB>(&row, 0)? == Some(0),
        None => false,
    })
}

/// Which parts of the database file are free space, asked of SQLite itself: the pages
/// `dbstat` finds in no table or index, and everything past the last page.
async fn free_space<DB: Dialect>(connection: &mut DB::Connection) -> Result<FreeSpace, StoreError> {
    let page_size = number::<DB>(connection, "PRAGMA page_size").await?;
    let pages = number::<DB>(connection, "PRAGMA page_count").await?;
    // One row per 32 pages (bounded by the file's size, not by what was erased); a page is
    // in `dbstat` once, so the sum of its bits is their union.
    let found = DB::fetch_all(
        connection,
        "SELECT (pageno - 1) / 32, SUM(1 << ((pageno - 1) % 32)) FROM dbstat GROUP BY 1".to_owned(),
        no_values(),
    )
    .await?;
    let mut used = Vec::with_capacity(found.len());
    for row in &found {
        let word = rows::int::<DB>(row, 0)?.unwrap_or(-1);
        let bits = rows::int::<DB>(row, 1)?.unwrap_or(0);
        if let (Ok(word), Ok(bits)) = (u64::try_from(word), u32::try_from(bits)) {
            used.push((word, bits));
        }
    }
    Ok(FreeSpace::from_used_pages(
        u64::try_from(page_size).unwrap_or(0),
        u64::try_from(pages).unwrap_or(0),
        used,
    ))
}

async fn number<DB: Dialect>(
    connection: &mut DB::Connection,
    sql: &str,
) -> Result<i64, StoreError> {
    let row = DB::fetch_optional(connection, sql.to_owned(), no_values()).await?;
    Ok(match row {
        Some(row) => rows::int::<DB>(&row, 0)?.unwrap_or(0),
        None => 0,
    })
}

/// What one pass over the files found: per value, in the database file and in the log.
struct Found {
    database: Vec<Hit>,
    wal: Vec<Hit>,
    files: Vec<serde_json::Value>,
}

impl Found {
    fn any(&self, index: usize) -> bool {
        self.database.get(index).is_some_and(|hit| hit.seen != 0)
            || self.wal.get(index).is_some_and(|hit| hit.seen != 0)
    }
}

/// Scans the database file and its log for `values` (blocking: file reading).
fn scan_files(
    database: &Path,
    space: FreeSpace,
    values: &[String],
    wal_emptied: bool,
) -> Result<Found, StoreError> {
    let wal = wal_path(database);
    let needles = Needles::new(values);
    let mut found = Found {
        database: vec![Hit::default(); values.len()],
        wal: vec![Hit::default(); values.len()],
        files: Vec::new(),
    };
    // A log the checkpoint emptied holds only what others wrote since: data in use.
    // Otherwise everything in it is counted as free space.
    let wal_space = if wal_emptied {
        FreeSpace::none()
    } else {
        FreeSpace::everything()
    };
    for (file, space, hits) in [
        (database.to_path_buf(), &space, &mut found.database),
        (wal, &wal_space, &mut found.wal),
    ] {
        let started = std::time::Instant::now();
        let bytes = needles.scan_file(&file, space, hits).map_err(|error| {
            StoreError::Internal(format!("reading {}: {error}", file.display()))
        })?;
        if let Some(bytes) = bytes {
            found.files.push(serde_json::json!({
                "file": file.display().to_string(),
                "bytes": bytes,
                "ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            }));
        }
    }
    Ok(found)
}

fn wal_path(database: &Path) -> PathBuf {
    let mut wal = database.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Which of `values` a record that was not erased holds, in any text column of any entity
/// (the "Deleted User" placeholder aside): equal to the value, or containing it. Returns, by
/// index, `entity.column` of one holder; a value Lethe keeps on purpose (`kept`) is explained
/// by its reason first.
///
/// Every text column of every entity is read once, in pages of [`ROWS_PER_READ`] rows in id
/// order, and every cell is looked up among the values (equality) and searched for them (the
/// scanner of the files, on the cell's text): the cost grows with the data, not with the
/// data times the values, and no value goes unchecked. Memory holds one page of rows.
async fn held_by_kept_records<DB: Dialect>(
    connection: &mut DB::Connection,
    schema: &Schema,
    values: &[(usize, &str)],
    kept: &[KeptOnPurpose],
) -> Result<HashMap<usize, String>, StoreError> {
    let mut held = HashMap::new();
    if values.is_empty() {
        return Ok(held);
    }
    let texts: Vec<String> = values
        .iter()
        .map(|(_, value)| (*value).to_owned())
        .collect();
    let needles = Needles::new(&texts);
    let equal: HashMap<&str, usize> = texts
        .iter()
        .enumerate()
        .map(|(position, value)| (value.as_str(), position))
        .collect();
    let mut holder: Vec<Option<String>> = vec![None; texts.len()];
    let mut left = texts.len();
    for kept in kept {
        let mut mark = |position: usize| {
            if let Some(slot) = holder.get_mut(position)
                && slot.is_none()
            {
                *slot = Some(kept.why.clone());
                left -= 1;
            }
        };
        if let Some(&position) = equal.get(kept.value.as_str()) {
            mark(position);
        }
        needles.each_in(kept.value.as_bytes(), |position, _| mark(position));
    }
    for entity in schema.entities() {
        let columns: Vec<&str> = entity
            .columns
            .iter()
            .filter(|column| matches!(column.value_type, ValueType::Text | ValueType::Json))
            .map(|column| column.name.as_str())
            .collect();
        if columns.is_empty() {
            continue;
        }
        let mut after = i64::MIN;
        while left > 0 {
            let id = || Expr::col(Alias::new(builtin::ID));
            let mut select = Query::select();
            select.expr(id());
            for column in &columns {
                // Identifiers come from the validated schema and may be reserved words;
                // PostgreSQL keeps JSON as jsonb, read here as its text.
                select.expr(Expr::cust(format!("CAST({} AS TEXT)", quoted(column))));
            }
            select
                .from(Alias::new(entity.name.as_str()))
                .and_where(sea_query::ExprTrait::gt(id(), after))
                .and_where(sea_query::ExprTrait::ne(
                    id(),
                    lethe_db::placeholder::PLACEHOLDER_ID,
                ))
                .order_by(Alias::new(builtin::ID), Order::Asc)
                .limit(ROWS_PER_READ);
            let (sql, bound) = DB::build(&select);
            let page = DB::fetch_all(connection, sql, bound).await?;
            let Some(last) = page.last() else { break };
            after = rows::int::<DB>(last, 0)?.unwrap_or(i64::MAX);
            for row in &page {
                for (offset, column) in columns.iter().enumerate() {
                    let Some(cell) = rows::text::<DB>(row, offset + 1)? else {
                        continue;
                    };
                    let mut mark = |position: usize, within: bool| {
                        if let Some(slot) = holder.get_mut(position)
                            && slot.is_none()
                        {
                            *slot = Some(if within {
                                format!("{}.{column} (within a longer value)", entity.name)
                            } else {
                                format!("{}.{column}", entity.name)
                            });
                            left -= 1;
                        }
                    };
                    if let Some(&position) = equal.get(cell.as_str()) {
                        mark(position, false);
                    }
                    needles.each_in(cell.as_bytes(), |position, _| {
                        let whole = texts
                            .get(position)
                            .is_some_and(|value| value.len() == cell.len());
                        mark(position, !whole);
                    });
                }
            }
            if page.len() < ROWS_PER_READ as usize {
                break;
            }
        }
    }
    for ((index, _), found) in values.iter().zip(holder) {
        if let Some(found) = found {
            held.insert(*index, found);
        }
    }
    Ok(held)
}

/// Where one residue value was found first: file, offset, and for the database file the
/// page and what it belongs to.
struct Place {
    in_wal: bool,
    offset: u64,
    free: bool,
}

fn places(found: &Found, residue: &[usize]) -> Vec<Place> {
    let mut places = Vec::new();
    for &index in residue {
        for (in_wal, hit) in [
            (false, found.database.get(index)),
            (true, found.wal.get(index)),
        ] {
            let Some(hit) = hit else { continue };
            if hit.first_in_use != u64::MAX {
                places.push(Place {
                    in_wal,
                    offset: hit.first_in_use,
                    free: false,
                });
            }
            if hit.first_free != u64::MAX {
                places.push(Place {
                    in_wal,
                    offset: hit.first_free,
                    free: true,
                });
            }
        }
    }
    places.truncate(MAX_LISTED_PLACES);
    places
}

/// What the pages holding `places` belong to (the table or index name `dbstat` gives).
async fn page_owners<DB: Dialect>(
    connection: &mut DB::Connection,
    page_size: u64,
    places: &[Place],
) -> Result<HashMap<u64, String>, StoreError> {
    let pages: Vec<String> = places
        .iter()
        .filter(|place| !place.in_wal && !place.free)
        .map(|place| (place.offset / page_size.max(1) + 1).to_string())
        .collect();
    let mut owners = HashMap::new();
    if pages.is_empty() {
        return Ok(owners);
    }
    let rows = DB::fetch_all(
        connection,
        format!(
            "SELECT pageno, name FROM dbstat WHERE pageno IN ({})",
            pages.join(", ")
        ),
        no_values(),
    )
    .await?;
    for row in &rows {
        if let (Some(page), Some(name)) = (rows::int::<DB>(row, 0)?, rows::text::<DB>(row, 1)?) {
            owners.insert(u64::try_from(page).unwrap_or(0), name);
        }
    }
    Ok(owners)
}

fn describe(
    places: &[Place],
    page_size: u64,
    owners: &HashMap<u64, String>,
) -> Vec<serde_json::Value> {
    places
        .iter()
        .map(|place| {
            if place.in_wal {
                return serde_json::json!({"file": "write-ahead log", "offset": place.offset});
            }
            let page = place.offset / page_size.max(1) + 1;
            serde_json::json!({
                "file": "database",
                "offset": place.offset,
                "page": page,
                "in": if place.free {
                    "free space (a page no table or index uses, or past the last page)".to_owned()
                } else {
                    match owners.get(&page) {
                        Some(name) => format!("a page of {name}"),
                        None => "a page in use".to_owned(),
                    }
                },
            })
        })
        .collect()
}

/// The SQLite part of the receipt for a purge that erased `values` from the tables
/// `touched`; see the module documentation.
pub async fn sqlite_receipt<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
    database: Option<PathBuf>,
    mut values: Vec<String>,
    not_checked: NotChecked,
    touched: &[String],
    kept: &[KeptOnPurpose],
) -> Result<serde_json::Value, StoreError> {
    let started = std::time::Instant::now();
    let mut connection = pool.acquire().await?;
    let wal_emptied = checkpoint::<DB>(&mut connection).await?;
    let checkpoint_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let wal_checkpoint = if wal_emptied {
        "truncate: the write-ahead log was copied into the database and emptied"
    } else {
        "truncate did not complete (another connection held the log): the log was scanned as free space"
    };
    let not_checked_json = serde_json::json!({
        "shorter_than_bytes": crate::scan::MIN_LEN,
        "too_short": not_checked.too_short,
        "too_short_why": "a value this short turns up in unrelated data, so finding it would prove nothing; the rows that held it were overwritten with zeros (secure_delete)",
        "over_limit": not_checked.over_limit,
        "over_limit_why": "a run keeps at most 100,000 values in memory to look for",
    });
    let Some(database) = database else {
        return Ok(serde_json::json!({
            "backend": "sqlite",
            "wal_checkpoint": wal_checkpoint,
            "scan": {"skipped": "the database file is not known"},
            "values_not_checked": not_checked_json,
        }));
    };
    values.sort_unstable();
    values.dedup();
    let page_size =
        u64::try_from(number::<DB>(&mut connection, "PRAGMA page_size").await?).unwrap_or(4096);
    let space = free_space::<DB>(&mut connection).await?;
    let scan = {
        let (path, values) = (database.clone(), values.clone());
        tokio::task::spawn_blocking(move || scan_files(&path, space, &values, wal_emptied))
            .await
            .map_err(|error| StoreError::Internal(format!("the file scan stopped: {error}")))??
    };
    let found: Vec<usize> = (0..values.len()).filter(|index| scan.any(*index)).collect();
    let candidates: Vec<(usize, &str)> = found
        .iter()
        .map(|index| (*index, values[*index].as_str()))
        .collect();
    let held = held_by_kept_records::<DB>(&mut connection, schema, &candidates, kept).await?;
    let residue: Vec<usize> = found
        .iter()
        .copied()
        .filter(|index| !held.contains_key(index))
        .collect();
    let mut holders: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for holder in held.values() {
        *holders.entry(holder.as_str()).or_default() += 1;
    }
    let held_in_free_space = held
        .keys()
        .filter(|index| {
            scan.database
                .get(**index)
                .is_some_and(|hit| hit.seen & IN_FREE_SPACE != 0)
                || scan
                    .wal
                    .get(**index)
                    .is_some_and(|hit| hit.seen & IN_FREE_SPACE != 0)
        })
        .count();
    let first_places = places(&scan, &residue);
    let owners = page_owners::<DB>(&mut connection, page_size, &first_places).await?;
    let residue_places = describe(&first_places, page_size, &owners);

    // The remedy: rebuild what holds residue, then look again for it — the statistics
    // first when they hold some (cheap), the whole file only when anything is left then.
    let mut remedy = serde_json::Value::Null;
    let mut remaining: Vec<usize> = Vec::new();
    let mut remaining_places = Vec::new();
    if !residue.is_empty() {
        let remedy_started = std::time::Instant::now();
        let mut steps = Vec::new();
        let mut left: Vec<usize> = residue.clone();
        let mut in_statistics = owners.values().any(|name| name.starts_with("sqlite_stat"));
        drop(connection);
        for rebuild_file in [false, true] {
            if left.is_empty() {
                break;
            }
            let mut connection = pool.acquire().await?;
            if !rebuild_file {
                if !in_statistics {
                    continue;
                }
                for table in touched {
                    // Identifiers come from the validated schema and may be reserved words.
                    let statement = format!("ANALYZE {}", quoted(table));
                    DB::execute_plain(&mut connection, statement).await?;
                }
                in_statistics = false;
                steps.push(format!(
                    "ANALYZE of {}: the planner statistics (sample keys of every index) were taken again from the records that are left",
                    touched.join(", ")
                ));
            } else {
                DB::execute_plain(&mut connection, "VACUUM".to_owned()).await?;
                steps.push("VACUUM: the database file was rebuilt from the records that are left, without free pages".to_owned());
            }
            let emptied = checkpoint::<DB>(&mut connection).await?;
            drop(connection);
            lethe_db::ddl::forget_trash_index_statistics(pool).await?;
            let mut connection = pool.acquire().await?;
            let space = free_space::<DB>(&mut connection).await?;
            let again: Vec<String> = left.iter().map(|index| values[*index].clone()).collect();
            let rescan = {
                let (path, again) = (database.clone(), again.clone());
                tokio::task::spawn_blocking(move || scan_files(&path, space, &again, emptied))
                    .await
                    .map_err(|error| {
                        StoreError::Internal(format!("the file scan stopped: {error}"))
                    })??
            };
            let still: Vec<usize> = (0..again.len())
                .filter(|index| rescan.any(*index))
                .collect();
            let places_after = places(&rescan, &still);
            let owners_after = page_owners::<DB>(&mut connection, page_size, &places_after).await?;
            remaining_places = describe(&places_after, page_size, &owners_after);
            left = still.iter().map(|index| left[*index]).collect();
            if let Some(step) = steps.last_mut() {
                *step = format!(
                    "{step}; a scan then found {} of the residue values",
                    left.len()
                );
            }
        }
        remaining = left;
        remedy = serde_json::json!({
            "steps": steps,
            "ms": u64::try_from(remedy_started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
    let result = if residue.is_empty() {
        "every erased value that was found is held by a record that was not erased (a query found it): nothing of the erased records was left in the files"
    } else if remaining.is_empty() {
        "copies of erased values that no kept record explains were found, and are gone after the remedy: a second scan found none of them"
    } else {
        "copies of erased values that no kept record explains are still in the files after the remedy; see residue_after_remedy for where"
    };
    Ok(serde_json::json!({
        "backend": "sqlite",
        "secure_delete": "on: deleted rows are overwritten with zeros in the database and its write-ahead log",
        "wal_checkpoint": wal_checkpoint,
        "wal_checkpoint_ms": checkpoint_ms,
        "scan": {
            "files": scan.files,
            "values_checked": values.len(),
            "values_not_checked": not_checked_json,
            "values_found": found.len(),
            "explained": {
                "values": held.len(),
                "how": "a query found a record that was not erased holding the value (equal to it, or containing it), or Lethe keeps it on purpose (an open request's address, until the request is closed)",
                "by_field": holders,
                "of_them_also_in_free_space": held_in_free_space,
            },
            "residue": {
                "values": residue.len(),
                "first_places": residue_places,
            },
            "remedy": remedy,
            "residue_after_remedy": {
                "values": remaining.len(),
                "first_places": remaining_places,
            },
            "result": result,
        },
    }))
}

/// The PostgreSQL part of the evidence about planner statistics: `pg_statistic` keeps
/// samples of column values (most common values, histogram bounds) that a table rewrite
/// does not touch. The statistics of the tables the purge touched are taken again from the
/// rows that are left (`ANALYZE`), the old statistics rows are vacuumed away where Lethe's
/// role may, and `pg_stats` is then checked for every erased value.
pub async fn postgres_statistics<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
    tables: &[String],
    values: &[String],
    kept: &[KeptOnPurpose],
) -> Result<serde_json::Value, StoreError> {
    if tables.is_empty() {
        return Ok(serde_json::json!({"skipped": "the purge touched no table"}));
    }
    let mut connection = pool.acquire().await?;
    for table in tables {
        // Identifiers come from the validated schema and may be reserved words.
        DB::execute_plain(&mut connection, format!("ANALYZE {}", quoted(table))).await?;
    }
    let vacuumed = match DB::execute_plain(
        &mut connection,
        "VACUUM pg_catalog.pg_statistic".to_owned(),
    )
    .await
    {
        Ok(_) => "VACUUM of pg_statistic: the replaced statistics rows were removed".to_owned(),
        Err(error) => format!(
            "pg_statistic could not be vacuumed ({error}); its replaced rows stay in its files until PostgreSQL's autovacuum reuses the space"
        ),
    };
    // Which erased values the statistics sample. The samples are read once and matched here:
    // they are small (at most a few hundred values per column at the default statistics
    // target), while the erased values of a large purge run to hundreds of thousands, and
    // `pg_stats` is a view that costs about a second to read each time.
    let (sql, bound) = DB::build(sea_query::Query::select().expr(sea_query::Expr::cust_with_values(
        "DISTINCT sample.v FROM pg_stats s, LATERAL (SELECT v FROM unnest(COALESCE(s.most_common_vals::text::text[], '{}') || COALESCE(s.histogram_bounds::text::text[], '{}')) AS v) AS sample \
         WHERE s.schemaname = current_schema() \
         AND s.tablename IN (SELECT jsonb_array_elements_text(CAST($1 AS jsonb)))",
        [serde_json::json!(tables).to_string()],
    )));
    let erased: std::collections::HashSet<&str> = values.iter().map(String::as_str).collect();
    let mut sampled: Vec<String> = Vec::new();
    for row in DB::fetch_all(&mut connection, sql, bound).await? {
        if let Some(value) = rows::text::<DB>(&row, 0)?
            && erased.contains(value.as_str())
        {
            sampled.push(value);
        }
    }
    // A sampled value a kept record holds (a common note text, a shared company phone) is
    // explained; any other is residue.
    let candidates: Vec<(usize, &str)> = sampled
        .iter()
        .enumerate()
        .map(|(index, value)| (index, value.as_str()))
        .collect();
    let held = held_by_kept_records::<DB>(&mut connection, schema, &candidates, kept).await?;
    let found = i64::try_from(sampled.len() - held.len()).unwrap_or(i64::MAX);
    Ok(serde_json::json!({
        "analyzed": tables,
        "old_statistics": vacuumed,
        "erased_values_checked": values.len(),
        "erased_values_sampled_and_held_by_kept_records": held.len(),
        "erased_values_in_statistics": found,
        "result": if found == 0 {
            "the planner statistics (pg_stats) of the touched tables hold none of the erased values, except values kept records hold too"
        } else {
            "the planner statistics still hold erased values; run ANALYZE on the touched tables again"
        },
    }))
}
