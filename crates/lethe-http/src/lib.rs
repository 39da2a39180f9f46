//! The Lethe HTTP server: the JSON API under `/api/v1` (SPEC §8) with its OpenAPI document,
//! and the web pages of `lethe-web` beside it, behind one set of security headers.
//!
//! **Architecture invariant:** this crate is the only one that knows the JSON shapes of the
//! API and HTTP status codes. It holds no business rules: it authenticates, parses, calls the
//! store and renders the result.

mod auth;
mod deliveries;
mod error;
mod export;
mod extract;
mod files;
mod gate;
mod import;
mod lifecycle;
mod monitors;
mod openapi;
mod person;
mod policies;
mod requests;
mod selections;
mod stats;
mod users;

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router, middleware};
use lethe_store::{Filter, ListQuery, Scope, SortOrder, Store};
use serde::Deserialize;
use serde_json::{Value as Json_, json};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use auth::CurrentUser;
pub use error::ApiError;
use extract::{BODY_LIMIT, JsonBody, PathParams, QueryParams};
pub use lethe_web::WebOptions;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    /// Limits the filter-driven requests each user has running at once.
    pub filters: std::sync::Arc<gate::FilterGate>,
}

/// The whole application with the pages' default options (plain HTTP); see [`app`].
pub fn router(store: Store) -> Router {
    app(store, WebOptions::default())
}

