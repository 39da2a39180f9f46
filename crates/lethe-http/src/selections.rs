//! Saved selections and snapshots over HTTP (SPEC §4).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lethe_store::{ListQuery, MemberPick, PickSource, Scope, SelectionDefinition, SetOperator};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::{ApiError, AppState, CurrentUser, page_json, parse_scope};

pub async fn list(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"selections": state.store.list_selections().await?}),
    ))
}

/// A new saved selection: exactly one of `filter`, `ids`, `union`, `intersection`,
/// `difference`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSelection {
    name: String,
    entity: String,
    filter: Option<Value>,
    ids: Option<Vec<i64>>,
    union: Option<Vec<String>>,
    intersection: Option<Vec<String>>,
    difference: Option<Vec<String>>,
    #[serde(default)]
    description: String,
}

/// The one definition a body gives.
fn definition(
    store: &lethe_store::Store,
    entity: &str,
    filter: Option<Value>,
    ids: Option<Vec<i64>>,
    combined: [Option<Vec<String>>; 3],
) -> Result<SelectionDefinition, ApiError> {
    let mut definitions = Vec::new();
    match filter {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => {
            definitions.push(SelectionDefinition::Dynamic(
                store.parse_filter(entity, &text)?,
            ));
        }
        Some(json) => {
            definitions.push(SelectionDefinition::Dynamic(
                store.filter_from_json(entity, &json)?,
            ));
        }
    }
    if let Some(ids) = ids {
        definitions.push(SelectionDefinition::Static(ids));
    }
    let [union, intersection, difference] = combined;
    for (operator, parts) in [
        (SetOperator::Union, union),
        (SetOperator::Intersection, intersection),
        (SetOperator::Difference, difference),
    ] {
        if let Some(parts) = parts {
            definitions.push(SelectionDefinition::Combined { operator, parts });
        }
    }
    <[SelectionDefinition; 1]>::try_from(definitions)
        .map(|[definition]| definition)
        .map_err(|_| {
            ApiError::BadRequest(
                "give exactly one of filter, ids, union, intersection or difference".to_owned(),
            )
        })
}

/// A new definition for a saved selection (its name and entity stay).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangedSelection {
    filter: Option<Value>,
    ids: Option<Vec<i64>>,
    union: Option<Vec<String>>,
    intersection: Option<Vec<String>>,
    difference: Option<Vec<String>>,
    #[serde(default)]
    description: String,
}

/// Replaces a saved selection's definition: admins or its author.
pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<ChangedSelection>,
) -> Result<Json<Value>, ApiError> {
    let store = &state.store;
    let current = store.get_selection(&name).await?;
    let definition = definition(
        store,
        &current.entity,
        body.filter,
        body.ids,
        [body.union, body.intersection, body.difference],
    )?;
    let saved = store
        .update_selection(&name, &definition, &body.description, &user.0.actor())
        .await?;
    let count = store.count_selection(&name, Scope::Active).await?;
    Ok(Json(json!({"selection": saved, "count": count})))
}

pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<NewSelection>,
) -> Result<impl IntoResponse, ApiError> {
    let store = &state.store;
    let definition = definition(
        store,
        &body.entity,
        body.filter,
        body.ids,
        [body.union, body.intersection, body.difference],
    )?;
    let saved = store
        .save_selection(
            &body.name,
            &body.entity,
            &definition,
            &body.description,
            Some(user.0.id),
        )
        .await?;
    let count = store.count_selection(&saved.name, Scope::Active).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"selection": saved, "count": count})),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeParams {
    scope: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    _user: CurrentUser,
    PathParams(name): PathParams<String>,
    QueryParams(params): QueryParams<ScopeParams>,
) -> Result<Json<Value>, ApiError> {
    let scope = parse_scope(params.scope.as_deref())?;
    let selection = state.store.get_selection(&name).await?;
    let count = state.store.count_selection(&name, scope).await?;
    Ok(Json(
        json!({"selection": selection, "scope": scope.as_str(), "count": count}),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.store.delete_selection(&name, &user.0.actor()).await?;
    Ok(Json(json!({"deleted": name})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    scope: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

pub async fn records(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
    QueryParams(params): QueryParams<PageParams>,
) -> Result<Json<Value>, ApiError> {
    let _pass = state.filters.enter(user.0.id)?;
    let scope = parse_scope(params.scope.as_deref())?;
    let query = ListQuery {
        limit: params.limit,
        cursor: params.cursor,
        ..Default::default()
    };
    let page = state.store.selection_page(&name, scope, &query).await?;
    Ok(Json(page_json(&page)))
}

/// A pick to freeze: all matching a filter (text or JSON) or a saved selection, plus
/// `include`, minus `exclude`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSnapshot {
    entity: String,
    filter: Option<Value>,
    selection: Option<String>,
    #[serde(default)]
    all_matching: bool,
    /// Every record of the entity, said on purpose (instead of a filter or selection).
    #[serde(default)]
    all: bool,
    #[serde(default)]
    include: Vec<i64>,
    #[serde(default)]
    exclude: Vec<i64>,
    scope: Option<String>,
    #[serde(default)]
    note: String,
}

pub async fn create_snapshot(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<NewSnapshot>,
) -> Result<impl IntoResponse, ApiError> {
    let _pass = state.filters.enter(user.0.id)?;
    let store = &state.store;
    let no_filter = matches!(&body.filter, None | Some(Value::Null))
        || matches!(&body.filter, Some(Value::String(text)) if text.trim().is_empty());
    if body.all && (!no_filter || body.selection.is_some()) {
        return Err(ApiError::BadRequest(
            "\"all\": true picks every record; leave out the filter and selection, or drop \"all\""
                .to_owned(),
        ));
    }
    let source = match (body.selection, body.filter) {
        (Some(_), Some(filter)) if !filter.is_null() => {
            return Err(ApiError::BadRequest(
                "give a filter or a selection, not both".to_owned(),
            ));
        }
        (Some(name), _) => PickSource::Selection(name),
        (None, None | Some(Value::Null)) => {
            PickSource::Filter(store.parse_filter(&body.entity, "")?)
        }
        (None, Some(Value::String(text))) => {
            PickSource::Filter(store.parse_filter(&body.entity, &text)?)
        }
        (None, Some(json)) => PickSource::Filter(store.filter_from_json(&body.entity, &json)?),
    };
    // "All N matching" of nothing would be every record: that has to be said on purpose.
    if body.all_matching && no_filter && !body.all && matches!(source, PickSource::Filter(_)) {
        return Err(ApiError::BadRequest(format!(
            "all_matching with no filter or selection would pick every {} record: send a filter, or \"all\": true to mean every record",
            body.entity
        )));
    }
    let pick = MemberPick {
        entity: body.entity,
        source,
        all_matching: body.all_matching || body.all,
        include: body.include,
        exclude: body.exclude,
        scope: parse_scope(body.scope.as_deref())?,
    };
    let snapshot = store
        .create_snapshot(&pick, &body.note, Some(user.0.id))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"snapshot": snapshot}))))
}

pub async fn show_snapshot(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.store.snapshot_for(id, &user.0.actor()).await?;
    Ok(Json(json!({"snapshot": snapshot})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotPageParams {
    limit: Option<u32>,
    cursor: Option<String>,
}

pub async fn snapshot_records(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(id): PathParams<i64>,
    QueryParams(params): QueryParams<SnapshotPageParams>,
) -> Result<Json<Value>, ApiError> {
    state.store.snapshot_for(id, &user.0.actor()).await?;
    let query = ListQuery {
        limit: params.limit,
        cursor: params.cursor,
        ..Default::default()
    };
    let page = state.store.snapshot_page(id, &query).await?;
    Ok(Json(page_json(&page)))
}
