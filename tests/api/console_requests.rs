//! Data subject requests in the console: the desk's order and filters, the workflow's actions
//! through forms (timeline and audit log), refusals in words, who may see and act, tenancy, the
//! deadline warnings e-mailed to owners and privacy officers, and the workspace's default law.

use crate::helpers::{TestApp, location, spawn_app};
use chrono::{DateTime, Duration, Utc};
use reqwest::{Client, Method};
use serde_json::{Value, json};

const EMAIL: &str = "grace.hopper@example.org";
const DETAILS: &str = "Please send everything you hold about me";

struct Desk {
    app: TestApp,
    /// requests:read and requests:write on `shop`.
    key: String,
}

/// `shop` with one member of each role: ada (owner), pia (privacy officer), sam (support),
/// al (auditor); and `other`, whose owner is olga.
async fn setup() -> Desk {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "shop");
    // The desk's steps by hand: requests wait for staff instead of being carried out.
    app.review_requests("shop");
    app.add_member("shop", "pia@example.org", "privacy_officer");
    app.add_member("shop", "sam@example.org", "support");
    app.add_member("shop", "al@example.org", "auditor");
    let olga = app.create_admin("olga@example.org");
    app.create_workspace(olga, "other");
    app.review_requests("other");
    let key = app.api_key("shop", &["requests:read", "requests:write"]);
    Desk { app, key }
}

impl Desk {
    async fn create(&self, body: Value) -> Value {
        let (status, view) = self
            .app
            .call(&self.key, Method::POST, "/api/v1/requests", Some(body))
            .await;
        assert_eq!(status, 201, "{view}");
        view
    }

    /// A request received `days_ago`, under GDPR unless the body names a law.
    async fn received(&self, kind: &str, days_ago: i64) -> String {
        let at = (Utc::now() - Duration::days(days_ago)).to_rfc3339();
        let view = self
            .create(json!({"type": kind, "email": EMAIL, "details": DETAILS, "received_at": at}))
            .await;
        view["id"].as_str().unwrap().to_owned()
    }

    async fn post(&self, client: &Client, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        // The token is the session's: any signed-in page has it.
        let (_, csrf, _) = self.app.page(client, "/console/").await;
        let mut form = fields.to_vec();
        form.push(("csrf", &csrf));
        let res = self.app.post_form(client, path, &form).await;
        let status = res.status().as_u16();
        let to = if status == 303 {
            location(&res)
        } else {
            String::new()
        };
        let body = res.text().await.unwrap();
        (status, if status == 303 { to } else { body })
    }
}

