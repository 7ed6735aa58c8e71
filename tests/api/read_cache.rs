//! The inventory JSON and the privacy center's policy page are kept in memory per workspace:
//! every change shows on the very next read, whichever path made it, and no workspace ever gets
//! another's copy.

use crate::helpers::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

const EMAIL: &str = "user.contact.email";

/// A workspace `slug` with a key that may read and write its inventory and policies, and a
/// category ready to be stated in a policy.
async fn workspace(app: &TestApp, slug: &str) -> String {
    let owner = app.create_admin(&format!("owner@{slug}.example"));
    app.create_workspace(owner, slug);
    let key = app.api_key(slug, &["inventory:read", "inventory:write"]);
    put_category(app, &key, &format!("E-mail address at {slug}")).await;
    app.complete_for_publication(&key, EMAIL).await;
    key
}

async fn put_category(app: &TestApp, key: &str, name: &str) {
    let (status, body) = app
        .call(
            key,
            Method::PUT,
            &format!("/api/v1/inventory/categories/{EMAIL}"),
            Some(json!({"key": EMAIL, "name": name, "sensitivity": "normal"})),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
}

async fn inventory(app: &TestApp, key: &str) -> Value {
    let (status, body) = app.call(key, Method::GET, "/api/v1/inventory", None).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn names(inventory: &Value, list: &str) -> Vec<String> {
    inventory[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list} in {inventory}"))
        .iter()
        .map(|i| i["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Publishes a non-material version of `markdown` taking effect at `effective_at` (now if
/// `None`).
async fn publish(app: &TestApp, key: &str, markdown: &str, effective_at: Option<String>) {
    let (status, draft) = app
        .call(
            key,
            Method::POST,
            "/api/v1/policies",
            Some(json!({"markdown": markdown, "material": false, "summary": "Clearer words"})),
        )
        .await;
    assert_eq!(status, 201, "{draft}");
    let (status, body) = app
        .call(
            key,
            Method::POST,
            &format!("/api/v1/policies/{}/publish", draft["version"]),
            Some(json!({"effective_at": effective_at, "confirm_warnings": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Opens the database as the shell or an operator's `sqlite3` would, past every service.
fn sql(app: &TestApp, statement: &str) {
    let conn = rusqlite::Connection::open(app.data_dir.path().join("lethe.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    assert_eq!(conn.execute(statement, []).unwrap(), 1, "{statement}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_inventory_change_shows_on_the_next_read() {
    let app = spawn_app().await;
    let key = workspace(&app, "aulm").await;
    assert_eq!(
        names(&inventory(&app, &key).await, "categories"),
        ["E-mail address at aulm"]
    );

    // Edited, added, deleted through the API.
    put_category(&app, &key, "Contact e-mail").await;
    assert_eq!(
        names(&inventory(&app, &key).await, "categories"),
        ["Contact e-mail"]
    );
    let (status, _) = app
        .call(
            &key,
            Method::PUT,
            "/api/v1/inventory/systems/crm",
            Some(json!({"key": "crm", "name": "The CRM", "location": "DE", "categories": [EMAIL]})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(names(&inventory(&app, &key).await, "systems"), ["The CRM"]);
    let (status, _) = app
        .call(&key, Method::DELETE, "/api/v1/inventory/systems/crm", None)
        .await;
    assert_eq!(status, 204);
    assert!(names(&inventory(&app, &key).await, "systems").is_empty());

    // Changed past every service, as the shell or sqlite3 could: the triggers still tell.
    sql(
        &app,
        "UPDATE data_categories SET name = 'Changed by hand' WHERE key = 'user.contact.email'",
    );
    assert_eq!(
        names(&inventory(&app, &key).await, "categories"),
        ["Changed by hand"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_answers_304_to_its_etag_until_it_changes() {
    let app = spawn_app().await;
    let key = workspace(&app, "aulm").await;
    let get = |etag: Option<String>| {
        let mut req = app
            .client
            .get(app.url("/api/v1/inventory"))
            .bearer_auth(&key);
        if let Some(tag) = etag {
            req = req.header("If-None-Match", tag);
        }
        req.send()
    };
    let first = get(None).await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let res = get(Some(etag.clone())).await.unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(
        get(Some(format!("W/{etag}"))).await.unwrap().status(),
        304,
        "If-None-Match compares weakly"
    );

    put_category(&app, &key, "Contact e-mail").await;
    let res = get(Some(etag.clone())).await.unwrap();
    assert_eq!(res.status(), 200, "a changed inventory is sent again");
    assert_ne!(res.headers()["etag"].to_str().unwrap(), etag);
    let body: Value = res.json().await.unwrap();
    assert_eq!(names(&body, "categories"), ["Contact e-mail"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_shows_on_the_next_inventory_read() {
    let app = spawn_app().await;
    let from = workspace(&app, "aulm").await;
    let owner = app.create_admin("owner@empty.example");
    app.create_workspace(owner, "empty");
    let into = app.api_key("empty", &["inventory:read", "inventory:write"]);
    assert!(names(&inventory(&app, &into).await, "categories").is_empty());

    let yaml = app
        .client
        .get(app.url("/api/v1/inventory/fideslang"))
        .bearer_auth(&from)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = app
        .client
        .post(app.url("/api/v1/inventory/fideslang"))
        .bearer_auth(&into)
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let after = inventory(&app, &into).await;
    assert_eq!(names(&after, "categories"), ["E-mail address at aulm"]);
    assert_eq!(names(&after, "purposes"), ["Running the service"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_page_shows_a_publication_a_rename_and_a_version_coming_into_force() {
    let app = spawn_app().await;
    let key = workspace(&app, "aulm").await;
    let page = || app.public_page("/p/aulm/privacy");
    assert!(
        page()
            .await
            .contains("No privacy policy has been published yet")
    );

    publish(&app, &key, "# The first policy\n", None).await;
    let body = page().await;
    assert!(body.contains("<h1>The first policy</h1>"), "{body}");
    assert!(body.contains("aulm Ltd"));

    let workspace_key = app.api_key("aulm", &["workspace:write"]);
    let (status, body) = app
        .call(
            &workspace_key,
            Method::PATCH,
            "/api/v1/workspace",
            Some(json!({"legal_name": "Aulm GmbH"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let body = page().await;
    assert!(
        body.contains("Aulm GmbH") && !body.contains("aulm Ltd"),
        "{body}"
    );

    // A version starting in a moment: announced now, in force once the moment has passed,
    // with no write in between to invalidate anything. (The app reads the system clock.)
    let starts = chrono::Utc::now() + chrono::Duration::seconds(3);
    publish(
        &app,
        &key,
        "# The second policy\n",
        Some(starts.to_rfc3339()),
    )
    .await;
    let body = page().await;
    assert!(body.contains("<h1>The first policy</h1>"), "{body}");
    assert!(body.contains("A new version takes effect on"), "{body}");
    let wait = starts - chrono::Utc::now() + chrono::Duration::milliseconds(200);
    tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
    let body = page().await;
    assert!(body.contains("<h1>The second policy</h1>"), "{body}");
    assert!(!body.contains("A new version takes effect on"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_page_answers_304_to_its_etag_until_it_changes() {
    let app = spawn_app().await;
    let key = workspace(&app, "aulm").await;
    publish(&app, &key, "# The first policy\n", None).await;
    let client = app.new_client();
    let get = |etag: Option<String>| {
        let mut req = client.get(app.url("/p/aulm/privacy"));
        if let Some(tag) = etag {
            req = req.header("If-None-Match", tag);
        }
        req.send()
    };
    let first = get(None).await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(
        first.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(get(Some(etag.clone())).await.unwrap().status(), 304);
    publish(&app, &key, "# The second policy\n", None).await;
    let res = get(Some(etag)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("The second policy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_workspace_is_answered_from_anothers_copy() {
    let app = spawn_app().await;
    let a = workspace(&app, "aulm").await;
    let b = workspace(&app, "aufum").await;
    publish(&app, &a, "# Policy of Aulm\n", None).await;
    publish(&app, &b, "# Policy of Aufum\n", None).await;
    // Each read twice, interleaved, so every answer after the first could come from a copy.
    for _ in 0..2 {
        for (key, slug, own, other) in [
            (&a, "aulm", "Aulm", "Aufum"),
            (&b, "aufum", "Aufum", "Aulm"),
        ] {
            assert_eq!(
                names(&inventory(&app, key).await, "categories"),
                [format!("E-mail address at {slug}")]
            );
            let page = app.public_page(&format!("/p/{slug}/privacy")).await;
            assert!(
                page.contains(&format!("<h1>Policy of {own}</h1>"))
                    && !page.contains(&format!("Policy of {other}")),
                "{slug}: {page}"
            );
        }
    }
    // The key's scopes are checked before any copy is looked at.
    let no_inventory = app.api_key("aulm", &["workspace:write"]);
    let (status, body) = app
        .call(&no_inventory, Method::GET, "/api/v1/inventory", None)
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        app.client
            .get(app.url("/api/v1/inventory"))
            .bearer_auth("lethe_000000000000_notakey")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        app.new_client()
            .get(app.url("/p/nobody/privacy"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}
