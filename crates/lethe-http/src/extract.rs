//! Request extractors whose failures are our own clear 4xx errors instead of axum's plain
//! text rejections.

use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// A JSON body. Besides axum's checks (content type, size, syntax, shape), a body may hold
/// no NUL character (`\u0000`) in any string or key: Lethe cannot store one (PostgreSQL
/// refuses it in text and in `jsonb`), so it is refused here, once for every route, with where
/// it is (SPEC §10).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            discard(request.into_body().into_data_stream(), 0).await;
            return Err(ApiError::BadRequest(
                "send the body as JSON with `Content-Type: application/json`".to_owned(),
            ));
        }
        let bytes = read_body(request.into_body()).await?;
        let value = match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => value,
            Err(rejection) => {
                return Err(ApiError::BadRequest(match rejection {
                    JsonRejection::JsonSyntaxError(error) => {
                        format!("the body is not valid JSON: {}", error.body_text())
                    }
                    JsonRejection::JsonDataError(error) => format!(
                        "the body does not have the expected shape: {}",
                        error.body_text()
                    ),
                    other => other.body_text(),
                }));
            }
        };
        if has_nul_escape(&bytes) {
            let place = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|body| nul_place(&body, "$"))
                .unwrap_or_else(|| "the body".to_owned());
            return Err(ApiError::BadRequest(format!(
                "{place} holds a NUL character (\\u0000), which Lethe cannot store; remove it"
            )));
        }
        Ok(JsonBody(value))
    }
}

/// The largest request body the API reads: 2 MiB.
pub const BODY_LIMIT: usize = 2 << 20;

/// How much of a refused body is still read, and thrown away, before the answer goes out.
/// A client usually sends its whole body before it reads the answer; if the server closed the
/// connection with the body half read, the client would see a reset connection instead of
/// the error that says what was wrong.
const DISCARD_LIMIT: usize = 64 << 20;

/// The whole body, or 413 when it is larger than [`BODY_LIMIT`]. Memory stays bounded: at
/// most the limit is kept, and the rest of a refused body is read and dropped piece by piece.
async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut kept: Vec<u8> = Vec::new();
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|error| {
            ApiError::BadRequest(format!(
                "the body could not be read to its end ({error}); send it again"
            ))
        })?;
        if kept.len() + piece.len() > BODY_LIMIT {
            let seen = kept.len() + piece.len();
            drop(kept);
            discard(stream, seen).await;
            return Err(ApiError::PayloadTooLarge(format!(
                "the body is larger than {} MiB, the most one request may send; send fewer \
                 records or ids per request (a snapshot of many records is made from a filter \
                 with `all_matching`, not from a list of ids)",
                BODY_LIMIT >> 20
            )));
        }
        kept.extend_from_slice(&piece);
    }
    Ok(Bytes::from(kept))
}

/// Reads and drops what is left of a refused body, up to [`DISCARD_LIMIT`] bytes in all
/// (`seen` already read), so that the client gets the answer.
async fn discard(mut stream: axum::body::BodyDataStream, mut seen: usize) {
    while seen <= DISCARD_LIMIT {
        match stream.next().await {
            Some(Ok(piece)) => seen += piece.len(),
            Some(Err(_)) | None => return,
        }
    }
}

/// Whether the content type is JSON (`application/json` or `application/…+json`), as axum's
/// own `Json` extractor decides.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence
        .strip_prefix("application/")
        .is_some_and(|subtype| subtype == "json" || subtype.ends_with("+json"))
}

/// Whether valid JSON text holds the escape `\u0000`: the only way a NUL can be in it, since
/// a raw NUL byte is not valid JSON. Escapes are skipped whole, so `\\u0000` (a backslash,
/// then `u0000`) is not one.
fn has_nul_escape(bytes: &[u8]) -> bool {
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\' {
            if bytes.get(index + 1..index + 6) == Some(b"u0000".as_slice()) {
                return true;
            }
            index += 2;
        } else {
            index += 1;
        }
    }
    false
}

/// Where in `value` (at JSON path `path`) the first string or key holding a NUL is.
fn nul_place(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then(|| path.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_place(item, &format!("{path}[{index}]"))),
        Value::Object(object) => object.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(format!("a key of {path}"))
            } else {
                nul_place(item, &format!("{path}.{key}"))
            }
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// Path parameters.
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A NUL can only come percent-encoded; no name or id in Lethe holds one, and
        // PostgreSQL refuses it in text, so it is refused here, once for every route.
        if parts.uri.path().contains("%00") {
            return Err(ApiError::BadRequest(
                "the path holds a NUL character (%00), which no name or id in Lethe has; remove it"
                    .to_owned(),
            ));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParams(value))
            .map_err(|rejection: PathRejection| {
                ApiError::BadRequest(format!(
                    "bad path: {}; a record id is a whole number",
                    rejection.body_text()
                ))
            })
    }
}

/// Query-string parameters.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| QueryParams(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::BadRequest(format!("bad query parameters: {}", rejection.body_text()))
            })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{has_nul_escape, nul_place};

    #[test]
    fn a_nul_escape_is_found_and_an_escaped_backslash_is_not_one() {
        assert!(has_nul_escape(br#"{"name": "a\u0000b"}"#));
        assert!(has_nul_escape(br#"{"a\u0000": 1}"#));
        assert!(!has_nul_escape(br#"{"name": "a\\u0000b"}"#));
        assert!(has_nul_escape(br#"{"name": "a\\\u0000b"}"#));
        assert!(!has_nul_escape(br#"{"name": "\u0001 \"u0000\""}"#));
        assert!(!has_nul_escape(b"\\"));
    }

    #[test]
    fn the_place_of_a_nul_is_a_json_path() {
        assert_eq!(
            nul_place(&json!({"custom": {"list": [1, "x\u{0}"]}}), "$"),
            Some("$.custom.list[1]".to_owned())
        );
        assert_eq!(
            nul_place(&json!({"custom": {"a\u{0}": 1}}), "$"),
            Some("a key of $.custom".to_owned())
        );
        assert_eq!(nul_place(&json!({"name": "plain"}), "$"), None);
    }
}
