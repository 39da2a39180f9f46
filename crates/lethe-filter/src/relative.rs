//! Relative times (`now - 3y`, `today - 90d`). They stay symbolic in a filter, so that a
//! saved selection or a retention policy means "three years before the run", and are
//! resolved by the caller with the evaluation time (SPEC §4: monitors and retention policies
//! re-evaluate on a schedule).

use std::fmt;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// `base ± amount unit`, e.g. `now - 3y` is `{ base: Now, amount: -3, unit: Years }`.
/// A bare `now` or `today` has amount 0 and unit days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RelativeTime {
    pub base: TimeBase,
    /// Signed: negative is in the past.
    pub amount: i64,
    pub unit: TimeUnit,
}

/// What a relative time counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeBase {
    /// The evaluation instant.
    Now,
    /// Midnight UTC at the start of the evaluation instant's UTC day.
    Today,
}

impl TimeBase {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeBase::Now => "now",
            TimeBase::Today => "today",
        }
    }
}

/// The unit of a relative time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// `y`: twelve calendar months.
    Years,
    /// `mo`: calendar months; the day is clamped to the target month's last day
    /// (2024-03-31 - 1mo = 2024-02-29), the time of day is kept.
    Months,
    /// `w`: 7 × 24 hours.
    Weeks,
    /// `d`: 24 hours (UTC has no daylight saving).
    Days,
    /// `h`
    Hours,
    /// `min`
    Minutes,
}

impl TimeUnit {
    /// Every unit, longest first.
    pub const ALL: [TimeUnit; 6] = [
        TimeUnit::Years,
        TimeUnit::Months,
        TimeUnit::Weeks,
        TimeUnit::Days,
        TimeUnit::Hours,
        TimeUnit::Minutes,
    ];

    /// The suffix written after the amount (`y`, `mo`, `w`, `d`, `h`, `min`).
    pub fn suffix(self) -> &'static str {
        match self {
            TimeUnit::Years => "y",
            TimeUnit::Months => "mo",
            TimeUnit::Weeks => "w",
            TimeUnit::Days => "d",
            TimeUnit::Hours => "h",
            TimeUnit::Minutes => "min",
        }
    }

    /// The unit for a suffix, ignoring ASCII case.
    pub fn from_suffix(suffix: &str) -> Option<TimeUnit> {
        TimeUnit::ALL
            .into_iter()
            .find(|unit| unit.suffix().eq_ignore_ascii_case(suffix))
    }

    /// Whether the unit is shorter than a day (not allowed for date fields).
    pub fn is_time_of_day(self) -> bool {
        matches!(self, TimeUnit::Hours | TimeUnit::Minutes)
    }
}

impl RelativeTime {
    /// Plain `now`.
    pub const NOW: RelativeTime = RelativeTime {
        base: TimeBase::Now,
        amount: 0,
        unit: TimeUnit::Days,
    };

    /// The instant this stands for when evaluated at `now`, in UTC.
    ///
    /// `today` is midnight UTC of `now`'s UTC date. Months and years are calendar months,
    /// with the day clamped to the target month's length; weeks, days, hours and minutes are
    /// fixed lengths. Results beyond the range of [`time::Date`] saturate at its ends
    /// instead of failing.
    pub fn resolve(&self, now: OffsetDateTime) -> OffsetDateTime {
        let start = now.checked_to_offset(UtcOffset::UTC).unwrap_or(now);
        let start = match self.base {
            TimeBase::Now => start,
            TimeBase::Today => start.replace_time(Time::MIDNIGHT),
        };
        let seconds_per = |seconds: i64| self.amount.saturating_mul(seconds);
        match self.unit {
            TimeUnit::Years => add_months(start, self.amount.saturating_mul(12)),
            TimeUnit::Months => add_months(start, self.amount),
            TimeUnit::Weeks => add_seconds(start, seconds_per(7 * 86_400)),
            TimeUnit::Days => add_seconds(start, seconds_per(86_400)),
            TimeUnit::Hours => add_seconds(start, seconds_per(3_600)),
            TimeUnit::Minutes => add_seconds(start, seconds_per(60)),
        }
    }
}

