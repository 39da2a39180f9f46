//! The records of one entity type (SPEC §4, after HighLevel's contact list): a table in
//! keyset pages, sorted by any indexed column, narrowed by a filter in the filter language
//! with the count of matches shown as it is typed; rows are ticked one by one, a page at a
//! time, or "all N matching" minus the rows ticked off again, and a bulk action starts from
//! what is ticked.

use askama::Template;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lethe_store::{ListQuery, MemberPick, PickSource, Record, Scope, SortOrder, StoreError, Value};
use serde::{Deserialize, Serialize};

use crate::WebState;
use crate::pages::{Frame, Section, render, store_problem};
use crate::session::{Rejection, SignedForm, SignedIn};

/// How many columns the table shows besides the id.
const SHOWN_COLUMNS: usize = 6;
/// Rows per page.
const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct RecordsQuery {
    #[serde(default)]
    filter: String,
    sort: Option<String>,
    order: Option<String>,
    cursor: Option<String>,
}

/// One column of the table.
struct Heading {
    name: String,
    /// The address that sorts by it (ascending, or descending when already ascending);
    /// `None` for a column without an index, which cannot be sorted by at scale.
    sort_link: Option<String>,
    /// `ascending`, `descending` or `none`, for `aria-sort`.
    sorted: &'static str,
}

/// One cell: its text, and where it leads for a link to another record.
pub struct Cell {
    pub text: String,
    pub link: Option<String>,
    /// A timestamp, shown in the reader's time zone by the script.
    pub time: bool,
}

struct Row {
    id: i64,
    cells: Vec<Cell>,
}

/// A filter that does not parse, shown next to the box.
struct FilterProblem {
    message: String,
}

#[derive(Template)]
#[template(path = "records.html")]
struct RecordsPage {
    frame: Frame,
    entity: String,
    description: String,
    filter: String,
    filter_problem: Option<FilterProblem>,
    headings: Vec<Heading>,
    rows: Vec<Row>,
    /// The next page's address, when there is one.
    next_page: Option<String>,
    /// The first page's address, when this is not it.
    first_page: Option<String>,
}

/// The first `how_many` columns of an entity that a person reads as values (not the type
/// half of a polymorphic link), in the schema's order: what a table of records shows.
pub fn shown_columns(entity: &lethe_schema::Entity, how_many: usize) -> Vec<String> {
    entity
        .columns
        .iter()
        .filter(|column| {
            !matches!(
                column.value_type,
                lethe_schema::ValueType::OwnerEntity { .. }
            )
        })
        .take(how_many)
        .map(|column| column.name.as_str().to_owned())
        .collect()
}

/// The records page of `entity` filtered by `filter`, in the default order.
pub fn records_address(entity: &str, filter: &str) -> String {
    address(entity, filter, "id", SortOrder::Asc, None)
}

/// The query string of the records page for this filter and sort (and page).
fn address(
    entity: &str,
    filter: &str,
    sort: &str,
    order: SortOrder,
    cursor: Option<&str>,
) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    if !filter.is_empty() {
        pairs.push(("filter", filter));
    }
    if sort != "id" {
        pairs.push(("sort", sort));
    }
    if matches!(order, SortOrder::Desc) {
        pairs.push(("order", "desc"));
    }
    if let Some(cursor) = cursor {
        pairs.push(("cursor", cursor));
    }
    let query = serde_html_form::to_string(&pairs).unwrap_or_default();
    if query.is_empty() {
        format!("/records/{entity}")
    } else {
        format!("/records/{entity}?{query}")
    }
}

/// How a value shows in a table: a reference as a link to its record, a timestamp marked
/// for the script, the rest as text (escaped by the template).
pub fn cell(state: &WebState, entity: &str, column: &str, value: Option<&Value>) -> Cell {
    let plain = |text: String| Cell {
        text,
        link: None,
        time: false,
    };
    match value {
        None | Some(Value::Null) => plain(String::new()),
        Some(Value::Timestamp(at)) => Cell {
            text: lethe_store::format_timestamp(*at),
            link: None,
            time: true,
        },
        Some(Value::Integer(id)) => match parent_of(state, entity, column) {
            Some(parent) => Cell {
                text: format!("{parent} {id}"),
                link: Some(format!("/records/{parent}/{id}")),
                time: false,
            },
            None => plain(id.to_string()),
        },
        Some(Value::Text(text)) => plain(text.clone()),
        Some(Value::Json(json)) => plain(json.to_string()),
        Some(Value::Decimal(number)) => plain(number.to_string()),
        Some(Value::Boolean(flag)) => plain(if *flag { "yes" } else { "no" }.to_owned()),
        Some(Value::Date(date)) => plain(lethe_store::format_date(*date)),
    }
}

