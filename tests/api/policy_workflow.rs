//! A readable policy workflow: line ends that do not matter, a diff of the text as people read it
//! (against the version in force), each version's state, deleting drafts, and the public banner.

use crate::helpers::{TestApp, location, spawn_app};
use serde_json::{Value, json};

/// A workspace with a complete small inventory (a category with its purpose and retention
/// rule), a key, and a privacy officer signed in to the console.
async fn setup() -> (TestApp, String, reqwest::Client) {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    app.add_member("aulm", "dpo@example.org", "privacy_officer");
    let key = app.api_key("aulm", &["inventory:read", "inventory:write"]);
    for (kind, body) in [
        (
            "categories",
            json!({"key": "user.contact.email", "name": "E-mail address", "description": "to log in",
                   "subject_kinds": ["customer"], "source": "you", "sensitivity": "normal"}),
        ),
        (
            "purposes",
            json!({"key": "account", "name": "Your account", "legal_basis": "contract",
                   "categories": ["user.contact.email"]}),
        ),
        (
            "retention-rules",
            json!({"key": "email-after-close", "category": "user.contact.email",
                   "trigger": "account_closed", "days": 30, "action": "delete"}),
        ),
    ] {
        let (status, body) = app
            .call(
                &key,
                reqwest::Method::PUT,
                &format!("/api/v1/inventory/{kind}/{}", body["key"].as_str().unwrap()),
                Some(body),
            )
            .await;
        assert!(status == 201 || status == 200, "{kind}: {body}");
    }
    let dpo = app.logged_in("dpo@example.org").await;
    (app, key, dpo)
}