fn position(html: &str, id: &str) -> usize {
    html.find(&format!("request-{id}"))
        .unwrap_or_else(|| panic!("{id} not listed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_puts_overdue_requests_first_then_by_deadline_and_filters() {
    let d = setup().await;
    let fresh = d.received("access", 0).await; // due in about a month
    // Access requests wait for staff; Lethe answers the other kinds for an unknown person at once.
    let late = d.received("access", 40).await; // past its month
    let ccpa = d
        .create(json!({"type": "access", "email": EMAIL, "law": "ccpa",
            "received_at": (Utc::now() - Duration::days(30)).to_rfc3339()}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned(); // due in 15 days
    let done = d.received("export", 1).await;
    let owner = d.app.logged_in("ada@example.org").await;
    let (status, _) = d
        .post(
            &owner,
            &format!("/console/w/shop/requests/{done}/start"),
            &[],
        )
        .await;
    assert_eq!(status, 303);
    d.post(
        &owner,
        &format!("/console/w/shop/requests/{done}/complete"),
        &[],
    )
    .await;

    let (status, _, html) = d.app.page(&owner, "/console/w/shop/requests").await;
    assert_eq!(status, 200);
    let order: Vec<usize> = [&late, &ccpa, &fresh, &done]
        .iter()
        .map(|id| position(&html, id))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(html.contains("overdue by 10 days") || html.contains("overdue by 9 days"));
    assert!(html.contains("due in 15 days"), "{html}");
    assert!(html.contains("not matched"));
    assert!(!html.contains(EMAIL), "no personal values on the list");

    let (_, _, exports) = d
        .app
        .page(&owner, "/console/w/shop/requests?type=export")
        .await;
    assert!(exports.contains(&done));
    assert!(!exports.contains(&late) && !exports.contains(&ccpa) && !exports.contains(&fresh));
    let (_, _, completed) = d
        .app
        .page(&owner, "/console/w/shop/requests?state=completed&type=")
        .await;
    assert!(completed.contains(&done) && !completed.contains(&late));

    let (_, _, dashboard) = d.app.page(&owner, "/console/").await;
    assert!(dashboard.contains("3 open requests"), "{dashboard}");
    assert!(dashboard.contains("1 overdue"));
    let (_, _, nav) = d.app.page(&owner, "/console/w/shop/").await;
    assert!(nav.contains("href=\"/console/w/shop/requests\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_action_changes_the_state_and_shows_in_the_timeline_and_the_audit_log() {
    let d = setup().await;
    let id = d.received("access", 2).await;
    let pia = d.app.logged_in("pia@example.org").await;
    let page = format!("/console/w/shop/requests/{id}");

    let (_, _, html) = d.app.page(&pia, &page).await;
    assert!(
        html.contains(EMAIL) && html.contains(DETAILS),
        "opened for the officer"
    );
    assert!(html.contains("extended once, by two further months"));

    let (status, to) = d.post(&pia, &format!("{page}/start"), &[]).await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("{page}?done=started").as_str())
    );
    let (_, _, html) = d.app.page(&pia, &to).await;
    assert!(html.contains("The request is in progress."));
    assert!(html.contains("<strong>started</strong>"), "{html}");

    // An extension without a reason, then one with.
    let (status, body) = d
        .post(&pia, &format!("{page}/extend"), &[("text", "  ")])
        .await;
    assert_eq!(status, 422);
    assert!(body.contains("Reason: is required."), "{body}");
    let why = "Forty systems hold this person's data <b>";
    let (status, _) = d
        .post(&pia, &format!("{page}/extend"), &[("text", why)])
        .await;
    assert_eq!(status, 303);
    let (_, _, html) = d.app.page(&pia, &page).await;
    assert!(html.contains("(extended from"));
    assert!(
        html.contains("Forty systems hold this person&#39;s data &#60;b&#62;"),
        "escaped"
    );
    // Once only: refused in words.
    let (status, body) = d
        .post(&pia, &format!("{page}/extend"), &[("text", "again")])
        .await;
    assert_eq!(status, 409);
    assert!(body.contains("it cannot be extended again"), "{body}");

    let (status, _) = d
        .post(
            &pia,
            &format!("{page}/deny"),
            &[
                ("reason", "manifestly_unfounded_or_excessive"),
                ("text", "Third request this week."),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (_, _, html) = d.app.page(&pia, &page).await;
    assert!(html.contains("<dd>denied</dd>"));
    assert!(html.contains("Third request this week."));
    assert!(
        !html.contains(&format!("{page}/start")),
        "no more actions once answered"
    );
    let (status, body) = d.post(&pia, &format!("{page}/complete"), &[]).await;
    assert_eq!(status, 409);
    assert!(body.contains("Not done:"), "{body}");

    let actions = d.app.audit_actions();
    for a in [
        "request.started",
        "request.extended",
        "request.denied",
        "request.read",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_after_the_deadline_is_refused_in_words() {
    let d = setup().await;
    let id = d.received("access", 40).await;
    let ada = d.app.logged_in("ada@example.org").await;
    let page = format!("/console/w/shop/requests/{id}");
    let (status, body) = d
        .post(
            &ada,
            &format!("{page}/extend"),
            &[("text", "Too many systems")],
        )
        .await;
    assert_eq!(status, 409);
    assert!(
        body.contains("must be decided before the original deadline"),
        "{body}"
    );
    assert!(body.contains("role=\"alert\""));
    let (_, _, html) = d.app.page(&ada, &page).await;
    assert!(!html.contains("(extended from"));
    // A deny form without a ground is refused too, plainly.
    let (status, _) = d
        .post(&ada, &format!("{page}/deny"), &[("reason", "bored")])
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_and_auditors_see_but_cannot_act_and_other_workspaces_see_nothing() {
    let d = setup().await;
    let id = d.received("access", 3).await;
    let page = format!("/console/w/shop/requests/{id}");
    for (who, opened) in [("sam@example.org", true), ("al@example.org", false)] {
        let client = d.app.logged_in(who).await;
        let (status, _, list) = d.app.page(&client, "/console/w/shop/requests").await;
        assert_eq!(status, 200, "{who}");
        assert!(list.contains(&id));
        let (status, _, html) = d.app.page(&client, &page).await;
        assert_eq!(status, 200, "{who}");
        assert_eq!(html.contains(EMAIL), opened, "{who}");
        assert!(
            !html.contains(&format!("{page}/start")),
            "{who}: no actions shown"
        );
        for action in ["start", "complete", "extend"] {
            let (status, _) = d
                .post(&client, &format!("{page}/{action}"), &[("text", "x")])
                .await;
            assert_eq!(status, 403, "{who} {action}");
        }
        let (status, _) = d
            .post(&client, &format!("{page}/deny"), &[("reason", "bored")])
            .await;
        assert_eq!(status, 403, "{who}: refused before the form is judged");
    }
    let olga = d.app.logged_in("olga@example.org").await;
    for path in ["/console/w/shop/requests".to_owned(), page.clone()] {
        let (status, _, _) = d.app.page(&olga, &path).await;
        assert_eq!(status, 404, "{path}");
    }
    let (_, csrf, _) = d.app.page(&olga, "/console/w/other/").await;
    let res = d
        .app
        .post_form(&olga, &format!("{page}/start"), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 404);
    // Her own workspace does not have it either.
    let (status, _, _) = d
        .app
        .page(&olga, &format!("/console/w/other/requests/{id}"))
        .await;
    assert_eq!(status, 404);
    let (_, _, html) = d
        .app
        .page(&d.app.logged_in("ada@example.org").await, &page)
        .await;
    assert!(html.contains("<dd>verified</dd>"), "nothing changed");
}

/// The deadline warnings queued so far in `shop`, to staff: (subject, recipient, body). The
/// person's own e-mails ("Your privacy request to …") are not warnings.
fn warnings(app: &TestApp) -> Vec<(String, String, String)> {
    lethe::services::outbox::recent_messages(&app.db, &app.vault, &app.scope("shop"), 100)
        .unwrap()
        .into_iter()
        .filter(|m| m.message.subject.contains("a request is"))
        .map(|m| {
            let c = m.content.expect("opens");
            (m.message.subject, c.recipient, c.body)
        })
        .collect()
}

fn warn(app: &TestApp, now: DateTime<Utc>) -> usize {
    lethe::services::request_desk::send_deadline_warnings(
        &app.db,
        &app.vault,
        &app.base,
        now,
        &|| false,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_and_privacy_officers_are_warned_once_per_threshold() {
    let d = setup().await;
    let view = d
        .create(json!({"type": "access", "email": EMAIL, "details": DETAILS}))
        .await;
    let id = view["id"].as_str().unwrap().to_owned();
    let due: DateTime<Utc> = view["due_at"].as_str().unwrap().parse().unwrap();
    // Answered requests are never warned about.
    let done = d.received("export", 0).await;
    let ada = d.app.logged_in("ada@example.org").await;
    let (status, _) = d
        .post(
            &ada,
            &format!("/console/w/shop/requests/{done}/deny"),
            &[("reason", "identity_not_verified")],
        )
        .await;
    assert_eq!(status, 303);

    assert_eq!(warn(&d.app, due - Duration::days(10)), 0, "too early");
    assert!(warnings(&d.app).is_empty());
    assert_eq!(warn(&d.app, due - Duration::days(6)), 1);
    let week = warnings(&d.app);
    let mut to: Vec<&str> = week.iter().map(|w| w.1.as_str()).collect();
    to.sort_unstable();
    assert_eq!(
        to,
        ["ada@example.org", "pia@example.org"],
        "not support nor auditors"
    );
    let (subject, _, body) = &week[0];
    assert!(subject.contains("due in 6 days"), "{subject}");
    assert!(body.contains(&id) && body.contains(&format!("/console/w/shop/requests/{id}")));
    assert!(
        !body.contains(EMAIL) && !body.contains(DETAILS),
        "never the person"
    );

    assert_eq!(warn(&d.app, due - Duration::days(5)), 0, "not twice");
    assert_eq!(warn(&d.app, due - Duration::days(1)), 1);
    assert_eq!(warn(&d.app, due - Duration::hours(2)), 0);
    assert_eq!(warn(&d.app, due + Duration::days(1)), 1);
    assert_eq!(warn(&d.app, due + Duration::days(3)), 0);
    let all = warnings(&d.app);
    assert_eq!(all.len(), 6, "three thresholds, two people each");
    assert!(all.iter().any(|w| w.0.contains("overdue by 1 day")));
    assert!(all.iter().all(|w| !w.2.contains(&done)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fall_under_the_workspace_law_unless_they_name_one() {
    let d = setup().await;
    let gdpr = d.create(json!({"type": "access", "email": EMAIL})).await;
    assert_eq!(gdpr["law"], "gdpr", "the default of a new workspace");

    let ada = d.app.logged_in("ada@example.org").await;
    let (_, _, form) = d.app.page(&ada, "/console/w/shop/settings").await;
    assert!(form.contains("name=\"request_law\""));
    let (status, _) = d
        .post(
            &ada,
            "/console/w/shop/settings",
            &[
                ("legal_name", "shop Ltd"),
                ("contact_email", "privacy@shop.example"),
                ("min_age", "16"),
                ("notice_days", "30"),
                ("request_law", "ccpa"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let ccpa = d.create(json!({"type": "access", "email": EMAIL})).await;
    assert_eq!(ccpa["law"], "ccpa");
    assert!(ccpa["acknowledge_by"].is_string());
    let named = d
        .create(json!({"type": "access", "email": EMAIL, "law": "gdpr"}))
        .await;
    assert_eq!(named["law"], "gdpr", "a request's own law wins");

    // The API reads and changes it too.
    let key = d.app.api_key("shop", &["workspace:write"]);
    let (status, ws) = d
        .app
        .call(
            &key,
            Method::PATCH,
            "/api/v1/workspace",
            Some(json!({"request_law": "gdpr"})),
        )
        .await;
    assert_eq!(
        (status, ws["request_law"].as_str()),
        (200, Some("gdpr")),
        "{ws}"
    );
    let (status, problem) = d
        .app
        .call(
            &key,
            Method::PATCH,
            "/api/v1/workspace",
            Some(json!({"request_law": "lgpd"})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    // The old deadline setting is gone: not shown, and refused like any unknown field, by name.
    assert!(ws.get("request_deadline_days").is_none(), "{ws}");
    let (status, problem) = d
        .app
        .call(
            &key,
            Method::PATCH,
            "/api/v1/workspace",
            Some(json!({"request_deadline_days": 30})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem
            .to_string()
            .contains("unknown field `request_deadline_days`"),
        "{problem}"
    );
    assert!(
        d.app
            .audit_actions()
            .iter()
            .any(|a| a == "workspace.update")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_carry_out_a_request_lethe_could_not_finish() {
    let d = setup().await;
    // With review on (setup), a verified erasure waits for staff to carry it out.
    let id = d.received("erasure", 1).await;
    let page = format!("/console/w/shop/requests/{id}");
    let ada = d.app.logged_in("ada@example.org").await;
    let (_, _, html) = d.app.page(&ada, &page).await;
    assert!(html.contains("Carry out"), "{html}");

    // Support may look but not act.
    let sam = d.app.logged_in("sam@example.org").await;
    let (status, _) = d.post(&sam, &format!("{page}/carry-out"), &[]).await;
    assert_eq!(status, 403);

    let (status, to) = d.post(&ada, &format!("{page}/carry-out"), &[]).await;
    assert_eq!(status, 303, "{to}");
    let (_, _, html) = d.app.page(&ada, &to).await;
    assert!(html.contains("Carried out"), "{html}");
    assert!(html.contains("<dd>completed</dd>"), "{html}");
    assert!(html.contains("We hold no data about you"), "{html}");
    assert!(
        !html.contains("Carry out</button>"),
        "nothing left to carry out"
    );

    // Again: refused in words, nothing done twice.
    let (status, body) = d.post(&ada, &format!("{page}/carry-out"), &[]).await;
    assert_eq!(status, 409);
    assert!(body.contains("Not done"), "{body}");
    // A request started by hand is left to staff: no "Carry out" once it is in progress.
    let access = d.received("access", 1).await;
    let page = format!("/console/w/shop/requests/{access}");
    let (_, _, html) = d.app.page(&ada, &page).await;
    assert!(html.contains("Carry out</button>"), "{html}");
    let (status, _) = d.post(&ada, &format!("{page}/start"), &[]).await;
    assert_eq!(status, 303);
    let (_, _, html) = d.app.page(&ada, &page).await;
    assert!(!html.contains("Carry out</button>"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_apply_a_correction_to_the_profile_and_the_person_is_told_what_changed() {
    let d = setup().await;
    let writer = d.app.api_key("shop", &["records:write", "records:read"]);
    let (status, body) = d
        .app
        .call(
            &writer,
            Method::POST,
            "/api/v1/subjects",
            Some(json!({"external_id": "cus_7", "email": EMAIL, "birth_date": "1990-01-01"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = d.received("correction", 1).await;
    let page = format!("/console/w/shop/requests/{id}");
    let ada = d.app.logged_in("ada@example.org").await;
    let (status, _) = d.post(&ada, &format!("{page}/start"), &[]).await;
    assert_eq!(status, 303);
    let (_, _, html) = d.app.page(&ada, &page).await;
    assert!(html.contains("Correct the profile"), "{html}");

    // Support may not; nothing typed is refused in words; a bad date by its field.
    let sam = d.app.logged_in("sam@example.org").await;
    let (status, _) = d
        .post(
            &sam,
            &format!("{page}/correct"),
            &[("email", "x@example.org")],
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = d.post(&ada, &format!("{page}/correct"), &[]).await;
    assert_eq!(status, 422);
    assert!(body.contains("give the corrected address"), "{body}");
    let (status, body) = d
        .post(&ada, &format!("{page}/correct"), &[("birth_date", "1 May")])
        .await;
    assert_eq!(status, 422);
    assert!(body.contains("YYYY-MM-DD"), "{body}");

    let (status, to) = d
        .post(
            &ada,
            &format!("{page}/correct"),
            &[("email", "grace.h@example.org"), ("birth_date", "")],
        )
        .await;
    assert_eq!(status, 303, "{to}");
    let res = d
        .app
        .client
        .get(d.app.url("/api/v1/subjects/cus_7"))
        .bearer_auth(&writer)
        .header("Lethe-Access-Reason", "checking a correction")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let profile: Value = res.json().await.unwrap();
    assert_eq!(profile["email"], "grace.h@example.org");
    assert_eq!(profile["birth_date"], "1990-01-01", "left as it was");

    // Completing tells the person what was corrected.
    let (status, _) = d.post(&ada, &format!("{page}/complete"), &[]).await;
    assert_eq!(status, 303);
    let (_, view) = d
        .app
        .call(&d.key, Method::GET, &format!("/api/v1/requests/{id}"), None)
        .await;
    assert_eq!(view["state"], "completed");
    assert!(
        view["answer"]
            .as_str()
            .unwrap()
            .contains("We corrected your e-mail address"),
        "{view}"
    );
    assert!(
        d.app
            .audit_actions()
            .iter()
            .any(|a| a == "request.corrected")
    );
}
