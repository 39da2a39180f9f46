//! What Lethe tells people (SPEC §7): the kinds of event, who hears of each, how each is
//! titled in an e-mail, and how a message that could not be delivered is tried again.
//!
//! Every notification lands in its recipients' in-app feed. It is also written to the
//! outbox, in the same transaction, for each recipient who has an e-mail address and has not
//! turned e-mail off for that kind, and once for each webhook endpoint that listens to it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A kind of event that notifies someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A purge was requested: every admin, so that any of them can cancel it.
    PurgeRequested,
    /// A pending purge was cancelled: every admin.
    PurgeCancelled,
    /// A purge ran: every admin, with the receipt's summary.
    PurgeExecuted,
    /// A purge stopped with an error: every admin.
    PurgeFailed,
    /// Members of a purged batch stayed in the trash because a rule holds them: the requester.
    PurgeHeld,
    /// A bulk operation skipped records a rule blocks: the one who started it, with the list.
    RecordsBlocked,
    /// A trash, restore, anonymise or update job stopped with an error: the one who started
    /// it.
    JobFailed,
    /// A retention policy that notifies found records due for review: its owner.
    PolicyReview,
    /// A destructive retention policy was added or changed and waits for a second admin's
    /// approval: every admin.
    PolicyApproval,
    /// Records entered (or left) a monitored selection: the monitor's subscribers.
    MonitorHit,
    /// An erasure or access request nears its legal deadline (its assignee) or passed it
    /// (every admin).
    RequestDeadline,
}

impl NotificationKind {
    /// Every kind, in the order pages list them.
    pub const ALL: [NotificationKind; 11] = [
        NotificationKind::PurgeRequested,
        NotificationKind::PurgeCancelled,
        NotificationKind::PurgeExecuted,
        NotificationKind::PurgeFailed,
        NotificationKind::PurgeHeld,
        NotificationKind::RecordsBlocked,
        NotificationKind::JobFailed,
        NotificationKind::PolicyReview,
        NotificationKind::PolicyApproval,
        NotificationKind::MonitorHit,
        NotificationKind::RequestDeadline,
    ];

    /// The name kept in the database and sent to webhooks.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::PurgeRequested => "purge_requested",
            NotificationKind::PurgeCancelled => "purge_cancelled",
            NotificationKind::PurgeExecuted => "purge_executed",
            NotificationKind::PurgeFailed => "purge_failed",
            NotificationKind::PurgeHeld => "purge_held",
            NotificationKind::RecordsBlocked => "records_blocked",
            NotificationKind::JobFailed => "job_failed",
            NotificationKind::PolicyReview => "policy_review",
            NotificationKind::PolicyApproval => "policy_approval",
            NotificationKind::MonitorHit => "monitor_hit",
            NotificationKind::RequestDeadline => "request_deadline",
        }
    }

    /// The subject line of its e-mail (after "Lethe: ").
    pub fn title(self) -> &'static str {
        match self {
            NotificationKind::PurgeRequested => "a permanent deletion was requested",
            NotificationKind::PurgeCancelled => "a permanent deletion was cancelled",
            NotificationKind::PurgeExecuted => "a permanent deletion ran",
            NotificationKind::PurgeFailed => "a permanent deletion failed",
            NotificationKind::PurgeHeld => "records were kept in the trash by a rule",
            NotificationKind::RecordsBlocked => "records were skipped because a rule blocks them",
            NotificationKind::JobFailed => "a job stopped with an error",
            NotificationKind::PolicyReview => "a retention policy found records to review",
            NotificationKind::PolicyApproval => "a retention policy waits for your approval",
            NotificationKind::MonitorHit => "records entered a monitored selection",
            NotificationKind::RequestDeadline => "a data subject's request nears its deadline",
        }
    }

    /// Who hears of it, in words for the page where people choose their channels.
    pub fn heard_by(self) -> &'static str {
        match self {
            NotificationKind::PurgeRequested
            | NotificationKind::PurgeCancelled
            | NotificationKind::PurgeExecuted
            | NotificationKind::PurgeFailed => "every admin",
            NotificationKind::PurgeHeld => "the admin who requested the purge",
            NotificationKind::RecordsBlocked | NotificationKind::JobFailed => {
                "the person who started the job"
            }
            NotificationKind::PolicyReview => "the policy's owner",
            NotificationKind::PolicyApproval => "every admin",
            NotificationKind::MonitorHit => "the monitor's subscribers",
            NotificationKind::RequestDeadline => {
                "the request's assignee before the deadline; every admin after it"
            }
        }
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for NotificationKind {
    type Err = String;

    fn from_str(text: &str) -> Result<NotificationKind, String> {
        NotificationKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "`{text}` is not a kind of notification; the kinds are {}",
                    NotificationKind::ALL
                        .map(NotificationKind::as_str)
                        .join(", ")
                )
            })
    }
}

/// Which events a webhook endpoint hears: all of them, or the kinds listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listens {
    All,
    Only(Vec<NotificationKind>),
}

