//! Time: the one form Lethe stores an instant in, its strict parse, and a clock tests can set.
//!
//! Every stored instant is UTC text of one fixed width, `2026-11-27T07:30:33.123456Z`, so that
//! ordering the text orders the instants (a query's `ORDER BY at` and `at < ?` are right). A
//! stored value that is not in that form is an error, never a default: a retention job that read
//! garbage as 1970 would delete it as ancient.

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Timelike, Utc};
use std::sync::Mutex;

/// `strftime` pattern of the stored form; 27 characters for years 0000–9999.
const STORED: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";
const STORED_LEN: usize = 27;

/// The earliest and latest instants Lethe stores: outside them the text would change width.
pub fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

pub fn latest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or_default()
}

/// The stored form of an instant. Instants outside 1970–9999 are clamped (input parsers refuse
/// them first, so this only guards the fixed width).
pub fn format(t: DateTime<Utc>) -> String {
    let t = t.clamp(earliest(), latest());
    // Field by field rather than through `strftime`, which reads its pattern again on every
    // call: this runs several times for each consent decision. The same text (a test holds it).
    let (date, time) = (t.date_naive(), t.time());
    // chrono keeps a leap second as second 59 with the nanoseconds past 10^9; `%S` writes 60.
    let (second, nanos) = match time.nanosecond().checked_sub(1_000_000_000) {
        Some(past) => (time.second() + 1, past),
        None => (time.second(), time.nanosecond()),
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        date.year(),
        date.month(),
        date.day(),
        time.hour(),
        time.minute(),
        second,
        nanos / 1000
    )
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a stored time (expected the form 2026-11-27T07:30:33.123456Z)")]
pub struct TimeError(pub String);

/// Parses the stored form, and only that form.
pub fn parse(s: &str) -> Result<DateTime<Utc>, TimeError> {
    let bad = || TimeError(s.chars().take(40).collect());
    if s.len() != STORED_LEN {
        return Err(bad());
    }
    NaiveDateTime::parse_from_str(s, STORED)
        .map(|t| t.and_utc())
        .map_err(|_| bad())
}

/// What time it is. Services take a clock (or an instant) instead of asking the system, so
/// deadlines and schedules are tested by setting the time, not by sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        FixedClock(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = at;
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|t| *t).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_stored_form_is_the_strftime_pattern_s(
            secs in 0i64..253_402_300_800,
            nanos in 0u32..2_000_000_000,
        ) {
            // Leap seconds included (chrono allows them at second 59 only).
            if let Some(t) = DateTime::from_timestamp(secs, nanos) {
                prop_assert_eq!(format(t), t.format(STORED).to_string());
            }
        }
    }

    #[test]
    fn a_leap_second_is_written_as_second_60() {
        let leap = DateTime::from_timestamp(1_483_228_799, 1_250_000_000).unwrap();
        assert_eq!(format(leap), "2016-12-31T23:59:60.250000Z");
        assert_eq!(format(leap), leap.format(STORED).to_string());
    }

    #[test]
    fn the_stored_form_has_one_width_and_round_trips() {
        let t = Utc.with_ymd_and_hms(2026, 11, 27, 7, 30, 33).unwrap();
        assert_eq!(format(t), "2026-11-27T07:30:33.000000Z");
        let fine = t + chrono::Duration::microseconds(123_456);
        assert_eq!(format(fine), "2026-11-27T07:30:33.123456Z");
        assert_eq!(parse(&format(fine)).unwrap(), fine);
        // Nanoseconds are cut, not rounded up into another width.
        let nanos = t + chrono::Duration::nanoseconds(999_999_999);
        assert_eq!(format(nanos).len(), 27);
    }

    #[test]
    fn text_order_is_time_order_within_one_second() {
        let t = Utc.with_ymd_and_hms(2026, 11, 27, 7, 30, 33).unwrap();
        let later = t + chrono::Duration::microseconds(1);
        assert!(format(t) < format(later));
        // The bug this form fixes: RFC 3339 without fractions sorts after any fraction.
        let short = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        assert!(short(t) > short(later));
    }

    #[test]
    fn anything_else_is_an_error_not_the_epoch() {
        for bad in [
            "",
            "garbage",
            "2026-11-27T07:30:33Z",
            "2026-11-27T07:30:33.123456+00:00",
            "2026-11-27 07:30:33.123456Z",
            "2026-13-27T07:30:33.123456Z",
            "2026-11-27T07:30:33.12345Z ",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("x").unwrap_err().to_string().contains("'x'"));
    }

    #[test]
    fn instants_beyond_the_fixed_width_are_clamped() {
        let far = Utc.with_ymd_and_hms(12000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(format(far), "9999-12-31T23:59:59.000000Z");
    }

    #[test]
    fn a_fixed_clock_moves_only_when_told() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = FixedClock::new(t);
        assert_eq!(clock.now(), t);
        clock.advance(chrono::Duration::days(31));
        assert_eq!(clock.now(), t + chrono::Duration::days(31));
    }
}
