//! Downloads of exports from the pages: the records picked on the records page (frozen in a
//! snapshot by the bulk bar), and what a deletion batch holds in the trash (the recycle
//! bin's "Export CSV", to keep a copy before a purge). Streamed as the API's export is.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use lethe_formats::Format;
use lethe_store::{ExportSource, Scope, StoreError};
use serde::Deserialize;

use super::store_problem;
use crate::WebState;
use crate::session::{Rejection, SignedIn};

#[derive(Debug, Default, Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    format: String,
    /// Also every record that points at them (a zip of CSV files, or tagged NDJSON).
    #[serde(default)]
    related: bool,
}

async fn download(
    state: &WebState,
    signed_in: &SignedIn,
    entity: Option<String>,
    source: ExportSource,
    query: &ExportQuery,
) -> Result<Response, StoreError> {
    let format = match query.format.as_str() {
        "" => Format::Csv,
        named => Format::parse(named).map_err(StoreError::BadRequest)?,
    };
    let entity = entity.ok_or_else(|| {
        StoreError::BadRequest("this deletion batch holds no records to export".to_owned())
    })?;
    let export = state
        .store
        .start_export(
            &entity,
            source,
            Scope::Active,
            query.related,
            &signed_in.actor(),
        )
        .await?;
    crate::export::download(&state.store, export, format, ()).await
}

/// `GET /snapshots/{id}/export?format=csv|ndjson[&related=true]`: the records picked on the records page.
pub async fn snapshot(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
    Query(query): Query<ExportQuery>,
) -> Result<Response, Rejection> {
    let answer = match state.store.snapshot_for(id, &signed_in.actor()).await {
        Ok(snapshot) => {
            let source = ExportSource::Snapshot(id);
            download(&state, &signed_in, Some(snapshot.entity), source, &query).await
        }
        Err(error) => Err(error),
    };
    Ok(answer.unwrap_or_else(store_problem))
}

/// `GET /batches/{id}/export?format=csv|ndjson[&related=true]`: what a deletion batch holds in the trash.
pub async fn batch(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
    Query(query): Query<ExportQuery>,
) -> Result<Response, Rejection> {
    let answer = match state.store.deletion_batch(id).await {
        Ok(batch) => {
            let source = ExportSource::Batch(id);
            download(&state, &signed_in, batch.entity, source, &query).await
        }
        Err(error) => Err(error),
    };
    Ok(answer.unwrap_or_else(store_problem))
}
