//! Requests from people about their personal data (SPEC §12; GDPR Art. 12, 15, 17): the
//! kinds (erasure, access), where a request is in its life and the allowed moves, the legal
//! deadline and its extension, and when the deadline's reminders are due. The store reads a
//! request, asks here what a move makes of it, and writes the answer with a condition on the
//! state it read; it never compares state names itself.
//!
//! ```text
//! Received ──start──▶ InProgress ──done──▶ Done
//!    │                    │
//!    ├──────── done ──────┼──────────────▶ Done
//!    └──────── refuse (with a reason) ───▶ Refused
//! ```
//!
//! Done and Refused are final: nothing moves a request back (a person who asks again makes a
//! new request, which the keyed tag of the subject links to the old one).

use std::fmt;
use std::str::FromStr;

use time::{Date, Duration, Month, OffsetDateTime};

use crate::state::IllegalTransition;

/// What the person asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// The right to erasure (Art. 17): erase what Lethe holds about them.
    Erasure,
    /// The right of access (Art. 15): a copy of what Lethe holds about them.
    Access,
}

impl RequestKind {
    /// The name stored in `lethe_request.kind` and shown to users.
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestKind::Erasure => "erasure",
            RequestKind::Access => "access",
        }
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for RequestKind {
    type Err = String;

    fn from_str(text: &str) -> Result<RequestKind, String> {
        match text.trim() {
            "erasure" => Ok(RequestKind::Erasure),
            "access" => Ok(RequestKind::Access),
            other => Err(format!(
                "`{other}` is not a kind of request: use `erasure` or `access`"
            )),
        }
    }
}

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    /// Registered; nobody has started on it.
    Received,
    /// Someone works on it.
    InProgress,
    /// Fulfilled. Final.
    Done,
    /// Refused, with the reason given to the person (Art. 12(4)). Final.
    Refused,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 4] = [
        RequestStatus::Received,
        RequestStatus::InProgress,
        RequestStatus::Done,
        RequestStatus::Refused,
    ];

    /// The name stored in `lethe_request.status` and shown to users.
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Received => "received",
            RequestStatus::InProgress => "in_progress",
            RequestStatus::Done => "done",
            RequestStatus::Refused => "refused",
        }
    }

    /// Whether the request is still being worked on: it holds its subject and its deadline
    /// runs.
    pub const fn is_open(self) -> bool {
        matches!(self, RequestStatus::Received | RequestStatus::InProgress)
    }

    /// What a move to `to` makes of request `id` in this status: the new status, or why not.
    /// Only the open statuses move; nothing moves into [`RequestStatus::Received`], which is
    /// where a request starts.
    pub fn move_to(self, id: i64, to: RequestStatus) -> Result<RequestStatus, IllegalTransition> {
        let action = match to {
            RequestStatus::Received => "receive",
            RequestStatus::InProgress => "start",
            RequestStatus::Done => "finish",
            RequestStatus::Refused => "refuse",
        };
        let refuse = |message: String| Err(IllegalTransition::new(self.as_str(), action, message));
        match (self, to) {
            (RequestStatus::Received, RequestStatus::InProgress)
            | (
                RequestStatus::Received | RequestStatus::InProgress,
                RequestStatus::Done | RequestStatus::Refused,
            ) => Ok(to),
            (_, RequestStatus::Received) => refuse(format!(
                "request {id} is {self} and cannot become received again: a request is received only once, when it is registered"
            )),
            (RequestStatus::InProgress, RequestStatus::InProgress) => {
                refuse(format!("request {id} is in progress already"))
            }
            (RequestStatus::Done | RequestStatus::Refused, _) => refuse(format!(
                "request {id} is {self} and is closed: nothing moves it any more (if the person asks again, register a new request)"
            )),
        }
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            RequestStatus::InProgress => "in progress",
            other => other.as_str(),
        })
    }
}

impl FromStr for RequestStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<RequestStatus, String> {
        RequestStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text.trim())
            .ok_or_else(|| {
                format!(
                    "`{text}` is not a request status: use `received`, `in_progress`, `done` or `refused`"
                )
            })
    }
}

