//! Tenancy: every API route, walked from the OpenAPI document, with another workspace's key.
//!
//! Adding an API route adds it to the OpenAPI document, and so to this walk. A route with a new
//! path parameter fails here until `fixture` says which of workspace A's resources to aim at.

use crate::helpers::{TestApp, spawn_app};
use lethe::domain::apikey::Scope;
use serde_json::Value;

/// The id of one of workspace A's resources for each path parameter.
fn fixture(app: &TestApp, path: &str, param: &str) -> String {
    match (path, param) {
        ("/api/v1/audit/{seq}", "seq") => {
            let scope = app.scope("alpha");
            let seq: i64 = app
                .db
                .read(|c| {
                    c.query_row(
                        "SELECT max(seq) FROM audit_log WHERE workspace_id = ?1",
                        [scope.id()],
                        |r| r.get(0),
                    )
                    .map_err(lethe::store::StoreError::from)
                })
                .unwrap();
            seq.to_string()
        }
        _ => {
            panic!("no tenancy fixture for {{{param}}} in {path}: add one to tests/api/tenancy.rs")
        }
    }
}

/// A harmless, valid body for each route that takes one.
fn body_for(path: &str, method: &str) -> Option<Value> {
    match (path, method) {
        ("/api/v1/workspace", "patch") => {
            Some(serde_json::json!({ "dpo_name": "Changed by beta" }))
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_workspaces_key_never_reaches_this_workspaces_data() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "alpha");
    app.create_workspace(owner, "beta");
    let all: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    let alpha_key = app.api_key("alpha", &all);
    let beta_key = app.api_key("beta", &all);
    // Give alpha some history of its own.
    app.client
        .patch(app.url("/api/v1/workspace"))
        .bearer_auth(&alpha_key)
        .json(&serde_json::json!({ "dpo_name": "Alpha's DPO" }))
        .send()
        .await
        .unwrap();
    let alpha_before = app
        .db
        .read(|c| lethe::store::workspaces::get(c, &app.scope("alpha")))
        .unwrap();

    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut walked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            let mut url = path.clone();
            let mut has_param = false;
            while let (Some(open), Some(close)) = (url.find('{'), url.find('}')) {
                let param = url[open + 1..close].to_owned();
                url.replace_range(open..=close, &fixture(&app, path, &param));
                has_param = true;
            }
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut req = app.client.request(m, app.url(&url)).bearer_auth(&beta_key);
            if let Some(body) = body_for(path, method) {
                req = req.json(&body);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            if has_param {
                assert_eq!(status, 404, "{method} {url} with beta's key: {text}");
            } else {
                assert!(status < 500, "{method} {url}: {status} {text}");
            }
            assert!(
                !text.contains("alpha"),
                "{method} {url} leaked alpha's data: {text}"
            );
            assert!(
                !text.contains("Alpha's DPO"),
                "{method} {url} leaked alpha's data: {text}"
            );
            walked += 1;
        }
    }
    assert!(walked >= 4, "the walk covered {walked} routes");
    let alpha_after = app
        .db
        .read(|c| lethe::store::workspaces::get(c, &app.scope("alpha")))
        .unwrap();
    assert_eq!(
        alpha_before.settings, alpha_after.settings,
        "beta's key changed alpha"
    );
}
