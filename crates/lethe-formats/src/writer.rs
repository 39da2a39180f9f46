//! [`ExportWriter`]: the records of one entity, or of several one after the other, in either
//! format, a row at a time.

use std::io::Write;

use lethe_domain::value::Value;
use zip::result::ZipError;
use zip::write::{SimpleFileOptions, StreamWriter, ZipWriter};

use crate::{Chunks, CsvWriter, Format, ndjson_line};

/// The key naming a line's entity in an NDJSON export of several entities. Field names start
/// with a letter, so no field can take it.
pub const ENTITY_KEY: &str = "_entity";

/// Writes an export: sections of rows, one per entity ([`ExportWriter::section`]), each row
/// its values in the order of the section's columns.
///
/// - CSV of one entity: a header line, then a line per row.
/// - CSV of `several` entities: a zip holding `ENTITY.csv` for each section, written as it
///   goes with sizes after each file's data, so that it needs no seeking back.
/// - NDJSON: an object per line whose keys are the columns; of `several` entities, each line
///   also names its entity under [`ENTITY_KEY`].
pub struct ExportWriter<W: Write> {
    several: bool,
    sink: Sink<W>,
    /// The entity of the section being written, and its columns.
    entity: Option<String>,
    columns: Vec<String>,
    rows: u64,
    /// Cells guarded in the CSV sections already finished.
    guarded_before: u64,
    /// For a writer into [`Chunks`]: the same buffer, to take the bytes out of.
    tap: Option<Chunks>,
    /// When a zip's files were made.
    made: zip::DateTime,
}

enum Sink<W: Write> {
    /// CSV of one entity before its section starts (its header is the section's columns).
    Waiting(W),
    Csv(Box<CsvWriter<W>>),
    Ndjson(W),
    Zip(Box<ZipSink<W>>),
    /// Only while a sink changes from one state to the next.
    Spent,
}

struct ZipSink<W: Write> {
    zip: ZipWriter<StreamWriter<W>>,
    /// What each section becomes: a CSV file, or a JSON document.
    documents: bool,
    /// The current file's bytes are written here, then moved into the zip.
    buffer: Chunks,
    open: Option<Open>,
}

/// The file of the zip being written.
enum Open {
    Csv(Box<CsvWriter<Chunks>>),
    /// A JSON array of the section's records; `empty` until the first one.
    Json {
        empty: bool,
    },
    /// A file given byte by byte ([`ExportWriter::file`]).
    Raw,
}

/// How much of a section's CSV is gathered before it goes into the zip.
const ZIP_BATCH: usize = 64 * 1024;

impl<W: Write> std::fmt::Debug for ExportWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportWriter")
            .field("several", &self.several)
            .field("entity", &self.entity)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

fn zip_io(error: ZipError) -> std::io::Error {
    match error {
        ZipError::Io(error) => error,
        other => std::io::Error::other(other.to_string()),
    }
}

impl<W: Write> ExportWriter<W> {
    /// A writer of `format` into `out`, of one entity or of `several`.
    pub fn new(format: Format, out: W, several: bool) -> ExportWriter<W> {
        let sink = match (format, several) {
            (Format::Csv, false) => Sink::Waiting(out),
            (Format::Csv, true) => Sink::Zip(Box::new(ZipSink::new(out, false))),
            (Format::Ndjson, _) => Sink::Ndjson(out),
        };
        ExportWriter::with_sink(sink, several)
    }

    /// A writer of a zip holding a JSON document (an array of objects) per section, and the
    /// other files given ([`ExportWriter::file`]): everything about one person.
    pub fn documents(out: W) -> ExportWriter<W> {
        ExportWriter::with_sink(Sink::Zip(Box::new(ZipSink::new(out, true))), true)
    }

    fn with_sink(sink: Sink<W>, several: bool) -> ExportWriter<W> {
        ExportWriter {
            several,
            sink,
            entity: None,
            columns: Vec::new(),
            rows: 0,
            guarded_before: 0,
            tap: None,
            made: zip::DateTime::default(),
        }
    }

    /// Dates a zip's files `at` (UTC); without it they carry the zip format's earliest date.
    pub fn made_at(mut self, at: time::OffsetDateTime) -> ExportWriter<W> {
        let at = at.to_offset(time::UtcOffset::UTC);
        if let Ok(made) = zip::DateTime::from_date_and_time(
            u16::try_from(at.year()).unwrap_or(1980),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
        ) {
            self.made = made;
        }
        self
    }

