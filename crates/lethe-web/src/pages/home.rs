//! The home page: the kinds of records Lethe holds, each leading to its records.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::WebState;
use crate::pages::{Frame, Section, render};
use crate::session::{Rejection, SignedIn};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    frame: Frame,
    entities: Vec<EntityLine>,
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
    let page = HomePage {
        frame: Frame::of(&state, &signed_in, Section::Home).await,
        entities,
    };
    Ok(render(StatusCode::OK, &page))
}