/// The whole application: API routes behind the token check, the public OpenAPI document
/// and health check, and the web pages; every response carries the security headers.
pub fn app(store: Store, web: WebOptions) -> Router {
    let pages = lethe_web::routes(store.clone(), web);
    let state = AppState {
        store,
        filters: std::sync::Arc::default(),
    };
    let protected = Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/schema", get(schema))
        .route("/api/v1/users", get(users::list).post(users::create))
        .route("/api/v1/users/{user}", axum::routing::delete(users::remove))
        .route("/api/v1/users/{user}/tokens", get(users::tokens))
        .route(
            "/api/v1/users/{user}/delivery",
            get(deliveries::show).put(deliveries::change),
        )
        .route(
            "/api/v1/webhooks",
            get(deliveries::webhooks).post(deliveries::add_webhook),
        )
        .route(
            "/api/v1/webhooks/{id}",
            axum::routing::delete(deliveries::remove_webhook),
        )
        .route(
            "/api/v1/monitors",
            get(monitors::list).post(monitors::create),
        )
        .route(
            "/api/v1/monitors/{name}",
            get(monitors::show)
                .patch(monitors::change)
                .delete(monitors::remove),
        )
        .route(
            "/api/v1/monitors/{name}/run",
            axum::routing::post(monitors::run),
        )
        .route("/api/v1/monitors/{name}/hits", get(monitors::hits))
        .route("/api/v1/deliveries", get(deliveries::list))
        .route(
            "/api/v1/deliveries/{id}/retry",
            axum::routing::post(deliveries::retry),
        )
        .route("/api/v1/policies", get(policies::list).post(policies::add))
        .route(
            "/api/v1/policies/{name}",
            get(policies::show).patch(policies::edit),
        )
        .route(
            "/api/v1/policies/{name}/approve",
            axum::routing::post(policies::approve),
        )
        .route(
            "/api/v1/policies/{name}/enable",
            axum::routing::post(policies::enable),
        )
        .route(
            "/api/v1/policies/{name}/disable",
            axum::routing::post(policies::disable),
        )
        .route(
            "/api/v1/policies/{name}/dry-run",
            axum::routing::post(policies::dry_run),
        )
        .route(
            "/api/v1/policies/{name}/run",
            axum::routing::post(policies::run),
        )
        .route("/api/v1/policies/{name}/runs", get(policies::runs))
        .route(
            "/api/v1/requests",
            get(requests::list).post(requests::create),
        )
        .route(
            "/api/v1/requests/{id}",
            get(requests::show).patch(requests::change),
        )
        .route(
            "/api/v1/requests/{id}/links",
            axum::routing::post(requests::link),
        )
        .route(
            "/api/v1/tokens/{id}/revoke",
            axum::routing::post(users::revoke_token),
        )
        .route("/api/v1/records/{entity}/count", get(count_records))
        .route("/api/v1/export/{entity}", get(export::export))
        .route(
            "/api/v1/import/{entity}",
            axum::routing::post(import::import).layer(axum::extract::DefaultBodyLimit::max(
                usize::try_from(import::IMPORT_LIMIT).unwrap_or(usize::MAX),
            )),
        )
        .route("/api/v1/person", get(person::show))
        .route("/api/v1/person/export", get(person::export))
        .route(
            "/api/v1/selections",
            get(selections::list).post(selections::create),
        )
        .route(
            "/api/v1/selections/{name}",
            get(selections::show)
                .put(selections::update)
                .delete(selections::delete),
        )
        .route(
            "/api/v1/selections/{name}/records",
            get(selections::records),
        )
        .route(
            "/api/v1/snapshots",
            axum::routing::post(selections::create_snapshot),
        )
        .route("/api/v1/snapshots/{id}", get(selections::show_snapshot))
        .route(
            "/api/v1/snapshots/{id}/records",
            get(selections::snapshot_records),
        )
        .route("/api/v1/query/{entity}", axum::routing::post(query_records))
        .route(
            "/api/v1/records/{entity}",
            get(list_records)
                .post(create_record)
                .layer(axum::extract::DefaultBodyLimit::max(
                    usize::try_from(files::UPLOAD_LIMIT).unwrap_or(usize::MAX) + BODY_LIMIT,
                )),
        )
        .route(
            "/api/v1/records/{entity}/{id}",
            get(get_record).patch(update_record),
        )
        .route("/api/v1/records/{entity}/{id}/file", get(files::download))
        .route(
            "/api/v1/trash/preview",
            axum::routing::post(lifecycle::preview_trash),
        )
        .route("/api/v1/trash", axum::routing::post(lifecycle::trash))
        .route(
            "/api/v1/batches/{id}/restore",
            axum::routing::post(lifecycle::restore),
        )
        .route("/api/v1/batches/{id}", get(lifecycle::show_batch))
        .route(
            "/api/v1/batches/{id}/purge/preview",
            get(lifecycle::preview_purge),
        )
        .route(
            "/api/v1/batches/{id}/purge",
            axum::routing::post(lifecycle::request_purge),
        )
        .route("/api/v1/purges", get(lifecycle::list_purges))
        .route(
            "/api/v1/purges/{id}/cancel",
            axum::routing::post(lifecycle::cancel_purge),
        )
        .route(
            "/api/v1/anonymize",
            axum::routing::post(lifecycle::anonymize),
        )
        .route(
            "/api/v1/update/preview",
            axum::routing::post(lifecycle::preview_update),
        )
        .route("/api/v1/update", axum::routing::post(lifecycle::update))
        .route("/api/v1/jobs", get(lifecycle::list_jobs))
        .route("/api/v1/jobs/{id}", get(lifecycle::show_job))
        .route("/api/v1/jobs/{id}/skips", get(lifecycle::job_skips))
        .route(
            "/api/v1/jobs/{id}/resume",
            axum::routing::post(lifecycle::resume_job),
        )
        .route("/api/v1/history", get(lifecycle::history))
        .route("/api/v1/history/verify", get(lifecycle::verify_history))
        .route("/api/v1/stats", get(stats::show))
        .route("/api/v1/notifications", get(lifecycle::notifications))
        .route(
            "/api/v1/notifications/read",
            axum::routing::post(lifecycle::mark_notifications_read),
        )
        // Before the token check, which then covers it: a caller without a valid token hears
        // 401 before anything about methods.
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    let api = Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/openapi.json", get(openapi_document))
        .merge(protected)
        // For the public routes; the protected ones have theirs, behind the token check.
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    security_headers(
        api.merge(pages)
            .fallback(not_found)
            .layer(TraceLayer::new_for_http().make_span_with(request_span)),
    )
}

