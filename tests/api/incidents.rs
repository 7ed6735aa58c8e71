//! The breach register through the API: affected people counted from the vault over the
//! incident's categories, systems and window; the decisions and notices the law asks to
//! document; tenancy, scopes, the timeline and audit log, the export, and own-data retention.
//! The 72-hour clock and its warnings are `incident_deadlines.rs`'.

use crate::helpers::{TestApp, spawn_app_with};
use chrono::{Duration, Utc};
use lethe::domain::schedule::CronSchedule;
use reqwest::Method;
use serde_json::{Value, json};

pub(crate) struct Shop {
    pub(crate) app: TestApp,
    /// Every scope on `shop`.
    pub(crate) key: String,
}

pub(crate) async fn setup(adjust: impl FnOnce(&mut lethe::config::Config)) -> Shop {
    let app = spawn_app_with(|c| {
        // The scheduler's own run would use the real clock: the tests drive the service.
        c.incident_deadlines_schedule = CronSchedule::parse("0 0 1 1 *").unwrap();
        c.incident_letters_schedule = CronSchedule::parse("0 0 1 1 *").unwrap();
        adjust(c);
    })
    .await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "shop");
    let all: Vec<&str> = lethe::domain::apikey::Scope::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    let key = app.api_key("shop", &all);
    Shop { app, key }
}

impl Shop {
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.app.call(&self.key, method, path, body).await
    }

    pub(crate) async fn ok(&self, method: Method, path: &str, body: Value) -> Value {
        let (status, v) = self.call(method.clone(), path, Some(body)).await;
        assert!(status < 300, "{method} {path}: {status} {v}");
        v
    }

    pub(crate) async fn register(&self, body: Value) -> Value {
        let (status, v) = self
            .call(Method::POST, "/api/v1/incidents", Some(body))
            .await;
        assert_eq!(status, 201, "{v}");
        v
    }
}

/// A category, a person and records at known times, through the API with `key`.
pub(crate) async fn category(app: &TestApp, key: &str, name: &str) {
    let (s, v) = app
        .call(
            key,
            Method::PUT,
            &format!("/api/v1/inventory/categories/{name}"),
            Some(
                json!({"key": name, "name": format!("The {name}"), "sensitivity": "normal",
                        "fields": [{"name": "text"}]}),
            ),
        )
        .await;
    assert!(s < 300, "{v}");
}

pub(crate) async fn person(app: &TestApp, key: &str, id: &str, email: Option<&str>) {
    let mut body = json!({"external_id": id});
    if let Some(e) = email {
        body["email"] = json!(e);
    }
    let (s, v) = app
        .call(key, Method::POST, "/api/v1/subjects", Some(body))
        .await;
    assert_eq!(s, 201, "{v}");
}