/// How many days before the deadline the assignee is reminded.
pub const REMINDER_DAYS_BEFORE: i64 = 5;

/// The most months an extension adds to the first deadline (Art. 12(3)).
pub const MAX_EXTENSION_MONTHS: u8 = 2;

/// `at` moved `months` calendar months on, at the same time of day. Where the target month
/// is shorter than the day of `at`, it lands on that month's last day: 31 January plus one
/// month is 28 February (29 in a leap year), 31 March plus one month is 30 April. This is
/// how the EDPB reads "one month" in Art. 12(3) (Guidelines 01/2022 on the right of access,
/// §5.3, after Regulation 1182/71): the period ends on the same date of the next month, or
/// on the last day of that month when it has no such date.
pub fn add_months(at: OffsetDateTime, months: u8) -> OffsetDateTime {
    let date = at.date();
    let index = i32::from(u8::from(date.month())) - 1 + i32::from(months);
    let year = date.year() + index.div_euclid(12);
    let month_number = u8::try_from(index.rem_euclid(12) + 1).unwrap_or(12);
    let month = Month::try_from(month_number).unwrap_or(Month::December);
    let day = date.day().min(month.length(year));
    match Date::from_calendar_date(year, month, day) {
        Ok(moved) => at.replace_date(moved),
        // Past the year 9999: stay as far as the calendar goes.
        Err(_) => at,
    }
}

/// The legal deadline of a request received at `received`: one calendar month later
/// ([`add_months`]).
pub fn due_at(received: OffsetDateTime) -> OffsetDateTime {
    add_months(received, 1)
}

/// The latest deadline an extension may set: two further months after the first deadline,
/// which is three months after receipt.
pub fn latest_extension(received: OffsetDateTime) -> OffsetDateTime {
    add_months(received, 1 + MAX_EXTENSION_MONTHS)
}

/// Why an extension is refused, in words for the person asking; `field` names the part
/// that is wrong (`until` or `reason`), so a form can mark it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionRefused {
    pub field: &'static str,
    pub message: String,
}

/// Checks an extension of request `id`, received at `received` and due at `due` now, to
/// `until`, decided at `now` with `reason`. The extension must be decided before the first
/// deadline (the person must be told within the first month, Art. 12(3)), move the
/// deadline later, not beyond [`latest_extension`], and say why. Returns the new deadline.
pub fn check_extension(
    id: i64,
    received: OffsetDateTime,
    due: OffsetDateTime,
    now: OffsetDateTime,
    until: OffsetDateTime,
    reason: &str,
) -> Result<OffsetDateTime, ExtensionRefused> {
    let first = due_at(received);
    let latest = latest_extension(received);
    let day = |at: OffsetDateTime| at.date().to_string();
    if reason.trim().is_empty() {
        return Err(ExtensionRefused {
            field: "reason",
            message: format!(
                "say why request {id} needs more time (Art. 12(3): the person is told the reason)"
            ),
        });
    }
    if now > first {
        return Err(ExtensionRefused {
            field: "until",
            message: format!(
                "request {id} was due on {}: an extension must be decided, and the person told, within the first month",
                day(first)
            ),
        });
    }
    if until <= due {
        return Err(ExtensionRefused {
            field: "until",
            message: format!(
                "{} is not after the current deadline of request {id}, {}: an extension moves the deadline later",
                day(until),
                day(due)
            ),
        });
    }
    if until > latest {
        return Err(ExtensionRefused {
            field: "until",
            message: format!(
                "{} is more than {MAX_EXTENSION_MONTHS} months after the first deadline of request {id} ({}): the latest allowed is {}",
                day(until),
                day(first),
                day(latest)
            ),
        });
    }
    Ok(until)
}

/// When the assignee of a request due at `deadline` is reminded: five days before.
pub fn reminder_at(deadline: OffsetDateTime) -> OffsetDateTime {
    deadline - Duration::days(REMINDER_DAYS_BEFORE)
}

