//! `GET /api/v1/person` and `GET /api/v1/person/export`: what is held about one person,
//! counted per entity (also what erasing them reaches), or all of it as one zip — a JSON
//! document per entity, their attachment files and a summary — streamed
//! (`lethe_web::person`). Admins only: it reads the trash and every entity.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use lethe_store::PersonKey;
use lethe_web::person::PersonZip;
use serde::Deserialize;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::QueryParams;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonParams {
    email: Option<String>,
    contact: Option<i64>,
}

fn key(params: PersonParams) -> Result<PersonKey, ApiError> {
    match (params.email, params.contact) {
        (Some(address), None) => Ok(PersonKey::Email(address)),
        (None, Some(id)) => Ok(PersonKey::Contact(id)),
        _ => Err(ApiError::BadRequest(
            "say who the person is: give either email (their address) or contact (a contact id), not both".to_owned(),
        )),
    }
}

/// Who may ask: checked before the question, so that a user hears "admins only" whatever
/// they sent.
fn admin(user: &CurrentUser) -> Result<(), ApiError> {
    Ok(lethe_store::policy::export_person(&user.0.actor())
        .map_err(lethe_store::StoreError::from)?)
}

pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    QueryParams(params): QueryParams<PersonParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin(&user)?;
    let zip = PersonZip::start(&state.store, key(params)?, &user.0.actor()).await?;
    let records: serde_json::Map<String, serde_json::Value> = zip
        .counts()
        .iter()
        .map(|(entity, count)| (entity.clone(), serde_json::json!(count)))
        .collect();
    let total: u64 = zip.counts().iter().map(|(_, count)| count).sum();
    Ok(Json(
        serde_json::json!({"records": records, "total": total}),
    ))
}

pub async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
    QueryParams(params): QueryParams<PersonParams>,
) -> Result<Response, ApiError> {
    admin(&user)?;
    let pass = state.filters.enter(user.0.id)?;
    let zip = PersonZip::start(&state.store, key(params)?, &user.0.actor()).await?;
    Ok(lethe_web::person::download(&state.store, zip, pass).await?)
}
