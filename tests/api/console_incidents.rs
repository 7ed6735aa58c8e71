//! The breach register in the console: registering through the form (CSRF), the register and an
//! incident's page with the 72-hour deadline in the workspace's zone (Europe/Berlin, across the
//! October change of the clocks), refused forms coming back with what was typed, escaping, the
//! notice and its phases (a late one needs its reasons), the dashboard's countdown, the
//! exports, and who may see and do what; another workspace's incident is 404.

use crate::helpers::location;
use crate::incidents::{Shop, setup};
use chrono::{Duration, Utc};
use reqwest::{Client, Method};
use serde_json::json;

/// `shop` (Europe/Berlin) with a data category, ada (owner), pia (privacy officer), al
/// (auditor) and sam (support); `other`, whose owner is olga.
async fn register_desk() -> Shop {
    let s = setup(|_| {}).await;
    s.ok(
        Method::PATCH,
        "/api/v1/workspace",
        json!({"time_zone": "Europe/Berlin"}),
    )
    .await;
    s.ok(
        Method::PUT,
        "/api/v1/inventory/categories/support.tickets",
        json!({"key": "support.tickets", "name": "Support tickets", "sensitivity": "normal",
               "fields": [{"name": "text"}]}),
    )
    .await;
    s.app
        .add_member("shop", "pia@example.org", "privacy_officer");
    s.app.add_member("shop", "al@example.org", "auditor");
    s.app.add_member("shop", "sam@example.org", "support");
    let olga = s.app.create_admin("olga@example.org");
    s.app.create_workspace(olga, "other");
    s
}

/// Posts `fields` with the session's CSRF token: the status, and the redirect target or the
/// page.
async fn post(s: &Shop, client: &Client, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let (_, csrf, _) = s.app.page(client, "/console/").await;
    let mut form = fields.to_vec();
    form.push(("csrf", &csrf));
    let res = s.app.post_form(client, path, &form).await;
    let status = res.status().as_u16();
    if status == 303 {
        return (status, location(&res));
    }
    (status, res.text().await.unwrap())
}

/// Registers through the form; the new incident's id.
async fn register(s: &Shop, client: &Client, fields: &[(&str, &str)]) -> String {
    let (status, to) = post(s, client, "/console/w/shop/incidents/new", fields).await;
    assert_eq!(status, 303, "{to}");
    let id = to
        .strip_prefix("/console/w/shop/incidents/")
        .and_then(|rest| rest.strip_suffix("?done=registered"))
        .unwrap_or_else(|| panic!("{to}"));
    id.to_owned()
}

