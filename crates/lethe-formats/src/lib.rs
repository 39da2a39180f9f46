//! Records as files, written a row at a time so that any number of them takes the same
//! memory: CSV (RFC 4180: a header line, CRLF line ends, fields quoted where they must be)
//! and NDJSON (one JSON object a line). An export of several entities is one NDJSON stream
//! whose lines name their entity, or a zip of one CSV file per entity, written as it goes
//! (no seeking back), so that it can be sent while it is made.
//!
//! A CSV file of a CRM's data is opened in spreadsheets, which run a cell that starts with
//! `=`, `+`, `-` or `@` (or a tab or carriage return before one) as a formula: a contact
//! named `=HYPERLINK(…)` would turn into a link that sends data away. Such a text cell is
//! written with an apostrophe in front (`'=HYPERLINK(…)`), which spreadsheets show as text;
//! numbers, dates and the like are written as they are, since their form is Lethe's own.
//! The writer counts the cells it changed, so that the export can say so.
//!
//! **Architecture invariant:** this crate knows nothing of the database, the store or HTTP:
//! it turns values into bytes for any `Write`.

use std::io::Write;

use lethe_domain::value::Value;

/// What a text cell is prefixed with when a spreadsheet would run it.
pub const FORMULA_GUARD: char = '\'';

/// Whether a spreadsheet would take `text` for a formula: it starts with `=`, `+`, `-` or
/// `@`, or with a tab or carriage return (which some strip before looking).
pub fn looks_like_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// The CSV text of a value: empty for null, text as it is, the rest in the form the API
/// writes them (decimals and dates as text, JSON as JSON).
fn cell_text(value: &Value) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    match value {
        Value::Null => Cow::Borrowed(""),
        Value::Text(text) => Cow::Borrowed(text.as_str()),
        Value::Json(json) => Cow::Owned(json.to_string()),
        other => match other.to_json() {
            serde_json::Value::String(text) => Cow::Owned(text),
            json => Cow::Owned(json.to_string()),
        },
    }
}

/// Writes CSV rows of values under a header.
#[derive(Debug)]
pub struct CsvWriter<W: Write> {
    out: csv::Writer<W>,
    /// How many text cells were prefixed so that spreadsheets show them as text.
    guarded: u64,
    /// A reused buffer for a guarded cell.
    scratch: String,
}

impl<W: Write> CsvWriter<W> {
    /// A writer that has written the header line `columns`.
    pub fn new(out: W, columns: &[&str]) -> Result<CsvWriter<W>, std::io::Error> {
        let mut out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        out.write_record(columns).map_err(into_io)?;
        Ok(CsvWriter {
            out,
            guarded: 0,
            scratch: String::new(),
        })
    }

    /// Writes one row: a cell for each value, in the header's order. Each cell goes to the
    /// CSV writer as it is made (text as it is, other values through one reused buffer).
    pub fn row<'v>(
        &mut self,
        values: impl IntoIterator<Item = &'v Value>,
    ) -> Result<(), std::io::Error> {
        for value in values {
            match value {
                Value::Null => self.out.write_field(b"").map_err(into_io)?,
                Value::Text(text) if looks_like_formula(text) => {
                    self.guarded += 1;
                    self.scratch.clear();
                    self.scratch.push(FORMULA_GUARD);
                    self.scratch.push_str(text);
                    self.out
                        .write_field(self.scratch.as_bytes())
                        .map_err(into_io)?;
                }
                Value::Text(text) => self.out.write_field(text.as_bytes()).map_err(into_io)?,
                other => {
                    let text = cell_text(other);
                    self.out.write_field(text.as_bytes()).map_err(into_io)?;
                }
            }
        }
        self.out.write_record(None::<&[u8]>).map_err(into_io)
    }

    /// How many text cells were prefixed so far.
    pub fn guarded(&self) -> u64 {
        self.guarded
    }

    /// Hands out what is buffered (the writer buffers a few kilobytes).
    pub fn flush(&mut self) -> Result<(), std::io::Error> {
        self.out.flush()
    }

    /// Flushes, and gives back the output.
    pub fn into_inner(self) -> Result<W, std::io::Error> {
        self.out
            .into_inner()
            .map_err(|error| std::io::Error::other(error.to_string()))
    }
}

fn into_io(error: csv::Error) -> std::io::Error {
    match error.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// Writes `object` as one NDJSON line.
pub fn ndjson_line(out: &mut impl Write, object: &serde_json::Value) -> Result<(), std::io::Error> {
    serde_json::to_writer(&mut *out, object).map_err(std::io::Error::from)?;
    out.write_all(b"\n")
}

/// A file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format, String> {
        match text {
            "csv" => Ok(Format::Csv),
            "ndjson" => Ok(Format::Ndjson),
            other => Err(format!(
                "`{other}` is not an export format; use csv or ndjson"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }

    /// The media type of an export in this format; `several` entities in CSV are a zip of
    /// one file each.
    pub fn media_type(self, several: bool) -> &'static str {
        match (self, several) {
            (Format::Csv, false) => "text/csv; charset=utf-8; header=present",
            (Format::Csv, true) => "application/zip",
            (Format::Ndjson, _) => "application/x-ndjson",
        }
    }

    /// The file name extension of an export in this format (see [`Format::media_type`]).
    pub fn extension(self, several: bool) -> &'static str {
        match (self, several) {
            (Format::Csv, false) => "csv",
            (Format::Csv, true) => "zip",
            (Format::Ndjson, _) => "ndjson",
        }
    }
}

/// An output that collects bytes to be taken out as they come (to send each page of an
/// export on before the next is read).
#[derive(Debug, Clone, Default)]
pub struct Chunks(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Chunks {
    /// How many bytes wait to be taken.
    pub fn len(&self) -> usize {
        match self.0.lock() {
            Ok(bytes) => bytes.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes written since the last call.
    pub fn take(&self) -> Vec<u8> {
        match self.0.lock() {
            Ok(mut bytes) => std::mem::take(&mut *bytes),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut bytes) => bytes.extend_from_slice(buf),
            Err(poisoned) => poisoned.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

mod writer;
pub use writer::ExportWriter;

mod reader;
pub use reader::{CsvReadError, CsvReader, CsvRow, MAX_ROW_BYTES, RowProblem};

#[cfg(test)]
mod tests;
