//! An import previewed before it is made: the API's dry run and the console's preview step say
//! what a fideslang document would create, replace and leave, and change nothing.

use crate::helpers::{TestApp, location, spawn_app};
use lethe::domain::inventory::Inventory;
use serde_json::{Value, json};

/// Three categories and a purpose, an owner signed in to the console.
async fn setup() -> (TestApp, String, reqwest::Client) {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let key = app.api_key("aulm", &["inventory:read", "inventory:write"]);
    for (kind, body) in [
        (
            "categories",
            json!({"key": "user.contact.email", "name": "E-mail address", "sensitivity": "normal"}),
        ),
        (
            "categories",
            json!({"key": "user.name", "name": "Name", "sensitivity": "normal"}),
        ),
        (
            "categories",
            json!({"key": "user.device.ip_address", "name": "IP address", "sensitivity": "normal"}),
        ),
        (
            "purposes",
            json!({"key": "billing", "name": "Billing", "legal_basis": "contract",
                   "categories": ["user.contact.email"]}),
        ),
    ] {
        let res = app
            .client
            .put(app.url(&format!(
                "/api/v1/inventory/{kind}/{}",
                body["key"].as_str().unwrap()
            )))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let owner = app.logged_in("ada@example.org").await;
    (app, key, owner)
}

/// One category the same, one renamed, one new; nothing about the IP address or the purpose.
const DOCUMENT: &str = "\
data_category:
  - fides_key: user.contact.email
    name: E-mail address
  - fides_key: user.name
    name: Full name
  - fides_key: user.financial
    name: Billing details & \"invoices\"
";

fn inventory(app: &TestApp) -> Inventory {
    app.db
        .read(|c| lethe::store::inventory::load(c, &app.scope("aulm")))
        .unwrap()
}

async fn import(app: &TestApp, key: &str, query: &str, yaml: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/inventory/fideslang{query}")))
        .bearer_auth(key)
        .header("content-type", "application/yaml")
        .body(yaml.to_owned())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_says_what_the_import_would_do_and_changes_nothing() {
    let (app, key, _) = setup().await;
    let before = inventory(&app);
    let audited = app.audit_actions().len();

    let (status, plan) = import(&app, &key, "?dry_run=true", DOCUMENT).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(
        plan["categories"],
        json!({
            "create": ["user.financial"],
            "replace": [{"key": "user.name", "fields": ["name"]}],
            "unchanged": ["user.contact.email"],
            "untouched": ["user.device.ip_address"],
        })
    );
    assert_eq!(
        plan["purposes"],
        json!({"create": [], "replace": [], "unchanged": [], "untouched": ["billing"]})
    );
    assert_eq!(inventory(&app), before, "a dry run writes nothing");
    assert_eq!(app.audit_actions().len(), audited, "nor audits anything");

    // The same checks as an import: an invalid document is refused the same way.
    // (A data use without a basis is no longer invalid: it awaits one.)
    let invalid =
        "data_use:\n  - fides_key: marketing\n    name: Marketing\n    legal_basis: Because\n";
    let (status, problem) = import(&app, &key, "?dry_run=true", invalid).await;
    assert_eq!(status, 422, "{problem}");
    assert!(problem.to_string().contains("data_use[0]"), "{problem}");
    let (status, _) = import(&app, &key, "?dry_run=maybe", DOCUMENT).await;
    assert_eq!(status, 422);
    assert_eq!(inventory(&app), before);

    // Without dry_run, the import does what the dry run said.
    let (status, summary) = import(&app, &key, "?dry_run=false", DOCUMENT).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["categories"]["created"], 1);
    let after = inventory(&app);
    let name = after.categories.iter().find(|c| c.key == "user.name");
    assert_eq!(name.map(|c| c.name.as_str()), Some("Full name"));
    assert!(after.categories.iter().any(|c| c.key == "user.financial"));
    assert!(
        after
            .categories
            .iter()
            .any(|c| c.key == "user.device.ip_address")
    );
    // Now the same document changes nothing.
    let (_, plan) = import(&app, &key, "?dry_run=true", DOCUMENT).await;
    assert_eq!(plan["categories"]["create"], json!([]));
    assert_eq!(plan["categories"]["replace"], json!([]));
}

/// The value of the hidden field `name` on a page, unescaped.
fn hidden(page: &str, name: &str) -> String {
    let raw = page
        .split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default();
    raw.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_previews_an_import_before_it_is_confirmed() {
    let (app, key, owner) = setup().await;
    let before = inventory(&app);
    let (_, _, overview) = app.page(&owner, "/console/w/aulm/inventory").await;
    assert!(overview.contains("/console/w/aulm/inventory/import"));
    let (status, csrf, form) = app.page(&owner, "/console/w/aulm/inventory/import").await;
    assert_eq!(status, 200);
    assert!(form.contains("name=\"document\""));

    // A forged preview is refused; a malformed document is named and nothing changes.
    let preview = "/console/w/aulm/inventory/import/preview";
    let res = app
        .post_form(
            &owner,
            preview,
            &[("document", DOCUMENT), ("csrf", "forged")],
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = app
        .post_form(
            &owner,
            preview,
            &[("document", "data_category: [unclosed"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("not valid YAML"));

    let res = app
        .post_form(&owner, preview, &[("document", DOCUMENT), ("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    for shown in [
        "<code class=\"create\">user.financial</code>",
        "<code class=\"replace\">user.name</code>: name differ",
        "<code class=\"unchanged\">user.contact.email</code>",
        "<code class=\"untouched\">user.device.ip_address</code>",
        "<code class=\"untouched\">billing</code>",
        "Import: create 1, replace 1",
    ] {
        assert!(page.contains(shown), "{shown} not in {page}");
    }
    assert_eq!(inventory(&app), before, "a preview writes nothing");
    assert_eq!(
        hidden(&page, "document"),
        DOCUMENT,
        "the document is carried"
    );
    let seen = hidden(&page, "seen");

    // Confirmed, it imports.
    let confirm = "/console/w/aulm/inventory/import";
    let res = app
        .post_form(
            &owner,
            confirm,
            &[("document", DOCUMENT), ("seen", &seen), ("csrf", "forged")],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(inventory(&app), before);
    let document = hidden(&page, "document");
    let res = app
        .post_form(
            &owner,
            confirm,
            &[("document", &document), ("seen", &seen), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/w/aulm/inventory?done=imported");
    let after = inventory(&app);
    assert!(
        after
            .categories
            .iter()
            .any(|c| c.key == "user.financial" && c.name == "Billing details & \"invoices\"")
    );
    assert!(app.audit_actions().contains(&"inventory.import".to_owned()));

    // A preview made before the inventory changed is shown again, not imported.
    let res = app
        .post_form(&owner, preview, &[("document", DOCUMENT), ("csrf", &csrf)])
        .await;
    let seen = hidden(&res.text().await.unwrap(), "seen");
    let res = app
        .client
        .put(app.url("/api/v1/inventory/categories/user.name"))
        .bearer_auth(&key)
        .json(&json!({"key": "user.name", "name": "Someone's name", "sensitivity": "normal"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .post_form(
            &owner,
            confirm,
            &[("document", DOCUMENT), ("seen", &seen), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 409);
    let page = res.text().await.unwrap();
    assert!(page.contains("The inventory changed since"), "{page}");
    assert!(page.contains("<code class=\"replace\">user.name</code>"));
    let name = inventory(&app)
        .categories
        .into_iter()
        .find(|c| c.key == "user.name")
        .map(|c| c.name);
    assert_eq!(name.as_deref(), Some("Someone's name"));
}
