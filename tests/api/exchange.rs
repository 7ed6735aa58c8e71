//! The inventory out and in: records of processing (JSON and CSV) and the fideslang exchange
//! (export, import into another workspace, malformed and invalid documents, scopes).

use crate::helpers::{TestApp, spawn_app};
use serde_json::{Value, json};

const RW: &[&str] = &["inventory:read", "inventory:write"];

async fn put(app: &TestApp, key: &str, kind: &str, body: Value) {
    let item_key = body["key"].as_str().unwrap().to_owned();
    let res = app
        .client
        .put(app.url(&format!("/api/v1/inventory/{kind}/{item_key}")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "{kind} {item_key}: {}",
        res.text().await.unwrap()
    );
}

/// Two categories, a purpose using both, one under legitimate interests, a system, a recipient
/// in the US under SCCs and one in the EU, a retention rule and a legal hold.
async fn small_inventory(app: &TestApp, key: &str) {
    for body in [
        json!({"key": "user.contact.email", "name": "E-mail address", "subject_kinds": ["customer"],
               "source": "provided by the person", "sensitivity": "normal",
               "fields": [{"name": "email", "handling": "keep"}]}),
        json!({"key": "user.financial", "name": "Billing details", "subject_kinds": ["customer", "payer"],
               "sensitivity": "high", "description": "Card brand, last four digits, \"billing\" address"}),
        json!({"key": "user.device.ip_address", "name": "IP address", "subject_kinds": ["visitor"],
               "sensitivity": "normal"}),
    ] {
        put(app, key, "categories", body).await;
    }
    put(
        app,
        key,
        "purposes",
        json!({"key": "billing", "name": "Billing, invoicing", "legal_basis": "contract",
        "categories": ["user.contact.email", "user.financial"]}),
    )
    .await;
    put(
        app,
        key,
        "purposes",
        json!({"key": "abuse", "name": "Abuse prevention",
        "legal_basis": "legitimate_interests", "balancing_note": "Only network data is used.",
        "categories": ["user.device.ip_address"]}),
    )
    .await;
    put(
        app,
        key,
        "systems",
        json!({"key": "main-db", "name": "Main database", "location": "EU (Germany)",
        "categories": ["user.contact.email", "user.financial", "user.device.ip_address"]}),
    )
    .await;
    put(app, key, "recipients", json!({"key": "payments", "name": "PayCo", "role": "processor",
        "purpose": "card payments", "country": "US", "safeguard": "sccs", "categories": ["user.financial"]})).await;
    put(
        app,
        key,
        "recipients",
        json!({"key": "hosting", "name": "EuroHost", "role": "processor",
        "purpose": "hosting", "country": "DE", "safeguard": "not_a_transfer",
        "categories": ["user.contact.email", "user.device.ip_address"]}),
    )
    .await;
    put(
        app,
        key,
        "retention-rules",
        json!({"key": "email-after-close", "category": "user.contact.email",
        "trigger": "account_closed", "days": 30, "action": "delete"}),
    )
    .await;
    put(
        app,
        key,
        "legal-holds",
        json!({"key": "tax", "category": "user.financial",
        "reason": "Tax law", "until": "2033-12-31"}),
    )
    .await;
}

async fn setup() -> (TestApp, String) {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let key = app.api_key("aulm", RW);
    small_inventory(&app, &key).await;
    (app, key)
}

async fn import(app: &TestApp, key: &str, content_type: &str, yaml: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url("/api/v1/inventory/fideslang"))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(yaml.to_owned())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn inventory_of(app: &TestApp, slug: &str) -> lethe::domain::inventory::Inventory {
    app.db
        .read(|c| lethe::store::inventory::load(c, &app.scope(slug)))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ropa_as_json_has_a_record_per_purpose() {
    let (app, key) = setup().await;
    let res = app
        .client
        .get(app.url("/api/v1/inventory/ropa"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ropa: Value = res.json().await.unwrap();
    assert_eq!(ropa["controller"]["legal_name"], "aulm Ltd");
    assert_eq!(ropa["controller"]["contact_email"], "privacy@aulm.example");
    assert!(ropa["generated_at"].is_string());
    let records = ropa["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    let billing = records
        .iter()
        .find(|r| r["purpose_key"] == "billing")
        .unwrap();
    assert_eq!(billing["legal_basis"], "Contract (Art. 6(1)(b))");
    assert_eq!(billing["subject_kinds"], json!(["customer", "payer"]));
    let mut keys: Vec<&str> = billing["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    keys.sort();
    assert_eq!(keys, ["user.contact.email", "user.financial"]);
    let mut recipients: Vec<&str> = billing["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    recipients.sort();
    assert_eq!(recipients, ["EuroHost", "PayCo"]);
    assert_eq!(
        billing["transfers"],
        json!([{"recipient": "PayCo", "country": "US",
                "safeguard": "standard contractual clauses (Art. 46(2)(c))"}])
    );
    assert!(
        billing["retention"].as_array().unwrap().contains(&json!({
            "category": "E-mail address", "rule": "email-after-close",
            "text": "deleted 30 days after the account closes; runs @daily (UTC)"
        })),
        "{}",
        billing["retention"]
    );
    assert_eq!(
        billing["legal_holds"],
        json!(["Tax law: Billing details, until 2033-12-31"])
    );
    assert!(!billing["security_measures"].as_array().unwrap().is_empty());
    let abuse = records
        .iter()
        .find(|r| r["purpose_key"] == "abuse")
        .unwrap();
    assert_eq!(abuse["balancing_note"], "Only network data is used.");
    assert_eq!(abuse["transfers"], json!([]));

    // `format=json` is the default spelled out; anything else is refused.
    let res = app
        .client
        .get(app.url("/api/v1/inventory/ropa?format=json"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .get(app.url("/api/v1/inventory/ropa?format=xlsx"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ropa_as_csv_is_an_attachment_that_parses() {
    let (app, key) = setup().await;
    let res = app
        .client
        .get(app.url("/api/v1/inventory/ropa?format=csv"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        res.headers()["content-disposition"].to_str().unwrap(),
        "attachment; filename=\"ropa-aulm.csv\""
    );
    let body = res.bytes().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_ref());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    for column in [
        "purpose",
        "legal_basis",
        "data_category_keys",
        "recipients",
        "transfers_outside_eea",
        "retention",
    ] {
        assert!(header.iter().any(|h| h == column), "{column} in {header:?}");
    }
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(rows.len(), 2);
    let billing = rows
        .iter()
        .find(|r| &r[col("purpose_key")] == "billing")
        .unwrap();
    // The purpose's name has a comma: quoted by the writer, whole when read back.
    assert_eq!(&billing[col("purpose")], "Billing, invoicing");
    assert_eq!(
        &billing[col("data_category_keys")],
        "user.contact.email; user.financial"
    );
    assert!(billing[col("recipients")].contains("PayCo (processor, US)"));
    assert_eq!(
        &billing[col("transfers_outside_eea")],
        "PayCo (US): standard contractual clauses (Art. 46(2)(c))"
    );
    assert!(
        billing[col("retention")]
            .contains("E-mail address: deleted 30 days after the account closes"),
        "{}",
        &billing[col("retention")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fideslang_export_imports_into_another_workspace_unchanged() {
    let (app, key) = setup().await;
    let res = app
        .client
        .get(app.url("/api/v1/inventory/fideslang"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/yaml")
    );
    let yaml = res.text().await.unwrap();
    assert!(yaml.contains("CC BY 4.0"), "attribution: {yaml}");
    let doc: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let use_of = |k: &str| {
        doc["data_use"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["fides_key"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(use_of("billing")["legal_basis"], "Contract");
    assert_eq!(use_of("abuse")["legal_basis"], "Legitimate Interests");
    let email = doc["data_category"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["fides_key"] == "user.contact.email")
        .unwrap();
    assert_eq!(
        email["parent_key"], "user.contact",
        "the parent its key implies, as fideslang requires, though the document lacks it"
    );
    let financial = doc["data_category"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["fides_key"] == "user.financial")
        .unwrap();
    assert_eq!(financial["parent_key"], "user", "a fideslang top level");
    let declarations = doc["system"][0]["privacy_declarations"].as_array().unwrap();
    assert_eq!(declarations.len(), 2);
    let subjects: Vec<&str> = doc["data_subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["fides_key"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["customer", "payer", "visitor"]);

    let owner = app.create_admin("bo@example.org");
    app.create_workspace(owner, "copy");
    let copy_key = app.api_key("copy", RW);
    let (status, summary) = import(&app, &copy_key, "application/yaml", &yaml).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["categories"]["created"], 3);
    assert_eq!(summary["purposes"]["created"], 2);
    assert_eq!(summary["systems"]["created"], 1);
    let (source, copy) = (inventory_of(&app, "aulm"), inventory_of(&app, "copy"));
    assert_eq!(copy.categories, source.categories);
    assert_eq!(copy.purposes, source.purposes);
    assert_eq!(copy.systems, source.systems);
    assert!(
        copy.recipients.is_empty(),
        "recipients are not part of fideslang"
    );
    assert!(app.audit_actions().contains(&"inventory.import".to_owned()));

    // Importing the same document again replaces, with text/yaml too.
    let (status, summary) = import(&app, &copy_key, "text/yaml; charset=utf-8", &yaml).await;
    assert_eq!(status, 200);
    assert_eq!(summary["categories"]["replaced"], 3);
    assert_eq!(summary["categories"]["created"], 0);
    assert_eq!(inventory_of(&app, "copy").purposes, source.purposes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_invalid_documents_write_nothing() {
    let (app, key) = setup().await;
    let before = inventory_of(&app, "aulm");
    let audit_before = app.audit_actions();

    let (status, problem) =
        import(&app, &key, "application/yaml", "data_category: [unclosed").await;
    assert_eq!(status, 400, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("YAML"));

    // Valid items before and after an invalid one: none of them is written.
    let yaml = "
data_category:
  - fides_key: user.new
    name: New
  - fides_key: User.Bad
    name: Bad key
data_use:
  - fides_key: newsletter
    name: Newsletter
    lethe: {categories: [user.new]}
  - fides_key: profiling
    name: Profiling
    legal_basis: Legitimate Interests
system:
  - fides_key: crm
    name: CRM
    privacy_declarations:
      - data_use: newsletter
        data_categories: [user.nowhere]
";
    let (status, problem) = import(&app, &key, "application/yaml", yaml).await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "data_category[1].fides_key",
        "data_use[1].lethe.balancing_note",
        "system[0].privacy_declarations[0].data_categories",
    ] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    assert!(
        !fields.contains(&"data_use[0].legal_basis"),
        "a data use without a basis is brought in awaiting one: {fields:?}"
    );

    // Not YAML at all: 415.
    let (status, _) = import(&app, &key, "application/json", "{}").await;
    assert_eq!(status, 415);

    assert_eq!(inventory_of(&app, "aulm"), before, "inventory unchanged");
    assert_eq!(app.audit_actions(), audit_before, "audit log unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_needs_its_scopes() {
    let (app, _) = setup().await;
    let reader = app.api_key("aulm", &["inventory:read"]);
    let other = app.api_key("aulm", &["records:read"]);
    for path in [
        "/api/v1/inventory/ropa",
        "/api/v1/inventory/ropa?format=csv",
        "/api/v1/inventory/fideslang",
    ] {
        let status = |key: String| {
            let req = app.client.get(app.url(path)).bearer_auth(key);
            async move { req.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(status(reader.clone()).await, 200, "{path}");
        assert_eq!(status(other.clone()).await, 403, "{path}");
    }
    let yaml = "data_category:\n  - fides_key: user.x\n    name: X\n";
    let (status, problem) = import(&app, &reader, "application/yaml", yaml).await;
    assert_eq!(status, 403);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("inventory:write")
    );
    let res = app
        .client
        .post(app.url("/api/v1/inventory/fideslang"))
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        !inventory_of(&app, "aulm")
            .categories
            .iter()
            .any(|c| c.key == "user.x")
    );
}
