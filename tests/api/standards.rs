//! Standards checked by their own validators, not by our reading of them: the fideslang export
//! by the `fideslang` package (Fides's own models), the OpenAPI document by
//! `openapi-spec-validator`. Both are Python packages that `scripts/test` installs; a test that
//! finds one missing fails and says so, rather than passing without having checked anything.

use crate::helpers::{TestApp, spawn_app};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const RW: &[&str] = &["inventory:read", "inventory:write"];

/// Fails the test, naming the fix, when the Python package is not importable.
pub(crate) fn require_python_package(module: &str, pip: &str) {
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output();
    match found {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "the Python package {pip} is missing (import {module}: {}); run scripts/test, which \
             installs it, or pip install {pip}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        ),
        Err(e) => panic!("python3 could not be run ({e}); this test needs it with {pip}"),
    }
}

fn tool(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tools")
        .join(name)
}

fn fideslang_check(args: &[&str]) -> Output {
    require_python_package("fideslang", "fideslang==3.1.4");
    Command::new("python3")
        .arg(tool("fideslang_check.py"))
        .args(args)
        .output()
        .expect("python3 runs")
}

/// Runs fideslang's models over a document; the test fails with fideslang's own words.
fn assert_fideslang_accepts(what: &str, yaml: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = fideslang_check(&["validate", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "fideslang refuses the export of {what}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn export(app: &TestApp, key: &str) -> String {
    let res = app
        .client
        .get(app.url("/api/v1/inventory/fideslang"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fideslang_accepts_every_demo_export() {
    let app = spawn_app().await;
    lethe::services::demo::load(&app.db, &app.vault).unwrap();
    for slug in ["aulm", "aufum"] {
        let key = app.api_key(slug, &["inventory:read"]);
        let yaml = export(&app, &key).await;
        assert!(
            yaml.contains("data_subject:"),
            "kinds of person travel: {yaml}"
        );
        assert_fideslang_accepts(slug, &yaml);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fideslangs_default_taxonomy_imports_its_uses_awaiting_a_basis() {
    let out = fideslang_check(&["default-taxonomy"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let taxonomy = String::from_utf8(out.stdout).unwrap();
    let items = |kind: &str| {
        let doc: Value = serde_yaml_ng::from_str(&taxonomy).unwrap();
        doc[kind].as_array().unwrap().len()
    };
    let (categories, uses) = (items("data_category"), items("data_use"));
    assert!(categories > 50 && uses > 30, "the whole taxonomy");

    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "fides");
    let key = app.api_key("fides", RW);
    let res = app
        .client
        .post(app.url("/api/v1/inventory/fideslang"))
        .bearer_auth(&key)
        .header("content-type", "application/yaml")
        .body(taxonomy.clone())
        .send()
        .await
        .unwrap();
    let status = res.status();
    let summary: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["categories"]["created"], categories);
    assert_eq!(summary["purposes"]["created"], uses);

    // Fides's data uses carry no legal basis: each one awaits its basis, an error of the check.
    let (status, findings) = app
        .call(&key, reqwest::Method::GET, "/api/v1/inventory/check", None)
        .await;
    assert_eq!(status, 200);
    let awaiting = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["field"] == "legal_basis" && f["severity"] == "error")
        .count();
    assert_eq!(awaiting, uses, "{findings}");

    // ... so no policy is published while one awaits.
    let (status, draft) = app.call(&key, reqwest::Method::POST,
        "/api/v1/policies",
        Some(json!({"markdown": lethe::domain::policy::DEFAULT_TEMPLATE, "material": false, "summary": "First"})),
    )
    .await;
    assert_eq!(status, 201, "{draft}");
    let version = draft["version"].as_i64().unwrap();
    let (status, problem) = app
        .call(
            &key,
            reqwest::Method::POST,
            &format!("/api/v1/policies/{version}/publish"),
            Some(json!({"confirm_warnings": true})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"]
                .as_str()
                .unwrap_or("")
                .contains("has no legal basis yet")),
        "{problem}"
    );

    // And what came in goes out again in a shape fideslang accepts, still without bases.
    let yaml = export(&app, &key).await;
    let doc: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert!(
        doc["data_use"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["legal_basis"].is_null())
    );
    assert_fideslang_accepts("the imported default taxonomy", &yaml);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_spec_validator_accepts_the_openapi_document() {
    require_python_package("openapi_spec_validator", "openapi-spec-validator");
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, res.bytes().await.unwrap()).unwrap();
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--subschema-errors", "all"])
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "openapi-spec-validator refuses /api/openapi.json:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The GPC support resource as the GPC specification defines it: `application/json`, an object
/// whose `gpc` is `true` and whose `lastUpdate` is an RFC 3339 full-date. No validator package
/// exists for it, so the test reads the specification's three rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gpc_support_resource_says_gpc_requests_are_abided_by() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/.well-known/gpc.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let media = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(media.split(';').next(), Some("application/json"));
    assert!(res.headers().get("set-cookie").is_none());
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["gpc"], json!(true), "{doc}");
    let date = doc["lastUpdate"].as_str().unwrap_or_default();
    let parts: Vec<u32> = date.split('-').filter_map(|p| p.parse().ok()).collect();
    assert!(
        date.len() == 10
            && matches!(parts.as_slice(), [y, m, d] if *y >= 2026 && (1..=12).contains(m) && (1..=31).contains(d)),
        "lastUpdate is not an RFC 3339 full-date: {doc}"
    );
    assert_eq!(date, lethe::web::well_known::GPC_STATEMENT_DATE);
}
