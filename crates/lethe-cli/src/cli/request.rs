//! The grammar of `lethe request`: people's erasure and access requests (GDPR Art. 12, 15,
//! 17), tracked with their legal deadline.

use clap::{ArgGroup, Subcommand};

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Register a request (admins), due one calendar month after receipt.
    #[command(group(ArgGroup::new("kind").required(true).args(["erasure", "access"])))]
    #[command(group(ArgGroup::new("subject").required(true).args(["email", "contact"])))]
    Add {
        /// The person asks to have their data erased (Art. 17).
        #[arg(long)]
        erasure: bool,
        /// The person asks for a copy of their data (Art. 15).
        #[arg(long)]
        access: bool,
        /// The person's e-mail address, as they gave it.
        #[arg(long)]
        email: Option<String>,
        /// The contact the request is about.
        #[arg(long)]
        contact: Option<i64>,
        /// When the request reached you (YYYY-MM-DD or an RFC 3339 time; default: now).
        #[arg(long)]
        received: Option<String>,
        /// The user who works on it.
        #[arg(long)]
        assignee: Option<String>,
    },
    /// The requests: open ones first by deadline (admins see all, a user theirs).
    List {
        /// Only the open ones.
        #[arg(long, conflicts_with = "overdue")]
        open: bool,
        /// Only open ones past their deadline.
        #[arg(long)]
        overdue: bool,
        /// Only those about this address (closed ones too, matched by a keyed hash).
        #[arg(long)]
        email: Option<String>,
    },
    /// One request, with the batches and purges linked to it.
    Show { id: i64 },
    /// Give a request to a user (admins).
    Assign { id: i64, user: String },
    /// Start working on it (received → in progress).
    Start { id: i64 },
    /// Move the deadline, at most two months past the first one, with the reason (admins).
    Extend {
        id: i64,
        /// The new deadline (YYYY-MM-DD).
        #[arg(long)]
        until: String,
        /// Why more time is needed; the person is told.
        #[arg(long)]
        reason: String,
    },
    /// Mark it fulfilled; its subject is then kept only as a keyed hash.
    Done { id: i64 },
    /// Refuse it with the reason (admins); its subject is then kept only as a keyed hash.
    Refuse {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Record a deletion batch or a purge job as fulfilling it.
    #[command(group(ArgGroup::new("what").required(true).args(["batch", "job"])))]
    Link {
        id: i64,
        #[arg(long)]
        batch: Option<i64>,
        #[arg(long)]
        job: Option<i64>,
    },
    /// Send the deadline reminders that are due, once (`lethe serve` does this all the time).
    Remind,
}