/// Awareness on Friday 23 October 2026 at 10:00 in Berlin (CEST); the clocks go back on
/// Sunday the 25th, so the deadline is Monday at 09:00 CET, not 10:00.
const BEFORE_DST_END: &str = "2026-10-23T10:00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_registers_an_incident_and_sees_its_deadline_in_the_workspace_zone() {
    let s = register_desk().await;
    let pia = s.app.logged_in("pia@example.org").await;
    let (status, _, nav) = s.app.page(&pia, "/console/w/shop/").await;
    assert_eq!(status, 200);
    assert!(nav.contains("href=\"/console/w/shop/incidents\""), "{nav}");

    let (status, _, form) = s.app.page(&pia, "/console/w/shop/incidents/new").await;
    assert_eq!(status, 200);
    assert!(
        form.contains("value=\"support.tickets\""),
        "the inventory's categories"
    );
    assert!(
        form.contains("<option value=\"pia@example.org\""),
        "the members"
    );
    assert!(
        form.contains("Do not write anyone's name"),
        "the note on staff text"
    );
    // A form without the session's token is refused.
    let res = s
        .app
        .post_form(
            &pia,
            "/console/w/shop/incidents/new",
            &[("title", "No token"), ("detected_at", BEFORE_DST_END)],
        )
        .await;
    assert_eq!(res.status(), 403);

    let id = register(
        &s,
        &pia,
        &[
            ("title", "Support mailbox exposed"),
            (
                "description",
                "The support mailbox was readable from outside.",
            ),
            ("detected_at", BEFORE_DST_END),
            ("risk", "high_risk"),
            ("risk_reasoning", "Ticket texts hold contact details."),
            ("handler", "pia@example.org"),
            ("categories", "support.tickets"),
        ],
    )
    .await;
    let (status, _, page) = s
        .app
        .page(&pia, &format!("/console/w/shop/incidents/{id}"))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Support mailbox exposed"));
    assert!(
        page.contains("2026-10-23 10:00 CEST"),
        "detected, in Berlin"
    );
    assert!(
        page.contains("2026-10-26 09:00 CET") && page.contains("2026-10-26 08:00 UTC"),
        "72 hours later, in the zone and in UTC: {page}"
    );
    assert!(
        !page.contains("2026-10-26 10:00"),
        "not the wall clock + 72 h"
    );
    assert!(page.contains("overdue by"), "{page}");
    assert!(page.contains("Support tickets"), "the category by name");
    assert!(page.contains("/static/console-clock.js"));

    // A second, recent one: its clock still runs.
    let berlin = chrono_tz::Europe::Berlin;
    let two_hours_ago = (Utc::now() - Duration::hours(2))
        .with_timezone(&berlin)
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let fresh = register(
        &s,
        &pia,
        &[("title", "Laptop lost"), ("detected_at", &two_hours_ago)],
    )
    .await;

    let (status, _, register_page) = s.app.page(&pia, "/console/w/shop/incidents").await;
    assert_eq!(status, 200);
    assert!(register_page.contains(&format!("/console/w/shop/incidents/{id}")));
    assert!(
        register_page.contains("title=\"2026-10-23 08:00 UTC\""),
        "UTC on hover"
    );
    assert!(register_page.contains("pending"));
    assert!(
        register_page.contains("h ") && register_page.contains("min left"),
        "{register_page}"
    );
    assert!(register_page.contains("register.csv") && register_page.contains("register.json"));

    // The dashboard and the overview: the most urgent first.
    for path in ["/console/", "/console/w/shop/"] {
        let (_, _, html) = s.app.page(&pia, path).await;
        let (late, recent) = (html.find(&id), html.find(&fresh));
        assert!(late.is_some() && recent.is_some(), "{path}: {html}");
        assert!(late < recent, "{path}: overdue first");
        assert!(
            html.contains("overdue by") && html.contains("min left"),
            "{path}"
        );
    }

    let res = pia
        .get(s.app.url("/console/w/shop/incidents/register.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let csv = res.text().await.unwrap();
    assert!(csv.starts_with("id,title,state"), "{csv}");
    assert!(
        csv.contains(&id) && csv.contains("Support mailbox exposed"),
        "{csv}"
    );
    let res = pia
        .get(s.app.url("/console/w/shop/incidents/register.json"))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let register: serde_json::Value = res.json().await.unwrap();
    assert_eq!(register["incidents"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_form_comes_back_with_what_was_typed_and_each_error_at_its_field() {
    let s = register_desk().await;
    let pia = s.app.logged_in("pia@example.org").await;
    let (status, page) = post(
        &s,
        &pia,
        "/console/w/shop/incidents/new",
        &[
            ("title", ""),
            ("description", "Kept while the form comes back"),
            // The clocks skip from 02:00 to 03:00 that night in Berlin.
            ("detected_at", "2026-03-29T02:30"),
            ("categories", "support.tickets"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("Kept while the form comes back"));
    assert!(page.contains("value=\"2026-03-29T02:30\""));
    assert!(page.contains("id=\"title-error\"") && page.contains("Title is required"));
    assert!(page.contains("id=\"detected_at-error\""));
    assert!(page.contains("does not exist in Europe/Berlin"), "{page}");
    let checked = "value=\"support.tickets\" id=\"categories-1\" checked";
    assert!(page.contains(checked), "the box stays ticked");
    let (_, _, list) = s.app.page(&pia, "/console/w/shop/incidents").await;
    assert!(
        list.contains("No incidents are registered"),
        "nothing was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_staff_typed_is_shown_escaped() {
    let s = register_desk().await;
    let pia = s.app.logged_in("pia@example.org").await;
    let id = register(
        &s,
        &pia,
        &[
            ("title", "<script>alert(1)</script>"),
            ("description", "<img src=x onerror=alert(2)>"),
            ("detected_at", BEFORE_DST_END),
        ],
    )
    .await;
    for path in [
        "/console/w/shop/incidents".to_owned(),
        format!("/console/w/shop/incidents/{id}"),
        format!("/console/w/shop/incidents/{id}/notice"),
        format!("/console/w/shop/incidents/{id}/notice.html"),
        "/console/".to_owned(),
    ] {
        let (status, _, html) = s.app.page(&pia, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains("<script>alert(1)"), "{path}: {html}");
        assert!(!html.contains("<img src=x"), "{path}");
        // askama writes `<` and `>` as numeric references.
        let escaped = ["&#60;script&#62;alert(1)", "&lt;script&gt;alert(1)"];
        assert!(escaped.iter().any(|e| html.contains(e)), "{path}: {html}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_reads_without_forms_support_is_refused_and_other_workspaces_are_404() {
    let s = register_desk().await;
    let pia = s.app.logged_in("pia@example.org").await;
    let id = register(
        &s,
        &pia,
        &[("title", "Backup exposed"), ("detected_at", BEFORE_DST_END)],
    )
    .await;

    let al = s.app.logged_in("al@example.org").await;
    for path in [
        "/console/w/shop/incidents".to_owned(),
        format!("/console/w/shop/incidents/{id}"),
        format!("/console/w/shop/incidents/{id}/notice"),
    ] {
        let (status, _, html) = s.app.page(&al, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(html.contains("Backup exposed"), "{path}");
        assert!(
            !html.contains("action=\"/console/w/shop/incidents"),
            "{path}: no forms for the auditor"
        );
        assert!(!html.contains("Register an incident"), "{path}");
    }
    let (status, _, _) = s.app.page(&al, "/console/w/shop/incidents/new").await;
    assert_eq!(status, 403);
    let base = format!("/console/w/shop/incidents/{id}");
    for (path, fields) in [
        (format!("{base}/close"), vec![]),
        (format!("{base}/recount"), vec![]),
        (format!("{base}/not-notified"), vec![("reason", "none")]),
        (format!("{base}/edit"), vec![("title", "Renamed")]),
        (format!("{base}/notice"), vec![("section-measures", "x")]),
        (format!("{base}/notice/phases"), vec![("late_reason", "x")]),
        (
            "/console/w/shop/incidents/new".to_owned(),
            vec![("title", "x")],
        ),
    ] {
        let (status, _) = post(&s, &al, &path, &fields).await;
        assert_eq!(status, 403, "{path}");
    }

    let sam = s.app.logged_in("sam@example.org").await;
    let (_, _, nav) = s.app.page(&sam, "/console/w/shop/").await;
    assert!(
        !nav.contains("/console/w/shop/incidents"),
        "no nav entry for support"
    );
    for path in [
        "/console/w/shop/incidents".to_owned(),
        base.clone(),
        "/console/w/shop/incidents/register.csv".to_owned(),
    ] {
        let (status, _, _) = s.app.page(&sam, &path).await;
        assert_eq!(status, 403, "{path}");
    }

    // Olga's incident, in her workspace: not found from `shop`, and `other` is not confirmed.
    let key = s.app.api_key("other", &["incidents:write"]);
    let (status, theirs) = s
        .app
        .call(
            &key,
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "Theirs", "detected_at": "2026-10-23T08:00:00Z"})),
        )
        .await;
    assert_eq!(status, 201, "{theirs}");
    let theirs = theirs["id"].as_str().unwrap();
    for path in [
        format!("/console/w/shop/incidents/{theirs}"),
        format!("/console/w/shop/incidents/{theirs}/notice"),
        format!("/console/w/shop/incidents/{theirs}/notice.json"),
        format!("/console/w/other/incidents/{theirs}"),
        "/console/w/other/incidents".to_owned(),
    ] {
        let (status, _, _) = s.app.page(&pia, &path).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = post(
        &s,
        &pia,
        &format!("/console/w/shop/incidents/{theirs}/close"),
        &[],
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notice_is_edited_and_a_late_phase_needs_the_reasons_for_the_delay() {
    let s = register_desk().await;
    let pia = s.app.logged_in("pia@example.org").await;
    let id = register(
        &s,
        &pia,
        &[
            ("title", "Support mailbox exposed"),
            ("detected_at", BEFORE_DST_END),
            ("categories", "support.tickets"),
        ],
    )
    .await;
    let notice = format!("/console/w/shop/incidents/{id}/notice");
    let (status, _, page) = s.app.page(&pia, &notice).await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"section-nature\""));
    assert!(
        page.contains("Support tickets (support.tickets)"),
        "pre-filled counts"
    );
    assert!(page.contains("(Not yet written: the likely consequences"));

    let (status, to) = post(
        &s,
        &pia,
        &notice,
        &[(
            "section-consequences",
            "Phishing mails to customers are likely.",
        )],
    )
    .await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("{notice}?done=saved").as_str())
    );
    let (_, _, page) = s.app.page(&pia, &notice).await;
    assert!(page.contains("Phishing mails to customers are likely."));
    assert!(page.contains("(edited)") && page.contains("pre-fill of this section"));
    let (_, _, print) = s.app.page(&pia, &format!("{notice}.html")).await;
    assert!(print.contains("Phishing mails to customers are likely."));
    assert!(
        print.contains("2026-10-26 09:00 CET (2026-10-26 08:00 UTC)"),
        "{print}"
    );

    // Sent on Tuesday the 27th: a day after the deadline.
    let phases = format!("{notice}/phases");
    let (status, page) = post(&s, &pia, &phases, &[("sent_at", "2026-10-27T10:00")]).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("id=\"late_reason-error\""), "{page}");
    assert!(page.contains("Reasons for the delay is required"), "{page}");
    assert!(page.contains("value=\"2026-10-27T10:00\""), "kept as typed");
    let (status, to) = post(
        &s,
        &pia,
        &phases,
        &[
            ("sent_at", "2026-10-27T10:00"),
            ("late_reason", "The mailbox logs took two days to obtain."),
        ],
    )
    .await;
    assert_eq!(status, 303, "{to}");
    let (_, _, page) = s
        .app
        .page(&pia, &format!("/console/w/shop/incidents/{id}"))
        .await;
    assert!(page.contains("Phase 1"), "{page}");
    assert!(page.contains("after the deadline"));
    assert!(page.contains("The mailbox logs took two days to obtain."));
    assert!(page.contains("notified late"));
    assert!(page.contains("2026-10-27 10:00 CET"), "sent, in Berlin");
    assert!(!page.contains("id=\"countdown\""), "the clock stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_is_changed_decided_closed_and_reopened_with_each_step_in_the_timeline() {
    let s = register_desk().await;
    let pia = s.app.logged_in("pia@example.org").await;
    let id = register(
        &s,
        &pia,
        &[("title", "Laptop lost"), ("detected_at", BEFORE_DST_END)],
    )
    .await;
    let page_path = format!("/console/w/shop/incidents/{id}");
    let (status, _, form) = s.app.page(&pia, &format!("{page_path}/edit")).await;
    assert_eq!(status, 200);
    assert!(
        form.contains("value=\"2026-10-23T10:00\""),
        "the time in Berlin"
    );
    assert!(form.contains("value=\"Laptop lost\""));
    let (status, to) = post(
        &s,
        &pia,
        &format!("{page_path}/edit"),
        &[
            ("title", "Laptop stolen"),
            ("detected_at", BEFORE_DST_END),
            ("risk", "none"),
            ("categories", "support.tickets"),
        ],
    )
    .await;
    assert_eq!((status, to), (303, format!("{page_path}?done=saved")));
    let (_, _, page) = s.app.page(&pia, &page_path).await;
    assert!(
        page.contains("title: Laptop lost → Laptop stolen"),
        "{page}"
    );
    assert!(
        !page.contains("detected_at:"),
        "a time left as shown is not changed"
    );
    assert!(
        page.contains("affected-people"),
        "counted once a category is named"
    );

    let (status, page) = post(
        &s,
        &pia,
        &format!("{page_path}/not-notified"),
        &[("reason", " ")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("The reason is required"), "{page}");
    let (status, _) = post(
        &s,
        &pia,
        &format!("{page_path}/not-notified"),
        &[("reason", "The laptop's disk is encrypted.")],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _) = post(&s, &pia, &format!("{page_path}/recount"), &[]).await;
    assert_eq!(status, 303);
    let (status, _) = post(&s, &pia, &format!("{page_path}/close"), &[]).await;
    assert_eq!(status, 303);
    let (_, _, page) = s.app.page(&pia, &page_path).await;
    assert!(page.contains("not notified") && page.contains("disk is encrypted."));
    assert!(!page.contains("/edit\""), "a closed incident is not edited");
    let (status, page) = post(&s, &pia, &format!("{page_path}/close"), &[]).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("Not done"));
    let (status, _) = post(&s, &pia, &format!("{page_path}/reopen"), &[]).await;
    assert_eq!(status, 303);
    let (_, _, page) = s.app.page(&pia, &page_path).await;
    let order = [
        "Registered",
        "Changed",
        "Decided not to notify",
        "Closed",
        "Reopened",
    ]
    .map(|w| {
        page.find(&format!("<strong>{w}"))
            .unwrap_or_else(|| panic!("{w}: {page}"))
    });
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {order:?}"
    );
}
