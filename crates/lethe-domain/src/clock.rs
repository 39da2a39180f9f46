//! The one clock every time-dependent rule reads (SPEC §11: time is injectable). Tests and
//! the `LETHE_NOW` environment variable can pin it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

use crate::value::truncate_to_micros;

/// A source of "now". Cloning shares the same clock.
#[derive(Debug, Clone)]
pub struct Clock {
    /// Microseconds since the Unix epoch of a pinned time, or `i64::MIN` for the system clock.
    pinned_micros: Arc<AtomicI64>,
}

const SYSTEM: i64 = i64::MIN;

impl Clock {
    /// The real time.
    pub fn system() -> Clock {
        Clock {
            pinned_micros: Arc::new(AtomicI64::new(SYSTEM)),
        }
    }

    /// A clock that stands still at `at` until it is moved with [`Clock::set`].
    pub fn fixed(at: OffsetDateTime) -> Clock {
        let clock = Clock::system();
        clock.set(at);
        clock
    }

    /// Pins the clock to `at`.
    pub fn set(&self, at: OffsetDateTime) {
        let micros = i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX);
        self.pinned_micros.store(micros, Ordering::SeqCst);
    }

    /// The current time in UTC, with microsecond precision (what both databases keep).
    pub fn now(&self) -> OffsetDateTime {
        let pinned = self.pinned_micros.load(Ordering::SeqCst);
        if pinned == SYSTEM {
            return truncate_to_micros(OffsetDateTime::now_utc());
        }
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(pinned) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_stands_still_until_moved() {
        let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("valid");
        let clock = Clock::fixed(start);
        assert_eq!(clock.now(), start);
        let later = start + time::Duration::days(8);
        clock.clone().set(later);
        assert_eq!(clock.now(), later);
    }
}
