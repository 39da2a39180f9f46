//! `GET /api/v1/export/{entity}`: records (with `related=true`, and every record that
//! points at them) as a CSV, zip or NDJSON download, streamed (the
//! streaming is `lethe_web::export`, which the pages' downloads use too).

use axum::extract::State;
use axum::response::Response;
use lethe_formats::Format;
use lethe_store::ExportSource;
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{PathParams, QueryParams};
use crate::{AppState, parse_scope, text_filter};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    format: Option<String>,
    filter: Option<String>,
    scope: Option<String>,
    snapshot: Option<i64>,
    batch: Option<i64>,
    related: Option<bool>,
}

pub async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(entity): PathParams<String>,
    QueryParams(params): QueryParams<ExportParams>,
) -> Result<Response, ApiError> {
    let pass = state.filters.enter(user.0.id)?;
    let format =
        Format::parse(params.format.as_deref().unwrap_or("csv")).map_err(ApiError::BadRequest)?;
    let scope = parse_scope(params.scope.as_deref())?;
    let source = match (params.snapshot, params.batch, params.filter.as_deref()) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give one of filter, snapshot and batch".to_owned(),
            ));
        }
        (Some(snapshot), None, None) => ExportSource::Snapshot(snapshot),
        (None, Some(batch), None) => ExportSource::Batch(batch),
        (None, None, filter) => ExportSource::Filter(text_filter(&state.store, &entity, filter)?),
    };
    let export = state
        .store
        .start_export(
            &entity,
            source,
            scope,
            params.related.unwrap_or(false),
            &user.0.actor(),
        )
        .await?;
    Ok(lethe_web::export::download(&state.store, export, format, pass).await?)
}