    /// Starts the section of `entity`'s rows, under `columns`; nothing when it is the
    /// section being written. A writer of one entity takes one section.
    pub fn section(&mut self, entity: &str, columns: Vec<String>) -> Result<(), std::io::Error> {
        if let Some(current) = &self.entity {
            if current == entity {
                return Ok(());
            }
            if !self.several {
                return Err(std::io::Error::other(format!(
                    "this export is of {current} only, not of {entity}"
                )));
            }
        }
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        self.sink = match std::mem::replace(&mut self.sink, Sink::Spent) {
            Sink::Waiting(out) => Sink::Csv(Box::new(CsvWriter::new(out, &names)?)),
            Sink::Zip(mut zip) => {
                self.guarded_before += zip.end_file()?;
                if zip.documents {
                    zip.start(&format!("{entity}.json"), self.made)?;
                    zip.buffer.clone().write_all(b"[")?;
                    zip.open = Some(Open::Json { empty: true });
                } else {
                    zip.start(&format!("{entity}.csv"), self.made)?;
                    zip.open = Some(Open::Csv(Box::new(CsvWriter::new(
                        zip.buffer.clone(),
                        &names,
                    )?)));
                }
                Sink::Zip(zip)
            }
            other => other,
        };
        self.entity = Some(entity.to_owned());
        self.columns = columns;
        Ok(())
    }

    /// Writes one row of the current section: `values` in the order of its columns.
    pub fn row<'v>(
        &mut self,
        values: impl IntoIterator<Item = &'v Value>,
    ) -> Result<(), std::io::Error> {
        let Some(entity) = &self.entity else {
            return Err(std::io::Error::other(
                "a row was written before its section",
            ));
        };
        match &mut self.sink {
            Sink::Csv(writer) => writer.row(values)?,
            Sink::Zip(zip) => {
                match &mut zip.open {
                    Some(Open::Csv(csv)) => csv.row(values)?,
                    Some(Open::Json { empty }) => {
                        let mut buffer = zip.buffer.clone();
                        buffer.write_all(if *empty { b"\n" } else { b",\n" })?;
                        *empty = false;
                        serde_json::to_writer(&mut buffer, &object(&self.columns, values))
                            .map_err(std::io::Error::from)?;
                    }
                    Some(Open::Raw) | None => {
                        return Err(std::io::Error::other(
                            "a row was written while no section was open",
                        ));
                    }
                }
                if zip.buffer.len() >= ZIP_BATCH {
                    zip.pump()?;
                }
            }
            Sink::Ndjson(out) => {
                let mut line = object(&self.columns, values);
                if self.several {
                    line.insert(
                        ENTITY_KEY.to_owned(),
                        serde_json::Value::String(entity.clone()),
                    );
                }
                ndjson_line(out, &serde_json::Value::Object(line))?;
            }
            Sink::Waiting(_) | Sink::Spent => {}
        }
        self.rows += 1;
        Ok(())
    }

    /// How many rows were written, in all sections.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// How many text cells were prefixed so that spreadsheets show them as text (CSV).
    pub fn guarded(&self) -> u64 {
        self.guarded_before
            + match &self.sink {
                Sink::Csv(writer) => writer.guarded(),
                Sink::Zip(zip) => match &zip.open {
                    Some(Open::Csv(csv)) => csv.guarded(),
                    _ => 0,
                },
                _ => 0,
            }
    }

    /// Hands what is buffered on to the output.
    pub fn flush(&mut self) -> Result<(), std::io::Error> {
        match &mut self.sink {
            Sink::Csv(writer) => writer.flush(),
            Sink::Zip(zip) => {
                zip.pump()?;
                zip.zip.flush()
            }
            Sink::Ndjson(out) | Sink::Waiting(out) => out.flush(),
            Sink::Spent => Ok(()),
        }
    }

    /// Ends the export (a zip's directory is written), and gives back the output.
    pub fn finish(mut self) -> Result<W, std::io::Error> {
        match std::mem::replace(&mut self.sink, Sink::Spent) {
            Sink::Csv(writer) => writer.into_inner(),
            Sink::Zip(mut zip) => {
                zip.end_file()?;
                let mut out = zip.zip.finish().map_err(zip_io)?.into_inner();
                out.flush()?;
                Ok(out)
            }
            Sink::Ndjson(mut out) | Sink::Waiting(mut out) => {
                out.flush()?;
                Ok(out)
            }
            Sink::Spent => Err(std::io::Error::other("the export was already finished")),
        }
    }
}

