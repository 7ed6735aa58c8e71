//! Data subject requests through the API: intake for an authenticated person, reading, lists
//! with filters and paging, the workflow's moves and the ones it refuses, the extension rules,
//! tenancy and the metrics.

use crate::helpers::{TestApp, spawn_app_with};
use chrono::{DateTime, Duration, Utc};
use lethe::domain::request_clock::{self, Law};
use reqwest::Method;
use serde_json::{Value, json};

const METRICS_TOKEN: &str = "requests-metrics-token-0123456789";

struct Requests {
    app: TestApp,
    /// requests:read, requests:write, records:write, inventory:write on `shop`.
    key: String,
}

async fn setup() -> Requests {
    let app = spawn_app_with(|c| {
        c.metrics_token = Some(lethe::config::Secret::new(METRICS_TOKEN));
    })
    .await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "shop");
    // The workflow's steps by hand: requests wait for staff instead of being carried out.
    app.review_requests("shop");
    let key = app.api_key(
        "shop",
        &[
            "requests:read",
            "requests:write",
            "records:write",
            "inventory:write",
        ],
    );
    Requests { app, key }
}

impl Requests {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app.call(&self.key, method, path, body).await
    }

    async fn create(&self, body: Value) -> Value {
        let (status, view) = self
            .call(Method::POST, "/api/v1/requests", Some(body))
            .await;
        assert_eq!(status, 201, "{view}");
        view
    }

    async fn step(&self, id: &str, step: &str, body: Option<Value>) -> (u16, Value) {
        self.call(Method::POST, &format!("/api/v1/requests/{id}/{step}"), body)
            .await
    }

    async fn list(&self, query: &str) -> Value {
        let (status, page) = self
            .call(Method::GET, &format!("/api/v1/requests{query}"), None)
            .await;
        assert_eq!(status, 200, "{page}");
        page
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_opened_matched_read_and_listed_without_personal_values() {
    let r = setup().await;
    let (status, _) = r
        .call(
            Method::POST,
            "/api/v1/subjects",
            Some(json!({"external_id": "cus_1", "email": "Grace@Example.org"})),
        )
        .await;
    assert_eq!(status, 201);
    let before = Utc::now();
    let created = r
        .create(json!({"type": "access", "email": "grace@example.org",
                       "details": "Everything since 2024, please.\nThanks"}))
        .await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["state"], "verified");
    assert_eq!(created["law"], "gdpr");
    assert_eq!(
        created["subject"], "cus_1",
        "matched through the blind index"
    );
    assert!(created["description"].as_str().unwrap().contains("copy"));
    let received = time(&created["received_at"]);
    assert!(received >= before - Duration::seconds(1));
    let expected = request_clock::deadlines(Law::Gdpr, received).due_at;
    assert_eq!(time(&created["due_at"]), expected);
    assert_eq!(created["overdue"], false);

    let (status, got) = r
        .call(Method::GET, &format!("/api/v1/requests/{id}"), None)
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["email"], "grace@example.org");
    assert_eq!(got["details"], "Everything since 2024, please.\nThanks");
    let steps: Vec<&str> = got["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["received", "verified"]);

    let page = r.list("").await;
    assert_eq!(ids(&page), [id]);
    assert_eq!(page["next_after"], Value::Null);
    let text = page.to_string();
    assert!(!text.contains("grace@"), "a list holds no address: {text}");
    assert!(!text.contains("Everything"), "nor what the person wrote");

    let actions = r.app.audit_actions();
    assert!(
        actions.contains(&"request.created".to_owned()),
        "{actions:?}"
    );
    assert!(actions.contains(&"request.read".to_owned()), "{actions:?}");

    // By external id, and under the CCPA: acknowledgement due and 45 days to answer.
    let ccpa = r
        .create(json!({"type": "erasure", "external_id": "cus_1", "law": "ccpa"}))
        .await;
    assert_eq!(ccpa["subject"], "cus_1");
    assert_eq!(ccpa["email"], Value::Null);
    let d = request_clock::deadlines(Law::Ccpa, time(&ccpa["received_at"]));
    assert_eq!(time(&ccpa["due_at"]), d.due_at);
    assert_eq!(time(&ccpa["acknowledge_by"]), d.acknowledge_by.unwrap());

    // An address nobody has is accepted like any other (no account enumeration).
    let unknown = r
        .create(json!({"type": "access", "email": "nobody@example.net"}))
        .await;
    assert_eq!(unknown["subject"], Value::Null);
    assert_eq!(unknown["state"], "verified");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_intakes_are_refused_with_every_field_named_and_nothing_stored() {
    let r = setup().await;
    let (status, problem) = r
        .call(
            Method::POST,
            "/api/v1/requests",
            Some(json!({"type": "forget-me", "details": "x", "law": "lgpd"})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["type", "email", "law"]);

    for (body, field) in [
        (
            json!({"type": "objection", "email": "a@example.org"}),
            "purpose",
        ),
        (
            json!({"type": "objection", "email": "a@example.org", "purpose": "marketing"}),
            "purpose",
        ),
        (
            json!({"type": "access", "email": "a@example.org", "purpose": "marketing"}),
            "purpose",
        ),
        (
            json!({"type": "access", "external_id": "cus_404"}),
            "external_id",
        ),
        (
            json!({"type": "access", "email": "not an address"}),
            "email",
        ),
        (
            json!({"type": "access", "email": "a@example.org",
                   "received_at": (Utc::now() + Duration::days(2)).to_rfc3339()}),
            "received_at",
        ),
    ] {
        let (status, problem) = r
            .call(Method::POST, "/api/v1/requests", Some(body.clone()))
            .await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    let (status, _) = r
        .call(Method::POST, "/api/v1/requests", Some(json!(["access"])))
        .await;
    assert_eq!(status, 422, "an array is not a request");
    assert!(ids(&r.list("").await).is_empty(), "nothing was stored");

    // With the purpose in the inventory, the objection is taken.
    let res = r
        .app
        .client
        .put(r.app.url("/api/v1/inventory/categories/user.contact.email"))
        .bearer_auth(&r.key)
        .json(&json!({"key": "user.contact.email", "name": "E-mail", "sensitivity": "normal"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let res = r
        .app
        .client
        .put(r.app.url("/api/v1/inventory/purposes/marketing"))
        .bearer_auth(&r.key)
        .json(
            &json!({"key": "marketing", "name": "Newsletters", "legal_basis": "consent",
                      "categories": ["user.contact.email"]}),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let objection = r
        .create(json!({"type": "objection", "email": "a@example.org", "purpose": "marketing"}))
        .await;
    assert_eq!(objection["purpose"], "marketing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_by_state_type_and_overdue_and_page_with_a_cursor() {
    let r = setup().await;
    let long_ago = (Utc::now() - Duration::days(40)).to_rfc3339();
    let mut made = Vec::new();
    for (kind, received) in [
        ("access", None),
        ("export", None),
        ("access", Some(long_ago.clone())),
        ("export", None),
        ("access", None),
    ] {
        let mut body = json!({"type": kind, "email": "p@example.org"});
        if let Some(t) = received {
            body["received_at"] = json!(t);
        }
        made.push(r.create(body).await["id"].as_str().unwrap().to_owned());
    }
    // Pages of two, in the order they came in, each request once.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = r.list(&query).await;
        pages += 1;
        seen.extend(ids(&page));
        match page["next_after"].as_str() {
            Some(after) => query = format!("?limit=2&after={after}"),
            None => break,
        }
    }
    assert_eq!(seen, made);
    assert_eq!(pages, 3);

    assert_eq!(
        ids(&r.list("?type=access").await),
        [made[0].clone(), made[2].clone(), made[4].clone()]
    );
    assert_eq!(ids(&r.list("?overdue=true").await), [made[2].clone()]);
    assert_eq!(ids(&r.list("?overdue=false").await).len(), 5);
    let (status, _) = r.step(&made[1], "start", None).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&r.list("?state=in_progress").await), [made[1].clone()]);
    assert_eq!(
        ids(&r.list("?state=verified&type=access").await),
        [made[0].clone(), made[2].clone(), made[4].clone()]
    );
    // A closed request is not overdue, however late.
    r.step(
        &made[2],
        "deny",
        Some(json!({"reason": "manifestly_unfounded_or_excessive"})),
    )
    .await;
    assert!(ids(&r.list("?overdue=true").await).is_empty());

    for bad in [
        "?state=lost",
        "?type=forget",
        "?overdue=maybe",
        "?colour=red",
    ] {
        let (status, problem) = r
            .call(Method::GET, &format!("/api/v1/requests{bad}"), None)
            .await;
        assert_eq!(status, 400, "{bad}: {problem}");
        let name = bad.trim_start_matches('?').split('=').next().unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(name),
            "{bad}: {problem}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_moves_forward_only_and_every_step_is_in_the_timeline_and_the_audit_log() {
    let r = setup().await;
    let id = r
        .create(json!({"type": "export", "email": "p@example.org"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, problem) = r.step(&id, "complete", None).await;
    assert_eq!(status, 409, "not started: {problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("verified cannot become completed"),
        "{problem}"
    );
    let (status, started) = r.step(&id, "start", None).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["state"], "in_progress");
    assert!(started["started_at"].is_string());
    let (status, _) = r.step(&id, "start", None).await;
    assert_eq!(status, 409, "started twice");
    let (status, done) = r.step(&id, "complete", None).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "completed");
    assert!(done["completed_at"].is_string());
    for (step, body) in [
        ("complete", None),
        ("start", None),
        ("deny", Some(json!({"reason": "identity_not_verified"}))),
        ("extend", Some(json!({"reason": "too late"}))),
    ] {
        let (status, problem) = r.step(&id, step, body).await;
        assert_eq!(status, 409, "{step} after completion: {problem}");
    }
    let steps: Vec<&str> = done["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["received", "verified", "started", "completed"]);

    // A denial carries a ground from the list and the staff's words.
    let other = r
        .create(json!({"type": "access", "email": "q@example.org"}))
        .await;
    let other = other["id"].as_str().unwrap();
    let (status, problem) = r
        .step(other, "deny", Some(json!({"reason": "because"})))
        .await;
    assert_eq!(status, 422, "not a ground on the list: {problem}");
    let (status, denied) = r
        .step(
            other,
            "deny",
            Some(json!({"reason": "legal_obligation_to_keep",
                        "text": "Invoices are kept ten years under tax law."})),
        )
        .await;
    assert_eq!(status, 200, "{denied}");
    assert_eq!(denied["state"], "denied");
    assert_eq!(denied["denial"]["reason"], "legal_obligation_to_keep");
    assert_eq!(
        denied["denial"]["text"],
        "Invoices are kept ten years under tax law."
    );
    let last = denied["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["what"], "denied");
    assert!(last["detail"].as_str().unwrap().contains("ten years"));

    let (status, _) = r
        .step("0190aaaa-0000-7000-8000-000000000000", "start", None)
        .await;
    assert_eq!(status, 404);
    let actions = r.app.audit_actions();
    for action in ["request.started", "request.completed", "request.denied"] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action}: {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_is_extended_once_with_a_reason_and_only_within_the_first_period() {
    let r = setup().await;
    let gdpr = r
        .create(json!({"type": "access", "email": "p@example.org"}))
        .await;
    let id = gdpr["id"].as_str().unwrap();
    let (status, problem) = r.step(id, "extend", Some(json!({"reason": "  "}))).await;
    assert_eq!(status, 422, "no reason: {problem}");
    let (status, extended) = r
        .step(
            id,
            "extend",
            Some(json!({"reason": "Records are in three archives."})),
        )
        .await;
    assert_eq!(status, 200, "{extended}");
    let due = time(&gdpr["due_at"]);
    let expected = request_clock::extend(Law::Gdpr, due, false, true, due).unwrap();
    assert_eq!(time(&extended["extended_due_at"]), expected);
    assert_eq!(extended["due_at"], gdpr["due_at"], "the original stays");
    assert_eq!(
        extended["extension_reason"],
        "Records are in three archives."
    );
    let (status, problem) = r.step(id, "extend", Some(json!({"reason": "again"}))).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("already extended")
    );
    let summary = &r.list("").await["requests"][0];
    assert_eq!(summary["extended"], true);
    assert_eq!(time(&summary["due"]), expected);

    // Past the first month: too late to extend.
    let late = r
        .create(json!({"type": "access", "email": "p@example.org",
                       "received_at": (Utc::now() - Duration::days(35)).to_rfc3339()}))
        .await;
    assert_eq!(late["overdue"], true);
    let (status, problem) = r
        .step(
            late["id"].as_str().unwrap(),
            "extend",
            Some(json!({"reason": "busy"})),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("has passed"));

    // CCPA: 45 more days, once.
    let ccpa = r
        .create(json!({"type": "access", "email": "p@example.org", "law": "ccpa"}))
        .await;
    let ccpa_id = ccpa["id"].as_str().unwrap();
    let (status, extended) = r
        .step(
            ccpa_id,
            "extend",
            Some(json!({"reason": "Notice sent: more time needed."})),
        )
        .await;
    assert_eq!(status, 200, "{extended}");
    let due = time(&ccpa["due_at"]);
    assert_eq!(
        time(&extended["extended_due_at"]).date_naive(),
        (due + Duration::days(45)).date_naive()
    );
    let (status, _) = r
        .step(ccpa_id, "extend", Some(json!({"reason": "again"})))
        .await;
    assert_eq!(status, 409);
    assert!(
        r.app
            .audit_actions()
            .contains(&"request.extended".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_workspaces_key_never_sees_a_request_and_scopes_are_required() {
    let r = setup().await;
    let owner = r.app.create_admin("bob@example.org");
    r.app.create_workspace(owner, "other");
    let other = r.app.api_key("other", &["requests:read", "requests:write"]);
    let id = r
        .create(json!({"type": "access", "email": "p@example.org", "details": "shop secret"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = r
        .app
        .call(&other, Method::GET, &format!("/api/v1/requests/{id}"), None)
        .await;
    assert_eq!(status, 404);
    for step in ["start", "complete"] {
        let (status, _) = r
            .app
            .call(
                &other,
                Method::POST,
                &format!("/api/v1/requests/{id}/{step}"),
                None,
            )
            .await;
        assert_eq!(status, 404, "{step}");
    }
    let (status, _) = r
        .app
        .call(
            &other,
            Method::POST,
            &format!("/api/v1/requests/{id}/deny"),
            Some(json!({"reason": "identity_not_verified"})),
        )
        .await;
    assert_eq!(status, 404);
    let (_, page) = r
        .app
        .call(&other, Method::GET, "/api/v1/requests", None)
        .await;
    assert!(ids(&page).is_empty(), "{page}");
    let (_, mine) = r
        .call(Method::GET, &format!("/api/v1/requests/{id}"), None)
        .await;
    assert_eq!(mine["state"], "verified", "untouched by the other key");

    let read_only = r.app.api_key("shop", &["requests:read"]);
    let (status, _) = r
        .app
        .call(
            &read_only,
            Method::POST,
            "/api/v1/requests",
            Some(json!({"type": "access", "email": "p@example.org"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = r
        .app
        .call(
            &read_only,
            Method::POST,
            &format!("/api/v1/requests/{id}/start"),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let records_only = r.app.api_key("shop", &["records:read"]);
    let (status, _) = r
        .app
        .call(
            &records_only,
            Method::GET,
            &format!("/api/v1/requests/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_open_and_overdue_requests_per_workspace() {
    let r = setup().await;
    r.create(json!({"type": "access", "email": "p@example.org"}))
        .await;
    let late = r
        .create(json!({"type": "access", "email": "p@example.org",
                       "received_at": (Utc::now() - Duration::days(40)).to_rfc3339()}))
        .await;
    let done = r
        .create(json!({"type": "export", "email": "p@example.org"}))
        .await;
    let done = done["id"].as_str().unwrap();
    r.step(done, "start", None).await;
    r.step(done, "complete", None).await;
    let metrics = || r.app.metrics(METRICS_TOKEN);
    let text = metrics().await;
    assert!(
        text.contains("lethe_requests_open{workspace=\"shop\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("lethe_requests_overdue{workspace=\"shop\"} 1\n"),
        "{text}"
    );
    r.step(
        late["id"].as_str().unwrap(),
        "deny",
        Some(json!({"reason": "identity_not_verified"})),
    )
    .await;
    let text = metrics().await;
    assert!(
        text.contains("lethe_requests_open{workspace=\"shop\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("lethe_requests_overdue{workspace=\"shop\"} 0\n"),
        "{text}"
    );
}
