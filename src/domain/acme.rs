//! When an ACME certificate is renewed, and how long to wait after a failed attempt. Pure, so
//! that the thresholds are tested with chosen instants.

use chrono::{DateTime, Duration, Utc};

/// Renewal starts at the latest this long before the end, whatever the lifetime.
pub const RENEW_BEFORE_DAYS: i64 = 30;

/// The moment a certificate valid from `not_before` to `not_after` is due for renewal: when less
/// than a third of its lifetime remains or 30 days before its end, whichever comes first — but
/// never in the first half of its life, or a short certificate (Let's Encrypt's 6-day profile,
/// where the 30 days cover all of it) would be renewed as soon as it arrived. A 90-day
/// certificate renews 30 days before its end, a 6-day one after 3 days, a 5-year one (pebble's)
/// with a third left.
pub fn renew_at(not_before: DateTime<Utc>, not_after: DateTime<Utc>) -> DateTime<Utc> {
    let lifetime = not_after - not_before;
    if lifetime <= Duration::zero() {
        // Never valid: due at once.
        return DateTime::<Utc>::MIN_UTC;
    }
    let third_left = not_after - lifetime / 3;
    let month_left = not_after - Duration::days(RENEW_BEFORE_DAYS);
    let half_life = not_before + lifetime / 2;
    third_left.min(month_left).max(half_life)
}

pub fn renewal_due(
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    now >= renew_at(not_before, not_after)
}

/// The wait before retry `attempt` (1 = the first retry) after the CA failed: doubling from a
/// minute, at most an hour. A CA that is down is asked again soon but not hammered: a domain
/// whose validation keeps failing is tried about six times in the first hour, then hourly (a
/// CA's rate limit, such as Let's Encrypt's on failed validations, then refuses a few of them,
/// which is one more failure and changes nothing).
pub fn retry_delay(attempt: u32) -> std::time::Duration {
    let seconds = 60u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(16));
    std::time::Duration::from_secs(seconds.min(3600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
            + Duration::days(i64::from(day))
            + Duration::hours(i64::from(hour))
    }

    #[test]
    fn a_90_day_certificate_renews_30_days_before_its_end() {
        let (from, to) = (at(0, 0), at(90, 0));
        assert_eq!(renew_at(from, to), at(60, 0));
        assert!(!renewal_due(from, to, at(59, 23)));
        assert!(renewal_due(from, to, at(60, 0)));
        assert!(renewal_due(from, to, at(95, 0)));
    }

    #[test]
    fn a_short_certificate_renews_at_half_its_life() {
        // 6 days (Let's Encrypt's short-lived profile): the 30 days would cover all of it.
        let (from, to) = (at(0, 0), at(6, 0));
        assert_eq!(renew_at(from, to), at(3, 0));
        assert!(!renewal_due(from, to, at(2, 23)));
        assert!(renewal_due(from, to, at(3, 0)));
        // 45 days: the 30 days before the end fall before half its life.
        assert_eq!(renew_at(at(0, 0), at(45, 0)), at(22, 12));
    }

    #[test]
    fn a_long_certificate_renews_with_a_third_of_its_life_left() {
        // Pebble's 5 years: the third comes before the month.
        let (from, to) = (at(0, 0), at(1826, 0));
        assert_eq!(renew_at(from, to), to - (to - from) / 3);
        assert!(!renewal_due(from, to, at(1000, 0)));
        assert!(renewal_due(from, to, at(1300, 0)));
    }

    #[test]
    fn a_certificate_whose_dates_are_reversed_is_due() {
        assert!(renewal_due(at(10, 0), at(5, 0), at(1, 0)));
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(retry_delay(1).as_secs(), 60);
        assert_eq!(retry_delay(2).as_secs(), 120);
        assert_eq!(retry_delay(5).as_secs(), 960);
        assert_eq!(retry_delay(6).as_secs(), 1920);
        assert_eq!(retry_delay(7).as_secs(), 3600);
        assert_eq!(retry_delay(20).as_secs(), 3600);
        assert_eq!(retry_delay(u32::MAX).as_secs(), 3600);
    }
}
