//! One record's page: its fields (links to the records it belongs to), the records that
//! belong to it by each relation (the first few, linked, and the way to all of them), when
//! and by whom it was made, and the way to the trash. A record in the trash says so and
//! offers its restore.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use lethe_store::{ListQuery, Record, Scope, SortOrder, StoreError};
use serde::Deserialize;

use crate::WebState;
use crate::pages::records::{Cell, cell, records_address};
use crate::pages::{Frame, Section, render, store_problem};
use crate::session::{Rejection, SignedForm, SignedIn};

/// How many related records each relation lists.
const RELATED_SHOWN: u32 = 10;

struct Field {
    name: String,
    cell: Cell,
}

/// The records of one entity type that belong to this one through one link.
struct Related {
    entity: String,
    /// The child's column that holds the link.
    column: String,
    count: u64,
    ids: Vec<i64>,
    /// The records page filtered to all of them.
    all: String,
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage {
    frame: Frame,
    entity: String,
    id: i64,
    created_at: String,
    updated_at: String,
    creator: String,
    fields: Vec<Field>,
    related: Vec<Related>,
}

#[derive(Template)]
#[template(path = "record_trashed.html")]
struct TrashedPage {
    frame: Frame,
    entity: String,
    id: i64,
    batch: i64,
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path((entity, id)): Path<(String, i64)>,
) -> Result<Response, Rejection> {
    let record = match state.store.get_record(&entity, id).await {
        Ok(record) => record,
        Err(StoreError::InTrash { batch, .. }) => {
            let page = TrashedPage {
                frame: Frame::of(&state, &signed_in, Section::Records).await,
                entity,
                id,
                batch,
            };
            return Ok(render(StatusCode::OK, &page));
        }
        Err(error) => return Ok(store_problem(error)),
    };
    let fields = record
        .values
        .iter()
        .map(|(name, value)| Field {
            name: name.clone(),
            cell: cell(&state, &entity, name, Some(value)),
        })
        .collect();
    let related = related(&state, &record).await?;
    let creator = match record.created_by {
        None => "the operator or an import".to_owned(),
        Some(user) => state
            .store
            .list_users()
            .await
            .map_err(Rejection::Store)?
            .into_iter()
            .find(|each| each.id == user)
            .map_or_else(|| format!("user {user}"), |each| each.name),
    };
    let page = RecordPage {
        frame: Frame::of(&state, &signed_in, Section::Records).await,
        created_at: lethe_store::format_timestamp(record.created_at),
        updated_at: lethe_store::format_timestamp(record.updated_at),
        creator,
        fields,
        related,
        entity,
        id,
    };
    Ok(render(StatusCode::OK, &page))
}

/// Every relation that can point at this record, with its active children: counted, the
/// first few listed. One count and one page query per relation, each on an indexed column.
async fn related(state: &WebState, record: &Record) -> Result<Vec<Related>, Rejection> {
    let schema = state.store.schema();
    let Some(parent) = schema.entity(&record.entity) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for relation in schema.relations_to(&parent.name) {
        let child = relation.child.as_str();
        let mut filter_text = format!("{} = {}", relation.column.as_str(), record.id);
        if let Some(discriminator) = &relation.discriminator {
            filter_text.push_str(&format!(
                " and {} = \"{}\"",
                discriminator.as_str(),
                record.entity
            ));
        }
        let filter = state
            .store
            .parse_filter(child, &filter_text)
            .map_err(Rejection::Store)?;
        let count = state
            .store
            .count_matching(&filter, Scope::Active)
            .await
            .map_err(Rejection::Store)?;
        let ids = if count == 0 {
            Vec::new()
        } else {
            let query = ListQuery {
                sort: None,
                order: SortOrder::Asc,
                limit: Some(RELATED_SHOWN),
                cursor: None,
            };
            state
                .store
                .select_page(&filter, Scope::Active, &query)
                .await
                .map_err(Rejection::Store)?
                .records
                .iter()
                .map(|child| child.id)
                .collect()
        };
        found.push(Related {
            entity: child.to_owned(),
            column: relation.column.as_str().to_owned(),
            count,
            ids,
            all: records_address(child, &filter_text),
        });
    }
    Ok(found)
}

#[derive(Debug, Deserialize)]
pub struct RestoreFields {
    batch: i64,
}

/// Restores this one record from its deletion batch (with what went to the trash with it),
/// as far as the policy lets the person.
pub async fn restore(
    State(state): State<WebState>,
    Path((_entity, id)): Path<(String, i64)>,
    SignedForm { signed_in, form }: SignedForm<RestoreFields>,
) -> Result<Response, Rejection> {
    Ok(super::job_started(
        &state,
        state
            .store
            .start_restore(form.batch, Some(&[id]), &signed_in.actor(), None)
            .await,
    ))
}