/// The entity a reference column points into, when it is a plain (not polymorphic) one.
fn parent_of<'a>(state: &'a WebState, entity: &str, column: &str) -> Option<&'a str> {
    state
        .store
        .schema()
        .relations()
        .iter()
        .find(|relation| {
            relation.child.as_str() == entity
                && relation.column.as_str() == column
                && relation.discriminator.is_none()
        })
        .and_then(|relation| relation.parents.first())
        .map(|parent| parent.as_str())
}

fn parse_order(raw: Option<&str>) -> SortOrder {
    match raw {
        Some("desc") => SortOrder::Desc,
        _ => SortOrder::Asc,
    }
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(entity): Path<String>,
    Query(query): Query<RecordsQuery>,
) -> Result<Response, Rejection> {
    let schema_entity = match state.store.entity(&entity) {
        Ok(found) => found,
        Err(error) => return Ok(store_problem(error)),
    };
    let sortable: Vec<String> = schema_entity
        .sortable_columns()
        .map(str::to_owned)
        .collect();
    let sort = query
        .sort
        .clone()
        .filter(|sort| sortable.contains(sort))
        .unwrap_or_else(|| "id".to_owned());
    let order = parse_order(query.order.as_deref());
    let shown = shown_columns(schema_entity, SHOWN_COLUMNS);
    let filter_text = query.filter.trim().to_owned();

    let mut status = StatusCode::OK;
    let mut filter_problem = None;
    let mut page = None;
    match state.store.parse_filter(&entity, &filter_text) {
        Err(error) => {
            status = StatusCode::UNPROCESSABLE_ENTITY;
            filter_problem = Some(FilterProblem {
                message: error.to_string(),
            });
        }
        Ok(filter) => {
            let list = ListQuery {
                sort: Some(sort.clone()),
                order,
                limit: Some(PAGE_SIZE),
                cursor: query.cursor.clone(),
            };
            match state.store.select_page(&filter, Scope::Active, &list).await {
                Ok(found) => page = Some(found),
                Err(error @ StoreError::TooExpensive { .. }) => {
                    status = StatusCode::UNPROCESSABLE_ENTITY;
                    filter_problem = Some(FilterProblem {
                        message: error.to_string(),
                    });
                }
                Err(error) => return Ok(store_problem(error)),
            }
        }
    }

    let mut headings = vec![heading(&entity, &filter_text, "id", &sort, order, true)];
    for name in &shown {
        headings.push(heading(
            &entity,
            &filter_text,
            name,
            &sort,
            order,
            sortable.contains(name),
        ));
    }
    let (rows, next_page) = match &page {
        Some(page) => (
            page.records
                .iter()
                .map(|record| row(&state, &entity, &shown, record))
                .collect(),
            page.next_cursor
                .as_deref()
                .map(|cursor| address(&entity, &filter_text, &sort, order, Some(cursor))),
        ),
        None => (Vec::new(), None),
    };
    let page = RecordsPage {
        frame: Frame::of(&state, &signed_in, Section::Records).await,
        description: schema_entity.description.clone(),
        first_page: query
            .cursor
            .as_ref()
            .map(|_| address(&entity, &filter_text, &sort, order, None)),
        entity,
        filter: filter_text,
        filter_problem,
        headings,
        rows,
        next_page,
    };
    Ok(render(status, &page))
}

fn heading(
    entity: &str,
    filter: &str,
    name: &str,
    sort: &str,
    order: SortOrder,
    sortable: bool,
) -> Heading {
    let current = name == sort;
    let next_order = if current && matches!(order, SortOrder::Asc) {
        SortOrder::Desc
    } else {
        SortOrder::Asc
    };
    Heading {
        name: name.to_owned(),
        sort_link: sortable.then(|| address(entity, filter, name, next_order, None)),
        sorted: match (current, order) {
            (false, _) => "none",
            (true, SortOrder::Asc) => "ascending",
            (true, SortOrder::Desc) => "descending",
        },
    }
}

