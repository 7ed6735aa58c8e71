//! A policy that cannot lie: the inventory checks itself, publication refuses what is false or
//! empty and asks before publishing warnings, and a material change waits for its notice period
//! unless an owner records why it cannot.

use crate::helpers::{TestApp, location, spawn_app};
use serde_json::{Value, json};

async fn setup() -> (TestApp, String) {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let key = app.api_key("aulm", &["inventory:read", "inventory:write"]);
    (app, key)
}

async fn call(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    app.call(key, method, path, (!body.is_null()).then_some(body))
        .await
}

async fn put(app: &TestApp, key: &str, path: &str, body: Value) -> (u16, Value) {
    call(app, key, reqwest::Method::PUT, path, body).await
}

async fn email_category(app: &TestApp, key: &str) {
    let (status, body) = put(
        app,
        key,
        "/api/v1/inventory/categories/user.contact.email",
        json!({"key": "user.contact.email", "name": "E-mail address", "sensitivity": "normal"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

async fn draft(app: &TestApp, key: &str, markdown: &str, material: bool) -> i64 {
    let (status, body) = call(
        app,
        key,
        reqwest::Method::POST,
        "/api/v1/policies",
        json!({"markdown": markdown, "material": material, "summary": "What changes"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["version"].as_i64().unwrap()
}

async fn publish(app: &TestApp, key: &str, version: i64, body: Value) -> (u16, Value) {
    call(
        app,
        key,
        reqwest::Method::POST,
        &format!("/api/v1/policies/{version}/publish"),
        body,
    )
    .await
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["field"].as_str().unwrap_or(""),
                        e["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_outside_the_eea_needs_a_safeguard_and_within_it_says_so_itself() {
    let (app, key) = setup().await;
    email_category(&app, &key).await;
    let us = |safeguard: &str| {
        json!({"key": "payco", "name": "PayCo", "role": "processor", "purpose": "card payments",
               "country": "US", "safeguard": safeguard, "categories": ["user.contact.email"]})
    };
    let (status, problem) = put(
        &app,
        &key,
        "/api/v1/inventory/recipients/payco",
        us("not_a_transfer"),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        fields(&problem)
            .iter()
            .any(|f| f.starts_with("safeguard: US is outside the EEA")),
        "{problem}"
    );
    let (status, problem) = put(
        &app,
        &key,
        "/api/v1/inventory/recipients/payco",
        us("derogation"),
    )
    .await;
    assert_eq!(status, 422);
    assert!(fields(&problem)[0].starts_with("derogation:"), "{problem}");
    let (status, _) = put(&app, &key, "/api/v1/inventory/recipients/payco", us("sccs")).await;
    assert_eq!(status, 201);

    // An EEA country is not a transfer, whatever is typed as its safeguard.
    let (status, problem) = put(
        &app,
        &key,
        "/api/v1/inventory/recipients/host",
        json!({"key": "host", "name": "Host", "role": "processor", "purpose": "hosting",
               "country": "DE", "safeguard": "sccs", "categories": ["user.contact.email"]}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");

    // A recipient an older Lethe stored as "no transfer" in the US is an error of the check,
    // blocks publication, and is shown as the transfer it is.
    let conn = rusqlite::Connection::open(app.data_dir.path().join("lethe.db")).unwrap();
    conn.execute(
        "UPDATE recipients SET safeguard = 'not_a_transfer' WHERE key = 'payco'",
        [],
    )
    .unwrap();
    app.complete_for_publication(&key, "user.contact.email")
        .await;
    let (status, findings) = call(
        &app,
        &key,
        reqwest::Method::GET,
        "/api/v1/inventory/check",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(findings[0]["severity"], "error", "{findings}");
    assert_eq!(findings[0]["item"], "recipient 'payco'");
    assert_eq!(findings[0]["field"], "safeguard");
    let version = draft(&app, &key, "# Policy\n\n{{ recipients_table() }}\n", false).await;
    let (status, problem) = publish(&app, &key, version, json!({})).await;
    assert_eq!(status, 422);
    assert!(
        fields(&problem)
            .iter()
            .any(|f| f.contains("US is outside the EEA")),
        "{problem}"
    );
    let (_, rendered) = call(
        &app,
        &key,
        reqwest::Method::GET,
        &format!("/api/v1/policies/{version}"),
        Value::Null,
    )
    .await;
    let text = rendered["rendered_markdown"].as_str().unwrap();
    assert!(
        text.contains("US: outside the EEA, no safeguard named")
            && !text.contains("stays in the EEA"),
        "{text}"
    );
    let reader = app.logged_in("ada@example.org").await;
    let (_, _, csv) = app
        .page(&reader, "/console/w/aulm/inventory/ropa.csv")
        .await;
    assert!(csv.contains("PayCo (US): outside the EEA"), "{csv}");
    let (_, _, inventory) = app.page(&reader, "/console/w/aulm/inventory").await;
    assert!(
        inventory.contains("1 error(s)")
            && inventory.contains("recipient &#39;payco&#39;, safeguard: US is outside the EEA"),
        "the inventory page lists the check"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_would_state_nothing_cannot_be_published() {
    let (app, key) = setup().await;
    let version = draft(&app, &key, lethe::domain::policy::DEFAULT_TEMPLATE, false).await;
    let (status, problem) = publish(&app, &key, version, json!({})).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        fields(&problem)
            .iter()
            .any(|f| f.starts_with("inventory: the inventory has no data category")),
        "{problem}"
    );
    // A category alone is not enough: why it is collected and how long it is kept are missing.
    email_category(&app, &key).await;
    let (_, problem) = publish(&app, &key, version, json!({})).await;
    let found = fields(&problem);
    assert!(
        found.iter().any(|f| f.contains("no purpose uses it")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|f| f.contains("no retention rule")),
        "{found:?}"
    );
    app.complete_for_publication(&key, "user.contact.email")
        .await;
    let (status, body) = publish(&app, &key, version, json!({})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_are_published_only_when_confirmed() {
    let (app, key) = setup().await;
    email_category(&app, &key).await;
    app.complete_for_publication(&key, "user.contact.email")
        .await;
    // A disabled rule is stated by the policy but does not run.
    let (status, _) = put(
        &app,
        &key,
        "/api/v1/inventory/retention-rules/ends-user-contact-email",
        json!({"key": "ends-user-contact-email", "category": "user.contact.email",
               "trigger": "account_closed", "days": 30, "action": "delete", "enabled": false}),
    )
    .await;
    assert_eq!(status, 200);
    let version = draft(&app, &key, "# Policy\n\n{{ categories_table() }}\n", false).await;
    let (_, review) = call(
        &app,
        &key,
        reqwest::Method::GET,
        &format!("/api/v1/policies/{version}/review"),
        Value::Null,
    )
    .await;
    assert_eq!(review["findings"][0]["severity"], "warning", "{review}");
    assert_eq!(review["in_force"], Value::Null);
    let (status, problem) = publish(&app, &key, version, json!({})).await;
    assert_eq!(status, 422);
    assert!(
        fields(&problem)[0]
            .starts_with("confirm_warnings: confirm that you publish despite: retention rule"),
        "{problem}"
    );
    let (status, body) = publish(&app, &key, version, json!({"confirm_warnings": true})).await;
    assert_eq!(status, 200, "{body}");
    let audit = app.audit_actions();
    assert_eq!(audit.last().map(String::as_str), Some("policy.publish"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_must_name_what_the_vault_holds() {
    let (app, key) = setup().await;
    let (status, body) = put(
        &app,
        &key,
        "/api/v1/inventory/categories/user.device.ip_address",
        json!({"key": "user.device.ip_address", "name": "Visits to our pages", "sensitivity": "normal",
               "subject_optional": true, "fields": [{"name": "path"}]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    app.complete_for_publication(&key, "user.device.ip_address")
        .await;
    let writer = app.api_key("aulm", &["records:write"]);
    let res = app
        .client
        .post(app.url("/api/v1/records"))
        .bearer_auth(&writer)
        .json(&json!({"records": [{"category": "user.device.ip_address",
                                   "occurred_at": "2026-11-20T10:00:00Z", "fields": {"path": "/pricing"}}]}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    // A template without the categories table says nothing of the e-mail addresses held.
    let version = draft(
        &app,
        &key,
        "# Policy\n\nWe care about your privacy.\n",
        false,
    )
    .await;
    let (status, problem) = publish(&app, &key, version, json!({})).await;
    assert_eq!(status, 422);
    assert!(
        fields(&problem)
            .iter()
            .any(|f| f.starts_with("inventory: the text names none of the data the vault holds")),
        "{problem}"
    );
    let version = draft(
        &app,
        &key,
        "# Policy

{{ categories_table() }}
",
        false,
    )
    .await;
    let (status, body) = publish(&app, &key, version, json!({})).await;
    assert_eq!(status, 200, "with the table the text names it: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_owner_lets_a_material_change_apply_inside_the_notice_period() {
    let (app, key) = setup().await;
    email_category(&app, &key).await;
    app.complete_for_publication(&key, "user.contact.email")
        .await;
    let first = draft(&app, &key, "# Policy\n\n{{ categories_table() }}\n", true).await;
    let (status, body) = publish(&app, &key, first, json!({})).await;
    assert_eq!(status, 200, "the first version announces no change: {body}");
    let second = draft(
        &app,
        &key,
        "# Policy v2\n\n{{ categories_table() }}\n",
        true,
    )
    .await;

    // The review names the earliest day; a privacy officer cannot waive the notice.
    app.add_member("aulm", "dpo@example.org", "privacy_officer");
    let dpo = app.logged_in("dpo@example.org").await;
    let path = format!("/console/w/aulm/policy/{second}/publish");
    let (status, csrf, review) = app.page(&dpo, &path).await;
    assert_eq!(status, 200);
    let earliest = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        review.contains("material change") && review.contains(&earliest),
        "{review}"
    );
    assert!(
        !review.contains("notice_waiver"),
        "the waiver is for owners"
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let res = app
        .post_form(
            &dpo,
            &path,
            &[("effective_on", today.as_str()), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("is too soon for a material change")
    );
    let res = app
        .post_form(
            &dpo,
            &path,
            &[
                ("effective_on", today.as_str()),
                ("notice_waiver", "new law"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);

    // An owner records why it cannot wait; the reason is published with the version.
    let owner = app.logged_in("ada@example.org").await;
    let (_, csrf, review) = app.page(&owner, &path).await;
    assert!(review.contains("notice_waiver"));
    let reason = "The consumer protection act changes on 1 December.";
    let res = app
        .post_form(
            &owner,
            &path,
            &[
                ("effective_on", today.as_str()),
                ("notice_waiver", reason),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(location(&res), "/console/w/aulm/policy");
    let page = app.public_page("/p/aulm/privacy").await;
    assert!(
        page.contains("Policy v2") && page.contains(reason),
        "{page}"
    );

    // The notice period is a workspace setting.
    let admin_key = app.api_key("aulm", &["workspace:write"]);
    let (status, ws) = call(
        &app,
        &admin_key,
        reqwest::Method::PATCH,
        "/api/v1/workspace",
        json!({"notice_days": 0}),
    )
    .await;
    assert_eq!(status, 200, "{ws}");
    assert_eq!(ws["notice_days"], 0);
    let (status, problem) = call(
        &app,
        &admin_key,
        reqwest::Method::PATCH,
        "/api/v1/workspace",
        json!({"notice_days": 400}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
}
