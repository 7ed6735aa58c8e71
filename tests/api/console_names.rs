//! Inventory items met by their key outside the inventory pages (a record's category, a
//! retention run's rule and category) are shown by their name first, the key second; a key the
//! inventory no longer has is shown alone and said to be gone.

use crate::helpers::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::json;

const GONE: &str = "(no longer in the inventory)";

async fn setup() -> (TestApp, String) {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let key = app.api_key(
        "aulm",
        &["records:write", "records:read", "inventory:write"],
    );
    for (method, path, body) in [
        (
            Method::PUT,
            "/api/v1/inventory/categories/support.note",
            json!({"key": "support.note", "name": "Support notes", "sensitivity": "normal",
                   "fields": [{"name": "text"}]}),
        ),
        (
            Method::PUT,
            "/api/v1/inventory/retention-rules/notes-90d",
            json!({"key": "notes-90d", "category": "support.note", "trigger": "collected",
                   "days": 90, "action": "delete"}),
        ),
        (
            Method::POST,
            "/api/v1/subjects",
            json!({"external_id": "cus_1", "email": "grace@example.org", "kind": "customer"}),
        ),
        (
            Method::POST,
            "/api/v1/records",
            json!({"records": [{"category": "support.note", "subject": "cus_1",
                   "occurred_at": "2020-01-10T10:00:00Z", "fields": {"text": "<b>old</b>"}}]}),
        ),
    ] {
        let (status, body) = app.call(&key, method, path, Some(body)).await;
        assert!(status < 300, "{path}: {status} {body}");
    }
    (app, key)
}

/// The records page of cus_1, read with a reason.
async fn records_page(app: &TestApp, client: &reqwest::Client) -> String {
    let (_, csrf, _) = app.page(client, "/console/w/aulm/subjects/cus_1").await;
    let res = app
        .post_form(
            client,
            "/console/w/aulm/subjects/cus_1/records",
            &[("reason", "ticket 77: names check"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_runs_name_their_category_and_mark_keys_the_inventory_lost() {
    let (app, key) = setup().await;
    let owner = app.logged_in("ada@example.org").await;

    // A record's category: its name, the key second.
    let page = records_page(&app, &owner).await;
    assert!(
        page.contains("<h3>Support notes <code class=\"key\">support.note</code> <small>"),
        "{page}"
    );
    assert!(!page.contains(GONE));

    // A dry run of the rule: its page and the run's page name the category.
    let (_, csrf, _) = app.page(&owner, "/console/w/aulm/retention").await;
    let res = app
        .post_form(
            &owner,
            "/console/w/aulm/retention/dry-run",
            &[("rule", "notes-90d"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let dry = res.text().await.unwrap();
    assert!(
        dry.contains("<code>notes-90d</code> <small>Support notes <code class=\"key\">support.note</code></small>"),
        "{dry}"
    );
    // The dry run is in the history; its page names the category too.
    let (_, _, retention) = app.page(&owner, "/console/w/aulm/retention").await;
    let run = retention
        .split("/console/w/aulm/retention/runs/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the dry run in the history")
        .to_owned();
    let run_path = format!("/console/w/aulm/retention/runs/{run}");
    let (status, _, run_page) = app.page(&owner, &run_path).await;
    assert_eq!(status, 200, "{run_path}");
    assert!(
        run_page.contains("<dd>Support notes <code class=\"key\">support.note</code></dd>"),
        "{run_page}"
    );
    assert!(!run_page.contains(GONE));

    // The rule and then its category leave the inventory; the records and the run stay.
    for path in [
        "/api/v1/inventory/retention-rules/notes-90d",
        "/api/v1/inventory/categories/support.note",
    ] {
        let (status, body) = app.call(&key, Method::DELETE, path, None).await;
        assert!(status < 300, "{path}: {status} {body}");
    }
    let page = records_page(&app, &owner).await;
    assert!(
        page.contains(&format!(
            "<h3><code>support.note</code> <small class=\"gone\">{GONE}</small>"
        )),
        "{page}"
    );
    assert!(!page.contains("Support notes"));
    let (_, _, run_page) = app.page(&owner, &run_path).await;
    assert!(
        run_page.contains(&format!(
            "of <code>notes-90d</code> <small class=\"gone\">{GONE}</small></h1>"
        )),
        "{run_page}"
    );
    assert!(
        run_page.contains(&format!(
            "<dd><code>support.note</code> <small class=\"gone\">{GONE}</small></dd>"
        )),
        "{run_page}"
    );
    let (_, _, retention) = app.page(&owner, "/console/w/aulm/retention").await;
    assert!(
        retention.contains(&format!(
            "<td><code>notes-90d</code> <small class=\"gone\">{GONE}</small></td>"
        )),
        "the run history marks the deleted rule: {retention}"
    );
}
