//! The home page: the kinds of records Lethe holds, each leading to its records, and the
//! person's latest notifications.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use lethe_store::Notification;

use crate::WebState;
use crate::pages::{Frame, Section, render};
use crate::session::{Rejection, SignedIn};

/// How many notifications the home page shows.
const LATEST: u64 = 5;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    frame: Frame,
    entities: Vec<EntityLine>,
    notifications: Vec<Notification>,
}

struct EntityLine {
    name: String,
    description: String,
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
) -> Result<Response, Rejection> {
    let entities = state
        .store
        .schema()
        .entities()
        .iter()
        .map(|entity| EntityLine {
            name: entity.name.as_str().to_owned(),
            description: entity.description.clone(),
        })
        .collect();
    let notifications = state
        .store
        .notifications(signed_in.user.id, false, LATEST)
        .await
        .map_err(Rejection::Store)?;
    let page = HomePage {
        frame: Frame::of(&state, &signed_in, Section::Home).await,
        entities,
        notifications,
    };
    Ok(render(StatusCode::OK, &page))
}
