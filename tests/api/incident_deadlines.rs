//! The 72-hour clock through the API and the job's service: the deadline across a DST change in
//! a Europe/Berlin workspace; the 48 h and 12 h warnings at the SMTP sink, once each and not
//! before, driven at set clock times; who is warned; a decision not to notify stops them.

use crate::helpers::TestApp;
use crate::incidents::setup;
use crate::outbox::{fast_outbox, next_mail, smtp_sink};
use chrono::{DateTime, Duration, Utc};
use lethe::config::Secret;
use reqwest::Method;
use serde_json::{Value, json};

/// Runs the job's service at `now`: how many incidents were warned about.
fn warn(app: &TestApp, now: DateTime<Utc>) -> usize {
    lethe::services::incident_deadlines::send_deadline_warnings(
        &app.db,
        &app.vault,
        &app.base,
        now,
        &|| false,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_runs_72_hours_across_a_dst_change_and_warns_at_48_and_12_hours_once() {
    let (smtp_port, mut inbox) = smtp_sink().await;
    let s = setup(|c| {
        c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{smtp_port}")));
        c.mail_from = Some("Lethe <lethe@shop.example>".into());
        fast_outbox(c);
    })
    .await;
    s.app
        .add_member("shop", "pia@example.org", "privacy_officer");
    s.app.add_member("shop", "sam@example.org", "support");
    let ws = s
        .ok(
            Method::PATCH,
            "/api/v1/workspace",
            json!({"time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(ws["time_zone"], "Europe/Berlin");
    let (status, bad) = s
        .call(
            Method::PATCH,
            "/api/v1/workspace",
            Some(json!({"time_zone": "Mars/Olympus"})),
        )
        .await;
    assert_eq!(status, 422, "{bad}");

    // 10:00 in Berlin (CEST) on Friday; the clocks go back on Sunday 25 October.
    let incident = s
        .register(json!({"title": "Laptop stolen", "detected_at": "2026-10-23T10:00"}))
        .await;
    assert_eq!(incident["detected_at"], "2026-10-23T08:00:00Z");
    assert_eq!(incident["deadline"], "2026-10-26T08:00:00Z");
    assert_eq!(incident["deadline_local"], "2026-10-26 09:00 CET");
    let deadline: DateTime<Utc> = incident["deadline"].as_str().unwrap().parse().unwrap();
    let detected: DateTime<Utc> = incident["detected_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(deadline - detected, Duration::hours(72));
    // A time the clocks skip is refused.
    let (status, problem) = s
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "x", "detected_at": "2026-03-29T02:30"})),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        problem
            .to_string()
            .contains("does not exist in Europe/Berlin"),
        "{problem}"
    );

    assert_eq!(
        warn(&s.app, deadline - Duration::hours(49)),
        0,
        "not before 48 h"
    );
    assert_eq!(warn(&s.app, deadline - Duration::hours(47)), 1);
    assert_eq!(warn(&s.app, deadline - Duration::hours(46)), 0, "once");
    assert_eq!(warn(&s.app, deadline - Duration::hours(13)), 0);
    assert_eq!(warn(&s.app, deadline - Duration::hours(11)), 1);
    assert_eq!(warn(&s.app, deadline - Duration::hours(1)), 0, "once");

    let first = next_mail(&mut inbox).await;
    let second = next_mail(&mut inbox).await;
    for mail in [&first, &second] {
        assert_eq!(
            mail.rcpt,
            ["<pia@example.org>"],
            "the privacy officer, not the owner nor support"
        );
        assert!(mail.subject.contains("Laptop stolen"), "{}", mail.subject);
        assert!(mail.body.contains("2026-10-26 09:00 CET"), "{}", mail.body);
        assert!(mail.body.contains("2026-10-26 08:00 UTC"), "{}", mail.body);
        let id = incident["id"].as_str().unwrap();
        assert!(
            mail.body
                .contains(&format!("/console/w/shop/incidents/{id}"))
        );
    }
    let mut subjects = [first.subject.clone(), second.subject.clone()];
    subjects.sort();
    assert!(subjects[0].contains("11 h left"), "{subjects:?}");
    assert!(subjects[1].contains("47 h left"), "{subjects:?}");
    // Nothing more arrives.
    let more = tokio::time::timeout(std::time::Duration::from_secs(2), inbox.recv()).await;
    assert!(more.is_err(), "a third e-mail: {more:?}");

    let (_, view) = s
        .call(
            Method::GET,
            &format!("/api/v1/incidents/{}", incident["id"].as_str().unwrap()),
            None,
        )
        .await;
    let warnings: Vec<&Value> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["what"] == "deadline_warning")
        .collect();
    assert_eq!(warnings.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_privacy_officer_the_owner_is_warned_and_a_decision_stops_the_warnings() {
    let s = setup(|_| {}).await;
    let quiet = s
        .register(json!({"title": "Misaddressed e-mail", "detected_at": "2026-10-01T08:00:00Z"}))
        .await;
    let loud = s
        .register(json!({"title": "Database dump", "detected_at": "2026-10-01T08:00:00Z"}))
        .await;
    let quiet_id = quiet["id"].as_str().unwrap();
    let (status, problem) = s
        .call(
            Method::POST,
            &format!("/api/v1/incidents/{quiet_id}/not-notified"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 422, "a reason is required: {problem}");
    assert!(problem.to_string().contains("reason"));
    let decided = s
        .ok(
            Method::POST,
            &format!("/api/v1/incidents/{quiet_id}/not-notified"),
            json!({"reason": "Encrypted; the key was not exposed"}),
        )
        .await;
    assert_eq!(decided["authority_decision"], "not_notified");
    assert_eq!(
        decided["not_notified_reason"],
        "Encrypted; the key was not exposed"
    );

    let deadline: DateTime<Utc> = loud["deadline"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        warn(&s.app, deadline - Duration::hours(30)),
        1,
        "only the undecided one"
    );
    let mails =
        lethe::services::outbox::recent_messages(&s.app.db, &s.app.vault, &s.app.scope("shop"), 10)
            .unwrap();
    assert_eq!(mails.len(), 1);
    let content = mails[0].content.as_ref().unwrap();
    assert_eq!(
        content.recipient, "ada@example.org",
        "the owner, as there is no privacy officer"
    );
    assert!(mails[0].message.subject.contains("Database dump"));
}
