//! Where notifications go over HTTP (SPEC §7): a user's e-mail address and the kinds they
//! want by e-mail (theirs or an admin's to change), the webhook endpoints an admin adds and
//! removes, and the outbox of e-mails and webhook messages an admin reads and sends again.
//! The store asks the policy and writes the history; this module reads the requests and
//! shapes the answers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lethe_domain::notification::NotificationKind;
use lethe_store::{DeliveryChange, DeliveryState, StoreError};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::lifecycle::limit;
use crate::{ApiError, AppState, CurrentUser};

/// Where user `{user}`'s notifications go: their address and, per kind, whether it comes by
/// e-mail.
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let settings = state
        .store
        .delivery_settings(&name, &user.0.actor())
        .await?;
    Ok(Json(json!(settings)))
}

/// The body of `PUT /api/v1/users/{user}/delivery`: what to change; what is left out stays.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryBody {
    /// An address sets it, `null` removes it, absent leaves it.
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    /// Kind → whether it comes by e-mail; kinds not named are left as they are.
    #[serde(default)]
    email_kinds: BTreeMap<String, bool>,
}

/// A field that is present, even as `null`, is `Some`: `{"email": null}` removes the address,
/// while a body without `email` leaves it.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

impl DeliveryBody {
    /// The change the store takes; every kind is read before anything is changed, so one
    /// unknown kind refuses the whole request.
    fn into_change(self) -> Result<DeliveryChange, ApiError> {
        let email_kinds = self
            .email_kinds
            .into_iter()
            .map(|(kind, on)| {
                let kind = kind.parse::<NotificationKind>().map_err(|message| {
                    StoreError::InvalidOption {
                        option: "email_kinds",
                        message: format!("email_kinds: {message}"),
                    }
                })?;
                Ok((kind, on))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(DeliveryChange {
            email: self.email,
            email_kinds,
        })
    }
}

/// Changes where user `{user}`'s notifications go; answers the settings as they are now.
pub async fn change(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<DeliveryBody>,
) -> Result<Json<Value>, ApiError> {
    let change = body.into_change()?;
    let settings = state
        .store
        .change_delivery(&name, &change, &user.0.actor())
        .await?;
    Ok(Json(json!(settings)))
}

/// The webhook endpoints, oldest first, without their secrets.
pub async fn webhooks(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let webhooks = state.store.webhooks(&user.0.actor()).await?;
    Ok(Json(json!({"webhooks": webhooks})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    url: String,
    /// `*`, or the kinds it listens to, comma-separated.
    events: String,
}

/// Adds a webhook endpoint; its signing secret is in this answer and never again.
pub async fn add_webhook(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<NewWebhook>,
) -> Result<impl IntoResponse, ApiError> {
    let (webhook, secret) = state
        .store
        .add_webhook(&body.url, &body.events, &user.0.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"webhook": webhook, "secret": secret})),
    ))
}

/// Removes a webhook endpoint: it hears of nothing more, and what still waited for it is
/// given up.
pub async fn remove_webhook(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Value>, ApiError> {
    let given_up = state.store.remove_webhook(id, &user.0.actor()).await?;
    Ok(Json(
        json!({"removed": id, "undelivered_given_up": given_up}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    state: Option<String>,
    before: Option<i64>,
    limit: Option<u64>,
}

/// A page of the outbox, newest first, and how many messages are in each state; page on
/// with `before=next_before`.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    QueryParams(params): QueryParams<DeliveryParams>,
) -> Result<Json<Value>, ApiError> {
    let wanted = params
        .state
        .as_deref()
        .map(str::parse::<DeliveryState>)
        .transpose()?;
    let limit = limit(params.limit, 50, 1_000)?;
    let deliveries = state
        .store
        .deliveries(wanted, params.before, limit, &user.0.actor())
        .await?;
    let next_before = match deliveries.last() {
        Some(last) if deliveries.len() as u64 == limit => Some(last.id),
        _ => None,
    };
    let counts = state.store.delivery_counts(&user.0.actor()).await?;
    Ok(Json(
        json!({"deliveries": deliveries, "next_before": next_before, "counts": counts}),
    ))
}

/// Sends a message that was given up on again: its tries start over, due now.
pub async fn retry(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Value>, ApiError> {
    let delivery = state.store.retry_delivery(id, &user.0.actor()).await?;
    Ok(Json(json!({"delivery": delivery})))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::DeliveryBody;

    fn body(text: &str) -> DeliveryBody {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn an_absent_address_is_left_and_a_null_one_removed() {
        assert_eq!(body("{}").into_change().unwrap().email, None);
        assert_eq!(
            body(r#"{"email": null}"#).into_change().unwrap().email,
            Some(None)
        );
        assert_eq!(
            body(r#"{"email": "dpo@example.org"}"#)
                .into_change()
                .unwrap()
                .email,
            Some(Some("dpo@example.org".to_owned()))
        );
    }

    #[test]
    fn an_unknown_kind_is_refused_naming_the_kinds_there_are() {
        let refused = body(r#"{"email_kinds": {"purge_requested": false, "purge_done": true}}"#)
            .into_change()
            .unwrap_err()
            .to_string();
        assert!(
            refused.starts_with("email_kinds: `purge_done` is not a kind of notification")
                && refused.contains("purge_requested, purge_cancelled"),
            "{refused}"
        );
    }

    #[test]
    fn fields_the_body_does_not_have_are_refused() {
        assert!(serde_json::from_str::<DeliveryBody>(r#"{"emial": "a@b.org"}"#).is_err());
    }
}
