//! The grammar of `lethe monitor`: saved selections watched on a schedule (SuperOffice
//! SAINT), whose subscribers hear which records entered (and left).

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// Add a monitor, enabled. Its first evaluation, now, is a baseline: the selection's
    /// members now, of which nobody is told; later runs tell of what entered (and left).
    Add {
        name: String,
        /// The saved selection to watch (`lethe selection list`).
        #[arg(long)]
        selection: String,
        /// When it is evaluated: a cron pattern (minute hour day-of-month month
        /// day-of-week), e.g. "0 7 * * 1-5", or @daily, @hourly.
        #[arg(long)]
        schedule: String,
        /// The time zone the schedule is read in (IANA name).
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// Also tell subscribers of records that left the selection.
        #[arg(long)]
        on_leave: bool,
        /// A user to tell (repeat for more; yours to choose for others as its owner).
        #[arg(long = "subscriber")]
        subscribers: Vec<String>,
    },
    /// The monitors.
    List,
    /// One monitor, with its last runs.
    Show { name: String },
    /// Change a monitor; another selection takes a new baseline.
    Edit {
        name: String,
        #[arg(long)]
        selection: Option<String>,
        #[arg(long)]
        schedule: Option<String>,
        #[arg(long)]
        time_zone: Option<String>,
        /// Tell of records that left: true or false.
        #[arg(long)]
        on_leave: Option<bool>,
    },
    /// Let the schedule evaluate it.
    Enable { name: String },
    /// Stop the schedule.
    Disable { name: String },
    /// Remove it, with its members, runs and hits.
    Remove { name: String },
    /// Tell a user (yourself by default) of its hits.
    Subscribe {
        name: String,
        /// Who (default: you).
        #[arg(long)]
        user: Option<String>,
    },
    /// Stop telling a user (yourself by default).
    Unsubscribe {
        name: String,
        #[arg(long)]
        user: Option<String>,
    },
    /// Evaluate it now and tell its subscribers what entered (and left).
    Run { name: String },
    /// Evaluate every monitor whose time has come, and finish runs an instance claimed and
    /// did not finish, once (`lethe serve` does this all the time).
    RunDue,
    /// The records that entered or left in a run (by default the latest that found any).
    Hits {
        name: String,
        #[arg(long)]
        run: Option<i64>,
        /// List the records after this id (the next page).
        #[arg(long)]
        after: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Its runs, newest first.
    History {
        name: String,
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
}
