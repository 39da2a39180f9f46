//! Saved selections (SPEC §4, after SuperOffice's Selection screen): dynamic ones (a
//! filter, re-evaluated every time), static ones (listed ids) and combined ones (others
//! joined by union, intersection or difference). The list, a form to save one, and per
//! selection its records, its count, an edit form, its deletion, and the way to act on all
//! of its members.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lethe_store::{
    ListQuery, MemberPick, PickSource, SavedSelection, Scope, SelectionDefinition, SetOperator,
    SortOrder, StoreError,
};
use serde::Deserialize;

use crate::WebState;
use crate::pages::records::{Cell, cell};
use crate::pages::{Frame, Section, render, store_problem};
use crate::session::{Rejection, SignedForm, SignedIn};

const PAGE_SIZE: u32 = 50;
const SHOWN_COLUMNS: usize = 5;

/// The selection form as typed, with the error of each field next to it.
#[derive(Debug, Default)]
struct SelectionForm {
    name: String,
    entity: String,
    kind: String,
    filter: String,
    ids: String,
    operator: String,
    parts: String,
    description: String,
    name_error: Option<String>,
    definition_error: Option<String>,
}

impl SelectionForm {
    fn of(selection: &SavedSelection) -> SelectionForm {
        SelectionForm {
            name: selection.name.clone(),
            entity: selection.entity.clone(),
            kind: selection.kind.clone(),
            filter: selection.filter.clone().unwrap_or_default(),
            ids: String::new(),
            operator: selection
                .operator
                .map(|operator| operator.as_str().to_owned())
                .unwrap_or_default(),
            parts: selection.parts.join(", "),
            description: selection.description.clone(),
            ..SelectionForm::default()
        }
    }
}

#[derive(Template)]
#[template(path = "selections.html")]
struct SelectionsPage {
    frame: Frame,
    selections: Vec<SavedSelection>,
    entities: Vec<String>,
    form: SelectionForm,
    form_action: String,
    editing: bool,
}

async fn list_page(
    state: &WebState,
    signed_in: &SignedIn,
    form: SelectionForm,
) -> Result<SelectionsPage, Rejection> {
    Ok(SelectionsPage {
        frame: Frame::of(state, signed_in, Section::Selections).await,
        selections: state
            .store
            .list_selections()
            .await
            .map_err(Rejection::Store)?,
        entities: state
            .store
            .schema()
            .entity_names()
            .map(str::to_owned)
            .collect(),
        form,
        form_action: "/selections".to_owned(),
        editing: false,
    })
}

pub async fn list(
    State(state): State<WebState>,
    signed_in: SignedIn,
) -> Result<Response, Rejection> {
    let form = SelectionForm {
        kind: "dynamic".to_owned(),
        ..SelectionForm::default()
    };
    let page = list_page(&state, &signed_in, form).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub struct SelectionFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    entity: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    filter: String,
    #[serde(default)]
    ids: String,
    #[serde(default)]
    operator: String,
    #[serde(default)]
    parts: String,
    #[serde(default)]
    description: String,
}

impl SelectionFields {
    fn typed(&self) -> SelectionForm {
        SelectionForm {
            name: self.name.trim().to_owned(),
            entity: self.entity.clone(),
            kind: self.kind.clone(),
            filter: self.filter.clone(),
            ids: self.ids.clone(),
            operator: self.operator.clone(),
            parts: self.parts.clone(),
            description: self.description.clone(),
            ..SelectionForm::default()
        }
    }

    /// The definition the form describes, or what is wrong with it in words.
    fn definition(&self, state: &WebState) -> Result<SelectionDefinition, String> {
        match self.kind.as_str() {
            "dynamic" => state
                .store
                .parse_filter(&self.entity, self.filter.trim())
                .map(SelectionDefinition::Dynamic)
                .map_err(|error| error.to_string()),
            "static" => {
                let mut ids = Vec::new();
                for part in self
                    .ids
                    .split([',', ' ', '\n', '\r', '\t'])
                    .filter(|part| !part.is_empty())
                {
                    ids.push(
                        part.parse::<i64>()
                            .map_err(|_| format!("`{part}` is not a record id"))?,
                    );
                }
                Ok(SelectionDefinition::Static(ids))
            }
            "combined" => Ok(SelectionDefinition::Combined {
                operator: SetOperator::parse(&self.operator).map_err(|error| error.to_string())?,
                parts: self
                    .parts
                    .split(',')
                    .map(|part| part.trim().to_owned())
                    .filter(|part| !part.is_empty())
                    .collect(),
            }),
            _ => Err("choose dynamic, static or combined".to_owned()),
        }
    }
}

/// Where a store error about a selection belongs on the form.
fn place_error(form: &mut SelectionForm, error: StoreError) -> Option<StoreError> {
    match error {
        StoreError::BadRequest(message) | StoreError::Conflict(message)
            if message.contains("selection name") || message.contains("already exists") =>
        {
            form.name_error = Some(message);
            None
        }
        error @ (StoreError::BadRequest(_)
        | StoreError::Conflict(_)
        | StoreError::NamedNotFound(_)
        | StoreError::UnknownEntity { .. }
        | StoreError::Filter(_)) => {
            form.definition_error = Some(error.to_string());
            None
        }
        other => Some(other),
    }
}

