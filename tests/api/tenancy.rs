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
        (p, "version") if p.starts_with("/api/v1/policies/") => {
            // Alpha has two versions and beta at most the one the walk's POST creates.
            "2".to_owned()
        }
        (p, "workspace") if p.starts_with("/api/v1/public/") => "alpha".to_owned(),
        // Alpha's subject, with a record: see give_alpha_a_subject.
        (p, "external_id") if p.starts_with("/api/v1/subjects/") => "alpha-person".to_owned(),
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
        ("/api/v1/retention/runs/{id}", "id") => {
            // Alpha's dry run: see the walk's set-up.
            let scope = app.scope("alpha");
            let id: i64 = app
                .db
                .read(|c| {
                    c.query_row(
                        "SELECT max(id) FROM retention_runs WHERE workspace_id = ?1",
                        [scope.id()],
                        |r| r.get(0),
                    )
                    .map_err(lethe::store::StoreError::from)
                })
                .unwrap();
            id.to_string()
        }
        // Alpha's request (give_alpha_a_subject).
        (p, "id") if p.starts_with("/api/v1/requests/") => {
            let scope = app.scope("alpha");
            app.db
                .read(|c| {
                    c.query_row(
                        "SELECT max(id) FROM requests WHERE workspace_id = ?1",
                        [scope.id()],
                        |r| r.get::<_, String>(0),
                    )
                    .map_err(lethe::store::StoreError::from)
                })
                .unwrap()
        }
        // Alpha's incident (give_alpha_a_subject).
        (p, "id") if p.starts_with("/api/v1/incidents/") => {
            let scope = app.scope("alpha");
            app.db
                .read(|c| {
                    c.query_row(
                        "SELECT max(id) FROM incidents WHERE workspace_id = ?1",
                        [scope.id()],
                        |r| r.get::<_, String>(0),
                    )
                    .map_err(lethe::store::StoreError::from)
                })
                .unwrap()
        }
        // Alpha's person (give_alpha_a_subject), whose consent beta asks for.
        ("/api/v1/consent/{subject}", "subject") => "alpha-person".to_owned(),
        // A system of alpha's (give_alpha_an_inventory), for a task on alpha's request.
        ("/api/v1/requests/{id}/tasks/{system}/complete", "system") => "alpha.systems".to_owned(),
        // Alpha's legal hold (give_alpha_an_inventory).
        ("/api/v1/legal-holds/{key}/records", "key") => "alpha.legal-holds".to_owned(),
        (p, "key") if p.starts_with("/api/v1/inventory/") => {
            // Every inventory item of alpha's is keyed `alpha.<kind>`: see give_alpha_an_inventory.
            let kind = p
                .trim_start_matches("/api/v1/inventory/")
                .split('/')
                .next()
                .unwrap();
            format!("alpha.{kind}")
        }
        _ => {
            panic!("no tenancy fixture for {{{param}}} in {path}: add one to tests/api/tenancy.rs")
        }
    }
}

