//! The person's side of a data subject request: the privacy center's form, the e-mailed
//! verification link, the status page, the e-mails on each step, expiry and throttling.

use crate::helpers::{TestApp, csrf_of, spawn_app_with};
use crate::outbox::{Mail, count, fast_outbox, link_with, next_mail, smtp_sink};
use crate::vault_at_rest::{contains, data_files};
use lethe::config::Secret;
use reqwest::Method;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

const SENT: &str = "Check your e-mail";

/// An app mailing a local sink, with the workspace `acme` (and `other`). Staff of `acme` review
/// requests, so a verified request waits for the steps that follow.
async fn app_with_mail() -> (TestApp, UnboundedReceiver<Mail>) {
    let (port, inbox) = smtp_sink().await;
    let app = spawn_app_with(|c| {
        fast_outbox(c);
        c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
        c.mail_from = Some("Lethe <lethe@acme.example>".into());
    })
    .await;
    let owner = app.create_admin("owner@acme.example");
    app.create_workspace(owner, "acme");
    app.review_requests("acme");
    app.create_workspace(owner, "other");
    (app, inbox)
}

/// Fills the form as a browser would (GET for the token, then POST); status and page.
async fn ask(app: &TestApp, fields: &[(&str, &str)]) -> (u16, String) {
    let client = app.new_client();
    let (status, csrf, form) = app.page(&client, "/p/acme/requests/new").await;
    assert_eq!(status, 200);
    assert!(form.contains("action=\"/p/acme/requests/new\""), "{form}");
    let mut fields = fields.to_vec();
    fields.push(("csrf", &csrf));
    let res = app
        .post_form(&client, "/p/acme/requests/new", &fields)
        .await;
    (res.status().as_u16(), res.text().await.unwrap())
}

