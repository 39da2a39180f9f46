//! Lethe's admin web pages (SPEC §9): server-rendered HTML over the same store operations and
//! the same policy as the JSON API. Every action is a plain HTML form that works without
//! JavaScript; a little script of the project's own (`assets/lethe.js`) adds the live parts.
//!
//! - [`session`]: the sign-in cookie, the signed-in person of a request, and the token every
//!   form carries against cross-site requests;
//! - [`pages`]: one module per page, each a handler and an askama template under
//!   `templates/`;
//! - [`assets`]: the stylesheet and script, compiled into the binary.
//!
//! **Architecture invariant:** this crate decides no permission and changes no data itself:
//! it asks the store, which asks the policy. It knows nothing of SQL or of the API's JSON.

mod assets;
pub mod export;
pub mod import;
mod pages;
pub mod person;
mod session;

use axum::Router;
use axum::routing::{get, post};
use lethe_store::Store;

pub use pages::not_found_page;

/// How the pages are served.
#[derive(Debug, Clone, Default)]
pub struct WebOptions {
    /// The pages are reached over HTTPS (directly or through a proxy that terminates TLS):
    /// cookies are marked `Secure`, and the session cookie takes the `__Host-` prefix.
    pub behind_tls: bool,
}

/// What every page handler can reach.
#[derive(Debug, Clone)]
pub struct WebState {
    pub store: Store,
    pub options: WebOptions,
}

/// The pages' routes, without a fallback (the server that merges them with the API answers
/// unknown paths).
pub fn routes(store: Store, options: WebOptions) -> Router {
    let state = WebState { store, options };
    Router::new()
        .route("/", get(pages::home::show))
        .route(
            "/sign-in",
            get(pages::sign_in::show).post(pages::sign_in::submit),
        )
        .route("/sign-out", post(pages::sign_in::sign_out))
        .route("/account", get(pages::account::show))
        .route("/account/password", post(pages::account::change_password))
        .route("/account/delivery", post(pages::account::change_delivery))
        .route(
            "/account/sessions/{id}/end",
            post(pages::account::end_session),
        )
        .route(
            "/account/sessions/end-all",
            post(pages::account::end_all_sessions),
        )
        .route(
            "/account/tokens/{id}/revoke",
            post(pages::account::revoke_token),
        )
        .route("/records/{entity}", get(pages::records::show))
        .route("/records/{entity}/count", get(pages::records::count))
        .route("/records/{entity}/bulk", post(pages::records::bulk))
        .route(
            "/snapshots/{id}/trash",
            get(pages::trash::preview).post(pages::trash::submit),
        )
        .route("/snapshots/{id}/trash/confirm", get(pages::trash::confirm))
        .route(
            "/snapshots/{id}/update",
            get(pages::changes::update_form).post(pages::changes::update_submit),
        )
        .route(
            "/snapshots/{id}/anonymize",
            get(pages::changes::anonymize_form).post(pages::changes::anonymize_submit),
        )
        .route("/jobs/{id}", get(pages::jobs::show))
        .route("/jobs/{id}/status", get(pages::jobs::status))
        .route("/batches/{id}/restore", post(pages::jobs::restore_batch))
        .route("/batches/{id}/export", get(pages::export::batch))
        .route("/snapshots/{id}/export", get(pages::export::snapshot))
        // The person's own notifications, a record, the admins' users and history pages.
        .route("/notifications", get(pages::notifications::show))
        .route("/notifications/read", post(pages::notifications::mark_read))
        .route("/records/{entity}/{id}", get(pages::record::show))
        .route(
            "/records/{entity}/{id}/restore",
            post(pages::record::restore),
        )
        .route("/history", get(pages::history::show))
        .route(
            "/selections",
            get(pages::selections::list).post(pages::selections::create),
        )
        .route("/selections/{name}", get(pages::selections::show))
        .route("/selections/{name}/edit", post(pages::selections::update))
        .route("/selections/{name}/delete", post(pages::selections::delete))
        .route(
            "/selections/{name}/trash",
            post(pages::selections::trash_all),
        )
        .route("/users", get(pages::users::list).post(pages::users::add))
        .route("/users/{name}", get(pages::users::show))
        .route("/users/{name}/role", post(pages::users::set_role))
        .route("/users/{name}/password", post(pages::users::set_password))
        .route(
            "/users/{name}/sessions/end",
            post(pages::users::end_sessions),
        )
        .route(
            "/users/{name}/tokens/{token}/revoke",
            post(pages::users::revoke_token),
        )
        .route("/users/{name}/remove", post(pages::users::remove))
        // Where notifications go out: the outbox and the webhooks, for admins.
        .route(
            "/requests",
            get(pages::requests::list).post(pages::requests::register),
        )
        .route("/requests/{id}", get(pages::requests::show))
        .route("/requests/{id}/change", post(pages::requests::change))
        .route("/requests/{id}/link", post(pages::requests::link))
        .route("/requests/{id}/export", get(pages::requests::export))
        .route(
            "/monitors",
            get(pages::monitors::list).post(pages::monitors::add),
        )
        .route("/monitors/{name}", get(pages::monitors::show))
        .route("/monitors/{name}/run", post(pages::monitors::run))
        .route("/monitors/{name}/change", post(pages::monitors::change))
        .route("/monitors/{name}/remove", post(pages::monitors::remove))
        .route("/monitors/{name}/enable", post(pages::monitors::enable))
        .route("/monitors/{name}/disable", post(pages::monitors::disable))
        .route(
            "/monitors/{name}/subscribe",
            post(pages::monitors::subscribe),
        )
        .route("/deliveries", get(pages::deliveries::show))
        .route("/deliveries/{id}/retry", post(pages::deliveries::retry))
        .route("/webhooks", post(pages::deliveries::add))
        .route("/webhooks/{id}/remove", post(pages::deliveries::remove))
        // Retention policies, for admins: the list and the add form; a policy's page with
        // its dry runs, runs and the steps of four eyes.
        .route(
            "/policies",
            get(pages::policies::list).post(pages::policies::add),
        )
        .route("/policies/{name}", get(pages::policies::show))
        .route("/policies/{name}/edit", post(pages::policies::edit))
        .route("/policies/{name}/approve", post(pages::policies::approve))
        .route("/policies/{name}/enable", post(pages::policies::enable))
        .route("/policies/{name}/disable", post(pages::policies::disable))
        .route("/policies/{name}/dry-run", post(pages::policies::dry_run))
        .route("/policies/{name}/run", post(pages::policies::run))
        // The recycle bin and the permanent deletion console (issue 16, parts 5 and 6).
        .route("/recycle-bin", get(pages::recycle_bin::show))
        .route(
            "/batches/{id}/purge",
            get(pages::recycle_bin::purge_preview).post(pages::recycle_bin::purge_submit),
        )
        .route(
            "/batches/{id}/purge/confirm",
            get(pages::recycle_bin::purge_confirm),
        )
        .route("/deletions", get(pages::deletions::show))
        .route("/purges/{job}/cancel", post(pages::deletions::cancel))
        .route("/purges/{job}/receipt", get(pages::deletions::receipt))
        .route(
            "/purges/{job}/receipt.json",
            get(pages::deletions::receipt_json),
        )
        .route("/assets/{file}", get(assets::serve))
        .method_not_allowed_fallback(pages::method_not_allowed)
        .with_state(state)
}
