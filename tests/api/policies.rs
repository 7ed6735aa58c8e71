//! Policy versions through the API: drafts rendered from the inventory, publication that freezes
//! the text, scheduling, drift, diffs, sanitizing, and the public status endpoint.

use crate::helpers::{TestApp, spawn_app};
use serde_json::{Value, json};

async fn setup() -> (TestApp, String) {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let key = app.api_key("aulm", &["inventory:read", "inventory:write"]);
    let res = app
        .client
        .put(app.url("/api/v1/inventory/categories/user.contact.email"))
        .bearer_auth(&key)
        .json(&json!({"key": "user.contact.email", "name": "E-mail address", "sensitivity": "normal"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    app.complete_for_publication(&key, "user.contact.email")
        .await;
    (app, key)
}

const TEMPLATE: &str =
    "# Policy of {{ legal_name }}\n\n{{ categories_table() }}\n\n{{ rights() }}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_version_never_changes_even_when_the_inventory_does() {
    let (app, key) = setup().await;
    let (status, draft) = app
        .call(
            &key,
            reqwest::Method::POST,
            "/api/v1/policies",
            Some(json!({"markdown": TEMPLATE, "material": true, "summary": "First policy"})),
        )
        .await;
    assert_eq!(status, 201, "{draft}");
    assert_eq!(draft["version"], 1);
    assert_eq!(draft["status"], "draft");
    assert!(
        draft["rendered_html"]
            .as_str()
            .unwrap()
            .contains("E-mail address")
    );
    let (status, published) = app
        .call(
            &key,
            reqwest::Method::POST,
            "/api/v1/policies/1/publish",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(published["status"], "published");

    // The inventory changes; the published text does not.
    app.call(&key, reqwest::Method::PUT, "/api/v1/inventory/categories/user.contact.email",
        Some(json!({"key": "user.contact.email", "name": "Renamed address", "sensitivity": "normal"}))).await;
    let (_, again) = app
        .call(&key, reqwest::Method::GET, "/api/v1/policies/1", None)
        .await;
    assert_eq!(again["rendered_html"], published["rendered_html"]);
    assert!(!again["rendered_html"].as_str().unwrap().contains("Renamed"));

    // Neither the API nor plain SQL can change it.
    let (status, _) = app
        .call(
            &key,
            reqwest::Method::PUT,
            "/api/v1/policies/1",
            Some(json!({"markdown": "# rewritten"})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = app
        .call(
            &key,
            reqwest::Method::POST,
            "/api/v1/policies/1/publish",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 409);
    let conn = rusqlite::Connection::open(app.data_dir.path().join("lethe.db")).unwrap();
    assert!(
        conn.execute(
            "UPDATE policy_versions SET rendered_html = 'x' WHERE version = 1",
            []
        )
        .is_err()
    );
    assert!(
        conn.execute("DELETE FROM policy_versions WHERE version = 1", [])
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_reported_after_an_inventory_edit_and_a_new_version_clears_it() {
    let (app, key) = setup().await;
    app.call(
        &key,
        reqwest::Method::POST,
        "/api/v1/policies",
        Some(json!({"markdown": TEMPLATE})),
    )
    .await;
    app.call(
        &key,
        reqwest::Method::POST,
        "/api/v1/policies/1/publish",
        Some(json!({})),
    )
    .await;
    let scope = app.scope("aulm");
    assert_eq!(
        lethe::services::policies::drift(&app.db, &scope).unwrap(),
        None
    );
    app.call(
        &key,
        reqwest::Method::PUT,
        "/api/v1/inventory/categories/user.name",
        Some(json!({"key": "user.name", "name": "Name", "sensitivity": "normal"})),
    )
    .await;
    let (version, changes) = lethe::services::policies::drift(&app.db, &scope)
        .unwrap()
        .expect("drift");
    assert_eq!(version, 1);
    let changes: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(changes, ["data category 'user.name' was added"]);
    app.complete_for_publication(&key, "user.name").await;
    app.call(
        &key,
        reqwest::Method::POST,
        "/api/v1/policies",
        Some(json!({"markdown": TEMPLATE})),
    )
    .await;
    app.call(
        &key,
        reqwest::Method::POST,
        "/api/v1/policies/2/publish",
        Some(json!({})),
    )
    .await;
    assert_eq!(
        lethe::services::policies::drift(&app.db, &scope).unwrap(),
        None
    );
    // The diff between the two shows the new row.
    let (status, diff) = app
        .call(&key, reqwest::Method::GET, "/api/v1/policies/2/diff", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (diff["older"].as_i64(), diff["newer"].as_i64()),
        (Some(1), Some(2))
    );
    let added: Vec<&Value> = diff["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["op"] == "+")
        .collect();
    assert!(
        added
            .iter()
            .any(|l| l["kind"] == "row" && l["cells"][0][0]["text"] == "Name"),
        "{diff}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_in_markdown_do_not_survive_rendering() {
    let (app, key) = setup().await;
    let markdown = "# Hi\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3))\n";
    let (status, draft) = app
        .call(
            &key,
            reqwest::Method::POST,
            "/api/v1/policies",
            Some(json!({"markdown": markdown})),
        )
        .await;
    assert_eq!(status, 201);
    let html = draft["rendered_html"].as_str().unwrap();
    assert!(
        !html.contains("<script") && !html.contains("onerror") && !html.contains("javascript:"),
        "{html}"
    );
    // A template error is a 422 naming the problem, and no draft is stored.
    let (status, problem) = app
        .call(
            &key,
            reqwest::Method::POST,
            "/api/v1/policies",
            Some(json!({"markdown": "{{ nonsense() }}"})),
        )
        .await;
    assert_eq!(status, 422);
    assert!(problem["detail"].as_str().unwrap().contains("nonsense"));
    let (_, list) = app
        .call(&key, reqwest::Method::GET, "/api/v1/policies", None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // A material change needs a summary for people.
    let (status, _) = app
        .call(
            &key,
            reqwest::Method::POST,
            "/api/v1/policies",
            Some(json!({"markdown": "# x", "material": true})),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_effective_date_schedules_the_version_and_the_public_status_follows() {
    let (app, key) = setup().await;
    let public = |app: &TestApp| app.client.get(app.url("/api/v1/public/aulm/policy")).send();
    assert_eq!(
        public(&app).await.unwrap().status(),
        404,
        "nothing published yet"
    );
    app.call(
        &key,
        reqwest::Method::POST,
        "/api/v1/policies",
        Some(json!({"markdown": TEMPLATE})),
    )
    .await;
    app.call(
        &key,
        reqwest::Method::POST,
        "/api/v1/policies/1/publish",
        Some(json!({})),
    )
    .await;
    app.call(
        &key,
        reqwest::Method::POST,
        "/api/v1/policies",
        Some(json!({"markdown": TEMPLATE, "material": true, "summary": "New partner"})),
    )
    .await;
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let (status, v2) = app
        .call(
            &key,
            reqwest::Method::POST,
            "/api/v1/policies/2/publish",
            Some(json!({"effective_at": later})),
        )
        .await;
    assert_eq!(status, 200, "{v2}");
    let status: Value = public(&app).await.unwrap().json().await.unwrap();
    assert_eq!(status["version"], 1, "version 2 is only scheduled");
    assert_eq!(status["material"], false);
    assert!(status["url"].as_str().unwrap().ends_with("/p/aulm/privacy"));
    // A start in the past is refused.
    app.call(
        &key,
        reqwest::Method::POST,
        "/api/v1/policies",
        Some(json!({"markdown": TEMPLATE})),
    )
    .await;
    let (status, _) = app
        .call(
            &key,
            reqwest::Method::POST,
            "/api/v1/policies/3/publish",
            Some(json!({"effective_at": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        app.client
            .get(app.url("/api/v1/public/nobody/policy"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_published_effective_now_replaces_the_one_in_force_within_the_same_second() {
    let (app, key) = setup().await;
    let draft = |summary: &'static str| json!({"markdown": TEMPLATE, "material": false, "summary": summary});
    for (version, summary) in [(1, "First"), (2, "Second")] {
        let (status, _) = app
            .call(
                &key,
                reqwest::Method::POST,
                "/api/v1/policies",
                Some(draft(summary)),
            )
            .await;
        assert_eq!(status, 201);
        // A client clock reads whole seconds: "now" is a moment before the server's now.
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let (status, body) = app
            .call(
                &key,
                reqwest::Method::POST,
                &format!("/api/v1/policies/{version}/publish"),
                Some(json!({"effective_at": now})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let status: Value = app
        .client
        .get(app.url("/api/v1/public/aulm/policy"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["version"], 2, "the newer publication is in force");
}