pub async fn create(
    State(state): State<WebState>,
    SignedForm { signed_in, form }: SignedForm<SelectionFields>,
) -> Result<Response, Rejection> {
    let mut typed = form.typed();
    match form.definition(&state) {
        Err(problem) => typed.definition_error = Some(problem),
        Ok(definition) => match state
            .store
            .save_selection(
                &typed.name,
                &form.entity,
                &definition,
                form.description.trim(),
                Some(signed_in.user.id),
            )
            .await
        {
            Ok(saved) => {
                return Ok(Redirect::to(&format!("/selections/{}", saved.name)).into_response());
            }
            Err(error) => {
                if let Some(other) = place_error(&mut typed, error) {
                    return Ok(store_problem(other));
                }
            }
        },
    }
    let page = list_page(&state, &signed_in, typed).await?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

struct Row {
    id: i64,
    cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "selection.html")]
struct SelectionPage {
    frame: Frame,
    selection: SavedSelection,
    count: u64,
    columns: Vec<String>,
    rows: Vec<Row>,
    next_page: Option<String>,
    form: SelectionForm,
    entities: Vec<String>,
    form_action: String,
    editing: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct SelectionQuery {
    cursor: Option<String>,
}

async fn selection_page(
    state: &WebState,
    signed_in: &SignedIn,
    name: &str,
    cursor: Option<String>,
    form: Option<SelectionForm>,
) -> Result<Result<SelectionPage, Response>, Rejection> {
    let selection = match state.store.get_selection(name).await {
        Ok(selection) => selection,
        Err(error) => return Ok(Err(store_problem(error))),
    };
    let count = match state.store.count_selection(name, Scope::Active).await {
        Ok(count) => count,
        Err(error) => return Ok(Err(store_problem(error))),
    };
    let query = ListQuery {
        sort: None,
        order: SortOrder::Asc,
        limit: Some(PAGE_SIZE),
        cursor,
    };
    let page = match state
        .store
        .selection_page(name, Scope::Active, &query)
        .await
    {
        Ok(page) => page,
        Err(error) => return Ok(Err(store_problem(error))),
    };
    let columns = super::records::shown_columns(
        state
            .store
            .entity(&selection.entity)
            .map_err(Rejection::Store)?,
        SHOWN_COLUMNS,
    );
    let rows = page
        .records
        .iter()
        .map(|record| Row {
            id: record.id,
            cells: columns
                .iter()
                .map(|column| cell(state, &selection.entity, column, record.get(column)))
                .collect(),
        })
        .collect();
    let next_page = page.next_cursor.map(|cursor| {
        format!(
            "/selections/{name}?{}",
            serde_html_form::to_string([("cursor", cursor)]).unwrap_or_default()
        )
    });
    Ok(Ok(SelectionPage {
        frame: Frame::of(state, signed_in, Section::Selections).await,
        form: form.unwrap_or_else(|| SelectionForm::of(&selection)),
        entities: state
            .store
            .schema()
            .entity_names()
            .map(str::to_owned)
            .collect(),
        form_action: format!("/selections/{name}/edit"),
        editing: true,
        selection,
        count,
        columns,
        rows,
        next_page,
    }))
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Query(query): Query<SelectionQuery>,
) -> Result<Response, Rejection> {
    Ok(
        match selection_page(&state, &signed_in, &name, query.cursor, None).await? {
            Ok(page) => render(StatusCode::OK, &page),
            Err(response) => response,
        },
    )
}

/// Changes a selection's definition (its author or an admin; the store asks the policy).
pub async fn update(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, form }: SignedForm<SelectionFields>,
) -> Result<Response, Rejection> {
    let mut typed = form.typed();
    typed.name = name.clone();
    match form.definition(&state) {
        Err(problem) => typed.definition_error = Some(problem),
        Ok(definition) => match state
            .store
            .update_selection(
                &name,
                &definition,
                form.description.trim(),
                &signed_in.actor(),
            )
            .await
        {
            Ok(_) => return Ok(Redirect::to(&format!("/selections/{name}")).into_response()),
            Err(error) => {
                if let Some(other) = place_error(&mut typed, error) {
                    return Ok(store_problem(other));
                }
            }
        },
    }
    Ok(
        match selection_page(&state, &signed_in, &name, None, Some(typed)).await? {
            Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
            Err(response) => response,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

pub async fn delete(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    match state
        .store
        .delete_selection(&name, &signed_in.actor())
        .await
    {
        Ok(()) => Ok(Redirect::to("/selections").into_response()),
        Err(error) => Ok(store_problem(error)),
    }
}

/// Freezes every member of the selection into a snapshot and leads to the trash preview.
pub async fn trash_all(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    let selection = match state.store.get_selection(&name).await {
        Ok(selection) => selection,
        Err(error) => return Ok(store_problem(error)),
    };
    let pick = MemberPick {
        entity: selection.entity,
        source: PickSource::Selection(name),
        all_matching: true,
        include: Vec::new(),
        exclude: Vec::new(),
        scope: Scope::Active,
    };
    match state
        .store
        .create_snapshot(
            &pick,
            "every member of a saved selection",
            Some(signed_in.user.id),
        )
        .await
    {
        Ok(snapshot) => {
            Ok(Redirect::to(&format!("/snapshots/{}/trash", snapshot.id)).into_response())
        }
        Err(error) => Ok(store_problem(error)),
    }
}
