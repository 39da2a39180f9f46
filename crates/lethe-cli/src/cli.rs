//! The command-line grammar (SPEC §8). Only parsing lives here.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod export;
mod import;
mod monitor;
mod person;
mod request;
mod selection;
mod upkeep;
pub use export::ExportArgs;
pub use import::ImportArgs;
pub use monitor::MonitorCommand;
pub use person::{PersonCommand, Who};
pub use request::RequestCommand;
pub use selection::{SelectionCommand, SnapshotCommand};
pub use upkeep::{DeliveriesCommand, PolicyCommand, WebhookCommand};

#[derive(Debug, Parser)]
#[command(
    name = "lethe",
    version,
    about = "A CRM record store that deletes properly: trash, restore, purge, anonymise — in bulk, with proof."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalOptions {
    /// The database: a SQLite file path or a postgres:// URL.
    #[arg(
        long,
        global = true,
        env = "LETHE_DATABASE_URL",
        default_value = "./lethe.db"
    )]
    pub db: String,
    /// A schema file (TOML) to use instead of the built-in CRM schema.
    #[arg(long, global = true, env = "LETHE_SCHEMA")]
    pub schema: Option<PathBuf>,
    /// Print exactly one JSON document on stdout (errors as JSON on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// Act as this Lethe user instead of the operator: changes are recorded as theirs, and
    /// only what their rights allow is done (the same policy as the HTTP API).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub act_as: Option<String>,
    /// Where attachment files live (default: `DB.files` next to a SQLite file, else
    /// `./lethe-files`); a purge removes erased records' files from here.
    #[arg(long, global = true, env = "LETHE_FILES_DIR")]
    pub files_dir: Option<PathBuf>,
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(flatten)]
    pub settings: Settings,
}

