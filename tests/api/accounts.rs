//! A person's own password: changing it on the account page, resetting a forgotten one through
//! an e-mailed link.

use crate::helpers::{PASSWORD, location, spawn_app};

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
