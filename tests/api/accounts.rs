//! A person's own password: changing it on the account page, resetting a forgotten one through
//! an e-mailed link.

use crate::helpers::{PASSWORD, location, spawn_app};
use lethe::services::accounts as accounts_service;

const NEW_PASSWORD: &str = "another long passphrase";

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_the_other_sessions() {
    let app = spawn_app().await;
    app.create_admin("ada@example.org");
    let here = app.logged_in("ada@example.org").await;
    let elsewhere = app.logged_in("ada@example.org").await;
    let (status, csrf, page) = app.page(&here, "/console/account").await;
    assert_eq!(status, 200);
    assert!(page.contains("action=\"/console/account/password\""));

    // Wrong current password, a short new one, two that differ: all said at once, nothing changes.
    let res = app
        .post_form(
            &here,
            "/console/account/password",
            &[
                ("current_password", "not my password at all"),
                ("new_password", "short"),
                ("new_password_confirm", "different"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("is not your current password"), "{body}");
    assert!(body.contains("at least 12 characters"), "{body}");
    assert!(body.contains("does not match the new password"), "{body}");

    // Without the form's CSRF token: refused.
    let res = app
        .post_form(
            &here,
            "/console/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);

    let res = app
        .post_form(
            &here,
            "/console/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Your password is changed")
    );

    // This session goes on; the other one has ended.
    let (status, _, _) = app.page(&here, "/console/account").await;
    assert_eq!(status, 200);
    let res = elsewhere
        .get(app.url("/console/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/console/login"));

    assert_eq!(
        app.login(&app.new_client(), "ada@example.org", PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        app.login(&app.new_client(), "ada@example.org", NEW_PASSWORD)
            .await
            .status(),
        303
    );
    assert!(
        app.audit_actions()
            .contains(&"staff.password_changed".to_owned())
    );
}

// ---- a forgotten password ----------------------------------------------------------------------

use crate::helpers::{TestApp, csrf_of, spawn_app_with};
use crate::outbox::{Mail, count, eventually, fast_outbox, link_with, next_mail, smtp_sink};
use lethe::config::Secret;
use tokio::sync::mpsc::UnboundedReceiver;

/// An app that sends mail to a local SMTP sink, and the sink's inbox.
async fn app_with_mail() -> (TestApp, UnboundedReceiver<Mail>) {
    let (port, inbox) = smtp_sink().await;
    let app = spawn_app_with(|c| {
        fast_outbox(c);
        c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
        c.mail_from = Some("Lethe <lethe@acme.example>".into());
    })
    .await;
    (app, inbox)
}

/// Asks for a reset link through the form, as a browser would; returns the page.
async fn ask_reset(app: &TestApp, email: &str) -> String {
    let client = app.new_client();
    let (status, csrf, page) = app.page(&client, "/console/login/forgot").await;
    assert_eq!(status, 200);
    assert!(page.contains("action=\"/console/login/forgot\""), "{page}");
    let res = app
        .post_form(
            &client,
            "/console/login/forgot",
            &[("email", email), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

const ASKED: &str = "If an account exists for that address, we sent it";

/// Sets a new password through a reset link path; returns the response.
async fn use_link(app: &TestApp, path: &str, password: &str) -> reqwest::Response {
    let client = app.new_client();
    let (_, mut csrf, _) = app.page(&client, path).await;
    if csrf.is_empty() {
        // A dead link's page has no form: take the token from another one, so that the link,
        // not the token, is what is refused.
        csrf = app.page(&client, "/console/login/forgot").await.1;
    }
    app.post_form(
        &client,
        path,
        &[
            ("password", password),
            ("password_confirm", password),
            ("csrf", &csrf),
        ],
    )
    .await
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_reset_by_the_mailed_link_and_the_second_factor_stays() {
    let (app, mut inbox) = app_with_mail().await;
    let id = app.create_admin("ada@example.org");
    let elsewhere = app.logged_in("ada@example.org").await;
    // Ada uses an authenticator app.
    let secret = accounts_service::begin_totp(&app.db, &app.vault, id).unwrap();
    let account = app
        .db
        .read(|c| lethe::store::staff::get(c, id))
        .unwrap()
        .unwrap();
    let code = lethe::domain::totp::current_code(&secret, now_unix()).unwrap();
    accounts_service::confirm_totp(
        &app.db,
        &app.vault,
        &account,
        &code,
        &lethe::services::Caller::system(),
    )
    .unwrap();

    let (_, _, login) = app.page(&app.new_client(), "/console/login").await;
    assert!(login.contains("href=\"/console/login/forgot\""), "{login}");

    // The form wants its CSRF token.
    let stranger = app.new_client();
    let res = app
        .post_form(
            &stranger,
            "/console/login/forgot",
            &[("email", "ada@example.org")],
        )
        .await;
    assert_eq!(res.status(), 403);

    let page = ask_reset(&app, " Ada@Example.org ").await;
    assert!(page.contains(ASKED), "{page}");
    let mail = next_mail(&mut inbox).await;
    assert_eq!(mail.rcpt, ["<ada@example.org>"], "{mail:?}");
    assert_eq!(mail.subject, "Reset your Lethe password");
    assert!(mail.body.contains("from the network 127.0.0."), "{mail:?}");
    assert!(mail.body.contains("ignore this message"), "{mail:?}");
    let link = link_with(&app, &mail.body, "/console/reset/");
    assert!(link.starts_with("/console/reset/"), "{link}");
    // Staff mail belongs to no workspace; the worker records it as sent.
    eventually("the reset mail marked sent", async || {
        let sent =
            "SELECT count(*) FROM outbox_messages WHERE workspace_id IS NULL AND status = 'sent'";
        (count(&app, sent) == 1).then_some(())
    })
    .await;

    let (status, _, form) = app.page(&app.new_client(), &link).await;
    assert_eq!(status, 200);
    assert!(form.contains("ada@example.org") && form.contains("Choose a new password"));
    let res = use_link(&app, &link, "short").await;
    assert_eq!(res.status(), 422, "the password rules hold");
    let res = use_link(&app, &link, NEW_PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/login?done=reset");

    // Every session of the account ended.
    let res = elsewhere
        .get(app.url("/console/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    // The old password is refused, the new one works, and the second factor is still asked for.
    assert_eq!(
        app.login(&app.new_client(), "ada@example.org", PASSWORD)
            .await
            .status(),
        401
    );
    let res = app
        .login(&app.new_client(), "ada@example.org", NEW_PASSWORD)
        .await;
    assert_eq!(res.status(), 303);
    assert!(
        location(&res).starts_with("/console/login/second-factor"),
        "{}",
        location(&res)
    );

    // The link works once: a readable page, not a 500.
    let (status, _, again) = app.page(&app.new_client(), &link).await;
    assert_eq!(status, 404);
    assert!(again.contains("used already"), "{again}");
    assert_eq!(
        use_link(&app, &link, "yet another passphrase")
            .await
            .status(),
        404
    );

    let actions = app.audit_actions();
    for action in ["staff.password_reset_requested", "staff.password_reset"] {
        assert!(actions.contains(&action.to_owned()), "{actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_address_gets_the_same_answer_and_no_mail() {
    let (app, mut inbox) = app_with_mail().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "acme");

    let unknown = ask_reset(&app, "nobody@example.org").await;
    let not_an_address = ask_reset(&app, "not an address").await;
    let known = ask_reset(&app, "ada@example.org").await;
    assert!(known.contains(ASKED));
    let strip = |page: &str| page.replace(&csrf_of(page), "");
    assert_eq!(strip(&unknown), strip(&known), "the same page");
    assert_eq!(strip(&not_an_address), strip(&known));

    // The first mail to arrive is Ada's, and nothing else is queued.
    let mail = next_mail(&mut inbox).await;
    assert_eq!(mail.rcpt, ["<ada@example.org>"]);
    assert_eq!(count(&app, "SELECT count(*) FROM outbox_messages"), 1);

    // Staff mail is no workspace's: the workspace's outbox does not list it.
    let console = app.logged_in("ada@example.org").await;
    let (status, _, outbox) = app.page(&console, "/console/w/acme/outbox").await;
    assert_eq!(status, 200);
    assert!(!outbox.contains("Reset your Lethe password"), "{outbox}");

    // Three requests an hour per address; past that the answer is the same and nothing is sent.
    for _ in 0..3 {
        assert!(ask_reset(&app, "ada@example.org").await.contains(ASKED));
    }
    assert_eq!(count(&app, "SELECT count(*) FROM outbox_messages"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_expires_and_a_newer_one_replaces_it() {
    let (app, mut inbox) = app_with_mail().await;
    app.create_admin("ada@example.org");

    ask_reset(&app, "ada@example.org").await;
    let first = link_with(&app, &next_mail(&mut inbox).await.body, "/console/reset/");
    ask_reset(&app, "ada@example.org").await;
    let second = link_with(&app, &next_mail(&mut inbox).await.body, "/console/reset/");
    assert_ne!(first, second);
    let (status, _, page) = app.page(&app.new_client(), &first).await;
    assert_eq!(status, 404, "a newer link replaces the older one");
    assert!(page.contains("a newer one was sent"), "{page}");
    assert_eq!(use_link(&app, &first, NEW_PASSWORD).await.status(), 404);

    // Past its 30 minutes (the stored expiry moved back): refused.
    let conn = rusqlite::Connection::open(app.data_dir.path().join("lethe.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let changed = conn
        .execute(
            "UPDATE one_time_tokens SET expires_at = '2020-01-01T00:00:00.000000Z' \
             WHERE purpose = 'reset' AND used_at IS NULL",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let (status, _, page) = app.page(&app.new_client(), &second).await;
    assert_eq!(status, 404);
    assert!(page.contains("has expired"), "{page}");
    assert_eq!(use_link(&app, &second, NEW_PASSWORD).await.status(), 404);

    // An unknown token: the same readable page.
    let (status, _, page) = app
        .page(&app.new_client(), "/console/reset/not-a-token")
        .await;
    assert_eq!(status, 404);
    assert!(page.contains("password reset link"), "{page}");

    // The password did not change.
    assert_eq!(
        app.login(&app.new_client(), "ada@example.org", PASSWORD)
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn without_smtp_the_page_says_to_ask_an_administrator() {
    let app = crate::helpers::spawn_app().await;
    app.create_admin("ada@example.org");
    let (status, _, page) = app.page(&app.new_client(), "/console/login/forgot").await;
    assert_eq!(status, 200);
    assert!(page.contains("Ask the administrator"), "{page}");
    assert!(!page.contains("action=\"/console/login/forgot\""));
}