async fn draft(app: &TestApp, key: &str, markdown: &str, summary: &str) -> i64 {
    let (status, body) = app
        .call(
            key,
            reqwest::Method::POST,
            "/api/v1/policies",
            Some(json!({"markdown": markdown, "summary": summary})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["version"].as_i64().unwrap()
}

async fn publish(app: &TestApp, key: &str, version: i64, effective_at: Option<String>) {
    let (status, body) = app
        .call(
            key,
            reqwest::Method::POST,
            &format!("/api/v1/policies/{version}/publish"),
            Some(json!({ "effective_at": effective_at })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn state_of(app: &TestApp, key: &str, version: i64) -> String {
    let (_, body) = app
        .call(
            key,
            reqwest::Method::GET,
            &format!("/api/v1/policies/{version}"),
            None,
        )
        .await;
    body["state"].as_str().unwrap_or_default().to_owned()
}

const TEMPLATE: &str = "# Privacy policy of {{ legal_name }}\n\n\
We keep what we need and nothing more.\nAsk us anything.\n\n\
## What we collect\n\n{{ categories_table() }}\n\n## Your rights\n\n{{ rights() }}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_saved_from_the_browser_diffs_cleanly_against_the_same_text_from_the_api() {
    let (app, key, dpo) = setup().await;
    let api_version = draft(&app, &key, TEMPLATE, "").await;
    // The console's textarea sends CRLF line ends.
    let (_, csrf, _) = app.page(&dpo, "/console/w/aulm/policy").await;
    let res = app
        .post_form(&dpo, "/console/w/aulm/policy/new", &[("csrf", &csrf)])
        .await;
    let browser_version: i64 = location(&res).rsplit('/').next().unwrap().parse().unwrap();
    let crlf = TEMPLATE.replace('\n', "\r\n");
    let res = app
        .post_form(
            &dpo,
            &format!("/console/w/aulm/policy/{browser_version}"),
            &[("markdown", &crlf), ("summary", ""), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);

    let (_, stored) = app
        .call(
            &key,
            reqwest::Method::GET,
            &format!("/api/v1/policies/{browser_version}"),
            None,
        )
        .await;
    assert_eq!(stored["markdown"], TEMPLATE, "stored with LF line ends");
    let (status, diff) = app
        .call(
            &key,
            reqwest::Method::GET,
            &format!("/api/v1/policies/{browser_version}/diff?against={api_version}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{diff}");
    let lines = diff["lines"].as_array().unwrap();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["op"] == "="), "{diff}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_diff_reads_like_the_policy_marks_the_changed_word_and_defaults_to_the_version_in_force()
 {
    let (app, key, dpo) = setup().await;
    let v1 = draft(&app, &key, TEMPLATE, "").await;
    publish(&app, &key, v1, None).await;
    let (status, _) = app.call(&key,
        reqwest::Method::PUT,
        "/api/v1/inventory/categories/user.contact.email",
        Some(json!({"key": "user.contact.email", "name": "E-mail address", "description": "to sign in",
               "subject_kinds": ["customer"], "source": "you", "sensitivity": "normal"})),
    )
    .await;
    assert_eq!(status, 200);
    // Two drafts: the later one is read against the version in force, not the draft before it.
    let v2 = draft(&app, &key, &TEMPLATE.replace("Ask us", "Write to us"), "").await;
    let v3 = draft(&app, &key, TEMPLATE, "").await;
    let (status, diff) = app
        .call(
            &key,
            reqwest::Method::GET,
            &format!("/api/v1/policies/{v3}/diff"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff["older"], v1, "{diff}");
    assert_eq!(diff["newer"], v3);
    let lines = diff["lines"].as_array().unwrap();
    for l in lines {
        assert!(!l["text"].as_str().unwrap().contains('|'), "pipes: {l}");
        for cell in l["cells"].as_array().unwrap() {
            for w in cell.as_array().unwrap() {
                assert!(!w["text"].as_str().unwrap().contains('|'), "pipes: {l}");
            }
        }
    }
    let changed: Vec<&Value> = lines.iter().filter(|l| l["op"] != "=").collect();
    assert_eq!(changed.len(), 1, "only the table row changed: {diff}");
    let row = changed[0];
    assert_eq!((&row["op"], &row["kind"]), (&json!("~"), &json!("row")));
    let words: Vec<(&str, &str)> = row["cells"][1]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["op"].as_str().unwrap(), w["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        words,
        [("=", "to "), ("-", "log"), ("+", "sign"), ("=", " in")]
    );
    // Headings and list items are text, not Markdown.
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "heading" && l["text"] == "What we collect")
    );
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "item" && l["text"].as_str().unwrap().starts_with("Access: "))
    );

    // Any two versions can still be compared.
    let (_, diff) = app
        .call(
            &key,
            reqwest::Method::GET,
            &format!("/api/v1/policies/{v3}/diff?against={v2}"),
            None,
        )
        .await;
    assert_eq!(diff["older"], v2);
    let ops: Vec<&Value> = diff["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["op"] != "=")
        .collect();
    assert_eq!(ops.len(), 1, "{diff}");
    assert_eq!(
        ops[0]["text"],
        "We keep what we need and nothing more. Ask us anything."
    );

    // The console shows the same, words marked, and the list links to it by the version in force.
    let (status, _, page) = app
        .page(&dpo, &format!("/console/w/aulm/policy/{v3}/diff"))
        .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Changes from version 1 to version 3"),
        "{page}"
    );
    assert!(page.contains("<del>log</del><ins>sign</ins>"), "{page}");
    let table = page.split("<table class=\"diff\">").nth(1).unwrap();
    assert!(!table.contains('|'), "{table}");
    let (_, _, page) = app
        .page(
            &dpo,
            &format!("/console/w/aulm/policy/{v3}/diff?against={v2}"),
        )
        .await;
    assert!(
        page.contains("Changes from version 2 to version 3"),
        "{page}"
    );
    let (_, _, list) = app.page(&dpo, "/console/w/aulm/policy").await;
    assert!(list.contains(&format!(
        "<a href=\"/console/w/aulm/policy/{v3}/diff\">changes since 1</a>"
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_goes_from_draft_to_scheduled_to_in_force_to_superseded() {
    let (app, key, dpo) = setup().await;
    let v1 = draft(&app, &key, TEMPLATE, "").await;
    assert_eq!(state_of(&app, &key, v1).await, "draft");
    publish(&app, &key, v1, None).await;
    assert_eq!(state_of(&app, &key, v1).await, "in_force");

    let v2 = draft(&app, &key, TEMPLATE, "Clearer wording").await;
    let starts = chrono::Utc::now() + chrono::Duration::seconds(3);
    publish(&app, &key, v2, Some(starts.to_rfc3339())).await;
    let (_, list) = app
        .call(&key, reqwest::Method::GET, "/api/v1/policies", None)
        .await;
    let states: Vec<(i64, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_i64().unwrap(), v["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [(v2, "scheduled"), (v1, "in_force")]);
    let (_, _, console) = app.page(&dpo, "/console/w/aulm/policy").await;
    assert!(console.contains("<td>scheduled</td>"), "{console}");
    let history = app.public_page("/p/aulm/privacy/history").await;
    assert!(history.contains("<td>scheduled</td>"), "{history}");

    let wait = starts - chrono::Utc::now() + chrono::Duration::milliseconds(200);
    tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
    assert_eq!(state_of(&app, &key, v2).await, "in_force");
    assert_eq!(state_of(&app, &key, v1).await, "superseded");
    let (_, _, page) = app
        .page(&dpo, &format!("/console/w/aulm/policy/{v1}"))
        .await;
    assert!(page.contains(&format!("Policy version {v1} (superseded)")));
    let history = app.public_page("/p/aulm/privacy/history").await;
    assert!(
        history.contains("<td><strong>in force</strong></td>")
            && history.contains("<td>superseded</td>"),
        "{history}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_can_be_deleted_and_a_published_version_cannot() {
    let (app, key, dpo) = setup().await;
    let v1 = draft(&app, &key, TEMPLATE, "").await;
    publish(&app, &key, v1, None).await;
    let v2 = draft(&app, &key, TEMPLATE, "").await;

    let res = app
        .client
        .delete(app.url(&format!("/api/v1/policies/{v2}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, _) = app
        .call(
            &key,
            reqwest::Method::GET,
            &format!("/api/v1/policies/{v2}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert!(
        app.audit_actions()
            .contains(&"policy.draft_delete".to_owned())
    );
    // Its number is not given out again.
    let v3 = draft(&app, &key, TEMPLATE, "").await;
    assert_eq!(v3, v2 + 1);

    let res = app
        .client
        .delete(app.url(&format!("/api/v1/policies/{v1}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let (status, _) = app
        .call(
            &key,
            reqwest::Method::GET,
            &format!("/api/v1/policies/{v1}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "the published version is still there");

    // The console: a draft's page has the button; a forged post without the token does nothing.
    let (_, csrf, page) = app
        .page(&dpo, &format!("/console/w/aulm/policy/{v3}"))
        .await;
    let action = format!("/console/w/aulm/policy/{v3}/delete");
    assert!(page.contains(&action));
    let res = app.post_form(&dpo, &action, &[("csrf", "forged")]).await;
    assert_eq!(res.status(), 403);
    assert_eq!(state_of(&app, &key, v3).await, "draft");
    let res = app.post_form(&dpo, &action, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/w/aulm/policy");
    assert_eq!(state_of(&app, &key, v3).await, "");
    let (_, _, page) = app
        .page(&dpo, &format!("/console/w/aulm/policy/{v1}"))
        .await;
    assert!(!page.contains(&format!("/console/w/aulm/policy/{v1}/delete")));
    let res = app
        .post_form(
            &dpo,
            &format!("/console/w/aulm/policy/{v1}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banner_announcing_a_new_version_ends_in_one_full_stop() {
    let (app, key, _) = setup().await;
    let v1 = draft(&app, &key, TEMPLATE, "").await;
    publish(&app, &key, v1, None).await;
    // A summary typed as a sentence, with its own full stop.
    let v2 = draft(&app, &key, TEMPLATE, "We now say who receives your data.").await;
    let later = chrono::Utc::now() + chrono::Duration::days(40);
    publish(&app, &key, v2, Some(later.to_rfc3339())).await;
    let page = app.public_page("/p/aulm/privacy").await;
    let banner = page
        .split("<p class=\"notice\" role=\"note\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .expect("the banner");
    assert!(
        banner.contains(": We now say who receives your data."),
        "{banner}"
    );
    assert!(!page.contains(".."), "{banner}");
}

/// Every `$ref` in `value`, e.g. `#/components/schemas/PolicyDiff`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_states_diffs_deleting_drafts_and_dry_runs() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    assert!(
        doc["paths"]["/api/v1/policies/{version}"]["delete"].is_object(),
        "DELETE of a draft"
    );
    let dry_run = doc["paths"]["/api/v1/inventory/fideslang"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "dry_run" && p["in"] == "query");
    assert!(dry_run, "the dry_run parameter");
    assert!(schemas["PolicySummary"]["properties"]["state"].is_object());
    assert!(schemas["ImportPlan"]["properties"]["categories"].is_object());
    assert!(schemas["PolicyDiff"]["properties"]["lines"].is_object());
    let mut all = Vec::new();
    refs(&doc, &mut all);
    let undefined: Vec<&String> = all
        .iter()
        .filter(|r| !schemas[r.trim_start_matches("#/components/schemas/")].is_object())
        .collect();
    assert!(undefined.is_empty(), "not defined: {undefined:?}");
}