/// A record as a JSON object: its values under their columns' names.
fn object<'v>(
    columns: &[String],
    values: impl IntoIterator<Item = &'v Value>,
) -> serde_json::Map<String, serde_json::Value> {
    columns
        .iter()
        .zip(values)
        .map(|(name, value)| (name.clone(), value.to_json()))
        .collect()
}

impl<W: Write> ExportWriter<W> {
    /// Starts a file of its own in a zip (an attachment's content, a summary), ending the
    /// section being written; its bytes follow with [`ExportWriter::file_bytes`].
    pub fn file(&mut self, name: &str) -> Result<(), std::io::Error> {
        let Sink::Zip(zip) = &mut self.sink else {
            return Err(std::io::Error::other("only a zip holds files of their own"));
        };
        self.guarded_before += zip.end_file()?;
        zip.start(name, self.made)?;
        zip.open = Some(Open::Raw);
        self.entity = None;
        Ok(())
    }

    /// Writes bytes of the file started with [`ExportWriter::file`].
    pub fn file_bytes(&mut self, bytes: &[u8]) -> Result<(), std::io::Error> {
        match &mut self.sink {
            Sink::Zip(zip) if matches!(zip.open, Some(Open::Raw)) => {
                zip.pump()?;
                zip.zip.write_all(bytes)
            }
            _ => Err(std::io::Error::other("no file of its own is open")),
        }
    }
}

impl<W: Write> ZipSink<W> {
    fn new(out: W, documents: bool) -> ZipSink<W> {
        ZipSink {
            zip: ZipWriter::new_stream(out),
            documents,
            buffer: Chunks::default(),
            open: None,
        }
    }

    /// Starts the zip's next file.
    fn start(&mut self, name: &str, made: zip::DateTime) -> Result<(), std::io::Error> {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(made)
            .large_file(true);
        self.zip.start_file(name, options).map_err(zip_io)
    }

    /// Moves what was gathered so far into the zip.
    fn pump(&mut self) -> Result<(), std::io::Error> {
        if let Some(Open::Csv(csv)) = &mut self.open {
            csv.flush()?;
        }
        let bytes = self.buffer.take();
        if !bytes.is_empty() {
            self.zip.write_all(&bytes)?;
        }
        Ok(())
    }

    /// Ends the current file of the zip, if one is open: how many cells it guarded.
    fn end_file(&mut self) -> Result<u64, std::io::Error> {
        if let Some(Open::Json { empty }) = &self.open {
            let end: &[u8] = if *empty { b"]\n" } else { b"\n]\n" };
            self.buffer.clone().write_all(end)?;
        }
        self.pump()?;
        Ok(match self.open.take() {
            Some(Open::Csv(csv)) => csv.guarded(),
            _ => 0,
        })
    }
}

impl ExportWriter<Chunks> {
    /// A writer whose bytes are taken out with [`ExportWriter::take_bytes`] as they come.
    pub fn chunked(format: Format, several: bool) -> ExportWriter<Chunks> {
        let chunks = Chunks::default();
        let mut writer = ExportWriter::new(format, chunks.clone(), several);
        writer.tap = Some(chunks);
        writer
    }

    /// [`ExportWriter::documents`] whose bytes are taken out as they come.
    pub fn chunked_documents() -> ExportWriter<Chunks> {
        let chunks = Chunks::default();
        let mut writer = ExportWriter::documents(chunks.clone());
        writer.tap = Some(chunks);
        writer
    }

    /// The bytes written since the last call, everything buffered included.
    pub fn take_bytes(&mut self) -> Result<Vec<u8>, std::io::Error> {
        self.flush()?;
        Ok(self.tap.as_ref().map(Chunks::take).unwrap_or_default())
    }

    /// Ends the export: the last bytes (a zip's directory).
    pub fn finish_bytes(mut self) -> Result<Vec<u8>, std::io::Error> {
        let tap = self.tap.take();
        self.finish()?;
        Ok(tap.as_ref().map(Chunks::take).unwrap_or_default())
    }
}
