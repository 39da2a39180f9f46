//! Lethe's domain core: the rules that need no database.
//!
//! - [`value`]: a record's values, and the one set of date, timestamp and decimal parsing
//!   rules that records, filters and options all use;
//! - [`state`]: where a deletion batch and a job are in their lives, and the allowed moves;
//! - [`job`]: what each kind of job needs to run;
//! - [`session`]: how long a sign-in lasts, and how wrong passwords slow the next tries;
//! - [`notification`]: the kinds of event that notify people, who hears of each, and how an
//!   undelivered message is tried again;
//! - [`retention`]: retention policies' actions, their schedules (cron in a time zone) and the
//!   policies Lethe ships;
//! - [`request`]: people's erasure and access requests: their statuses and moves, the legal
//!   deadline (one calendar month, extendable by two) and when reminders are due;
//! - [`mac`]: HMAC-SHA-256, the one keyed hash (history seals, the `hash` anonymisation,
//!   webhook signatures);
//! - who performs an operation ([`Actor`]) and what each actor may do ([`policy`]). Every
//!   door — the command line (with and without `--as`), the HTTP API, and later the web
//!   pages — asks [`policy`]; no other code decides permissions.
//!
//! **Architecture invariant:** this crate imports no database, SQL or HTTP crate; the store
//! gathers the facts a question needs and asks here.

mod clock;
pub mod job;
pub mod mac;
pub mod notification;
pub mod policy;
pub mod request;
pub mod retention;
pub mod session;
pub mod state;
pub mod value;

pub use clock::Clock;

use serde::{Deserialize, Serialize};

/// Who performs an operation: a Lethe user, or the operator at the server's command line, who
/// has full rights (SPEC §8). History entries and permission checks are made from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The user's id; `None` for the operator.
    pub user_id: Option<i64>,
    pub name: String,
    pub admin: bool,
}

impl Actor {
    /// The operator running the `lethe` command on the server.
    pub fn operator() -> Actor {
        Actor {
            user_id: None,
            name: "operator".to_owned(),
            admin: true,
        }
    }

    /// A signed-in user.
    pub fn user(user_id: i64, name: &str, admin: bool) -> Actor {
        Actor {
            user_id: Some(user_id),
            name: name.to_owned(),
            admin,
        }
    }

    /// Whether this actor is the user `owner` (`None`: nobody, or the operator).
    pub fn is(&self, owner: Option<i64>) -> bool {
        self.user_id.is_some() && self.user_id == owner
    }
}