/// What every response says to the browser: run scripts, styles and images from this origin
/// only (the pages have no inline script), never be framed (against clickjacking), never
/// guess a content type, and tell other sites nothing of the address a link came from.
fn security_headers(router: Router) -> Router {
    use axum::http::{HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                          img-src 'self' data:; object-src 'none'; base-uri 'none'; \
                          form-action 'self'; frame-ancestors 'none'";
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(POLICY),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
}

/// The span every request's log lines carry: its method and path only. The default span
/// records the whole URI, and a query string can hold personal data (a filter such as
/// `email = "…"`), which is never logged (STYLE §10); headers, with the bearer token, are
/// left out as they are by default.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// Binds `address` (port 0 picks a free port) and returns the listener and the real address.
pub async fn bind(address: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves the API and the pages on a bound listener until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    web: WebOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(store, web))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn health(State(state): State<AppState>) -> Json<Json_> {
    Json(json!({"status": "ok", "backend": state.store.backend().as_str()}))
}

/// An unknown address: the JSON error under `/api/`, a page elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    if uri.path().starts_with("/api/") {
        ApiError::NotFound("no such route; the API is described at /api/v1/openapi.json".to_owned())
            .into_response()
    } else {
        lethe_web::not_found_page()
    }
}

/// A route that exists, asked with a method it does not have: the JSON error shape, like
/// every other 4xx (axum's own answer has an empty body); axum still sets `Allow`.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{method} is not allowed on {}; the API is described at /api/v1/openapi.json",
        uri.path()
    ))
}

async fn openapi_document(State(state): State<AppState>) -> Json<Json_> {
    Json(openapi::document(state.store.schema()))
}

async fn me(user: CurrentUser) -> Json<Json_> {
    Json(json!(user.0))
}

