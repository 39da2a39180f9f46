//! The stylesheet and the script of the pages, compiled into the binary: nothing is fetched
//! from elsewhere at run time, and the content security policy allows only this origin.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const STYLESHEET: &str = include_str!("../assets/lethe.css");
const SCRIPT: &str = include_str!("../assets/lethe.js");

pub async fn serve(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "lethe.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "lethe.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return crate::pages::not_found_page(),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // An hour: a new release's pages pick up its assets soon enough.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}