impl fmt::Display for RelativeTime {
    /// The text form: `now`, `today - 90d`, `now + 1h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base.as_str())?;
        if self.amount == 0 && self.unit == TimeUnit::Days {
            return Ok(());
        }
        let sign = if self.amount < 0 { '-' } else { '+' };
        write!(
            f,
            " {sign} {}{}",
            self.amount.unsigned_abs(),
            self.unit.suffix()
        )
    }
}

fn saturated(forward: bool) -> OffsetDateTime {
    if forward {
        // The last microsecond, not nanosecond: stored times have microseconds, so the
        // saturated bound must lie on that grid to compare exactly.
        let last = PrimitiveDateTime::MAX.assume_utc();
        last.replace_nanosecond(last.nanosecond() - last.nanosecond() % 1_000)
            .unwrap_or(last)
    } else {
        PrimitiveDateTime::MIN.assume_utc()
    }
}

fn add_seconds(start: OffsetDateTime, seconds: i64) -> OffsetDateTime {
    start
        .checked_add(time::Duration::seconds(seconds))
        .unwrap_or_else(|| saturated(seconds > 0))
}

fn add_months(start: OffsetDateTime, months: i64) -> OffsetDateTime {
    let date = start.date();
    let index = i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1;
    let Some(target) = index.checked_add(months) else {
        return saturated(months > 0);
    };
    let year = target.div_euclid(12);
    let (Ok(year), Ok(month)) = (
        i32::try_from(year),
        Month::try_from(target.rem_euclid(12) as u8 + 1),
    ) else {
        return saturated(months > 0);
    };
    if year < Date::MIN.year() || year > Date::MAX.year() {
        return saturated(months > 0);
    }
    let day = date.day().min(time::util::days_in_month(month, year));
    match Date::from_calendar_date(year, month, day) {
        Ok(new_date) => start.replace_date(new_date),
        Err(_) => saturated(months > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn relative(base: TimeBase, amount: i64, unit: TimeUnit) -> RelativeTime {
        RelativeTime { base, amount, unit }
    }

    #[test]
    fn months_are_calendar_months_clamped_to_the_last_day() {
        let now = datetime!(2024-03-31 10:15:00 UTC);
        assert_eq!(
            relative(TimeBase::Now, -1, TimeUnit::Months).resolve(now),
            datetime!(2024-02-29 10:15:00 UTC)
        );
        assert_eq!(
            relative(TimeBase::Now, -18, TimeUnit::Months).resolve(now),
            datetime!(2022-09-30 10:15:00 UTC)
        );
        assert_eq!(
            relative(TimeBase::Now, -1, TimeUnit::Years).resolve(datetime!(2024-02-29 00:00 UTC)),
            datetime!(2023-02-28 00:00 UTC)
        );
    }

    #[test]
    fn today_is_midnight_utc_of_the_current_day() {
        let now = datetime!(2024-05-31 01:30:00 +03:00); // 2024-05-30 22:30 UTC
        assert_eq!(
            relative(TimeBase::Today, -90, TimeUnit::Days).resolve(now),
            datetime!(2024-03-01 00:00 UTC)
        );
        assert_eq!(
            RelativeTime::NOW.resolve(now),
            datetime!(2024-05-30 22:30 UTC)
        );
    }

    #[test]
    fn huge_amounts_saturate_instead_of_panicking() {
        let now = datetime!(2024-05-31 00:00 UTC);
        for unit in TimeUnit::ALL {
            for amount in [i64::MIN, i64::MAX, -10_000_000, 10_000_000] {
                let resolved = relative(TimeBase::Now, amount, unit).resolve(now);
                assert_eq!(resolved > now, amount > 0);
            }
        }
    }

    #[test]
    fn relative_times_print_in_the_text_form() {
        assert_eq!(RelativeTime::NOW.to_string(), "now");
        assert_eq!(
            relative(TimeBase::Now, -3, TimeUnit::Years).to_string(),
            "now - 3y"
        );
        assert_eq!(
            relative(TimeBase::Today, 0, TimeUnit::Hours).to_string(),
            "today + 0h"
        );
        assert_eq!(
            relative(TimeBase::Now, 18, TimeUnit::Months).to_string(),
            "now + 18mo"
        );
    }
}
