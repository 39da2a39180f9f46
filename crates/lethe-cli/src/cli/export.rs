//! The grammar of `lethe export`: records out as CSV or NDJSON.

use clap::Args;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The entity to export (`contact`).
    pub entity: String,
    /// The filter, e.g. 'category = "lost"'. Empty or omitted: every record (or, with
    /// --snapshot or --batch, their members).
    #[arg(default_value = "")]
    pub filter: String,
    /// csv (RFC 4180, a header line; text a spreadsheet would run as a formula gets a ' in
    /// front) or ndjson (one JSON object a line, as the API writes records).
    #[arg(long, default_value = "csv", value_parser = ["csv", "ndjson"])]
    pub format: String,
    /// Which records the filter looks at: active (default), trashed or all.
    #[arg(long, default_value = "active", value_parser = ["active", "trashed", "all"])]
    pub scope: String,
    /// Export a snapshot's members instead of what a filter selects.
    #[arg(long, conflicts_with_all = ["filter", "batch"])]
    pub snapshot: Option<i64>,
    /// Export what a deletion batch holds in the trash: what a purge of it would erase.
    #[arg(long, conflicts_with_all = ["filter", "snapshot"])]
    pub batch: Option<i64>,
    /// Add every record that points at the exported ones through the schema's relations,
    /// directly or through others (a contact's tickets and their comments, its attachments'
    /// metadata…). NDJSON lines then name their entity (`_entity`); CSV becomes a zip of one
    /// file per entity.
    #[arg(long)]
    pub related: bool,
    /// Write to this file (made whole or not at all) instead of standard output.
    #[arg(long, short)]
    pub output: Option<std::path::PathBuf>,
}
