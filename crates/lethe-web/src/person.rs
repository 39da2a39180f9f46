//! Everything held about one person, as one zip (an access request, GDPR Art. 15): the
//! person's contact records, every record that points at them through any relation (with
//! its related records, in the trash or not), a JSON document per entity, the contents of
//! their attachment files, and a summary a person can read. Made a piece at a time —
//! [`PersonZip::next_bytes`] — so that the command line writes it to a file and the API and
//! the pages stream it, with the same bytes, in memory that does not grow with its size.

use lethe_formats::{Chunks, ExportWriter};
use lethe_store::{
    Actor, Export, ExportPage, ExportSource, PersonKey, Scope, Store, StoreError, holds_files,
};
use tokio::io::AsyncReadExt;

/// The entity people are held in.
pub const PERSON: &str = "contact";

/// How much of an attachment file one piece holds.
const FILE_PIECE: usize = 256 * 1024;

use crate::export::written;

/// A person's zip being made.
#[derive(Debug)]
pub struct PersonZip {
    store: Store,
    export: Export,
    writer: ExportWriter<Chunks>,
    /// Records per entity, the person's own contact records first.
    counts: Vec<(String, u64)>,
    /// The file-holding records met so far, to add their files after the records.
    files: Vec<(String, lethe_store::Record)>,
    /// The file being copied into the zip.
    reading: Option<tokio::fs::File>,
    /// Attachments whose file could not be read, with why (said in the summary).
    missing: Vec<String>,
    copied: u64,
    stage: Stage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Records,
    Files,
    Summary,
    Done,
}

impl PersonZip {
    /// Starts gathering what is held about `key` (admins only). A person with no contact
    /// record, active or in the trash, is refused with a clear message.
    pub async fn start(
        store: &Store,
        key: PersonKey,
        actor: &Actor,
    ) -> Result<PersonZip, StoreError> {
        let mut export = store
            .start_export(PERSON, ExportSource::Person(key), Scope::All, true, actor)
            .await?;
        let counts = export.tally().await?.unwrap_or_default();
        let writer = ExportWriter::chunked_documents().made_at(export.started_at());
        Ok(PersonZip {
            store: store.clone(),
            export,
            writer,
            counts,
            files: Vec::new(),
            reading: None,
            missing: Vec::new(),
            copied: 0,
            stage: Stage::Records,
        })
    }

    /// How many records of each entity the zip holds, the person's contact records first:
    /// also the preview of what erasing the person reaches.
    pub fn counts(&self) -> &[(String, u64)] {
        &self.counts
    }

    /// The next piece of the zip, or `None` when it is whole.
    pub async fn next_bytes(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        loop {
            match self.stage {
                Stage::Records => match self.export.next_page().await? {
                    Some(page) => return self.records(&page).map(Some),
                    None => self.stage = Stage::Files,
                },
                Stage::Files => {
                    if let Some(piece) = self.file_piece().await? {
                        return Ok(Some(piece));
                    }
                    self.stage = Stage::Summary;
                }
                Stage::Summary => {
                    let summary = self.summary();
                    self.writer.file("README.txt").map_err(written)?;
                    self.writer
                        .file_bytes(summary.as_bytes())
                        .map_err(written)?;
                    self.stage = Stage::Done;
                    let tail =
                        std::mem::replace(&mut self.writer, ExportWriter::chunked_documents());
                    return tail.finish_bytes().map(Some).map_err(written);
                }
                Stage::Done => return Ok(None),
            }
        }
    }

    fn records(&mut self, page: &ExportPage) -> Result<Vec<u8>, StoreError> {
        let columns = self.export.columns(&page.entity);
        self.writer
            .section(&page.entity, columns)
            .map_err(written)?;
        for record in &page.records {
            Export::with_cells(record, |cells| self.writer.row(cells)).map_err(written)?;
        }
        if self.store.entity(&page.entity).is_ok_and(holds_files) {
            self.files.extend(
                page.records
                    .iter()
                    .map(|record| (page.entity.clone(), record.clone())),
            );
        }
        self.writer.take_bytes().map_err(written)
    }

