//! Creating and editing workspaces and their members through the console.

use crate::helpers::{location, spawn_app};

fn settings<'a>(csrf: &'a str, legal_name: &'a str, min_age: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("slug", "aulm"),
        ("legal_name", legal_name),
        ("contact_email", "support@aulm.example"),
        ("dpo_name", "Dana Officer"),
        ("dpo_email", "dpo@aulm.example"),
        ("min_age", min_age),
        ("csrf", csrf),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_creates_a_workspace_and_becomes_its_owner() {
    let app = spawn_app().await;
    app.create_admin("ada@example.org");
    let client = app.logged_in("ada@example.org").await;
    let (status, csrf, _) = app.page(&client, "/console/workspaces/new").await;
    assert_eq!(status, 200);
    let res = app
        .post_form(
            &client,
            "/console/workspaces/new",
            &settings(&csrf, "Aulm Corporation", "18"),
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/w/aulm/");
    let (_, _, page) = app.page(&client, "/console/w/aulm/").await;
    assert!(page.contains("Aulm Corporation") && page.contains("Dana Officer"));
    let (_, _, members) = app.page(&client, "/console/w/aulm/members").await;
    assert!(members.contains("ada@example.org") && members.contains("Owner"));
    // The same slug again is refused with a message on the form.
    let res = app
        .post_form(
            &client,
            "/console/workspaces/new",
            &settings(&csrf, "Other", "18"),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("already exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_settings_are_refused_field_by_field_and_nothing_is_saved() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let client = app.logged_in("ada@example.org").await;
    let (_, csrf, _) = app.page(&client, "/console/w/aulm/settings").await;
    let mut fields = settings(&csrf, "", "200");
    fields.retain(|(k, _)| *k != "slug" && *k != "contact_email");
    fields.push(("contact_email", "not-an-address"));
    let res = app
        .post_form(&client, "/console/w/aulm/settings", &fields)
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("Nothing was saved"));
    assert!(page.contains("Minimum age must be an age from 0 to 21"));
    assert!(page.contains("is required"));
    let (_, _, page) = app.page(&client, "/console/w/aulm/settings").await;
    assert!(
        page.contains("value=\"aulm Ltd\""),
        "the stored name is unchanged"
    );

    // Typed text is escaped, never markup.
    let mut fields = settings(&csrf, "<script>alert(1)</script>", "16");
    fields.retain(|(k, _)| *k != "slug");
    let res = app
        .post_form(&client, "/console/w/aulm/settings", &fields)
        .await;
    assert_eq!(res.status(), 303);
    let (_, _, page) = app.page(&client, "/console/w/aulm/").await;
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || page.contains("&lt;script&gt;")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_owner_stays() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let bob = app.add_member("aulm", "bob@example.org", "privacy_officer");
    let client = app.logged_in("ada@example.org").await;
    let (_, csrf, _) = app.page(&client, "/console/w/aulm/members").await;
    let res = app
        .post_form(
            &client,
            &format!("/console/w/aulm/members/{owner}/role"),
            &[("role", "auditor"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("at least one owner"));
    let res = app
        .post_form(
            &client,
            &format!("/console/w/aulm/members/{owner}/remove"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 409);
    // Promote Bob, then Ada may step down.
    let res = app
        .post_form(
            &client,
            &format!("/console/w/aulm/members/{bob}/role"),
            &[("role", "owner"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = app
        .post_form(
            &client,
            &format!("/console/w/aulm/members/{owner}/role"),
            &[("role", "auditor"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let actions = app.audit_actions();
    assert!(
        actions
            .iter()
            .filter(|a| *a == "member.role_change")
            .count()
            == 2,
        "{actions:?}"
    );
}
