//! The public privacy center shows what was published, and only that.

use crate::helpers::{TestApp, spawn_app};
use serde_json::json;

async fn publish(app: &TestApp, key: &str, markdown: &str, effective_at: Option<String>) {
    let res = app.client.post(app.url("/api/v1/policies")).bearer_auth(key).json(&json!({"markdown": markdown, "material": effective_at.is_some(), "summary": "A new partner"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let v: serde_json::Value = res.json().await.unwrap();
    let res = app
        .client
        .post(app.url(&format!("/api/v1/policies/{}/publish", v["version"])))
        .bearer_auth(key)
        // The tax office receives no category, which the check warns about.
        .json(&json!({ "effective_at": effective_at, "confirm_warnings": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let res = app.new_client().get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_privacy_center_shows_the_published_policy_its_history_and_recipients() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let key = app.api_key("aulm", &["inventory:read", "inventory:write"]);
    let (status, body) = page(&app, "/p/aulm/privacy").await;
    assert_eq!(status, 200);
    assert!(body.contains("No privacy policy has been published yet"));

    for (kind, item_key, body) in [
        (
            "categories",
            "user.contact.email",
            json!({"key": "user.contact.email", "name": "E-mail <script>alert(1)</script>", "sensitivity": "normal"}),
        ),
        (
            "recipients",
            "payments",
            json!({"key": "payments", "name": "Payment processor", "role": "processor", "purpose": "card payments", "country": "US", "safeguard": "sccs", "categories": ["user.contact.email"]}),
        ),
        (
            "recipients",
            "tax-office",
            json!({"key": "tax-office", "name": "Tax office", "role": "authority", "purpose": "tax law", "country": "DE", "safeguard": "not_a_transfer"}),
        ),
    ] {
        let res = app
            .client
            .put(app.url(&format!("/api/v1/inventory/{kind}/{item_key}")))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    app.complete_for_publication(&key, "user.contact.email")
        .await;
    publish(
        &app,
        &key,
        "# Our privacy policy\n\n{{ categories_table() }}\n\n{{ recipients_table() }}\n",
        None,
    )
    .await;

    let (status, body) = page(&app, "/p/aulm/privacy").await;
    assert_eq!(status, 200);
    assert!(body.contains("<h1>Our privacy policy</h1>"));
    assert!(body.contains("Last updated") && body.contains("Effective"));
    assert!(
        !body.contains("<script>alert(1)</script>"),
        "a category name ran as script"
    );
    let (_, overview) = page(&app, "/p/aulm/").await;
    assert!(overview.contains("lang=\"en\"") && overview.contains("privacy@aulm.example"));
    assert!(!overview.contains("<script>alert(1)</script>"));
    let (_, subs) = page(&app, "/p/aulm/subprocessors").await;
    let (processors, others) = subs.split_once("Other recipients").expect("two sections");
    assert!(
        processors.contains("Payment processor")
            && processors.contains("standard contractual clauses (Art. 46(2)(c))")
    );
    assert!(others.contains("Tax office"));

    // A scheduled version is announced, not yet in force; the history lists both.
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    publish(&app, &key, "# Our new privacy policy\n", Some(later)).await;
    let (_, body) = page(&app, "/p/aulm/privacy").await;
    assert!(body.contains("<h1>Our privacy policy</h1>"));
    assert!(body.contains("A new version takes effect on") && body.contains("A new partner"));
    let (_, history) = page(&app, "/p/aulm/privacy/history").await;
    assert!(
        history.contains("Version 1")
            && history.contains("in force")
            && history.contains("scheduled")
            && history.contains("Version 2")
    );
    let (status, v2) = page(&app, "/p/aulm/privacy/v/2").await;
    assert_eq!(status, 200);
    assert!(v2.contains("Our new privacy policy") && v2.contains("not the version in force"));

    // Drafts and unknown workspaces are not public.
    app.client
        .post(app.url("/api/v1/policies"))
        .bearer_auth(&key)
        .json(&json!({"markdown": "# Secret draft"}))
        .send()
        .await
        .unwrap();
    assert_eq!(page(&app, "/p/aulm/privacy/v/3").await.0, 404);
    assert_eq!(page(&app, "/p/nobody/").await.0, 404);
}
