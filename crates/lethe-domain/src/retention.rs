//! Retention policies (SPEC §4): storage limitation that runs by itself. A policy names an
//! entity, a filter (whose relative dates, such as `created_at < now - 3y`, are the age rule),
//! what to do with the records it finds, and when: a cron pattern read in a time zone.
//!
//! This module holds what needs no database: the actions, the schedule and its next due time,
//! and the four-eyes rule (a policy that destroys or changes data is enabled only after a
//! second admin approved it). Who may create, change, approve and run policies is in
//! [`crate::policy`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeZone as _, Utc};
use croner::Cron;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What a policy does with what its filter finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAction {
    /// Tell the owner how many records are due for review; change nothing.
    Notify,
    /// Move the records (and their cascade children) to the trash, as one deletion batch.
    Trash,
    /// Overwrite the records' personal fields; the records stay.
    Anonymize,
    /// Request the purge of what this policy's earlier runs left in the trash.
    Purge,
}

impl RetentionAction {
    pub const ALL: [RetentionAction; 4] = [
        RetentionAction::Notify,
        RetentionAction::Trash,
        RetentionAction::Anonymize,
        RetentionAction::Purge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RetentionAction::Notify => "notify",
            RetentionAction::Trash => "trash",
            RetentionAction::Anonymize => "anonymize",
            RetentionAction::Purge => "purge",
        }
    }

    /// Whether the action destroys or changes data: such a policy needs a second admin's
    /// approval before it is first enabled (four eyes).
    pub fn is_destructive(self) -> bool {
        !matches!(self, RetentionAction::Notify)
    }
}

impl fmt::Display for RetentionAction {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for RetentionAction {
    type Err = String;

    fn from_str(text: &str) -> Result<RetentionAction, String> {
        RetentionAction::ALL
            .into_iter()
            .find(|action| action.as_str() == text.trim())
            .ok_or_else(|| {
                format!("`{text}` is not a policy action; use notify, trash, anonymize or purge")
            })
    }
}

/// When a policy runs: a cron pattern (five fields, minute first, or a nickname such as
/// `@daily`) read in an IANA time zone (`Europe/Oslo`, `UTC`).
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    zone: chrono_tz::Tz,
    pattern: String,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        self.pattern == other.pattern && self.zone == other.zone
    }
}

impl Schedule {
    /// Reads a schedule, saying what is wrong with either part.
    pub fn parse(pattern: &str, zone: &str) -> Result<Schedule, String> {
        let pattern = pattern.trim();
        let cron: Cron = pattern.parse().map_err(|error| {
            format!(
                "`{pattern}` is not a cron schedule ({error}); write five fields — minute, hour, day of month, month, day of week — such as `0 3 * * *` (every day at 03:00), or @daily, @weekly, @monthly"
            )
        })?;
        let zone: chrono_tz::Tz = zone.trim().parse().map_err(|_| {
            format!(
                "`{}` is not a time zone; give an IANA name such as Europe/Oslo, America/New_York or UTC",
                zone.trim()
            )
        })?;
        let schedule = Schedule {
            cron,
            zone,
            pattern: pattern.to_owned(),
        };
        // A pattern that never comes (the 30th of February) is refused now, not at run time.
        if schedule.next_after(OffsetDateTime::UNIX_EPOCH).is_none() {
            return Err(format!(
                "`{pattern}` never comes round (no such date); choose days that exist"
            ));
        }
        Ok(schedule)
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn zone(&self) -> &str {
        self.zone.name()
    }

    /// The first time the schedule comes round strictly after `after`, in UTC; `None` when
    /// it never does.
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let utc: DateTime<Utc> = Utc.timestamp_opt(after.unix_timestamp(), 0).single()?;
        let local = utc.with_timezone(&self.zone);
        let next = self.cron.find_next_occurrence(&local, false).ok()?;
        OffsetDateTime::from_unix_timestamp(next.timestamp()).ok()
    }

    /// The words of a stored schedule: what [`Schedule::describe`] says, or, for one that
    /// no longer parses (a time zone this build does not know), why not.
    pub fn words_of(pattern: &str, zone: &str) -> String {
        Schedule::parse(pattern, zone)
            .map(|parsed| parsed.describe())
            .unwrap_or_else(|error| error)
    }

