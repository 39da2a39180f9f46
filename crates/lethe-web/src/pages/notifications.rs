//! The signed-in person's notifications (SPEC §7): purges requested, run, failed or
//! cancelled, records a bulk operation could not act on — newest first, unread ones marked,
//! each linked to its job; one button marks them all read.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lethe_store::Notification;
use serde::Deserialize;

use crate::WebState;
use crate::pages::{Frame, Section, render};
use crate::session::{Rejection, SignedForm, SignedIn};

/// How many notifications the page lists.
const SHOWN: u64 = 200;

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    frame: Frame,
    notifications: Vec<Notification>,
    newest: i64,
    unread: usize,
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
) -> Result<Response, Rejection> {
    let notifications = state
        .store
        .notifications(signed_in.user.id, false, SHOWN)
        .await
        .map_err(Rejection::Store)?;
    let page = NotificationsPage {
        frame: Frame::of(&state, &signed_in, Section::Notifications).await,
        newest: notifications.first().map_or(0, |newest| newest.id),
        unread: notifications.iter().filter(|each| !each.read).count(),
        notifications,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub struct ReadFields {
    /// The newest notification the page showed: later ones stay unread.
    #[serde(default)]
    up_to: i64,
}

pub async fn mark_read(
    State(state): State<WebState>,
    SignedForm { signed_in, form }: SignedForm<ReadFields>,
) -> Result<Response, Rejection> {
    state
        .store
        .mark_notifications_read(signed_in.user.id, form.up_to)
        .await
        .map_err(Rejection::Store)?;
    Ok(Redirect::to("/notifications").into_response())
}