    /// The next piece of an attachment file; `None` when every file was copied.
    async fn file_piece(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        loop {
            if let Some(file) = &mut self.reading {
                let mut piece = vec![0; FILE_PIECE];
                let read = file.read(&mut piece).await.map_err(|error| {
                    StoreError::Internal(format!("reading an attachment failed: {error}"))
                })?;
                if read > 0 {
                    self.writer.file_bytes(&piece[..read]).map_err(written)?;
                    return self.writer.take_bytes().map(Some).map_err(written);
                }
                self.reading = None;
                self.copied += 1;
            }
            let Some((entity, record)) = self.files.pop() else {
                return Ok(None);
            };
            match self.store.open_file_of(&entity, &record).await {
                Ok(file) => {
                    let name = format!("files/{entity}-{}-{}", record.id, file_name(&record));
                    self.writer.file(&name).map_err(written)?;
                    self.reading = Some(file);
                }
                Err(error) => self
                    .missing
                    .push(format!("{entity} {}: {error}", record.id)),
            }
        }
    }

    /// The summary a person can read: what the zip holds and how to read it.
    fn summary(&self) -> String {
        let made = lethe_store::format_timestamp(self.export.started_at());
        let mut text = format!(
            "Everything Lethe held about one person on {made} (UTC), gathered for an access\r\n\
             request (GDPR Art. 15).\r\n\r\n\
             Each .json file is a list of records of one kind, with every field Lethe stores.\r\n\
             Records in the trash are included: they are held until they are erased for good.\r\n\r\n"
        );
        let width = self
            .counts
            .iter()
            .map(|(entity, _)| entity.len() + 5)
            .max()
            .unwrap_or(10);
        for (entity, count) in &self.counts {
            let what = self
                .store
                .entity(entity)
                .map(|entity| entity.description.clone())
                .unwrap_or_default();
            text.push_str(&format!(
                "{:<width$}  {count:>7} record(s)  {what}\r\n",
                format!("{entity}.json")
            ));
        }
        text.push_str(&format!(
            "{:<width$}  {:>7} file(s)    the contents of the attachments listed above\r\n",
            "files/", self.copied
        ));
        if !self.missing.is_empty() {
            text.push_str("\r\nFiles that could not be included:\r\n");
            for missing in &self.missing {
                text.push_str(&format!("  {missing}\r\n"));
            }
        }
        text
    }

    /// Records the export in the history (who, which person by id or keyed tag, how many of
    /// each; no personal value) once the zip is whole, or how far it got.
    pub async fn finish(self, complete: bool) -> Result<i64, StoreError> {
        self.export.finish("person zip", complete, 0).await
    }
}

/// An attachment's file name as a safe name inside the zip: no folders, no control
/// characters, no leading dots, at most 100 characters.
fn file_name(record: &lethe_store::Record) -> String {
    let given = match record.get("file_name") {
        Some(lethe_store::Value::Text(name)) => name.as_str(),
        _ => "file",
    };
    let cleaned: String = given
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':') {
                '_'
            } else {
                c
            }
        })
        .take(100)
        .collect();
    let cleaned = cleaned.trim_start_matches('.').trim();
    if cleaned.is_empty() {
        "file".to_owned()
    } else {
        cleaned.to_owned()
    }
}

impl crate::export::Pieces for PersonZip {
    async fn next_piece(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        self.next_bytes().await
    }

    async fn end(self, complete: bool) -> Result<i64, StoreError> {
        self.finish(complete).await
    }
}

/// The download of a person's zip, for the API and the pages (streamed as exports are:
/// `crate::export::stream`); `held` is kept until the zip ends.
pub async fn download(
    store: &Store,
    zip: PersonZip,
    held: impl Send + 'static,
) -> Result<axum::response::Response, StoreError> {
    let day = lethe_store::format_date(store.now().date());
    crate::export::stream(zip, "application/zip", &format!("person-{day}.zip"), held).await
}
