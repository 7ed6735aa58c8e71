//! The policy pages of the console: drafts, a template error that keeps the text, publication,
//! drift named on the overview and the policy page, and diffs.

use crate::helpers::{location, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_privacy_officer_drafts_publishes_and_sees_drift() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    app.add_member("aulm", "dpo@example.org", "privacy_officer");
    app.add_member("aulm", "sam@example.org", "support");
    let dpo = app.logged_in("dpo@example.org").await;

    let (_, csrf, page) = app.page(&dpo, "/console/w/aulm/policy").await;
    assert!(page.contains("No version yet"));
    let res = app
        .post_form(&dpo, "/console/w/aulm/policy/new", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/w/aulm/policy/1");
    let (_, _, draft) = app.page(&dpo, "/console/w/aulm/policy/1").await;
    assert!(
        draft.contains("Privacy policy of aulm Ltd"),
        "the default template is previewed"
    );

    // A template error is shown, the typed text is kept, nothing is saved.
    let broken = "# Policy\n{{ categories_table( }}";
    let res = app
        .post_form(
            &dpo,
            "/console/w/aulm/policy/1",
            &[("markdown", broken), ("summary", ""), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("cannot be rendered") && body.contains("{{ categories_table( }}"));
    let good = "# Our policy\n\n{{ categories_table() }}\n";
    let res = app
        .post_form(
            &dpo,
            "/console/w/aulm/policy/1",
            &[("markdown", good), ("summary", ""), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);

    // An empty inventory would publish "we collect no personal data": the review says why it
    // cannot be published, and publishing is refused.
    let (status, _, review) = app.page(&dpo, "/console/w/aulm/policy/1/publish").await;
    assert_eq!(status, 200);
    assert!(
        review.contains("no personal data is collected")
            && !review.contains("<button type=\"submit\">Publish"),
        "{review}"
    );
    let res = app
        .post_form(
            &dpo,
            "/console/w/aulm/policy/1/publish",
            &[("effective_on", ""), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("no personal data is collected")
    );

    // With a category, its purpose and its rule, the review shows the text and publishes.
    let key = app.api_key("aulm", &["inventory:write"]);
    let res = app
        .client
        .put(app.url("/api/v1/inventory/categories/user.contact.email"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"key": "user.contact.email", "name": "E-mail address", "sensitivity": "normal"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    app.complete_for_publication(&key, "user.contact.email")
        .await;
    let (_, _, review) = app.page(&dpo, "/console/w/aulm/policy/1/publish").await;
    assert!(
        review.contains("complete and consistent")
            && review.contains("No version is in force yet")
            && review.contains("E-mail address"),
        "{review}"
    );
    let res = app
        .post_form(
            &dpo,
            "/console/w/aulm/policy/1/publish",
            &[("effective_on", ""), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let (_, _, list) = app.page(&dpo, "/console/w/aulm/policy").await;
    assert!(list.contains("in force"));
    assert!(!list.contains("id=\"drift\""));

    // An inventory edit makes the published policy stale: both pages say what changed.
    app.client
        .put(app.url("/api/v1/inventory/categories/user.contact.email"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"key": "user.contact.email", "name": "E-mail", "sensitivity": "normal"}))
        .send()
        .await
        .unwrap();
    for path in ["/console/w/aulm/policy", "/console/w/aulm/"] {
        let (_, _, page) = app.page(&dpo, path).await;
        assert!(page.contains("id=\"drift\""), "{path} shows no drift");
        // Named first, the key second: "Data category E-mail user.contact.email was changed".
        assert!(
            page.contains(
                "<li>Data category E-mail <code class=\"key\">user.contact.email</code> was changed</li>"
            ),
            "{path}: {page}"
        );
    }
    let (_, _, dashboard) = app.page(&dpo, "/console/").await;
    assert!(
        dashboard.contains("The published policy misses 1 inventory change"),
        "{dashboard}"
    );
    // A new draft starts from the last text; once published, its diff marks the renamed word.
    let res = app
        .post_form(&dpo, "/console/w/aulm/policy/new", &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&res), "/console/w/aulm/policy/2");
    app.post_form(
        &dpo,
        "/console/w/aulm/policy/2/publish",
        &[("effective_on", ""), ("csrf", &csrf)],
    )
    .await;
    let (_, _, diff) = app.page(&dpo, "/console/w/aulm/policy/2/diff").await;
    assert!(
        diff.contains("class=\"changed\"")
            && diff.contains("<span class=\"cell\">E-mail<del> address</del></span>"),
        "{diff}"
    );
    let (_, _, list) = app.page(&dpo, "/console/w/aulm/policy").await;
    assert!(!list.contains("id=\"drift\""));

    // Support reads the policy page but cannot draft or publish.
    let sam = app.logged_in("sam@example.org").await;
    let (status, csrf, page) = app.page(&sam, "/console/w/aulm/policy").await;
    assert_eq!(status, 200);
    assert!(!page.contains("Start a new draft"));
    assert_eq!(
        app.post_form(&sam, "/console/w/aulm/policy/new", &[("csrf", &csrf)])
            .await
            .status(),
        403
    );
}