/// A subject of alpha's, `alpha-person`, with one record.
async fn give_alpha_a_subject(app: &TestApp, key: &str) {
    use serde_json::json;
    let res = app
        .client
        .put(app.url("/api/v1/inventory/categories/alpha.messages"))
        .bearer_auth(key)
        .json(
            &json!({"key": "alpha.messages", "name": "Messages", "sensitivity": "normal",
                      "fields": [{"name": "text"}]}),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let res = app
        .client
        .post(app.url("/api/v1/subjects"))
        .bearer_auth(key)
        .json(&json!({"external_id": "alpha-person", "email": "person@alpha.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = app
        .client
        .post(app.url("/api/v1/records"))
        .bearer_auth(key)
        .json(
            &json!({"records": [{"category": "alpha.messages", "subject": "alpha-person",
            "occurred_at": "2026-11-20T10:00:00Z", "fields": {"text": "alpha Ltd secret"}}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // And a request of theirs, whose details would show a leak; alpha's staff review requests,
    // so it stays verified and any step beta's key could take would show.
    app.review_requests("alpha");
    let res = app
        .client
        .post(app.url("/api/v1/requests"))
        .bearer_auth(key)
        .json(&json!({"type": "access", "external_id": "alpha-person",
                      "details": "alpha Ltd secret request"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // And an incident of theirs, whose title would show a leak.
    let res = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(key)
        .json(
            &json!({"title": "alpha Ltd breach", "detected_at": "2026-11-20T10:00:00Z",
                      "categories": ["alpha.messages"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

/// Query strings the walk adds, for routes that need one.
fn query_for(path: &str, method: &str) -> &'static str {
    match (path, method) {
        ("/api/v1/subjects", "get") => "?email=person@alpha.example",
        _ => "",
    }
}

/// One item of every kind in alpha's inventory, each keyed `alpha.<kind>`.
async fn give_alpha_an_inventory(app: &TestApp, key: &str) {
    for (kind, body) in inventory_bodies("alpha.categories") {
        let res = app
            .client
            .put(app.url(&format!("/api/v1/inventory/{kind}/alpha.{kind}")))
            .bearer_auth(key)
            .json(&with_key(body, &format!("alpha.{kind}")))
            .send()
            .await
            .unwrap();
        assert!(
            res.status().is_success(),
            "{kind}: {}",
            res.text().await.unwrap()
        );
    }
}

fn with_key(mut body: Value, key: &str) -> Value {
    body["key"] = Value::String(key.to_owned());
    body
}

/// A valid body for each inventory kind, referring to `category`.
fn inventory_bodies(category: &str) -> Vec<(&'static str, Value)> {
    use serde_json::json;
    vec![
        (
            "categories",
            json!({"name": "Contact e-mail", "sensitivity": "normal"}),
        ),
        (
            "purposes",
            json!({"name": "Billing", "legal_basis": "contract", "categories": [category]}),
        ),
        (
            "systems",
            json!({"name": "Main database", "location": "EU", "categories": [category]}),
        ),
        (
            "recipients",
            json!({"name": "Payments", "role": "processor", "purpose": "card payments",
            "country": "IE", "safeguard": "not_a_transfer", "categories": [category]}),
        ),
        (
            "retention-rules",
            json!({"category": category, "trigger": "account_closed", "days": 30, "action": "delete"}),
        ),
        (
            "legal-holds",
            json!({"category": category, "reason": "accounting law"}),
        ),
    ]
}

/// A harmless, valid body for each route that takes one.
fn body_for(path: &str, method: &str, url: &str) -> Option<Value> {
    match (path, method) {
        ("/api/v1/workspace", "patch") => {
            Some(serde_json::json!({ "dpo_name": "Changed by beta" }))
        }
        ("/api/v1/policies", "post") | ("/api/v1/policies/{version}", "put") => {
            Some(serde_json::json!({ "markdown": "# Beta's policy" }))
        }
        ("/api/v1/policies/{version}/publish", "post") => Some(serde_json::json!({})),
        // Beta has no rule of its own yet: a dry run of nothing.
        ("/api/v1/retention/runs", "post") => Some(serde_json::json!({"dry_run": true})),
        ("/api/v1/subjects", "post") => Some(serde_json::json!({"external_id": "beta-person"})),
        ("/api/v1/requests", "post") => {
            Some(serde_json::json!({"type": "access", "email": "someone@beta.example"}))
        }
        ("/api/v1/requests/{id}/deny", "post") => {
            Some(serde_json::json!({"reason": "identity_not_verified"}))
        }
        ("/api/v1/requests/{id}/extend", "post") => {
            Some(serde_json::json!({"reason": "beta tries"}))
        }
        ("/api/v1/incidents", "post") => Some(
            serde_json::json!({"title": "Beta's incident", "detected_at": "2026-11-20T10:00:00Z"}),
        ),
        ("/api/v1/incidents/{id}", "patch") => Some(serde_json::json!({"title": "beta tries"})),
        ("/api/v1/incidents/{id}/not-notified", "post") => {
            Some(serde_json::json!({"reason": "beta tries"}))
        }
        ("/api/v1/incidents/{id}/notice/phases", "post") => {
            Some(serde_json::json!({"late_reason": "beta tries"}))
        }
        ("/api/v1/incidents/{id}/letter", "post") => {
            Some(serde_json::json!({"subject": "beta tries", "body": "beta tries"}))
        }
        ("/api/v1/incidents/{id}/notice", "put") => {
            Some(serde_json::json!({"sections": {"measures": "beta tries"}}))
        }
        ("/api/v1/consent", "post") => Some(
            serde_json::json!({"subject": "alpha-person", "choices": {"alpha.purposes": false}}),
        ),
        ("/api/v1/requests/{id}/tasks/{system}/complete", "post") => {
            Some(serde_json::json!({"data": {"beta": "tries"}}))
        }
        ("/api/v1/subjects/{external_id}/restrict", "post") => {
            Some(serde_json::json!({"reason": "beta tries"}))
        }
        // A record without a person, in beta's own category that allows it.
        ("/api/v1/records", "post") => Some(serde_json::json!({"records": [
            {"category": "beta.shared", "occurred_at": "2026-11-20T10:00:00Z", "fields": {}}]})),
        (p, "put") if p.starts_with("/api/v1/inventory/") => {
            let kind = p
                .trim_start_matches("/api/v1/inventory/")
                .split('/')
                .next()
                .unwrap();
            let key = url.rsplit('/').next().unwrap();
            // Beta's PUT lands in beta's own inventory; its category must exist there.
            let body = inventory_bodies("beta.shared")
                .into_iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, b)| b)
                .unwrap_or_else(|| panic!("no body for {kind}"));
            Some(with_key(body, key))
        }
        _ => None,
    }
}

/// A harmless, valid non-JSON body (content type, body) for each route that takes one.
fn raw_body_for(path: &str, method: &str) -> Option<(&'static str, String)> {
    match (path, method) {
        // Lands in beta's own inventory, referring to beta's own category.
        ("/api/v1/inventory/fideslang", "post") => Some((
            "application/yaml",
            "data_category:\n  - {fides_key: beta.imported, name: Imported}\n\
             data_use:\n  - {fides_key: beta-imported, name: Imported, legal_basis: Contract, \
             lethe: {categories: [beta.shared, beta.imported]}}\n"
                .to_owned(),
        )),
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
    give_alpha_an_inventory(&app, &alpha_key).await;
    give_alpha_a_subject(&app, &alpha_key).await;
    // A consent receipt of alpha's: beta's key must not find it valid.
    let alpha_receipt = crate::consent_receipts::issue(&app, "alpha");
    let res = app
        .client
        .post(app.url("/api/v1/retention/runs"))
        .bearer_auth(&alpha_key)
        .json(&serde_json::json!({"dry_run": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for _ in 0..2 {
        let res = app
            .client
            .post(app.url("/api/v1/policies"))
            .bearer_auth(&alpha_key)
            .json(&serde_json::json!({"markdown": "# Alpha Ltd policy\n{{ categories_table() }}"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let beta_category = serde_json::json!({"key": "beta.shared", "name": "Beta's", "sensitivity": "low", "subject_optional": true});
    let res = app
        .client
        .put(app.url("/api/v1/inventory/categories/beta.shared"))
        .bearer_auth(&beta_key)
        .json(&beta_category)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let alpha_before = app
        .db
        .read(|c| lethe::store::workspaces::get(c, &app.scope("alpha")))
        .unwrap();
    let inventory_of = |slug: &str| {
        app.db
            .read(|c| lethe::store::inventory::load(c, &app.scope(slug)))
            .unwrap()
    };
    let alpha_inventory = inventory_of("alpha");

    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Reads and deletes first, writes last: a PUT creates the key in beta's own inventory, after
    // which beta's GET of that key would rightly succeed.
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            routes.push((path.clone(), method.clone()));
        }
    }
    routes.sort_by_key(|(_, m)| (m == "put" || m == "patch", m.clone()));
    let mut walked = 0;
    for (path, method) in &routes {
        let mut url = path.clone();
        let mut has_param = false;
        while let (Some(open), Some(close)) = (url.find('{'), url.find('}')) {
            let param = url[open + 1..close].to_owned();
            url.replace_range(open..=close, &fixture(&app, path, &param));
            has_param = true;
        }
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        url.push_str(query_for(path, method));
        let mut req = app.client.request(m, app.url(&url)).bearer_auth(&beta_key);
        if path == "/api/v1/consent/receipts/verify" {
            req = req.json(&alpha_receipt);
        } else if let Some(body) = body_for(path, method, &url) {
            req = req.json(&body);
        } else if let Some((content_type, body)) = raw_body_for(path, method) {
            req = req.header("content-type", content_type).body(body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        if path.starts_with("/api/v1/public/") {
            // Public by design: what the privacy center shows anyone.
            assert!(
                status == 200 || status == 404,
                "{method} {url}: {status} {text}"
            );
            walked += 1;
            continue;
        }
        if path == "/api/v1/consent/receipts/verify" {
            assert!(
                text.contains(r#""valid":false"#) && text.contains("unknown_key"),
                "beta's key found alpha's receipt valid: {text}"
            );
        }
        let upsert = method == "put" && path.starts_with("/api/v1/inventory/");
        if path == "/api/v1/consent" {
            // Beta records a decision about alpha's person: no such subject in beta.
            assert_eq!(status, 422, "{method} {url} with beta's key: {text}");
        } else if has_param && !upsert {
            assert_eq!(status, 404, "{method} {url} with beta's key: {text}");
        } else {
            assert!(status < 300, "{method} {url}: {status} {text}");
        }
        assert!(
            !text.contains("Alpha's DPO"),
            "{method} {url} leaked alpha's data: {text}"
        );
        assert!(
            !text.contains("alpha Ltd"),
            "{method} {url} leaked alpha's data: {text}"
        );
        walked += 1;
    }
    assert!(walked >= 30, "the walk covered {walked} routes");
    let alpha_after = app
        .db
        .read(|c| lethe::store::workspaces::get(c, &app.scope("alpha")))
        .unwrap();
    assert_eq!(
        alpha_before.settings, alpha_after.settings,
        "beta's key changed alpha"
    );
    assert_eq!(
        alpha_inventory,
        inventory_of("alpha"),
        "beta's key changed alpha's inventory"
    );
    let (untouched, records): (bool, i64) = app
        .db
        .read(|c| {
            c.query_row(
                "SELECT erased_at IS NULL AND restricted_at IS NULL AND closed_at IS NULL, \
                 (SELECT count(*) FROM records WHERE subject_id = s.id) \
                 FROM subjects s WHERE external_id = 'alpha-person'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    assert!(
        untouched && records == 1,
        "beta's key changed alpha's subject"
    );
    let (state, extended, events): (String, bool, i64) = app
        .db
        .read(|c| {
            c.query_row(
                "SELECT state, extended_due_at IS NOT NULL, \
                 (SELECT count(*) FROM request_events e WHERE e.request_id = r.id) \
                 FROM requests r WHERE workspace_id = ?1",
                [app.scope("alpha").id()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    assert_eq!(
        (state.as_str(), extended, events),
        ("verified", false, 2),
        "beta's key changed alpha's request"
    );
}

/// The list of all subjects, a page at a time, shows a key's own workspace's subjects only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_of_subjects_holds_only_the_keys_workspace() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "alpha");
    app.create_workspace(owner, "beta");
    let keys = [
        app.api_key("alpha", &["records:write", "records:read"]),
        app.api_key("beta", &["records:write", "records:read"]),
    ];
    for (key, prefix) in keys.iter().zip(["alpha", "beta"]) {
        for n in 0..3 {
            let res = app
                .client
                .post(app.url("/api/v1/subjects"))
                .bearer_auth(key)
                .json(&serde_json::json!({"external_id": format!("{prefix}-{n}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
        }
    }
    for (key, own) in keys.iter().zip(["alpha", "beta"]) {
        let mut seen = Vec::new();
        let mut query = "?limit=2".to_owned();
        loop {
            let page: Value = app
                .client
                .get(app.url(&format!("/api/v1/subjects{query}")))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for s in page["subjects"].as_array().unwrap() {
                seen.push(s["external_id"].as_str().unwrap().to_owned());
            }
            match page["next_after"].as_str() {
                Some(after) => query = format!("?limit=2&after={after}"),
                None => break,
            }
        }
        assert_eq!(seen, [0, 1, 2].map(|n| format!("{own}-{n}")), "{own}");
    }
}
