//! The access and export package: built for one person only, downloaded through the API as a
//! zip (records as JSON and CSV, profile, inventory facts, a readable summary), one access-log
//! entry per download, refused once expired and to another workspace's key.

use crate::helpers::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Read;

struct Setup {
    app: TestApp,
    key: String,
}

async fn setup() -> Setup {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "shop");
    let key = app.api_key(
        "shop",
        &[
            "requests:read",
            "requests:write",
            "records:write",
            "inventory:write",
        ],
    );
    let s = Setup { app, key };
    let category = json!({"key": "support.ticket", "name": "Support tickets",
        "sensitivity": "normal", "fields": [{"name": "message"}]});
    let (status, body) = s
        .call(
            Method::PUT,
            "/api/v1/inventory/categories/support.ticket",
            Some(category),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let purpose = json!({"key": "support", "name": "Answering your questions",
        "legal_basis": "contract", "categories": ["support.ticket"]});
    let (status, body) = s
        .call(
            Method::PUT,
            "/api/v1/inventory/purposes/support",
            Some(purpose),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for (id, email) in [
        ("cus_1", "grace@example.org"),
        ("cus_2", "alan@example.org"),
    ] {
        let (status, body) = s
            .call(
                Method::POST,
                "/api/v1/subjects",
                Some(json!({"external_id": id, "email": email})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let mut records = Vec::new();
    for i in 0..3 {
        records.push(json!({"category": "support.ticket", "subject": "cus_1",
            "occurred_at": format!("2026-11-2{i}T10:00:00Z"),
            "fields": {"message": format!("grace asks {i}")}}));
    }
    records.push(json!({"category": "support.ticket", "subject": "cus_2",
        "occurred_at": "2026-11-20T10:00:00Z", "fields": {"message": "alan's secret"}}));
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/records",
            Some(json!({ "records": records })),
        )
        .await;
    assert!(status == 201 || status == 200, "{status} {body}");
    s
}

impl Setup {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app.call(&self.key, method, path, body).await
    }

    /// An access request for `email`, which Lethe answers at once (no other system holds the
    /// person's data here); its id.
    async fn completed_request(&self, email: &str) -> String {
        let (status, created) = self
            .call(
                Method::POST,
                "/api/v1/requests",
                Some(json!({"type": "access", "email": email})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["state"], "completed", "{created}");
        created["id"].as_str().unwrap().to_owned()
    }

    async fn download(&self, key: &str, id: &str) -> reqwest::Response {
        self.app
            .client
            .get(self.app.url(&format!("/api/v1/requests/{id}/package")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    fn access_log_rows(&self) -> i64 {
        self.app
            .db
            .read(|c| {
                c.query_row("SELECT count(*) FROM subject_access_log", [], |r| r.get(0))
                    .map_err(lethe::store::StoreError::from)
            })
            .unwrap()
    }
}

/// Every file in the zip by name, checked by Python's zipfile too (an independent reader).
fn unzip(bytes: &[u8]) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("package.zip");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); \
             assert z.testzip() is None; print(','.join(z.namelist()))",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let mut text = String::new();
        f.read_to_string(&mut text).unwrap();
        files.insert(f.name().unwrap().into_owned(), text);
    }
    let python_names = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    let mut listed: Vec<&str> = python_names.trim().split(',').collect();
    listed.sort_unstable();
    assert_eq!(listed, names);
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_package_holds_exactly_the_persons_records_and_is_logged_once() {
    let s = setup().await;
    let id = s.completed_request("grace@example.org").await;
    let before = s.access_log_rows();
    let res = s.download(&s.key, &id).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let bytes = res.bytes().await.unwrap();
    assert_eq!(
        s.access_log_rows(),
        before + 1,
        "one access-log entry per package"
    );
    let files = unzip(&bytes);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "consent.json",
            "inventory.json",
            "profile.json",
            "records.csv",
            "records.json",
            "summary.html"
        ]
    );
    let records: Vec<Value> = serde_json::from_str(&files["records.json"]).unwrap();
    let mut messages: Vec<&str> = records
        .iter()
        .map(|r| r["fields"]["message"].as_str().unwrap())
        .collect();
    messages.sort_unstable();
    assert_eq!(messages, ["grace asks 0", "grace asks 1", "grace asks 2"]);
    for (name, text) in &files {
        assert!(!text.contains("alan"), "{name} holds another person's data");
    }
    let mut csv = csv::Reader::from_reader(files["records.csv"].as_bytes());
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), records.len());
    let mut csv_ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    let mut json_ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    csv_ids.sort_unstable();
    json_ids.sort_unstable();
    assert_eq!(csv_ids, json_ids);
    assert!(rows.iter().all(|r| r[4].contains("grace asks")));
    let profile: Value = serde_json::from_str(&files["profile.json"]).unwrap();
    assert_eq!(profile["external_id"], "cus_1");
    assert_eq!(profile["email"], "grace@example.org");
    let inventory: Value = serde_json::from_str(&files["inventory.json"]).unwrap();
    assert_eq!(inventory["categories"][0]["key"], "support.ticket");
    assert_eq!(inventory["categories"][0]["records"], 3);
    assert_eq!(
        inventory["categories"][0]["purposes"][0]["legal_basis"],
        "contract"
    );
    let summary = &files["summary.html"];
    assert!(summary.contains("Support tickets"), "{summary}");
    assert!(summary.contains("Answering your questions"), "{summary}");
    let reads = s.app.audit_actions();
    assert!(reads.iter().any(|a| a == "subject.read"), "{reads:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_package_for_nobody_an_open_request_an_expired_one_or_another_workspace() {
    let s = setup().await;
    // Nobody has this address: no package, and it says so.
    let id = s.completed_request("nobody@example.org").await;
    let res = s.download(&s.key, &id).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["package"], false);
    assert!(body["message"].as_str().unwrap().contains("no data"));

    // Not completed yet: while staff review requests, a verified one waits for them.
    let review = |on: bool| {
        s.app
            .db
            .write(|tx| {
                tx.execute(
                    "UPDATE workspaces SET review_requests = ?1 WHERE slug = 'shop'",
                    [on],
                )
                .map_err(lethe::store::StoreError::from)
            })
            .unwrap()
    };
    review(true);
    let (_, created) = s
        .call(
            Method::POST,
            "/api/v1/requests",
            Some(json!({"type": "access", "email": "alan@example.org"})),
        )
        .await;
    review(false);
    assert_eq!(created["state"], "verified", "{created}");
    let open = created["id"].as_str().unwrap();
    assert_eq!(s.download(&s.key, open).await.status(), 409);

    // Another workspace's key: as if the request did not exist.
    let owner = s.app.create_admin("eve@example.org");
    s.app.create_workspace(owner, "other");
    let other = s.app.api_key("other", &["requests:read"]);
    let id = s.completed_request("grace@example.org").await;
    let before = s.access_log_rows();
    assert_eq!(s.download(&other, &id).await.status(), 404);
    assert_eq!(s.access_log_rows(), before);

    // Expired: completed more than seven days ago.
    s.app
        .db
        .write(|tx| {
            tx.execute(
                "UPDATE requests SET completed_at = '2020-01-01T00:00:00.000000Z' WHERE id = ?1",
                [&id],
            )
            .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    assert_eq!(s.download(&s.key, &id).await.status(), 410);
    assert_eq!(s.access_log_rows(), before);
}

/// A status link e-mailed to `email` (read from the outbox, as the SMTP sink would receive it).
fn status_link_for(app: &TestApp, email: &str) -> String {
    let messages =
        lethe::services::outbox::recent_messages(&app.db, &app.vault, &app.scope("shop"), 100)
            .unwrap();
    let body = messages
        .into_iter()
        .filter_map(|m| m.content)
        .find(|c| c.recipient == email && c.body.contains("/requests/status/"))
        .map(|c| c.body)
        .expect("a mail with a status link");
    let start = body.find("/p/shop/requests/status/").unwrap();
    body[start..].split_whitespace().next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_person_downloads_their_package_from_their_status_page_with_their_address() {
    let s = setup().await;
    s.completed_request("grace@example.org").await;
    let link = status_link_for(&s.app, "grace@example.org");
    let client = s.app.new_client();
    let (status, csrf, page) = s.app.page(&client, &link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Download your data"), "{page}");
    let action = format!("{link}/download");
    assert!(page.contains(&format!("action=\"{action}\"")), "{page}");
    let before = s.access_log_rows();

    // Someone with the link but not the address gets nothing, and nothing is logged.
    let res = s
        .app
        .post_form(
            &client,
            &action,
            &[("csrf", &csrf), ("email", "alan@example.org")],
        )
        .await;
    assert_eq!(res.status().as_u16(), 403);
    assert!(res.text().await.unwrap().contains("not the e-mail address"));
    assert_eq!(s.access_log_rows(), before);
    // Nor does a form without the page's token.
    let res = s
        .app
        .post_form(
            &client,
            &action,
            &[("csrf", "forged"), ("email", "grace@example.org")],
        )
        .await;
    assert_eq!(res.status().as_u16(), 403);

    // The person, with the address written as they like, gets exactly their records.
    let res = s
        .app
        .post_form(
            &client,
            &action,
            &[("csrf", &csrf), ("email", " Grace@Example.org ")],
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    let files = unzip(&res.bytes().await.unwrap());
    let records: Value = serde_json::from_str(&files["records.json"]).unwrap();
    assert_eq!(records.as_array().unwrap().len(), 3);
    assert!(!files.values().any(|f| f.contains("alan")));
    assert_eq!(s.access_log_rows(), before + 1, "one entry per package");

    // A link that is not one, or another workspace's page, opens nothing.
    let res = s
        .app
        .post_form(
            &client,
            "/p/shop/requests/status/not-a-token/download",
            &[("csrf", &csrf), ("email", "grace@example.org")],
        )
        .await;
    assert_eq!(res.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_lethe_holds_nothing_about_is_told_so_on_download() {
    let s = setup().await;
    s.completed_request("nobody@example.org").await;
    let link = status_link_for(&s.app, "nobody@example.org");
    let client = s.app.new_client();
    let (_, csrf, page) = s.app.page(&client, &link).await;
    assert!(page.contains("Download your data"), "{page}");
    let res = s
        .app
        .post_form(
            &client,
            &format!("{link}/download"),
            &[("csrf", &csrf), ("email", "nobody@example.org")],
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("We hold no data about you")
    );
}
