//! When a policy version may take effect: a material change is announced at publication and
//! applies no sooner than the workspace's notice period later, unless an owner records why it
//! cannot wait (a change in the law, an order of an authority). The reason is published with
//! the version.

use super::{ValidationErrors, text};
use chrono::{DateTime, Duration, NaiveTime, Utc};

/// The earliest moment a material version published at `now` may take effect: the start (UTC)
/// of the day `notice_days` after today, so that choosing that day in a date field is enough.
pub fn earliest_material_effect(now: DateTime<Utc>, notice_days: u16) -> DateTime<Utc> {
    if notice_days == 0 {
        return now;
    }
    (now + Duration::days(i64::from(notice_days)))
        .date_naive()
        .and_time(NaiveTime::MIN)
        .and_utc()
}

/// Checks the notice rule; returns the waiver's cleaned text when one was needed and given.
pub fn check_notice(
    material: bool,
    effective_at: DateTime<Utc>,
    now: DateTime<Utc>,
    notice_days: u16,
    waiver: Option<&str>,
) -> Result<Option<String>, ValidationErrors> {
    let waiver = match waiver.map(|w| text(w, 1000, true)) {
        Some(Err(message)) => return Err(ValidationErrors::single("notice_waiver", message)),
        Some(Ok(w)) if !w.is_empty() => Some(w),
        _ => None,
    };
    let earliest = earliest_material_effect(now, notice_days);
    if !material || effective_at >= earliest {
        return match waiver {
            Some(_) => Err(ValidationErrors::single(
                "notice_waiver",
                "is only for a material change that takes effect inside the notice period",
            )),
            None => Ok(None),
        };
    }
    match waiver {
        Some(w) => Ok(Some(w)),
        None => Err(ValidationErrors::single(
            "effective_at",
            format!(
                "is too soon for a material change: people are told first, {notice_days} days \
                 ahead, so it can take effect on {} at the earliest; or record why it cannot \
                 wait (owners only)",
                earliest.format("%Y-%m-%d")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_material_change_waits_for_the_notice_period() {
        let now = at("2026-11-27T10:00:00Z");
        assert_eq!(
            earliest_material_effect(now, 30),
            at("2026-12-27T00:00:00Z")
        );
        let e = check_notice(true, now, now, 30, None).unwrap_err();
        assert_eq!(e.0[0].field, "effective_at");
        assert!(e.0[0].message.contains("2026-12-27"), "{e}");
        assert_eq!(
            check_notice(true, at("2026-12-27T00:00:00Z"), now, 30, None).unwrap(),
            None
        );
    }

    #[test]
    fn a_recorded_reason_lets_it_apply_sooner() {
        let now = at("2026-11-27T10:00:00Z");
        let w = check_notice(
            true,
            now,
            now,
            30,
            Some("  New law in force on 1 December. "),
        );
        assert_eq!(
            w.unwrap().as_deref(),
            Some("New law in force on 1 December.")
        );
        assert_eq!(
            check_notice(true, now, now, 30, Some("   ")).unwrap_err().0[0].field,
            "effective_at",
            "a blank reason is no reason"
        );
    }

    #[test]
    fn other_changes_need_no_notice_and_take_no_waiver() {
        let now = at("2026-11-27T10:00:00Z");
        assert_eq!(check_notice(false, now, now, 30, None).unwrap(), None);
        assert_eq!(check_notice(true, now, now, 0, None).unwrap(), None);
        assert_eq!(
            check_notice(false, now, now, 30, Some("because"))
                .unwrap_err()
                .0[0]
                .field,
            "notice_waiver"
        );
    }
}
