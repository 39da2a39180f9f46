//! `POST /api/v1/import/{entity}`: a CSV file in the body, imported as `lethe import` does —
//! every row checked first; a dry run or a refused import writes nothing; otherwise one job
//! writes the rows in the background (202 with the job). The body is kept in an unnamed
//! temporary file while it is read (gone when the request ends), never whole in memory.

use std::io::{Seek, Write};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use lethe_store::{ImportOptions, ImportOutcome, MatchRule, StoreError, policy};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{PathParams, QueryParams};

/// The largest file an import over HTTP takes: 1 GiB (the command line takes any size).
pub const IMPORT_LIMIT: u64 = 1 << 30;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    dry_run: Option<bool>,
    on_error: Option<String>,
    #[serde(rename = "match")]
    matching: Option<String>,
    on_match: Option<String>,
    /// A JSON object: `{"COLUMN": "FIELD", …}` (`""` leaves a column out).
    map: Option<String>,
    batch_size: Option<u64>,
}

fn options(params: ImportParams) -> Result<ImportOptions, ApiError> {
    let map = match params.map.as_deref() {
        None => Vec::new(),
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(object)) => object
                .into_iter()
                .map(|(column, target)| match target {
                    serde_json::Value::String(target) => Ok((column, target)),
                    _ => Err(ApiError::BadRequest(format!(
                        "map: the field for column \"{column}\" must be a string (\"\" leaves the column out)"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(ApiError::BadRequest(
                    "map must be a JSON object of column names to fields, such as {\"E-mail\": \"email\"}".to_owned(),
                ));
            }
        },
    };
    let skip_bad_rows = match params.on_error.as_deref() {
        None | Some("stop") => false,
        Some("skip") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "on_error must be stop or skip, not `{other}`"
            )));
        }
    };
    let update = match params.on_match.as_deref() {
        None | Some("skip") => false,
        Some("update") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "on_match must be skip or update, not `{other}`"
            )));
        }
    };
    if params.on_match.is_some() && params.matching.is_none() {
        return Err(ApiError::BadRequest(
            "on_match needs match: the field rows are matched by".to_owned(),
        ));
    }
    Ok(ImportOptions {
        map,
        matching: params.matching.map(|field| MatchRule { field, update }),
        skip_bad_rows,
        dry_run: params.dry_run.unwrap_or(false),
        batch_size: params.batch_size,
    })
}

/// Writes the body to an unnamed temporary file, refusing one past [`IMPORT_LIMIT`].
async fn spool(body: Body) -> Result<std::fs::File, ApiError> {
    let unavailable = |error: std::io::Error| {
        ApiError::Store(StoreError::Internal(format!(
            "keeping the uploaded file while it is read: {error}"
        )))
    };
    let mut file = tempfile::tempfile().map_err(unavailable)?;
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|error| {
            ApiError::BadRequest(format!(
                "the file could not be read to its end ({error}); send it again"
            ))
        })?;
        size += piece.len() as u64;
        if size > IMPORT_LIMIT {
            return Err(ApiError::PayloadTooLarge(format!(
                "the file is larger than {} GiB, the most an import over HTTP takes; import it on the server with `lethe import`",
                IMPORT_LIMIT >> 30
            )));
        }
        file.write_all(&piece).map_err(unavailable)?;
    }
    file.rewind().map_err(unavailable)?;
    Ok(file)
}

pub async fn import(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(entity): PathParams<String>,
    QueryParams(params): QueryParams<ImportParams>,
    body: Body,
) -> Result<Response, ApiError> {
    let actor = user.0.actor();
    policy::import_records(&actor)
        .map_err(|refusal| ApiError::Store(StoreError::Forbidden(refusal)))?;
    state.store.entity(&entity)?;
    let options = options(params)?;
    let file = spool(body).await?;
    let mut rows =
        lethe_web::import::CsvRows::new(std::io::BufReader::with_capacity(1 << 16, file))?;
    let header = rows.header();
    // The import runs to its end even when the client goes away: it always drops its staging
    // table (and a dry run's temporary one stays with no pooled connection).
    let store = state.store.clone();
    let outcome = tokio::spawn(async move {
        store
            .import(&entity, &header, &mut rows, &options, &actor)
            .await
    })
    .await
    .map_err(|error| {
        ApiError::Store(StoreError::Internal(format!("the import stopped: {error}")))
    })??;
    Ok(match outcome {
        ImportOutcome::Checked(check) => {
            Json(json!({"dry_run": true, "check": check, "job": null})).into_response()
        }
        ImportOutcome::NothingToDo(check) => {
            Json(json!({"dry_run": false, "check": check, "job": null})).into_response()
        }
        ImportOutcome::Refused(check) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": format!(
                    "{} row(s) have a problem, so nothing was written; correct them, or write the other rows with on_error=skip",
                    check.problems
                ),
                "code": "invalid_rows",
                "field": null,
                "check": check,
            })),
        )
            .into_response(),
        ImportOutcome::Started(check, job) => {
            state.store.run_job_in_background(job.id);
            crate::lifecycle::accepted_with(
                job.id,
                json!({"dry_run": false, "check": check, "job": job}),
            )
            .into_response()
        }
    })
}
