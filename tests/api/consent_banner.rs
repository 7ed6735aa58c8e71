//! The consent banner's two public resources: `/consent.js` and
//! `/consent/{slug}/config.json`, read from other origins (CORS `*`), cached by entity tag, and
//! built from the inventory's consent purposes and the policy versions in force.

use crate::helpers::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

const EMAIL: &str = "user.contact.email";

async fn shop(app: &TestApp) -> String {
    let owner = app.create_admin("owner@shop.example");
    app.create_workspace(owner, "shop");
    let key = app.api_key(
        "shop",
        &["inventory:read", "inventory:write", "workspace:write"],
    );
    let (status, body) = app
        .call(
            &key,
            Method::PUT,
            &format!("/api/v1/inventory/categories/{EMAIL}"),
            Some(json!({"key": EMAIL, "name": "E-mail address", "sensitivity": "normal"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.complete_for_publication(&key, EMAIL).await;
    key
}

async fn put_purpose(app: &TestApp, key: &str, body: Value) -> (u16, Value) {
    let path = format!(
        "/api/v1/inventory/purposes/{}",
        body["key"].as_str().unwrap()
    );
    app.call(key, Method::PUT, &path, Some(body)).await
}

async fn config(app: &TestApp) -> reqwest::Response {
    app.new_client()
        .get(app.url("/consent/shop/config.json"))
        .header("Origin", "https://shop.example")
        .send()
        .await
        .unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

async fn publish(app: &TestApp, key: &str, markdown: &str, material: bool) {
    let (status, draft) = app
        .call(
            key,
            Method::POST,
            "/api/v1/policies",
            Some(json!({"markdown": markdown, "material": material, "summary": "What changes"})),
        )
        .await;
    assert_eq!(status, 201, "{draft}");
    let (status, body) = app
        .call(
            key,
            Method::POST,
            &format!("/api/v1/policies/{}/publish", draft["version"]),
            Some(json!({"confirm_warnings": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configuration_lists_the_consent_purposes_and_is_cached_by_tag() {
    let app = spawn_app().await;
    let key = shop(&app).await;
    let (status, body) = put_purpose(
        &app,
        &key,
        json!({"key": "analytics", "name": "Counting visits", "description": "Which pages are read.",
               "legal_basis": "consent", "consent_prompt": "May we count your visits?",
               "cookies": ["_ga*", "_gid"], "local_storage": ["stats"], "categories": [EMAIL]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = put_purpose(
        &app,
        &key,
        json!({"key": "ads", "name": "Advertising", "legal_basis": "consent",
               "consent_prompt": "May we show you ads from partners?", "opt_out_of_sale": true,
               "cookies": ["_fbp"], "categories": [EMAIL]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // The API gives the lists back; the cookies of a purpose without consent are refused.
    let (_, inventory) = app.call(&key, Method::GET, "/api/v1/inventory", None).await;
    let analytics = &inventory["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "analytics")
        .cloned()
        .unwrap();
    assert_eq!(analytics["cookies"], json!(["_ga*", "_gid"]));
    assert_eq!(analytics["local_storage"], json!(["stats"]));
    let (status, problem) = put_purpose(
        &app,
        &key,
        json!({"key": "billing", "name": "Billing", "legal_basis": "contract",
               "cookies": ["session"], "opt_out_of_sale": true}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem.to_string().contains("consent purposes only"),
        "{problem}"
    );
    let (status, problem) = put_purpose(
        &app,
        &key,
        json!({"key": "analytics", "name": "Counting visits", "legal_basis": "consent",
               "consent_prompt": "May we?", "cookies": ["bad name;"]}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");

    // The workspace's consent settings.
    let (status, ws) = app
        .call(
            &key,
            Method::PATCH,
            "/api/v1/workspace",
            Some(
                json!({"consent_origins": ["https://Shop.example/", "http://localhost:8080"],
                        "consent_cookie_domain": ".shop.example"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{ws}");
    assert_eq!(
        ws["consent_origins"],
        json!(["https://shop.example", "http://localhost:8080"])
    );
    assert_eq!(ws["consent_cookie_domain"], "shop.example");
    let (status, problem) = app
        .call(
            &key,
            Method::PATCH,
            "/api/v1/workspace",
            Some(json!({"consent_origins": ["https://shop.example/cart"]})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(problem.to_string().contains("consent_origins"), "{problem}");

    // The configuration: public, readable from any origin, cacheable.
    let res = config(&app).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    assert!(header(&res, "cache-control").starts_with("public, max-age="));
    assert!(header(&res, "content-type").starts_with("application/json"));
    let etag = header(&res, "etag");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["workspace"], "shop");
    assert_eq!(body["organisation"], "shop Ltd");
    assert_eq!(body["policy_url"], app.url("/p/shop/privacy"));
    assert_eq!(body["decision_url"], app.url("/consent/shop/decisions"));
    assert_eq!(body["policy_version"], Value::Null);
    assert_eq!(body["consent_version"], Value::Null);
    assert_eq!(body["cookie_domain"], "shop.example");
    let banner_version = body["banner_version"].as_str().unwrap().to_owned();
    assert!(banner_version.len() >= 8, "{body}");
    let keys: Vec<&str> = body["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["analytics", "ads"], "consent purposes only: {body}");
    assert_eq!(
        body["purposes"][0],
        json!({"key": "analytics", "name": "Counting visits", "description": "Which pages are read.",
               "prompt": "May we count your visits?", "opt_out_of_sale": false,
               "cookies": ["_ga*", "_gid"], "local_storage": ["stats"]})
    );
    assert_eq!(body["purposes"][1]["opt_out_of_sale"], true);
    for lang in ["en", "de"] {
        for text in [
            "heading",
            "accept_all",
            "reject_all",
            "choose",
            "save",
            "policy",
            "gpc",
        ] {
            assert!(
                body["texts"][lang][text]
                    .as_str()
                    .is_some_and(|t| !t.is_empty()),
                "texts.{lang}.{text} in {body}"
            );
        }
    }

    // A browser that holds it gets a 304, still readable cross-origin.
    let again = app
        .new_client()
        .get(app.url("/consent/shop/config.json"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag"), etag);
    assert_eq!(header(&again, "access-control-allow-origin"), "*");

    // A material version in force: decisions given before it are asked again.
    app.set_notice_days("shop", 0);
    publish(
        &app,
        &key,
        "# Our policy\n\n{{ categories_table() }}\n",
        true,
    )
    .await;
    let res = app
        .new_client()
        .get(app.url("/consent/shop/config.json"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "the publication changed the configuration"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["policy_version"], 1);
    assert_eq!(body["consent_version"], 1);
    assert_ne!(body["banner_version"], banner_version.as_str());
    // A non-material one changes the policy version only.
    publish(
        &app,
        &key,
        "# Our policy, clearer\n\n{{ categories_table() }}\n",
        false,
    )
    .await;
    let body: Value = config(&app).await.json().await.unwrap();
    assert_eq!(body["policy_version"], 2);
    assert_eq!(body["consent_version"], 1);

    // An unknown workspace.
    let res = app
        .new_client()
        .get(app.url("/consent/nobody/config.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_is_served_with_a_tag_and_a_public_cache() {
    let app = spawn_app().await;
    let client = app.new_client();
    let res = client.get(app.url("/consent.js")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "content-type"),
        "application/javascript; charset=utf-8"
    );
    assert!(header(&res, "cache-control").starts_with("public, max-age="));
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    let etag = header(&res, "etag");
    let script = res.text().await.unwrap();
    assert!(script.contains("lethe:consent-change"));
    let res = client
        .get(app.url("/consent.js"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
}
