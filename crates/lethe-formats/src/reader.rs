//! Reading a CSV file a row at a time, for imports: the header, then each row with the line
//! it starts on, or what is wrong with it (cells that are not UTF-8, a row with more or
//! fewer cells than the header). A UTF-8 byte order mark is skipped. No row may grow past
//! [`MAX_ROW_BYTES`]: an unclosed quote would otherwise read the rest of a large file into
//! one cell.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex, MutexGuard};

/// The most bytes one row may take (16 MiB): sixteen cells of the largest text a field holds.
pub const MAX_ROW_BYTES: u64 = 16 << 20;

/// A row of cells and the line of the file it starts on (the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    pub line: u64,
    pub cells: Vec<String>,
}

/// What is wrong with a row, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub line: u64,
    /// The column (1-based) where it is, when it is in one cell.
    pub column: Option<usize>,
    pub message: String,
}

/// Why the file cannot be read on: the rows after it cannot be told apart.
#[derive(Debug, thiserror::Error)]
pub enum CsvReadError {
    #[error("the file has no header line: the first line must name the columns")]
    NoHeader,
    #[error("line {line}: the header is not UTF-8 text in column {column}; save the file as UTF-8")]
    HeaderNotUtf8 { line: u64, column: usize },
    #[error(
        "line {line}: a row of more than {} MiB — most likely a quote (\") that is never closed; nothing after it can be read",
        MAX_ROW_BYTES >> 20
    )]
    RowTooLong { line: u64 },
    #[error("line {line}: {message}")]
    Malformed { line: u64, message: String },
    #[error("reading the file: {0}")]
    Io(std::io::Error),
}

/// What the reader has read ahead of the parser: the bytes since the last row started (to
/// stop past the limit), and where its line ends are, so that a row's first line can be
/// told. The csv crate's own line numbers count a CRLF and a skipped blank line wrongly.
#[derive(Default)]
struct Tracked {
    since_row: u64,
    offset: u64,
    /// Offsets of `\r` and `\n` bytes read but not yet passed by the parser.
    ends: VecDeque<(u64, u8)>,
    /// `\n` bytes the parser has passed.
    lines_passed: u64,
}

impl Tracked {
    /// The line of the first byte at or after `offset` that is not a line end: where a
    /// row whose parsing began at `offset` really starts.
    fn line_at(&mut self, mut offset: u64) -> u64 {
        while let Some(&(at, byte)) = self.ends.front() {
            if at > offset {
                break;
            }
            if at == offset {
                offset += 1;
            }
            if byte == b'\n' {
                self.lines_passed += 1;
            }
            self.ends.pop_front();
        }
        self.lines_passed + 1
    }
}

/// Counts the bytes read since the reader last started a row, and stops past the limit.
struct Bounded<R> {
    inner: R,
    tracked: Arc<Mutex<Tracked>>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let mut tracked = lock(&self.tracked);
        if tracked.since_row > MAX_ROW_BYTES {
            return Err(std::io::Error::other(TooLong));
        }
        let read = self.inner.read(buffer)?;
        tracked.since_row += read as u64;
        let start = tracked.offset;
        for (index, byte) in buffer[..read].iter().enumerate() {
            if matches!(byte, b'\r' | b'\n') {
                tracked.ends.push_back((start + index as u64, *byte));
            }
        }
        tracked.offset += read as u64;
        Ok(read)
    }
}

#[derive(Debug)]
struct TooLong;

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("row too long")
    }
}

impl std::error::Error for TooLong {}

/// Reads rows of a CSV file (RFC 4180: comma separated, `"` quoted, CRLF or LF line ends).
#[allow(missing_debug_implementations)]
pub struct CsvReader<R: Read> {
    reader: csv::Reader<Bounded<R>>,
    tracked: Arc<Mutex<Tracked>>,
    header: Vec<String>,
    record: csv::ByteRecord,
}

impl<R: Read> CsvReader<R> {
    /// Reads the header line of `input`.
    pub fn new(input: R) -> Result<CsvReader<R>, CsvReadError> {
        let tracked = Arc::new(Mutex::new(Tracked::default()));
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(Bounded {
                inner: input,
                tracked: tracked.clone(),
            });
        let mut record = csv::ByteRecord::new();
        let line = 1;
        if !read_record(&mut reader, &mut record, line)? {
            return Err(CsvReadError::NoHeader);
        }
        let mut header = Vec::with_capacity(record.len());
        for (index, cell) in record.iter().enumerate() {
            let cell = if index == 0 {
                cell.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(cell)
            } else {
                cell
            };
            let text = std::str::from_utf8(cell).map_err(|_| CsvReadError::HeaderNotUtf8 {
                line,
                column: index + 1,
            })?;
            header.push(text.trim().to_owned());
        }
        if header.iter().all(String::is_empty) {
            return Err(CsvReadError::NoHeader);
        }
        lock(&tracked).since_row = 0;
        Ok(CsvReader {
            reader,
            tracked,
            header,
            record,
        })
    }

    /// The column names of the header line, trimmed.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The next row, a problem with it, or `None` at the end of the file. Blank lines, and
    /// rows of empty cells only, are passed over.
    pub fn next_row(&mut self) -> Result<Option<Result<CsvRow, RowProblem>>, CsvReadError> {
        // A row of empty cells only (`,,,`, as spreadsheets leave below the data) is a blank
        // line too.
        let line = loop {
            lock(&self.tracked).since_row = 0;
            let began = self.reader.position().byte();
            let line = lock(&self.tracked).line_at(began);
            if !read_record(&mut self.reader, &mut self.record, line)? {
                return Ok(None);
            }
            if !self.record.iter().all(<[u8]>::is_empty) {
                break line;
            }
        };
        if self.record.len() != self.header.len() {
            return Ok(Some(Err(RowProblem {
                line,
                column: None,
                message: format!(
                    "has {} cells where the header has {} columns (a quote left open on an earlier line joins lines together)",
                    self.record.len(),
                    self.header.len()
                ),
            })));
        }
        let mut cells = Vec::with_capacity(self.record.len());
        for (index, cell) in self.record.iter().enumerate() {
            match std::str::from_utf8(cell) {
                Ok(text) => cells.push(text.to_owned()),
                Err(_) => {
                    return Ok(Some(Err(RowProblem {
                        line,
                        column: Some(index + 1),
                        message: "is not UTF-8 text; save the file as UTF-8".to_owned(),
                    })));
                }
            }
        }
        Ok(Some(Ok(CsvRow { line, cells })))
    }
}

/// The tracking state, also after a panic elsewhere (it holds counts only).
fn lock(tracked: &Mutex<Tracked>) -> MutexGuard<'_, Tracked> {
    tracked
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read_record<R: Read>(
    reader: &mut csv::Reader<Bounded<R>>,
    record: &mut csv::ByteRecord,
    line: u64,
) -> Result<bool, CsvReadError> {
    reader
        .read_byte_record(record)
        .map_err(|error| match error.into_kind() {
            csv::ErrorKind::Io(io)
                if io
                    .get_ref()
                    .is_some_and(|inner| inner.downcast_ref::<TooLong>().is_some()) =>
            {
                CsvReadError::RowTooLong { line }
            }
            csv::ErrorKind::Io(io) => CsvReadError::Io(io),
            other => CsvReadError::Malformed {
                line,
                message: format!("{other:?}"),
            },
        })
}
