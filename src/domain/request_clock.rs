//! The legal clocks of data subject requests: when an answer is due, and whether (and until
//! when) a deadline may be extended. Pure: it takes instants and never reads the clock.
//!
//! **Time zone.** Days and calendar months are counted in the workspace's time zone. Workspaces
//! have no time-zone setting yet, so they are counted in UTC; a deadline is the last microsecond
//! of its day in UTC (`…T23:59:59.999999Z`), stored in the one fixed-width form
//! (`domain::time::format`). Daylight saving never shifts a deadline (UTC has none).
//!
//! **GDPR** (Art. 12(3), counted as Regulation 1182/71 counts periods): an answer is due one
//! calendar month after receipt, at the end of the day with the same date; a month without that
//! date ends the period on its last day (31 January → 28 February, or 29 in a leap year;
//! 31 March → 30 April). It may be extended once by two further months, counted the same way
//! from the original deadline, only with a reason and only if decided before the first month is
//! over. There is no acknowledgement deadline.
//!
//! **CCPA** (Cal. Civ. Code §1798.130(a)(2); CCPA Regulations §7021): receipt is acknowledged
//! within 10 business days and the answer is due 45 calendar days after receipt; it may be
//! extended once by 45 more days, with notice to the person within the first 45. Business days
//! are Monday to Friday: **public holidays are not known to Lethe and are counted as business
//! days**, which can only make the acknowledgement deadline earlier, never later. In both counts
//! the day of receipt is not counted.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The law a request is answered under, which sets its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Law {
    /// The EU and UK GDPR: one calendar month, extendable by two.
    Gdpr,
    /// The California Consumer Privacy Act: acknowledge in 10 business days, answer in 45
    /// days, extendable once by 45.
    Ccpa,
}

impl Law {
    pub const ALL: [Law; 2] = [Law::Gdpr, Law::Ccpa];

    pub fn as_str(self) -> &'static str {
        match self {
            Law::Gdpr => "gdpr",
            Law::Ccpa => "ccpa",
        }
    }

    pub fn parse(s: &str) -> Option<Law> {
        Law::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// Its name as people know it.
    pub fn label(self) -> &'static str {
        match self {
            Law::Gdpr => "GDPR",
            Law::Ccpa => "CCPA",
        }
    }

    /// The deadline it sets, in a few words for staff.
    pub fn deadline_summary(self) -> &'static str {
        match self {
            Law::Gdpr => "answer within one calendar month, extendable once by two months",
            Law::Ccpa => {
                "acknowledge within 10 business days, answer within 45 days, extendable once by 45"
            }
        }
    }

    /// When the person hears back, as the privacy policy tells them ("We answer …").
    pub fn answer_time(self) -> &'static str {
        match self {
            Law::Gdpr => {
                "within one month of receiving your request; when requests are complex or \
                 numerous we may take up to two more months, and tell you so within the first"
            }
            Law::Ccpa => {
                "within 45 days of receiving your request; when we need longer we may take up to \
                 45 more days, and tell you so within the first 45"
            }
        }
    }
}

/// The deadlines a request has from the moment it was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// When receipt must have been confirmed to the person (CCPA only).
    pub acknowledge_by: Option<DateTime<Utc>>,
    /// When the answer is due, before any extension.
    pub due_at: DateTime<Utc>,
}

/// Why an extension is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionRefused {
    #[error("an extension needs a reason, which the person is told")]
    NoReason,
    #[error("the deadline was already extended once; it cannot be extended again")]
    AlreadyExtended,
    #[error(
        "an extension must be decided before the original deadline ({}); it has passed",
        crate::domain::time::format(*.0)
    )]
    TooLate(DateTime<Utc>),
}