/// Whole days from `now` to `deadline`, rounded up (a deadline later today is 1 day left;
/// 0 or less: passed).
pub fn days_left(deadline: OffsetDateTime, now: OffsetDateTime) -> i64 {
    let seconds = (deadline - now).whole_seconds();
    if seconds <= 0 {
        seconds.div_euclid(86_400)
    } else {
        (seconds + 86_399) / 86_400
    }
}

/// Whether `text` looks like an e-mail address: one `@` with something before it, a domain
/// with a dot after it, no spaces, at most 254 characters (RFC 5321's limit). Lethe does not
/// send mail to it, so this only catches what is plainly not an address.
pub fn check_email(text: &str) -> Result<String, String> {
    let address = text.trim();
    let wrong = |why: &str| Err(format!("`{text}` is not an e-mail address: {why}"));
    if address.is_empty() {
        return wrong("it is empty");
    }
    if address.chars().count() > 254 {
        return wrong("it is longer than 254 characters");
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return wrong("it holds a space");
    }
    let Some((local, domain)) = address.split_once('@') else {
        return wrong("it has no `@`");
    };
    if local.is_empty() || domain.contains('@') {
        return wrong("write it as name@example.org");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|label| label.is_empty()) {
        return wrong("its domain needs a dot, as in example.org");
    }
    Ok(address.to_owned())
}

