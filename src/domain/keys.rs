//! Which keys a record needs, and when a key's period ends.
//!
//! A record's fields are sealed under a key derived from two keys: its person's (or, for records
//! without a person, the workspace's) and the key of its category's *period*, one ISO week of
//! the record's `occurred_at`. Destroying either makes the record unreadable in every copy of
//! `lethe.db`, backups included: erasure destroys the person's key; retention destroys a period
//! key once no record sealed under it is left. A week bounds how long a deleted record stays
//! readable in an old backup to its rule's period plus one week (plus the key store's backup
//! rotation).

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};

/// One ISO week (Monday 00:00 UTC to the next Monday) of one category.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Period {
    pub category: String,
    /// The Monday the week starts on.
    pub starts: NaiveDate,
}

impl Period {
    /// The period a record of `category` that occurred at `at` is sealed in.
    pub fn of(category: &str, at: DateTime<Utc>) -> Period {
        let day = at.date_naive();
        let back = u64::from(day.weekday().num_days_from_monday());
        Period {
            category: category.to_owned(),
            starts: day.checked_sub_days(Days::new(back)).unwrap_or(day),
        }
    }

    /// The first instant after the period.
    pub fn ends(&self) -> DateTime<Utc> {
        self.starts
            .checked_add_days(Days::new(7))
            .unwrap_or(self.starts)
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
    }

    /// The key store label, `<category>@<Monday>`: readable, and unique per workspace.
    pub fn label(&self) -> String {
        format!("{}@{}", self.category, self.starts)
    }

    pub fn parse_label(label: &str) -> Option<Period> {
        let (category, day) = label.rsplit_once('@')?;
        let starts = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
        (starts.weekday() == chrono::Weekday::Mon && !category.is_empty()).then(|| Period {
            category: category.to_owned(),
            starts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_period_is_the_iso_week_of_the_record() {
        // Sunday 2026-11-29 belongs to the week of Monday 2026-11-23.
        let sunday = Utc.with_ymd_and_hms(2026, 11, 29, 23, 59, 59).unwrap();
        let p = Period::of("usage.message_log", sunday);
        assert_eq!(p.label(), "usage.message_log@2026-11-23");
        assert_eq!(
            p.ends(),
            Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap()
        );
        let monday = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
        assert_eq!(Period::of("c", monday).starts.to_string(), "2026-11-30");
        // Across a year end.
        let new_year = Utc.with_ymd_and_hms(2027, 1, 1, 12, 0, 0).unwrap();
        assert_eq!(Period::of("c", new_year).starts.to_string(), "2026-12-28");
    }

    #[test]
    fn labels_round_trip_and_junk_is_refused() {
        let p = Period::of("user.device.ip_address", Utc::now());
        assert_eq!(Period::parse_label(&p.label()), Some(p));
        for bad in ["", "c", "c@2026-11-24", "@2026-11-23", "c@monday"] {
            assert_eq!(Period::parse_label(bad), None, "{bad}");
        }
    }
}