/// An access request from the form (staff review requests, so it stays verified for the steps
/// that follow).
async fn access_request(app: &TestApp, email: &str) -> String {
    let (status, page) = ask(
        app,
        &[
            ("type", "access"),
            ("email", email),
            ("details", "All of it, please"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(SENT), "{page}");
    page
}

/// GETs a verify link and presses its button; the POST's status and page.
async fn confirm(app: &TestApp, path: &str) -> (u16, String) {
    let client = app.new_client();
    let (_, mut csrf, _) = app.page(&client, path).await;
    if csrf.is_empty() {
        // A dead link's page has no button: take a token from the form, so the link is judged.
        csrf = app.page(&client, "/p/acme/requests/new").await.1;
    }
    let res = app.post_form(&client, path, &[("csrf", &csrf)]).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_from_the_form_is_verified_by_the_mailed_link_and_followed_on_its_page() {
    let (app, mut inbox) = app_with_mail().await;
    let overview = app.public_page("/p/acme/").await;
    assert!(
        overview.contains("href=\"/p/acme/requests/new\""),
        "{overview}"
    );

    access_request(&app, "Grace@Example.org").await;
    let mail = next_mail(&mut inbox).await;
    assert_eq!(mail.rcpt, ["<grace@example.org>"]);
    assert!(
        mail.subject.contains("Confirm your privacy request"),
        "{}",
        mail.subject
    );
    let verify = link_with(&app, &mail.body, "/requests/verify/");
    let status_link = link_with(&app, &mail.body, "/requests/status/");
    let page = app.public_page(&status_link).await;
    assert!(page.contains("waiting for you to confirm"), "{page}");

    // The link's GET only shows the button: a scanner fetching it verifies nothing.
    let (status, _, page) = app.page(&app.new_client(), &verify).await;
    assert_eq!(status, 200);
    assert!(page.contains("Confirm my request"), "{page}");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM requests WHERE state = 'received'"
        ),
        1
    );
    let (status, page) = confirm(&app, &verify).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Your request is confirmed"), "{page}");

    let key = app.api_key("acme", &["requests:read", "requests:write"]);
    let (_, list) = app.call(&key, Method::GET, "/api/v1/requests", None).await;
    let id = list["requests"][0]["id"].as_str().unwrap().to_owned();
    let (_, one) = app
        .call(&key, Method::GET, &format!("/api/v1/requests/{id}"), None)
        .await;
    assert_eq!(one["state"], "verified");
    assert_eq!(
        one["email"], "grace@example.org",
        "normalised as at ingestion"
    );
    assert_eq!(one["details"], "All of it, please");
    let due = one["due_at"].as_str().unwrap()[..10].to_owned();
    let whats: Vec<_> = one["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].clone())
        .collect();
    assert_eq!(whats, [json!("received"), json!("verified")]);
    let actions = app.audit_actions();
    for action in ["request.created", "request.verified"] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action} in {actions:?}"
        );
    }

    // The confirmation mail gives the deadline and a fresh status link.
    let mail = next_mail(&mut inbox).await;
    assert!(mail.subject.contains("is confirmed"), "{}", mail.subject);
    assert!(
        mail.body.contains(&format!("We will answer by {due}")),
        "{}",
        mail.body
    );
    let second_status = link_with(&app, &mail.body, "/requests/status/");
    assert_ne!(second_status, status_link);
    for link in [&status_link, &second_status] {
        let page = app.public_page(link).await;
        assert!(
            page.contains("confirmed, waiting to be worked on"),
            "{page}"
        );
        assert!(page.contains(&due), "{page}");
    }

    // A replayed link: refused, readably, and nothing changes.
    let (status, page) = confirm(&app, &verify).await;
    assert_eq!(status, 410);
    assert!(page.contains("This link was used already"), "{page}");

    // Steps taken through the API reach the person: extension and denial, with the reasons.
    let reason = "Your files are in our archive abroad";
    let (status, _) = app
        .call(
            &key,
            Method::POST,
            &format!("/api/v1/requests/{id}/extend"),
            Some(json!({"reason": reason})),
        )
        .await;
    assert_eq!(status, 200);
    let mail = next_mail(&mut inbox).await;
    assert!(
        mail.subject.contains("more time needed"),
        "{}",
        mail.subject
    );
    assert!(mail.body.contains(reason), "{}", mail.body);
    let text = "We must keep invoices for ten years";
    let (status, _) = app
        .call(
            &key,
            Method::POST,
            &format!("/api/v1/requests/{id}/deny"),
            Some(json!({"reason": "legal_obligation_to_keep", "text": text})),
        )
        .await;
    assert_eq!(status, 200);
    let mail = next_mail(&mut inbox).await;
    assert!(mail.subject.contains("was refused"), "{}", mail.subject);
    assert!(
        mail.body
            .contains("A law obliges us to keep or use this data."),
        "{}",
        mail.body
    );
    assert!(mail.body.contains(text), "{}", mail.body);
    let page = app.public_page(&status_link).await;
    for shown in [
        "refused",
        reason,
        text,
        "A law obliges us to keep or use this data.",
    ] {
        assert!(page.contains(shown), "{shown} in {page}");
    }

    // Another workspace's privacy center does not know the link.
    let other = status_link.replace("/p/acme/", "/p/other/");
    let res = app.new_client().get(app.url(&other)).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(!res.text().await.unwrap().contains(reason));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_link_is_refused_and_the_unverified_request_is_deleted() {
    let (app, mut inbox) = app_with_mail().await;
    access_request(&app, "late@example.org").await;
    let verify = link_with(&app, &next_mail(&mut inbox).await.body, "/requests/verify/");
    // Not yet past its 24 hours: the job leaves it.
    let n = lethe::services::request_intake::expire_unverified(
        &app.db,
        chrono::Utc::now(),
        10,
        &|| false,
    )
    .unwrap();
    assert_eq!(n, 0);

    let conn = rusqlite::Connection::open(app.data_dir.path().join("lethe.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let changed = conn
        .execute(
            "UPDATE request_links SET expires_at = '2020-01-01T00:00:00.000000Z' WHERE purpose = 'verify'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let (status, _, page) = app.page(&app.new_client(), &verify).await;
    assert_eq!(status, 410);
    assert!(page.contains("This link has expired"), "{page}");
    let (status, page) = confirm(&app, &verify).await;
    assert_eq!(status, 410);
    assert!(page.contains("This link has expired"), "{page}");
    let (status, _, page) = app
        .page(&app.new_client(), "/p/acme/requests/verify/not-a-token")
        .await;
    assert_eq!(status, 404);
    assert!(page.contains("This link does not work"), "{page}");

    // The expiry job deletes the request with its timeline and links, and says so in the log.
    let n = lethe::services::request_intake::expire_unverified(
        &app.db,
        chrono::Utc::now(),
        10,
        &|| false,
    )
    .unwrap();
    assert_eq!(n, 1);
    for table in ["requests", "request_events", "request_links"] {
        assert_eq!(
            count(&app, &format!("SELECT count(*) FROM {table}")),
            0,
            "{table}"
        );
    }
    assert!(app.audit_actions().contains(&"request.expired".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_address_is_answered_like_a_known_one_and_the_form_is_throttled() {
    let (app, mut inbox) = app_with_mail().await;
    let key = app.api_key("acme", &["records:write"]);
    let (status, _) = app
        .call(
            &key,
            Method::POST,
            "/api/v1/subjects",
            Some(json!({"external_id": "cus_1", "email": "known@example.org"})),
        )
        .await;
    assert_eq!(status, 201);

    let known = access_request(&app, "known@example.org").await;
    let unknown = access_request(&app, "stranger@example.org").await;
    let strip = |page: &str| page.replace(&csrf_of(page), "");
    assert_eq!(strip(&known), strip(&unknown), "the same page");
    for _ in 0..2 {
        let mail = next_mail(&mut inbox).await;
        assert!(mail.subject.contains("Confirm your privacy request"));
    }
    assert_eq!(count(&app, "SELECT count(*) FROM requests"), 2);

    // Three an hour per address: the fourth gets the same answer, and nothing is stored.
    for _ in 0..3 {
        access_request(&app, "stranger@example.org").await;
    }
    assert_eq!(count(&app, "SELECT count(*) FROM requests"), 4);
    // Ten a quarter of an hour per network: the eleventh is refused with 429.
    for i in 0..5 {
        access_request(&app, &format!("p{i}@example.org")).await;
    }
    let (status, page) = ask(&app, &[("type", "access"), ("email", "p9@example.org")]).await;
    assert_eq!(status, 429);
    assert!(
        page.contains("Too many requests from your network"),
        "{page}"
    );
    assert!(
        page.contains("value=\"p9@example.org\""),
        "the values are kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_errors_are_shown_next_to_their_fields_with_the_values_kept() {
    let (app, _inbox) = app_with_mail().await;
    let (status, page) = ask(
        &app,
        &[("email", "not an address"), ("details", "Keep <this>")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        page.contains("id=\"type-error\">choose what you ask for"),
        "{page}"
    );
    assert!(page.contains("id=\"email-error\">E-mail"), "{page}");
    assert!(page.contains("value=\"not an address\""), "{page}");
    assert!(page.contains("Keep &#60;this&#62;</textarea>"), "{page}");
    let (status, page) = ask(&app, &[("type", "objection"), ("email", "a@example.org")]).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("id=\"purpose-error\">choose the purpose you object to"),
        "{page}"
    );
    assert!(
        page.contains("id=\"type-objection\" name=\"type\" value=\"objection\" checked"),
        "{page}"
    );
    let (status, page) = ask(&app, &[("type", "access")]).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("id=\"email-error\">E-mail is required"),
        "{page}"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM requests"), 0);

    // Without the form's token: refused.
    let res = app
        .post_form(
            &app.new_client(),
            "/p/acme/requests/new",
            &[("type", "access"), ("email", "a@example.org")],
        )
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forms_address_details_and_links_never_reach_disk_in_the_clear() {
    let (app, mut inbox) = app_with_mail().await;
    let email = "ottoline.at.rest@example.net";
    let details = "Delete the notes about my allergy to penicillin";
    let (status, _) = ask(
        &app,
        &[("type", "erasure"), ("email", email), ("details", details)],
    )
    .await;
    assert_eq!(status, 200);
    let body = next_mail(&mut inbox).await.body;
    let verify = link_with(&app, &body, "/requests/verify/");
    let status_link = link_with(&app, &body, "/requests/status/");
    assert_eq!(confirm(&app, &verify).await.0, 200);
    let later = link_with(&app, &next_mail(&mut inbox).await.body, "/requests/status/");
    let token = |path: &str| path.rsplit('/').next().unwrap().to_owned();
    let secrets = [
        email.to_owned(),
        details.to_owned(),
        token(&verify),
        token(&status_link),
        token(&later),
    ];
    for (name, bytes) in data_files(app.data_dir.path()) {
        for secret in &secrets {
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "{name} holds '{secret}' in the clear"
            );
        }
    }
}

/// The whole way as the person sees it, in a workspace whose staff do not review requests: the
/// form, the e-mailed link, the request answered by itself, the completion e-mail, the answer on
/// the status page, and the download of exactly their records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_access_request_is_answered_at_once_and_the_person_downloads_their_data() {
    let (app, mut inbox) = app_with_mail().await;
    app.db
        .write(|tx| {
            tx.execute(
                "UPDATE workspaces SET review_requests = 0 WHERE slug = 'acme'",
                [],
            )
            .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    let key = app.api_key("acme", &["records:write", "inventory:write"]);
    let category = json!({"key": "orders", "name": "Orders", "sensitivity": "normal",
        "fields": [{"name": "item"}]});
    let (status, body) = app
        .call(
            &key,
            Method::PUT,
            "/api/v1/inventory/categories/orders",
            Some(category),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for (id, email, item) in [
        ("cus_1", "grace@example.org", "a green teapot"),
        ("cus_2", "alan@example.org", "a red kettle"),
    ] {
        let (status, body) = app
            .call(
                &key,
                Method::POST,
                "/api/v1/subjects",
                Some(json!({"external_id": id, "email": email})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let record = json!({"records": [{"category": "orders", "subject": id,
            "occurred_at": "2026-11-20T10:00:00Z", "fields": {"item": item}}]});
        let (status, body) = app
            .call(&key, Method::POST, "/api/v1/records", Some(record))
            .await;
        assert!(status == 201 || status == 200, "{status} {body}");
    }

    access_request(&app, "grace@example.org").await;
    let mail = next_mail(&mut inbox).await;
    let verify = link_with(&app, &mail.body, "/requests/verify/");
    let (status, page) = confirm(&app, &verify).await;
    assert_eq!(status, 200, "{page}");
    // Both e-mails are queued at once and may arrive in either order.
    let mut two = [next_mail(&mut inbox).await, next_mail(&mut inbox).await];
    two.sort_by_key(|m| m.subject.contains("is done"));
    let [confirmed, done] = two;
    assert!(
        confirmed.subject.contains("is confirmed"),
        "{}",
        confirmed.subject
    );
    assert!(done.subject.contains("is done"), "{}", done.subject);
    assert!(done.body.contains("Your data is ready"), "{}", done.body);
    let status_link = link_with(&app, &done.body, "/requests/status/");

    let client = app.new_client();
    let (status, csrf, page) = app.page(&client, &status_link).await;
    assert_eq!(status, 200);
    assert!(page.contains("<dd>done</dd>"), "{page}");
    assert!(
        page.contains("Your data is ready"),
        "the answer is on the page: {page}"
    );
    let res = app
        .post_form(
            &client,
            &format!("{status_link}/download"),
            &[("csrf", &csrf), ("email", "grace@example.org")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.as_ref())).unwrap();
    let mut records = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("records.json").unwrap(), &mut records)
        .unwrap();
    assert!(records.contains("a green teapot"), "{records}");
    assert!(!records.contains("a red kettle"), "{records}");
}