/// The installation's settings, usually given in the environment. They are read here once
/// and passed down; no library crate reads the environment.
#[derive(Debug, Args)]
#[command(next_help_heading = "Settings (usually from the environment)")]
pub struct Settings {
    /// How long a purge request stays pending when no grace is asked for, e.g. 7d.
    #[arg(
        long,
        global = true,
        env = "LETHE_PURGE_GRACE",
        value_name = "DURATION"
    )]
    pub purge_grace: Option<String>,
    /// The shortest grace the HTTP API accepts, e.g. 7d.
    #[arg(
        long,
        global = true,
        env = "LETHE_PURGE_MIN_GRACE",
        value_name = "DURATION"
    )]
    pub purge_min_grace: Option<String>,
    /// Batches trashed longer than this are purged by the scheduler, e.g. 30d.
    #[arg(long, global = true, env = "LETHE_RETENTION", value_name = "DURATION")]
    pub retention: Option<String>,
    /// The longest a filter may run, e.g. 30s; 0 for no limit.
    #[arg(
        long,
        global = true,
        env = "LETHE_QUERY_TIMEOUT",
        value_name = "DURATION"
    )]
    pub query_timeout: Option<String>,
    /// Which tables a PostgreSQL purge rewrites: personal (default), all or off.
    #[arg(long, global = true, env = "LETHE_PG_REWRITE", value_name = "WHICH")]
    pub pg_rewrite: Option<String>,
    /// Pins the clock to this instant (RFC 3339), for tests and reproducible runs.
    #[arg(
        long,
        global = true,
        env = "LETHE_NOW",
        value_name = "TIMESTAMP",
        hide = true
    )]
    pub now: Option<String>,
    /// The key that seals the history (at least 16 bytes; the same on every instance).
    /// Prefer the environment: a command line is visible to other users.
    #[arg(
        long,
        global = true,
        env = "LETHE_HISTORY_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub history_key: Option<String>,
    /// A file holding the history key (made with a random key if missing). Default: next to
    /// a SQLite database, ~/.config/lethe/history.key for PostgreSQL.
    #[arg(
        long,
        global = true,
        env = "LETHE_HISTORY_KEY_FILE",
        value_name = "FILE"
    )]
    pub history_key_file: Option<PathBuf>,
    /// The file the history's head is written down in. Default: next to a SQLite database;
    /// none for PostgreSQL.
    #[arg(long, global = true, env = "LETHE_HISTORY_ANCHOR", value_name = "FILE")]
    pub history_anchor: Option<PathBuf>,
    /// SQLite's memory budget for the whole process, in MiB (at least 16; default 96).
    #[arg(long, global = true, env = "LETHE_SQLITE_HEAP_MIB", value_name = "MIB")]
    pub sqlite_heap_mib: Option<String>,
    /// The key of the `hash` anonymisation. Default: a random key kept in the database.
    #[arg(
        long,
        global = true,
        env = "LETHE_HASH_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub hash_key: Option<String>,
    /// The SMTP server e-mails go out through (host name); none: e-mails are not sent, and
    /// wait in the outbox as given up until one is set and they are sent again.
    #[arg(long, global = true, env = "LETHE_SMTP_HOST", value_name = "HOST")]
    pub smtp_host: Option<String>,
    /// Its port (default: 587 with starttls, 465 with tls, 25 with none).
    #[arg(long, global = true, env = "LETHE_SMTP_PORT", value_name = "PORT")]
    pub smtp_port: Option<String>,
    /// How the connection is protected: starttls (default), tls, or none.
    #[arg(long, global = true, env = "LETHE_SMTP_TLS", value_name = "MODE")]
    pub smtp_tls: Option<String>,
    /// The user name to log in to the SMTP server with, if it asks for one.
    #[arg(long, global = true, env = "LETHE_SMTP_USERNAME", value_name = "NAME")]
    pub smtp_username: Option<String>,
    /// Its password. Prefer the environment: a command line is visible to other users.
    #[arg(
        long,
        global = true,
        env = "LETHE_SMTP_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub smtp_password: Option<String>,
    /// Who e-mails come from, e.g. "Lethe <lethe@example.org>".
    #[arg(long, global = true, env = "LETHE_SMTP_FROM", value_name = "MAILBOX")]
    pub smtp_from: Option<String>,
    /// The address people open Lethe's pages at, e.g. https://lethe.example.org; e-mails
    /// link to the job they tell of.
    #[arg(long, global = true, env = "LETHE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// How many times a notification is tried before it is given up (default 8).
    #[arg(long, global = true, env = "LETHE_DELIVERY_TRIES", value_name = "N")]
    pub delivery_tries: Option<String>,
    /// The wait after the first failed try, doubled after each (default 30s).
    #[arg(
        long,
        global = true,
        env = "LETHE_DELIVERY_FIRST_WAIT",
        value_name = "DURATION"
    )]
    pub delivery_first_wait: Option<String>,
    /// How long an SMTP server or a webhook receiver has to answer (default 10s).
    #[arg(
        long,
        global = true,
        env = "LETHE_DELIVERY_TIMEOUT",
        value_name = "DURATION"
    )]
    pub delivery_timeout: Option<String>,
    /// How long a worker holds the notifications it claims: another instance takes them over
    /// when this runs out, e.g. after the first one was killed (default 2m, or twice the
    /// timeout if that is longer; at least twice the timeout).
    #[arg(
        long,
        global = true,
        env = "LETHE_DELIVERY_LEASE",
        value_name = "DURATION"
    )]
    pub delivery_lease: Option<String>,
    /// How long a delivered notification stays in the outbox for admins to see, e.g. 30d,
    /// 12h, 0 (default 30d). Waiting and given-up ones stay until sent or sent again.
    #[arg(
        long,
        global = true,
        env = "LETHE_DELIVERED_KEPT",
        value_name = "DURATION"
    )]
    pub delivered_kept: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a realistic synthetic CRM data set, then serve it.
    Demo(DemoArgs),
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Create or upgrade the database tables for the schema.
    Migrate,
    /// Show or check schemas.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Manage users and API tokens.
    #[command(subcommand)]
    User(UserCommand),
    /// Create, read, update and list records.
    #[command(subcommand)]
    Record(RecordCommand),
    /// Select records with a filter: count them, page through them, or explain the query.
    Select(SelectArgs),
    /// Export records as CSV or NDJSON: what a filter selects, a snapshot's members, or what
    /// a deletion batch holds in the trash (export before a purge). Streamed: any number of
    /// records in the same memory.
    Export(ExportArgs),
    /// Import records from a CSV file: every row checked first (a dry run says what would
    /// happen and what is wrong, with line and column), then written by one job.
    Import(ImportArgs),
    /// Everything held about one person, as one zip or counted (an access request).
    #[command(subcommand)]
    Person(PersonCommand),
    /// Saved selections: dynamic (a filter), static (fixed ids) or combined.
    #[command(subcommand)]
    Selection(SelectionCommand),
    /// Snapshots: a frozen member set that later operations act on.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Show what trashing the picked records would do, without doing it.
    Preview(PickArgs),
    /// Move records and their cascade children to the trash, as one deletion batch.
    Trash(TrashArgs),
    /// Bring back what a deletion batch hid: all of it, or chosen records with their children.
    Restore(RestoreArgs),
    /// Bulk jobs: list them, show one with its skipped members, resume interrupted ones.
    #[command(subcommand)]
    Job(JobCommand),
    /// The deletion history: list entries, or verify that none was edited or removed.
    History(HistoryArgs),
    /// Your notifications (with --as USER).
    Notifications(NotificationArgs),
    /// Permanent deletion of trashed records: request (pending for a grace period), cancel,
    /// list, and run what is due.
    #[command(subcommand)]
    Purge(PurgeCommand),
    /// Overwrite the personal fields of the picked records; the records stay.
    Anonymize(AnonymizeArgs),
    /// Set fields on every picked record (bulk update), e.g. --set legal_basis=consent.
    Update(BulkUpdateArgs),
    /// The consolidated table: per entity type, records and attached-file volume that are
    /// active, trashed and pending purge.
    Stats(StatsArgs),
    /// Send the notifications that are due (e-mail, webhooks) once, then stop (`lethe serve`
    /// does this all the time).
    Deliver,
    /// The outbox of notifications: list it, send a given-up one again (admins).
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// Webhook endpoints told of events (admins): add, list, remove.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Retention policies (admins): what to do with which records, on a schedule.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// People's erasure and access requests, with their legal deadlines.
    #[command(subcommand)]
    Request(RequestCommand),
    /// Monitors: saved selections watched on a schedule; subscribers hear what entered.
    #[command(subcommand)]
    Monitor(MonitorCommand),
}

