//! People's erasure and access requests over HTTP (SPEC §12; GDPR Art. 12, 15, 17): list and
//! register them, read one, change one (assign, start, extend, finish, refuse) and link the
//! deletion batches and purges that fulfilled it. The store asks the policy and writes the
//! history; this module reads the requests and shapes the answers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lethe_store::{NewSubjectRequest, RequestChange, RequestListing, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::{ApiError, AppState, CurrentUser};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `all` (default), `open` or `overdue`.
    status: Option<String>,
    /// Only requests about this address (closed ones too, matched by the keyed tag).
    email: Option<String>,
}

/// The requests: open ones first by deadline; an admin sees all, a user those assigned to
/// them.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let listing = match params.status.as_deref() {
        None | Some("all") => RequestListing::All,
        Some("open") => RequestListing::Open,
        Some("overdue") => RequestListing::Overdue,
        Some(other) => {
            return Err(StoreError::invalid_option(
                "status",
                format!("`{other}` is not a listing of requests: use all, open or overdue"),
            )
            .into());
        }
    };
    let requests = state
        .store
        .subject_requests(listing, params.email.as_deref(), &user.0.actor())
        .await?;
    Ok(Json(json!({"requests": requests})))
}

/// The body of `POST /api/v1/requests`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRequestBody {
    kind: String,
    email: Option<String>,
    contact_id: Option<i64>,
    received: Option<String>,
    assignee: Option<String>,
}

/// Registers a request (admin), due one calendar month after receipt.
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<NewRequestBody>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewSubjectRequest {
        kind: body.kind,
        email: body.email,
        contact_id: body.contact_id,
        received: body.received,
        assignee: body.assignee,
    };
    let request = state.store.add_request(&new, &user.0.actor()).await?;
    Ok((StatusCode::CREATED, Json(json!({"request": request}))))
}

/// One request, with its links (an admin, or its assignee).
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Value>, ApiError> {
    let request = state.store.subject_request(id, &user.0.actor()).await?;
    Ok(Json(json!({"request": request})))
}

/// The body of `PATCH /api/v1/requests/{id}`: one change at a time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    /// Give it to this user.
    assignee: Option<String>,
    /// `in_progress`, `done` or `refused` (with `reason`).
    status: Option<String>,
    /// The new deadline (with `reason`).
    extended_until: Option<String>,
    /// Why it is extended or refused.
    reason: Option<String>,
}

impl ChangeBody {
    fn into_change(self) -> Result<RequestChange, ApiError> {
        let reason = self.reason.unwrap_or_default();
        match (self.assignee, self.status.as_deref(), self.extended_until) {
            (Some(user), None, None) => Ok(RequestChange::Assign(user)),
            (None, Some(status), None) => match status {
                "in_progress" => Ok(RequestChange::Start),
                "done" => Ok(RequestChange::Done),
                "refused" => Ok(RequestChange::Refuse { reason }),
                "received" => Err(StoreError::invalid_option(
                    "status",
                    "a request is received only once, when it is registered: it cannot be set back to received",
                )
                .into()),
                other => Err(StoreError::invalid_option(
                    "status",
                    format!("`{other}` is not a status to move to: use in_progress, done or refused"),
                )
                .into()),
            },
            (None, None, Some(until)) => Ok(RequestChange::Extend { until, reason }),
            _ => Err(StoreError::invalid_option(
                "status",
                "change one thing at a time: `assignee`, `status` (with `reason` to refuse) or `extended_until` (with `reason`)",
            )
            .into()),
        }
    }
}

/// Changes a request: assigns, starts, extends, finishes or refuses it.
pub async fn change(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(id): PathParams<i64>,
    JsonBody(body): JsonBody<ChangeBody>,
) -> Result<Json<Value>, ApiError> {
    let change = body.into_change()?;
    let request = state
        .store
        .change_request(id, &change, &user.0.actor())
        .await?;
    Ok(Json(json!({"request": request})))
}

/// The body of `POST /api/v1/requests/{id}/links`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    batch_id: Option<i64>,
    job_id: Option<i64>,
}

/// Links a deletion batch or a purge job to a request, as what fulfilled it.
pub async fn link(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(id): PathParams<i64>,
    JsonBody(body): JsonBody<LinkBody>,
) -> Result<impl IntoResponse, ApiError> {
    let request = state
        .store
        .link_request(id, body.batch_id, body.job_id, &user.0.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"request": request}))))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::ChangeBody;
    use lethe_store::RequestChange;

    fn change(text: &str) -> Result<RequestChange, String> {
        serde_json::from_str::<ChangeBody>(text)
            .unwrap()
            .into_change()
            .map_err(|error| error.to_string())
    }

    #[test]
    fn one_change_at_a_time_and_never_back_to_received() {
        assert_eq!(change(r#"{"status": "done"}"#), Ok(RequestChange::Done));
        assert!(
            change(r#"{"status": "received"}"#)
                .unwrap_err()
                .contains("only once")
        );
        assert!(
            change(r#"{"status": "done", "assignee": "ula"}"#)
                .unwrap_err()
                .contains("one thing at a time")
        );
        assert_eq!(
            change(r#"{"extended_until": "2026-04-01", "reason": "archives"}"#),
            Ok(RequestChange::Extend {
                until: "2026-04-01".to_owned(),
                reason: "archives".to_owned()
            })
        );
    }
}
