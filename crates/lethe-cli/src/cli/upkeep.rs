//! The grammar of the commands that keep storage limitation running by itself: notification
//! delivery (`deliveries`, `webhook`) and retention policies (`policy`).

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Add a policy, disabled until enabled (a destructive one after a second admin's
    /// approval).
    Add {
        name: String,
        /// The entity type it acts on.
        #[arg(long)]
        entity: String,
        /// The filter that finds the records; relative dates give the age rule, e.g.
        /// 'category = "prospect" and created_at < now - 3y'.
        #[arg(
            long,
            required_unless_present = "selection",
            conflicts_with = "selection"
        )]
        filter: Option<String>,
        /// A saved selection of the entity that finds the records, in place of --filter (the
        /// policy follows the selection as it is changed).
        #[arg(long)]
        selection: Option<String>,
        /// notify (the owner reviews), trash, anonymize, or purge (what its earlier runs
        /// left in the trash).
        #[arg(long)]
        action: String,
        /// When it runs: a cron pattern (minute hour day-of-month month day-of-week), e.g.
        /// "0 3 * * *", or @daily, @weekly.
        #[arg(long)]
        schedule: String,
        /// The time zone the schedule is read in (IANA name).
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// Why the data may be kept this long and no longer.
        #[arg(long)]
        legal_basis: String,
        /// The admin its runs are made as and who hears of them (default: you).
        #[arg(long)]
        owner: Option<String>,
    },
    /// The policies.
    List,
    /// One policy, with its last runs.
    Show { name: String },
    /// Change a policy; a destructive one then waits for a new approval.
    Edit {
        name: String,
        /// A new filter (it replaces a saved selection).
        #[arg(long, conflicts_with = "selection")]
        filter: Option<String>,
        /// A saved selection in place of the filter.
        #[arg(long)]
        selection: Option<String>,
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        schedule: Option<String>,
        #[arg(long)]
        time_zone: Option<String>,
        #[arg(long)]
        legal_basis: Option<String>,
        #[arg(long)]
        owner: Option<String>,
    },
    /// Approve a policy's current version (an admin other than the one who changed it).
    Approve { name: String },
    /// Let the schedule run it.
    Enable { name: String },
    /// Stop the schedule.
    Disable { name: String },
    /// List exactly what a run would do now, and keep it to run from.
    DryRun { name: String },
    /// Run it now: from a dry run's snapshot (--from-dry-run) or from what it finds now.
    Run {
        name: String,
        /// The dry run to act on (its counts are what the run does).
        #[arg(long)]
        from_dry_run: Option<i64>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Its dry runs and runs, newest first.
    History {
        name: String,
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// The newest messages first.
    List {
        /// Only these: waiting, delivered or given_up.
        #[arg(long)]
        state: Option<String>,
        /// How many (default 50).
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Send a message that was given up on again: due now, its tries start over.
    Retry { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add an endpoint; its signing secret is printed this once.
    Add {
        /// Where events are POSTed (https:// or http://).
        url: String,
        /// `*` for every event, or kinds comma-separated, e.g. purge_requested,purge_failed.
        #[arg(long, default_value = "*")]
        events: String,
    },
    /// The endpoints, without their secrets.
    List,
    /// Remove an endpoint; what still waited for it is given up.
    Remove { id: i64 },
}
