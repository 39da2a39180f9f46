//! The grammar of `lethe import`: records in from a CSV file.

use clap::Args;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The entity the rows become records of (`contact`).
    pub entity: String,
    /// The CSV file (a header line naming the columns, UTF-8); `-` reads standard input.
    pub file: std::path::PathBuf,
    /// Which field a column fills, as COLUMN=FIELD (repeat for several). COLUMN=FIELD.UNIQUE
    /// gives a reference by the parent's unique field (`Org no=company_id.org_number`);
    /// COLUMN= leaves the column out. A column named like a field fills it without a map;
    /// Lethe's own columns (id, created_at…), as an export writes them, are left out.
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    pub map: Vec<String>,
    /// Check every row and say what would be created, updated or skipped, and every problem
    /// with its line and column; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// stop: any row with a problem and nothing is written (default); skip: write the good
    /// rows and report the others.
    #[arg(long, default_value = "stop", value_parser = ["stop", "skip"])]
    pub on_error: String,
    /// Match rows with the records in use by this field (text ignoring case and surrounding
    /// spaces, e.g. email): a matching row updates or skips its record (--on-match).
    #[arg(long = "match", value_name = "FIELD")]
    pub matching: Option<String>,
    /// What a row that matches a record does: skip (default) or update (cells left empty
    /// keep the record's value).
    #[arg(long, default_value = "skip", value_parser = ["skip", "update"], requires = "matching")]
    pub on_match: String,
    /// Rows per transaction (default 5,000 on SQLite, 25,000 on PostgreSQL).
    #[arg(long)]
    pub batch_size: Option<u64>,
}
