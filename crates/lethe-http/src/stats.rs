//! `GET /api/v1/stats`: the consolidated table (SPEC §6, after APRO CRM) — per entity type,
//! records and attached-file volume that are active, trashed and pending purge. Any
//! authenticated user may read it; it holds counts only, no record data.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::{ApiError, AppState, CurrentUser};

pub async fn show(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let stats = state.store.stats().await?;
    Ok(Json(json!(stats)))
}