impl Listens {
    /// Reads `*` or a comma-separated list of kinds ("purge_requested,purge_failed").
    pub fn parse(text: &str) -> Result<Listens, String> {
        let text = text.trim();
        if text == "*" || text.is_empty() {
            return Ok(Listens::All);
        }
        let mut kinds = Vec::new();
        for part in text.split(',') {
            let kind: NotificationKind = part.trim().parse()?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        kinds.sort();
        Ok(Listens::Only(kinds))
    }

    /// As kept in the database: `*`, or the kinds between commas (",purge_requested,"), so
    /// that one kind is found by looking for ",kind,".
    pub fn stored(&self) -> String {
        match self {
            Listens::All => "*".to_owned(),
            Listens::Only(kinds) => {
                let mut text = String::from(",");
                for kind in kinds {
                    text.push_str(kind.as_str());
                    text.push(',');
                }
                text
            }
        }
    }

    /// From what [`Listens::stored`] wrote.
    pub fn from_stored(text: &str) -> Listens {
        Listens::parse(text.trim_matches(',')).unwrap_or(Listens::All)
    }

    /// In words: "every event" or the kinds' names.
    pub fn words(&self) -> String {
        match self {
            Listens::All => "every event".to_owned(),
            Listens::Only(kinds) => kinds
                .iter()
                .map(|kind| kind.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// How an undelivered message is tried again: after `first_wait`, then twice as long each
/// time up to `longest_wait`, and given up after `tries` tries (an admin can send it again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    pub tries: u32,
    pub first_wait: Duration,
    pub longest_wait: Duration,
}

impl Default for Retries {
    /// Eight tries over about an hour: waits of 30 s, then 1, 2, 4, 8, 16 and 32 minutes.
    fn default() -> Retries {
        Retries {
            tries: 8,
            first_wait: Duration::from_secs(30),
            longest_wait: Duration::from_secs(3_600),
        }
    }
}

/// What to do after a failed try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again after this long.
    TryAgainIn(Duration),
    /// Stop: the message goes to the list of those given up on.
    GiveUp,
}

/// The longest wait a receiver may ask for (HTTP `Retry-After`) that Lethe keeps to: a
/// receiver asking for more is tried again after this long.
pub const LONGEST_ASKED_WAIT: Duration = Duration::from_secs(24 * 3_600);

impl Retries {
    /// After the `tries_made`-th failed try (1 for the first), or a failure that no retry
    /// can mend (`permanent`). A receiver that asked to be left alone for a while (`asked`,
    /// from its `Retry-After`) is: the wait is the longer of the rule's and the one asked
    /// for, the latter at most [`LONGEST_ASKED_WAIT`].
    pub fn after_failure(
        &self,
        tries_made: u32,
        permanent: bool,
        asked: Option<Duration>,
    ) -> AfterFailure {
        if permanent || tries_made >= self.tries {
            return AfterFailure::GiveUp;
        }
        let doublings = tries_made.saturating_sub(1).min(30);
        let wait = self
            .first_wait
            .saturating_mul(1_u32 << doublings)
            .min(self.longest_wait);
        let asked = asked.unwrap_or_default().min(LONGEST_ASKED_WAIT);
        AfterFailure::TryAgainIn(wait.max(asked))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in NotificationKind::ALL {
            assert_eq!(kind.as_str().parse::<NotificationKind>().unwrap(), kind);
        }
        let wrong = "purge_done".parse::<NotificationKind>().unwrap_err();
        assert!(wrong.contains("purge_executed"), "{wrong}");
    }

    #[test]
    fn a_webhook_listens_to_every_event_or_to_those_named() {
        assert_eq!(Listens::parse("*").unwrap(), Listens::All);
        let some = Listens::parse(" purge_failed, purge_requested,purge_failed").unwrap();
        assert_eq!(
            some,
            Listens::Only(vec![
                NotificationKind::PurgeRequested,
                NotificationKind::PurgeFailed
            ])
        );
        assert_eq!(some.stored(), ",purge_requested,purge_failed,");
        assert_eq!(Listens::from_stored(&some.stored()), some);
        assert_eq!(Listens::from_stored("*"), Listens::All);
        assert!(Listens::parse("purge_requested,nonsense").is_err());
    }

    #[test]
    fn waits_double_up_to_the_longest_then_the_message_is_given_up() {
        let retries = Retries {
            tries: 5,
            first_wait: Duration::from_secs(10),
            longest_wait: Duration::from_secs(50),
        };
        let waits: Vec<AfterFailure> = (1..=5)
            .map(|tries| retries.after_failure(tries, false, None))
            .collect();
        assert_eq!(
            waits,
            [
                AfterFailure::TryAgainIn(Duration::from_secs(10)),
                AfterFailure::TryAgainIn(Duration::from_secs(20)),
                AfterFailure::TryAgainIn(Duration::from_secs(40)),
                AfterFailure::TryAgainIn(Duration::from_secs(50)),
                AfterFailure::GiveUp,
            ]
        );
        assert_eq!(retries.after_failure(1, true, None), AfterFailure::GiveUp);
        assert!(matches!(
            Retries::default().after_failure(u32::MAX - 1, false, None),
            AfterFailure::GiveUp
        ));
        let huge = Retries {
            tries: u32::MAX,
            ..Retries::default()
        };
        assert_eq!(
            huge.after_failure(1_000, false, None),
            AfterFailure::TryAgainIn(Duration::from_secs(3_600))
        );
    }

    #[test]
    fn a_wait_the_receiver_asks_for_is_kept_to_up_to_a_day() {
        let retries = Retries {
            tries: 5,
            first_wait: Duration::from_secs(10),
            longest_wait: Duration::from_secs(50),
        };
        let after = |tries, asked| retries.after_failure(tries, false, Some(asked));
        // Longer than the rule's wait: the receiver's.
        assert_eq!(
            after(1, Duration::from_secs(120)),
            AfterFailure::TryAgainIn(Duration::from_secs(120))
        );
        // Shorter: the rule's, which is never cut short.
        assert_eq!(
            after(3, Duration::from_secs(5)),
            AfterFailure::TryAgainIn(Duration::from_secs(40))
        );
        // A week: a day.
        assert_eq!(
            after(1, Duration::from_secs(7 * 86_400)),
            AfterFailure::TryAgainIn(LONGEST_ASKED_WAIT)
        );
        // Asking does not buy tries beyond the last.
        assert_eq!(after(5, Duration::from_secs(60)), AfterFailure::GiveUp);
    }
}
