//! How long a sign-in to the web pages lasts, and how wrong passwords slow the next tries
//! (SPEC §7). The store keeps the sessions and the count of failures; the rules are here.

use time::{Duration, OffsetDateTime};

/// A session ends after this long without a request.
pub const IDLE_LIMIT: Duration = Duration::hours(1);
/// A session ends this long after signing in, however busy it is: a working day.
pub const LIFETIME: Duration = Duration::hours(12);
/// How stale a session's "last seen" time may get before a request writes it again, so that
/// a page polling a job's progress does not write on every poll.
pub const SEEN_GRANULARITY: Duration = Duration::minutes(1);

/// Wrong passwords in a row for one name that cost nothing; from the next one on, each try
/// waits.
pub const FREE_WRONG_PASSWORDS: u32 = 5;
/// The wait after [`FREE_WRONG_PASSWORDS`] wrong passwords; it doubles with each further one.
pub const FIRST_WAIT: Duration = Duration::seconds(5);
/// The longest wait.
pub const LONGEST_WAIT: Duration = Duration::minutes(15);

/// When a session that began at `created_at` and was last seen at `last_seen_at` ends: after
/// [`IDLE_LIMIT`] of quiet or [`LIFETIME`] in all, whichever comes first.
pub fn ends_at(created_at: OffsetDateTime, last_seen_at: OffsetDateTime) -> OffsetDateTime {
    (last_seen_at + IDLE_LIMIT).min(created_at + LIFETIME)
}

/// Whether a session is still alive at `now`.
pub fn alive(
    created_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
    now: OffsetDateTime,
) -> bool {
    now < ends_at(created_at, last_seen_at)
}

/// How long a name must wait before its next try after `failures` wrong passwords in a row;
/// `None`: no wait. The first [`FREE_WRONG_PASSWORDS`] cost nothing; then [`FIRST_WAIT`],
/// doubling with each further failure up to [`LONGEST_WAIT`].
pub fn wait_after(failures: u32) -> Option<Duration> {
    let beyond = failures.checked_sub(FREE_WRONG_PASSWORDS)?;
    Some(
        FIRST_WAIT
            .checked_mul(1_i32.checked_shl(beyond.min(20)).unwrap_or(i32::MAX))
            .unwrap_or(LONGEST_WAIT)
            .min(LONGEST_WAIT),
    )
}

/// How long a password check may hold a name before another try for it may start: two tries
/// for one name are never checked at once, so that a burst of parallel guesses gets no more
/// tries than one after the other. A crash mid-check frees the name after this long.
pub const CHECK_HOLD: Duration = Duration::seconds(30);

/// A wait said in words for a person: "5 seconds", "2 minutes".
pub fn describe_wait(wait: Duration) -> String {
    let seconds = (wait.whole_seconds() + i64::from(wait.subsec_nanoseconds() > 0)).max(1);
    if seconds < 120 {
        format!("{seconds} second{}", if seconds == 1 { "" } else { "s" })
    } else {
        format!("{} minutes", (seconds + 59) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000 + seconds)
    }

    #[test]
    fn a_session_ends_when_idle_or_at_the_end_of_its_day() {
        let start = at(0);
        assert!(alive(start, start, start + Duration::minutes(59)));
        assert!(!alive(start, start, start + Duration::minutes(60)));
        // Busy all day: still ends after twelve hours.
        let last = start + Duration::hours(11) + Duration::minutes(59);
        assert!(alive(start, last, last));
        assert!(!alive(start, last, start + LIFETIME));
    }

    #[test]
    fn five_wrong_passwords_are_free_then_the_wait_doubles_up_to_a_limit() {
        for failures in 0..=FREE_WRONG_PASSWORDS - 1 {
            assert_eq!(wait_after(failures), None, "{failures}");
        }
        assert_eq!(wait_after(5), Some(Duration::seconds(5)));
        assert_eq!(wait_after(6), Some(Duration::seconds(10)));
        assert_eq!(wait_after(7), Some(Duration::seconds(20)));
        assert_eq!(wait_after(40), Some(LONGEST_WAIT));
        assert_eq!(wait_after(u32::MAX), Some(LONGEST_WAIT));
    }

    #[test]
    fn a_wait_is_said_in_whole_seconds_or_minutes_rounded_up() {
        assert_eq!(describe_wait(Duration::milliseconds(300)), "1 second");
        assert_eq!(describe_wait(Duration::milliseconds(4_200)), "5 seconds");
        assert_eq!(describe_wait(Duration::seconds(90)), "90 seconds");
        assert_eq!(describe_wait(Duration::minutes(15)), "15 minutes");
    }
}
