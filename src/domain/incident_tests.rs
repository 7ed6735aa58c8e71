use super::*;
use chrono::NaiveDate;
use chrono_tz::Europe::Berlin;

fn naive(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(h, min, 0)
        .unwrap()
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    naive(y, m, d, h, min).and_utc()
}

#[test]
fn the_deadline_is_72_hours_later_across_the_autumn_change() {
    // Awareness on Friday 23 October 2026, 10:00 in Berlin (CEST, UTC+2); the clocks go back
    // on Sunday 25 October.
    let detected = local_to_utc(naive(2026, 10, 23, 10, 0), Berlin).unwrap();
    assert_eq!(detected, utc(2026, 10, 23, 8, 0));
    let deadline = authority_deadline(detected);
    assert_eq!(deadline - detected, Duration::hours(72));
    assert_eq!(deadline, utc(2026, 10, 26, 8, 0));
    // On the wall the deadline reads 09:00 CET, not 10:00: the instant is what counts.
    assert_eq!(in_zone(deadline, Berlin), "2026-10-26 09:00 CET");
}

#[test]
fn the_deadline_is_72_hours_later_across_the_spring_change() {
    // Awareness on Friday 27 March 2026, 10:00 CET; the clocks go forward on Sunday 29 March.
    let detected = local_to_utc(naive(2026, 3, 27, 10, 0), Berlin).unwrap();
    assert_eq!(detected, utc(2026, 3, 27, 9, 0));
    let deadline = authority_deadline(detected);
    assert_eq!(deadline - detected, Duration::hours(72));
    assert_eq!(in_zone(deadline, Berlin), "2026-03-30 11:00 CEST");
}

#[test]
fn a_skipped_local_time_is_refused_and_a_repeated_one_read_as_the_earlier() {
    let skipped = local_to_utc(naive(2026, 3, 29, 2, 30), Berlin).unwrap_err();
    assert!(
        skipped
            .to_string()
            .contains("does not exist in Europe/Berlin"),
        "{skipped}"
    );
    // 02:30 happens twice on 25 October 2026: first in CEST (00:30Z), then in CET (01:30Z).
    assert_eq!(
        local_to_utc(naive(2026, 10, 25, 2, 30), Berlin).unwrap(),
        utc(2026, 10, 25, 0, 30)
    );
}

#[test]
fn instants_are_read_with_their_offset_or_in_the_zone() {
    let at = |s| parse_instant(s, Berlin);
    assert_eq!(at("2026-10-23T08:00:00Z").unwrap(), utc(2026, 10, 23, 8, 0));
    assert_eq!(
        at("2026-10-23T10:00:00+02:00").unwrap(),
        utc(2026, 10, 23, 8, 0)
    );
    assert_eq!(at("2026-10-23T10:00").unwrap(), utc(2026, 10, 23, 8, 0));
    assert_eq!(at("2026-10-23 10:00:00").unwrap(), utc(2026, 10, 23, 8, 0));
    assert!(
        at("2026-03-29T02:30")
            .unwrap_err()
            .contains("does not exist")
    );
    assert!(at("yesterday").unwrap_err().contains("Europe/Berlin"));
    assert!(at("1969-12-31T23:00:00Z").is_err());
}

#[test]
fn warnings_at_48_and_12_hours_left_the_most_urgent_only() {
    let detected = utc(2026, 10, 23, 8, 0);
    let deadline = authority_deadline(detected);
    let at = |left: Duration| warning_due(detected, deadline - left);
    assert_eq!(at(Duration::hours(48) + Duration::seconds(1)), None);
    assert_eq!(at(Duration::hours(48)), Some(DeadlineWarning::Hours48));
    assert_eq!(
        at(Duration::hours(12) + Duration::seconds(1)),
        Some(DeadlineWarning::Hours48)
    );
    assert_eq!(at(Duration::hours(12)), Some(DeadlineWarning::Hours12));
    assert_eq!(
        at(-Duration::hours(5)),
        Some(DeadlineWarning::Hours12),
        "passed"
    );

    let h30 = deadline - Duration::hours(30);
    assert_eq!(
        warning_to_send(detected, h30, &[]),
        Some(DeadlineWarning::Hours48)
    );
    assert_eq!(
        warning_to_send(detected, h30, &[DeadlineWarning::Hours48]),
        None,
        "once"
    );
    let h6 = deadline - Duration::hours(6);
    assert_eq!(
        warning_to_send(detected, h6, &[DeadlineWarning::Hours48]),
        Some(DeadlineWarning::Hours12)
    );
    assert_eq!(
        warning_to_send(detected, h6, &[DeadlineWarning::Hours12]),
        None
    );
    // Registered with 6 hours left: the 12-hour warning alone, and the 48-hour one never after.
    assert_eq!(
        warning_to_send(detected, h6, &[]),
        Some(DeadlineWarning::Hours12)
    );
    assert_eq!(
        warning_to_send(detected, h30, &[DeadlineWarning::Hours12]),
        None
    );
}

#[test]
fn a_notice_after_the_deadline_is_late() {
    let detected = utc(2026, 10, 23, 8, 0);
    let deadline = authority_deadline(detected);
    assert!(!is_late(detected, deadline));
    assert!(is_late(detected, deadline + Duration::microseconds(1)));
    assert_eq!(
        time_left(detected, deadline - Duration::hours(1)),
        Duration::hours(1)
    );
    assert_eq!(
        time_left(detected, deadline + Duration::hours(1)),
        -Duration::hours(1)
    );
}

fn input() -> IncidentInput {
    IncidentInput {
        title: Some("Support mailbox exposed".into()),
        detected_at: Some("2026-10-23T10:00".into()),
        ..IncidentInput::default()
    }
}

#[test]
fn an_incident_needs_a_title_and_its_awareness_and_nothing_in_the_future() {
    let now = utc(2026, 10, 24, 0, 0);
    let ok = input().validate(Berlin, now).unwrap();
    assert_eq!(ok.detected_at, utc(2026, 10, 23, 8, 0));
    assert_eq!(
        ok.risk,
        RiskLevel::Risk,
        "notified unless assessed otherwise"
    );

    let bad = IncidentInput {
        title: Some(" ".into()),
        detected_at: Some("2026-10-25T10:00:00Z".into()),
        started_at: Some("2026-10-22T10:00".into()),
        ended_at: Some("2026-10-21T10:00".into()),
        risk: Some("severe".into()),
        handler: Some("not an address".into()),
        ..IncidentInput::default()
    };
    let e = bad.validate(Berlin, now).unwrap_err();
    let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        fields,
        ["title", "detected_at", "ended_at", "risk", "handler"]
    );
    let missing = IncidentInput {
        detected_at: None,
        ..input()
    };
    let e = missing.validate(Berlin, now).unwrap_err();
    assert_eq!(e.0[0].field, "detected_at");
    assert!(e.0[0].message.contains("required"));
}

#[test]
fn a_change_names_the_fields_it_changed() {
    let now = utc(2026, 10, 24, 0, 0);
    let old = input().validate(Berlin, now).unwrap();
    let mut changed = old.to_input();
    changed.categories = Some(vec!["b".into(), "a".into(), "a".into()]);
    changed.measures = Some("Passwords reset".into());
    let new = changed.validate(Berlin, now).unwrap();
    assert_eq!(new.categories, ["a", "b"]);
    assert_eq!(new.changed_since(&old), ["measures", "categories"]);
    assert!(IncidentFields::scope_changed(&new.changed_since(&old)));
    assert_eq!(
        old.to_input().validate(Berlin, now).unwrap(),
        old,
        "round trip"
    );
}
