//! API keys end to end: created in the console and shown once, used as bearer tokens, scoped,
//! revocable, and every failure as problem+json.

use crate::helpers::{TestApp, spawn_app};
use serde_json::Value;

async fn problem(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

async fn create_key_in_console(app: &TestApp, client: &reqwest::Client, scopes: &[&str]) -> String {
    let (_, csrf, _) = app.page(client, "/console/w/aulm/keys").await;
    let mut form = vec![("name", "billing system"), ("csrf", csrf.as_str())];
    form.extend(scopes.iter().map(|s| ("scope", *s)));
    let res = app.post_form(client, "/console/w/aulm/keys", &form).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    page.split("id=\"new-key\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_key_is_shown_once_stored_hashed_and_works() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let client = app.logged_in("ada@example.org").await;
    let key = create_key_in_console(&app, &client, &["audit:read", "records:write"]).await;
    assert!(key.starts_with("lethe_"));
    // Shown once: the list page has only the prefix.
    let (_, _, page) = app.page(&client, "/console/w/aulm/keys").await;
    assert!(!page.contains(&key));
    assert!(page.contains("records:write") && page.contains("never"));
    // Stored as a digest only.
    let stored: Vec<String> = app
        .db
        .read(|c| {
            let mut s = c.prepare("SELECT secret_hash FROM api_keys")?;
            let rows = s.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    assert_eq!(stored, vec![lethe::crypto::sha256_hex(&key)]);

    let res = app
        .client
        .get(app.url("/api/v1/workspace"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["slug"], "aulm");
    assert_eq!(
        body["key_scopes"],
        serde_json::json!(["records:write", "audit:read"])
    );
    let (_, _, page) = app.page(&client, "/console/w/aulm/keys").await;
    assert!(!page.contains("never"), "last use is recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_wrong_and_revoked_keys_get_401_and_missing_scopes_403() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let client = app.logged_in("ada@example.org").await;
    let key = create_key_in_console(&app, &client, &["records:read"]).await;

    let res = app
        .client
        .get(app.url("/api/v1/workspace"))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("www-authenticate").is_some());
    let body = problem(res, 401).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer")
    );
    let forged = format!("{}x", &key[..key.len() - 1]);
    problem(
        app.client
            .get(app.url("/api/v1/workspace"))
            .bearer_auth(&forged)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    let body = problem(
        app.client
            .get(app.url("/api/v1/audit"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("audit:read"));

    let id: String = app
        .db
        .read(|c| {
            c.query_row("SELECT id FROM api_keys", [], |r| r.get(0))
                .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    let (_, csrf, _) = app.page(&client, "/console/w/aulm/keys").await;
    // Used just before its revocation: the server keeps a checked key for a second, and the
    // revocation must still take effect at once.
    let (status, _) = app
        .call(&key, reqwest::Method::GET, "/api/v1/workspace", None)
        .await;
    assert_eq!(status, 200, "the key works until it is revoked");
    let res = app
        .post_form(
            &client,
            &format!("/console/w/aulm/keys/{id}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let body = problem(
        app.client
            .get(app.url("/api/v1/workspace"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("revoked"));
    let actions = app.audit_actions();
    assert!(
        actions.contains(&"apikey.create".to_owned())
            && actions.contains(&"apikey.revoke".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_workspace_write_updates_contact_details_and_is_audited() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let key = app.api_key("aulm", &["workspace:write", "audit:read"]);
    let res = app
        .client
        .patch(app.url("/api/v1/workspace"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"dpo_name": "Dana Officer", "dpo_email": "dpo@aulm.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["dpo_name"], "Dana Officer");
    assert_eq!(
        body["legal_name"], "aulm Ltd",
        "absent fields keep their value"
    );
    let audit: Value = app
        .client
        .get(app.url("/api/v1/audit?action=workspace.update"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = &audit["entries"][0];
    assert!(entry["actor"].as_str().unwrap().starts_with("apikey:"));
    assert_eq!(
        entry["detail"]["dpo_name"],
        serde_json::json!(["", "Dana Officer"])
    );
    assert!(
        entry["ip"].as_str().unwrap().ends_with(".0/24"),
        "IPs are truncated"
    );
}
