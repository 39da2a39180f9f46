//! The grammar of `lethe selection` and `lethe snapshot`: saved selections and frozen member
//! sets.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum SelectionCommand {
    /// Save a selection: give exactly one of --filter, --ids, --union, --intersection, --difference.
    Save {
        name: String,
        entity: String,
        /// A dynamic selection: this filter, re-evaluated every time.
        #[arg(long)]
        filter: Option<String>,
        /// A static selection: these ids (comma-separated).
        #[arg(long, value_delimiter = ',')]
        ids: Option<Vec<i64>>,
        /// Combined: the records in any of these saved selections.
        #[arg(long, value_delimiter = ',')]
        union: Option<Vec<String>>,
        /// Combined: the records in all of these saved selections.
        #[arg(long, value_delimiter = ',')]
        intersection: Option<Vec<String>>,
        /// Combined: the records in the first saved selection and none of the others.
        #[arg(long, value_delimiter = ',')]
        difference: Option<Vec<String>>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Replace a saved selection's definition (give exactly one of --filter, --ids, --union,
    /// --intersection, --difference) and description.
    Update {
        name: String,
        #[arg(long)]
        filter: Option<String>,
        #[arg(long, value_delimiter = ',')]
        ids: Option<Vec<i64>>,
        #[arg(long, value_delimiter = ',')]
        union: Option<Vec<String>>,
        #[arg(long, value_delimiter = ',')]
        intersection: Option<Vec<String>>,
        #[arg(long, value_delimiter = ',')]
        difference: Option<Vec<String>>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List saved selections.
    List,
    /// Show one saved selection with its current count.
    Show {
        name: String,
        #[arg(long, default_value = "active", value_parser = ["active", "trashed", "all"])]
        scope: String,
    },
    /// Print a page of a saved selection's records.
    Members {
        name: String,
        #[arg(long, default_value = "active", value_parser = ["active", "trashed", "all"])]
        scope: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Delete a saved selection (refused while a combined selection uses it).
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Freeze a member set: all matching a filter or saved selection (--all-matching), plus
    /// --include ids, minus --exclude ids.
    Create {
        entity: String,
        /// The filter "all matching" refers to (default: every record).
        #[arg(default_value = "")]
        filter: String,
        /// Pick from a saved selection instead of a filter.
        #[arg(long, conflicts_with = "filter")]
        selection: Option<String>,
        /// Take every record that matches ("select all N matching").
        #[arg(long)]
        all_matching: bool,
        /// Ids ticked on (comma-separated).
        #[arg(long, value_delimiter = ',')]
        include: Vec<i64>,
        /// Ids ticked off (comma-separated).
        #[arg(long, value_delimiter = ',')]
        exclude: Vec<i64>,
        #[arg(long, default_value = "active", value_parser = ["active", "trashed", "all"])]
        scope: String,
        /// Why: kept with the snapshot.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Show a snapshot.
    Show { id: i64 },
    /// Print a page of a snapshot's members as they are now.
    Members {
        id: i64,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
}
