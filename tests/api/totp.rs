//! Two-factor authentication: enrolment, login with a code, replay, recovery codes, and
//! workspaces that make it mandatory.

use crate::helpers::{PASSWORD, TestApp, location, spawn_app};
use lethe::domain::totp;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The seed as the authenticator app got it (stored sealed, never in the clear).
fn secret_of(app: &TestApp, email: &str) -> String {
    let account = app
        .db
        .read(|c| lethe::store::staff::find_by_email(c, email))
        .unwrap()
        .unwrap();
    let stored = account.totp_secret.clone().unwrap();
    let secret = lethe::services::accounts::totp_secret(&app.vault, &account)
        .unwrap()
        .unwrap();
    assert!(
        lethe::vault::is_sealed(&stored) && !stored.contains(&secret),
        "the seed is stored sealed"
    );
    secret
}

/// Enrols `email` through the account page and returns the recovery codes shown.
async fn enrol(app: &TestApp, client: &reqwest::Client, email: &str) -> Vec<String> {
    let (_, csrf, _) = app.page(client, "/console/account").await;
    let res = app
        .post_form(client, "/console/account/totp/begin", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let secret = secret_of(app, email);
    assert!(page.contains(&secret), "the enrolment page shows the key");
    // And a QR code of the otpauth URL, drawn inline as SVG: no script, no image to fetch.
    let qr = page
        .split("id=\"totp-qr\">")
        .nth(1)
        .and_then(|s| s.split("</figure>").next())
        .expect("a QR code on the enrolment page");
    assert!(qr.starts_with("<svg ") && qr.ends_with("</svg>"), "{qr}");
    assert!(qr.contains("<path d=\"M") && qr.contains("role=\"img\""));
    assert!(!page.contains("<script") && !qr.contains("style=") && !qr.contains("href"));
    let res = app
        .post_form(
            client,
            "/console/account/totp/confirm",
            &[("code", "000000"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 422, "a wrong code does not enable TOTP");
    let code = totp::current_code(&secret, now()).unwrap();
    let res = app
        .post_form(
            client,
            "/console/account/totp/confirm",
            &[("code", &code), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let codes: Vec<String> = page
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    codes
}

/// Posts the second-factor form as the page the browser was sent to would, with its CSRF token.
async fn second_factor(
    app: &TestApp,
    client: &reqwest::Client,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (status, csrf, _) = app.page(client, "/console/login/second-factor").await;
    assert_eq!(status, 200);
    let mut fields = fields.to_vec();
    fields.push(("csrf", &csrf));
    app.post_form(client, "/console/login/second-factor", &fields)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_enrolment_then_login_needs_a_fresh_code() {
    let app = spawn_app().await;
    app.create_admin("ada@example.org");
    let client = app.logged_in("ada@example.org").await;
    enrol(&app, &client, "ada@example.org").await;

    let browser = app.new_client();
    let res = app.login(&browser, "ada@example.org", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/console/login/second-factor"));
    // The half-logged-in session opens nothing.
    let res = browser.get(app.url("/console/")).send().await.unwrap();
    assert_eq!(location(&res), "/console/login/second-factor");
    let res = second_factor(&app, &browser, &[("code", "123456")]).await;
    assert_eq!(res.status(), 401);
    // The code that enrolled the app was already used: wait for a code from a new step.
    let secret = secret_of(&app, "ada@example.org");
    let last = app
        .db
        .read(|c| lethe::store::staff::find_by_email(c, "ada@example.org"))
        .unwrap()
        .unwrap()
        .totp_last_step
        .unwrap();
    let mut t = now();
    while (t / 30) as i64 <= last {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        t = now();
    }
    let code = totp::current_code(&secret, t).unwrap();
    let res = second_factor(&app, &browser, &[("code", &code), ("next", "/console/")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/");
    assert_eq!(app.page(&browser, "/console/").await.0, 200);

    // The same code is refused on a second login (replay).
    let other = app.new_client();
    app.login(&other, "ada@example.org", PASSWORD).await;
    let res = second_factor(&app, &other, &[("code", &code)]).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_code_works_once() {
    let app = spawn_app().await;
    app.create_admin("ada@example.org");
    let client = app.logged_in("ada@example.org").await;
    let codes = enrol(&app, &client, "ada@example.org").await;

    let browser = app.new_client();
    app.login(&browser, "ada@example.org", PASSWORD).await;
    // A forged post (no token from the form) is refused before the code is looked at.
    for forged in [
        vec![("code", codes[0].as_str())],
        vec![("code", codes[0].as_str()), ("csrf", "forged")],
    ] {
        let res = app
            .post_form(&browser, "/console/login/second-factor", &forged)
            .await;
        assert_eq!(res.status(), 403);
    }
    let res = second_factor(&app, &browser, &[("code", &codes[0])]).await;
    assert_eq!(res.status(), 303);
    let again = app.new_client();
    app.login(&again, "ada@example.org", PASSWORD).await;
    let res = second_factor(&app, &again, &[("code", &codes[0])]).await;
    assert_eq!(res.status(), 401);
    let (_, _, page) = app.page(&browser, "/console/account").await;
    assert!(page.contains("9 unused recovery codes"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_can_require_totp_of_its_members() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    app.add_member("aulm", "bob@example.org", "support");
    let ada = app.logged_in("ada@example.org").await;
    enrol(&app, &ada, "ada@example.org").await;
    let (_, csrf, _) = app.page(&ada, "/console/w/aulm/settings").await;
    let res = app
        .post_form(
            &ada,
            "/console/w/aulm/settings",
            &[
                ("legal_name", "Aulm Corporation"),
                ("contact_email", "support@aulm.example"),
                ("min_age", "18"),
                ("require_totp", "on"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let bob = app.logged_in("bob@example.org").await;
    let res = bob.get(app.url("/console/w/aulm/")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/account?required=aulm");
    enrol(&app, &bob, "bob@example.org").await;
    assert_eq!(app.page(&bob, "/console/w/aulm/").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_codes_slows_the_guesser_but_not_a_login_elsewhere() {
    let app = spawn_app().await;
    app.create_admin("ada@example.org");
    let client = app.logged_in("ada@example.org").await;
    enrol(&app, &client, "ada@example.org").await;
    let browser = app.new_client();
    app.login(&browser, "ada@example.org", PASSWORD).await;
    for _ in 0..4 {
        let res = second_factor(&app, &browser, &[("code", "000000")]).await;
        assert_eq!(res.status(), 401);
    }
    let res = second_factor(&app, &browser, &[("code", "000000")]).await;
    assert_eq!(res.status(), 401, "the fifth wrong code costs nothing yet");
    let res = second_factor(&app, &browser, &[("code", "000000")]).await;
    assert_eq!(res.status(), 429, "now codes from this network wait");
    assert!(res.text().await.unwrap().contains("Try again in"));
    // The password step is not slowed by wrong codes: the owner can still start a login.
    assert_eq!(
        app.login(&app.new_client(), "ada@example.org", PASSWORD)
            .await
            .status(),
        303
    );
}