/// The GDPR's extra months and the CCPA's extra days.
const GDPR_MONTHS: u32 = 1;
const GDPR_EXTENSION_MONTHS: u32 = 2;
const CCPA_DAYS: i64 = 45;
const CCPA_EXTENSION_DAYS: i64 = 45;
const CCPA_ACKNOWLEDGE_BUSINESS_DAYS: u32 = 10;

/// The deadlines of a request received at `received_at` under `law`.
pub fn deadlines(law: Law, received_at: DateTime<Utc>) -> Deadlines {
    let day = received_at.date_naive();
    match law {
        Law::Gdpr => Deadlines {
            acknowledge_by: None,
            due_at: end_of(add_months(day, GDPR_MONTHS)),
        },
        Law::Ccpa => Deadlines {
            acknowledge_by: Some(end_of(add_business_days(
                day,
                CCPA_ACKNOWLEDGE_BUSINESS_DAYS,
            ))),
            due_at: end_of(add_days(day, CCPA_DAYS)),
        },
    }
}

/// The extended deadline, when an extension decided at `decided_at` is allowed: a reason is
/// given, the deadline was not extended before, and the original deadline has not passed.
pub fn extend(
    law: Law,
    original_due_at: DateTime<Utc>,
    already_extended: bool,
    reason_given: bool,
    decided_at: DateTime<Utc>,
) -> Result<DateTime<Utc>, ExtensionRefused> {
    if !reason_given {
        return Err(ExtensionRefused::NoReason);
    }
    if already_extended {
        return Err(ExtensionRefused::AlreadyExtended);
    }
    if decided_at > original_due_at {
        return Err(ExtensionRefused::TooLate(original_due_at));
    }
    let day = original_due_at.date_naive();
    Ok(end_of(match law {
        Law::Gdpr => add_months(day, GDPR_EXTENSION_MONTHS),
        Law::Ccpa => add_days(day, CCPA_EXTENSION_DAYS),
    }))
}

/// Whether an answer due at `due_at` is late at `now`.
pub fn is_overdue(due_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now > due_at
}

/// Where `now` stands against a deadline, in whole calendar days (UTC, as deadlines are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Due today (0) or in this many days.
    DueIn(i64),
    /// Past the deadline, by this many days (at least 1).
    OverdueBy(i64),
}

pub fn standing(due_at: DateTime<Utc>, now: DateTime<Utc>) -> Standing {
    let days = (due_at.date_naive() - now.date_naive()).num_days();
    if is_overdue(due_at, now) {
        Standing::OverdueBy((-days).max(1))
    } else {
        Standing::DueIn(days.max(0))
    }
}

/// A deadline warning staff are sent, once per request, threshold and deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Warning {
    /// The deadline is a week away or less.
    Week,
    /// Two days away or less: the last chance to answer (or, while allowed, extend).
    TwoDays,
    /// Past the deadline.
    Overdue,
}

impl Warning {
    pub fn as_str(self) -> &'static str {
        match self {
            Warning::Week => "7_days",
            Warning::TwoDays => "2_days",
            Warning::Overdue => "overdue",
        }
    }
}

/// Days before a deadline when the first and the second warning go out.
pub const FIRST_WARNING_DAYS: i64 = 7;
pub const LAST_WARNING_DAYS: i64 = 2;

