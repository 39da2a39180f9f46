//! Records that are files: created with a multipart upload whose content Lethe stores under
//! a key of its own and measures, and read back as a download.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lethe_store::IncomingFile;
use serde_json::Value as Json_;

use crate::extract::{BODY_LIMIT, PathParams};
use crate::{ApiError, AppState, CurrentUser};

/// The largest file an upload may carry: 256 MiB.
pub const UPLOAD_LIMIT: u64 = 256 << 20;

/// Whether a request body is `multipart/form-data`.
pub fn is_multipart(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// `POST /api/v1/records/{entity}` with `multipart/form-data`: a `record` part holding the
/// fields as a JSON object, and a `file` part with the content (its file name fills a
/// `file_name` field that is not given).
pub async fn create_with_file(
    state: &AppState,
    user: &CurrentUser,
    entity: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let mut fields: Option<serde_json::Map<String, Json_>> = None;
    let mut received: Option<(IncomingFile, Option<String>)> = None;
    let broken = |error: axum::extract::multipart::MultipartError| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(too_large())
        } else {
            ApiError::BadRequest(format!(
                "the multipart body cannot be read: {}",
                error.body_text()
            ))
        }
    };
    while let Some(mut part) = multipart.next_field().await.map_err(broken)? {
        match part.name() {
            Some("record") => {
                let mut bytes = Vec::new();
                while let Some(chunk) = part.chunk().await.map_err(broken)? {
                    if bytes.len() + chunk.len() > BODY_LIMIT {
                        return Err(ApiError::PayloadTooLarge(
                            "the `record` part is larger than 2 MiB".to_owned(),
                        ));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                match serde_json::from_slice::<Json_>(&bytes) {
                    Ok(Json_::Object(object)) => fields = Some(object),
                    Ok(_) => {
                        return Err(ApiError::BadRequest(
                            "the `record` part must be a JSON object of field values".to_owned(),
                        ));
                    }
                    Err(error) => {
                        return Err(ApiError::BadRequest(format!(
                            "the `record` part is not valid JSON: {error}"
                        )));
                    }
                }
            }
            Some("file") => {
                if received.is_some() {
                    return Err(ApiError::BadRequest(
                        "send one `file` part: a record holds one file".to_owned(),
                    ));
                }
                let name = part.file_name().map(str::to_owned);
                let mut incoming = state.store.receive_file(entity).await?;
                while let Some(chunk) = part.chunk().await.map_err(broken)? {
                    if incoming.size() + chunk.len() as u64 > UPLOAD_LIMIT {
                        incoming.abandon().await;
                        return Err(ApiError::PayloadTooLarge(too_large()));
                    }
                    incoming.write(&chunk).await?;
                }
                received = Some((incoming, name));
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown part {:?}: send a `record` part (the fields as JSON) and a `file` part",
                    other.unwrap_or("")
                )));
            }
        }
    }
    let Some((incoming, name)) = received else {
        return Err(ApiError::BadRequest(
            "no `file` part: a record of this entity is created with its file".to_owned(),
        ));
    };
    let mut fields = fields.unwrap_or_default();
    if let Some(name) = name
        && !fields.contains_key("file_name")
        && state
            .store
            .schema()
            .entity(entity)
            .is_some_and(|entity| entity.column("file_name").is_some())
    {
        fields.insert("file_name".to_owned(), Json_::String(name));
    }
    let record = state
        .store
        .create_record_with_file(entity, &fields, Some(user.0.id), incoming)
        .await?;
    Ok((StatusCode::CREATED, Json(record.to_json())).into_response())
}

fn too_large() -> String {
    format!(
        "the file is larger than the {} MiB an upload may carry",
        UPLOAD_LIMIT >> 20
    )
}

/// `GET /api/v1/records/{entity}/{id}/file`: the file of an active record, streamed.
pub async fn download(
    State(state): State<AppState>,
    _user: CurrentUser,
    PathParams((entity, id)): PathParams<(String, i64)>,
) -> Result<Response, ApiError> {
    let (record, file) = state.store.open_record_file(&entity, id).await?;
    let length = file.metadata().await.map(|metadata| metadata.len()).ok();
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = vec![0u8; 64 << 10];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(buffer)),
                    file,
                ))
            }
            Err(error) => Some((Err(error), file)),
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    let name = match record.get("file_name") {
        Some(lethe_store::Value::Text(name)) => name.clone(),
        _ => format!("{entity}-{id}"),
    };
    // An ASCII fallback and the exact name in RFC 5987 form.
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
