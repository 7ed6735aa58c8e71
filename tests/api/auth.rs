//! Console login: cookies, wrong passwords, lockout, CSRF, logout, timeouts, set-up and invites.

use crate::helpers::{PASSWORD, csrf_of, location, spawn_app, spawn_app_with};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_host_only_secure_session_cookie() {
    let app = spawn_app().await;
    app.create_admin("ada@example.org");
    let client = app.new_client();
    let res = app.login(&client, "ada@example.org", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-lethe_session="))
        .expect("session cookie")
        .to_owned();
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    let (status, _, body) = app.page(&client, "/console/").await;
    assert_eq!(status, 200);
    assert!(body.contains("<h1>Workspaces</h1>"));
    assert!(app.audit_actions().contains(&"staff.login".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_login() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/console/w/aulm/settings"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        location(&res),
        "/console/login?next=/console/w/aulm/settings"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_slows_the_guesser_alike_for_every_address_and_never_locks_the_owner_out() {
    // Behind a proxy at 127.0.0.1 the guesser and the owner are told apart by their networks.
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    app.create_admin("ada@example.org");
    let guesser = Some("203.0.113.9");
    let client = app.new_client();
    for email in ["ada@example.org", "nobody@example.org"] {
        for _ in 0..5 {
            let res = app
                .login_via(&client, email, "not the password", guesser)
                .await;
            assert_eq!(res.status(), 401, "{email}");
            assert!(res.text().await.unwrap().contains("do not match"));
        }
        // Now the guesser waits, whether or not the account exists, with the same words.
        let res = app.login_via(&client, email, PASSWORD, guesser).await;
        assert_eq!(res.status(), 429, "{email}");
        let text = res.text().await.unwrap();
        assert!(
            text.contains("Too many failed attempts for this account from your network"),
            "{email}: {text}"
        );
    }
    // The owner, on another network, signs in at once.
    let res = app
        .login_via(
            &app.new_client(),
            "ada@example.org",
            PASSWORD,
            Some("198.51.100.7"),
        )
        .await;
    assert_eq!(res.status(), 303);
    // A header from a client that is not a trusted proxy is not believed: a direct client at
    // 127.0.0.1 cannot pretend to be the owner's network, nor the guesser's.
    let direct = spawn_app().await;
    direct.create_admin("ada@example.org");
    for _ in 0..5 {
        direct
            .login_via(
                &direct.new_client(),
                "ada@example.org",
                "wrong",
                Some("198.51.100.7"),
            )
            .await;
    }
    let res = direct
        .login_via(
            &direct.new_client(),
            "ada@example.org",
            PASSWORD,
            Some("192.0.2.1"),
        )
        .await;
    assert_eq!(
        res.status(),
        429,
        "the forged header did not move it to another network"
    );
    assert!(
        app.audit_actions()
            .contains(&"staff.login_failed".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_audit_log_names_the_client() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await;
    app.create_admin("ada@example.org");
    let res = app
        .login_via(
            &app.new_client(),
            "ada@example.org",
            PASSWORD,
            Some("192.0.2.99, 198.51.100.23"),
        )
        .await;
    assert_eq!(res.status(), 303);
    let ip: Option<String> = app
        .db
        .read(|c| {
            c.query_row(
                "SELECT ip FROM audit_log WHERE action = 'staff.login' ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    assert_eq!(
        ip.as_deref(),
        Some("198.51.100.0/24"),
        "the nearest untrusted hop, truncated as every audited address is"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_the_csrf_token_change_nothing() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let client = app.logged_in("ada@example.org").await;
    let before = app.audit_actions().len();
    let fields = [
        ("legal_name", "Hijacked"),
        ("contact_email", "evil@example.org"),
        ("min_age", "16"),
    ];
    let res = app
        .post_form(&client, "/console/w/aulm/settings", &fields)
        .await;
    assert_eq!(res.status(), 403);
    let mut with_wrong = fields.to_vec();
    with_wrong.push(("csrf", "forged"));
    let res = app
        .post_form(&client, "/console/w/aulm/settings", &with_wrong)
        .await;
    assert_eq!(res.status(), 403);
    // A cross-site post is refused on its Origin, whatever it carries.
    let (_, csrf, _) = app.page(&client, "/console/w/aulm/settings").await;
    let mut with_token = fields.to_vec();
    with_token.push(("csrf", &csrf));
    let res = client
        .post(app.url("/console/w/aulm/settings"))
        .header("Origin", "https://evil.example")
        .form(&with_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = client
        .post(app.url("/console/w/aulm/settings"))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&with_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.audit_actions().len(), before);
    let (_, _, body) = app.page(&client, "/console/w/aulm/settings").await;
    assert!(!body.contains("Hijacked"));
    // The login form is protected too (login CSRF).
    let res = app
        .post_form(
            &app.new_client(),
            "/console/login",
            &[
                ("email", "ada@example.org"),
                ("password", PASSWORD),
                ("csrf", "x"),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_for_good() {
    let app = spawn_app().await;
    app.create_admin("ada@example.org");
    let client = app.new_client();
    let res = app.login(&client, "ada@example.org", PASSWORD).await;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("__Host-lethe_session="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let (_, csrf, _) = app.page(&client, "/console/").await;
    let res = app
        .post_form(&client, "/console/logout", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/login?done=logout");
    // Replaying the old cookie does not work.
    let res = app
        .new_client()
        .get(app.url("/console/"))
        .header("Cookie", format!("__Host-lethe_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(app.audit_actions().contains(&"staff.logout".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_expire() {
    let app = spawn_app_with(|c| c.session_idle = Duration::from_secs(1)).await;
    app.create_admin("ada@example.org");
    let client = app.logged_in("ada@example.org").await;
    assert_eq!(app.page(&client, "/console/").await.0, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let res = client.get(app.url("/console/")).send().await.unwrap();
    assert_eq!(res.status(), 303, "an idle session was still accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_at_the_absolute_limit_even_when_active() {
    let app = spawn_app_with(|c| c.session_absolute = Duration::from_secs(2)).await;
    app.create_admin("ada@example.org");
    let client = app.logged_in("ada@example.org").await;
    for _ in 0..3 {
        assert_eq!(app.page(&client, "/console/").await.0, 200);
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        client
            .get(app.url("/console/"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setup_link_creates_the_first_administrator_once() {
    let app = spawn_app().await;
    let link = lethe::services::accounts::setup_link(&app.db, &app.base)
        .unwrap()
        .expect("a link before any admin");
    let path = link.strip_prefix(&app.base).unwrap().to_owned();
    let client = app.new_client();
    let (status, csrf, body) = app.page(&client, &path).await;
    assert_eq!(status, 200);
    assert!(body.contains("Create the first administrator"));
    // Too short a passphrase: 422, nothing created.
    let res = app
        .post_form(
            &client,
            &path,
            &[
                ("email", "ada@example.org"),
                ("password", "short"),
                ("password_confirm", "short"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("at least 12 characters"));
    let res = app
        .post_form(
            &client,
            &path,
            &[
                ("email", "ada@example.org"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.login(&app.new_client(), "ada@example.org", PASSWORD)
            .await
            .status(),
        303
    );
    // The link is spent, and no new one is issued once an administrator exists.
    let (status, _, _) = app.page(&client, &path).await;
    assert_eq!(status, 404);
    assert!(
        lethe::services::accounts::setup_link(&app.db, &app.base)
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invited_member_sets_a_password_and_logs_in() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let client = app.logged_in("ada@example.org").await;
    let (_, csrf, _) = app.page(&client, "/console/w/aulm/members").await;
    let res = app
        .post_form(
            &client,
            "/console/w/aulm/members",
            &[
                ("email", "Bob@Example.org"),
                ("role", "support"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    let link = body
        .split("id=\"invite-link\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let path = link.strip_prefix(&app.base).unwrap().to_owned();
    let bob = app.new_client();
    let (status, csrf, page) = app.page(&bob, &path).await;
    assert_eq!(status, 200);
    assert!(page.contains("bob@example.org"));
    let res = app
        .post_form(
            &bob,
            &path,
            &[
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.login(&bob, "bob@example.org", PASSWORD).await.status(),
        303
    );
    let (_, _, dash) = app.page(&bob, "/console/").await;
    assert!(dash.contains("aulm Ltd"));
    // The invitation cannot be used twice.
    assert_eq!(app.page(&app.new_client(), &path).await.0, 404);
    assert_eq!(csrf_of("<input name=\"csrf\" value=\"abc\">"), "abc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_with_another_scheme_is_another_site() {
    let app = spawn_app().await;
    app.create_admin("ada@example.org");
    let client = app.new_client();
    let page = client.get(app.url("/console/login")).send().await.unwrap();
    let csrf = csrf_of(&page.text().await.unwrap());
    let fields = [
        ("email", "ada@example.org"),
        ("password", PASSWORD),
        ("csrf", csrf.as_str()),
    ];
    // The same host and port over plain HTTP is not this HTTPS console.
    let plain = app.base.replacen("https://", "http://", 1);
    let res = client
        .post(app.url("/console/login"))
        .header("Origin", plain)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = client
        .post(app.url("/console/login"))
        .header("Origin", app.base.as_str())
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_character_in_next_goes_to_the_dashboard() {
    let app = spawn_app().await;
    app.create_admin("ada@example.org");
    for next in [
        "/console/w/\u{1}x",
        "/console/\r\nSet-Cookie: a=b",
        "/console/w/\u{7f}",
    ] {
        let client = app.new_client();
        let page = client
            .get(app.url("/console/login"))
            .query(&[("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{next:?}");
        let csrf = csrf_of(&page.text().await.unwrap());
        let res = client
            .post(app.url("/console/login"))
            .form(&[
                ("email", "ada@example.org"),
                ("password", PASSWORD),
                ("csrf", csrf.as_str()),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{next:?}");
        assert_eq!(location(&res), "/console/", "{next:?}");
    }
}