fn row(state: &WebState, entity: &str, shown: &[String], record: &Record) -> Row {
    Row {
        id: record.id,
        cells: shown
            .iter()
            .map(|column| cell(state, entity, column, record.get(column)))
            .collect(),
    }
}

/// The live count's answer: how many match, or what is wrong with the filter.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountAnswer {
    Count(u64),
    Problem(String),
}

/// The count of matches for the filter typed so far (the page's script asks as the person
/// types). A filter that does not parse is answered with its problem, at its line and column.
pub async fn count(
    State(state): State<WebState>,
    _signed_in: SignedIn,
    Path(entity): Path<String>,
    Query(query): Query<RecordsQuery>,
) -> Response {
    let filter = match state.store.parse_filter(&entity, query.filter.trim()) {
        Ok(filter) => filter,
        Err(error) => return Json(CountAnswer::Problem(error.to_string())).into_response(),
    };
    match state.store.count_matching(&filter, Scope::Active).await {
        Ok(count) => Json(CountAnswer::Count(count)).into_response(),
        Err(error @ StoreError::TooExpensive { .. }) => {
            Json(CountAnswer::Problem(error.to_string())).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "counting for the records page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(CountAnswer::Problem(
                    "the count failed on the server; the cause is in its log".to_owned(),
                )),
            )
                .into_response()
        }
    }
}

/// What the bulk form sends: the filter the table shows, the rows ticked, or "all matching"
/// with the rows ticked off again, and the action chosen.
#[derive(Debug, Deserialize)]
pub struct BulkFields {
    #[serde(default)]
    filter: String,
    #[serde(default)]
    all_matching: String,
    #[serde(default)]
    id: Vec<i64>,
    /// The ids ticked off after "select all matching", comma-separated (written by the
    /// script).
    #[serde(default)]
    except: String,
    #[serde(default)]
    action: String,
}

/// Freezes what was ticked into a snapshot and leads to the chosen action's preview (what
/// is confirmed later is exactly what this froze), or to its download for an export.
pub async fn bulk(
    State(state): State<WebState>,
    Path(entity): Path<String>,
    SignedForm { signed_in, form }: SignedForm<BulkFields>,
) -> Result<Response, Rejection> {
    let filter = match state.store.parse_filter(&entity, form.filter.trim()) {
        Ok(filter) => filter,
        Err(error) => return Ok(store_problem(error)),
    };
    let action = match form.action.as_str() {
        "trash" => "trash",
        "update" => "update",
        "anonymize" => "anonymize",
        "export-csv" => "export?format=csv",
        "export-ndjson" => "export?format=ndjson",
        "export-csv-related" => "export?format=csv&related=true",
        "export-ndjson-related" => "export?format=ndjson&related=true",
        _ => {
            return Ok(store_problem(StoreError::BadRequest(
                "choose an action from the bulk actions menu".to_owned(),
            )));
        }
    };
    let all_matching = form.all_matching == "1";
    let mut exclude = Vec::new();
    for part in form
        .except
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        match part.parse::<i64>() {
            Ok(id) => exclude.push(id),
            Err(_) => {
                return Ok(store_problem(StoreError::BadRequest(format!(
                    "`{part}` in the ticked-off rows is not a record id"
                ))));
            }
        }
    }
    if !all_matching && form.id.is_empty() {
        return Ok(store_problem(StoreError::BadRequest(
            "tick at least one record, or select all matching, before choosing an action"
                .to_owned(),
        )));
    }
    let pick = MemberPick {
        entity: entity.clone(),
        source: PickSource::Filter(filter),
        all_matching,
        include: if all_matching { Vec::new() } else { form.id },
        exclude,
        scope: Scope::Active,
    };
    let snapshot = match state
        .store
        .create_snapshot(&pick, "picked on the records page", Some(signed_in.user.id))
        .await
    {
        Ok(snapshot) => snapshot,
        Err(error) => return Ok(store_problem(error)),
    };
    Ok(Redirect::to(&format!("/snapshots/{}/{action}", snapshot.id)).into_response())
}
