//! Telling the people a high-risk breach affected (GDPR Art. 34): the letter reaches exactly the
//! affected people with an e-mail, at the SMTP sink, once; people without one are counted; the
//! report follows the outbox; each person's page shows it; other workspaces and people outside
//! the incident's categories or window get nothing.

use crate::incidents::{category, person, records, setup};
use crate::outbox::{fast_outbox, next_mail, smtp_sink};
use chrono::Utc;
use lethe::config::Secret;
use reqwest::Method;
use serde_json::{Value, json};

/// Runs the `incident-letters` job's service now: how many people it recorded.
fn run_job(app: &crate::helpers::TestApp) -> usize {
    lethe::services::incident_letters::send_batches(
        &app.db,
        &app.vault,
        &app.base,
        Utc::now(),
        &|| false,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_letter_reaches_exactly_the_affected_people_with_an_email_and_counts_the_rest() {
    let (smtp_port, mut inbox) = smtp_sink().await;
    let s = setup(|c| {
        c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{smtp_port}")));
        c.mail_from = Some("Lethe <lethe@shop.example>".into());
        fast_outbox(c);
    })
    .await;
    let (app, key) = (&s.app, s.key.as_str());
    for c in ["support.tickets", "billing.invoices"] {
        category(app, key, c).await;
    }
    // Affected: a record of the category in the window.
    person(app, key, "ann", Some("ann@example.org")).await;
    person(app, key, "bob", Some("bob@example.org")).await;
    person(app, key, "cat", None).await;
    // Not affected: another category, a record before the window, erased meanwhile.
    person(app, key, "dan", Some("dan@example.org")).await;
    person(app, key, "eve", Some("eve@example.org")).await;
    person(app, key, "fay", Some("fay@example.org")).await;
    records(
        app,
        key,
        &[
            ("support.tickets", "ann", "2026-09-02T10:00:00Z"),
            ("support.tickets", "ann", "2026-09-03T10:00:00Z"),
            ("support.tickets", "bob", "2026-09-04T10:00:00Z"),
            ("support.tickets", "cat", "2026-09-05T10:00:00Z"),
            ("billing.invoices", "dan", "2026-09-04T10:00:00Z"),
            ("support.tickets", "eve", "2026-08-01T10:00:00Z"),
            ("support.tickets", "fay", "2026-09-04T10:00:00Z"),
        ],
    )
    .await;
    let (status, erased) = s
        .call(
            Method::POST,
            "/api/v1/subjects/fay/erase",
            Some(json!({"confirm": "fay"})),
        )
        .await;
    assert!(status < 300, "{status} {erased}");

    // Another workspace with the same category, person and window: none of ours.
    let owner2 = app.create_admin("olga@example.org");
    app.create_workspace(owner2, "other");
    let key2 = app.api_key("other", &["records:write", "inventory:write"]);
    category(app, &key2, "support.tickets").await;
    person(app, &key2, "ann", Some("ann2@example.org")).await;
    records(
        app,
        &key2,
        &[("support.tickets", "ann", "2026-09-02T10:00:00Z")],
    )
    .await;

    let low = s
        .register(
            json!({"title": "Wrong recipient", "detected_at": "2026-09-10T09:00:00Z",
                         "risk": "risk", "categories": ["support.tickets"]}),
        )
        .await;
    let low_id = low["id"].as_str().unwrap();
    let (status, refused) = s
        .call(
            Method::POST,
            &format!("/api/v1/incidents/{low_id}/letter"),
            Some(json!({"subject": "x", "body": "y"})),
        )
        .await;
    assert_eq!(status, 409, "only a high-risk breach: {refused}");
    assert!(refused.to_string().contains("Art. 34"), "{refused}");

    let incident = s
        .register(json!({
            "title": "Help desk database copied",
            "description": "An old backup of the help desk was readable from the internet.",
            "detected_at": "2026-09-10T09:00:00Z",
            "started_at": "2026-09-01T00:00:00Z",
            "ended_at": "2026-09-09T00:00:00Z",
            "risk": "high_risk",
            "risk_reasoning": "Tickets hold addresses and order histories.",
            "consequences": "Phishing e-mails that quote your tickets.",
            "measures": "The backup was removed; passwords were reset.",
            "categories": ["support.tickets"]
        }))
        .await;
    let id = incident["id"].as_str().unwrap();
    assert_eq!(incident["affected"]["subjects"], 3, "{incident}");
    assert_eq!(incident["affected"]["subjects_without_email"], 1);

    // The draft comes from the incident.
    let (status, state) = s
        .call(Method::GET, &format!("/api/v1/incidents/{id}/letter"), None)
        .await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["high_risk"], true);
    assert!(state["sent"].is_null());
    let draft = &state["draft"];
    assert!(
        draft["body"]
            .as_str()
            .unwrap()
            .contains("Phishing e-mails that quote your tickets."),
        "{draft}"
    );

    // Bad input is refused by field and sends nothing.
    let (status, bad) = s
        .call(
            Method::POST,
            &format!("/api/v1/incidents/{id}/letter"),
            Some(json!({"subject": "two\nlines", "body": ""})),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    let text = bad.to_string();
    assert!(text.contains("subject") && text.contains("body"), "{bad}");

    let body = "Your support tickets may have been read by someone else.";
    let (status, sent) = s
        .call(
            Method::POST,
            &format!("/api/v1/incidents/{id}/letter"),
            Some(json!({"subject": "About your support tickets", "body": body})),
        )
        .await;
    assert_eq!(status, 202, "{sent}");
    assert!(sent["finished_at"].is_null(), "the job sends it: {sent}");
    let (status, again) = s
        .call(
            Method::POST,
            &format!("/api/v1/incidents/{id}/letter"),
            Some(json!({"subject": "Again", "body": "Again"})),
        )
        .await;
    assert_eq!(status, 409, "once per incident: {again}");

    assert_eq!(run_job(app), 3, "ann, bob and cat (without an e-mail)");
    assert_eq!(run_job(app), 0, "done: nobody is told twice");

    let mut told = Vec::new();
    for _ in 0..2 {
        let mail = next_mail(&mut inbox).await;
        assert_eq!(mail.subject, "About your support tickets");
        assert!(mail.body.contains(body), "{}", mail.body);
        assert!(mail.body.contains(id), "the reference: {}", mail.body);
        told.extend(mail.rcpt);
    }
    told.sort();
    assert_eq!(told, ["<ann@example.org>", "<bob@example.org>"]);
    let more = tokio::time::timeout(std::time::Duration::from_secs(2), inbox.recv()).await;
    assert!(more.is_err(), "nobody else is written to: {more:?}");

    // The report follows the outbox.
    let mut report = Value::Null;
    for _ in 0..100 {
        let (_, state) = s
            .call(Method::GET, &format!("/api/v1/incidents/{id}/letter"), None)
            .await;
        report = state["sent"]["report"].clone();
        if report["sent"] == 2 {
            assert!(state["sent"]["finished_at"].is_string(), "{state}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        report,
        json!({"people": 3, "queued": 0, "sent": 2, "failed": 0, "disabled": 0,
               "without_email": 1}),
    );

    // The timeline and the audit log know.
    let (_, view) = s
        .call(Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    let kinds: Vec<&str> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"letters_sent") && kinds.contains(&"letters_done"),
        "{kinds:?}"
    );
    let actions = app.audit_actions();
    assert!(actions.iter().any(|a| a == "incident.letters_sent"));
    assert!(actions.iter().any(|a| a == "incident.letters_done"));

    // Each person's page shows the letter; one not told shows none.
    let ada = app.logged_in("ada@example.org").await;
    let (status, _, page) = app.page(&ada, "/console/w/shop/subjects/ann").await;
    assert_eq!(status, 200);
    assert!(page.contains("Told of a breach"), "{page}");
    assert!(page.contains("Help desk database copied"));
    assert!(page.contains("sent"));
    let (_, _, page) = app.page(&ada, "/console/w/shop/subjects/cat").await;
    assert!(page.contains("no e-mail on record"), "{page}");
    let (_, _, page) = app.page(&ada, "/console/w/shop/subjects/dan").await;
    assert!(!page.contains("Told of a breach"));

    // Another workspace's key cannot read or send it.
    let key3 = app.api_key("other", &["incidents:read", "incidents:write"]);
    let (status, _) = app
        .call(
            &key3,
            Method::GET,
            &format!("/api/v1/incidents/{id}/letter"),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_send_the_letter_from_the_console_and_auditors_only_read_it() {
    let s = setup(|_| {}).await;
    let (app, key) = (&s.app, s.key.as_str());
    category(app, key, "support.tickets").await;
    person(app, key, "ann", Some("ann@example.org")).await;
    records(
        app,
        key,
        &[("support.tickets", "ann", "2026-09-02T10:00:00Z")],
    )
    .await;
    app.add_member("shop", "pia@example.org", "privacy_officer");
    app.add_member("shop", "al@example.org", "auditor");
    app.add_member("shop", "sam@example.org", "support");
    let incident = s
        .register(json!({"title": "Tickets <script>alert(1)</script> leaked",
                         "detected_at": "2026-09-10T09:00:00Z", "risk": "high_risk",
                         "categories": ["support.tickets"]}))
        .await;
    let id = incident["id"].as_str().unwrap();
    let path = format!("/console/w/shop/incidents/{id}/letter");

    let pia = app.logged_in("pia@example.org").await;
    let (status, csrf, page) = app.page(&pia, &path).await;
    assert_eq!(status, 200);
    assert!(page.contains("Send to the affected people"), "{page}");
    assert!(!page.contains("<script>alert(1)"), "the title is escaped");
    // An empty letter comes back with the subject kept and the error by its field.
    let res = app
        .post_form(
            &pia,
            &path,
            &[("csrf", &csrf), ("subject", "Kept subject"), ("body", "  ")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("value=\"Kept subject\""), "{page}");
    assert!(page.contains("The letter: 1 to"), "{page}");
    // Without the CSRF token nothing is sent.
    let res = app
        .post_form(&pia, &path, &[("subject", "S"), ("body", "B")])
        .await;
    assert_eq!(res.status(), 403);

    // The auditor reads but has no form, and may not send.
    let al = app.logged_in("al@example.org").await;
    let (status, al_csrf, page) = app.page(&al, &path).await;
    assert_eq!(status, 200);
    assert!(!page.contains("Send to the affected people"));
    let res = app
        .post_form(
            &al,
            &path,
            &[("csrf", &al_csrf), ("subject", "S"), ("body", "B")],
        )
        .await;
    assert_eq!(res.status(), 403);
    // Support does not see incidents.
    let sam = app.logged_in("sam@example.org").await;
    let (status, _, _) = app.page(&sam, &path).await;
    assert_eq!(status, 403);

    let (_, csrf, _) = app.page(&pia, &path).await;
    let res = app
        .post_form(
            &pia,
            &path,
            &[
                ("csrf", &csrf),
                ("subject", "About your tickets"),
                ("body", "Your tickets may have been read."),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(run_job(app), 1);
    let (_, _, page) = app.page(&al, &path).await;
    assert!(page.contains("delivery-report"), "{page}");
    assert!(page.contains("every affected person recorded"), "{page}");
    assert!(page.contains("Your tickets may have been read."));
    // Sent once: the form is gone, and a second post is refused with the reason.
    assert!(!page.contains("Send to the affected people"));
    let (_, csrf, _) = app.page(&pia, &path).await;
    let res = app
        .post_form(
            &pia,
            &path,
            &[("csrf", &csrf), ("subject", "Again"), ("body", "Again")],
        )
        .await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("sent already"));
}
