//! Streamed downloads of exports, for the API (`lethe-http`) and the pages alike: each piece
//! (a page of records, a piece of an attachment) is written and handed to the connection
//! before the next is made, through a queue of two, so memory stays the same whatever the
//! size; a client that goes away stops the export at the next piece, and the history records
//! how far it got.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use lethe_formats::{Chunks, ExportWriter, Format};
use lethe_store::{Export, ExportPage, Store, StoreError};

/// Pieces made ahead of the connection.
const QUEUED_PIECES: usize = 2;

pub(crate) fn written(error: std::io::Error) -> StoreError {
    StoreError::Internal(format!("writing the export failed: {error}"))
}

/// A download made a piece at a time.
pub(crate) trait Pieces: Send + 'static {
    /// The next bytes, or `None` when the file is whole.
    fn next_piece(&mut self) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Records the export in the history, whole (`complete`) or not.
    fn end(self, complete: bool) -> impl Future<Output = Result<i64, StoreError>> + Send;
}

/// The answer that sends `pieces`: the first piece is made before the answer starts, so
/// that a filter too slow to run or a database that is away gets an error answer rather
/// than a cut-off download; `held` is kept until the export ends (a place in the filter
/// gate). `media` and `file` name what it is.
pub(crate) async fn stream(
    mut pieces: impl Pieces,
    media: &'static str,
    file: &str,
    held: impl Send + 'static,
) -> Result<Response, StoreError> {
    let first = pieces.next_piece().await?;
    let (sender, receiver) =
        tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(QUEUED_PIECES);
    tokio::spawn(async move {
        let _held = held;
        let mut complete = true;
        let mut next = first;
        while let Some(bytes) = next {
            if sender.send(Ok(Bytes::from(bytes))).await.is_err() {
                complete = false;
                break;
            }
            next = match pieces.next_piece().await {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(%error, "an export stopped");
                    let _ = sender
                        .send(Err(std::io::Error::other(error.to_string())))
                        .await;
                    complete = false;
                    break;
                }
            };
        }
        if let Err(error) = pieces.end(complete).await {
            tracing::error!(%error, "an export could not be recorded in the history");
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers: &mut HeaderMap = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

/// An export's records, a page a piece.
struct Records {
    export: Export,
    writer: Option<ExportWriter<Chunks>>,
    format: Format,
    guarded: u64,
}

impl Records {
    fn page(&mut self, page: &ExportPage) -> Result<Vec<u8>, std::io::Error> {
        let Some(writer) = &mut self.writer else {
            return Ok(Vec::new());
        };
        writer.section(&page.entity, self.export.columns(&page.entity))?;
        for record in &page.records {
            Export::with_cells(record, |cells| writer.row(cells))?;
        }
        writer.take_bytes()
    }
}

impl Pieces for Records {
    async fn next_piece(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        match self.export.next_page().await? {
            Some(page) => self.page(&page).map(Some).map_err(written),
            // The end of the file: a zip's directory.
            None => match self.writer.take() {
                Some(writer) => {
                    self.guarded = writer.guarded();
                    writer.finish_bytes().map(Some).map_err(written)
                }
                None => Ok(None),
            },
        }
    }

    async fn end(self, complete: bool) -> Result<i64, StoreError> {
        let guarded = self
            .writer
            .as_ref()
            .map_or(self.guarded, ExportWriter::guarded);
        self.export
            .finish(self.format.as_str(), complete, guarded)
            .await
    }
}

/// The download of `export` in `format` (see [`stream`]).
pub async fn download(
    store: &Store,
    export: Export,
    format: Format,
    held: impl Send + 'static,
) -> Result<Response, StoreError> {
    let several = export.several();
    let day = lethe_store::format_date(store.now().date());
    let file = format!("{}-{day}.{}", export.entity(), format.extension(several));
    let writer = ExportWriter::chunked(format, several).made_at(export.started_at());
    let records = Records {
        export,
        writer: Some(writer),
        format,
        guarded: 0,
    };
    let mut response = stream(records, format.media_type(several), &file, held).await?;
    if format == Format::Csv {
        response.headers_mut().insert(
            "lethe-formula-guard",
            HeaderValue::from_static(
                "text cells starting with =, +, -, @, tab or carriage return are prefixed with '",
            ),
        );
    }
    Ok(response)
}