pub(crate) async fn records(app: &TestApp, key: &str, list: &[(&str, &str, &str)]) {
    let records: Vec<Value> = list
        .iter()
        .map(|(cat, who, at)| {
            json!({"category": cat, "subject": who, "occurred_at": at, "fields": {"text": "x"}})
        })
        .collect();
    let (s, v) = app
        .call(
            key,
            Method::POST,
            "/api/v1/records",
            Some(json!({"records": records})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
}

fn by_category(affected: &Value) -> Vec<(String, i64, i64)> {
    affected["by_category"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["category"].as_str().unwrap().to_owned(),
                c["subjects"].as_i64().unwrap(),
                c["records"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affected_people_and_records_are_counted_in_the_vault_over_the_window() {
    let s = setup(|_| {}).await;
    let (app, key) = (&s.app, s.key.as_str());
    for c in ["support.tickets", "billing.invoices", "usage.logs"] {
        category(app, key, c).await;
    }
    // The help desk holds usage logs: an incident over it counts them.
    s.ok(
        Method::PUT,
        "/api/v1/inventory/systems/helpdesk",
        json!({"key": "helpdesk", "name": "Help desk", "location": "EU",
               "categories": ["usage.logs"]}),
    )
    .await;
    person(app, key, "p1", Some("p1@example.org")).await;
    person(app, key, "p2", Some("p2@example.org")).await;
    person(app, key, "p3", None).await;
    person(app, key, "p4", Some("p4@example.org")).await;
    records(
        app,
        key,
        &[
            ("support.tickets", "p1", "2026-03-10T09:00:00Z"),
            ("support.tickets", "p1", "2026-03-11T09:00:00Z"),
            ("support.tickets", "p2", "2026-03-12T09:00:00Z"),
            ("support.tickets", "p3", "2026-03-12T10:00:00Z"),
            // Before the window, and in a category the incident does not name.
            ("support.tickets", "p4", "2026-02-01T09:00:00Z"),
            ("billing.invoices", "p4", "2026-03-10T09:00:00Z"),
            ("usage.logs", "p2", "2026-03-10T09:30:00Z"),
        ],
    )
    .await;
    // Another workspace with the same category and records in the window: never counted.
    let other = app.create_workspace(app.create_admin("olga@example.org"), "other");
    let _ = other;
    let other_key = app.api_key("other", &["records:write", "inventory:write"]);
    category(app, &other_key, "support.tickets").await;
    person(app, &other_key, "p1", Some("p1@other.example")).await;
    records(
        app,
        &other_key,
        &[("support.tickets", "p1", "2026-03-10T09:00:00Z")],
    )
    .await;

    let incident = s
        .register(json!({
            "title": "Support mailbox exposed",
            "detected_at": "2026-04-01T08:00:00Z",
            "started_at": "2026-03-01T00:00:00Z",
            "ended_at": "2026-03-31T00:00:00Z",
            "categories": ["support.tickets"],
            "systems": ["helpdesk"],
        }))
        .await;
    let a = &incident["affected"];
    assert_eq!(
        by_category(a),
        [
            ("support.tickets".to_owned(), 3, 4),
            ("usage.logs".to_owned(), 1, 1)
        ]
    );
    assert_eq!(a["subjects"], 3, "p1, p2, p3: p2 counted once over both");
    assert_eq!(a["subjects_with_email"], 2);
    assert_eq!(
        a["subjects_without_email"], 1,
        "p3 has no e-mail and is counted"
    );
    assert_eq!(a["records"], 5);

    // Narrowing the window counts again, in the same change.
    let id = incident["id"].as_str().unwrap();
    let changed = s
        .ok(
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            json!({"started_at": "2026-03-11T12:00:00Z"}),
        )
        .await;
    let a = &changed["affected"];
    assert_eq!(
        by_category(a),
        [
            ("support.tickets".to_owned(), 2, 2),
            ("usage.logs".to_owned(), 0, 0)
        ]
    );
    assert_eq!(
        (a["subjects"].as_i64(), a["subjects_with_email"].as_i64()),
        (Some(2), Some(1))
    );
    let last = changed["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["what"], "updated");
    assert_eq!(last["detail"]["changed"], json!(["started_at"]));
    assert_eq!(
        last["detail"]["from"]["started_at"],
        "2026-03-01T00:00:00.000000Z"
    );

    // The notice's pre-fill carries the numbers and the contact the policy gives.
    let (status, notice) = s
        .call(Method::GET, &format!("/api/v1/incidents/{id}/notice"), None)
        .await;
    assert_eq!(status, 200, "{notice}");
    let affected = &notice["sections"][1]["text"];
    assert!(
        affected
            .as_str()
            .unwrap()
            .contains("Approximately 2 people and 2 records"),
        "{affected}"
    );
    assert!(
        notice["sections"][2]["text"]
            .as_str()
            .unwrap()
            .contains("privacy@shop.example")
    );
    // A category that is not in the inventory is refused, naming it.
    let (status, problem) = s
        .call(
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"categories": ["nope.unknown"]})),
        )
        .await;
    assert_eq!(status, 422);
    assert!(problem.to_string().contains("nope.unknown"), "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_notice_needs_its_reasons_and_every_change_is_in_the_timeline_and_the_audit_log() {
    let s = setup(|_| {}).await;
    let late = s
        .register(
            json!({"title": "Backup bucket public", "detected_at": "2026-10-01T08:00:00Z",
                         "risk": "high_risk"}),
        )
        .await;
    let id = late["id"].as_str().unwrap();
    let phases = format!("/api/v1/incidents/{id}/notice/phases");
    let (status, problem) = s.call(Method::POST, &phases, Some(json!({}))).await;
    assert_eq!(status, 422, "{problem}");
    assert!(problem.to_string().contains("late_reason"), "{problem}");
    let (_, unchanged) = s
        .call(Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert_eq!(
        unchanged["notice_phases"],
        json!([]),
        "nothing was recorded"
    );

    // Staff edit a section; the phase keeps the notice as it was sent.
    s.ok(
        Method::PUT,
        &format!("/api/v1/incidents/{id}/notice"),
        json!({"sections": {"measures": "Bucket made private; keys rotated"}}),
    )
    .await;
    let (status, bad) = s
        .call(
            Method::PUT,
            &format!("/api/v1/incidents/{id}/notice"),
            Some(json!({"sections": {"poem": "x"}})),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    let (status, recorded) = s
        .call(
            Method::POST,
            &phases,
            Some(json!({"late_reason": "The bucket's owner was on leave"})),
        )
        .await;
    assert_eq!(status, 201, "{recorded}");
    assert_eq!(recorded["late_reason"], "The bucket's owner was on leave");
    assert_eq!(recorded["notified_late"], true);
    assert_eq!(recorded["authority_decision"], "notify");
    let phase = &recorded["notice_phases"][0];
    assert_eq!(
        (phase["phase"].as_i64(), phase["late"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(
        phase["sections"][4]["text"],
        "Bucket made private; keys rotated"
    );

    // A notice within the 72 hours needs no reason.
    let now = Utc::now();
    let fresh = s
        .register(json!({"title": "Wrong attachment", "detected_at": (now - Duration::hours(2)).to_rfc3339()}))
        .await;
    let fresh_id = fresh["id"].as_str().unwrap();
    let (status, on_time) = s
        .call(
            Method::POST,
            &format!("/api/v1/incidents/{fresh_id}/notice/phases"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{on_time}");
    assert_eq!(on_time["notified_late"], false);

    let closed = s
        .ok(
            Method::POST,
            &format!("/api/v1/incidents/{id}/close"),
            json!({}),
        )
        .await;
    assert_eq!(closed["state"], "closed");
    let (status, _) = s
        .call(
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(status, 409, "a closed incident is not changed");

    let whats: Vec<String> = closed["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        whats,
        ["registered", "notice_edited", "notice_phase_sent", "closed"]
    );
    let actions = s.app.audit_actions();
    for action in [
        "incident.registered",
        "incident.notice_edited",
        "incident.notice_phase_recorded",
        "incident.closed",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_tenancy_exports_and_own_data_retention() {
    let s = setup(|_| {}).await;
    let incident = s
        .register(
            json!({"title": "=HYPERLINK(\"http://x\")", "detected_at": "2026-10-01T08:00:00Z",
                         "description": "A laptop left on a train"}),
        )
        .await;
    let id = incident["id"].as_str().unwrap().to_owned();

    // A key without incidents:read, and another workspace's key.
    let records_only = s.app.api_key("shop", &["records:read"]);
    let (status, _) = s
        .app
        .call(&records_only, Method::GET, "/api/v1/incidents", None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = s
        .app
        .call(
            &records_only,
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(status, 403);
    let owner = s.app.create_admin("olga@example.org");
    s.app.create_workspace(owner, "other");
    let other = s
        .app
        .api_key("other", &["incidents:read", "incidents:write"]);
    for (method, path) in [
        (Method::GET, format!("/api/v1/incidents/{id}")),
        (Method::GET, format!("/api/v1/incidents/{id}/notice")),
        (Method::GET, format!("/api/v1/incidents/{id}/notice.html")),
    ] {
        let (status, _) = s.app.call(&other, method, &path, None).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = s
        .app
        .call(
            &other,
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let (_, list) = s
        .app
        .call(&other, Method::GET, "/api/v1/incidents", None)
        .await;
    assert_eq!(list["incidents"], json!([]));

    // The exports hold the incident, the CSV with its formula neutralised.
    let (status, register) = s.call(Method::GET, "/api/v1/incidents/export", None).await;
    assert_eq!(status, 200);
    assert_eq!(register["incidents"][0]["id"], id.as_str());
    assert_eq!(
        register["incidents"][0]["timeline"][0]["what"],
        "registered"
    );
    let csv = s
        .app
        .client
        .get(s.app.url("/api/v1/incidents/export?format=csv"))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("id,title,state,detected_at"), "{text}");
    assert!(text.contains(&id) && text.contains("'=HYPERLINK"), "{text}");
    let (status, _) = s
        .call(Method::GET, "/api/v1/incidents/export?format=xml", None)
        .await;
    assert_eq!(status, 400);
    let html = s
        .app
        .client
        .get(s.app.url(&format!("/api/v1/incidents/{id}/notice.html")))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Nature of the breach") && html.contains("A laptop left on a train"),
        "{html}"
    );

    // Lethe's own-data rules, run a century later, leave the register whole.
    let far = Utc::now() + Duration::days(365 * 100);
    lethe::services::retention::prune_own_data(&s.app.db, far, 1000, &|| false).unwrap();
    let (status, kept) = s
        .call(Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(kept["timeline"][0]["what"], "registered");
    // And the database itself refuses to forget one.
    let conn = rusqlite::Connection::open(s.app.data_dir.path().join("lethe.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    assert!(conn.execute("DELETE FROM incidents", []).is_err());
    assert!(conn.execute("DELETE FROM incident_events", []).is_err());
}