impl Command {
    /// Whether the command serves HTTP (and so must go on when a client hangs up) rather than
    /// print to a terminal or a pipe.
    pub fn serves(&self) -> bool {
        match self {
            Command::Serve(_) => true,
            Command::Demo(args) => !args.no_serve,
            _ => false,
        }
    }

    /// Whether the command sees a closed output pipe as an error to handle itself (an export
    /// records how far it got) rather than ending quietly at once.
    pub fn handles_closed_pipe(&self) -> bool {
        self.serves()
            || matches!(
                self,
                Command::Export(_) | Command::Person(PersonCommand::Export { .. })
            )
    }
}

#[derive(Debug, Subcommand)]
pub enum PurgeCommand {
    /// Ask for a deletion batch to be purged: it runs when the grace period ends, unless an
    /// admin cancels it. `--grace 0` is an urgent erasure that runs now (recorded as such).
    Request {
        /// The deletion batch (from `lethe trash`).
        #[arg(long)]
        batch: i64,
        /// How long the request stays pending, e.g. 7d, 12h, 30m, 0 (default: the configured
        /// grace period).
        #[arg(long)]
        grace: Option<String>,
        /// Why (kept in the history).
        #[arg(long)]
        reason: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Members per transaction (default 25,000; larger is faster, and holds SQLite's
        /// write lock longer per batch: readers never wait, other writes do).
        #[arg(long)]
        batch_size: Option<u64>,
        /// The person's erasure request this purge fulfils: the batch and the purge are
        /// linked to it (`lethe request show ID`).
        #[arg(long)]
        request: Option<i64>,
    },
    /// Cancel a pending purge before it starts; its records stay in the trash.
    Cancel {
        /// The purge job (from `lethe purge list`).
        job: i64,
    },
    /// Pending purges and when they run.
    List,
    /// One pass of the scheduler: request auto-purges of batches past the retention window,
    /// then run every due purge and interrupted job (for cron).
    RunDue,
}

#[derive(Debug, Args)]
pub struct BulkUpdateArgs {
    #[command(flatten)]
    pub pick: PickArgs,
    /// A field to set, as FIELD=VALUE (repeat for several).
    #[arg(
        long = "set",
        value_name = "FIELD=VALUE",
        required_unless_present = "data"
    )]
    pub set: Vec<String>,
    /// The fields to set as one JSON object instead.
    #[arg(long, conflicts_with = "set")]
    pub data: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Members per transaction (default 5,000 on SQLite, 25,000 on PostgreSQL).
    #[arg(long)]
    pub batch_size: Option<u64>,
}

#[derive(Debug, Args)]
pub struct AnonymizeArgs {
    #[command(flatten)]
    pub pick: PickArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Members per transaction (default 5,000 on SQLite, 25,000 on PostgreSQL).
    #[arg(long)]
    pub batch_size: Option<u64>,
}