async fn schema(State(state): State<AppState>) -> Json<Json_> {
    Json(state.store.schema().to_json())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    sort: Option<String>,
    order: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
    /// A filter in its text form.
    filter: Option<String>,
    scope: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountParams {
    filter: Option<String>,
    scope: Option<String>,
}

fn parse_order(raw: Option<&str>) -> Result<SortOrder, ApiError> {
    match raw {
        None | Some("asc") => Ok(SortOrder::Asc),
        Some("desc") => Ok(SortOrder::Desc),
        Some(other) => Err(ApiError::BadRequest(format!(
            "order must be asc or desc, got `{other}`"
        ))),
    }
}

pub(crate) fn parse_scope(raw: Option<&str>) -> Result<Scope, ApiError> {
    Ok(raw.map(Scope::parse).transpose()?.unwrap_or_default())
}

pub(crate) fn text_filter(
    store: &Store,
    entity: &str,
    text: Option<&str>,
) -> Result<Filter, ApiError> {
    Ok(store.parse_filter(entity, text.unwrap_or(""))?)
}

pub(crate) fn page_json(page: &lethe_store::Page) -> Json_ {
    let records: Vec<Json_> = page.records.iter().map(|record| record.to_json()).collect();
    json!({"records": records, "next_cursor": page.next_cursor})
}

async fn list_records(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(entity): PathParams<String>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<Json_>, ApiError> {
    let _pass = state.filters.enter(user.0.id)?;
    let order = parse_order(params.order.as_deref())?;
    let scope = parse_scope(params.scope.as_deref())?;
    let query = ListQuery {
        sort: params.sort,
        order,
        limit: params.limit,
        cursor: params.cursor,
    };
    // No filter is the filter `all`: one path for plain and filtered lists.
    let filter = text_filter(&state.store, &entity, params.filter.as_deref())?;
    let page = state.store.select_page(&filter, scope, &query).await?;
    Ok(Json(page_json(&page)))
}

async fn count_records(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(entity): PathParams<String>,
    QueryParams(params): QueryParams<CountParams>,
) -> Result<Json<Json_>, ApiError> {
    let _pass = state.filters.enter(user.0.id)?;
    let scope = parse_scope(params.scope.as_deref())?;
    let filter = text_filter(&state.store, &entity, params.filter.as_deref())?;
    let count = state.store.count_matching(&filter, scope).await?;
    Ok(Json(
        json!({"entity": entity, "filter": filter.to_text(), "scope": scope.as_str(), "count": count}),
    ))
}

/// A selection request with the filter in either form: text (a JSON string) or JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryBody {
    #[serde(default)]
    filter: Option<Json_>,
    scope: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
    /// Only count; return no records.
    #[serde(default)]
    count_only: bool,
}

async fn query_records(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(entity): PathParams<String>,
    JsonBody(body): JsonBody<QueryBody>,
) -> Result<Json<Json_>, ApiError> {
    let _pass = state.filters.enter(user.0.id)?;
    let filter = match &body.filter {
        None | Some(Json_::Null) => text_filter(&state.store, &entity, None)?,
        Some(Json_::String(text)) => text_filter(&state.store, &entity, Some(text))?,
        Some(json) => state.store.filter_from_json(&entity, json)?,
    };
    let scope = parse_scope(body.scope.as_deref())?;
    let count = state.store.count_matching(&filter, scope).await?;
    let mut answer = json!({"entity": entity, "filter": filter.to_text(), "scope": scope.as_str(), "count": count});
    if !body.count_only {
        let order = parse_order(body.order.as_deref())?;
        let query = ListQuery {
            sort: body.sort,
            order,
            limit: body.limit,
            cursor: body.cursor,
        };
        let page = state.store.select_page(&filter, scope, &query).await?;
        let page = page_json(&page);
        answer["records"] = page["records"].clone();
        answer["next_cursor"] = page["next_cursor"].clone();
    }
    Ok(Json(answer))
}

fn as_object(body: Json_) -> Result<serde_json::Map<String, Json_>, ApiError> {
    match body {
        Json_::Object(object) => Ok(object),
        _ => Err(ApiError::BadRequest(
            "the body must be a JSON object of field values, such as {\"name\": \"Acme\"}"
                .to_owned(),
        )),
    }
}

/// `POST /api/v1/records/{entity}`: a JSON object of field values, or for an entity whose
/// records are files, a multipart upload with the file (see [`files::create_with_file`]).
async fn create_record(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams(entity): PathParams<String>,
    request: axum::extract::Request,
) -> Result<axum::response::Response, ApiError> {
    if files::is_multipart(request.headers()) {
        return files::create_with_file(&state, &user, &entity, request).await;
    }
    let JsonBody(body) =
        <JsonBody<Json_> as axum::extract::FromRequest<()>>::from_request(request, &()).await?;
    let input = as_object(body)?;
    let record = state
        .store
        .create_record(&entity, &input, Some(user.0.id))
        .await?;
    Ok((StatusCode::CREATED, Json(record.to_json())).into_response())
}

async fn get_record(
    State(state): State<AppState>,
    _user: CurrentUser,
    PathParams((entity, id)): PathParams<(String, i64)>,
) -> Result<Json<Json_>, ApiError> {
    let record = state.store.get_record(&entity, id).await?;
    Ok(Json(record.to_json()))
}

async fn update_record(
    State(state): State<AppState>,
    user: CurrentUser,
    PathParams((entity, id)): PathParams<(String, i64)>,
    JsonBody(body): JsonBody<Json_>,
) -> Result<Json<Json_>, ApiError> {
    let input = as_object(body)?;
    let record = state
        .store
        .update_record(&entity, id, &input, Some(user.0.id))
        .await?;
    Ok(Json(record.to_json()))
}
