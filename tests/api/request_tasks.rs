//! Tasks for the operator's other systems: a system with a webhook endpoint bound to it gets a
//! signed `request.task.created` and reports back through the API (attaching what it holds to an
//! access request, which then joins the package); a system without one gets a manual task staff
//! tick off in the console; the request completes, and the person is told, when every task is.

use crate::helpers::{TestApp, spawn_app_with};
use crate::outbox::{Seen, count, fast_outbox, webhook_receiver};
use crate::vault_at_rest::{contains, data_files};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CRM_NOTE: &str = "Grace called about her parcel twice";

struct Shop {
    app: TestApp,
    key: String,
    seen: Seen,
}

impl Shop {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app.call(&self.key, method, path, body).await
    }

    async fn put(&self, path: &str, body: Value) {
        let (status, answer) = self.call(Method::PUT, path, Some(body)).await;
        assert!(status == 201 || status == 200, "{path}: {status} {answer}");
    }

    /// The task webhooks delivered so far, as (signature valid, body).
    fn task_webhooks(&self) -> Vec<(bool, Value)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(ok, _, body)| (*ok, serde_json::from_str(body).unwrap()))
            .filter(|(_, b): &(bool, Value)| b["event"] == "request.task.created")
            .collect()
    }

    async fn wait_for_webhooks(&self, n: usize) -> Vec<(bool, Value)> {
        for _ in 0..100 {
            let seen = self.task_webhooks();
            if seen.len() >= n {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{n} task webhooks never came: {:?}", self.task_webhooks());
    }
}

/// The workspace `shop`: grace (cus_1) and alan (cus_2) with support tickets; the systems `crm`
/// (tickets; a webhook endpoint bound to it, added in the console), `warehouse` (tickets; no
/// integration) and `analytics` (page visits, which nobody here has).
async fn shop() -> Shop {
    let app = spawn_app_with(|c| {
        fast_outbox(c);
        c.webhook_allow_private = true;
    })
    .await;
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
    let secret = Arc::new(Mutex::new(String::new()));
    let (port, seen) = webhook_receiver(secret.clone(), false).await;
    let s = Shop { app, key, seen };
    for (category, name) in [("support.ticket", "Support tickets"), ("visits", "Visits")] {
        s.put(
            &format!("/api/v1/inventory/categories/{category}"),
            json!({"key": category, "name": name, "sensitivity": "normal",
                "fields": [{"name": "message"}]}),
        )
        .await;
    }
    s.put(
        "/api/v1/inventory/purposes/support",
        json!({"key": "support", "name": "Answering your questions", "legal_basis": "contract",
            "categories": ["support.ticket", "visits"]}),
    )
    .await;
    for (system, name, categories) in [
        ("crm", "CRM", json!(["support.ticket"])),
        ("warehouse", "Warehouse", json!(["support.ticket"])),
        ("analytics", "Analytics", json!(["visits"])),
    ] {
        s.put(
            &format!("/api/v1/inventory/systems/{system}"),
            json!({"key": system, "name": name, "location": "EU", "categories": categories}),
        )
        .await;
    }
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
    let records = json!({"records": [
        {"category": "support.ticket", "subject": "cus_1", "occurred_at": "2026-11-20T10:00:00Z",
         "fields": {"message": "grace asks"}},
        {"category": "support.ticket", "subject": "cus_2", "occurred_at": "2026-11-20T10:00:00Z",
         "fields": {"message": "alan's secret"}},
    ]});
    let (status, body) = s.call(Method::POST, "/api/v1/records", Some(records)).await;
    assert!(status == 201 || status == 200, "{status} {body}");

    // The endpoint for the CRM's tasks, added as staff do it; its secret is shown once.
    let console = s.app.logged_in("ada@example.org").await;
    let (status, csrf, page) = s.app.page(&console, "/console/w/shop/webhooks").await;
    assert_eq!(status, 200);
    assert!(page.contains("The request tasks of CRM (crm)"), "{page}");
    let url = format!("http://127.0.0.1:{port}/lethe");
    let res = s
        .app
        .post_form(
            &console,
            "/console/w/shop/webhooks",
            &[("csrf", &csrf), ("url", &url), ("system", "crm")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let shown = page
        .split("id=\"new-secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the secret is shown once")
        .to_owned();
    *secret.lock().unwrap() = shown;
    // A system the inventory does not have is refused in words.
    let res = s
        .app
        .post_form(
            &console,
            "/console/w/shop/webhooks",
            &[("csrf", &csrf), ("url", &url), ("system", "billing")],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("&#39;billing&#39; is not a system of the inventory")
    );
    s
}

fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let mut text = String::new();
        f.read_to_string(&mut text).unwrap();
        files.insert(f.name().unwrap().into_owned(), text);
    }
    files
}

fn tasks_of(view: &Value) -> Vec<(String, String, bool)> {
    view["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["system"].as_str().unwrap().to_owned(),
                t["channel"].as_str().unwrap().to_owned(),
                t["done"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_request_waits_for_its_systems_and_their_data_joins_the_package() {
    let s = shop().await;
    let (status, created) = s
        .call(
            Method::POST,
            "/api/v1/requests",
            Some(json!({"type": "access", "external_id": "cus_1"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    // Lethe's part is done; the systems that hold tickets have a task each, analytics none.
    assert_eq!(created["state"], "in_progress", "{created}");
    assert_eq!(
        tasks_of(&created),
        [
            ("crm".to_owned(), "webhook".to_owned(), false),
            ("warehouse".to_owned(), "manual".to_owned(), false),
        ]
    );

    // The CRM is told, signed, what to do, for whom, and where to report.
    let hooks = s.wait_for_webhooks(1).await;
    assert_eq!(hooks.len(), 1, "one system has an endpoint: {hooks:?}");
    let (valid, payload) = &hooks[0];
    assert!(valid, "the signature verifies with the endpoint's secret");
    assert_eq!(payload["system"], "crm");
    assert_eq!(payload["subject"], "cus_1");
    assert_eq!(payload["request"]["id"], id.as_str());
    assert_eq!(payload["request"]["type"], "access");
    assert_eq!(payload["accepts_data"], true);
    let report = payload["complete_url"].as_str().unwrap();
    assert!(
        report.ends_with(&format!("/api/v1/requests/{id}/tasks/crm/complete")),
        "{report}"
    );
    let report_path = &report[report.find("/api/").unwrap()..];

    // Another workspace's key cannot report for this request.
    let owner = s.app.create_admin("eve@example.org");
    s.app.create_workspace(owner, "other");
    let eve = s.app.api_key("other", &["requests:write"]);
    let (status, _) = s
        .app
        .call(&eve, Method::POST, report_path, Some(json!({})))
        .await;
    assert_eq!(status, 404);
    // A system without a task on it: 404; a body that is not a report: 422.
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/api/v1/requests/{id}/tasks/analytics/complete"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .call(Method::POST, report_path, Some(json!({"rows": 1})))
        .await;
    assert_eq!(status, 422);

    // The CRM reports with what it holds; the warehouse's task is still open.
    let data = json!({"notes": [CRM_NOTE]});
    let (status, view) = s
        .call(Method::POST, report_path, Some(json!({"data": data})))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["state"], "in_progress");
    let (status, again) = s.call(Method::POST, report_path, Some(json!({}))).await;
    assert_eq!(status, 409, "a replayed report: {again}");
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/api/v1/requests/{id}/complete"),
            None,
        )
        .await;
    assert_eq!(status, 409, "not completed while a task is open");

    // Staff tick off the warehouse's manual task in the console: the request completes.
    let ada = s.app.logged_in("ada@example.org").await;
    let page_path = format!("/console/w/shop/requests/{id}");
    let (status, csrf, page) = s.app.page(&ada, &page_path).await;
    assert_eq!(status, 200);
    assert!(page.contains("Tasks of other systems"), "{page}");
    assert!(page.contains("Mark the task of Warehouse done"), "{page}");
    assert!(!page.contains("Mark the task of CRM done"), "{page}");
    let res = s
        .app
        .post_form(
            &ada,
            &format!("{page_path}/tasks/warehouse/done"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let (_, done) = s
        .call(Method::GET, &format!("/api/v1/requests/{id}"), None)
        .await;
    assert_eq!(done["state"], "completed", "{done}");
    let answer = done["answer"].as_str().unwrap();
    assert!(answer.contains("Your data is ready"), "{answer}");
    assert!(
        answer.contains("What CRM sent us is in your download"),
        "{answer}"
    );
    let whats: Vec<&str> = done["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    for step in ["carried_out", "task_opened", "task_done", "completed"] {
        assert!(whats.contains(&step), "{step} in {whats:?}");
    }

    // The package holds the person's records, nobody else's, and what the CRM sent.
    let res = s
        .app
        .client
        .get(s.app.url(&format!("/api/v1/requests/{id}/package")))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let files = unzip(&res.bytes().await.unwrap());
    let crm: Value = serde_json::from_str(&files["systems/crm.json"]).unwrap();
    assert_eq!(crm, data);
    assert!(!files.contains_key("systems/warehouse.json"));
    assert!(files["summary.html"].contains("systems/crm.json"));
    assert!(files["records.json"].contains("grace asks"));
    assert!(!files.values().any(|f| f.contains("alan's secret")));

    // What the CRM sent is sealed at rest.
    for (name, bytes) in data_files(s.app.data_dir.path()) {
        assert!(
            !contains(&bytes, CRM_NOTE.as_bytes()),
            "{name} holds the attached data in the clear"
        );
    }
    let actions = s.app.audit_actions();
    for action in ["request.carried_out", "request.task.completed"] {
        assert!(actions.contains(&action.to_owned()), "{action}");
    }

    // Once the package can no longer be downloaded, the requests job forgets the data.
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
    let forgotten = lethe::services::request_tasks::forget_expired_data(
        &s.app.db,
        chrono::Utc::now(),
        100,
        &|| false,
    )
    .unwrap();
    assert_eq!(forgotten, 1);
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM request_tasks WHERE data_sealed IS NOT NULL"
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_completes_when_every_system_reported_and_takes_no_data() {
    let s = shop().await;
    let (status, created) = s
        .call(
            Method::POST,
            "/api/v1/requests",
            Some(json!({"type": "erasure", "external_id": "cus_2"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    // The vault's part is done at once: alan's records are gone.
    assert_eq!(created["state"], "in_progress", "{created}");
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM records r JOIN subjects p ON p.id = r.subject_id \
             WHERE p.external_id = 'cus_2'"
        ),
        0
    );
    let hooks = s.wait_for_webhooks(1).await;
    assert_eq!(hooks[0].1["request"]["type"], "erasure");
    assert_eq!(hooks[0].1["accepts_data"], false);

    // An erasure takes no data back.
    let crm = format!("/api/v1/requests/{id}/tasks/crm/complete");
    let (status, problem) = s
        .call(
            Method::POST,
            &crm,
            Some(json!({"data": {"rows": ["alan"]}})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    for system in ["crm", "warehouse"] {
        let (status, view) = s
            .call(
                Method::POST,
                &format!("/api/v1/requests/{id}/tasks/{system}/complete"),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 200, "{view}");
    }
    let (_, done) = s
        .call(Method::GET, &format!("/api/v1/requests/{id}"), None)
        .await;
    assert_eq!(done["state"], "completed", "{done}");
    let answer = done["answer"].as_str().unwrap();
    assert!(answer.contains("Your personal data was erased"), "{answer}");
    assert!(
        answer.contains("have done the same: CRM, Warehouse"),
        "{answer}"
    );
    // Reports on a completed request are refused.
    let (status, _) = s.call(Method::POST, &crm, Some(json!({}))).await;
    assert_eq!(status, 409);
}
