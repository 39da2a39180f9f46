//! The rows of a CSV file as an import reads them, for the command line, the API and the
//! pages alike: `lethe-formats`' reader behind the store's [`ImportRows`].

use std::io::Read;

use lethe_formats::{CsvReadError, CsvReader};
use lethe_store::{ImportRow, ImportRows, StoreError};

/// A CSV file's rows, its header read.
pub struct CsvRows<R: Read> {
    reader: CsvReader<R>,
}

impl<R: Read> std::fmt::Debug for CsvRows<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvRows")
            .field("header", &self.reader.header())
            .finish()
    }
}

fn unreadable(error: CsvReadError) -> StoreError {
    StoreError::BadRequest(format!("the CSV file cannot be read: {error}"))
}

impl<R: Read> CsvRows<R> {
    /// Reads the header line of `input`.
    pub fn new(input: R) -> Result<CsvRows<R>, StoreError> {
        Ok(CsvRows {
            reader: CsvReader::new(input).map_err(unreadable)?,
        })
    }

    /// The column names of the header line.
    pub fn header(&self) -> Vec<String> {
        self.reader.header().to_vec()
    }
}

impl<R: Read + Send> ImportRows for CsvRows<R> {
    fn next_row(&mut self) -> Result<Option<ImportRow>, StoreError> {
        Ok(match self.reader.next_row().map_err(unreadable)? {
            None => None,
            Some(Ok(row)) => Some(ImportRow::Cells {
                line: row.line,
                cells: row.cells,
            }),
            Some(Err(problem)) => Some(ImportRow::Problem {
                line: problem.line,
                column: problem
                    .column
                    .and_then(|column| self.reader.header().get(column - 1).cloned()),
                message: problem.message,
            }),
        })
    }
}