/// The text the keyed tag of a subject is made of: an address ignoring case and spaces
/// around it, or a contact's id when the contact has no address. The same person asking
/// twice gives the same text.
pub fn subject_text(email: Option<&str>, contact: Option<i64>) -> String {
    match (email, contact) {
        (Some(address), _) => format!(
            "lethe request subject\nemail\n{}",
            address.trim().to_lowercase()
        ),
        (None, Some(id)) => format!("lethe request subject\ncontact\n{id}"),
        (None, None) => "lethe request subject\nnone".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn a_request_is_due_one_calendar_month_after_receipt() {
        assert_eq!(
            due_at(datetime!(2026-03-15 10:00 UTC)),
            datetime!(2026-04-15 10:00 UTC)
        );
        assert_eq!(
            due_at(datetime!(2026-12-20 08:30 UTC)),
            datetime!(2027-01-20 08:30 UTC)
        );
    }

    #[test]
    fn a_month_without_the_day_ends_on_its_last_day() {
        assert_eq!(
            due_at(datetime!(2026-01-31 09:00 UTC)),
            datetime!(2026-02-28 09:00 UTC)
        );
        assert_eq!(
            due_at(datetime!(2028-01-31 09:00 UTC)),
            datetime!(2028-02-29 09:00 UTC),
            "a leap year"
        );
        assert_eq!(
            due_at(datetime!(2026-03-31 09:00 UTC)),
            datetime!(2026-04-30 09:00 UTC)
        );
        assert_eq!(
            latest_extension(datetime!(2026-11-30 09:00 UTC)),
            datetime!(2027-02-28 09:00 UTC)
        );
    }

    #[test]
    fn an_extension_needs_a_reason_a_later_date_within_two_months_and_the_first_month() {
        let received = datetime!(2026-01-31 09:00 UTC);
        let due = due_at(received);
        let now = datetime!(2026-02-10 09:00 UTC);
        let ok = check_extension(
            7,
            received,
            due,
            now,
            datetime!(2026-04-30 09:00 UTC),
            "many systems",
        );
        assert_eq!(ok, Ok(datetime!(2026-04-30 09:00 UTC)));
        let too_far = check_extension(7, received, due, now, datetime!(2026-05-01 09:00 UTC), "x");
        assert_eq!(too_far.unwrap_err().field, "until");
        let no_reason =
            check_extension(7, received, due, now, datetime!(2026-03-10 09:00 UTC), " ");
        assert_eq!(no_reason.unwrap_err().field, "reason");
        let earlier = check_extension(7, received, due, now, datetime!(2026-02-20 09:00 UTC), "x");
        assert!(
            earlier
                .unwrap_err()
                .message
                .contains("moves the deadline later")
        );
        let late = check_extension(
            7,
            received,
            due,
            datetime!(2026-03-01 09:00 UTC),
            datetime!(2026-03-10 09:00 UTC),
            "x",
        );
        assert!(late.unwrap_err().message.contains("within the first month"));
    }

    #[test]
    fn statuses_move_forward_only() {
        use RequestStatus::*;
        let allowed = [
            (Received, InProgress),
            (Received, Done),
            (Received, Refused),
            (InProgress, Done),
            (InProgress, Refused),
        ];
        for from in RequestStatus::ALL {
            for to in RequestStatus::ALL {
                let result = from.move_to(3, to);
                assert_eq!(
                    result.is_ok(),
                    allowed.contains(&(from, to)),
                    "{from} → {to}"
                );
            }
        }
        let error = Done.move_to(3, Received).unwrap_err();
        assert!(
            error.to_string().contains("cannot become received"),
            "{error}"
        );
        assert!(Received.is_open() && InProgress.is_open());
        assert!(!Done.is_open() && !Refused.is_open());
    }

    #[test]
    fn days_left_round_up_and_reminders_come_five_days_before() {
        let deadline = datetime!(2026-02-28 09:00 UTC);
        assert_eq!(days_left(deadline, datetime!(2026-02-28 08:00 UTC)), 1);
        assert_eq!(days_left(deadline, datetime!(2026-02-23 09:00 UTC)), 5);
        assert_eq!(days_left(deadline, datetime!(2026-02-28 09:00 UTC)), 0);
        assert_eq!(days_left(deadline, datetime!(2026-03-01 10:00 UTC)), -2);
        assert_eq!(reminder_at(deadline), datetime!(2026-02-23 09:00 UTC));
    }

    #[test]
    fn addresses_are_checked_and_tagged_ignoring_case() {
        assert_eq!(check_email(" Ann@Example.org ").unwrap(), "Ann@Example.org");
        for wrong in [
            "",
            "ann",
            "ann@",
            "@example.org",
            "ann@example",
            "a b@example.org",
            "a@b@c.org",
            "ann@.org",
        ] {
            assert!(check_email(wrong).is_err(), "{wrong}");
        }
        assert_eq!(
            subject_text(Some("Ann@Example.org"), None),
            subject_text(Some(" ann@example.org"), Some(4))
        );
        assert_ne!(subject_text(None, Some(4)), subject_text(None, Some(5)));
    }

    proptest! {
        /// Whatever the day of receipt: the deadline is in the next calendar month, on the
        /// same day or (when that month is shorter) its last day, at the same time of day;
        /// the latest extension is two months after that, by the same rule; and an extension
        /// to any day between them, decided in the first month with a reason, is accepted.
        #[test]
        fn deadlines_follow_the_calendar(days in 0i64..3_650, seconds in 0i64..86_400, extra in 1i64..62) {
            let received = datetime!(2024-01-01 00:00 UTC) + Duration::days(days) + Duration::seconds(seconds);
            let due = due_at(received);
            prop_assert_eq!(due.time(), received.time());
            let months = |at: OffsetDateTime| at.year() * 12 + i32::from(u8::from(at.month()));
            prop_assert_eq!(months(due), months(received) + 1);
            let last = due.month().length(due.year());
            prop_assert_eq!(due.day(), received.day().min(last));
            prop_assert!(due > received);
            prop_assert!((due - received).whole_days() >= 28 && (due - received).whole_days() <= 31);
            let latest = latest_extension(received);
            prop_assert_eq!(months(latest), months(received) + 3);
            prop_assert!(latest > due);
            let until = (due + Duration::days(extra)).min(latest);
            let decided = received + Duration::days(1);
            prop_assert_eq!(check_extension(1, received, due, decided, until, "why"), Ok(until));
            prop_assert!(check_extension(1, received, due, decided, latest + Duration::seconds(1), "why").is_err());
            prop_assert!(check_extension(1, received, due, decided, due, "why").is_err());
            prop_assert_eq!(reminder_at(due) + Duration::days(REMINDER_DAYS_BEFORE), due);
        }
    }
}