    /// The schedule in words, e.g. "At 03:00 (Europe/Oslo)".
    pub fn describe(&self) -> String {
        format!("{} ({})", self.cron.describe(), self.zone.name())
    }
}

/// One of the policies Lethe ships, disabled (the SuperOffice article's rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippedPolicy {
    pub name: &'static str,
    pub entity: &'static str,
    pub filter: &'static str,
    pub action: RetentionAction,
    pub schedule: &'static str,
    pub zone: &'static str,
    pub legal_basis: &'static str,
}

/// The policies of the default setup, all disabled until an admin reviews and enables them.
pub const SHIPPED: [ShippedPolicy; 2] = [
    ShippedPolicy {
        name: "prospects-3y",
        entity: "contact",
        filter: "category = \"prospect\" and created_at < now - 3y and not exists activity(happened_at > now - 3y) and not exists consent(purpose = \"marketing\" and withdrawn_at is null)",
        action: RetentionAction::Trash,
        schedule: "0 3 * * *",
        zone: "UTC",
        legal_basis: "Prospects are kept three years after the last interaction, longer while a marketing consent is in force (storage limitation, GDPR Art. 5(1)(e)).",
    },
    ShippedPolicy {
        name: "lost-customers-5y",
        entity: "contact",
        filter: "category = \"lost\" and updated_at < now - 5y and not exists activity(happened_at > now - 5y) and not exists consent(purpose = \"marketing\" and withdrawn_at is null)",
        action: RetentionAction::Trash,
        schedule: "0 3 * * *",
        zone: "UTC",
        legal_basis: "Lost customers are kept five years after the last interaction, longer while a marketing consent is in force (storage limitation, GDPR Art. 5(1)(e)).",
    },
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_schedule_comes_round_in_its_own_time_zone() {
        let oslo = Schedule::parse("0 3 * * *", "Europe/Oslo").unwrap();
        // 03:00 in Oslo is 02:00 UTC in winter and 01:00 UTC in summer.
        assert_eq!(
            oslo.next_after(datetime!(2026-01-10 12:00 UTC)),
            Some(datetime!(2026-01-11 02:00 UTC))
        );
        assert_eq!(
            oslo.next_after(datetime!(2026-07-10 12:00 UTC)),
            Some(datetime!(2026-07-11 01:00 UTC))
        );
        // Strictly after: a due time is not due again.
        assert_eq!(
            oslo.next_after(datetime!(2026-01-11 02:00 UTC)),
            Some(datetime!(2026-01-12 02:00 UTC))
        );
        let weekly = Schedule::parse("@weekly", "UTC").unwrap();
        assert_eq!(
            weekly.next_after(datetime!(2026-12-07 10:00 UTC)),
            Some(datetime!(2026-12-13 00:00 UTC))
        );
        assert_eq!(oslo.zone(), "Europe/Oslo");
        assert!(oslo.describe().contains("Europe/Oslo"));
    }

    #[test]
    fn a_bad_schedule_says_which_part_is_wrong() {
        let pattern = Schedule::parse("0 25 * * *", "UTC").unwrap_err();
        assert!(pattern.contains("is not a cron schedule"), "{pattern}");
        let zone = Schedule::parse("0 3 * * *", "Europe/Atlantis").unwrap_err();
        assert!(zone.contains("is not a time zone"), "{zone}");
        let never = Schedule::parse("0 3 30 2 *", "UTC").unwrap_err();
        assert!(never.contains("never"), "{never}");
        assert!(Schedule::parse("", "UTC").is_err());
    }

    #[test]
    fn actions_read_back_and_only_notify_needs_no_second_admin() {
        for action in RetentionAction::ALL {
            assert_eq!(action.as_str().parse::<RetentionAction>().unwrap(), action);
            assert_eq!(action.is_destructive(), action != RetentionAction::Notify);
        }
        assert!("delete".parse::<RetentionAction>().is_err());
    }

    #[test]
    fn the_shipped_schedules_are_valid() {
        for policy in SHIPPED {
            Schedule::parse(policy.schedule, policy.zone).unwrap();
        }
    }
}