/// The most urgent warning a deadline calls for at `now`, if any: only that one is sent, so a
/// request that comes within two days of its deadline at once gets one e-mail, not two.
pub fn warning(due_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<Warning> {
    match standing(due_at, now) {
        Standing::OverdueBy(_) => Some(Warning::Overdue),
        Standing::DueIn(d) if d <= LAST_WARNING_DAYS => Some(Warning::TwoDays),
        Standing::DueIn(d) if d <= FIRST_WARNING_DAYS => Some(Warning::Week),
        Standing::DueIn(_) => None,
    }
}

/// The instant before which a deadline calls for a warning at `now` (deadlines are ends of
/// days, so any deadline on or before the day `FIRST_WARNING_DAYS` from now).
pub fn warn_until(now: DateTime<Utc>) -> DateTime<Utc> {
    end_of(add_days(now.date_naive(), FIRST_WARNING_DAYS)) + Duration::microseconds(1)
}

/// The same date `months` later; a month without that date gives its last day (chrono clamps).
/// Beyond year 9999 the latest storable day stands in (no request lives that long).
fn add_months(day: NaiveDate, months: u32) -> NaiveDate {
    day.checked_add_months(Months::new(months))
        .unwrap_or_else(|| crate::domain::time::latest().date_naive())
}

fn add_days(day: NaiveDate, days: i64) -> NaiveDate {
    day.checked_add_signed(Duration::days(days))
        .unwrap_or_else(|| crate::domain::time::latest().date_naive())
}

/// The `n`th Monday-to-Friday after `day` (the day itself is not counted).
fn add_business_days(day: NaiveDate, n: u32) -> NaiveDate {
    let mut d = day;
    let mut left = n;
    while left > 0 {
        d = add_days(d, 1);
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    d
}

/// The last microsecond of `day` in UTC: a period ends with the expiry of its last day. Never
/// past the latest storable instant, so the stored form keeps its width.
fn end_of(day: NaiveDate) -> DateTime<Utc> {
    let last = NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap_or(NaiveTime::MIN);
    day.and_time(last)
        .and_utc()
        .min(crate::domain::time::latest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_come_a_week_and_two_days_before_and_when_overdue() {
        let due = deadlines(Law::Gdpr, at(2026, 1, 10, 9, 0)).due_at; // 2026-02-10
        assert_eq!(warning(due, at(2026, 2, 2, 12, 0)), None);
        assert_eq!(warning(due, at(2026, 2, 3, 0, 0)), Some(Warning::Week));
        assert_eq!(warning(due, at(2026, 2, 8, 0, 0)), Some(Warning::TwoDays));
        assert_eq!(
            warning(due, at(2026, 2, 10, 23, 59)),
            Some(Warning::TwoDays)
        );
        assert_eq!(warning(due, at(2026, 2, 11, 0, 0)), Some(Warning::Overdue));
        assert_eq!(standing(due, at(2026, 2, 10, 8, 0)), Standing::DueIn(0));
        assert_eq!(standing(due, at(2026, 2, 3, 8, 0)), Standing::DueIn(7));
        assert_eq!(standing(due, at(2026, 2, 11, 0, 0)), Standing::OverdueBy(1));
        assert_eq!(standing(due, at(2026, 2, 14, 0, 0)), Standing::OverdueBy(4));
        assert!(due < warn_until(at(2026, 2, 3, 0, 0)));
        assert!(due >= warn_until(at(2026, 2, 2, 23, 0)));
    }
    use crate::domain::time::format;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn due(law: Law, t: DateTime<Utc>) -> String {
        format(deadlines(law, t).due_at)
    }

    #[test]
    fn gdpr_one_calendar_month_to_the_end_of_the_same_date() {
        assert_eq!(
            due(Law::Gdpr, at(2026, 3, 10, 9, 15)),
            "2026-04-10T23:59:59.999999Z"
        );
        // The time of day of receipt does not matter: the whole last day counts.
        assert_eq!(
            due(Law::Gdpr, at(2026, 3, 10, 23, 59)),
            due(Law::Gdpr, at(2026, 3, 10, 0, 0))
        );
        assert_eq!(
            deadlines(Law::Gdpr, at(2026, 3, 10, 9, 15)).acknowledge_by,
            None
        );
    }

    #[test]
    fn gdpr_month_ends_clamp_to_the_last_day_of_the_shorter_month() {
        assert_eq!(
            due(Law::Gdpr, at(2026, 1, 31, 12, 0)),
            "2026-02-28T23:59:59.999999Z"
        );
        assert_eq!(
            due(Law::Gdpr, at(2026, 1, 29, 12, 0)),
            "2026-02-28T23:59:59.999999Z"
        );
        assert_eq!(
            due(Law::Gdpr, at(2026, 3, 31, 12, 0)),
            "2026-04-30T23:59:59.999999Z"
        );
        assert_eq!(
            due(Law::Gdpr, at(2026, 8, 31, 12, 0)),
            "2026-09-30T23:59:59.999999Z"
        );
        // 30 April → 30 May: a shorter month's last day maps to the same date, not to May's end.
        assert_eq!(
            due(Law::Gdpr, at(2026, 4, 30, 12, 0)),
            "2026-05-30T23:59:59.999999Z"
        );
    }

    #[test]
    fn gdpr_leap_years() {
        assert_eq!(
            due(Law::Gdpr, at(2028, 1, 31, 12, 0)),
            "2028-02-29T23:59:59.999999Z"
        );
        assert_eq!(
            due(Law::Gdpr, at(2028, 2, 29, 12, 0)),
            "2028-03-29T23:59:59.999999Z"
        );
        // 2100 is not a leap year (divisible by 100, not by 400); 2000 was.
        assert_eq!(
            due(Law::Gdpr, at(2100, 1, 30, 12, 0)),
            "2100-02-28T23:59:59.999999Z"
        );
        assert_eq!(
            due(Law::Gdpr, at(2000, 1, 30, 12, 0)),
            "2000-02-29T23:59:59.999999Z"
        );
    }

    #[test]
    fn gdpr_over_the_year_end() {
        assert_eq!(
            due(Law::Gdpr, at(2026, 12, 31, 23, 30)),
            "2027-01-31T23:59:59.999999Z"
        );
        assert_eq!(
            due(Law::Gdpr, at(2026, 12, 15, 0, 0)),
            "2027-01-15T23:59:59.999999Z"
        );
    }

    #[test]
    fn daylight_saving_changes_do_not_move_a_deadline() {
        // The EU's clocks went forward on 29 March 2026 and back on 25 October 2026; in UTC
        // neither exists, so each deadline is still the end of the same date.
        assert_eq!(
            due(Law::Gdpr, at(2026, 3, 29, 0, 30)),
            "2026-04-29T23:59:59.999999Z"
        );
        assert_eq!(
            due(Law::Gdpr, at(2026, 9, 25, 1, 30)),
            "2026-10-25T23:59:59.999999Z"
        );
        // A US change (8 March 2026) inside a CCPA period: exactly 45 days, no hour lost.
        assert_eq!(
            due(Law::Ccpa, at(2026, 3, 1, 12, 0)),
            "2026-04-15T23:59:59.999999Z"
        );
    }

    #[test]
    fn gdpr_extension_is_two_months_from_the_original_deadline() {
        let received = at(2026, 1, 31, 12, 0);
        let original = deadlines(Law::Gdpr, received).due_at;
        let extended = extend(Law::Gdpr, original, false, true, at(2026, 2, 10, 9, 0)).unwrap();
        // 28 February + 2 months = 28 April (not 30 April: counted from the deadline).
        assert_eq!(format(extended), "2026-04-28T23:59:59.999999Z");
        let from_march = deadlines(Law::Gdpr, at(2026, 3, 31, 8, 0)).due_at;
        assert_eq!(
            format(extend(Law::Gdpr, from_march, false, true, from_march).unwrap()),
            "2026-06-30T23:59:59.999999Z"
        );
        let december = deadlines(Law::Gdpr, at(2026, 11, 30, 8, 0)).due_at;
        assert_eq!(
            format(extend(Law::Gdpr, december, false, true, december).unwrap()),
            "2027-02-28T23:59:59.999999Z"
        );
    }

    #[test]
    fn an_extension_needs_a_reason_the_first_period_and_no_earlier_extension() {
        let original = deadlines(Law::Gdpr, at(2026, 5, 4, 10, 0)).due_at;
        let inside = at(2026, 5, 20, 10, 0);
        assert_eq!(
            extend(Law::Gdpr, original, false, false, inside),
            Err(ExtensionRefused::NoReason)
        );
        assert_eq!(
            extend(Law::Gdpr, original, true, true, inside),
            Err(ExtensionRefused::AlreadyExtended)
        );
        // The last microsecond of the first month still counts; the next does not.
        assert!(extend(Law::Gdpr, original, false, true, original).is_ok());
        let late = original + Duration::microseconds(1);
        assert_eq!(
            extend(Law::Gdpr, original, false, true, late),
            Err(ExtensionRefused::TooLate(original))
        );
        let ccpa = deadlines(Law::Ccpa, at(2026, 5, 4, 10, 0)).due_at;
        assert_eq!(
            extend(Law::Ccpa, ccpa, true, true, inside),
            Err(ExtensionRefused::AlreadyExtended)
        );
        assert_eq!(
            extend(Law::Ccpa, ccpa, false, true, ccpa + Duration::days(1)),
            Err(ExtensionRefused::TooLate(ccpa))
        );
    }

    #[test]
    fn ccpa_45_days_extendable_once_by_45() {
        let received = at(2026, 1, 1, 15, 0);
        let d = deadlines(Law::Ccpa, received);
        assert_eq!(format(d.due_at), "2026-02-15T23:59:59.999999Z");
        let extended = extend(Law::Ccpa, d.due_at, false, true, at(2026, 2, 1, 0, 0)).unwrap();
        assert_eq!(format(extended), "2026-04-01T23:59:59.999999Z");
        // Over a leap day and the year end.
        assert_eq!(
            due(Law::Ccpa, at(2028, 2, 1, 0, 0)),
            "2028-03-17T23:59:59.999999Z"
        );
        assert_eq!(
            due(Law::Ccpa, at(2026, 12, 20, 0, 0)),
            "2027-02-03T23:59:59.999999Z"
        );
    }

    #[test]
    fn ccpa_acknowledgement_counts_ten_business_days_over_weekends() {
        let ack = |t| format(deadlines(Law::Ccpa, t).acknowledge_by.unwrap());
        // Monday 2 March 2026 → Monday 16 March (two weekends skipped).
        assert_eq!(ack(at(2026, 3, 2, 9, 0)), "2026-03-16T23:59:59.999999Z");
        // Friday 6 March → Friday 20 March.
        assert_eq!(ack(at(2026, 3, 6, 9, 0)), "2026-03-20T23:59:59.999999Z");
        // Received on a Saturday or a Sunday: counting starts on Monday 9 March → Friday 20.
        assert_eq!(ack(at(2026, 3, 7, 9, 0)), "2026-03-20T23:59:59.999999Z");
        assert_eq!(ack(at(2026, 3, 8, 23, 59)), "2026-03-20T23:59:59.999999Z");
        // Over the year end; 1 January is a holiday Lethe does not know, so it counts.
        assert_eq!(ack(at(2026, 12, 24, 9, 0)), "2027-01-07T23:59:59.999999Z");
    }

    #[test]
    fn overdue_only_after_the_last_microsecond() {
        let d = deadlines(Law::Gdpr, at(2026, 6, 1, 0, 0)).due_at;
        assert!(!is_overdue(d, d));
        assert!(is_overdue(d, d + Duration::microseconds(1)));
    }

    #[test]
    fn the_far_future_does_not_overflow() {
        let d = deadlines(Law::Gdpr, at(9999, 12, 15, 0, 0)).due_at;
        assert_eq!(d.year(), 9999);
        assert_eq!(format(d).len(), 27);
    }

    #[test]
    fn laws_round_trip_their_names() {
        for law in Law::ALL {
            assert_eq!(Law::parse(law.as_str()), Some(law));
        }
        assert_eq!(Law::parse("lgpd"), None);
    }
}
