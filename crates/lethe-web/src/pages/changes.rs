//! The other bulk actions of the records page (SPEC §5), each on the snapshot the records
//! page froze and each asked twice: **update a field** (choose the field and the value, see
//! how many records it changes, type that number) and **anonymise** (see which personal
//! fields are overwritten and how, type the number; the records stay, their personal data
//! does not).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lethe_schema::{Anonymize, ValueType};
use lethe_store::{Snapshot, StoreError};
use serde::Deserialize;

use crate::WebState;
use crate::pages::trash::{grouped, typed_number};
use crate::pages::{Frame, Section, render, store_problem};
use crate::session::{Rejection, SignedForm, SignedIn};

/// A field that may be set in bulk.
struct Settable {
    name: String,
    kind: String,
}

#[derive(Template)]
#[template(path = "update.html")]
struct UpdatePage {
    frame: Frame,
    snapshot: Snapshot,
    fields: Vec<Settable>,
    field: String,
    value: String,
    value_error: Option<String>,
    /// Once the change checks out: how many records it changes.
    changes: Option<u64>,
    typed: String,
    typed_error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct UpdateQuery {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: String,
}

/// The change as the store takes it: the field and its value, typed by the column (an empty
/// value clears the field).
fn change(
    state: &WebState,
    entity: &str,
    field: &str,
    value: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    let column = state
        .store
        .entity(entity)?
        .columns
        .iter()
        .find(|column| column.name.as_str() == field)
        .ok_or_else(|| StoreError::BadRequest(format!("choose a field of {entity} to set")))?;
    let typed = value.trim();
    let json = if typed.is_empty() {
        serde_json::Value::Null
    } else {
        match &column.value_type {
            ValueType::Integer | ValueType::Reference => typed
                .parse::<i64>()
                .map_or_else(|_| typed.into(), serde_json::Value::from),
            ValueType::Boolean => match typed {
                "true" | "yes" => true.into(),
                "false" | "no" => false.into(),
                other => other.into(),
            },
            ValueType::Json => serde_json::from_str(typed).unwrap_or_else(|_| typed.into()),
            _ => typed.into(),
        }
    };
    let mut changes = serde_json::Map::new();
    changes.insert(field.to_owned(), json);
    Ok(changes)
}

fn settable(state: &WebState, entity: &str) -> Vec<Settable> {
    state
        .store
        .entity(entity)
        .map(|entity| {
            entity
                .columns
                .iter()
                .filter(|column| {
                    !matches!(column.value_type, ValueType::OwnerEntity { .. })
                        && !lethe_store::is_managed_file_column(entity, column.name.as_str())
                })
                .map(|column| Settable {
                    name: column.name.as_str().to_owned(),
                    kind: kind_words(&column.value_type),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn kind_words(value_type: &ValueType) -> String {
    match value_type {
        ValueType::Text => "text".to_owned(),
        ValueType::Integer => "whole number".to_owned(),
        ValueType::Decimal { scale } => format!("number with {scale} decimals"),
        ValueType::Boolean => "yes or no".to_owned(),
        ValueType::Date => "date, YYYY-MM-DD".to_owned(),
        ValueType::Timestamp => "time, RFC 3339".to_owned(),
        ValueType::Enum { values } => format!("one of {}", values.join(", ")),
        ValueType::Json => "JSON".to_owned(),
        ValueType::Reference => "a record id".to_owned(),
        ValueType::OwnerEntity { .. } => "an entity name".to_owned(),
    }
}

async fn update_page(
    state: &WebState,
    signed_in: &SignedIn,
    id: i64,
    query: UpdateQuery,
) -> Result<Result<UpdatePage, Response>, Rejection> {
    let snapshot = match state.store.snapshot_for(id, &signed_in.actor()).await {
        Ok(snapshot) => snapshot,
        Err(error) => return Ok(Err(store_problem(error))),
    };
    let mut value_error = None;
    let mut changes = None;
    if !query.field.is_empty() {
        let previewed = match change(state, &snapshot.entity, &query.field, &query.value) {
            Ok(change) => state.store.preview_update(id, &change).await,
            Err(error) => Err(error),
        };
        match previewed {
            Ok(preview) => changes = Some(preview.members - preview.not_applicable),
            Err(
                error @ (StoreError::InvalidValue { .. }
                | StoreError::BadRequest(_)
                | StoreError::UnknownField { .. }
                | StoreError::ReadOnlyField { .. }
                | StoreError::MissingRequired { .. }
                | StoreError::MissingReference { .. }
                | StoreError::ReferenceInTrash { .. }
                | StoreError::UniqueViolation { .. }),
            ) => value_error = Some(error.to_string()),
            Err(error) => return Ok(Err(store_problem(error))),
        }
    }
    Ok(Ok(UpdatePage {
        frame: Frame::of(state, signed_in, Section::Records).await,
        fields: settable(state, &snapshot.entity),
        snapshot,
        field: query.field,
        value: query.value,
        value_error,
        changes,
        typed: String::new(),
        typed_error: None,
    }))
}

/// Choose the field and value; once they check out, the count and the confirmation.
pub async fn update_form(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
    Query(query): Query<UpdateQuery>,
) -> Result<Response, Rejection> {
    Ok(match update_page(&state, &signed_in, id, query).await? {
        Ok(page) => {
            let status = if page.value_error.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            render(status, &page)
        }
        Err(response) => response,
    })
}

#[derive(Debug, Deserialize)]
pub struct UpdateFields {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    typed: String,
}

pub async fn update_submit(
    State(state): State<WebState>,
    Path(id): Path<i64>,
    SignedForm { signed_in, form }: SignedForm<UpdateFields>,
) -> Result<Response, Rejection> {
    let query = UpdateQuery {
        field: form.field.clone(),
        value: form.value.clone(),
    };
    let mut page = match update_page(&state, &signed_in, id, query).await? {
        Ok(page) => page,
        Err(response) => return Ok(response),
    };
    let Some(changes) = page.changes else {
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    if typed_number(&form.typed) != Some(changes) {
        page.typed = form.typed;
        page.typed_error = Some(format!(
            "Type {changes}, the number of records this changes. Nothing was changed."
        ));
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let change = match change(&state, &page.snapshot.entity, &form.field, &form.value) {
        Ok(change) => change,
        Err(error) => return Ok(store_problem(error)),
    };
    Ok(super::job_started(
        &state,
        state
            .store
            .start_update(id, &change, &signed_in.actor(), None)
            .await,
    ))
}

/// A personal field and what anonymising does to it.
struct Overwrite {
    field: String,
    how: String,
}

#[derive(Template)]
#[template(path = "anonymize.html")]
struct AnonymizePage {
    frame: Frame,
    snapshot: Snapshot,
    overwrites: Vec<Overwrite>,
    members: String,
    typed: String,
    typed_error: Option<String>,
}

async fn anonymize_page(
    state: &WebState,
    signed_in: &SignedIn,
    id: i64,
) -> Result<AnonymizePage, Response> {
    let snapshot = state
        .store
        .snapshot_for(id, &signed_in.actor())
        .await
        .map_err(store_problem)?;
    let overwrites = state
        .store
        .entity(&snapshot.entity)
        .map_err(store_problem)?
        .columns
        .iter()
        .filter_map(|column| {
            let how = match column.anonymize.as_ref()? {
                Anonymize::Null => "emptied".to_owned(),
                Anonymize::Fixed(text) => format!("set to “{text}”"),
                Anonymize::Hash => "replaced by a keyed hash (equal values stay equal)".to_owned(),
            };
            Some(Overwrite {
                field: column.name.as_str().to_owned(),
                how,
            })
        })
        .collect();
    Ok(AnonymizePage {
        frame: Frame::of(state, signed_in, Section::Records).await,
        members: grouped(snapshot.member_count),
        snapshot,
        overwrites,
        typed: String::new(),
        typed_error: None,
    })
}

pub async fn anonymize_form(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Rejection> {
    Ok(match anonymize_page(&state, &signed_in, id).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(response) => response,
    })
}

#[derive(Debug, Deserialize)]
pub struct AnonymizeFields {
    #[serde(default)]
    typed: String,
}

pub async fn anonymize_submit(
    State(state): State<WebState>,
    Path(id): Path<i64>,
    SignedForm { signed_in, form }: SignedForm<AnonymizeFields>,
) -> Result<Response, Rejection> {
    let mut page = match anonymize_page(&state, &signed_in, id).await {
        Ok(page) => page,
        Err(response) => return Ok(response),
    };
    if typed_number(&form.typed) != Some(page.snapshot.member_count) {
        page.typed_error = Some(format!(
            "Type {}, the number of records picked. Nothing was changed.",
            page.snapshot.member_count
        ));
        page.typed = form.typed;
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    Ok(super::job_started(
        &state,
        state
            .store
            .start_anonymize(id, &signed_in.actor(), None)
            .await,
    ))
}
