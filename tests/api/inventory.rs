//! The inventory API: every kind put, read, replaced and deleted by key; references to categories
//! checked; invalid items refused whole; every change audited.

use crate::helpers::{TestApp, spawn_app};
use serde_json::{Value, json};

async fn setup() -> (TestApp, String) {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let key = app.api_key("aulm", &["inventory:read", "inventory:write"]);
    (app, key)
}

async fn put(app: &TestApp, key: &str, kind: &str, item_key: &str, body: Value) -> (u16, Value) {
    let res = app
        .client
        .put(app.url(&format!("/api/v1/inventory/{kind}/{item_key}")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn delete(app: &TestApp, key: &str, kind: &str, item_key: &str) -> (u16, Value) {
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/inventory/{kind}/{item_key}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn email_category() -> Value {
    json!({
        "key": "user.contact.email",
        "name": "E-mail address",
        "subject_kinds": ["customer"],
        "source": "provided by the person",
        "sensitivity": "normal",
        "fields": [{"name": "email", "handling": "keep"}]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_is_created_read_replaced_and_deleted_by_key() {
    let (app, key) = setup().await;
    let c = "user.contact.email";
    let items = [
        ("categories", c, email_category()),
        (
            "purposes",
            "billing",
            json!({"key": "billing", "name": "Billing", "legal_basis": "contract", "categories": [c]}),
        ),
        (
            "systems",
            "main-db",
            json!({"key": "main-db", "name": "Main database", "location": "EU (Germany)", "categories": [c]}),
        ),
        (
            "recipients",
            "payments",
            json!({"key": "payments", "name": "Payment processor", "role": "processor",
            "purpose": "card payments", "country": "us", "safeguard": "sccs", "categories": [c]}),
        ),
        (
            "retention-rules",
            "email-after-close",
            json!({"key": "email-after-close", "category": c,
            "trigger": "account_closed", "days": 30, "action": "delete", "note": "kept while the account is active"}),
        ),
        (
            "legal-holds",
            "invoices",
            json!({"key": "invoices", "category": c, "reason": "tax law", "until": "2033-12-31"}),
        ),
    ];
    for (kind, item_key, body) in &items {
        let (status, stored) = put(&app, &key, kind, item_key, body.clone()).await;
        assert_eq!(status, 201, "{kind}: {stored}");
        let (status, again) = put(&app, &key, kind, item_key, body.clone()).await;
        assert_eq!(status, 200, "replacing {kind}");
        assert_eq!(stored, again);
        let got: Value = app
            .client
            .get(app.url(&format!("/api/v1/inventory/{kind}/{item_key}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got, stored, "{kind}");
    }
    let whole: Value = app
        .client
        .get(app.url("/api/v1/inventory"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whole["recipients"][0]["country"], "US");
    assert_eq!(whole["legal_holds"][0]["until"], "2033-12-31");
    assert_eq!(whole["purposes"][0]["categories"], json!([c]));
    for list in [
        "categories",
        "purposes",
        "systems",
        "recipients",
        "retention_rules",
        "legal_holds",
    ] {
        assert_eq!(whole[list].as_array().unwrap().len(), 1, "{list}");
    }
    // Deleting in dependency order works; each change is in the audit log.
    for (kind, item_key, _) in items.iter().rev() {
        assert_eq!(delete(&app, &key, kind, item_key).await.0, 204, "{kind}");
        assert_eq!(
            delete(&app, &key, kind, item_key).await.0,
            404,
            "{kind} twice"
        );
    }
    let actions = app.audit_actions();
    for action in [
        "inventory.category.put",
        "inventory.legal_hold.put",
        "inventory.retention_rule.delete",
        "inventory.category.delete",
    ] {
        assert!(actions.contains(&action.to_owned()), "{action} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_category_in_use_cannot_be_deleted_and_the_refusal_says_by_what() {
    let (app, key) = setup().await;
    put(
        &app,
        &key,
        "categories",
        "user.contact.email",
        email_category(),
    )
    .await;
    put(&app, &key, "purposes", "billing", json!({"key": "billing", "name": "Billing", "legal_basis": "contract", "categories": ["user.contact.email"]})).await;
    put(&app, &key, "retention-rules", "r1", json!({"key": "r1", "category": "user.contact.email", "trigger": "collected", "days": 90, "action": "anonymize", "transforms": [{"field": "email", "op": "pseudonym"}]})).await;
    let (status, problem) = delete(&app, &key, "categories", "user.contact.email").await;
    assert_eq!(status, 409);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("purpose 'billing'") && detail.contains("retention rule 'r1'"),
        "{detail}"
    );
    let whole: Value = app
        .client
        .get(app.url("/api/v1/inventory"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        whole["categories"].as_array().unwrap().len(),
        1,
        "nothing was deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_items_are_refused_whole_with_every_problem_named() {
    let (app, key) = setup().await;
    put(
        &app,
        &key,
        "categories",
        "user.contact.email",
        email_category(),
    )
    .await;
    let before = app.audit_actions().len();
    // Legitimate interest without a balancing note, and a category that does not exist.
    let (status, problem) = put(&app, &key, "purposes", "fraud", json!({"key": "fraud", "name": "Fraud prevention",
        "legal_basis": "legitimate_interests", "categories": ["user.contact.email", "user.device.ip_address"]})).await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["balancing_note"], "{problem}");
    let (status, problem) = put(
        &app,
        &key,
        "purposes",
        "fraud",
        json!({"key": "fraud", "name": "Fraud prevention",
        "legal_basis": "legitimate_interests", "balancing_note": "Abuse harms every customer.",
        "categories": ["user.contact.email", "user.device.ip_address"]}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("'user.device.ip_address' is not a data category")
    );
    // The key in the body must be the key in the address.
    let (status, problem) = put(&app, &key, "categories", "user.name", email_category()).await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["field"], "key");
    // Unknown fields and values are refused, not ignored.
    let mut extra = email_category();
    extra["colour"] = json!("blue");
    assert_eq!(
        put(&app, &key, "categories", "user.contact.email", extra)
            .await
            .0,
        422
    );
    let mut bad = email_category();
    bad["sensitivity"] = json!("secret");
    assert_eq!(
        put(&app, &key, "categories", "user.contact.email", bad)
            .await
            .0,
        422
    );
    let mut preview = email_category();
    preview["fields"] = json!([{"name": "preview", "handling": "preview"}]);
    let (status, problem) = put(&app, &key, "categories", "user.contact.email", preview).await;
    assert_eq!(status, 422);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("preview_chars")
    );
    assert_eq!(app.audit_actions().len(), before, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_needs_inventory_read_and_writing_inventory_write() {
    let (app, _) = setup().await;
    let reader = app.api_key("aulm", &["inventory:read"]);
    let other = app.api_key("aulm", &["records:read"]);
    assert_eq!(
        app.client
            .get(app.url("/api/v1/inventory"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/api/v1/inventory"))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let (status, problem) = put(
        &app,
        &reader,
        "categories",
        "user.contact.email",
        email_category(),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("inventory:write")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_taxonomy_offers_fideslang_keys() {
    let (app, key) = setup().await;
    let list: Value = app
        .client
        .get(app.url("/api/v1/inventory/taxonomy"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    for k in [
        "user.contact.email",
        "user.device.ip_address",
        "user.financial",
        "user.device.cookie_id",
    ] {
        assert!(keys.contains(&k), "{k} missing");
    }
    // A suggested key is accepted as is.
    let (status, _) = put(
        &app,
        &key,
        "categories",
        "user.contact.phone_number",
        json!({"key": "user.contact.phone_number", "name": "Phone", "sensitivity": "normal"}),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_bidi_overrides_or_zero_width_characters_are_refused() {
    let (app, key) = setup().await;
    for name in [
        "Pay\u{202E}lap",
        "Pay\u{200D}Pal",
        "Pay\u{200B}Pal",
        "\u{2066}PayPal",
    ] {
        let (status, body) = put(
            &app,
            &key,
            "recipients",
            "payco",
            json!({"key": "payco", "name": name, "role": "processor", "country": "DE", "safeguard": "not_a_transfer",
                   "purpose": "Payments"}),
        )
        .await;
        assert_eq!(status, 422, "{name:?}: {body}");
        assert!(body.to_string().contains("invisible"), "{body}");
    }
    // The public policy never saw them: nothing was stored.
    let (status, body) = put(
        &app,
        &key,
        "recipients",
        "payco",
        json!({"key": "payco", "name": "PayPal", "role": "processor", "country": "DE", "safeguard": "not_a_transfer",
               "purpose": "Payments"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}