/// Which records an operation acts on, picked as in a table.
#[derive(Debug, Args)]
pub struct PickArgs {
    /// The entity (`contact`).
    #[arg(required_unless_present = "snapshot")]
    pub entity: Option<String>,
    /// The filter. An empty filter would pick every record: say so with --all.
    #[arg(default_value = "")]
    pub filter: String,
    /// Pick every record of the entity (what an empty filter means, said on purpose).
    #[arg(long, conflicts_with_all = ["filter", "selection", "snapshot"])]
    pub all: bool,
    /// Pick from a saved selection instead of a filter.
    #[arg(long, conflicts_with = "filter")]
    pub selection: Option<String>,
    /// Add these ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub include: Vec<i64>,
    /// Leave out these ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<i64>,
    /// Act on an existing snapshot instead (what an earlier preview froze).
    #[arg(long, conflicts_with_all = ["entity", "selection", "include", "exclude"])]
    pub snapshot: Option<i64>,
}

#[derive(Debug, Args)]
pub struct TrashArgs {
    #[command(flatten)]
    pub pick: PickArgs,
    /// Why the records go (kept in the deletion batch and the history).
    #[arg(long)]
    pub reason: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Members per transaction (default 5,000 on SQLite, 25,000 on PostgreSQL).
    #[arg(long)]
    pub batch_size: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The deletion batch (printed by `lethe trash`).
    pub batch: i64,
    /// Restore only these records of the batch (comma-separated), with their cascade children.
    #[arg(long, value_delimiter = ',')]
    pub ids: Option<Vec<i64>>,
    /// First restore the other batches that hold trashed parents of these records.
    #[arg(long)]
    pub with_parents: bool,
    /// Members per transaction (default 5,000 on SQLite, 25,000 on PostgreSQL).
    #[arg(long)]
    pub batch_size: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// The newest jobs.
    List {
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
    /// One job, with the members it skipped and why.
    Show {
        id: i64,
        /// How many skipped members to list.
        #[arg(long, default_value_t = 20)]
        skips: u64,
    },
    /// Finish interrupted jobs (all that no live worker holds, or the one given; a failed
    /// job is retried from its last committed batch, and the history records who resumed
    /// it; a finished, cancelled or still pending job is refused).
    Resume { id: Option<i64> },
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Recompute the hash chain and report the first entry that was edited or removed.
    #[arg(long)]
    pub verify: bool,
    /// Entries after this id (oldest first).
    #[arg(long, conflicts_with = "before")]
    pub after: Option<i64>,
    /// Entries before this id (newest first).
    #[arg(long)]
    pub before: Option<i64>,
    /// List the oldest entries first (the default is the newest first).
    #[arg(long)]
    pub oldest_first: bool,
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print file volumes as exact byte counts instead of KiB, MiB, GiB.
    #[arg(long)]
    pub bytes: bool,
}

#[derive(Debug, Args)]
pub struct NotificationArgs {
    /// Only unread notifications.
    #[arg(long)]
    pub unread: bool,
    /// Mark the listed notifications as read.
    #[arg(long)]
    pub mark_read: bool,
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
}

#[derive(Debug, Args)]
pub struct SelectArgs {
    /// The entity to select from (`contact`).
    pub entity: String,
    /// The filter, e.g. 'category = "prospect" and none activity(happened_at > now - 2y)'.
    /// Empty or omitted: every record.
    #[arg(default_value = "")]
    pub filter: String,
    /// The filter in its JSON form instead of text.
    #[arg(long, conflicts_with = "filter")]
    pub filter_json: Option<String>,
    /// Which records: active (default), trashed or all.
    #[arg(long, default_value = "active", value_parser = ["active", "trashed", "all"])]
    pub scope: String,
    /// Print only the number of matching records.
    #[arg(long)]
    pub count: bool,
    /// Print the SQL, its parameters and the database's plan instead of running it.
    #[arg(long, conflicts_with = "count")]
    pub explain: bool,
    /// How to print records: table, json or csv (`--json` implies json).
    #[arg(long, default_value = "table", value_parser = ["table", "json", "csv"])]
    pub format: String,
    /// Sort by this field (the id, a timestamp or an indexed field).
    #[arg(long)]
    pub sort: Option<String>,
    /// Sort descending.
    #[arg(long)]
    pub desc: bool,
    /// How many records to print (at most 1000 a page; follow the printed cursor for more).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Continue after this cursor.
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The pages are reached over HTTPS, through a proxy that terminates TLS: the sign-in
    /// cookie is then marked Secure (sent over HTTPS only).
    #[arg(long, env = "LETHE_BEHIND_TLS")]
    pub behind_tls: bool,
    /// This instance sends no notifications: what waits in the outbox is sent by another
    /// instance, or by `lethe deliver` run from a schedule.
    #[arg(long, env = "LETHE_NO_DELIVERIES")]
    pub no_deliveries: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of contacts (about one company per ten contacts, and their related records).
    #[arg(long, default_value_t = 20_000)]
    pub contacts: u64,
    /// Seed for the generator: the same seed gives the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Only build the data set; do not serve.
    #[arg(long)]
    pub no_serve: bool,
    /// Where attachment files go (default: a folder next to the database).
    #[arg(long)]
    pub files: Option<PathBuf>,
    /// Address to listen on afterwards.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Print the effective schema (TOML, or JSON with --json).
    Show,
    /// Validate a schema file and list every problem in it.
    Check {
        /// The schema file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and print its first API token (shown only once).
    Add {
        name: String,
        #[arg(long, default_value = "user", value_parser = ["admin", "user"])]
        role: String,
        /// Also give the user a password to sign in with, read from the first line of
        /// standard input (at least 12 characters).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (yours, or anyone's for an admin), read from the first line of
    /// standard input: `printf '%s\n' "$PASSWORD" | lethe user passwd NAME`.
    Passwd { name: String },
    /// Issue another API token for a user.
    Token {
        name: String,
        /// A label to recognise the token by.
        #[arg(long, default_value = "issued on the command line")]
        label: String,
    },
    /// List users.
    List,
    /// List a user's API tokens (never their secrets): yours, or anyone's for an admin.
    Tokens { name: String },
    /// Revoke an API token at once (yours, or anyone's for an admin); written to the history.
    RevokeToken { id: i64 },
    /// List a user's live sign-in sessions of the web pages: yours, or anyone's for an admin.
    Sessions { name: String },
    /// Sign a user out of the web pages everywhere (yours, or anyone's for an admin).
    EndSessions { name: String },
    /// Where a user's notifications go: show it, or set the e-mail address and which kinds
    /// come by e-mail (yours, or anyone's for an admin).
    Delivery {
        name: String,
        /// The address e-mails go to.
        #[arg(long, conflicts_with = "no_email")]
        email: Option<String>,
        /// Send this user no e-mail at all.
        #[arg(long)]
        no_email: bool,
        /// Kinds to get by e-mail again (repeat), e.g. --on purge_requested.
        #[arg(long = "on", value_name = "KIND")]
        on: Vec<String>,
        /// Kinds not to get by e-mail (repeat); the in-app feed still has them.
        #[arg(long = "off", value_name = "KIND")]
        off: Vec<String>,
    },
    /// Make a user an admin or a plain user (admin only; the last admin stays one).
    Role {
        name: String,
        #[arg(value_parser = ["admin", "user"])]
        role: String,
    },
    /// Remove a user (admin only): every token of theirs stops working, their name stays in
    /// the history.
    Remove {
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Print one record.
    Get { entity: String, id: i64 },
    /// Create a record from FIELD=VALUE pairs or a JSON object.
    Create {
        entity: String,
        /// FIELD=VALUE pairs; values of number, boolean and json fields are read as JSON.
        #[arg(value_name = "FIELD=VALUE")]
        fields: Vec<String>,
        /// The fields as one JSON object instead.
        #[arg(long, conflicts_with = "fields")]
        data: Option<String>,
        /// For an entity whose records are files (attachment): the file to keep. Lethe
        /// copies it into the attachment folder under a key of its own and records its
        /// size; its name fills `file_name` unless given.
        #[arg(long, value_name = "PATH")]
        file: Option<std::path::PathBuf>,
    },
    /// Change fields of a record.
    Update {
        entity: String,
        id: i64,
        #[arg(value_name = "FIELD=VALUE")]
        fields: Vec<String>,
        #[arg(long, conflicts_with = "fields")]
        data: Option<String>,
    },
    /// List records, one page at a time.
    List {
        entity: String,
        /// Sort by this field (the id, a timestamp or an indexed field).
        #[arg(long)]
        sort: Option<String>,
        /// Sort descending.
        #[arg(long)]
        desc: bool,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Continue after this cursor (printed with the previous page).
        #[arg(long)]
        cursor: Option<String>,
    },
}
